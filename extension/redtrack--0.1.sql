/* redtrack--0.1.sql: registry, state tables and delete tracking */

\echo Use "CREATE EXTENSION redtrack" to load this file. \quit

-- Members of redtrack_admin (and superusers) may register, replicate and
-- read redtrack's state.  The role is global, so it may already exist.
DO $$
BEGIN
	IF NOT EXISTS (SELECT FROM pg_catalog.pg_roles WHERE rolname = 'redtrack_admin') THEN
		CREATE ROLE redtrack_admin NOLOGIN;
	END IF;
END
$$;

CREATE SCHEMA redtrack;
REVOKE ALL ON SCHEMA redtrack FROM PUBLIC;
GRANT USAGE ON SCHEMA redtrack TO redtrack_admin;

-- One row per registered table.
CREATE TABLE redtrack.replicables (
	source regclass PRIMARY KEY,
	strategy text NOT NULL
		CHECK (strategy IN ('timed', 'identity', 'full')),
	-- the Redshift table, in identifier syntax ("schema"."table" or "table")
	target_table text NOT NULL UNIQUE,
	replication_field name,
	track_deletes boolean NOT NULL DEFAULT false,
	key_columns name[],
	every interval CHECK (every > '0'::interval),
	distkey name,
	sortkey name[],
	evolve boolean NOT NULL DEFAULT false,
	-- replications with an id at or below this one no longer count for the
	-- watermark (set by rrr_reset and by a replicated TRUNCATE)
	watermark_epoch bigint NOT NULL DEFAULT 0,
	registered_at timestamptz NOT NULL DEFAULT pg_catalog.now(),
	registered_by name NOT NULL DEFAULT CURRENT_USER,
	CHECK ((strategy = 'full') = (replication_field IS NULL))
);

-- One row per replication: the state machine of one export + import.
CREATE TABLE redtrack.replications (
	id bigserial PRIMARY KEY,
	source regclass NOT NULL
		REFERENCES redtrack.replicables (source) ON DELETE CASCADE,
	target text NOT NULL,
	strategy text NOT NULL,
	state text NOT NULL DEFAULT 'exporting'
		CHECK (state IN ('exporting', 'exported', 'uploading', 'uploaded',
						 'importing', 'imported', 'canceled', 'failed')),
	-- for state 'failed': the phase the attempt failed in
	failed_phase text
		CHECK (failed_phase IN ('exporting', 'exported', 'uploading', 'uploaded', 'importing')),
	-- inclusive bounds of the replication field exported (NULL: unbounded),
	-- as text in the field's type
	window_first text,
	window_last text,
	-- inclusive lower bound the next replication starts from
	next_first text,
	-- start of the oldest transaction that was open when the export ran
	horizon timestamptz,
	snapshot_at timestamptz,
	carries_truncate boolean NOT NULL DEFAULT false,
	rows bigint,
	deletes bigint,
	bytes bigint,
	raw_bytes bigint,
	files integer,
	truncated_values bigint,
	s3_key text,
	retries integer NOT NULL DEFAULT 0,
	error text,
	export_duration interval,
	upload_duration interval,
	import_duration interval,
	created_at timestamptz NOT NULL DEFAULT pg_catalog.now(),
	updated_at timestamptz NOT NULL DEFAULT pg_catalog.now(),
	exported_at timestamptz,
	uploaded_at timestamptz,
	imported_at timestamptz
);
CREATE INDEX replications_source_id_idx ON redtrack.replications (source, id);

-- Keys of deleted rows, one row per DELETE statement (keys flattened row
-- by row into one array), or a TRUNCATE marker.  Kept uncompressed out of
-- line: a bulk DELETE pays for one insert and no compression.
CREATE TABLE redtrack.deleted_records (
	id bigserial PRIMARY KEY,
	source regclass NOT NULL
		REFERENCES redtrack.replicables (source) ON DELETE CASCADE,
	kind text NOT NULL CHECK (kind IN ('delete', 'truncate')),
	key_names name[],
	keys text[],
	nkeys integer NOT NULL DEFAULT 0,
	deleted_at timestamptz NOT NULL DEFAULT pg_catalog.statement_timestamp(),
	-- the replication that carries these keys to Redshift, once taken
	replication_id bigint
);
ALTER TABLE redtrack.deleted_records ALTER COLUMN keys SET STORAGE EXTERNAL;
CREATE INDEX deleted_records_source_idx ON redtrack.deleted_records (source, replication_id);

SELECT pg_catalog.pg_extension_config_dump('redtrack.replicables', '');
SELECT pg_catalog.pg_extension_config_dump('redtrack.replications', '');
SELECT pg_catalog.pg_extension_config_dump('redtrack.replications_id_seq', '');
SELECT pg_catalog.pg_extension_config_dump('redtrack.deleted_records', '');
SELECT pg_catalog.pg_extension_config_dump('redtrack.deleted_records_id_seq', '');

-- The trigger that records deleted keys (statement level, transition
-- table), changed keys (row level, only when a key changes) and TRUNCATE.
CREATE FUNCTION redtrack.track_deletes()
RETURNS trigger
AS 'MODULE_PATHNAME', 'redtrack_track_deletes'
LANGUAGE C;

-- The keys of one deleted_records row, one jsonb object per key.
CREATE FUNCTION redtrack.deleted_keys(source regclass, key_names name[], keys text[])
RETURNS SETOF jsonb
AS 'MODULE_PATHNAME', 'redtrack_deleted_keys'
LANGUAGE C STABLE;

CREATE VIEW redtrack.pending_deletes AS
SELECT d.source,
	   d.kind,
	   k.key,
	   d.deleted_at,
	   d.replication_id,
	   d.id AS record_id
FROM redtrack.deleted_records AS d
	 LEFT JOIN LATERAL redtrack.deleted_keys(d.source, d.key_names, d.keys) AS k(key) ON true;

CREATE FUNCTION @extschema@.rrr_register(source regclass,
										  strategy text,
										  target_table text DEFAULT NULL,
										  replication_field name DEFAULT NULL,
										  track_deletes boolean DEFAULT false,
										  key_columns name[] DEFAULT NULL,
										  every interval DEFAULT NULL,
										  distkey name DEFAULT NULL,
										  sortkey name[] DEFAULT NULL,
										  evolve boolean DEFAULT false)
RETURNS void
AS 'MODULE_PATHNAME', 'rrr_register'
LANGUAGE C VOLATILE;

CREATE FUNCTION @extschema@.rrr_unregister(source regclass)
RETURNS void
AS 'MODULE_PATHNAME', 'rrr_unregister'
LANGUAGE C VOLATILE;

-- A dropped table takes its registration, history and pending deletes
-- with it.  Runs as the extension owner with a pinned search_path.
CREATE FUNCTION redtrack.on_sql_drop()
RETURNS event_trigger
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	DELETE FROM redtrack.replicables AS r
	USING pg_catalog.pg_event_trigger_dropped_objects() AS d
	WHERE d.classid = 'pg_catalog.pg_class'::pg_catalog.regclass
	  AND d.objsubid = 0
	  AND r.source::pg_catalog.oid = d.objid;
END
$$;

CREATE EVENT TRIGGER redtrack_sql_drop ON sql_drop
	EXECUTE FUNCTION redtrack.on_sql_drop();

CREATE VIEW redtrack.status AS
SELECT r.source,
	   r.strategy,
	   r.target_table AS target,
	   r.replication_field,
	   r.key_columns,
	   r.track_deletes,
	   r.every,
	   last.id AS last_replication_id,
	   last.state AS last_state,
	   last.rows AS last_rows,
	   last.error AS last_error,
	   done.imported_at AS last_imported_at,
	   done.next_first AS watermark,
	   (SELECT pg_catalog.sum(d.nkeys) FROM redtrack.deleted_records AS d
		WHERE d.source = r.source AND d.kind = 'delete') AS pending_deletes
FROM redtrack.replicables AS r
	 LEFT JOIN LATERAL (SELECT * FROM redtrack.replications AS p
						WHERE p.source = r.source
						ORDER BY p.id DESC LIMIT 1) AS last ON true
	 LEFT JOIN LATERAL (SELECT * FROM redtrack.replications AS p
						WHERE p.source = r.source AND p.state = 'imported'
						ORDER BY p.id DESC LIMIT 1) AS done ON true;

-- Privileges: only superusers and redtrack_admin.
REVOKE ALL ON ALL TABLES IN SCHEMA redtrack FROM PUBLIC;
GRANT SELECT ON ALL TABLES IN SCHEMA redtrack TO redtrack_admin;
REVOKE ALL ON ALL FUNCTIONS IN SCHEMA redtrack FROM PUBLIC;
REVOKE ALL ON FUNCTION @extschema@.rrr_register(regclass, text, text, name, boolean, name[], interval, name, name[], boolean) FROM PUBLIC;
REVOKE ALL ON FUNCTION @extschema@.rrr_unregister(regclass) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION @extschema@.rrr_register(regclass, text, text, name, boolean, name[], interval, name, name[], boolean) TO redtrack_admin;
GRANT EXECUTE ON FUNCTION @extschema@.rrr_unregister(regclass) TO redtrack_admin;
GRANT EXECUTE ON FUNCTION redtrack.deleted_keys(regclass, name[], text[]) TO redtrack_admin;
