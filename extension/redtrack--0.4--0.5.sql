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



-- (end of section B)

-- ---------------------------------------------------------------------------
-- Section C: event streams (sizes, names, timestamps)
-- ---------------------------------------------------------------------------



-- (end of section C)

-- ---------------------------------------------------------------------------
-- Section D: durability (installation identity, replication ids)
-- ---------------------------------------------------------------------------



-- (end of section D)
