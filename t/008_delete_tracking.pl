# Delete tracking end to end, where it used to lose deletes or fail the
# application: deletes, key changes, rows moved between partitions and
# TRUNCATE applied to partitions (present, created later, attached,
# sub-partitions); a renamed key column; a dropped key column and a NULL
# key; a DELETE big enough to be recorded in several bounded records.
# Each case compares the warehouse with the source row by row after
# replication.
use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/lib";
use PostgreSQL::Test::Utils;
use RedtrackTest;
use Test::More;

my $dialect = $ENV{REDTRACK_TEST_DIALECT} // 'redshift';
my $node = new_source('deletes', dialect => $dialect);
my $schema = target_schema();
clear_faults();

sub sql { return $node->safe_psql('postgres', $_[0]); }

# An application statement: it must succeed (and may warn).
sub app_ok
{
	my ($statement, $message) = @_;
	my ($out, $err) = ('', '');
	my $rc = $node->psql('postgres', $statement, stdout => \$out, stderr => \$err,
		on_error_stop => 1);
	is($rc, 0, "$message: the application's statement succeeds")
	  or diag($err);
	return $err;
}

sub replicate
{
	my ($table) = @_;
	return sql("SELECT state || '|' || COALESCE(error, '') FROM rrr_replicate('$table')");
}

sub same
{
	my ($table, $columns, $message) = @_;
	return compare_tables($node, "SELECT $columns FROM $table ORDER BY 1, 2",
		"SELECT $columns FROM $schema.$table ORDER BY 1, 2", $message);
}

# ---------------------------------------------------------------------------
# Item 8: partitions
# ---------------------------------------------------------------------------
sql(qq{
CREATE TABLE events (id bigint NOT NULL, at date NOT NULL, note text,
	updated_at timestamptz NOT NULL DEFAULT clock_timestamp(), PRIMARY KEY (id, at))
	PARTITION BY RANGE (at);
CREATE INDEX ON events (updated_at);
CREATE TABLE events_2024 PARTITION OF events FOR VALUES FROM ('2024-01-01') TO ('2025-01-01');
CREATE TABLE events_2025 PARTITION OF events FOR VALUES FROM ('2025-01-01') TO ('2026-01-01')
	PARTITION BY RANGE (at);
CREATE TABLE events_2025h1 PARTITION OF events_2025 FOR VALUES FROM ('2025-01-01') TO ('2025-07-01');
SELECT rrr_register('events', 'timed', track_deletes => true, target_table => '$schema.events');
-- after registration: a sub-partition, and a table attached with its
-- columns in another order
CREATE TABLE events_2025h2 PARTITION OF events_2025 FOR VALUES FROM ('2025-07-01') TO ('2026-01-01');
CREATE TABLE events_2026 (gone int, updated_at timestamptz NOT NULL DEFAULT clock_timestamp(),
	note text, at date NOT NULL, id bigint NOT NULL);
ALTER TABLE events_2026 DROP COLUMN gone;
ALTER TABLE events ATTACH PARTITION events_2026 FOR VALUES FROM ('2026-01-01') TO ('2027-01-01');
INSERT INTO events (id, at, note)
SELECT g, date '2024-01-01' + (g * 3 % 1090), 'event ' || g FROM generate_series(1, 600) g;
});
my $cols = 'id, at, note, updated_at';
like(replicate('events'), qr/^imported\|$/, 'partitioned: first replication');
same('events', $cols, 'partitioned: first load');

app_ok('DELETE FROM events_2024 WHERE id % 3 = 0', 'DELETE on a partition');
app_ok('DELETE FROM events WHERE id % 7 = 0', 'DELETE on the parent');
app_ok('DELETE FROM events_2025 WHERE id % 5 = 0', 'DELETE on a sub-partitioned partition');
app_ok('DELETE FROM events_2025h2 WHERE id % 4 = 0', 'DELETE on a sub-partition created later');
app_ok('DELETE FROM events_2026 WHERE id % 4 = 1', 'DELETE on an attached partition');
app_ok('UPDATE events_2024 SET id = id + 10000, updated_at = clock_timestamp() WHERE id % 10 = 1',
	'key change on a partition');
app_ok('UPDATE events SET id = id + 20000, updated_at = clock_timestamp() WHERE id % 10 = 2',
	'key change through the parent');
app_ok('UPDATE events_2026 SET id = id + 30000, updated_at = clock_timestamp() WHERE id % 10 = 3',
	'key change on an attached partition');
app_ok(q{UPDATE events SET at = at + 365, updated_at = clock_timestamp() WHERE id % 10 = 4 AND at < '2025-01-01'},
	'rows moved to another partition through the parent');
app_ok(q{UPDATE events_2025 SET at = at + 180, updated_at = clock_timestamp() WHERE id % 10 = 6 AND at < '2025-07-01'},
	'rows moved between sub-partitions');
is(sql("SELECT count(*) FROM redtrack.deleted_records WHERE source <> 'events'::regclass"), 0,
	'partitioned: every record belongs to the registered table');
like(replicate('events'), qr/^imported\|$/, 'partitioned: deletes replicated');
same('events', $cols, 'partitioned: deletes in every partition reached the warehouse');
is(sql("SELECT carries_truncate FROM redtrack.replications WHERE source = 'events'::regclass ORDER BY id DESC LIMIT 1"),
	'f', 'partitioned: the deletes went by key, not by a reload');

# TRUNCATE of a partition (and of a sub-partition): the target is rebuilt.
app_ok('TRUNCATE events_2024', 'TRUNCATE of a partition');
app_ok('TRUNCATE events_2025h1', 'TRUNCATE of a sub-partition');
sql(q{INSERT INTO events (id, at, note) VALUES (5000, '2024-02-02', 'after truncate')});
like(replicate('events'), qr/^imported\|$/, 'partitioned: TRUNCATE replicated');
same('events', $cols, 'partitioned: TRUNCATE of partitions reached the warehouse');

# ---------------------------------------------------------------------------
# Item 12: a renamed key column is followed
# ---------------------------------------------------------------------------
sql(qq{
CREATE TABLE users (id bigint PRIMARY KEY, name text, updated_at timestamptz NOT NULL DEFAULT clock_timestamp());
CREATE INDEX ON users (updated_at);
SELECT rrr_register('users', 'timed', track_deletes => true, target_table => '$schema.users');
INSERT INTO users (id, name) SELECT g, 'user ' || g FROM generate_series(1, 300) g;
});
$cols = 'id, name, updated_at';
like(replicate('users'), qr/^imported\|$/, 'rename: first replication');

sql('ALTER TABLE users RENAME COLUMN id TO user_id');
app_ok('DELETE FROM users WHERE user_id % 4 = 0', 'DELETE after a key column rename');
app_ok('UPDATE users SET user_id = user_id + 1000, updated_at = clock_timestamp() WHERE user_id % 5 = 1',
	'key change after a key column rename');
is(sql("SELECT DISTINCT key_names::text FROM redtrack.deleted_records WHERE source = 'users'::regclass"),
	'{user_id}', 'rename: the records name the key as it is now');
sql('ALTER TABLE users RENAME COLUMN user_id TO id');
like(replicate('users'), qr/^imported\|$/, 'rename: replication once the name is back');
same('users', $cols, 'rename: deletes made under the new name reached the warehouse');

sql('ALTER TABLE users RENAME COLUMN id TO user_id');
app_ok('TRUNCATE users', 'TRUNCATE after a key column rename');
sql(q{INSERT INTO users (user_id, name) VALUES (7001, 'after truncate'), (7002, 'again')});
sql('ALTER TABLE users RENAME COLUMN user_id TO id');
like(replicate('users'), qr/^imported\|$/, 'rename: TRUNCATE replicated');
same('users', $cols, 'rename: TRUNCATE made under the new name reached the warehouse');

# A dropped key column: the DELETE succeeds, and a TRUNCATE marker makes
# the next load a reload.
sql(q{
CREATE TABLE codes (code text PRIMARY KEY, n int, updated_at timestamptz NOT NULL DEFAULT clock_timestamp());
SELECT rrr_register('codes', 'timed', track_deletes => true);
INSERT INTO codes (code, n) SELECT 'c' || g, g FROM generate_series(1, 10) g;
ALTER TABLE codes DROP COLUMN code CASCADE;
});
my $warning = app_ok('DELETE FROM codes WHERE n < 5', 'DELETE after the key column was dropped');
like($warning, qr/cannot record the keys of rows deleted from "codes"/, 'dropped key: a warning says so');
is(sql("SELECT string_agg(kind, ',') FROM redtrack.deleted_records WHERE source = 'codes'::regclass"),
	'truncate', 'dropped key: a TRUNCATE marker was recorded instead');

# A NULL key (NOT NULL dropped after registration): the DELETE succeeds and
# the reload it causes leaves the warehouse equal to the source.
sql(qq{
CREATE TABLE tagged (tag text NOT NULL, n int, updated_at timestamptz NOT NULL DEFAULT clock_timestamp());
SELECT rrr_register('tagged', 'timed', key_columns => ARRAY['tag']::name[], track_deletes => true,
	target_table => '$schema.tagged');
INSERT INTO tagged (tag, n) SELECT 't' || g, g FROM generate_series(1, 50) g;
});
like(replicate('tagged'), qr/^imported\|$/, 'NULL key: first replication');
sql(q{ALTER TABLE tagged ALTER COLUMN tag DROP NOT NULL; INSERT INTO tagged (tag, n) VALUES (NULL, 1000)});
app_ok('DELETE FROM tagged WHERE n % 2 = 0', 'DELETE of a row with a NULL key');
like(replicate('tagged'), qr/^imported\|$/, 'NULL key: replicated');
same('tagged', 'tag, n, updated_at', 'NULL key: the warehouse matches the source');

# ---------------------------------------------------------------------------
# Item 15: a big DELETE is recorded in bounded records
# ---------------------------------------------------------------------------
sql(qq{
CREATE TABLE wide (k text PRIMARY KEY, v int NOT NULL, updated_at timestamptz NOT NULL DEFAULT clock_timestamp());
CREATE INDEX ON wide (updated_at);
SELECT rrr_register('wide', 'timed', track_deletes => true, target_table => '$schema.wide');
INSERT INTO wide (k, v) SELECT lpad(g::text, 400, '#'), g FROM generate_series(1, 30000) g;
});
$cols = 'md5(k), v, updated_at';
like(replicate('wide'), qr/^imported\|$/, 'big delete: first replication');
app_ok('DELETE FROM wide WHERE v % 10 <> 0', 'a DELETE of 27000 rows with 400-byte keys');
my ($records, $keys, $whole, $largest) = split /\|/, sql(q{
SELECT count(*), sum(nkeys), bool_and(array_length(keys, 1) = nkeys), max(pg_column_size(keys))
FROM redtrack.deleted_records WHERE source = 'wide'::regclass});
cmp_ok($records, '>', 1, "big delete: recorded in several records ($records)");
is($keys, 27000, 'big delete: every key recorded once');
is($whole, 't', 'big delete: each record holds whole rows');
cmp_ok($largest, '<', 5 * 1024 * 1024, "big delete: records are bounded ($largest bytes at most)");
like(replicate('wide'), qr/^imported\|$/, 'big delete: replicated');
is(sql("SELECT deletes FROM redtrack.replications WHERE source = 'wide'::regclass ORDER BY id DESC LIMIT 1"),
	27000, 'big delete: the replication carried every key');
same('wide', $cols, 'big delete: the warehouse matches the source');

$node->stop;
done_testing();
