/* extension/redtrack--0.5--0.6.sql: redtrack 0.6 */

-- complain if script is sourced in psql, rather than through ALTER EXTENSION
\echo Use "ALTER EXTENSION redtrack UPDATE TO '0.6'" to load this file. \quit

-- ---------------------------------------------------------------------------
-- Section A: standalone tools (rrr_export_query, rrr_load)

-- rrr_export_query runs the caller's query with the caller's rights
-- (SECURITY INVOKER, in the caller's backend) and with the caller's
-- search_path: the query names tables as the caller would in psql.  So it
-- is the one function not given the pinned search_path below (a function
-- with a setting of its own is skipped there); it sets
-- transaction_read_only instead, which is what it promises: the query
-- runs read-only (the C code sets XactReadOnly itself too, and refuses
-- anything but one plain SELECT before running it).  Its own C code runs
-- no SQL of its own.
CREATE FUNCTION @extschema@.rrr_export_query(query text, destination text,
											  format text DEFAULT 'csv',
											  manifest text DEFAULT NULL,
											  OUT manifest_url text, OUT files integer,
											  OUT rows bigint, OUT bytes bigint)
RETURNS record
AS 'MODULE_PATHNAME', 'rrr_export_query'
LANGUAGE C VOLATILE
SET transaction_read_only = on;

CREATE FUNCTION @extschema@.rrr_load(target text, source text,
									  format text DEFAULT 'csv',
									  columns jsonb DEFAULT NULL,
									  sortkey text DEFAULT NULL,
									  distkey text DEFAULT NULL,
									  truncate boolean DEFAULT false,
									  force boolean DEFAULT false)
RETURNS bigint
AS 'MODULE_PATHNAME', 'rrr_load'
LANGUAGE C VOLATILE;

REVOKE ALL ON FUNCTION @extschema@.rrr_export_query(text, text, text, text) FROM PUBLIC;
REVOKE ALL ON FUNCTION @extschema@.rrr_load(text, text, text, jsonb, text, text, boolean, boolean) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION @extschema@.rrr_export_query(text, text, text, text) TO redtrack_admin;
GRANT EXECUTE ON FUNCTION @extschema@.rrr_load(text, text, text, jsonb, text, text, boolean, boolean) TO redtrack_admin;

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

-- A stream may name an enricher, a function (jsonb) -> jsonb the drain
-- applies to each event before loading it, with the rights of the role
-- that defined the stream (enrich_role, by OID: a rename changes nothing,
-- a new role of the same name is not it; a dropped role or function
-- fails the drain, naming it).  The function is kept as its signature in
-- text, schema-qualified, not as regprocedure: pg_upgrade refuses user
-- tables with regprocedure columns, since function OIDs are not kept.
ALTER TABLE redtrack.streams
	ADD COLUMN enrich text,
	ADD COLUMN enrich_role regrole,
	ADD CHECK ((enrich IS NULL) = (enrich_role IS NULL));

-- Events the drain set aside: the enricher raised an error or returned
-- something else than a JSON object, or the enriched event broke the
-- stream's rules.  The event is as it was queued; rrr_requeue_rejected
-- queues it again.
CREATE TABLE redtrack.rejected_events (
	stream text NOT NULL REFERENCES redtrack.streams (name) ON DELETE CASCADE,
	event_id bigint NOT NULL,
	event jsonb NOT NULL,
	error text NOT NULL,
	rejected_at timestamptz NOT NULL DEFAULT pg_catalog.now(),
	PRIMARY KEY (stream, event_id)
);
SELECT pg_catalog.pg_extension_config_dump('redtrack.rejected_events', '');
REVOKE ALL ON redtrack.rejected_events FROM PUBLIC;
GRANT SELECT ON redtrack.rejected_events TO redtrack_admin;

DROP FUNCTION @extschema@.rrr_define_stream(text, jsonb, text, text, boolean);
CREATE FUNCTION @extschema@.rrr_define_stream(name text, columns jsonb,
											   sortkey text DEFAULT NULL,
											   distkey text DEFAULT NULL,
											   lenient boolean DEFAULT false,
											   enrich regprocedure DEFAULT NULL)
RETURNS void
AS 'MODULE_PATHNAME', 'rrr_define_stream'
LANGUAGE C VOLATILE;
REVOKE ALL ON FUNCTION @extschema@.rrr_define_stream(text, jsonb, text, text, boolean, regprocedure) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION @extschema@.rrr_define_stream(text, jsonb, text, text, boolean, regprocedure) TO redtrack_admin;

CREATE FUNCTION @extschema@.rrr_requeue_rejected(stream text, ids bigint[] DEFAULT NULL)
RETURNS bigint
AS 'MODULE_PATHNAME', 'rrr_requeue_rejected'
LANGUAGE C VOLATILE;
REVOKE ALL ON FUNCTION @extschema@.rrr_requeue_rejected(text, bigint[]) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION @extschema@.rrr_requeue_rejected(text, bigint[]) TO redtrack_admin;

-- rrr_replicate, rrr_export and rrr_import also take a stream's name: an
-- overload on text, which a quoted literal chooses.  Its names are read in
-- the caller's search_path (as regclass would be), so it must not be
-- pinned by the loop at the end of this script; its own SET clause (jit,
-- which nothing here uses) keeps the loop off it, and the function pins
-- search_path itself once the names are read (stream_resolve_tables).
CREATE FUNCTION @extschema@.rrr_replicate(VARIADIC tables text[])
RETURNS TABLE (source regclass, replication_id bigint, state text, rows bigint, error text)
AS 'MODULE_PATHNAME', 'rrr_replicate'
LANGUAGE C VOLATILE SET jit = off;
CREATE FUNCTION @extschema@.rrr_export(VARIADIC tables text[])
RETURNS TABLE (source regclass, replication_id bigint, state text, rows bigint, error text)
AS 'MODULE_PATHNAME', 'rrr_export'
LANGUAGE C VOLATILE SET jit = off;
CREATE FUNCTION @extschema@.rrr_import(VARIADIC tables text[])
RETURNS TABLE (source regclass, replication_id bigint, state text, rows bigint, error text)
AS 'MODULE_PATHNAME', 'rrr_import'
LANGUAGE C VOLATILE SET jit = off;
REVOKE ALL ON FUNCTION @extschema@.rrr_replicate(text[]) FROM PUBLIC;
REVOKE ALL ON FUNCTION @extschema@.rrr_export(text[]) FROM PUBLIC;
REVOKE ALL ON FUNCTION @extschema@.rrr_import(text[]) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION @extschema@.rrr_replicate(text[]) TO redtrack_admin;
GRANT EXECUTE ON FUNCTION @extschema@.rrr_export(text[]) TO redtrack_admin;
GRANT EXECUTE ON FUNCTION @extschema@.rrr_import(text[]) TO redtrack_admin;

-- status counts each stream's rejected events.
CREATE OR REPLACE VIEW redtrack.status AS
SELECT r.source,
	   r.strategy,
	   r.target_table AS target,
	   r.replication_field,
	   r.key_columns,
	   r.track_deletes,
	   r.every,
	   done.imported_at AS last_imported_at,
	   done.next_first AS watermark,
	   -- everything committed before this snapshot has reached the warehouse
	   pg_catalog.now() - done.snapshot_at AS lag,
	   last.id AS last_replication_id,
	   last.state AS last_state,
	   last.error AS last_error,
	   last.retries AS last_retries,
	   last.rows AS last_rows,
	   last.bytes AS last_bytes,
	   last.files AS last_files,
	   CASE
		   WHEN w.pid IS NULL THEN NULL
		   WHEN last.id IS NULL OR r.every IS NULL
				OR last.state NOT IN ('imported', 'canceled') THEN w.next_run_at
		   ELSE greatest(last.created_at + r.every, w.next_run_at)
	   END AS next_due,
	   (SELECT pg_catalog.sum(d.nkeys) FROM redtrack.deleted_records AS d
		WHERE d.source = r.source AND d.kind = 'delete') AS pending_deletes,
	   backlog.events AS backlog,
	   backlog.oldest_age AS oldest_event_age,
	   w.error AS worker_error,
	   (SELECT pg_catalog.count(*) FROM redtrack.rejected_events AS x
		JOIN redtrack.streams AS s ON s.name = x.stream
		WHERE s.queue_table = r.source AND r.strategy = 'queue') AS rejected_events,
	   -- cdc tables: the database's slot, and why the table or the slot stopped
	   cs.slot_name AS cdc_slot,
	   cs.confirmed_lsn AS cdc_confirmed_lsn,
	   cs.retained_wal_bytes AS cdc_retained_wal_bytes,
	   cs.wal_status AS cdc_wal_status,
	   COALESCE(ct.error, cs.error) AS cdc_error
FROM redtrack.replicables AS r
	 LEFT JOIN LATERAL (SELECT * FROM redtrack.replications AS p
						WHERE p.source = r.source
						ORDER BY p.id DESC LIMIT 1) AS last ON true
	 LEFT JOIN LATERAL (SELECT * FROM redtrack.replications AS p
						WHERE p.source = r.source AND p.state = 'imported'
						ORDER BY p.id DESC LIMIT 1) AS done ON true
	 LEFT JOIN LATERAL (SELECT * FROM redtrack.stream_backlog(r.source)
						WHERE r.strategy = 'queue') AS backlog ON true
	 LEFT JOIN redtrack.worker AS w ON w.database = pg_catalog.current_database()
	 LEFT JOIN redtrack.cdc_tables AS ct ON ct.source = r.source AND r.strategy = 'cdc'
	 LEFT JOIN redtrack.cdc_status AS cs ON r.strategy = 'cdc';

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
