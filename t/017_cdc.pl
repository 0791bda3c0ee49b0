# The cdc strategy: changes read from the WAL through one logical slot per
# database, loaded exactly once.  Inserts, updates that leave every other
# column alone, key updates, deletes, TRUNCATE, unchanged toasted values,
# interleaved transactions; a crash between the warehouse's COMMIT and the
# slot's advance, a crash while decoding; a slot dropped by hand;
# wal_level = replica refused; the slot goes with the last table.
use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/lib";
use PostgreSQL::Test::Utils;
use RedtrackTest;
use Test::More;
use Time::HiRes qw(usleep);

my $dialect = $ENV{REDTRACK_TEST_DIALECT} // 'redshift';
my $node = new_source('cdc', dialect => $dialect, conf => "restart_after_crash = on\n");
my $schema = target_schema();
clear_faults();

sub sql { return $node->safe_psql('postgres', $_[0]); }

sub replicate
{
	my ($table) = @_;
	return sql("SELECT state || '|' || COALESCE(error, '') FROM rrr_replicate('$table')");
}

sub same
{
	my ($table, $columns, $message) = @_;
	return compare_tables($node, "SELECT $columns FROM $table ORDER BY 1",
		"SELECT $columns FROM $schema.$table ORDER BY 1", $message // "$table: source = target");
}

my $slot = sql("SELECT 'redtrack_' || oid FROM pg_database WHERE datname = 'postgres'");

# ---------------------------------------------------------------------------
# Registration and the initial snapshot
# ---------------------------------------------------------------------------
sql(qq{
CREATE TABLE users (id bigint PRIMARY KEY, name text, score int, bio text, updated_at timestamptz DEFAULT now());
ALTER TABLE users ALTER COLUMN bio SET STORAGE EXTERNAL;
INSERT INTO users (id, name, score) SELECT g, 'user ' || g, g FROM generate_series(1, 500) g;
SELECT rrr_register('users', 'cdc', target_table => '$schema.users');
});
is(sql("SELECT count(*) FROM pg_trigger WHERE tgrelid = 'users'::regclass"), 0, 'cdc installs no trigger');
is(replicate('users'), 'imported|', 'the first run takes the snapshot');
# bio is compared by its digest: a toasted value is long
my $cols = 'id, name, score, md5(bio), length(bio), updated_at';
same('users', $cols, 'the snapshot arrived');
is(sql("SELECT count(*) FROM pg_replication_slots WHERE slot_name = '$slot' AND plugin = 'redtrack'"), 1,
	'one logical slot, decoded by redtrack itself');

# ---------------------------------------------------------------------------
# Changes
# ---------------------------------------------------------------------------
sql(q{
INSERT INTO users (id, name, score) SELECT g, 'new ' || g, g FROM generate_series(501, 600) g;
UPDATE users SET score = score + 1000 WHERE id % 7 = 0;
DELETE FROM users WHERE id BETWEEN 100 AND 149;
UPDATE users SET id = 90000 WHERE id = 3;
UPDATE users SET name = 'twice' WHERE id = 4;
UPDATE users SET name = 'thrice' WHERE id = 4;
INSERT INTO users (id, name) VALUES (100, 'deleted then back');
});
is(replicate('users'), 'imported|', 'a run with changes');
same('users', $cols, 'inserts, updates without updated_at, deletes, a key change arrived');

# Unchanged TOAST values: an UPDATE of another column leaves them out of the WAL.
sql(q{UPDATE users SET bio = repeat('long biography ', 1000) || id WHERE id <= 20;});
is(replicate('users'), 'imported|', 'toasted values loaded');
sql(q{
UPDATE users SET score = -1 WHERE id <= 10;
INSERT INTO users (id, name, bio) VALUES (7000, 'fresh', repeat('x', 30000));
UPDATE users SET score = 5 WHERE id = 7000;
});
is(replicate('users'), 'imported|', 'updates that leave toasted values alone');
same('users', $cols, 'unchanged toasted values kept on the target (same key)');
sql(q{
UPDATE users SET id = 80011 WHERE id = 11;
INSERT INTO users (id, name, bio) VALUES (7001, 'fresh too', repeat('y', 30000));
UPDATE users SET id = 80012 WHERE id = 7001;
});
is(replicate('users'), 'imported|', 'key changes that leave toasted values alone');
same('users', $cols, 'unchanged toasted values kept on the target');
is($node->safe_psql('postgres', "SELECT count(*) FROM users WHERE id <= 20 AND bio IS NULL"), 0, 'source check');

# Interleaved transactions from several sessions.
my @s = map { $node->background_psql('postgres') } 1 .. 3;
$s[0]->query_safe('BEGIN; UPDATE users SET name = \'s0\' WHERE id = 1');
$s[1]->query_safe('BEGIN; INSERT INTO users (id, name) VALUES (8001, \'s1\')');
$s[2]->query_safe('BEGIN; DELETE FROM users WHERE id = 2');
$s[1]->query_safe('UPDATE users SET name = \'s1 again\' WHERE id = 8001');
$s[2]->query_safe('COMMIT');
$s[0]->query_safe('UPDATE users SET name = \'s0 again\' WHERE id = 5');
is(replicate('users'), 'imported|', 'a run while transactions are open');
$s[1]->query_safe('COMMIT');
$s[0]->query_safe('COMMIT');
$_->quit for @s;
is(replicate('users'), 'imported|', 'a run after they committed');
same('users', $cols, 'interleaved transactions arrived in commit order');

# Random rounds from two sessions, one of them holding a transaction open
# across a run: inserts, updates of any column, key changes, deletes.
for my $round (1 .. 3)
{
	my $long = $node->background_psql('postgres');
	$long->query_safe("BEGIN; INSERT INTO users (id, name) SELECT 700000 + $round * 10 + g, 'long' FROM generate_series(1, 5) g;
		UPDATE users SET score = $round WHERE id > 700000 + $round * 10");
	sql(qq{
SELECT setseed(0.$round);
INSERT INTO users (id, name, score) SELECT 100000 + $round * 1000 + g, 'r$round', (random() * 100)::int
	FROM generate_series(1, 200) g;
UPDATE users SET score = (random() * 1000)::int WHERE random() < 0.3;
UPDATE users SET name = md5(random()::text) WHERE random() < 0.1;
DELETE FROM users WHERE random() < 0.05;
UPDATE users SET id = id + 500000 WHERE id IN (SELECT id FROM users WHERE id < 500000 AND id % 53 = $round);
});
	is(replicate('users'), 'imported|', "random round $round, a transaction open");
	$long->query_safe('COMMIT');
	$long->quit;
	is(replicate('users'), 'imported|', "random round $round, committed");
	same('users', $cols, "random round $round");
}

# rrr_reset: a fresh snapshot replaces the target's rows.
warehouse_sql("DELETE FROM $schema.users WHERE id % 2 = 0");
my $snapshot_at = sql("SELECT snapshot_at FROM redtrack.cdc_tables WHERE source = 'users'::regclass");
sql(q{SELECT rrr_reset('users')});
is(replicate('users'), 'imported|', 'the run after rrr_reset');
isnt(sql("SELECT snapshot_at FROM redtrack.cdc_tables WHERE source = 'users'::regclass"), $snapshot_at,
	'rrr_reset took a fresh snapshot');
same('users', $cols, 'rows removed on the warehouse by hand are back');

# TRUNCATE empties the target in the same load.
sql(q{INSERT INTO users (id, name) VALUES (9001, 'before'); TRUNCATE users; INSERT INTO users (id, name) VALUES (1, 'after'), (2, 'after too');});
is(replicate('users'), 'imported|', 'a run with a TRUNCATE');
same('users', $cols, 'TRUNCATE emptied the target, later rows arrived');

# An added column is added on the target.
sql(q{ALTER TABLE users ADD COLUMN plan text; INSERT INTO users (id, name, plan) VALUES (3, 'with plan', 'gold');});
is(replicate('users'), 'imported|', 'a run after ADD COLUMN');
same('users', 'id, name, plan', 'the added column arrived');


# A dropped column stops that table with an error; the other cdc tables go
# on, and once the target is fixed a fresh snapshot replaces its rows.
sql(qq{
CREATE TABLE orders (id int PRIMARY KEY, total int, note text);
INSERT INTO orders SELECT g, g * 10, 'n' || g FROM generate_series(1, 100) g;
SELECT rrr_register('orders', 'cdc', target_table => '$schema.orders');
});
is(replicate('orders'), 'imported|', 'a second cdc table');
sql(q{ALTER TABLE orders DROP COLUMN note; UPDATE orders SET total = 0 WHERE id <= 10;
	INSERT INTO users (id, name) VALUES (50001, 'users go on');});
like(replicate('orders'), qr/^failed\|column 3 was dropped since its snapshot/, 'a dropped column stops the table');
like(sql("SELECT error FROM redtrack.cdc_tables WHERE source = 'orders'::regclass"), qr/dropped|no source column/,
	'redtrack.cdc_tables says why');
like(sql("SELECT cdc_error FROM redtrack.status WHERE source = 'orders'::regclass"), qr/dropped|no source column/,
	'so does redtrack.status');
same('users', $cols, 'the other table went on');
warehouse_sql("ALTER TABLE $schema.orders DROP COLUMN note");
is(replicate('orders'), 'imported|', 'the target fixed: a fresh snapshot');
same('orders', 'id, total', 'the snapshot after the dropped column');
sql(q{UPDATE orders SET total = 1 WHERE id <= 5});
is(replicate('orders'), 'imported|', 'changes flow again');
same('orders', 'id, total', 'changes after the fresh snapshot');
sql(q{SELECT rrr_unregister('orders')});

# ---------------------------------------------------------------------------
# Crashes
# ---------------------------------------------------------------------------
my $loads = "${schema}_loads.redtrack_loads";

sub crash_run
{
	my ($fault, $what) = @_;
	sql("ALTER SYSTEM SET redtrack.cdc_fault = '$fault'; SELECT pg_reload_conf();");
	my ($rc, $out, $err) = $node->psql('postgres', "SELECT state FROM rrr_replicate('users')");
	like($err, qr/terminat|crash|lost|exited/i, "$what: the run's process died");
	ok(wait_until(sub { server_accepts($node) }, 60, 'the server after the crash'), "$what: the server is back");
	sql("ALTER SYSTEM RESET redtrack.cdc_fault; SELECT pg_reload_conf();");
}

# Killed between the warehouse's COMMIT and the slot's advance.
sql(q{UPDATE users SET score = score + 1 WHERE id <= 3; INSERT INTO users (id, name) VALUES (20001, 'crash 1');});
my $confirmed = sql("SELECT confirmed_flush_lsn FROM pg_replication_slots WHERE slot_name = '$slot'");
crash_run('kill_after_commit', 'kill -9 after COMMIT');
is(warehouse_sql("SELECT count(*) FROM $loads WHERE strategy = 'cdc' AND window_first = '$confirmed'"), 1,
	'the load committed before the crash');
my $log_offset = -s $node->logfile;
is(replicate('users'), 'imported|', 'the run after the crash');
ok($node->log_contains('were already loaded; advancing the slot', $log_offset),
	'it found the load marker and only advanced the slot');
is(warehouse_sql("SELECT count(*) FROM $loads WHERE strategy = 'cdc' AND window_first = '$confirmed'"), 1,
	'the range was not loaded twice');
same('users', $cols, 'after a crash between COMMIT and advance');

# Killed while decoding (after 50 changes of a 300-row transaction).
sql(q{INSERT INTO users (id, name, score) SELECT g, 'batch ' || g, g FROM generate_series(40001, 40300) g;
	UPDATE users SET name = name || ' (decoded twice)';});
crash_run('kill_while_decoding', 'kill -9 while decoding');
is(replicate('users'), 'imported|', 'the run after a crash while decoding');
same('users', $cols, 'after a crash while decoding');

# ---------------------------------------------------------------------------
# A slot dropped by hand: a fresh snapshot, and the run says so
# ---------------------------------------------------------------------------
sql("SELECT pg_drop_replication_slot('$slot')");
sql(q{DELETE FROM users WHERE id % 3 = 0; UPDATE users SET score = 42 WHERE id % 3 = 1;});
is(replicate('users'), 'imported|', 'the run after the slot was dropped');
like(sql("SELECT note FROM redtrack.cdc_status"), qr/was dropped; took a fresh snapshot of 1 cdc table/,
	'redtrack.cdc_status says the slot was dropped and a fresh snapshot taken');
same('users', $cols, 'the fresh snapshot replaced the target');
sql(q{INSERT INTO users (id, name) VALUES (30001, 'after the new slot');});
is(replicate('users'), 'imported|', 'changes flow again');
same('users', $cols, 'after the new slot');

# ---------------------------------------------------------------------------
# Status, WAL retention, a quiet database
# ---------------------------------------------------------------------------
my $before = sql("SELECT confirmed_lsn FROM redtrack.cdc_status");
sql(q{CREATE TABLE other (id int PRIMARY KEY); INSERT INTO other SELECT generate_series(1, 1000);});
is(replicate('users'), 'imported|', 'a run when only an unregistered table changed');
ok(sql("SELECT confirmed_lsn > '$before' FROM redtrack.cdc_status") eq 't', 'the slot advanced anyway');
like(sql("SELECT slot_name || '|' || wal_status || '|' || (retained_wal_bytes >= 0)::int FROM redtrack.cdc_status"),
	qr/^\Q$slot\E\|(reserved|extended)\|1$/, 'redtrack.cdc_status shows the slot, its wal_status and retained WAL');
like(sql("SELECT cdc_slot || '|' || cdc_wal_status || '|' || (cdc_retained_wal_bytes >= 0)::int || '|' || (cdc_confirmed_lsn IS NOT NULL)::int
	FROM redtrack.status WHERE source = 'users'::regclass"),
	qr/^\Q$slot\E\|(reserved|extended)\|1\|1$/, 'redtrack.status shows them for a cdc table');

# ---------------------------------------------------------------------------
# The slot goes with the last cdc table, and with the extension
# ---------------------------------------------------------------------------
sql(q{SELECT rrr_unregister('users')});
is(sql("SELECT count(*) FROM pg_replication_slots WHERE slot_name = '$slot'"), 0,
	'unregistering the last cdc table dropped the slot');
sql(qq{SELECT rrr_register('users', 'cdc', target_table => '$schema.users')});
is(replicate('users'), 'imported|', 'registered again');
same('users', $cols, 'a new snapshot after registering again');
is(sql("SELECT count(*) FROM pg_replication_slots WHERE slot_name = '$slot'"), 1, 'a new slot');
sql('DROP TABLE users');
is(sql("SELECT count(*) FROM pg_replication_slots WHERE slot_name = '$slot'"), 0,
	'dropping the last cdc table dropped the slot');
sql(qq{CREATE TABLE last_one (id int PRIMARY KEY); SELECT rrr_register('last_one', 'cdc', target_table => '$schema.last_one');});
is(replicate('last_one'), 'imported|', 'one more cdc table');
is(sql("SELECT count(*) FROM pg_replication_slots WHERE slot_name = '$slot'"), 1, 'its slot');
sql('DROP EXTENSION redtrack');
is(sql("SELECT count(*) FROM pg_replication_slots WHERE slot_name = '$slot'"), 0,
	'DROP EXTENSION dropped the slot');

# ---------------------------------------------------------------------------
# wal_level = replica refuses cdc
# ---------------------------------------------------------------------------
my $replica = new_source('replica', dialect => $dialect, conf => "wal_level = replica\n");
$replica->safe_psql('postgres', 'CREATE TABLE t (id int PRIMARY KEY)');
my ($rc, $out, $err) = $replica->psql('postgres', "SELECT rrr_register('t', 'cdc')",
	extra_params => [ '-v', 'VERBOSITY=verbose' ]);
like($err, qr/55000: strategy "cdc" needs wal_level = logical/, 'wal_level = replica: refused with SQLSTATE 55000');
like($err, qr/HINT:  Set wal_level = logical/, 'the hint names the setting');
$replica->stop;

done_testing();
