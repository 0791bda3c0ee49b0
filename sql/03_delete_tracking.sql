--
-- Delete tracking: single, bulk, composite-key, key-changing UPDATE,
-- TRUNCATE, partitioned tables, rollback, and unregister.
--
CREATE TABLE accounts (id bigint PRIMARY KEY, name text, updated_at timestamptz NOT NULL DEFAULT now());
SELECT rrr_register('accounts', 'timed', track_deletes => true);
INSERT INTO accounts (id, name) SELECT g, 'a' || g FROM generate_series(1, 1000) g;

-- one row
DELETE FROM accounts WHERE id = 7;
SELECT kind, key FROM redtrack.pending_deletes WHERE source = 'accounts'::regclass;

-- a bulk delete is one record holding all its keys
DELETE FROM accounts WHERE id BETWEEN 100 AND 599;
SELECT kind, nkeys, array_length(keys, 1) AS stored FROM redtrack.deleted_records
WHERE source = 'accounts'::regclass ORDER BY id;
SELECT count(*), min((key->>'id')::int), max((key->>'id')::int)
FROM redtrack.pending_deletes WHERE source = 'accounts'::regclass;

-- a DELETE that matches nothing records nothing
DELETE FROM accounts WHERE id < 0;
SELECT count(*) FROM redtrack.deleted_records WHERE source = 'accounts'::regclass;

-- rolled back deletes leave no record
BEGIN;
DELETE FROM accounts WHERE id > 900;
ROLLBACK;
SELECT count(*) FROM redtrack.deleted_records WHERE source = 'accounts'::regclass;

-- an UPDATE that changes the key records the old key; others record nothing
UPDATE accounts SET name = 'renamed' WHERE id = 1;
UPDATE accounts SET id = 5000 WHERE id = 2;
SELECT kind, key FROM redtrack.pending_deletes
WHERE source = 'accounts'::regclass AND key->>'id' IN ('1', '2');

-- TRUNCATE leaves a marker
TRUNCATE accounts;
SELECT kind, key FROM redtrack.pending_deletes
WHERE source = 'accounts'::regclass AND kind = 'truncate';

-- composite keys of mixed types, in key order
CREATE TABLE line_items (
    order_id uuid NOT NULL,
    line integer NOT NULL,
    sku text,
    at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (order_id, line)
);
SELECT rrr_register('line_items', 'timed', replication_field => 'at', track_deletes => true);
INSERT INTO line_items (order_id, line, sku)
SELECT ('00000000-0000-0000-0000-00000000000' || (g % 3))::uuid, g, 'sku' || g FROM generate_series(1, 6) g;
DELETE FROM line_items WHERE line IN (2, 3);
SELECT key FROM redtrack.pending_deletes WHERE source = 'line_items'::regclass ORDER BY key->>'line';

-- keys of date/time types are stored the same whatever the session's settings
CREATE TABLE slots (day date NOT NULL, at timestamptz NOT NULL, PRIMARY KEY (day, at));
SELECT rrr_register('slots', 'full', track_deletes => true);
INSERT INTO slots VALUES ('2024-05-01', '2024-05-01 12:00:00+02'), ('2024-05-02', '2024-05-02 00:00:00+00');
SET DateStyle = 'SQL, DMY';
SET TimeZone = 'America/New_York';
DELETE FROM slots WHERE day = '01/05/2024';
RESET DateStyle;
RESET TimeZone;
SET DateStyle = 'German';
DELETE FROM slots;
RESET DateStyle;
SELECT keys FROM redtrack.deleted_records WHERE source = 'slots'::regclass ORDER BY id;
SELECT current_setting('DateStyle') AS datestyle_restored;

-- explicit key columns with awkward values
CREATE TABLE tags ("Tag Name" text NOT NULL, "Scope" text NOT NULL, weight int);
SELECT rrr_register('tags', 'full', key_columns => ARRAY['Scope', 'Tag Name']::name[], track_deletes => true);
INSERT INTO tags VALUES ('a,b', 'x"y', 1), (E'new\nline', '', 2), ('ünï 😀', '\N', 3);
DELETE FROM tags;
SELECT key FROM redtrack.pending_deletes WHERE source = 'tags'::regclass ORDER BY key::text;

-- partitioned tables: deletes in any partition are recorded against the parent
CREATE TABLE measurements (id int NOT NULL, at date NOT NULL, v float8, PRIMARY KEY (id, at))
    PARTITION BY RANGE (at);
CREATE TABLE measurements_2024 PARTITION OF measurements FOR VALUES FROM ('2024-01-01') TO ('2025-01-01');
CREATE TABLE measurements_2025 PARTITION OF measurements FOR VALUES FROM ('2025-01-01') TO ('2026-01-01');
SELECT rrr_register('measurements', 'timed', replication_field => 'at', track_deletes => true);
INSERT INTO measurements VALUES (1, '2024-05-01', 1), (2, '2025-05-01', 2), (3, '2025-06-01', 3);
DELETE FROM measurements WHERE id IN (1, 2);
SELECT source, key FROM redtrack.pending_deletes WHERE source = 'measurements'::regclass ORDER BY key::text;

-- a plain role can delete from a tracked table it may write, without seeing redtrack
CREATE ROLE regress_writer;
GRANT SELECT, DELETE ON accounts TO regress_writer;
INSERT INTO accounts (id, name) VALUES (42, 'x');
SET ROLE regress_writer;
DELETE FROM accounts WHERE id = 42;
SELECT count(*) FROM redtrack.deleted_records;
RESET ROLE;
SELECT key FROM redtrack.pending_deletes WHERE source = 'accounts'::regclass AND key->>'id' = '42';

-- unregister removes the triggers and the pending records
SELECT tgname FROM pg_trigger WHERE tgrelid = 'accounts'::regclass ORDER BY 1;
SELECT rrr_unregister('accounts');
SELECT tgname FROM pg_trigger WHERE tgrelid = 'accounts'::regclass ORDER BY 1;
SELECT count(*) FROM redtrack.deleted_records WHERE source::oid = 'accounts'::regclass::oid;
DELETE FROM accounts;

-- dropping a registered table removes its registration and records
DROP TABLE line_items;
SELECT count(*) FROM redtrack.replicables WHERE source::text = 'line_items';
SELECT count(*) FROM redtrack.replicables;

DROP OWNED BY regress_writer;
DROP ROLE regress_writer;
