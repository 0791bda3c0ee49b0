/* redtrack 0.4 -> 0.5: security and durability fixes (issues 16 and 18). */
\echo Use "ALTER EXTENSION redtrack UPDATE TO '0.5'" to load this file. \quit

-- ---------------------------------------------------------------------------
-- Section A: registrations, privileges, status (owner: engine/registry work)
-- ---------------------------------------------------------------------------



-- (end of section A)

-- ---------------------------------------------------------------------------
-- Section B: delete tracking (partitions, renamed key columns, big deletes)
-- ---------------------------------------------------------------------------

-- Partitions carry their own statement-level DELETE and TRUNCATE triggers
-- (PostgreSQL fires a statement trigger only for the table a statement
-- names), and partitioned tables the triggers that record the old key of
-- a row an UPDATE moves to another partition; this adds them to a tracked
-- table and its partitions.
CREATE FUNCTION redtrack.track_partitions(source regclass)
RETURNS void
AS 'MODULE_PATHNAME', 'redtrack_track_partitions_sql'
LANGUAGE C STRICT VOLATILE;
REVOKE ALL ON FUNCTION redtrack.track_partitions(regclass) FROM PUBLIC;

-- Partitions created or attached later get them from this event trigger;
-- a detached partition loses them.  It looks only at CREATE TABLE ...
-- PARTITION OF and ALTER TABLE ... ATTACH/DETACH PARTITION; it runs as the
-- extension owner inside (see ownership.h).
CREATE FUNCTION redtrack.on_ddl_command_end()
RETURNS event_trigger
AS 'MODULE_PATHNAME', 'redtrack_on_ddl_command_end'
LANGUAGE C;
REVOKE ALL ON FUNCTION redtrack.on_ddl_command_end() FROM PUBLIC;

CREATE EVENT TRIGGER redtrack_ddl_command_end ON ddl_command_end
	WHEN TAG IN ('CREATE TABLE', 'ALTER TABLE')
	EXECUTE FUNCTION redtrack.on_ddl_command_end();

-- Whoever creates or attaches a partition of a tracked table has the
-- key-change row trigger cloned onto it, which PostgreSQL allows only to
-- a role that may execute the trigger function.  The function records
-- nothing for a table that is not registered with track_deletes (nor
-- part of one), and refuses to be called other than as a trigger.
GRANT EXECUTE ON FUNCTION redtrack.track_deletes() TO PUBLIC;

-- Tables registered before 0.5: their existing partitions.
SELECT redtrack.track_partitions(source)
FROM redtrack.replicables
WHERE track_deletes;

-- (end of section B)

-- ---------------------------------------------------------------------------
-- Section C: event streams (sizes, names, timestamps)
-- ---------------------------------------------------------------------------



-- (end of section C)

-- ---------------------------------------------------------------------------
-- Section D: durability (installation identity, replication ids)
-- ---------------------------------------------------------------------------



-- (end of section D)
