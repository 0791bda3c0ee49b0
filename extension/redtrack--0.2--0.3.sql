/* redtrack--0.2--0.3.sql: the background worker and observability */

\echo Use "ALTER EXTENSION redtrack UPDATE TO '0.3'" to load this file. \quit

CREATE FUNCTION @extschema@.rrr_wake()
RETURNS boolean
AS 'MODULE_PATHNAME', 'rrr_wake'
LANGUAGE C VOLATILE;

-- Replications in flight, in the manner of pg_stat_progress_*.
CREATE FUNCTION redtrack.progress_status(OUT pid integer, OUT source regclass,
										 OUT replication_id bigint, OUT phase text,
										 OUT rows bigint, OUT raw_bytes bigint,
										 OUT bytes bigint, OUT files integer,
										 OUT started_at timestamptz,
										 OUT phase_started_at timestamptz)
RETURNS SETOF record
AS 'MODULE_PATHNAME', 'redtrack_progress'
LANGUAGE C VOLATILE;

CREATE VIEW redtrack.progress AS
SELECT * FROM redtrack.progress_status();

-- The scheduler: when it ran, when it runs next, what stops it.
CREATE FUNCTION redtrack.worker_status(OUT pid integer, OUT started_at timestamptz,
									   OUT last_run_started timestamptz,
									   OUT last_run_finished timestamptz,
									   OUT next_run_at timestamptz,
									   OUT tables_run integer, OUT tables_failed integer,
									   OUT error text, OUT database text)
RETURNS SETOF record
AS 'MODULE_PATHNAME', 'redtrack_worker_status'
LANGUAGE C VOLATILE;

CREATE VIEW redtrack.worker AS
SELECT * FROM redtrack.worker_status();

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
	   w.error AS worker_error
FROM redtrack.replicables AS r
	 LEFT JOIN LATERAL (SELECT * FROM redtrack.replications AS p
						WHERE p.source = r.source
						ORDER BY p.id DESC LIMIT 1) AS last ON true
	 LEFT JOIN LATERAL (SELECT * FROM redtrack.replications AS p
						WHERE p.source = r.source AND p.state = 'imported'
						ORDER BY p.id DESC LIMIT 1) AS done ON true
	 LEFT JOIN redtrack.worker AS w ON w.database = pg_catalog.current_database();

REVOKE ALL ON FUNCTION @extschema@.rrr_wake() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION @extschema@.rrr_wake() TO redtrack_admin;
REVOKE ALL ON FUNCTION redtrack.progress_status() FROM PUBLIC;
REVOKE ALL ON FUNCTION redtrack.worker_status() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION redtrack.progress_status() TO redtrack_admin;
GRANT EXECUTE ON FUNCTION redtrack.worker_status() TO redtrack_admin;
REVOKE ALL ON redtrack.status, redtrack.progress, redtrack.worker FROM PUBLIC;
GRANT SELECT ON redtrack.status, redtrack.progress, redtrack.worker TO redtrack_admin;
