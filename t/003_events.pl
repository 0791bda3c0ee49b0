# Event streams end to end: drained to the warehouse exactly once, never
# an event from a rolled-back transaction, events written during a drain
# arrive in the next one, concurrent writers, and a crash between the
# warehouse's commit and the local delete.
use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/lib";
use PostgreSQL::Test::Utils;
use RedtrackTest;
use Test::More;
use Time::HiRes qw(usleep);

my $dialect = $ENV{REDTRACK_TEST_DIALECT} // 'redshift';
my $pg = ($dialect eq 'postgres');
my $node = new_source('events', dialect => $dialect, conf => "restart_after_crash = on");
my $schema = target_schema();
clear_faults();

sub sql { return $node->safe_psql('postgres', $_[0]); }

# Each stream gets a target name of its own in this run.
my $stream = "clicks_" . substr(target_schema(), -12);
warehouse_sql(qq{DROP TABLE IF EXISTS "$stream"});
sql(qq{
SELECT rrr_define_stream('$stream', '{
	"writer": {"type": "integer", "constraint": "not null"},
	"seq": {"type": "bigint", "constraint": "not null"},
	"page": {"type": "varchar(16)"},
	"at": {"type": "timestamptz", "constraint": "not null"},
	"props": {"type": "super"}}', sortkey => 'at', distkey => 'writer');
});
my $queue = qq{redtrack_streams."$stream"};

sub drain
{
	return sql(qq{SELECT state || '|' || rows FROM rrr_replicate('$queue')});
}

sub arrived
{
	return compare_tables($node, qq{SELECT writer, seq FROM written ORDER BY 1, 2},
		qq{SELECT writer, seq FROM "$stream" ORDER BY 1, 2}, $_[0]);
}

# The test remembers every event it wrote (in committed transactions).
sql(q{CREATE TABLE written (writer int, seq bigint, PRIMARY KEY (writer, seq))});

sub write_events
{
	my ($writer, $from, $to) = @_;
	sql(qq{
SELECT rrr_write('$stream', jsonb_build_object('writer', $writer, 'seq', g,
	'page', '/p/' || g || '/ünï', 'at', now(), 'props', jsonb_build_object('n', g)))
FROM generate_series($from, $to) g;
INSERT INTO written SELECT $writer, g FROM generate_series($from, $to) g;});
}

write_events(1, 1, 500);
is(drain(), 'imported|500', 'a drain loads the events');
arrived('every event arrived once');
is(sql("SELECT count(*) FROM $queue"), 0, 'the queue is empty after the drain');
my $status = sql(qq{SELECT backlog || '|' || (oldest_event_age IS NULL) FROM redtrack.status WHERE source = '$queue'::regclass});
is($status, '0|true', 'status shows an empty backlog');
is(drain(), 'imported|0', 'a drain with nothing waiting sends nothing');

# Rolled back: never arrives.
sql(qq{BEGIN; SELECT rrr_write('$stream', '{"writer": 9, "seq": 1, "at": "2024-01-01"}'); ROLLBACK;});
$node->psql('postgres', qq{BEGIN; SELECT rrr_write('$stream', '{"writer": 9, "seq": 2, "at": "2024-01-01"}'); SELECT 1/0; COMMIT;});
is(drain(), 'imported|0', 'events of rolled-back transactions never arrive');

# Written while a drain runs: the next drain takes them.  A transaction
# that wrote before the drain's snapshot but commits after it is the
# interesting case.
write_events(2, 1, 100);
my $open = $node->background_psql('postgres');
$open->query_safe(qq{BEGIN; SELECT rrr_write('$stream', '{"writer": 3, "seq": 1, "at": "2024-01-01"}');});
like(drain(), qr/^imported\|100$/, 'a drain while another transaction holds an unwritten event');
$open->query_safe('INSERT INTO written VALUES (3, 1); COMMIT');
$open->quit;
is(sql("SELECT count(*) FROM $queue"), 1, 'the late event waits in the queue');
like(drain(), qr/^imported\|1$/, 'the next drain takes the late event');
arrived('the late event arrived, once');

# Concurrent writers in several sessions, drains in between.
my @writers;
for my $w (10 .. 13)
{
	my $s = $node->background_psql('postgres');
	$s->query_until(qr/go/, qq{\\echo go
SELECT rrr_write('$stream', jsonb_build_object('writer', $w, 'seq', g, 'at', now())) FROM generate_series(1, 2000) g;
INSERT INTO written SELECT $w, g FROM generate_series(1, 2000) g;
});
	push @writers, $s;
}
for (1 .. 3) { like(drain(), qr/^imported\|\d+$/, 'a drain while four sessions write'); usleep(100_000); }
$_->query_safe('SELECT 1') for @writers;
$_->quit for @writers;
like(drain(), qr/^imported\|\d+$/, 'a final drain');
arrived('concurrent writers: every event exactly once');
is(warehouse_sql(qq{SELECT count(*) - count(DISTINCT (writer, seq)) FROM "$stream"}), 0, 'no duplicate event');

# ---------------------------------------------------------------------------
# Exactly once when the answer to COMMIT is lost: the stand-in lets the
# warehouse commit the load, then drops the connection.  The engine cannot
# know the load happened; the next run must find the load marker and not
# load the events again.
# ---------------------------------------------------------------------------
unless ($pg)
{
	write_events(30, 1, 200);
	redshift_admin('PUT', 'faults', { rules => [ { match => '^\s*COMMIT', when => 'after', action => 'kill', count => 1 } ] });
	like(drain(), qr/^failed\|/, 'the drain fails when the connection drops after the warehouse committed');
	clear_faults();
	is(warehouse_sql(qq{SELECT count(*) FROM "$stream" WHERE writer = 30}), 200, 'the warehouse did commit the load');
	is(sql("SELECT count(*) FROM $queue WHERE writer = 30"), 200, 'the events are still queued locally');
	like(drain(), qr/^imported\|200$/, 'the next drain finds the marker and finishes the replication');
	is(sql("SELECT count(*) FROM $queue"), 0, 'and deletes the events it had loaded');
	arrived('exactly once when COMMIT\'s answer is lost');
}

# ---------------------------------------------------------------------------
# Exactly once: the engine dies after the warehouse committed the load and
# before the local queue delete.  A session holds a SHARE lock on the queue:
# the export's reads pass, the engine's final delete waits; then the engine
# is killed.
# ---------------------------------------------------------------------------
write_events(20, 1, 300);
my $blocker = $node->background_psql('postgres', on_error_stop => 0);
$blocker->query_safe("BEGIN; LOCK TABLE $queue IN SHARE MODE");
my $runner = $node->background_psql('postgres', on_error_stop => 0);
$runner->query_until(qr/started/, qq{\\echo started\nSELECT rrr_replicate('$queue');\n});
my $loaded = wait_until(sub {
	warehouse_sql(qq{SELECT count(*) FROM "$stream" WHERE writer = 20}) eq '300';
}, 60, 'the warehouse commit');
ok($loaded, 'the warehouse committed the load');
my $engine_pid;
wait_until(sub {
	$engine_pid = sql(q{SELECT pid FROM pg_stat_activity WHERE backend_type = 'redtrack engine' AND wait_event_type = 'Lock'});
	return $engine_pid ne '';
}, 30, 'the engine to wait for the queue lock');
ok($engine_pid, "the engine waits for the local delete (pid $engine_pid)");
kill 'KILL', $engine_pid;
# The crash ends every session: their psql may be gone before \q reaches it.
{
	local $SIG{PIPE} = 'IGNORE';
	eval { $blocker->quit };
	eval { $runner->quit };
}
# The postmaster reinitializes after the crash; wait for it to accept again.
ok(wait_until(sub { server_accepts($node) }, 60, 'recovery'), 'the server recovered from the crash');
is(sql("SELECT count(*) FROM $queue WHERE writer = 20"), 300, 'the events are still in the queue after the crash');
like(drain(), qr/^imported\|300$/, 'the next run finds the load marker');
is(sql("SELECT count(*) FROM $queue"), 0, 'and deletes the events it had loaded');
arrived('exactly once across the crash: no event lost, none loaded twice');

# ---------------------------------------------------------------------------
# A stream redefined with added fields: the next drain adds them to the
# existing target, in the declared types, and loads their values.
# ---------------------------------------------------------------------------
my $evolving = "evolve_" . substr($schema, -12);
warehouse_sql(qq{DROP TABLE IF EXISTS "$evolving"});
sql(qq{SELECT rrr_define_stream('$evolving', '{"n": {"type": "integer", "constraint": "not null"}}')});
my $evolving_queue = qq{redtrack_streams."$evolving"};
sql(qq{SELECT rrr_write('$evolving', jsonb_build_object('n', g)) FROM generate_series(1, 10) g});
is(sql(qq{SELECT state || '|' || rows FROM rrr_replicate('$evolving_queue')}), 'imported|10',
	'the first drain creates the target');
sql(qq{SELECT rrr_define_stream('$evolving', '{"n": {"type": "integer", "constraint": "not null"},
	"page": {"type": "varchar(20)"}, "amount": {"type": "decimal(10,2)"}, "flag": {"type": "boolean"},
	"big": {"type": "bigint"}, "at": {"type": "timestamptz"}}')});
sql(qq{SELECT rrr_write('$evolving', jsonb_build_object('n', g, 'page', 'p' || g, 'amount', g * 1.5, 'flag', g % 2 = 0,
	'big', g * 10000000000, 'at', timestamptz '2024-05-01 12:00:00+00' + g * interval '1 hour'))
	FROM generate_series(11, 20) g});
is(sql(qq{SELECT state || '|' || rows FROM rrr_replicate('$evolving_queue')}), 'imported|10',
	'the drain after the redefinition loads');
# The warehouse's columns as Redshift shows them (the stand-in stores VARCHAR
# in a type of its own, which its view of information_schema.columns hides).
my $columns_view = $pg ? 'information_schema.columns' : 'redtrack_standin.columns';
is(warehouse_sql(qq{SELECT string_agg(column_name || ' ' || data_type || coalesce('(' || character_maximum_length || ')', '')
		|| coalesce(' ' || numeric_precision || ',' || numeric_scale, ''), ', ' ORDER BY column_name)
	FROM $columns_view WHERE table_schema = 'public' AND table_name = '$evolving'
	AND column_name IN ('page', 'amount', 'flag', 'big', 'at')}),
	'amount numeric 10,2, at timestamp with time zone, big bigint 64,0, flag boolean, page character varying(20)',
	'the new fields were added to the target in their declared types');
compare_tables($node, q{SELECT 'n' || g, CASE WHEN g > 10 THEN 'p' || g END, CASE WHEN g > 10 THEN (g * 1.5)::numeric(10,2) END,
		CASE WHEN g > 10 THEN g % 2 = 0 END, CASE WHEN g > 10 THEN g * 10000000000 END,
		CASE WHEN g > 10 THEN timestamptz '2024-05-01 12:00:00+00' + g * interval '1 hour' END
	FROM generate_series(1, 20) g ORDER BY g},
	qq{SELECT 'n' || n, page, amount, flag, big, at FROM "$evolving" ORDER BY n},
	'the events before and after the redefinition arrived with their values');

# A redefinition that adds no column (here: lenient) reaches sessions that
# already cached the stream.
my $writer = $node->background_psql('postgres', on_error_stop => 0);
$writer->query_safe(qq{SELECT rrr_write('$evolving', '{"n": 1}')});
my (undef, $rejected) = $writer->query(qq{SELECT rrr_write('$evolving', '{"n": 2, "surprise": true}')});
ok($rejected && $writer->{stderr} =~ /surprise/,
	'a strict stream rejects an unknown field in a session that cached it');
$writer->{stderr} = '';
sql(qq{SELECT rrr_define_stream('$evolving', '{"n": {"type": "integer", "constraint": "not null"},
	"page": {"type": "varchar(20)"}, "amount": {"type": "decimal(10,2)"}, "flag": {"type": "boolean"},
	"big": {"type": "bigint"}, "at": {"type": "timestamptz"}}', lenient => true)});
my ($accepted, $failed) = $writer->query(qq{SELECT rrr_write('$evolving', '{"n": 3, "surprise": true}') IS NOT NULL});
is("$accepted|$failed", 't|0', 'after the stream is redefined lenient, the same session ignores the unknown field');
$writer->quit;
sql(qq{SELECT rrr_drop_stream('$evolving', force => true)});

warehouse_sql(qq{DROP TABLE IF EXISTS "$stream", "$evolving"; DROP SCHEMA IF EXISTS ${schema}_loads CASCADE});
$node->stop;
done_testing();
