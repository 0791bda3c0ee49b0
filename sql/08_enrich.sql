--
-- Event streams: enrichers, rejected events, stream names.
--
CREATE FUNCTION enrich_ok(e jsonb) RETURNS jsonb LANGUAGE sql AS $$ SELECT e || '{"tag": "x"}' $$;
CREATE FUNCTION enrich_text(e text) RETURNS jsonb LANGUAGE sql AS $$ SELECT '{}'::jsonb $$;
CREATE FUNCTION enrich_json(e jsonb) RETURNS json LANGUAGE sql AS $$ SELECT '{}'::json $$;
CREATE FUNCTION enrich_two(e jsonb, f jsonb) RETURNS jsonb LANGUAGE sql AS $$ SELECT e $$;
CREATE FUNCTION enrich_set(e jsonb) RETURNS SETOF jsonb LANGUAGE sql AS $$ SELECT e $$;
CREATE PROCEDURE enrich_proc(e jsonb) LANGUAGE sql AS $$ SELECT 1 $$;

-- an enricher is a function (jsonb) -> jsonb
SELECT rrr_define_stream('e1', '{"a": {"type": "integer"}}', enrich => 'enrich_text(text)');
SELECT rrr_define_stream('e1', '{"a": {"type": "integer"}}', enrich => 'enrich_json(jsonb)');
SELECT rrr_define_stream('e1', '{"a": {"type": "integer"}}', enrich => 'enrich_two(jsonb, jsonb)');
SELECT rrr_define_stream('e1', '{"a": {"type": "integer"}}', enrich => 'enrich_set(jsonb)');
SELECT rrr_define_stream('e1', '{"a": {"type": "integer"}}', enrich => 'enrich_proc(jsonb)');
SELECT rrr_define_stream('e1', '{"a": {"type": "integer"}}', enrich => 'no_such(jsonb)');
SELECT count(*) AS nothing_defined FROM redtrack.streams WHERE name = 'e1';

-- which the role defining the stream may run: it runs with that role's rights
CREATE ROLE regress_definer IN ROLE redtrack_admin;
REVOKE EXECUTE ON FUNCTION enrich_ok(jsonb) FROM PUBLIC;
SET ROLE regress_definer;
SELECT rrr_define_stream('e1', '{"a": {"type": "integer"}, "tag": {"type": "varchar(4)"}}', enrich => 'enrich_ok(jsonb)');
RESET ROLE;
GRANT EXECUTE ON FUNCTION enrich_ok(jsonb) TO regress_definer;
SET ROLE regress_definer;
SELECT rrr_define_stream('e1', '{"a": {"type": "integer"}, "tag": {"type": "varchar(4)"}}', enrich => 'enrich_ok(jsonb)');
RESET ROLE;
SELECT name, enrich, enrich_role FROM redtrack.streams WHERE name = 'e1';
-- a definition states the enricher: redefined without one, the stream has none
SELECT rrr_define_stream('e1', '{"a": {"type": "integer"}, "tag": {"type": "varchar(4)"}}');
SELECT name, enrich, enrich_role FROM redtrack.streams WHERE name = 'e1';
SELECT rrr_define_stream('e1', '{"a": {"type": "integer"}, "tag": {"type": "varchar(4)"}}', enrich => 'enrich_ok(jsonb)');
SELECT name, enrich, enrich_role = current_user::regrole AS by_me FROM redtrack.streams WHERE name = 'e1';


-- the enricher never runs with rights its owner does not have: its owner
-- can replace its body at any time
CREATE ROLE regress_adm IN ROLE redtrack_admin;
CREATE ROLE regress_member IN ROLE redtrack_admin, regress_adm;
CREATE ROLE regress_other IN ROLE redtrack_admin;
CREATE ROLE regress_super SUPERUSER;
GRANT EXECUTE ON FUNCTION enrich_ok(jsonb) TO regress_other;
CREATE SCHEMA regress_adm AUTHORIZATION regress_adm;
GRANT USAGE ON SCHEMA regress_adm TO PUBLIC;
SET ROLE regress_adm;
CREATE FUNCTION regress_adm.enr(e jsonb) RETURNS jsonb LANGUAGE sql STABLE AS $$ SELECT e $$;
SELECT rrr_define_stream('e3', '{"a": {"type": "integer"}}', enrich => 'regress_adm.enr(jsonb)');
RESET ROLE;
SELECT enrich, enrich_role FROM redtrack.streams WHERE name = 'e3';
-- a superuser restating an admin's enricher would run the admin's code as superuser
SET ROLE regress_super;
SELECT rrr_define_stream('e3', '{"a": {"type": "integer"}, "b": {"type": "integer"}}', enrich => 'regress_adm.enr(jsonb)');
DO $$
BEGIN
	PERFORM rrr_define_stream('e3', '{"a": {"type": "integer"}}', enrich => 'regress_adm.enr(jsonb)');
EXCEPTION WHEN insufficient_privilege THEN
	RAISE NOTICE 'refused, SQLSTATE %', SQLSTATE;
END $$;
RESET ROLE;
SELECT enrich, enrich_role, columns ? 'b' AS has_b FROM redtrack.streams WHERE name = 'e3';
-- so would a member of the owner's role, or any other role
SET ROLE regress_member;
SELECT rrr_define_stream('e3', '{"a": {"type": "integer"}}', enrich => 'regress_adm.enr(jsonb)');
SET ROLE regress_other;
SELECT rrr_define_stream('e3', '{"a": {"type": "integer"}}', enrich => 'regress_adm.enr(jsonb)');
-- a function owned by a role with every privilege of the definer is fine
SELECT rrr_define_stream('e3', '{"a": {"type": "integer"}}', enrich => 'enrich_ok(jsonb)');
RESET ROLE;
REVOKE EXECUTE ON FUNCTION enrich_ok(jsonb) FROM regress_other;
-- a SECURITY DEFINER enricher runs as its owner: only if that is no more than the definer
SET ROLE regress_super;
CREATE FUNCTION enrich_secdef(e jsonb) RETURNS jsonb LANGUAGE sql SECURITY DEFINER AS $$ SELECT e $$;
SET ROLE regress_adm;
SELECT rrr_define_stream('e3', '{"a": {"type": "integer"}}', enrich => 'enrich_secdef(jsonb)');
CREATE FUNCTION regress_adm.enr_secdef(e jsonb) RETURNS jsonb LANGUAGE sql SECURITY DEFINER AS $$ SELECT e $$;
SELECT rrr_define_stream('e3', '{"a": {"type": "integer"}}', enrich => 'regress_adm.enr_secdef(jsonb)');
RESET ROLE;
-- the definer is kept by OID: renamed, it is still the definer
ALTER ROLE regress_adm RENAME TO regress_adm_renamed;
SELECT enrich, enrich_role FROM redtrack.streams WHERE name = 'e3';
ALTER ROLE regress_adm_renamed RENAME TO regress_adm;
SELECT rrr_drop_stream('e3');
DROP SCHEMA regress_adm CASCADE;
DROP FUNCTION enrich_secdef(jsonb);
DROP ROLE regress_adm, regress_member, regress_other, regress_super;

-- writes are not enriched: the drain does it
SELECT rrr_write('e1', '{"a": 1}') > 0 AS written;
SELECT a, tag FROM redtrack_streams.e1 ORDER BY redtrack_event_id;

-- rejected events (as a drain sets them aside) are re-queued as written
INSERT INTO redtrack.rejected_events (stream, event_id, event, error) VALUES
	('e1', 100, '{"a": 5, "tag": null}', 'enricher failed'),
	('e1', 101, '{"a": 6}', 'enricher failed'),
	('e1', 102, '{"a": "seven"}', 'enricher failed');
SELECT rejected_events FROM redtrack.status WHERE source = 'redtrack_streams.e1'::regclass;
SELECT rrr_requeue_rejected('e1', ARRAY[100]);
SELECT a, tag FROM redtrack_streams.e1 ORDER BY redtrack_event_id;
-- one that breaks the stream's rules stops the call: nothing is re-queued
SELECT rrr_requeue_rejected('e1');
SELECT event_id FROM redtrack.rejected_events ORDER BY 1;
SELECT rrr_requeue_rejected('e1', ARRAY[101, 999]);
SELECT a, tag FROM redtrack_streams.e1 ORDER BY redtrack_event_id;
SELECT rejected_events FROM redtrack.status WHERE source = 'redtrack_streams.e1'::regclass;
SELECT rrr_requeue_rejected('nope');
SELECT rrr_requeue_rejected(NULL);
CREATE ROLE regress_writer IN ROLE redtrack_writer;
SET ROLE regress_writer;
SELECT rrr_requeue_rejected('e1');
SELECT count(*) FROM redtrack.rejected_events;
RESET ROLE;
DROP ROLE regress_writer;

-- dropping waits for rejected events too, unless forced
DELETE FROM redtrack_streams.e1;
SELECT rrr_drop_stream('e1');
SELECT rrr_drop_stream('e1', force => true);
SELECT count(*) AS rejected_left FROM redtrack.rejected_events;

-- rrr_replicate, rrr_export and rrr_import take a stream's name
SELECT rrr_define_stream('e2', '{"a": {"type": "integer"}}');
CREATE TABLE e2 (a int);
SELECT * FROM rrr_replicate('e2');
SELECT * FROM rrr_export('e2');
SELECT * FROM rrr_import(VARIADIC ARRAY['e2']);
DROP TABLE e2;
CREATE SCHEMA other;
CREATE TABLE other.e2 (a int);
SET search_path = other, public;
SELECT * FROM rrr_replicate('e2');
RESET search_path;
DROP SCHEMA other CASCADE;
-- tables are read as regclass reads them
CREATE TABLE "Plain" (a int);
SELECT * FROM rrr_replicate('"Plain"');
SELECT * FROM rrr_replicate('plain');
SELECT * FROM rrr_replicate('no_such_thing');
SELECT * FROM rrr_replicate('e2', NULL);
SELECT * FROM rrr_replicate('bad..name');
DROP TABLE "Plain";
SELECT rrr_drop_stream('e2');
DROP FUNCTION enrich_ok(jsonb), enrich_text(text), enrich_json(jsonb), enrich_two(jsonb, jsonb), enrich_set(jsonb);
DROP PROCEDURE enrich_proc(jsonb);
DROP ROLE regress_definer;
