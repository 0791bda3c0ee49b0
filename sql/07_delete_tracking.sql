--
-- Delete tracking, continued: partitions (present, created, attached,
-- detached), renamed and dropped key columns, NULL keys, big deletes in
-- bounded records, and the upgrade from 0.4.
--
SET client_min_messages = warning;

-- a partitioned table with a sub-partitioned partition
CREATE TABLE parts (id int NOT NULL, at date NOT NULL, v text, PRIMARY KEY (id, at))
    PARTITION BY RANGE (at);
CREATE TABLE parts_2024 PARTITION OF parts FOR VALUES FROM ('2024-01-01') TO ('2025-01-01');
CREATE TABLE parts_2025 PARTITION OF parts FOR VALUES FROM ('2025-01-01') TO ('2026-01-01')
    PARTITION BY RANGE (at);
CREATE TABLE parts_2025h1 PARTITION OF parts_2025 FOR VALUES FROM ('2025-01-01') TO ('2025-07-01');
SELECT rrr_register('parts', 'timed', replication_field => 'at', track_deletes => true);

-- partitions created later, at any depth, and one attached with its
-- columns in another order (and a dropped column): all get the triggers
CREATE TABLE parts_2025h2 PARTITION OF parts_2025 FOR VALUES FROM ('2025-07-01') TO ('2026-01-01');
CREATE TABLE parts_2026 (junk int, v text, at date NOT NULL, id int NOT NULL);
ALTER TABLE parts_2026 DROP COLUMN junk;
ALTER TABLE parts ATTACH PARTITION parts_2026 FOR VALUES FROM ('2026-01-01') TO ('2027-01-01');
CREATE TABLE parts_2027 (id int NOT NULL, at date NOT NULL, v text) PARTITION BY RANGE (at);
CREATE TABLE parts_2027h1 PARTITION OF parts_2027 FOR VALUES FROM ('2027-01-01') TO ('2027-07-01');
ALTER TABLE parts ATTACH PARTITION parts_2027 FOR VALUES FROM ('2027-01-01') TO ('2028-01-01');
SELECT c.relname, t.tgname, t.tgparentid <> 0 AS cloned,
       EXISTS (SELECT FROM pg_depend d WHERE d.objid = t.oid AND d.refclassid = 'pg_extension'::regclass) AS tied
FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid
WHERE c.relname LIKE 'parts%' AND t.tgname LIKE 'redtrack%'
ORDER BY 1, 2;

INSERT INTO parts VALUES (1, '2024-03-01', 'a'), (2, '2024-04-01', 'b'), (3, '2025-02-01', 'c'),
    (4, '2025-08-01', 'd'), (5, '2026-02-01', 'e'), (6, '2026-03-01', 'f'), (7, '2024-05-01', 'g'),
    (8, '2027-02-01', 'h');

-- deletes and key changes in any partition are recorded against the parent
DELETE FROM parts_2024 WHERE id = 1;
DELETE FROM parts_2025h2;
DELETE FROM parts_2025 WHERE id = 3;
DELETE FROM parts_2026 WHERE id = 5;
DELETE FROM parts WHERE id = 2;
DELETE FROM parts_2027h1;
UPDATE parts_2026 SET id = 60 WHERE id = 6;
UPDATE parts SET id = 70 WHERE id = 7;
SELECT source, kind, key FROM redtrack.pending_deletes
WHERE source = 'parts'::regclass ORDER BY record_id;
SELECT count(*) AS records_of_partitions FROM redtrack.deleted_records
WHERE source::oid <> 'parts'::regclass::oid;

-- an UPDATE that moves a row to another partition changes its key: the
-- old key is recorded (through the parent, through a sub-partitioned
-- partition); an UPDATE that moves nothing, or fails, records nothing
DELETE FROM redtrack.deleted_records;
INSERT INTO parts VALUES (20, '2024-07-01', 'm'), (21, '2025-02-01', 'n'), (22, '2025-03-01', 'o');
UPDATE parts SET at = '2026-07-01' WHERE id = 20;
UPDATE parts_2025 SET at = at + 180 WHERE id = 21;
UPDATE parts SET v = 'same partition' WHERE id = 22;
BEGIN;
SAVEPOINT s;
UPDATE parts SET at = '2030-01-01' WHERE id = 22;
ROLLBACK TO s;
DELETE FROM parts WHERE id = 22;
COMMIT;
DELETE FROM parts WHERE id = 70;
SELECT source, kind, key FROM redtrack.pending_deletes
WHERE source = 'parts'::regclass ORDER BY record_id;
SELECT tableoid::regclass, * FROM parts ORDER BY id;
DELETE FROM redtrack.deleted_records;

-- with key columns that leave out the partitioning column, a move keeps
-- the key: nothing is recorded
CREATE TABLE loose (id int NOT NULL, at date NOT NULL) PARTITION BY RANGE (at);
CREATE TABLE loose_1 PARTITION OF loose FOR VALUES FROM ('2024-01-01') TO ('2025-01-01');
CREATE TABLE loose_2 PARTITION OF loose FOR VALUES FROM ('2025-01-01') TO ('2026-01-01');
SELECT rrr_register('loose', 'full', key_columns => ARRAY['id']::name[], track_deletes => true);
INSERT INTO loose VALUES (1, '2024-01-01');
UPDATE loose SET at = '2025-01-01';
DELETE FROM loose_2;
SELECT source, kind, key FROM redtrack.pending_deletes WHERE source = 'loose'::regclass;
DROP TABLE loose;

-- TRUNCATE of a partition leaves a marker; of the parent, one marker
TRUNCATE parts_2024;
SELECT source, kind FROM redtrack.deleted_records WHERE kind = 'truncate';
DELETE FROM redtrack.deleted_records;
TRUNCATE parts;
SELECT source, kind, key_names FROM redtrack.deleted_records;
DELETE FROM redtrack.deleted_records;

-- a detached partition loses its triggers; its deletes are not the table's
ALTER TABLE parts DETACH PARTITION parts_2026;
SELECT tgname FROM pg_trigger WHERE tgrelid = 'parts_2026'::regclass;
INSERT INTO parts_2026 VALUES ('x', '2026-05-01', 9);
DELETE FROM parts_2026;
TRUNCATE parts_2026;
SELECT count(*) AS recorded FROM redtrack.deleted_records;

-- unregistering removes the triggers of every partition
SELECT rrr_unregister('parts');
SELECT count(*) AS redtrack_triggers FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid
WHERE c.relname LIKE 'parts%' AND t.tgname LIKE 'redtrack%';
DELETE FROM parts;

-- a renamed key column is followed: deletes, key changes and TRUNCATE work
CREATE TABLE renamed (id int PRIMARY KEY, name text, updated_at timestamptz NOT NULL DEFAULT now());
SELECT rrr_register('renamed', 'timed', track_deletes => true);
INSERT INTO renamed (id, name) SELECT g, 'n' || g FROM generate_series(1, 5) g;
ALTER TABLE renamed RENAME COLUMN id TO user_id;
DELETE FROM renamed WHERE user_id = 1;
UPDATE renamed SET user_id = 20 WHERE user_id = 2;
SELECT kind, key_names, keys FROM redtrack.deleted_records
WHERE source = 'renamed'::regclass ORDER BY id;
TRUNCATE renamed;
SELECT kind, key_names FROM redtrack.deleted_records
WHERE source = 'renamed'::regclass AND kind = 'truncate';

-- a dropped key column: the DELETE succeeds and a TRUNCATE is recorded
-- (the next load replaces the target), with a warning
INSERT INTO renamed (user_id, name) VALUES (1, 'one');
DELETE FROM redtrack.deleted_records;
ALTER TABLE renamed DROP COLUMN user_id CASCADE;
DELETE FROM renamed;
SELECT kind, key_names, keys, nkeys FROM redtrack.deleted_records WHERE source = 'renamed'::regclass;

-- a NULL key (NOT NULL dropped after registration): no failure either
CREATE TABLE coded (code text NOT NULL, n int, updated_at timestamptz NOT NULL DEFAULT now());
SELECT rrr_register('coded', 'timed', key_columns => ARRAY['code']::name[], track_deletes => true);
ALTER TABLE coded ALTER COLUMN code DROP NOT NULL;
INSERT INTO coded (code, n) VALUES ('a', 1), (NULL, 2), ('b', 3);
DELETE FROM coded WHERE n >= 2;
SELECT kind, keys FROM redtrack.deleted_records WHERE source = 'coded'::regclass ORDER BY id;

-- a big DELETE is recorded in several bounded records, no row split
CREATE TABLE wide (k text NOT NULL, v int);
SELECT rrr_register('wide', 'full', key_columns => ARRAY['k']::name[], track_deletes => true);
INSERT INTO wide SELECT lpad(g::text, 400, '#'), g FROM generate_series(1, 25000) g;
DELETE FROM wide WHERE v > 10;
SELECT count(*) > 1 AS several_records,
       sum(nkeys) AS keys,
       bool_and(array_length(keys, 1) = nkeys) AS whole_rows,
       max(pg_column_size(keys)) < 5 * 1024 * 1024 AS bounded
FROM redtrack.deleted_records WHERE source = 'wide'::regclass;
SELECT count(DISTINCT key) AS distinct_keys, min((key->>'k')::text) = lpad('11', 400, '#') AS first_key
FROM redtrack.pending_deletes WHERE source = 'wide'::regclass;

-- the owner of a tracked table, not a superuser, creates and attaches
-- partitions (the key-change trigger is cloned with the owner's rights)
CREATE ROLE regress_table_owner;
GRANT CREATE ON SCHEMA public TO regress_table_owner;
SET ROLE regress_table_owner;
CREATE TABLE owned (id int NOT NULL, at date NOT NULL, PRIMARY KEY (id, at)) PARTITION BY RANGE (at);
CREATE TABLE owned_2024 PARTITION OF owned FOR VALUES FROM ('2024-01-01') TO ('2025-01-01');
RESET ROLE;
SELECT rrr_register('owned', 'full', track_deletes => true);
SET ROLE regress_table_owner;
CREATE TABLE owned_2025 PARTITION OF owned FOR VALUES FROM ('2025-01-01') TO ('2026-01-01');
CREATE TABLE owned_2026 (id int NOT NULL, at date NOT NULL);
ALTER TABLE owned ATTACH PARTITION owned_2026 FOR VALUES FROM ('2026-01-01') TO ('2027-01-01');
INSERT INTO owned VALUES (1, '2024-01-01'), (2, '2025-01-01'), (3, '2026-01-01'), (4, '2026-02-01');
DELETE FROM owned_2025;
UPDATE owned_2026 SET id = 30 WHERE id = 3;
DELETE FROM owned WHERE id = 4;
TRUNCATE owned_2024;
RESET ROLE;
SELECT source, kind, key FROM redtrack.pending_deletes
WHERE source = 'owned'::regclass ORDER BY record_id;
DROP TABLE owned;
REVOKE CREATE ON SCHEMA public FROM regress_table_owner;
DROP ROLE regress_table_owner;

-- upgrading from 0.4 adds the triggers of existing partitions
DROP EXTENSION redtrack;
CREATE EXTENSION redtrack VERSION '0.4';
SELECT rrr_register('parts', 'timed', replication_field => 'at', track_deletes => true);
-- (a 0.4 registration left partitions without statement triggers)
DROP TRIGGER redtrack_deletes ON parts_2024;
DROP TRIGGER redtrack_truncate ON parts_2024;
ALTER EXTENSION redtrack UPDATE;
SELECT tgname FROM pg_trigger WHERE tgrelid = 'parts_2024'::regclass ORDER BY 1;
INSERT INTO parts VALUES (11, '2024-06-01', 'k');
DELETE FROM parts_2024;
SELECT source, key FROM redtrack.pending_deletes;

DROP TABLE parts, parts_2026, renamed, coded, wide;
RESET client_min_messages;
