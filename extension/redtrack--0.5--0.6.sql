/* extension/redtrack--0.5--0.6.sql: redtrack 0.6 */

-- complain if script is sourced in psql, rather than through ALTER EXTENSION
\echo Use "ALTER EXTENSION redtrack UPDATE TO '0.6'" to load this file. \quit

-- ---------------------------------------------------------------------------
-- Section A: standalone tools (rrr_export_query, rrr_load)

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
