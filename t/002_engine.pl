# The replication engine end to end: every strategy through inserts,
# updates, deletes, TRUNCATE and re-runs; renamed targets, column subsets,
# composite keys, awkward values; COPY failures and retries; canceling;
# exactly-once; concurrency; evolve; reset; maintenance; notifications.
use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/lib";
use JSON::PP;
use PostgreSQL::Test::Utils;
use RedtrackTest;
use Test::More;
use Time::HiRes qw(usleep);

my $dialect = $ENV{REDTRACK_TEST_DIALECT} // 'redshift';
my $pg = ($dialect eq 'postgres');
my $node = new_source('engine', dialect => $dialect);
my $schema = target_schema();
clear_faults();

sub sql { return $node->safe_psql('postgres', $_[0]); }

sub replicate
{
	my ($table) = @_;
	return sql("SELECT state || '|' || rows || '|' || COALESCE(error, '') FROM rrr_replicate('$table')");
}

sub same
{
	my ($table, $columns, $target, $message, $order) = @_;
	$target //= "$schema.$table";
	$order //= '1';
	return compare_tables($node, "SELECT $columns FROM $table ORDER BY $order",
		"SELECT $columns FROM $target ORDER BY $order", $message // "$table: source = target");
}

# Download an exported file and decompress it as its name says (.csv.zst,
# the default redtrack.compression, .csv.gz or .csv).
sub exported_csv
{
	my ($key) = @_;
	return gunzip_csv($key) if $key =~ /\.gz$/;
	my $dir = PostgreSQL::Test::Utils::tempdir();
	my ($ok, $out, $err) = aws_cli('s3', 'cp', "s3://@{[ stack()->{bucket} ]}/$key", "$dir/f");
	die "download of $key failed: $err" unless $ok;
	my $cmd = $key =~ /\.zst$/ ? [ 'zstd', '-dcq', "$dir/f" ] : [ 'cat', "$dir/f" ];
	my $data;
	IPC::Run::run($cmd, '>', \$data) or die "@$cmd failed for $key";
	return $data;
}

# ---------------------------------------------------------------------------
# timed: inserts, updates, deletes (single, bulk, key change), TRUNCATE
# ---------------------------------------------------------------------------
sql(qq{
CREATE TABLE users (id bigint PRIMARY KEY, name text, email varchar(100), score numeric(10,2),
	updated_at timestamptz NOT NULL DEFAULT clock_timestamp());
CREATE INDEX ON users (updated_at);
SELECT rrr_register('users', 'timed', track_deletes => true, target_table => '$schema.users');
INSERT INTO users (id, name, email, score) SELECT g, 'user ' || g, 'u' || g || '\@x.org', g / 3.0
	FROM generate_series(1, 2000) g;
});
is(replicate('users'), 'imported|2000|', 'timed: the first replication sends every row');
my $cols = "id, name, email, score, updated_at";
same('users', $cols);

sql(q{
UPDATE users SET name = 'renamed ' || id, updated_at = clock_timestamp() WHERE id % 5 = 0;
DELETE FROM users WHERE id BETWEEN 100 AND 299;
DELETE FROM users WHERE id = 7;
UPDATE users SET id = 90000, updated_at = clock_timestamp() WHERE id = 8;
INSERT INTO users (id, name) SELECT g, 'later ' || g FROM generate_series(3000, 3100) g;
});
like(replicate('users'), qr/^imported\|\d+\|$/, 'timed: changes replicated');
same('users', $cols, undef, 'timed: updates, deletes, a key change and inserts arrived');
my $carried = sql("SELECT deletes FROM redtrack.replications WHERE source = 'users'::regclass ORDER BY id DESC LIMIT 1");
is($carried, 202, 'the deletes were carried by the replication (200 bulk, 1 single, 1 key change)');
is(sql("SELECT count(*) FROM redtrack.deleted_records WHERE source = 'users'::regclass"), 0,
	'the delete records it carried are purged');

# Re-running without changes changes nothing.
like(replicate('users'), qr/^imported\|\d+\|$/, 'timed: a run without changes');
same('users', $cols, undef, 'timed: re-runs are harmless');

# TRUNCATE, then new rows: the target is replaced.
sql(q{TRUNCATE users; INSERT INTO users (id, name) VALUES (1, 'reborn'), (2, 'again');});
like(replicate('users'), qr/^imported\|2\|$/, 'timed: the replication after TRUNCATE');
same('users', $cols, undef, 'timed: TRUNCATE replaced the target');
is(sql("SELECT carries_truncate FROM redtrack.replications WHERE source = 'users'::regclass ORDER BY id DESC LIMIT 1"),
	't', 'the replication recorded that it replayed a TRUNCATE');

# ---------------------------------------------------------------------------
# identity: appends, never duplicates
# ---------------------------------------------------------------------------
sql(qq{
CREATE TABLE events (id bigserial PRIMARY KEY, kind text NOT NULL, payload jsonb, at timestamptz DEFAULT now());
SELECT rrr_register('events', 'identity', target_table => '$schema.events');
INSERT INTO events (kind, payload) SELECT 'k' || (g % 7), jsonb_build_object('n', g) FROM generate_series(1, 1500) g;
});
is(replicate('events'), 'imported|1500|', 'identity: the first replication');
sql(q{INSERT INTO events (kind) SELECT 'more' FROM generate_series(1, 300)});
like(replicate('events'), qr/^imported\|\d+\|$/, 'identity: new rows');
like(replicate('events'), qr/^imported\|\d+\|$/, 'identity: a re-run');
my $payload = $pg ? 'payload::text' : 'payload';
same('events', "id, kind, $payload, at", undef, 'identity: every row once');
is(warehouse_sql("SELECT count(*) - count(DISTINCT id) FROM $schema.events"), 0, 'identity: no duplicates');

# ---------------------------------------------------------------------------
# full: the whole table, every time; a renamed target
# ---------------------------------------------------------------------------
sql(qq{
CREATE TABLE plans (code text PRIMARY KEY, price numeric(8,2), active boolean);
INSERT INTO plans VALUES ('basic', 9.99, true), ('pro', 29.00, true), ('legacy', 4.50, false);
SELECT rrr_register('plans', 'full', target_table => '$schema."Plan Catalogue"');
});
# Redshift folds even quoted identifiers to lower case.
my $catalogue = $pg ? qq{$schema."Plan Catalogue"} : qq{$schema."plan catalogue"};
is(replicate('plans'), 'imported|3|', 'full: the first replication');
sql(q{DELETE FROM plans WHERE code = 'legacy'; UPDATE plans SET price = 39 WHERE code = 'pro'; INSERT INTO plans VALUES ('team', 99, true);});
is(replicate('plans'), 'imported|3|', 'full: replaced');
same('plans', 'code, price, active', $catalogue, 'full: a renamed target holds the current table');
sql(q{DELETE FROM plans});
is(replicate('plans'), 'imported|0|', 'full: an empty source');
is(warehouse_sql("SELECT count(*) FROM $catalogue"), 0, 'full: an empty source empties the target');

# ---------------------------------------------------------------------------
# A column subset: a column the target lacks never leaves the source.
# ---------------------------------------------------------------------------
warehouse_sql("CREATE TABLE $schema.accounts (id bigint NOT NULL, name varchar(200), updated_at timestamptz)");
sql(qq{
CREATE TABLE accounts (id bigint PRIMARY KEY, name text, password_hash text, updated_at timestamptz NOT NULL DEFAULT now());
INSERT INTO accounts (id, name, password_hash) SELECT g, 'acct ' || g, 'SECRET-HASH-' || g FROM generate_series(1, 50) g;
SELECT rrr_register('accounts', 'timed', target_table => '$schema.accounts');
});
is(replicate('accounts'), 'imported|50|', 'subset: replicated into a narrower target');
same('accounts', 'id, name, updated_at', undef, 'subset: the shared columns arrived');
my $prefix = sql("SELECT s3_key FROM redtrack.replications WHERE source = 'accounts'::regclass ORDER BY id DESC LIMIT 1");
my $files = join '', map { exported_csv($_) } grep { /part-/ } keys %{ s3_keys($prefix) };
ok($files =~ /acct 1/ && $files !~ /SECRET-HASH/, 'subset: the column the target lacks is not in the exported files');

# evolve: a new source column is added to the target when asked.
sql(q{ALTER TABLE accounts ADD COLUMN tier text DEFAULT 'free'});
sql(q{UPDATE accounts SET updated_at = now() WHERE id <= 10});
like(replicate('accounts'), qr/^imported/, 'without evolve, a new source column is left out');
is(warehouse_sql("SELECT count(*) FROM information_schema.columns WHERE table_schema = '$schema' AND table_name = 'accounts' AND column_name = 'tier'"),
	0, 'without evolve the target keeps its columns');
sql(qq{SELECT rrr_unregister('accounts'); SELECT rrr_register('accounts', 'timed', target_table => '$schema.accounts', evolve => true);
UPDATE accounts SET tier = 'gold', updated_at = now() WHERE id <= 5;});
like(replicate('accounts'), qr/^imported/, 'with evolve the run adds the column');
is(warehouse_sql("SELECT string_agg(tier, ',' ORDER BY id) FROM $schema.accounts WHERE id <= 5"), 'gold,gold,gold,gold,gold',
	'evolve: the new column carries its values');

# ---------------------------------------------------------------------------
# Composite keys and awkward values
# ---------------------------------------------------------------------------
sql(qq{
CREATE TABLE line_items (order_id int NOT NULL, line smallint NOT NULL, sku text, note text,
	at timestamptz NOT NULL DEFAULT now(), PRIMARY KEY (order_id, line));
SELECT rrr_register('line_items', 'timed', replication_field => 'at', track_deletes => true,
	target_table => '$schema.line_items');
INSERT INTO line_items (order_id, line, sku, note) VALUES
	(1, 1, 'A', NULL), (1, 2, 'B', ''), (2, 1, 'A', E'multi\\nline "quoted", with commas'),
	(2, 2, 'C', '\\N'), (3, 1, 'D', 'ünïcødé 😀'), (3, 2, 'E', E'tab\\there\\r\\nCRLF');
});
like(replicate('line_items'), qr/^imported\|6\|/, 'composite: first replication');
sql(q{DELETE FROM line_items WHERE order_id = 1 AND line = 2; UPDATE line_items SET sku = 'Z', at = now() WHERE order_id = 2 AND line = 1;});
like(replicate('line_items'), qr/^imported/, 'composite: a delete and an update');
same('line_items', "order_id, line, sku, COALESCE(note, '<NULL>'), at", undef,
	'composite keys: deletes and updates matched on both key columns; NULL, empty and \\N distinct', '1, 2');

# ---------------------------------------------------------------------------
# A COPY that fails: clean failure with detail, retries import only
# ---------------------------------------------------------------------------
warehouse_sql("CREATE TABLE $schema.strict (id bigint NOT NULL, label varchar(5) NOT NULL, updated_at timestamptz)");
sql(qq{
CREATE TABLE strict (id bigint PRIMARY KEY, label text, updated_at timestamptz NOT NULL DEFAULT now());
INSERT INTO strict VALUES (1, 'ok', now()), (2, NULL, now());
SELECT rrr_register('strict', 'timed', target_table => '$schema.strict');
});
my ($out, $err);
$node->psql('postgres', "SELECT state FROM rrr_replicate('strict')", stdout => \$out, stderr => \$err);
is($out, 'failed', 'a COPY into a NOT NULL column fails the replication');
like($err, $pg ? qr/null value|not-null|NOT NULL/i : qr/stl_load_errors|1213|NOT NULL/i,
	'the warning explains the rejected row');
# Provisioned clusters report rejected rows in stl_load_errors, Serverless
# (REDTRACK_TEST_SERVERLESS=1) only in sys_load_error_detail.
my $errors_view = $ENV{REDTRACK_TEST_SERVERLESS} ? 'sys_load_error_detail' : 'stl_load_errors';
like($err, qr/Rejected rows \($errors_view\):\n.*line \d+, column label/, "the rejected row, from $errors_view")
  unless $pg;
my $failed = sql("SELECT id || '|' || failed_phase || '|' || (exported_at IS NOT NULL) FROM redtrack.replications WHERE source = 'strict'::regclass ORDER BY id DESC LIMIT 1");
like($failed, qr/\|importing\|true$/, 'it failed while importing, after a complete export') or diag($failed);
my ($strict_id) = split /\|/, $failed;
my $error = sql("SELECT error FROM redtrack.replications WHERE id = $strict_id");
unlike($error, qr/redtrack-test-secret|SECRET_ACCESS_KEY '[^*]/, 'the stored error carries no credential');
is(warehouse_sql("SELECT count(*) FROM $schema.strict"), 0, 'the failed load left the target untouched');
my $exported_at = sql("SELECT exported_at FROM redtrack.replications WHERE id = $strict_id");
warehouse_sql("ALTER TABLE $schema.strict ALTER COLUMN label DROP NOT NULL");
is(replicate('strict'), 'imported|2|', 'after fixing the target, the retry loads');
is(sql("SELECT retries || '|' || (exported_at = '$exported_at') FROM redtrack.replications WHERE id = $strict_id"),
	'1|true', 'the retry re-imported the same export (no new export)');

# A value too long for the target is cut on a character boundary, never a failed load.
sql(q{INSERT INTO strict VALUES (3, 'ünïcødé', now())});
like(replicate('strict'), qr/^imported\|\d+\|$/, 'a too-long value does not fail the load');
is(warehouse_sql("SELECT label FROM $schema.strict WHERE id = 3"), $pg ? 'ünïcø' : 'ünï',
	'it was cut to the target length on a character boundary');
is(sql("SELECT truncated_values FROM redtrack.replications WHERE source = 'strict'::regclass ORDER BY id DESC LIMIT 1"),
	1, 'and counted (the one value that did not fit)');

# ---------------------------------------------------------------------------
# redtrack.max_retries: canceled, then a fresh replication from the watermark
# ---------------------------------------------------------------------------
warehouse_sql("CREATE TABLE $schema.doomed (id bigint NOT NULL, v text NOT NULL, updated_at timestamptz)");
sql(qq{
CREATE TABLE doomed (id bigint PRIMARY KEY, v text, updated_at timestamptz NOT NULL DEFAULT now());
INSERT INTO doomed VALUES (1, NULL, now());
SELECT rrr_register('doomed', 'timed', target_table => '$schema.doomed');
ALTER SYSTEM SET redtrack.max_retries = 1; SELECT pg_reload_conf();
});
$node->psql('postgres', "SELECT rrr_replicate('doomed')") for 1 .. 3;
my $history = sql("SELECT string_agg(state || ':' || retries, ',' ORDER BY id) FROM redtrack.replications WHERE source = 'doomed'::regclass");
like($history, qr/^canceled:1,failed:0$/, "after max_retries the replication is canceled and a fresh one starts ($history)");
warehouse_sql("ALTER TABLE $schema.doomed ALTER COLUMN v DROP NOT NULL");
is(replicate('doomed'), 'imported|1|', 'the fresh replication succeeds once the cause is fixed');
same('doomed', "id, COALESCE(v, '<NULL>')", undef, 'doomed: nothing lost through the cancel');
sql('ALTER SYSTEM RESET redtrack.max_retries; SELECT pg_reload_conf();');

# ---------------------------------------------------------------------------
# Concurrent callers load once
# ---------------------------------------------------------------------------
sql(qq{
CREATE TABLE counters (id bigserial PRIMARY KEY, n int);
SELECT rrr_register('counters', 'identity', target_table => '$schema.counters');
INSERT INTO counters (n) SELECT g FROM generate_series(1, 5000) g;
});
my @sessions = map { $node->background_psql('postgres') } 1 .. 3;
$_->query_until(qr/go/, "\\echo go\nSELECT rrr_replicate('counters');\n") for @sessions;
$_->quit for @sessions;
same('counters', 'id, n', undef, 'three concurrent rrr_replicate calls: every row once');
is(warehouse_sql("SELECT count(*) - count(DISTINCT id) FROM $schema.counters"), 0, 'no duplicates from concurrent calls');

# ---------------------------------------------------------------------------
# rrr_reset, history_cap, file deletion, notifications
# ---------------------------------------------------------------------------
sql(q{ALTER SYSTEM SET redtrack.history_cap = 2; ALTER SYSTEM SET redtrack.delete_s3_files_after_import = on; SELECT pg_reload_conf();});
sql(q{SELECT rrr_reset('events')});
like(replicate('events'), qr/^imported\|1800\|/, 'after rrr_reset every row is sent again');
same('events', "id, kind, $payload, at", undef, 'identity after a reset: still every row once');
like(replicate('events'), qr/^imported/, 'another run');
is(sql("SELECT count(*) FROM redtrack.replications WHERE source = 'events'::regclass"), 2, 'history_cap keeps two replications');
my $last = sql("SELECT s3_key FROM redtrack.replications WHERE source = 'events'::regclass AND rows > 0 ORDER BY id DESC LIMIT 1");
is(scalar(keys %{ s3_keys($last) }), 0, 'delete_s3_files_after_import removed the files') if $last;
sql(q{ALTER SYSTEM RESET redtrack.history_cap; ALTER SYSTEM RESET redtrack.delete_s3_files_after_import; SELECT pg_reload_conf();});

my $listener = $node->background_psql('postgres');
$listener->query_safe('LISTEN redtrack');
sql(q{INSERT INTO events (kind) VALUES ('notify me')});
replicate('events');
my $notice = $listener->query_safe('SELECT 1');
$listener->quit;
my ($payload_json) = ($notice =~ /payload "(\{.*\})"/);
$payload_json //= '';
my $note = eval { decode_json($payload_json) } // {};
is($note->{table}, 'public.events', 'the notification names the table');
is($note->{state}, 'imported', 'and its state');

# ---------------------------------------------------------------------------
# Maintenance
# ---------------------------------------------------------------------------
like(sql("SELECT rrr_analyze('users')"), qr/^ANALYZE /, 'rrr_analyze analyzes the target');
my $vacuum = sql("SELECT rrr_vacuum('users')");
like($vacuum, $pg ? qr/^VACUUM FULL / : qr/^VACUUM (FULL|REINDEX) /, "rrr_vacuum 'auto': $vacuum");
like(sql("SELECT rrr_vacuum('users', 'delete only to 75 percent')"),
	$pg ? qr/^VACUUM / : qr/^VACUUM DELETE ONLY \S+ TO 75 PERCENT$/, 'explicit VACUUM options pass through');
$node->psql('postgres', "SELECT rrr_vacuum('users', 'full; DROP TABLE users')", stderr => \$err);
like($err, qr/invalid VACUUM options/, 'VACUUM options are validated');
like(sql("SELECT rrr_target_ddl('users')"), $pg ? qr/CREATE TABLE .*PRIMARY KEY \("?id"?\)/s
	: qr/CREATE TABLE .*"?id"? BIGINT NOT NULL.*DISTKEY \("id"\).*SORTKEY \("updated_at"\)/s, 'rrr_target_ddl');

warehouse_sql("DROP SCHEMA IF EXISTS $schema CASCADE; DROP SCHEMA IF EXISTS ${schema}_loads CASCADE");
$node->stop;
done_testing();
