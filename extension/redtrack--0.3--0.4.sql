/* redtrack--0.3--0.4.sql: event streams */

\echo Use "ALTER EXTENSION redtrack UPDATE TO '0.4'" to load this file. \quit

-- Roles that may write events (rrr_write) without administering redtrack.
DO $$
BEGIN
	IF NOT EXISTS (SELECT FROM pg_catalog.pg_roles WHERE rolname = 'redtrack_writer') THEN
		CREATE ROLE redtrack_writer NOLOGIN;
	END IF;
END
$$;

-- A stream's queue is drained by the 'queue' strategy.
ALTER TABLE redtrack.replicables DROP CONSTRAINT replicables_strategy_check;
ALTER TABLE redtrack.replicables ADD CONSTRAINT replicables_strategy_check
	CHECK (strategy IN ('timed', 'identity', 'full', 'queue'));
ALTER TABLE redtrack.replicables DROP CONSTRAINT replicables_check;
ALTER TABLE redtrack.replicables ADD CONSTRAINT replicables_check
	CHECK ((strategy IN ('full', 'queue')) = (replication_field IS NULL));

-- The event ids a drain carried, deleted from the queue once loaded.
ALTER TABLE redtrack.replications ADD COLUMN queue_ids int8multirange;

-- Declared streams.  Their queue tables live in schema redtrack_streams,
-- which rrr_define_stream creates: it is not part of the extension, so
-- DROP EXTENSION never takes queued events with it.
CREATE TABLE redtrack.streams (
	name text PRIMARY KEY,
	queue_table regclass NOT NULL UNIQUE
		REFERENCES redtrack.replicables (source) ON DELETE CASCADE,
	columns jsonb NOT NULL,
	sortkey name[],
	distkey name,
	lenient boolean NOT NULL DEFAULT false,
	created_at timestamptz NOT NULL DEFAULT pg_catalog.now(),
	updated_at timestamptz NOT NULL DEFAULT pg_catalog.now()
);
SELECT pg_catalog.pg_extension_config_dump('redtrack.streams', '');

CREATE FUNCTION @extschema@.rrr_define_stream(name text, columns jsonb,
											   sortkey text DEFAULT NULL,
											   distkey text DEFAULT NULL,
											   lenient boolean DEFAULT false)
RETURNS void
AS 'MODULE_PATHNAME', 'rrr_define_stream'
LANGUAGE C VOLATILE;

CREATE FUNCTION @extschema@.rrr_write(stream text, event jsonb)
RETURNS bigint
AS 'MODULE_PATHNAME', 'rrr_write'
LANGUAGE C VOLATILE;

CREATE FUNCTION @extschema@.rrr_write_batch(stream text, events jsonb[])
RETURNS bigint
AS 'MODULE_PATHNAME', 'rrr_write_batch'
LANGUAGE C VOLATILE;

CREATE FUNCTION @extschema@.rrr_stream_ddl(name text)
RETURNS text
AS 'MODULE_PATHNAME', 'rrr_stream_ddl'
LANGUAGE C STABLE;

CREATE FUNCTION @extschema@.rrr_drop_stream(name text, force boolean DEFAULT false)
RETURNS void
AS 'MODULE_PATHNAME', 'rrr_drop_stream'
LANGUAGE C VOLATILE;

CREATE FUNCTION redtrack.stream_backlog(queue regclass, OUT events bigint, OUT oldest_age interval)
RETURNS SETOF record
AS 'MODULE_PATHNAME', 'redtrack_stream_backlog'
LANGUAGE C STABLE;

-- status gains each stream's backlog.
DROP VIEW redtrack.status;
CREATE VIEW redtrack.status AS
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
	   w.error AS worker_error
FROM redtrack.replicables AS r
	 LEFT JOIN LATERAL (SELECT * FROM redtrack.replications AS p
						WHERE p.source = r.source
						ORDER BY p.id DESC LIMIT 1) AS last ON true
	 LEFT JOIN LATERAL (SELECT * FROM redtrack.replications AS p
						WHERE p.source = r.source AND p.state = 'imported'
						ORDER BY p.id DESC LIMIT 1) AS done ON true
	 LEFT JOIN LATERAL (SELECT * FROM redtrack.stream_backlog(r.source)
						WHERE r.strategy = 'queue') AS backlog ON true
	 LEFT JOIN redtrack.worker AS w ON w.database = pg_catalog.current_database();

REVOKE ALL ON redtrack.streams, redtrack.status FROM PUBLIC;
GRANT SELECT ON redtrack.streams, redtrack.status TO redtrack_admin;
REVOKE ALL ON FUNCTION @extschema@.rrr_define_stream(text, jsonb, text, text, boolean) FROM PUBLIC;
REVOKE ALL ON FUNCTION @extschema@.rrr_write(text, jsonb) FROM PUBLIC;
REVOKE ALL ON FUNCTION @extschema@.rrr_write_batch(text, jsonb[]) FROM PUBLIC;
REVOKE ALL ON FUNCTION @extschema@.rrr_stream_ddl(text) FROM PUBLIC;
REVOKE ALL ON FUNCTION @extschema@.rrr_drop_stream(text, boolean) FROM PUBLIC;
REVOKE ALL ON FUNCTION redtrack.stream_backlog(regclass) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION @extschema@.rrr_define_stream(text, jsonb, text, text, boolean) TO redtrack_admin;
GRANT EXECUTE ON FUNCTION @extschema@.rrr_write(text, jsonb) TO redtrack_admin, redtrack_writer;
GRANT EXECUTE ON FUNCTION @extschema@.rrr_write_batch(text, jsonb[]) TO redtrack_admin, redtrack_writer;
GRANT EXECUTE ON FUNCTION @extschema@.rrr_stream_ddl(text) TO redtrack_admin;
GRANT EXECUTE ON FUNCTION @extschema@.rrr_drop_stream(text, boolean) TO redtrack_admin;
GRANT EXECUTE ON FUNCTION redtrack.stream_backlog(regclass) TO redtrack_admin;
