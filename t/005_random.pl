# Equivalence under a random workload: rounds of random inserts, updates
# (to keys and to replication fields too), deletes, bulk deletes,
# TRUNCATEs and transactions held open across replications, on tables of
# every strategy (cdc too: updates that leave every other column alone,
# unchanged toasted values), with faults at S3 and Redshift and kills of the worker;
# after every round the target is compared with the source, row by row.
#
#   REDTRACK_SEED=n     replay a run (the seed is printed at the start)
#   REDTRACK_SOAK=1     the long run: 200 rounds, 50 kills (make soak)
#   REDTRACK_RELIABILITY_OUT=file   where the figures go (markdown)
use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/lib";
use PostgreSQL::Test::Utils;
use RedtrackTest;
use Test::More;
use Time::HiRes qw(time usleep);

my $soak = $ENV{REDTRACK_SOAK} ? 1 : 0;
my $rounds = $ENV{REDTRACK_ROUNDS} // ($soak ? 200 : 20);
my $kills_wanted = $soak ? 50 : 3;
my $seed = $ENV{REDTRACK_SEED} // (time() ^ $$) % 1_000_000;
srand($seed);
diag("random workload: seed $seed, $rounds rounds (replay with REDTRACK_SEED=$seed)");

my $dialect = $ENV{REDTRACK_TEST_DIALECT} // 'redshift';
my $pg = ($dialect eq 'postgres');
my $node = new_source('random', dialect => $dialect, worker => 1,
	conf => "restart_after_crash = on\nredtrack.naptime = 3600\nredtrack.max_retries = 1000");
my $schema = target_schema();
clear_faults();

my %figures = (rounds => 0, rows_compared => 0, discrepancies => 0, kills => 0,
	s3_faults => 0, redshift_faults => 0, long_transactions => 0, truncates => 0,
	key_updates => 0, retried_runs => 0);

sub sql { return $node->safe_psql('postgres', $_[0]); }
sub pick { return $_[ int(rand(@_)) ]; }

# Awkward values: NULL, empty, \N, quotes, commas, newlines, multibyte.
my @texts = ('', '\\N', 'plain', 'with,comma', 'say "hi"', "multi\nline", "cr\r\nlf", 'ünïcødé 😀',
	"tab\there", 'back\\slash', 'x' x 300);
sub text_value
{
	return 'NULL' if rand() < 0.15;
	my $t = pick(@texts) . (rand() < 0.5 ? int(rand(1000)) : '');
	$t =~ s/'/''/g;
	return "E'" . ($t =~ s/\\/\\\\/gr =~ s/\n/\\n/gr =~ s/\r/\\r/gr =~ s/\t/\\t/gr) . "'";
}

sql(qq{
CREATE SEQUENCE version_seq;
CREATE SEQUENCE moved_id_seq START 1000000;
CREATE TABLE r_timed (a int NOT NULL, b text NOT NULL, v text, n numeric(12,3),
	updated_at timestamptz NOT NULL DEFAULT clock_timestamp(), PRIMARY KEY (a, b));
CREATE INDEX ON r_timed (updated_at);
CREATE TABLE r_versioned (id bigint PRIMARY KEY, v text, version bigint NOT NULL DEFAULT nextval('version_seq'));
CREATE INDEX ON r_versioned (version);
CREATE TABLE r_identity (id bigserial PRIMARY KEY, v text, at timestamptz DEFAULT now());
CREATE TABLE r_full (code text PRIMARY KEY, v text, flag boolean);
CREATE TABLE r_cdc (id bigint PRIMARY KEY, v text, n int, big text);
SELECT rrr_register('r_timed', 'timed', target_table => '$schema.r_timed', track_deletes => true);
SELECT rrr_register('r_versioned', 'timed', replication_field => 'version', target_table => '$schema.r_versioned', track_deletes => true);
SELECT rrr_register('r_identity', 'identity', target_table => '$schema.r_identity', track_deletes => true);
SELECT rrr_register('r_full', 'full', target_table => '$schema.r_full');
SELECT rrr_register('r_cdc', 'cdc', target_table => '$schema.r_cdc');
});
# cdc's first run creates the database's slot, which waits for the
# transactions open at that moment (PostgreSQL's consistent starting
# point): take it before a round holds one open.
is(sql(q{SELECT state FROM rrr_replicate('r_cdc')}), 'imported', 'the cdc table\'s first run creates its slot');

my %compare = (
	r_timed => 'a, b, v, n, updated_at',
	r_versioned => 'id, v, version',
	r_identity => 'id, v, at',
	r_full => 'code, v, flag',
	r_cdc => 'id, v, n, big',
);
my %order = (r_timed => 'a, b', r_versioned => 'id', r_identity => 'id', r_full => 'code', r_cdc => 'id');

# A value stored out of line (TOAST): random hex does not compress enough
# to stay in the row.
my $toasted = q{(SELECT string_agg(md5(random()::text), '') FROM generate_series(1, 300))};

sub workload
{
	my ($may_truncate) = @_;
	my @sql;
	for (1 .. 1 + int(rand(4)))
	{
		my $op = rand();
		if ($op < 0.30)
		{
			my $n = 1 + int(rand(40));
			push @sql, join("\n", map {
				my $a = int(rand(200));
				"INSERT INTO r_timed (a, b, v, n) VALUES ($a, 'k" . int(rand(50)) . "', " . text_value() . ", "
				  . (rand() < 0.2 ? 'NULL' : sprintf('%.3f', rand() * 1e6)) . ") ON CONFLICT DO NOTHING;"
			} 1 .. $n);
			push @sql, "INSERT INTO r_versioned (id, v) SELECT g, " . text_value()
			  . " FROM generate_series(" . int(rand(500)) . ", " . int(rand(500) + 500) . ") g ON CONFLICT DO NOTHING;";
			push @sql, "INSERT INTO r_identity (v) SELECT " . text_value() . " FROM generate_series(1, $n);";
			push @sql, "INSERT INTO r_full VALUES ('c" . int(rand(100)) . "', " . text_value() . ", " . pick('true', 'false', 'NULL') . ") ON CONFLICT DO NOTHING;";
			my $from = int(rand(400));
			push @sql, "INSERT INTO r_cdc (id, v, n, big) SELECT g, " . text_value() . ", g, CASE WHEN g % 3 = 0 THEN $toasted END"
			  . " FROM generate_series($from, " . ($from + int(rand(30))) . ") g ON CONFLICT DO NOTHING;";
		}
		elsif ($op < 0.55)
		{
			push @sql, "UPDATE r_timed SET v = " . text_value() . ", updated_at = clock_timestamp() WHERE a % 7 = " . int(rand(7)) . ";";
			push @sql, "UPDATE r_versioned SET v = " . text_value() . ", version = nextval('version_seq') WHERE id % 11 = " . int(rand(11)) . ";";
			push @sql, "UPDATE r_full SET v = " . text_value() . " WHERE code LIKE 'c" . int(rand(10)) . "%';";
			# cdc: no column to bump; a toasted value left alone stays
			push @sql, "UPDATE r_cdc SET v = " . text_value() . " WHERE id % 7 = " . int(rand(7)) . ";";
			push @sql, "UPDATE r_cdc SET n = n + 1 WHERE id % 5 = " . int(rand(5)) . ";";
			push @sql, "UPDATE r_cdc SET big = $toasted WHERE id % 11 = " . int(rand(11)) . ";" if rand() < 0.3;
		}
		elsif ($op < 0.65)
		{
			# A key changes: the old key must disappear on Redshift.
			$figures{key_updates}++;
			push @sql, "UPDATE r_timed SET b = b || '~' || nextval('moved_id_seq'), updated_at = clock_timestamp() WHERE (a, b) IN (SELECT a, b FROM r_timed ORDER BY random() LIMIT 3);";
			push @sql, "UPDATE r_versioned SET id = nextval('moved_id_seq'), version = nextval('version_seq') WHERE id IN (SELECT id FROM r_versioned WHERE id < 100000 ORDER BY random() LIMIT 2);";
			push @sql, "UPDATE r_cdc SET id = nextval('moved_id_seq') WHERE id IN (SELECT id FROM r_cdc WHERE id < 100000 ORDER BY random() LIMIT 2);";
		}
		elsif ($op < 0.85)
		{
			push @sql, "DELETE FROM r_timed WHERE a = " . int(rand(200)) . ";";
			push @sql, "DELETE FROM r_versioned WHERE id % 13 = " . int(rand(13)) . ";";
			push @sql, "DELETE FROM r_identity WHERE id % 17 = " . int(rand(17)) . ";";
			push @sql, "DELETE FROM r_full WHERE code LIKE 'c" . int(rand(10)) . "%';";
			push @sql, "DELETE FROM r_cdc WHERE id % 13 = " . int(rand(13)) . ";";
		}
		elsif ($op < 0.95)
		{
			# A bulk delete.
			push @sql, "DELETE FROM r_timed WHERE a < " . int(rand(100)) . ";";
			push @sql, "DELETE FROM r_identity WHERE id < (SELECT max(id) - 50 FROM r_identity);";
		}
		elsif ($may_truncate)
		{
			$figures{truncates}++;
			push @sql, pick('TRUNCATE r_timed;', 'TRUNCATE r_versioned;', 'TRUNCATE r_identity;', 'TRUNCATE r_full;', 'TRUNCATE r_cdc;');
		}
	}
	sql(join "\n", @sql);
}

# Replicate every table until each is imported; faults may fail some runs.
sub replicate_until_done
{
	for my $attempt (1 .. 30)
	{
		my $states;
		if (rand() < 0.3 && $attempt == 1)
		{
			sql('SELECT rrr_wake()');
			wait_until(sub {
				sql(q{SELECT count(*) FROM redtrack.status WHERE last_state IS DISTINCT FROM 'imported'}) eq '0'
				  && sql(q{SELECT count(*) FROM redtrack.progress}) eq '0';
			}, 20, 'the worker\'s run');
		}
		my ($rc, $out) = $node->psql('postgres', q{SELECT string_agg(state, ',') FROM rrr_replicate_all()});
		if ($rc != 0 || $out =~ /failed|busy/)
		{
			$figures{retried_runs}++;
			clear_faults() if $attempt > 3;
			wait_until(sub { server_accepts($node) }, 60, 'the server');
			next;
		}
		return 1;
	}
	return 0;
}

my $open;                   # a transaction held open across replications
my $kills_done = 0;
for my $round (1 .. $rounds)
{
	$figures{rounds}++;
	# TRUNCATE would wait for a transaction held open.
	workload(!$open);

	# Sometimes a transaction stays open across this round's replication.
	if (!$open && rand() < 0.25)
	{
		$figures{long_transactions}++;
		$open = $node->background_psql('postgres', on_error_stop => 0);
		# Only new keys: a lock on existing rows would make the workload wait.
		$open->query_safe("BEGIN; INSERT INTO r_timed (a, b, v) VALUES (" . (1000 + $round) . ", 'open', 'late');"
			  . " INSERT INTO r_identity (v) VALUES ('late $round');"
			  . " INSERT INTO r_versioned (id, v) VALUES (" . (500000 + $round) . ", 'late');"
			  . " INSERT INTO r_cdc (id, v) VALUES (" . (600000 + $round) . ", 'late');");
	}

	# Faults for this round: kills spread so that all of them happen by the
	# last round, otherwise an S3 or a Redshift fault now and then.
	my $kill = $kills_done < $kills_wanted
	  && rand() < ($kills_wanted - $kills_done) / ($rounds - $round + 1);
	my $fault = rand();
	if ($kill)
	{
		# kill -9 the worker in the middle of a run, at a random moment.
		sql('SELECT rrr_wake()');
		usleep(int(rand(400_000)));
		my $pid = sql(q{SELECT pid FROM pg_stat_activity WHERE backend_type LIKE 'redtrack%' ORDER BY backend_type DESC LIMIT 1});
		if ($pid)
		{
			kill 'KILL', $pid;
			$kills_done++;
			$figures{kills}++;
			{
				local $SIG{PIPE} = 'IGNORE';
				eval { $open->quit } if $open;    # the crash ended every session
			}
			undef $open;
			wait_until(sub { server_accepts($node) }, 60, 'recovery');
		}
	}
	elsif ($fault < 0.15)
	{
		$figures{s3_faults}++;
		s3_admin('PUT', 'faults', { seed => $seed + $round, error_rate => 0.2, error_statuses => [ 500, 503 ], reset_rate => 0.05 });
	}
	elsif ($fault < 0.30 && !$pg)
	{
		$figures{redshift_faults}++;
		redshift_admin('PUT', 'faults', { rules => [ { match => pick('^\s*COPY', '^\s*COMMIT', '^\s*INSERT'),
			when => pick('before', 'after'), action => 'kill', count => 1 } ] });
	}

	my $done = replicate_until_done();
	clear_faults();
	if (!$done && !replicate_until_done())
	{
		fail("round $round: replication did not complete (seed $seed)");
		last;
	}

	# The open transaction commits after the replication: a late commit.
	if ($open && rand() < 0.6)
	{
		$open->query('COMMIT');
		$open->quit;
		undef $open;
		replicate_until_done();
	}

	# Compare every table (the open transaction's rows are invisible to both).
	for my $t (sort keys %compare)
	{
		my $cols = $compare{$t};
		my $n = compare_tables($node, "SELECT $cols FROM $t ORDER BY $order{$t}",
			"SELECT $cols FROM $schema.$t ORDER BY $order{$t}", "round $round, $t (seed $seed)");
		if (defined $n) { $figures{rows_compared} += $n; } else { $figures{discrepancies}++; }
	}
	last if $figures{discrepancies} > 0;
}
if ($open) { $open->query('COMMIT'); $open->quit; replicate_until_done(); }

is($figures{discrepancies}, 0, "no discrepancy in $figures{rounds} rounds (seed $seed)");
is(scalar @{ s3_admin('GET', 'uploads')->{uploads} }, 0, 'no orphaned multipart upload');
is(sql(q{SELECT count(*) FROM redtrack.replications AS r WHERE state NOT IN ('imported', 'canceled')
	AND NOT EXISTS (SELECT FROM redtrack.progress AS p WHERE p.replication_id = r.id)}), 0, 'no replication left half done');
is(warehouse_sql("SELECT (SELECT count(*) - count(DISTINCT (a, b)) FROM $schema.r_timed) + "
	  . "(SELECT count(*) - count(DISTINCT id) FROM $schema.r_identity)"), 0, 'no duplicate row on the target');

my $report = sprintf(<<'EOF', $dialect, $seed, map { $figures{$_} } qw(rounds rows_compared discrepancies s3_faults redshift_faults kills long_transactions truncates key_updates retried_runs));
| %s dialect, seed %d | |
|---|---|
| rounds | %d |
| rows compared | %d |
| discrepancies | %d |
| rounds with S3 faults (20%% 500/503, 5%% resets) | %d |
| rounds with a Redshift connection killed | %d |
| worker kills (kill -9) | %d |
| transactions held open across replications | %d |
| TRUNCATEs | %d |
| key updates | %d |
| runs that failed and were retried | %d |
EOF
diag($report);
if (my $out = $ENV{REDTRACK_RELIABILITY_OUT})
{
	open my $fh, '>>', $out or die "cannot append to $out: $!";
	print $fh "\n### Random workload\n\n$report";
	close $fh;
}

warehouse_sql("DROP SCHEMA IF EXISTS $schema CASCADE; DROP SCHEMA IF EXISTS ${schema}_loads CASCADE");
$node->stop;
done_testing();
