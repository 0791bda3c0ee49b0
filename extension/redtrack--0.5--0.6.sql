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
