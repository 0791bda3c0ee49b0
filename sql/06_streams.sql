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

-- field names that differ only in case: Redshift folds them, quoted ones
-- too, into one column, so the stream could never be loaded
SELECT rrr_define_stream('cased', '{"Path": {"type": "varchar(8)"}, "path": {"type": "varchar(8)"}}');
SELECT rrr_define_stream('cased', '{"path": {"type": "varchar(8)"}, "n": {"type": "integer"}}');
SELECT rrr_define_stream('cased', '{"path": {"type": "varchar(8)"}, "n": {"type": "integer"}, "PATH": {"type": "integer"}}');
SELECT rrr_define_stream('cased', '{"path": {"type": "varchar(8)"}, "n": {"type": "integer"}, "N": {"type": "integer"}}');
SELECT rrr_define_stream('cased', '{"path": {"type": "varchar(8)"}, "n": {"type": "integer"}, "Other": {"type": "integer"}}');
SELECT columns FROM redtrack.streams WHERE name = 'cased';
SELECT rrr_drop_stream('cased');

-- timestamps: ISO 8601 only, read the same whatever the writer's settings
-- (a timestamptz without an offset is UTC; a timestamp ignores an offset)
SELECT rrr_define_stream('times', '{"k": {"type": "integer"}, "ts": {"type": "timestamp"},
	"tz": {"type": "timestamptz"}, "d": {"type": "date"}}');
SET DateStyle = 'SQL, DMY';
SET TimeZone = 'Asia/Kolkata';
SELECT rrr_write('times', '{"k": 1, "ts": "2024-01-02T03:04:05", "tz": "2024-01-02T03:04:05", "d": "2024-01-02"}') > 0 AS written;
SELECT rrr_write_batch('times', ARRAY['{"k": 2, "ts": "2024-01-02 03:04:05.123456789+02", "tz": "2024-01-02 03:04:05.5-0330", "d": "2024-02-29"}',
	'{"k": 3, "ts": "2024-01-02t03:04z", "tz": "2024-01-02T03:04:05,25+05:45", "d": "0001-01-01"}']::jsonb[]) AS written;
SET DateStyle = 'Postgres, MDY';
SET TimeZone = 'America/New_York';
SELECT rrr_write('times', '{"k": 4, "ts": "2024-01-02T03:04:05", "tz": "2024-01-02T03:04:05", "d": "2024-01-02"}') > 0 AS written;
SELECT rrr_write_batch('times', ARRAY['{"k": 5, "ts": "2024-01-02 03:04:05.123456789+02", "tz": "2024-01-02 03:04:05.5-0330", "d": "2024-02-29"}',
	'{"k": 6, "ts": "2024-01-02t03:04z", "tz": "2024-01-02T03:04:05,25+05:45", "d": "9999-12-31"}']::jsonb[]) AS written;
SET TimeZone = 'UTC';
SET DateStyle = 'ISO, YMD';
SELECT k, ts, tz, d FROM redtrack_streams.times ORDER BY k;
RESET TimeZone;
RESET DateStyle;
-- what other styles or the special words would read differently, or not at all
SELECT rrr_write('times', '{"tz": "01/02/2024"}');
SELECT rrr_write('times', '{"tz": "now"}');
SELECT rrr_write('times', '{"ts": "epoch"}');
SELECT rrr_write('times', '{"ts": "infinity"}');
SELECT rrr_write('times', '{"d": "-infinity"}');
SELECT rrr_write('times', '{"d": "today"}');
SELECT rrr_write('times', '{"tz": "2024-01-02 03:04:05 EST"}');
SELECT rrr_write('times', '{"tz": "2024-01-02 03:04:05 America/New_York"}');
SELECT rrr_write('times', '{"tz": "Jan 2 2024"}');
SELECT rrr_write('times', '{"tz": "2024-1-2"}');
SELECT rrr_write('times', '{"tz": "20240102T030405Z"}');
SELECT rrr_write('times', '{"tz": "2024-01-02T03:04:05+5"}');
SELECT rrr_write('times', '{"tz": "2024-01-02T03:04:05+16:00"}');
SELECT rrr_write('times', '{"tz": "2024-01-02T03:04:05Z "}');
SELECT rrr_write('times', '{"tz": " 2024-01-02"}');
SELECT rrr_write('times', '{"tz": "2024-01-02T"}');
SELECT rrr_write('times', '{"tz": "2024-01-02T03:04:05."}');
SELECT rrr_write('times', '{"d": "2024-01-02T03:04:05Z"}');
SELECT rrr_write('times', '{"d": "2024-02-30"}');
SELECT rrr_write('times', '{"d": "2023-02-29"}');
SELECT rrr_write('times', '{"ts": "2024-01-02T24:00:00"}');
SELECT rrr_write('times', '{"ts": "2024-01-02T23:60:00"}');
SELECT rrr_write('times', '{"ts": "2024-01-02T23:59:60"}');
SELECT rrr_write('times', '{"d": "0000-01-01"}');
SELECT rrr_write('times', '{"d": "10000-01-01"}');
SELECT rrr_write('times', '{"d": "2024-01-02 BC"}');
SELECT rrr_write_batch('times', ARRAY['{"k": 7, "d": "2024-01-02"}', '{"k": 8, "d": "01/02/2024"}']::jsonb[]);
SELECT rrr_write_batch('times', ARRAY['{"k": 7, "tz": "2024-01-02"}', '{"k": 8, "tz": "now"}']::jsonb[]);
SELECT rrr_define_stream('times', '{"k": {"type": "integer"}, "ts": {"type": "timestamp"},
	"tz": {"type": "timestamptz"}, "d": {"type": "date"}, "since": {"type": "timestamptz", "default": "now"}}');
SELECT rrr_define_stream('times', '{"k": {"type": "integer"}, "ts": {"type": "timestamp"},
	"tz": {"type": "timestamptz"}, "d": {"type": "date"}, "since": {"type": "date", "default": "05/01/2024"}}');
SELECT count(*) AS events FROM redtrack_streams.times;
SELECT rrr_drop_stream('times', force => true);

-- size: what counts is the event's row in the load file, as the export
-- writes it (Redshift loads at most 4 MB per row)
SELECT rrr_define_stream('big', '{"n": {"type": "integer"}, "a": {"type": "super"}, "v": {"type": "varchar(16)"}}');
-- 3.9 MB of jsonb, whose text form writes each byte as \u0001: 23 MB
SELECT rrr_write('big', jsonb_build_object('n', 2, 'a', repeat(chr(1), 3900000)));
DO $$
BEGIN
	PERFORM rrr_write('big', jsonb_build_object('n', 2, 'a', repeat(chr(1), 3900000)));
EXCEPTION WHEN program_limit_exceeded THEN
	RAISE NOTICE 'refused with SQLSTATE %', SQLSTATE;
END
$$;
SELECT rrr_write_batch('big', ARRAY[jsonb_build_object('n', 1), jsonb_build_object('n', 2, 'a', repeat('"', 1400000))]);
-- the row: "1", the jsonb string quoted (6 bytes more), the NULL marker,
-- two commas; one byte more than the 4,000,000 - 48 * (3 + 1) bytes redtrack keeps
-- rows of a three-field stream under is refused
SELECT rrr_write('big', jsonb_build_object('n', 1, 'a', to_jsonb(repeat('y', 3999808 - 10 + 1))));
SELECT rrr_write('big', jsonb_build_object('n', 1, 'a', to_jsonb(repeat('y', 3999808 - 10)))) > 0 AS written;
-- 5 MB of jsonb cut to the declared 16 bytes is a small row
SELECT rrr_write('big', jsonb_build_object('n', 3, 'v', repeat('z', 5000000))) > 0 AS written;
-- lenient streams ignore what they do not know, however large
SELECT rrr_define_stream('big', '{"n": {"type": "integer"}, "a": {"type": "super"}, "v": {"type": "varchar(16)"}}', lenient => true);
SELECT rrr_write('big', jsonb_build_object('n', 4, 'ignored', repeat('z', 5000000))) > 0 AS written;
SELECT n, octet_length(a::text) AS a_bytes, v FROM redtrack_streams.big ORDER BY n;
SELECT rrr_drop_stream('big', force => true);

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
