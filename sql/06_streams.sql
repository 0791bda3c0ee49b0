--
-- Event streams: definitions, validated writes, queue tables, privileges.
--
-- definitions: every rule
SELECT rrr_define_stream('s', '[]');
SELECT rrr_define_stream('s', '{}');
SELECT rrr_define_stream('s', '{"a": "integer"}');
SELECT rrr_define_stream('s', '{"a": {}}');
SELECT rrr_define_stream('s', '{"a": {"type": "text"}}');
SELECT rrr_define_stream('s', '{"a": {"type": "varchar"}}');
SELECT rrr_define_stream('s', '{"a": {"type": "varchar(0)"}}');
SELECT rrr_define_stream('s', '{"a": {"type": "varchar(65536)"}}');
SELECT rrr_define_stream('s', '{"a": {"type": "decimal(39,2)"}}');
SELECT rrr_define_stream('s', '{"a": {"type": "decimal(5,6)"}}');
SELECT rrr_define_stream('s', '{"a": {"type": "integer", "constraint": "unique"}}');
SELECT rrr_define_stream('s', '{"a": {"type": "integer", "nullable": true}}');
SELECT rrr_define_stream('s', '{"a": {"type": "integer", "constraint": "not null", "default": null}}');
SELECT rrr_define_stream('s', '{"a": {"type": "integer", "default": "seven"}}');
SELECT rrr_define_stream('s', '{"a": {"type": "varchar(2)", "default": "abc"}}');
SELECT rrr_define_stream('s', '{"redtrack_event_id": {"type": "integer"}}');
SELECT rrr_define_stream('s', '{"a": {"type": "integer"}}', sortkey => 'a, b');
SELECT rrr_define_stream('s', '{"a": {"type": "integer"}, "b": {"type": "integer"}}', distkey => 'a, b');
SELECT rrr_define_stream('s', '{"a": {"type": "integer"}}', distkey => 'z');
SELECT rrr_define_stream(NULL, '{"a": {"type": "integer"}}');
SELECT rrr_define_stream('', '{"a": {"type": "integer"}}');
SELECT count(*) AS nothing_defined FROM redtrack.streams;

SELECT rrr_define_stream('page views', '{
	"user_id": {"type": "bigint", "constraint": "not null"},
	"url": {"type": "varchar(12)"},
	"at": {"type": "timestamptz", "constraint": "not null"},
	"day": {"type": "date"},
	"local": {"type": "timestamp"},
	"props": {"type": "super"},
	"ok": {"type": "boolean", "default": true},
	"price": {"type": "decimal(8,2)"},
	"ratio": {"type": "double precision"},
	"small": {"type": "smallint"},
	"n": {"type": "integer"}}', sortkey => 'at, user_id', distkey => 'user_id');
SELECT name, columns, sortkey, distkey, lenient FROM redtrack.streams;
SELECT rrr_stream_ddl('page views');
\d redtrack_streams."page views"
SELECT source, strategy, target_table FROM redtrack.replicables WHERE strategy = 'queue';

-- writes: good ones
SELECT rrr_write('page views', '{"user_id": 1, "url": "/home", "at": "2024-05-01T12:00:00Z",
	"day": "2024-05-01", "local": "2024-05-01 08:00", "props": {"tags": ["a", "b"]},
	"price": 12.345, "ratio": 0.5, "small": -32768, "n": 2147483647}') AS id;
SELECT rrr_write('page views', '{"user_id": 2, "at": "2024-05-01 12:00:01+02", "ok": false, "props": null}') AS id;
SELECT rrr_write_batch('page views', ARRAY['{"user_id": 3, "at": "2024-05-01"}',
	'{"user_id": 4, "at": "2024-05-02", "n": 7.0}']::jsonb[]) AS written;
-- cut on a character boundary to 12 bytes, with a warning
SELECT rrr_write('page views', '{"user_id": 5, "at": "2024-05-03", "url": "/ünïcødé😀/x"}') AS id;
SELECT rrr_write('page views', '{"user_id": 6, "at": "2024-05-03", "url": "/😀😀😀😀"}') AS id;
SELECT user_id, url, octet_length(url) AS bytes, ok, price, props, small, n
FROM redtrack_streams."page views" ORDER BY redtrack_event_id;

-- writes: every way to get an event wrong, each with a clear error
SELECT rrr_write('no such stream', '{}');
SELECT rrr_write('page views', NULL);
SELECT rrr_write(NULL, '{}');
SELECT rrr_write('page views', '[1, 2]');
SELECT rrr_write('page views', '"a string"');
SELECT rrr_write('page views', '{"at": "2024-05-01"}');
SELECT rrr_write('page views', '{"user_id": null, "at": "2024-05-01"}');
SELECT rrr_write('page views', '{"user_id": 1}');
SELECT rrr_write('page views', '{"user_id": 1, "at": "2024-05-01", "extra": 1}');
SELECT rrr_write('page views', '{"user_id": "1", "at": "2024-05-01"}');
SELECT rrr_write('page views', '{"user_id": 1.5, "at": "2024-05-01"}');
SELECT rrr_write('page views', '{"user_id": 1, "at": "2024-05-01", "small": 32768}');
SELECT rrr_write('page views', '{"user_id": 1, "at": "2024-05-01", "n": 2147483648}');
SELECT rrr_write('page views', '{"user_id": 99999999999999999999, "at": "2024-05-01"}');
SELECT rrr_write('page views', '{"user_id": 1, "at": "not a time"}');
SELECT rrr_write('page views', '{"user_id": 1, "at": 1714560000}');
SELECT rrr_write('page views', '{"user_id": 1, "at": "2024-05-01", "day": "2024-02-30"}');
SELECT rrr_write('page views', '{"user_id": 1, "at": "2024-05-01", "ok": "yes"}');
SELECT rrr_write('page views', '{"user_id": 1, "at": "2024-05-01", "price": 12345678.9}');
SELECT rrr_write('page views', '{"user_id": 1, "at": "2024-05-01", "url": ["x"]}');
SELECT rrr_write_batch('page views', ARRAY['{"user_id": 7, "at": "2024-05-01"}', NULL]::jsonb[]);
SELECT rrr_write_batch('page views', ARRAY['{"user_id": 7, "at": "2024-05-01"}', '{"user_id": "x"}']::jsonb[]);
-- none of those wrote anything
SELECT count(*) AS events FROM redtrack_streams."page views";

-- a rolled-back write leaves nothing
BEGIN;
SELECT rrr_write('page views', '{"user_id": 8, "at": "2024-05-01"}') > 0 AS written;
ROLLBACK;
SELECT count(*) AS events FROM redtrack_streams."page views";

-- lenient streams ignore unknown fields
SELECT rrr_define_stream('loose', '{"a": {"type": "integer"}}', lenient => true);
SELECT rrr_write('loose', '{"a": 1, "b": "ignored", "c": {"deep": [1]}}') AS id;
SELECT a FROM redtrack_streams.loose;

-- redefinition: fields may be added, never removed or changed
SELECT rrr_define_stream('loose', '{"b": {"type": "integer"}}');
SELECT rrr_define_stream('loose', '{"a": {"type": "bigint"}}');
SELECT rrr_define_stream('loose', '{"a": {"type": "integer"}, "b": {"type": "integer", "constraint": "not null"}}');
SELECT rrr_define_stream('loose', '{"a": {"type": "integer"}, "b": {"type": "varchar(5)", "default": "new"}}', lenient => true);
SELECT rrr_write('loose', '{"a": 2}') AS id;
SELECT a, b FROM redtrack_streams.loose ORDER BY redtrack_event_id;

-- privileges: writers write, nothing else; others nothing
CREATE ROLE regress_app IN ROLE redtrack_writer;
CREATE ROLE regress_nobody;
SET ROLE regress_app;
SELECT rrr_write('loose', '{"a": 3}') > 0 AS written;
SELECT count(*) FROM redtrack_streams.loose;
SELECT rrr_define_stream('mine', '{"a": {"type": "integer"}}');
RESET ROLE;
SET ROLE regress_nobody;
SELECT rrr_write('loose', '{"a": 4}');
RESET ROLE;
DROP ROLE regress_app, regress_nobody;

-- dropping: refused while events wait, unless forced
SELECT rrr_drop_stream('loose');
SELECT rrr_drop_stream('loose', force => true);
SELECT rrr_drop_stream('loose');
SELECT name FROM redtrack.streams ORDER BY 1;
