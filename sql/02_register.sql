--
-- rrr_register: every way to get it wrong gets a clear error, and the
-- right ways work with any identifier.
--
\set VERBOSITY default
CREATE TABLE users (
    id bigint PRIMARY KEY,
    email text,
    nickname text,
    score integer NOT NULL DEFAULT 0,
    amount numeric,
    updated_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX ON users (updated_at);
CREATE TABLE nokey (a int, b text, changed timestamp NOT NULL);
CREATE TABLE nullable_key (a int, b int NOT NULL, changed date);
CREATE VIEW users_view AS SELECT * FROM users;
CREATE MATERIALIZED VIEW users_mv AS SELECT * FROM users;
CREATE SEQUENCE some_seq;
CREATE TEMP TABLE temp_users (id int PRIMARY KEY, updated_at timestamptz NOT NULL);
CREATE FOREIGN DATA WRAPPER dummy_fdw;
CREATE SERVER dummy_server FOREIGN DATA WRAPPER dummy_fdw;
CREATE FOREIGN TABLE remote_users (id int) SERVER dummy_server;

-- strategy
SELECT rrr_register('users', 'sometimes');
SELECT rrr_register('users', NULL);
SELECT rrr_register(NULL, 'timed');
-- table kind
SELECT rrr_register('users_view', 'full');
SELECT rrr_register('users_mv', 'full');
SELECT rrr_register('some_seq', 'full');
SELECT rrr_register('temp_users', 'timed');
SELECT rrr_register('remote_users', 'full');
SELECT rrr_register('no_such_table', 'full');
SELECT rrr_register('pg_class', 'full');
SELECT rrr_register('redtrack.replications', 'full');
-- timed: field must exist and be a date/time or integer column; a key is needed
SELECT rrr_register('users', 'timed', replication_field => 'changed_at');
SELECT rrr_register('users', 'timed', replication_field => 'email');
SELECT rrr_register('users', 'timed', replication_field => 'amount');
SELECT rrr_register('users', 'timed', replication_field => 'ctid');
SELECT rrr_register('nokey', 'timed', replication_field => 'changed');
-- identity: the field must be an integer
SELECT rrr_register('users', 'identity', replication_field => 'updated_at');
SELECT rrr_register('users', 'identity', replication_field => 'email');
-- full takes no field
SELECT rrr_register('users', 'full', replication_field => 'updated_at');
-- keys must exist, not repeat, and be NOT NULL
SELECT rrr_register('users', 'timed', key_columns => ARRAY['nope']::name[]);
SELECT rrr_register('users', 'timed', key_columns => ARRAY['id', 'id']::name[]);
SELECT rrr_register('users', 'timed', key_columns => ARRAY['email']::name[]);
SELECT rrr_register('users', 'timed', key_columns => ARRAY[]::name[]);
SELECT rrr_register('users', 'timed', key_columns => ARRAY[NULL]::name[]);
SELECT rrr_register('nullable_key', 'timed', replication_field => 'changed', key_columns => ARRAY['a']::name[]);
-- deletes need a key
SELECT rrr_register('nokey', 'full', track_deletes => true);
-- schedule and Redshift options
SELECT rrr_register('users', 'timed', every => '0 seconds');
SELECT rrr_register('users', 'timed', every => '-1 hour');
SELECT rrr_register('users', 'timed', distkey => 'nope');
SELECT rrr_register('users', 'timed', sortkey => ARRAY['updated_at', 'nope']::name[]);
-- target names
SELECT rrr_register('users', 'timed', target_table => '');
SELECT rrr_register('users', 'timed', target_table => 'a.b.c');
SELECT rrr_register('users', 'timed', target_table => '"unterminated');
SELECT rrr_register('users', 'timed', target_table => repeat('x', 128));

-- Redshift names may be 127 bytes, longer than PostgreSQL's: never truncated.
CREATE TABLE long_target (id int PRIMARY KEY);
SELECT rrr_register('long_target', 'full', target_table => 'analytics.' || repeat('y', 127));
SELECT length(target_table) FROM redtrack.replicables WHERE source = 'long_target'::regclass;
SELECT rrr_unregister('long_target');

-- Nothing was registered by any of that.
SELECT count(*) FROM redtrack.replicables;

-- Now the right ways.
SELECT rrr_register('users', 'timed', track_deletes => true, every => '5 minutes',
                    distkey => 'id', sortkey => ARRAY['updated_at']::name[]);
SELECT rrr_register('users', 'timed');
-- a nullable field is allowed, with a warning; a missing index gets a notice
SELECT rrr_register('nullable_key', 'timed', replication_field => 'changed',
                    key_columns => ARRAY['b']::name[], target_table => 'analytics.nk');
-- identity without a primary key uses its field as the key
SELECT rrr_register('nokey', 'full');
CREATE TABLE events (id bigint NOT NULL, kind text, payload jsonb);
SELECT rrr_register('events', 'identity');
-- targets are unique
CREATE TABLE users2 (id int PRIMARY KEY, updated_at timestamptz NOT NULL);
SELECT rrr_register('users2', 'timed', target_table => 'users');
SELECT rrr_register('users2', 'timed', target_table => 'Users');

-- Awkward identifiers everywhere: quotes, spaces, dots, upper case, non-ASCII.
CREATE SCHEMA "Odd Schema";
CREATE TABLE "Odd Schema"."Tab.le ""quoted"" Ünïcode" (
    "Key Part" int NOT NULL,
    "ключ" text NOT NULL,
    "Updated At" timestamptz NOT NULL,
    PRIMARY KEY ("Key Part", "ключ")
);
SELECT rrr_register('"Odd Schema"."Tab.le ""quoted"" Ünïcode"', 'timed',
                    replication_field => 'Updated At', track_deletes => true,
                    target_table => '"Odd Target"."Tab.le ""quoted"" Ünïcode"');
CREATE TABLE "x""; DROP TABLE users; --" (id int PRIMARY KEY, updated_at timestamptz NOT NULL);
SELECT rrr_register('"x""; DROP TABLE users; --"', 'timed', track_deletes => true);

SELECT source, strategy, target_table, replication_field, track_deletes, key_columns,
       every, distkey, sortkey, evolve
FROM redtrack.replicables ORDER BY registered_at, source::oid;
SELECT source, strategy, target, replication_field, key_columns, last_state, pending_deletes
FROM redtrack.status ORDER BY 1::text;
SELECT count(*) AS users_still_here FROM users;

-- rrr_unregister
SELECT rrr_unregister('nokey');
SELECT rrr_unregister('users_view');
SELECT rrr_unregister(NULL);
SELECT count(*) FROM redtrack.replicables;
