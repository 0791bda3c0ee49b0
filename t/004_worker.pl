# The background worker: replication on its schedule with no manual call,
# configuration reloads, prompt stops, crashes at every phase, a failing
# table that does not stop the others, and what status and progress show.
use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/lib";
use PostgreSQL::Test::Utils;
use RedtrackTest;
use Test::More;
use Time::HiRes qw(time usleep);
use JSON::PP ();

my $dialect = $ENV{REDTRACK_TEST_DIALECT} // 'redshift';
my $pg = ($dialect eq 'postgres');
my $node = new_source('worker', dialect => $dialect, worker => 1,
	conf => "restart_after_crash = on\nredtrack.naptime = 1");
my $schema = target_schema();
clear_faults();

sub sql { return $node->safe_psql('postgres', $_[0]); }

sub worker_pid
{
	return sql(q{SELECT pid FROM pg_stat_activity WHERE backend_type = 'redtrack replicator'});
}

sub in_sync
{
	my ($table) = @_;
	my $source = sql("SELECT count(*) || ':' || COALESCE(sum(hashtext(id || '/' || v)), 0) FROM $table");
	my ($target) = warehouse_sql("SELECT count(*) || ':' || COALESCE(sum(hashtext(id || '/' || v)), 0) FROM $schema.$table",
		allow_error => 1);
	return $source eq ($target // '');
}

my %figures = (syncs => 0, synced => 0);

sub wait_sync
{
	my ($table, $what, $timeout) = @_;
	$figures{syncs}++;
	$figures{synced}++ if ok(wait_until(sub { in_sync($table) }, $timeout // 90, $what), $what);
	compare_tables($node, "SELECT id, v FROM $table ORDER BY id", "SELECT id, v FROM $schema.$table ORDER BY id",
		"$table: source = target ($what)");
	is(warehouse_sql("SELECT count(*) - count(DISTINCT id) FROM $schema.$table"), 0, "$table: no duplicates ($what)");
}

ok(wait_until(sub { worker_pid() ne '' }, 30, 'the worker'), 'the worker starts with the server');
like(sql(q{SELECT query FROM pg_stat_activity WHERE backend_type = 'redtrack replicator'}), qr/^(redtrack|)/,
	'it reports its activity in pg_stat_activity');

# ---------------------------------------------------------------------------
# Replication with no manual call
# ---------------------------------------------------------------------------
sql(qq{
CREATE TABLE orders (id bigint PRIMARY KEY, v text NOT NULL, updated_at timestamptz NOT NULL DEFAULT now());
CREATE INDEX ON orders (updated_at);
SELECT rrr_register('orders', 'timed', track_deletes => true, target_table => '$schema.orders');
INSERT INTO orders (id, v) SELECT g, 'order ' || g FROM generate_series(1, 1000) g;
});
wait_sync('orders', 'the worker replicated without a call');
sql(q{UPDATE orders SET v = v || ' paid', updated_at = now() WHERE id % 3 = 0; DELETE FROM orders WHERE id > 900;});
wait_sync('orders', 'changes follow on the next runs');

my $status = sql(q{SELECT last_state || '|' || (lag < interval '1 minute') || '|' || (next_due IS NOT NULL) || '|' || COALESCE(worker_error, '')
	FROM redtrack.status WHERE source = 'orders'::regclass});
is($status, 'imported|true|true|', 'status: imported, a small lag, a next due time, no worker error');
like(sql(q{SELECT tables_run || '|' || (last_run_finished IS NOT NULL) FROM redtrack.worker}), qr/^\d+\|true$/,
	'redtrack.worker reports the runs');
ok(grep({ /redtrack: replicated public\.orders: \d+ rows/ } split /\n/, slurp_file($node->logfile)),
	'each finished run is logged at LOG level');

# ---------------------------------------------------------------------------
# SIGHUP: a new naptime takes effect without a restart; rrr_wake runs now
# ---------------------------------------------------------------------------
sql(q{ALTER SYSTEM SET redtrack.naptime = 3600; SELECT pg_reload_conf();});
sleep 3;    # let the current wait end and the new naptime begin
sql(q{INSERT INTO orders (id, v) VALUES (5001, 'after reload')});
sleep 4;
isnt(in_sync('orders'), 1, 'with naptime = 1 hour the change waits');
sql('SELECT rrr_wake()');
wait_sync('orders', 'rrr_wake starts a run at once', 30);
sql(q{ALTER SYSTEM SET redtrack.naptime = 1; SELECT pg_reload_conf(); SELECT rrr_wake();});

# ---------------------------------------------------------------------------
# A table that always fails does not stop the others
# ---------------------------------------------------------------------------
warehouse_sql("CREATE TABLE $schema.broken (id bigint NOT NULL, v text NOT NULL, updated_at timestamptz)");
sql(qq{
CREATE TABLE broken (id bigint PRIMARY KEY, v text, updated_at timestamptz NOT NULL DEFAULT now());
INSERT INTO broken VALUES (1, NULL);
SELECT rrr_register('broken', 'timed', target_table => '$schema.broken');
INSERT INTO orders (id, v) VALUES (6001, 'next to a broken table');
});
wait_sync('orders', 'a failing table does not stop the others');
ok(wait_until(sub { sql(q{SELECT last_state FROM redtrack.status WHERE source = 'broken'::regclass}) eq 'failed' }, 60,
		'the failure'), 'the failing table shows as failed');
like(sql(q{SELECT last_error FROM redtrack.status WHERE source = 'broken'::regclass}),
	qr/null|NOT NULL|1213|stl_load_errors/i, 'status explains the failure');
sql(q{SELECT rrr_unregister('broken')});

# ---------------------------------------------------------------------------
# Progress of a replication in flight
# ---------------------------------------------------------------------------
sql(q{CREATE TABLE wide (id bigint PRIMARY KEY, v text NOT NULL)});
sql(qq{INSERT INTO wide SELECT g, repeat(md5(g::text), 8) FROM generate_series(1, 60000) g;
	SELECT rrr_register('wide', 'full', target_table => '$schema.wide');});
s3_admin('PUT', 'faults', { rules => [ { method => 'PUT', path => 'wide/.*part-', count => 1, action => 'latency:4000' } ] });
my $progress = '';
wait_until(sub {
	$progress = sql(q{SELECT phase || '|' || rows || '|' || replication_id FROM redtrack.progress WHERE source = 'wide'::regclass});
	return $progress =~ /^exporting\|[1-9]/;
}, 60, 'progress');
like($progress, qr/^exporting\|[1-9]\d*\|\d+$/, "redtrack.progress shows the export in flight ($progress)");
clear_faults();
wait_sync('wide', 'the slowed replication completes');

# ---------------------------------------------------------------------------
# SIGTERM mid-transfer: the worker stops at once; restarted, it resumes
# ---------------------------------------------------------------------------
sql(q{UPDATE wide SET v = v || 'x'});
s3_admin('PUT', 'faults', { rules => [ { method => 'PUT', path => 'wide/.*part-', count => 1000, action => 'latency:8000' } ] });
wait_until(sub { sql(q{SELECT count(*) FROM redtrack.progress WHERE source = 'wide'::regclass AND phase = 'exporting'}) eq '1' },
	60, 'an export in flight');
my $pid = worker_pid();
my $t0 = time();
sql("SELECT pg_terminate_backend($pid)");
$figures{sigterm}++;
wait_until(sub { !kill(0, $pid) }, 30, 'the worker to exit');
my $stopped = time() - $t0;
ok($stopped < 2, sprintf('SIGTERM stopped the worker in %.2f s, in the middle of an 8 s upload', $stopped));
clear_faults();
wait_sync('wide', 'after SIGTERM the restarted worker resumes and completes', 120);
is(scalar @{ s3_admin('GET', 'uploads')->{uploads} }, 0, 'no orphaned multipart upload after the stop');
sql(q{SELECT rrr_unregister('wide')});

# ---------------------------------------------------------------------------
# kill -9 during export, upload and import: the postmaster restarts
# everything; the next runs finish the job, nothing lost or doubled.
# ---------------------------------------------------------------------------
my %slow = (
	exporting => { method => 'PUT', path => 'orders/.*part-', action => 'latency:6000' },
	uploading => { method => 'PUT', path => 'orders/.*manifest', action => 'latency:6000' },
	importing => $pg ? { method => 'GET', path => 'orders/.*part-', action => 'latency:6000' } : undef,
);
my $round = 0;
for my $phase ('exporting', 'uploading', 'importing')
{
	my $n = 7000 + 100 * $round++;
	sql(qq{INSERT INTO orders (id, v) SELECT g, '$phase ' || g FROM generate_series($n, $n + 50) g;
		UPDATE orders SET v = v || '.', updated_at = now() WHERE id < 20;});
	if ($slow{$phase})
	{
		s3_admin('PUT', 'faults', { rules => [ { %{ $slow{$phase} }, count => 1000 } ] });
	}
	else
	{
		redshift_admin('PUT', 'faults', { rules => [ { match => '^\s*COPY', when => 'before', action => 'delay:6000', count => 1000 } ] });
	}
	ok(wait_until(sub {
		sql(qq{SELECT count(*) FROM redtrack.progress WHERE source = 'orders'::regclass AND phase = '$phase'}) eq '1';
	}, 60, "phase $phase"), "the worker is $phase");
	usleep(500_000);
	$pid = worker_pid();
	kill 'KILL', $pid;
	$figures{kills}++;
	clear_faults();
	ok(wait_until(sub { server_accepts($node) }, 60, 'recovery'), "recovered after kill -9 while $phase");
	wait_sync('orders', "after kill -9 while $phase", 120);
}
is(scalar @{ s3_admin('GET', 'uploads')->{uploads} }, 0, 'no orphaned multipart upload after the crashes');
is(sql(q{SELECT count(*) FROM redtrack.replications AS r WHERE state NOT IN ('imported', 'canceled')
	AND NOT EXISTS (SELECT FROM redtrack.progress AS p WHERE p.replication_id = r.id)}), 0,
	'no replication is left half done (other than one running now)');

# ---------------------------------------------------------------------------
# The source server stopped mid-export, with a fast and with an immediate
# shutdown, and started again: the new worker resumes; nothing lost or
# doubled, no multipart upload left behind.
# ---------------------------------------------------------------------------
for my $mode ('fast', 'immediate')
{
	my $n = $mode eq 'fast' ? 8000 : 8100;
	sql(qq{INSERT INTO orders (id, v) SELECT g, '$mode ' || g FROM generate_series($n, $n + 50) g;
		UPDATE orders SET v = v || '+', updated_at = now() WHERE id BETWEEN 20 AND 40;});
	s3_admin('PUT', 'faults', { rules => [ { method => 'PUT', path => 'orders/.*part-', count => 1000, action => 'latency:15000' } ] });
	ok(wait_until(sub {
		sql(q{SELECT count(*) FROM redtrack.progress WHERE source = 'orders'::regclass AND phase = 'exporting'}) eq '1';
	}, 60, "an export before the $mode shutdown"), "an export is in flight before the $mode shutdown");
	usleep(500_000);
	my $t0 = time();
	$node->stop($mode);
	$figures{"$mode shutdowns"}++;
	my $took = time() - $t0;
	ok($took < 8, sprintf('the %s shutdown did not wait for the 15 s upload (%.1f s)', $mode, $took));
	clear_faults();
	$node->start;
	wait_sync('orders', "after the $mode shutdown mid-export and a start", 120);
}
is(scalar @{ s3_admin('GET', 'uploads')->{uploads} }, 0, 'no orphaned multipart upload after the restarts');

# ---------------------------------------------------------------------------
# S3 out for a minute (every request answered 503): each run fails with the
# reason recorded, the worker backs off instead of spinning, and the
# replication completes once S3 is back.
# ---------------------------------------------------------------------------
sub failures_since
{
	my ($t) = @_;
	return sql(qq{SELECT count(*) FROM redtrack.replications
		WHERE source = 'orders'::regclass AND updated_at >= '$t' AND (state = 'failed' OR error IS NOT NULL)});
}

my $outage_start = sql('SELECT now()');
sql(q{INSERT INTO orders (id, v) SELECT g, 'during the S3 outage ' || g FROM generate_series(8500, 8600) g;
	DELETE FROM orders WHERE id BETWEEN 8000 AND 8010;});
s3_admin('PUT', 'faults', { outage_ms => 60_000 });
my $outage_t0 = time();
ok(wait_until(sub { failures_since($outage_start) > 0 }, 30, 'a failed run'), 'a run during the S3 outage fails');
like(sql(qq{SELECT error FROM redtrack.replications WHERE source = 'orders'::regclass AND updated_at >= '$outage_start'
	AND error IS NOT NULL ORDER BY updated_at DESC LIMIT 1}), qr/ServiceUnavailable|503/, 'with S3\'s answer as the reason');
ok(!in_sync('orders'), 'the target waits while S3 is out');
sleep 1 while time() - $outage_t0 < 55;
my $runs = sql(qq{SELECT count(*) FROM redtrack.replications WHERE source = 'orders'::regclass AND created_at >= '$outage_start'});
my $attempts = sql(qq{SELECT coalesce(sum(retries + 1), 0) FROM redtrack.replications
	WHERE source = 'orders'::regclass AND created_at >= '$outage_start'});
# Without backoff a 1 s naptime would make ~55 attempts.
$figures{outage_attempts} = $attempts;
ok($attempts <= 27, "the worker backs off during the outage ($attempts attempts in $runs replications over ~55 s, naptime 1 s)");
wait_sync('orders', 'after a minute-long S3 outage', 150);
is(scalar @{ s3_admin('GET', 'uploads')->{uploads} }, 0, 'no orphaned multipart upload after the outage');

# ---------------------------------------------------------------------------
# Redshift unreachable for a while (connections refused, the open ones
# dropped): the same, on the warehouse side.
# ---------------------------------------------------------------------------
unless ($pg)
{
	my $down_start = sql('SELECT now()');
	sql(q{UPDATE orders SET v = v || ' (warehouse down)', updated_at = now() WHERE id BETWEEN 8500 AND 8520;});
	redshift_admin('PUT', 'faults', { down_ms => 30_000, kill_existing => JSON::PP::true });
	$figures{redshift_down}++;
	ok(wait_until(sub { failures_since($down_start) > 0 }, 30, 'a failed run'), 'a run while Redshift is down fails');
	like(sql(qq{SELECT error FROM redtrack.replications WHERE source = 'orders'::regclass AND updated_at >= '$down_start'
		AND error IS NOT NULL ORDER BY updated_at DESC LIMIT 1}), qr/Redshift|connect|refused|terminat|closed/i,
		'with the connection error as the reason');
	wait_sync('orders', 'after Redshift was unreachable for 30 s', 150);
}

# ---------------------------------------------------------------------------
# A stream drained by the worker: the rows it deletes reach the statistics
# autovacuum works from (a worker must flush them itself), so the queue
# table is vacuumed instead of growing without bound.
# ---------------------------------------------------------------------------
my $stream = 'wevents_' . substr($schema, -12);
sql(qq{SELECT rrr_define_stream('$stream', '{"n": {"type": "integer", "constraint": "not null"}}')});
sql(qq{SELECT rrr_write('$stream', jsonb_build_object('n', g)) FROM generate_series(1, 300) g});
ok(wait_until(sub { sql(qq{SELECT count(*) FROM redtrack_streams."$stream"}) eq '0' }, 60, 'the drain'),
	'the worker drains the stream');
is(warehouse_sql(qq{SELECT count(*) || ':' || count(DISTINCT n) || ':' || sum(n) FROM "$stream"}), '300:300:45150',
	'every event arrived once');
ok(wait_until(sub {
	sql(qq{SELECT n_tup_del FROM pg_stat_user_tables WHERE relid = 'redtrack_streams."$stream"'::regclass}) >= 300
}, 30, 'the statistics'), 'the drained rows reach pg_stat_user_tables (n_tup_del), so autovacuum sees them');
sql(qq{SELECT rrr_drop_stream('$stream', force => true)});
warehouse_sql(qq{DROP TABLE IF EXISTS "$stream"});

# ---------------------------------------------------------------------------
# Missing configuration: reported once per run, in status, with a hint
# ---------------------------------------------------------------------------
my $log_before = -s $node->logfile;
sql(q{ALTER SYSTEM SET redtrack.s3_bucket = ''; SELECT pg_reload_conf();});
ok(wait_until(sub { sql(q{SELECT COALESCE(worker_error, '') FROM redtrack.status WHERE source = 'orders'::regclass}) =~ /s3_bucket/ },
		30, 'the worker error'), 'status shows the configuration problem');
sleep 4;
my $log = substr(slurp_file($node->logfile), $log_before);
my $reports = () = $log =~ /not replicating: redtrack\.s3_bucket is not set/g;
ok($reports >= 1 && $reports <= 8, "the problem is logged once per run ($reports lines in ~5 runs of 1 s)");
like($log, qr/Set redtrack\.s3_bucket in postgresql\.conf/, 'with a hint');
sql(q{ALTER SYSTEM RESET redtrack.s3_bucket; SELECT pg_reload_conf();});
sql(q{INSERT INTO orders (id, v) VALUES (9999, 'configuration fixed')});
wait_sync('orders', 'replication resumes once the configuration is fixed');

reliability_report('Worker faults',
	[ 'kill -9 of the worker while exporting, uploading, importing', $figures{kills} // 0 ],
	[ 'SIGTERM of the worker mid-upload', $figures{sigterm} // 0 ],
	[ 'source server stopped mid-export (fast / immediate shutdown) and started', ($figures{'fast shutdowns'} // 0) . ' / ' . ($figures{'immediate shutdowns'} // 0) ],
	[ 'S3 outage of 60 s (every request 503): attempts by the worker', $figures{outage_attempts} // '?' ],
	[ 'Redshift unreachable for 30 s', $pg ? 'n/a (PostgreSQL dialect)' : ($figures{redshift_down} // 0) ],
	[ 'source = target afterwards, row by row', "$figures{synced} of $figures{syncs} checks" ]);

warehouse_sql("DROP SCHEMA IF EXISTS $schema CASCADE; DROP SCHEMA IF EXISTS ${schema}_loads CASCADE");
$node->stop;
done_testing();
