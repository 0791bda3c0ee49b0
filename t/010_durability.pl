# Exactly once across crashes of the source with asynchronous commit, and
# across a re-created database and extension (issue 18).
#
#  1. The issue's case: with synchronous_commit = off, rows inserted and
#     replicated just before an immediate restart must not be on the
#     warehouse unless the source kept them, and the replication id must
#     not be handed out again (its load would be skipped).
#  2. Writers keep changing a timed, an identity and a full table and keep
#     writing events to a stream, while the worker replicates and the
#     source is restarted with -m immediate twice, mid-load (during COPY
#     and right after the warehouse committed): once with
#     synchronous_commit = off, once with it on, in a database that is
#     dropped and created anew in between.  Afterwards source = warehouse
#     row by row, and every event the source kept arrived exactly once.
#  3. The extension dropped and created again: ids start at 1 again and
#     must not meet the earlier incarnation's load markers.
#  4. A replication created by 0.4 (no installation identity) still finds
#     the marker 0.4 wrote; a marker that does not describe the
#     replication is an error, never a skip.
use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/lib";
use IPC::Run;
use PostgreSQL::Test::Utils;
use RedtrackTest;
use Test::More;
use Time::HiRes qw(time usleep);

my $dialect = $ENV{REDTRACK_TEST_DIALECT} // 'redshift';
my $pg = ($dialect eq 'postgres');
my $schema = target_schema();
my $loads = "${schema}_loads.redtrack_loads";
my $tag = substr($schema, -12) =~ s/\W/_/gr;
my $stream = "dur_$tag";           # the worker's stream, in database app
my $stream1 = "dur1_$tag";         # the stream of part 1, in database postgres

# The worker serves database app, created below; part 1 calls rrr_replicate
# in database postgres.  wal_writer_delay = 10s keeps asynchronous commits
# in WAL buffers for up to 10 s, as the issue describes.
my $node = new_source('durable', dialect => $dialect, worker => 1,
	conf => "synchronous_commit = off\nwal_writer_delay = '10s'\nrestart_after_crash = on\n"
	  . "redtrack.database = 'app'\nredtrack.naptime = 1\n");
clear_faults();
warehouse_sql(qq{DROP TABLE IF EXISTS "$stream", "$stream1"});

sub sql { my ($db, $q) = @_; return $node->safe_psql($db, $q); }

sub restart_immediately
{
	$node->stop('immediate');
	$node->start;
}

# Source rows and warehouse rows of a query, compared as sorted lists.
sub same_rows
{
	my ($db, $source_sql, $target_sql, $what) = @_;
	my @s = sort split /\n/, sql($db, $source_sql);
	my @t = sort split /\n/, warehouse_sql($target_sql);
	my $ok = is(join("\n", @t), join("\n", @s), "$what: source = warehouse (" . scalar(@s) . " rows)");
	return $ok;
}

# ---------------------------------------------------------------------------
# 1. The issue's case
# ---------------------------------------------------------------------------
sql('postgres', qq{
CREATE TABLE st_x (id int PRIMARY KEY, at timestamptz NOT NULL DEFAULT now());
CREATE INDEX ON st_x (at);
INSERT INTO st_x VALUES (0);
SELECT rrr_register('st_x', 'timed', replication_field => 'at', target_table => '$schema.st_x');
CREATE TABLE st_log (n int PRIMARY KEY);
SELECT rrr_define_stream('$stream1', '{"n": {"type": "integer", "constraint": "not null"}}');
});
my $queue1 = qq{redtrack_streams."$stream1"};

sub replicate_part1
{
	return sql('postgres', qq{SELECT string_agg(replication_id || '|' || state, ',' ORDER BY source::text)
		FROM rrr_replicate('st_x', '$queue1')});
}

sub write_part1
{
	my ($from, $to) = @_;
	sql('postgres', qq{
INSERT INTO st_x SELECT g, now() FROM generate_series($from, $to) g;
SELECT rrr_write('$stream1', jsonb_build_object('n', $from));
INSERT INTO st_log VALUES ($from);
});
}

write_part1(1, 1);
like(replicate_part1(), qr/^\d+\|imported,\d+\|imported$/, 'part 1: first replication');

# Start a fresh WAL segment, so that what follows fits in WAL buffers that
# the WAL writer, on its 10 s cycle, has most likely not written yet.
sql('postgres', 'SELECT pg_switch_wal()');
write_part1(2, 11);
my $before = replicate_part1();
like($before, qr/^\d+\|imported,\d+\|imported$/, 'part 1: 10 rows and an event replicated');
restart_immediately();
same_rows('postgres', 'SELECT id FROM st_x', "SELECT id FROM $schema.st_x",
	'part 1, after an immediate restart: what the warehouse has, the source kept');
same_rows('postgres', 'SELECT n FROM st_log', qq{SELECT n FROM "$stream1"},
	'part 1, after an immediate restart: the stream');

write_part1(101, 105);
my $after = replicate_part1();
like($after, qr/^\d+\|imported,\d+\|imported$/, 'part 1: the next replication');
my %used = map { (split /\|/)[0] => 1 } split /,/, $before;
ok(!grep({ $used{ (split /\|/)[0] } } split /,/, $after), "part 1: no replication id handed out twice ($before; $after)");
same_rows('postgres', 'SELECT id FROM st_x', "SELECT id FROM $schema.st_x", 'part 1: rows 101-105 arrived');
same_rows('postgres', 'SELECT n FROM st_log', qq{SELECT n FROM "$stream1"}, 'part 1: the stream');

# ---------------------------------------------------------------------------
# 2. Writers, the worker and two immediate restarts mid-load
# ---------------------------------------------------------------------------
my @tables = qw(d_timed d_ident d_full);
my $queue = qq{redtrack_streams."$stream"};
my $writer_runs = 0;
my $writer;

sub create_app_objects
{
	sql('app', qq{
CREATE TABLE IF NOT EXISTS d_timed (id bigserial PRIMARY KEY, v text NOT NULL, updated_at timestamptz NOT NULL DEFAULT now());
CREATE INDEX IF NOT EXISTS d_timed_updated_at ON d_timed (updated_at);
CREATE TABLE IF NOT EXISTS d_ident (id bigserial PRIMARY KEY, v text NOT NULL);
CREATE TABLE IF NOT EXISTS d_full (id int PRIMARY KEY, v text NOT NULL);
INSERT INTO d_full SELECT g, 'initial' FROM generate_series(0, 49) g ON CONFLICT DO NOTHING;
CREATE TABLE IF NOT EXISTS d_log (tag text PRIMARY KEY);
SELECT rrr_register('d_timed', 'timed', track_deletes => true, target_table => '$schema.d_timed');
SELECT rrr_register('d_ident', 'identity', target_table => '$schema.d_ident');
SELECT rrr_register('d_full', 'full', target_table => '$schema.d_full');
SELECT rrr_define_stream('$stream', '{"tag": {"type": "varchar(64)", "constraint": "not null"}}');
-- One transaction per step: new rows, an update, sometimes a delete, an
-- event and its record in d_log (committed together or not at all).
CREATE OR REPLACE PROCEDURE write_forever(run text) LANGUAGE plpgsql AS \$\$
DECLARE
	i bigint := 0;
BEGIN
	LOOP
		i := i + 1;
		INSERT INTO d_timed (v) VALUES (run || ':' || i);
		UPDATE d_timed SET v = v || '+', updated_at = now()
		WHERE id = (SELECT max(id) FROM d_timed) - 5;
		IF i % 7 = 0 THEN
			DELETE FROM d_timed WHERE id = (SELECT min(id) FROM d_timed);
		END IF;
		INSERT INTO d_ident (v) VALUES (run || ':' || i);
		UPDATE d_full SET v = run || ':' || i WHERE id = i % 50;
		PERFORM rrr_write('$stream', jsonb_build_object('tag', run || ':' || i));
		INSERT INTO d_log VALUES (run || ':' || i);
		COMMIT;
		PERFORM pg_sleep(0.005);
	END LOOP;
END
\$\$;
});
}

sub start_writer
{
	my ($round) = @_;
	$writer_runs++;
	my ($out, $err) = ('', '');
	$writer = IPC::Run::start(
		[ 'psql', '-XAtq', '-h', $node->host, '-p', $node->port, '-d', 'app',
			'-c', "CALL write_forever('$round/$writer_runs')" ],
		'>', \$out, '2>', \$err);
	# Let it get going.
	wait_until(sub { sql('app', 'SELECT count(*) FROM d_log') > 0 }, 30, 'the writer');
}

sub stop_writer
{
	$node->psql('app', q{SELECT pg_terminate_backend(pid) FROM pg_stat_activity
		WHERE query LIKE 'CALL write_forever%' AND pid <> pg_backend_pid()});
	eval { $writer->finish; };
	$writer = undef;
}

sub fingerprint
{
	my ($side, $table) = @_;
	my $q = $table eq 'events'
	  ? ($side eq 'source' ? 'SELECT count(*) || \':\' || COALESCE(sum(hashtext(tag)), 0) FROM d_log'
		: qq{SELECT count(*) || ':' || COALESCE(sum(hashtext(tag)), 0) FROM "$stream"})
	  : ($side eq 'source' ? "SELECT count(*) || ':' || COALESCE(sum(hashtext(id || '/' || v)), 0) FROM $table"
		: "SELECT count(*) || ':' || COALESCE(sum(hashtext(id || '/' || v)), 0) FROM $schema.$table");
	if ($side eq 'source') { return sql('app', $q); }
	my ($v) = warehouse_sql($q, allow_error => 1);
	return $v // '';
}

sub all_in_sync
{
	for my $t (@tables, 'events')
	{
		return 0 unless fingerprint('source', $t) eq fingerprint('warehouse', $t);
	}
	return sql('app', "SELECT count(*) FROM $queue") eq '0';
}

sub check_round
{
	my ($what) = @_;
	ok(wait_until(\&all_in_sync, 120, "$what: the worker to catch up"), "$what: the worker caught up");
	for my $t (@tables)
	{
		same_rows('app', "SELECT id || '|' || v FROM $t", "SELECT id || '|' || v FROM $schema.$t", "$what: $t");
	}
	same_rows('app', 'SELECT tag FROM d_log', qq{SELECT tag FROM "$stream"},
		"$what: every event the source kept, exactly once");
	is(warehouse_sql(qq{SELECT count(*) - count(DISTINCT tag) FROM "$stream"}), 0, "$what: no event twice");
	is(sql('app', q{SELECT count(*) FROM redtrack.replications WHERE state = 'failed'}), 0,
		"$what: no replication is left failed");
}

# A load that takes a while: COPY held back on Redshift, or the download of
# the files held back in the PostgreSQL dialect (the loader reads them).
sub slow_loads
{
	if ($pg)
	{
		s3_admin('PUT', 'faults', { rules => [ { method => 'GET', path => 'durable/.*part-', action => 'latency:3000', count => 1000 } ] });
	}
	else
	{
		redshift_admin('PUT', 'faults', { rules => [ { match => '^\s*COPY', when => 'before', action => 'delay:3000', count => 1000 } ] });
	}
}

sub wait_for_a_load
{
	my ($what) = @_;
	ok(wait_until(sub { sql('app', q{SELECT count(*) FROM redtrack.progress WHERE phase = 'importing'}) > 0 }, 60,
			'a load'), "$what: a load is running");
}

sub crash_round
{
	my ($round, $what) = @_;
	start_writer($round);
	sleep 2;

	# Mid-load: while COPY runs.
	slow_loads();
	wait_for_a_load("$what, first restart");
	usleep(300_000);
	restart_immediately();
	clear_faults();
	eval { $writer->finish; };
	start_writer($round);
	sleep 2;

	# Right after the warehouse committed a load, before the source
	# recorded it: a lock on redtrack.replications, taken while the load
	# runs, holds the record back.
	my $identity = sql('app', 'SELECT id FROM redtrack.installation');
	my $holder;
	my $held = 0;
	for my $attempt (1 .. 5)
	{
		slow_loads();
		wait_for_a_load("$what, second restart") if $attempt == 1;
		wait_until(sub { sql('app', q{SELECT count(*) FROM redtrack.progress WHERE phase = 'importing'}) > 0 }, 60,
			'a load') if $attempt > 1;
		my ($out, $err) = ('', '');
		$holder = IPC::Run::start(
			[ 'psql', '-XAtq', '-h', $node->host, '-p', $node->port, '-d', 'app',
				'-c', 'LOCK TABLE redtrack.replications IN SHARE MODE; SELECT pg_sleep(600)' ],
			'>', \$out, '2>', \$err);
		wait_until(sub { sql('app', q{SELECT count(*) FROM pg_locks WHERE locktype = 'relation' AND granted
			AND mode = 'ShareLock' AND relation = 'redtrack.replications'::regclass}) > 0 }, 30, 'the lock');
		# The load may have ended before the lock was granted: try again.
		if (sql('app', q{SELECT count(*) FROM redtrack.replications WHERE state = 'importing'}) > 0)
		{
			$held = 1;
			last;
		}
		$node->psql('app', q{SELECT pg_terminate_backend(pid) FROM pg_stat_activity
			WHERE query LIKE 'LOCK TABLE redtrack.replications%'});
		eval { $holder->finish; };
	}
	clear_faults();
	ok($held && wait_until(sub {
		my %marked = map { $_ => 1 } @{ warehouse_rows("SELECT replication_id FROM $loads WHERE source LIKE '$identity:%'") };
		return grep { $marked{$_} } split /\n/, sql('app', q{SELECT id FROM redtrack.replications WHERE state = 'importing'});
	}, 60, 'a committed load'), "$what: a load committed on the warehouse, not yet recorded on the source");
	restart_immediately();
	eval { $holder->finish; };
	eval { $writer->finish; };
	start_writer($round);
	sleep 2;
	stop_writer();
	check_round($what);
}

sub drop_warehouse_targets
{
	# The targets go (a new incarnation starts them empty); the load
	# markers stay, as they would on a real warehouse.
	warehouse_sql(join('; ', (map { "DROP TABLE IF EXISTS $schema.$_" } @tables), qq{DROP TABLE IF EXISTS "$stream"}));
}

sql('postgres', 'CREATE DATABASE app');
sql('app', 'CREATE EXTENSION redtrack');
create_app_objects();
crash_round(1, 'synchronous_commit = off');

# A new incarnation of the database: its replication ids start at 1 again.
my $first_identity = sql('app', 'SELECT id FROM redtrack.installation');
sql('postgres', 'DROP DATABASE app WITH (FORCE)');
drop_warehouse_targets();
sql('postgres', 'CREATE DATABASE app');
sql('app', 'CREATE EXTENSION redtrack');
isnt(sql('app', 'SELECT id FROM redtrack.installation'), $first_identity,
	'a re-created database has an identity of its own');
sql('postgres', q{ALTER SYSTEM SET synchronous_commit = on; SELECT pg_reload_conf();});
create_app_objects();
crash_round(2, 're-created database, synchronous_commit = on');
is(sql('app', 'SELECT min(id) FROM redtrack.replications'), 1, 'the re-created database started its ids at 1 again');
sql('postgres', q{ALTER SYSTEM RESET synchronous_commit; SELECT pg_reload_conf();});

# ---------------------------------------------------------------------------
# 3. The extension dropped and created again
# ---------------------------------------------------------------------------
# The worker is stopped first (the postmaster starts it again 10 s later):
# its run would take locks the DROP also needs.
sql('app', q{SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE backend_type = 'redtrack replicator'});
wait_until(sub { sql('app', q{SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'redtrack replicator'}) eq '0' },
	30, 'the worker to stop');
sql('app', qq{DROP EXTENSION redtrack CASCADE; DROP SCHEMA IF EXISTS redtrack_streams CASCADE;
	TRUNCATE d_log; CREATE EXTENSION redtrack;});
drop_warehouse_targets();
create_app_objects();
start_writer(3);
sleep 3;
stop_writer();
check_round('re-created extension');

# ---------------------------------------------------------------------------
# 4. Markers of 0.4, and markers that do not describe the replication
# ---------------------------------------------------------------------------
sql('postgres', qq{
CREATE TABLE old_t (id int PRIMARY KEY, v text NOT NULL);
INSERT INTO old_t SELECT g, 'v' || g FROM generate_series(1, 5) g;
SELECT rrr_register('old_t', 'identity', target_table => '$schema.old_t');
SELECT rrr_create_target('old_t');
});
like(sql('postgres', q{SELECT state FROM rrr_export('old_t')}), qr/^uploaded$/, 'part 4: exported');
# As if 0.4 had created it and loaded it, and the source never heard.
sql('postgres', q{UPDATE redtrack.replications SET installation = NULL WHERE source = 'old_t'::regclass});
my ($id, $first, $last, $rows) = split /\|/, sql('postgres',
	q{SELECT id, coalesce(window_first, ''), coalesce(window_last, ''), rows FROM redtrack.replications
	WHERE source = 'old_t'::regclass});
my $old_source = sql('postgres', q{SELECT system_identifier || ':postgres:public.old_t' FROM pg_control_system()});
my $first_sql = $first eq '' ? 'NULL' : "'$first'";
warehouse_sql(qq{INSERT INTO $loads (replication_id, source, target, strategy, window_first, window_last,
	rows_loaded, deletes_loaded, loaded_at) VALUES ($id, '$old_source', '$schema.old_t', 'identity', $first_sql,
	'$last', $rows, 0, now())});
is(sql('postgres', q{SELECT state || '|' || rows FROM rrr_import('old_t')}), "imported|$rows",
	'part 4: a replication of 0.4 finds the marker 0.4 wrote');
is(warehouse_sql("SELECT count(*) FROM $schema.old_t"), 0, 'part 4: and is not loaded again');

# A marker under this replication's identity and id, with other rows.
sql('postgres', q{INSERT INTO old_t VALUES (6, 'v6')});
like(sql('postgres', q{SELECT state FROM rrr_export('old_t')}), qr/^uploaded$/, 'part 4: exported again');
($id, $first, $last) = split /\|/, sql('postgres',
	q{SELECT id, installation, window_last FROM redtrack.replications WHERE source = 'old_t'::regclass
	ORDER BY id DESC LIMIT 1});
warehouse_sql(qq{INSERT INTO $loads (replication_id, source, target, strategy, window_first, window_last,
	rows_loaded, deletes_loaded, loaded_at) VALUES ($id, '$first:public.old_t', '$schema.old_t', 'identity', '5',
	'$last', 99, 0, now())});
my $outcome = sql('postgres', q{SELECT state || '|' || coalesce(error, '') FROM rrr_import('old_t')});
like($outcome, qr/^failed\|.*load marker for replication $id of public\.old_t that does not describe it/,
	'part 4: a marker that does not describe the replication is an error');
is(warehouse_sql("SELECT count(*) FROM $schema.old_t"), 0, 'part 4: nothing was loaded under it');

warehouse_sql(qq{DROP SCHEMA IF EXISTS $schema CASCADE; DROP SCHEMA IF EXISTS ${schema}_loads CASCADE;
	DROP TABLE IF EXISTS "$stream", "$stream1"});
$node->stop;
done_testing();
