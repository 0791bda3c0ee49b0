/* redtrack 0.4 -> 0.5: security and durability fixes (issues 16 and 18). */
\echo Use "ALTER EXTENSION redtrack UPDATE TO '0.5'" to load this file. \quit

-- ---------------------------------------------------------------------------
-- Section A: registrations, privileges, status (owner: engine/registry work)
-- ---------------------------------------------------------------------------

-- Keys that were defaulted to the primary key are re-checked against it at
-- every run: a changed primary key stops the table instead of merging rows
-- under the old key.
ALTER TABLE redtrack.replicables
	ADD COLUMN key_from_primary_key boolean NOT NULL DEFAULT false;
UPDATE redtrack.replicables AS r
   SET key_from_primary_key = true
 WHERE r.key_columns IS NOT NULL
   AND r.key_columns OPERATOR(pg_catalog.=) ARRAY(
		SELECT a.attname
		  FROM pg_catalog.pg_index AS i
			   CROSS JOIN LATERAL pg_catalog.unnest(i.indkey::pg_catalog.int2[]) WITH ORDINALITY AS k(attnum, n)
			   JOIN pg_catalog.pg_attribute AS a
				 ON a.attrelid OPERATOR(pg_catalog.=) i.indrelid
				AND a.attnum OPERATOR(pg_catalog.=) k.attnum
		 WHERE i.indrelid OPERATOR(pg_catalog.=) r.source::pg_catalog.oid AND i.indisprimary
		 ORDER BY k.n);

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

-- Event dates and timestamps are now read as ISO 8601 only, the same in
-- every session.  A stored default in another form ("now", "epoch",
-- "01/02/2024": until now read with each writing session's DateStyle and
-- TimeZone) would make every write to its stream fail: it becomes the
-- value it has with DateStyle ISO, MDY and TimeZone UTC, written in ISO
-- form, within years 1 to 9999 as the export would have clamped it.  Every
-- such default is rewritten, so that the stored text surely parses.
DO $$
DECLARE
	s record;
	f record;
	cols jsonb;
	d text;
	v text;
	saved_style text := pg_catalog.current_setting('DateStyle');
	saved_zone text := pg_catalog.current_setting('TimeZone');
BEGIN
	PERFORM pg_catalog.set_config('DateStyle', 'ISO, MDY', true);
	PERFORM pg_catalog.set_config('TimeZone', 'UTC', true);
	FOR s IN SELECT name, columns FROM redtrack.streams LOOP
		cols := s.columns;
		FOR f IN SELECT key, value FROM pg_catalog.jsonb_each(s.columns)
			WHERE value OPERATOR(pg_catalog.->>) 'type' IN ('timestamp', 'timestamptz', 'date')
			  AND pg_catalog.jsonb_typeof(value OPERATOR(pg_catalog.->) 'default') = 'string'
		LOOP
			d := f.value OPERATOR(pg_catalog.->>) 'default';
			BEGIN
				v := CASE f.value OPERATOR(pg_catalog.->>) 'type'
					WHEN 'date' THEN pg_catalog.to_char(
						GREATEST(LEAST(d::pg_catalog.date, '9999-12-31'::pg_catalog.date),
								 '0001-01-01'::pg_catalog.date), 'YYYY-MM-DD')
					WHEN 'timestamp' THEN pg_catalog.to_char(
						GREATEST(LEAST(d::pg_catalog.timestamp, '9999-12-31 23:59:59.999999'::pg_catalog.timestamp),
								 '0001-01-01'::pg_catalog.timestamp), 'YYYY-MM-DD"T"HH24:MI:SS.US')
					ELSE pg_catalog.to_char(
						GREATEST(LEAST(d::pg_catalog.timestamptz, '9999-12-31 23:59:59.999999+00'::pg_catalog.timestamptz),
								 '0001-01-01 00:00:00+00'::pg_catalog.timestamptz), 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"')
				END;
			EXCEPTION WHEN data_exception THEN
				v := NULL;
			END;
			IF v IS NULL THEN
				RAISE WARNING 'default "%" of field "%" of stream "%" is not a date or time in ISO 8601 form',
					d, f.key, s.name
					USING HINT = 'Writes to the stream fail until rrr_define_stream gives the field an ISO 8601 default.';
			ELSIF v IS DISTINCT FROM d THEN
				cols := pg_catalog.jsonb_set(cols, ARRAY[f.key, 'default'], pg_catalog.to_jsonb(v));
			END IF;
		END LOOP;
		IF cols IS DISTINCT FROM s.columns THEN
			UPDATE redtrack.streams SET columns = cols WHERE name OPERATOR(pg_catalog.=) s.name;
		END IF;
	END LOOP;
	PERFORM pg_catalog.set_config('DateStyle', saved_style, true);
	PERFORM pg_catalog.set_config('TimeZone', saved_zone, true);
END
$$;

-- (end of section C)

-- ---------------------------------------------------------------------------
-- Section D: durability (installation identity, replication ids)
-- ---------------------------------------------------------------------------

-- This installation's identity: a random uuid, made once by CREATE
-- EXTENSION (or by the update to 0.5), that every load marker carries with
-- the replication id.  A re-created database or extension starts its ids
-- at 1 again, but under a new identity, so it never meets the markers of
-- an earlier incarnation.  Deliberately not registered with
-- pg_extension_config_dump: a restore runs CREATE EXTENSION and is a new
-- incarnation (the restored replications keep the identity they were
-- created under, in replications.installation).
CREATE TABLE redtrack.installation (
	id uuid NOT NULL DEFAULT pg_catalog.gen_random_uuid(),
	created_at timestamptz NOT NULL DEFAULT pg_catalog.now(),
	one_row boolean PRIMARY KEY DEFAULT true CHECK (one_row)
);
INSERT INTO redtrack.installation DEFAULT VALUES;
REVOKE ALL ON redtrack.installation FROM PUBLIC;
GRANT SELECT ON redtrack.installation TO redtrack_admin;

-- The identity each replication was created under.  NULL for the
-- replications of an installation updated from 0.4: their markers name the
-- cluster and the database, as 0.4 wrote them, so what 0.4 loaded is found.
ALTER TABLE redtrack.replications ADD COLUMN installation uuid;
COMMENT ON COLUMN redtrack.replications.installation IS
	'redtrack.installation.id of the installation that created the replication; NULL: created by redtrack 0.4 or earlier';



-- (end of section D)

-- ---------------------------------------------------------------------------
-- Last: every function of the extension, including those added above
-- Functions run with a pinned search_path, so that SQL they run in the
-- caller's session (redtrack.status calls redtrack.stream_backlog) never
-- resolves an operator or function from a schema the caller put first.
-- rrr_write, rrr_write_batch and the trigger are left out: they are on the
-- application's hot path and pin search_path themselves (owner scope).
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
