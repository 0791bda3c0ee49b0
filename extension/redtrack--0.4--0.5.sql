/* redtrack 0.4 -> 0.5: security and durability fixes (issues 16 and 18). */
\echo Use "ALTER EXTENSION redtrack UPDATE TO '0.5'" to load this file. \quit

-- ---------------------------------------------------------------------------
-- Section A: registrations, privileges, status (owner: engine/registry work)
-- ---------------------------------------------------------------------------



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
