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



-- (end of section D)
