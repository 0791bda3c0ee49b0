/* extension/redtrack--0.5--0.6.sql: redtrack 0.6 */

-- complain if script is sourced in psql, rather than through ALTER EXTENSION
\echo Use "ALTER EXTENSION redtrack UPDATE TO '0.6'" to load this file. \quit

-- ---------------------------------------------------------------------------
-- Section A: standalone tools (rrr_export_query, rrr_load)

-- (end of section A)

-- ---------------------------------------------------------------------------
-- Section B: change data capture (the cdc strategy)

-- A cdc table has no replication field: its changes come from the WAL.
ALTER TABLE redtrack.replicables DROP CONSTRAINT replicables_strategy_check;
ALTER TABLE redtrack.replicables ADD CONSTRAINT replicables_strategy_check
	CHECK (strategy IN ('timed', 'identity', 'full', 'queue', 'cdc'));
ALTER TABLE redtrack.replicables DROP CONSTRAINT replicables_check;
ALTER TABLE redtrack.replicables ADD CONSTRAINT replicables_check
	CHECK ((strategy IN ('full', 'queue', 'cdc')) = (replication_field IS NULL));

-- The database's logical replication slot (one row while it exists).
CREATE TABLE redtrack.cdc_state (
	slot_name name PRIMARY KEY,
	created_at timestamptz NOT NULL DEFAULT pg_catalog.now(),
	created_lsn pg_lsn,
	-- where redtrack last advanced the slot: a crash can take back an
	-- advance not yet written to disk by a checkpoint, and the next run
	-- moves the slot here again
	advanced_to pg_lsn,
	last_run_at timestamptz,
	-- the last LSN range loaded (the load marker's window)
	last_loaded_from pg_lsn,
	last_loaded_to pg_lsn,
	last_changes bigint,
	error text,
	-- what the last run had to say (a fresh snapshot after a lost slot, ...)
	note text
);

-- Per cdc table: its snapshot (taken at the slot's position snapshot_lsn)
-- and its changes loaded since.
CREATE TABLE redtrack.cdc_tables (
	source regclass PRIMARY KEY REFERENCES redtrack.replicables (source) ON DELETE CASCADE,
	needs_snapshot boolean NOT NULL DEFAULT true,
	snapshot_lsn pg_lsn,
	snapshot_at timestamptz,
	-- the source columns (attnum:type) the snapshot was taken with
	columns text,
	-- the registration's watermark_epoch then: rrr_reset bumps it, and a
	-- new snapshot follows
	watermark_epoch bigint,
	changes_loaded bigint NOT NULL DEFAULT 0,
	last_loaded_at timestamptz,
	error text
);

CREATE VIEW redtrack.cdc_status AS
SELECT s.slot_name,
	   sl.confirmed_flush_lsn AS confirmed_lsn,
	   CASE WHEN pg_catalog.pg_is_in_recovery() OR sl.restart_lsn IS NULL THEN NULL
			ELSE pg_catalog.pg_wal_lsn_diff(pg_catalog.pg_current_wal_lsn(), sl.restart_lsn)::bigint
	   END AS retained_wal_bytes,
	   sl.wal_status,
	   s.last_run_at,
	   s.last_loaded_from,
	   s.last_loaded_to,
	   s.last_changes,
	   s.error,
	   s.note
  FROM redtrack.cdc_state AS s
  LEFT JOIN pg_catalog.pg_replication_slots AS sl ON sl.slot_name OPERATOR(pg_catalog.=) s.slot_name;

GRANT SELECT ON redtrack.cdc_state, redtrack.cdc_tables, redtrack.cdc_status TO redtrack_admin;

-- The last cdc table dropped takes the slot with it (after redtrack_sql_drop,
-- which removes the registrations: event triggers fire in name order).
CREATE FUNCTION redtrack.cdc_on_sql_drop() RETURNS event_trigger
	LANGUAGE C SECURITY DEFINER AS 'MODULE_PATHNAME', 'redtrack_cdc_on_sql_drop';
CREATE EVENT TRIGGER redtrack_sql_drop_cdc ON sql_drop
	EXECUTE FUNCTION redtrack.cdc_on_sql_drop();

-- DROP EXTENSION drops the slot first (it would keep WAL forever).
CREATE FUNCTION redtrack.cdc_on_drop_extension() RETURNS event_trigger
	LANGUAGE C AS 'MODULE_PATHNAME', 'redtrack_cdc_on_drop_extension';
CREATE EVENT TRIGGER redtrack_cdc_drop_slot ON ddl_command_start
	WHEN TAG IN ('DROP EXTENSION')
	EXECUTE FUNCTION redtrack.cdc_on_drop_extension();

-- (end of section B)

-- ---------------------------------------------------------------------------
-- Section C: event streams (enrichment, rejected events, stream names)

-- (end of section C)

-- ---------------------------------------------------------------------------
-- Section D: replication state and strategies

-- (end of section D)

-- ---------------------------------------------------------------------------
-- Section E: compression

-- (end of section E)

-- ---------------------------------------------------------------------------
-- Section F: settings, catalog access, launcher

-- (end of section F)

-- ---------------------------------------------------------------------------
-- Last: every function of the extension, including those added above, runs
-- with a pinned search_path (see redtrack--0.4--0.5.sql for why); the
-- application's hot path pins it itself.
DO $$
DECLARE
	f regprocedure;
BEGIN
	FOR f IN
		SELECT p.oid::pg_catalog.regprocedure
		  FROM pg_catalog.pg_proc AS p
		  JOIN pg_catalog.pg_depend AS d
			ON d.classid OPERATOR(pg_catalog.=) 'pg_catalog.pg_proc'::pg_catalog.regclass
		   AND d.objid OPERATOR(pg_catalog.=) p.oid
		   AND d.refclassid OPERATOR(pg_catalog.=) 'pg_catalog.pg_extension'::pg_catalog.regclass
		   AND d.deptype OPERATOR(pg_catalog.=) 'e'
		  JOIN pg_catalog.pg_extension AS e
			ON e.oid OPERATOR(pg_catalog.=) d.refobjid AND e.extname OPERATOR(pg_catalog.=) 'redtrack'
		 WHERE p.proname OPERATOR(pg_catalog.<>) ALL (ARRAY['rrr_write', 'rrr_write_batch', 'track_deletes']::pg_catalog.name[])
		   AND p.proconfig IS NULL
	LOOP
		EXECUTE pg_catalog.format('ALTER FUNCTION %s SET search_path = pg_catalog, pg_temp', f);
	END LOOP;
END
$$;
