# Security: secrets (a temporary AWS key pair with its session token, a
# Redshift password inside the conninfo) never reach the server log (at
# debug5), the state tables, NOTIFY payloads or pg_stat_activity, through
# successes, failures and reloads; TLS is the default towards S3 and the
# warehouse; a hostile search_path cannot run code inside redtrack.
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
my $st = stack();
my $schema = target_schema();

my $temp_key = $ENV{REDTRACK_AWS_TEMP_ACCESS_KEY_ID} // 'ASIAREDTRACKTEMP';
my $temp_secret = $ENV{REDTRACK_AWS_TEMP_SECRET_ACCESS_KEY} // 'redtrack-temp-secret';
my $token = $ENV{REDTRACK_AWS_SESSION_TOKEN} // ('redtrack-test-session-token-' . ('IQoJb3JpZ2luX2VjEA' x 170));
# The PostgreSQL warehouse trusts loopback and ignores the password; the
# Redshift stand-in checks it, so there it must be the real one.
my $password = $pg ? 'Conninfo-Password-3141' : $st->{password};
my $wrong_secret = 'Wrong-Secret-Value-2718';
my $reloaded_password = 'Reloaded-Password-1618';
my @secrets = ($temp_secret, $token, $password, $wrong_secret, $reloaded_password, $st->{secret_key});

# At DEBUG3 the postmaster logs its whole environment before any library
# is loaded: that is PostgreSQL's, documented in the README.  The test
# harness exports the stack's credentials; keep them out of the server's
# environment so that what is checked here is what redtrack controls.
delete $ENV{$_} for grep { /^(REDTRACK_|AWS_).*(SECRET|TOKEN|PASSWORD)/ } keys %ENV;

sub conninfo
{
	my ($pw) = @_;
	return $pg
	  ? "host=127.0.0.1 port=$st->{warehouse_port} dbname=$st->{database} user=$st->{user} sslmode=disable password=$pw"
	  : "host=127.0.0.1 port=$st->{redshift_port} dbname=$st->{database} user=$st->{user} password=$pw";
}

my $node = new_source('security', dialect => $dialect, conf => qq{
log_min_messages = debug5
log_error_verbosity = verbose
log_connections = on
redtrack.aws_access_key_id = '$temp_key'
redtrack.aws_secret_access_key = '$temp_secret'
redtrack.aws_session_token = '$token'
redtrack.redshift_conninfo = '@{[ conninfo($password) ]}'
redtrack.redshift_iam_role = ''
});
clear_faults();

sub sql { return $node->safe_psql('postgres', $_[0]); }

# Every text a user or an operator can see, collected as the test goes.
my %seen;

sub see
{
	my ($where, $text) = @_;
	$seen{$where} .= ($text // '') . "\n";
}

# rrr_replicate in a session with extra settings (given as startup options,
# so that no statement carries them); returns "state|rows|error".
sub replicate
{
	my ($table, %settings) = @_;
	my $options = join ' ', map { my $v = $settings{$_} =~ s/([ \\])/\\$1/gr; "-c $_=$v" } sort keys %settings;
	local $ENV{PGOPTIONS} = $options;
	my ($out, $err);
	$node->psql('postgres', "SELECT state || '|' || rows || '|' || COALESCE(error, '') FROM rrr_replicate('$table')",
		stdout => \$out, stderr => \$err);
	see('client messages', $err);
	return $out // '';
}

sql(qq{
CREATE TABLE users (id bigint PRIMARY KEY, name text, updated_at timestamptz NOT NULL DEFAULT clock_timestamp());
SELECT rrr_register('users', 'timed', track_deletes => true, target_table => '$schema.users');
INSERT INTO users (id, name) SELECT g, 'user ' || g FROM generate_series(1, 500) g;
});

# ---------------------------------------------------------------------------
# A good run with the temporary credentials, watched by a listener and by
# a sampler of pg_stat_activity; slow S3 (and a slow COPY) keep it visible.
# ---------------------------------------------------------------------------
my $listener = $node->background_psql('postgres');
$listener->query_safe('LISTEN redtrack');
s3_admin('PUT', 'faults', { latency_ms => 150 });
redshift_admin('PUT', 'faults', { rules => [ { match => 'COPY', when => 'before', action => 'delay:1500', count => 1 } ] })
  unless $pg;
my $runner = $node->background_psql('postgres');
$runner->query_until(qr/started/, qq{\\echo started\nSELECT state || '|' || rows FROM rrr_replicate('users');\n});
my ($samples, $engine_rows, $copy_rows) = (0, 0, 0);
my $deadline = time() + 60;
while (time() < $deadline)
{
	my $activity = sql(q{SELECT backend_type || '|' || application_name || '|' || coalesce(query, '')
		FROM pg_stat_activity WHERE pid <> pg_backend_pid()});
	see('pg_stat_activity', $activity);
	$samples++;
	$engine_rows++ if $activity =~ /^redtrack engine\|/m;
	$copy_rows++ if $activity =~ /^redtrack engine\|.*COPY /m;
	last if $engine_rows && $activity !~ /^redtrack engine\|/m;
	usleep(50_000);
}
like($runner->query_safe('SELECT 1'), qr/imported\|500/, 'the temporary key pair with its session token works');
$runner->quit;
clear_faults();
ok($engine_rows > 0, "pg_stat_activity showed the engine at work ($engine_rows of $samples samples)");
ok($copy_rows > 0, "and its COPY statement ($copy_rows samples)") unless $pg;
like($seen{pg_stat_activity}, qr/SECRET_ACCESS_KEY '\*{8}' SESSION_TOKEN '\*{8}'/, 'with the credentials masked')
  unless $pg;
compare_tables($node, 'SELECT id, name FROM users ORDER BY 1', "SELECT id, name FROM $schema.users ORDER BY 1",
	'the rows arrived');

# ---------------------------------------------------------------------------
# Failures whose messages could quote a secret.
# ---------------------------------------------------------------------------
sql(q{INSERT INTO users (id, name) VALUES (501, 'after'); DELETE FROM users WHERE id = 1});

my $result = replicate('users', 'redtrack.aws_secret_access_key' => $wrong_secret);
like($result, qr/^failed\|\d+\|.*SignatureDoesNotMatch/s, 'a wrong secret key fails with S3\'s SignatureDoesNotMatch');

s3_admin('PUT', 'faults', { expired_token => JSON::PP::true });
$result = replicate('users');
like($result, qr/^failed\|\d+\|.*ExpiredToken/s, 'an expired session token fails with ExpiredToken');
clear_faults();

$result = replicate('users', 'redtrack.redshift_conninfo' =>
	"host=127.0.0.1 port=1 dbname=dev user=awsuser sslmode=disable password=$wrong_secret");
like($result, qr/^failed\|\d+\|.*(refused|could not connect)/s, 'an unreachable warehouse fails with the connection error');

$result = replicate('users', 'redtrack.redshift_conninfo' => "host=127.0.0.1 password=$wrong_secret bogus");
like($result, qr/^failed\|\d+\|.*missing "=" after "bogus"/s, 'a malformed conninfo fails with libpq\'s parse error');

unless ($pg)
{
	$result = replicate('users', 'redtrack.redshift_conninfo' => conninfo($wrong_secret));
	like($result, qr/^failed\|\d+\|.*password authentication failed/s, 'a wrong Redshift password fails to authenticate');
}

# ---------------------------------------------------------------------------
# TLS by default: an endpoint without a scheme means https, a conninfo
# without sslmode means sslmode=require; both servers here speak plain text.
# ---------------------------------------------------------------------------
$result = replicate('users', 'redtrack.s3_endpoint' => "127.0.0.1:$st->{s3_port}");
like($result, qr/^failed\|\d+\|.*(SSL|TLS)/si, 'an S3 endpoint without a scheme is reached over TLS only');
$result = replicate('users', 'redtrack.redshift_conninfo' =>
	"host=127.0.0.1 port=$st->{warehouse_port} dbname=$st->{database} user=$st->{user}");
like($result, qr/^failed\|\d+\|.*SSL/s, 'a conninfo without sslmode requires SSL');

# ---------------------------------------------------------------------------
# Rotation by reload: the server logs changed settings itself, with their
# values; redtrack's log hook hides them.
# ---------------------------------------------------------------------------
$node->append_conf('postgresql.conf', qq{
redtrack.aws_access_key_id = '$st->{access_key}'
redtrack.aws_secret_access_key = '$st->{secret_key}'
redtrack.aws_session_token = ''
redtrack.redshift_conninfo = '@{[ conninfo($pg ? $reloaded_password : $password) ]} connect_timeout=10'
});
$node->reload;
ok(wait_until(sub { slurp_file($node->logfile) =~ /parameter "redtrack.aws_secret_access_key" changed/ }, 30, 'the reload'),
	'the reload is logged without the new secret');
$result = replicate('users');
like($result, qr/^imported\|\d+\|$/, 'the rotated permanent key pair works after the reload');
compare_tables($node, 'SELECT id, name FROM users ORDER BY 1', "SELECT id, name FROM $schema.users ORDER BY 1",
	'the changes made while failing arrived');

# ---------------------------------------------------------------------------
# Everything visible: no secret anywhere.
# ---------------------------------------------------------------------------
my $notices = $listener->query_safe('SELECT 1');
$listener->quit;
see('NOTIFY payloads', $notices);
like($notices, qr/payload ".*"state": "failed"/, 'the listener heard the failures');
see('redtrack.replications', sql('SELECT r::text FROM redtrack.replications r'));
see('redtrack.status', sql('SELECT s::text FROM redtrack.status s'));
see('redtrack.replicables', sql('SELECT r::text FROM redtrack.replicables r'));
see('server log', slurp_file($node->logfile));
like($seen{'redtrack.replications'}, qr/canceled after 3 retries/, 'the replications table tells of the failures');
like($seen{'server log'}, qr/SignatureDoesNotMatch/, 'and so does the server log');
like($seen{'server log'}, qr/DEBUG/, 'the server log is at debug level');

my ($scanned, $leaks) = (0, 0);
for my $where (sort keys %seen)
{
	my @found = grep { index($seen{$where}, $_) >= 0 } @secrets;
	is_deeply(\@found, [], "no secret in $where (" . length($seen{$where}) . ' bytes)');
	$scanned += length($seen{$where});
	$leaks += @found;
}
reliability_report('Secrets',
	[ 'secrets watched (temporary key and session token, Redshift password, wrong and rotated values)', scalar @secrets ],
	[ 'places searched: ' . join(', ', sort keys %seen), sprintf('%.1f MB', $scanned / 1e6) ],
	[ 'failures on purpose before searching (wrong key, expired token, bad conninfo, no TLS)',
	  scalar(() = $notices =~ /"state": "failed"/g) . ' failed runs' ],
	[ 'secrets found', $leaks ]);

# ---------------------------------------------------------------------------
# A hostile search_path: an admin shadows common functions and operators
# with versions that record being called, then uses redtrack.  Nothing
# redtrack runs (in the session or in the engine) may call them.
# ---------------------------------------------------------------------------
my @definers = split /\n/, sql(q{
	SELECT p.oid::regprocedure FROM pg_proc p
	JOIN pg_depend d ON d.classid = 'pg_proc'::regclass AND d.objid = p.oid AND d.deptype = 'e'
	JOIN pg_extension e ON e.oid = d.refobjid AND e.extname = 'redtrack'
	WHERE p.prosecdef AND NOT coalesce(array_to_string(p.proconfig, ',') ~ 'search_path=', false)});
is_deeply(\@definers, [], 'every SECURITY DEFINER function of the extension pins search_path');

sql(q{
CREATE ROLE mallory LOGIN IN ROLE redtrack_admin, redtrack_writer;
CREATE SCHEMA evil AUTHORIZATION mallory;
CREATE TABLE evil.calls (what text, by_role name DEFAULT current_user);
GRANT INSERT, SELECT ON evil.calls TO PUBLIC;
GRANT USAGE ON SCHEMA evil TO PUBLIC;
});
my $trap = q{BEGIN INSERT INTO evil.calls (what) VALUES ('%s'); RETURN %s; END};
my @traps = (
	[ 'lower(text)', 'text', q{lower($1)} ],
	[ 'upper(text)', 'text', q{upper($1)} ],
	[ 'quote_ident(text)', 'text', q{quote_ident($1)} ],
	[ 'quote_literal(text)', 'text', q{quote_literal($1)} ],
	[ 'length(text)', 'integer', q{length($1)} ],
	[ 'now()', 'timestamptz', q{pg_catalog.now()} ],
	[ 'clock_timestamp()', 'timestamptz', q{pg_catalog.clock_timestamp()} ],
	[ 'txid_current()', 'bigint', q{pg_catalog.txid_current()} ],
	[ 'jsonb_typeof(jsonb)', 'text', q{pg_catalog.jsonb_typeof($1)} ],
	[ 'array_length(anyarray, integer)', 'integer', q{pg_catalog.array_length($1, $2)} ],
	[ 'textcat(text, text)', 'text', q{pg_catalog.textcat($1, $2)} ],
	[ 'texteq(text, text)', 'boolean', q{pg_catalog.texteq($1, $2)} ],
	[ 'nameeq(name, name)', 'boolean', q{pg_catalog.nameeq($1, $2)} ],
	[ 'oideq(oid, oid)', 'boolean', q{pg_catalog.oideq($1, $2)} ],
);
my $ddl = "SET ROLE mallory;\n";
for my $t (@traps)
{
	my ($signature, $returns, $body) = @$t;
	my $name = $signature =~ s/\(.*//r;
	$ddl .= sprintf(qq{CREATE FUNCTION evil.%s RETURNS %s LANGUAGE plpgsql AS \$f\$%s\$f\$;\n},
		$signature, $returns, sprintf($trap, $name, $body));
}
$ddl .= q{
CREATE OPERATOR evil.= (FUNCTION = evil.texteq, LEFTARG = text, RIGHTARG = text);
CREATE OPERATOR evil.= (FUNCTION = evil.nameeq, LEFTARG = name, RIGHTARG = name);
CREATE OPERATOR evil.= (FUNCTION = evil.oideq, LEFTARG = oid, RIGHTARG = oid);
CREATE OPERATOR evil.|| (FUNCTION = evil.textcat, LEFTARG = text, RIGHTARG = text);
CREATE TABLE evil.orders (id bigint PRIMARY KEY, item text, updated_at timestamptz NOT NULL DEFAULT pg_catalog.now());
RESET ROLE;
};
sql($ddl);
is(sql(q{SET search_path = evil, pg_catalog; SELECT 'a' = 'a'; SELECT count(*) FROM evil.calls}), "t\n1",
	'the traps work: an unqualified = calls evil.=');
sql('TRUNCATE evil.calls');

my $mallory = <<"SQL";
SET ROLE mallory;
SET search_path = evil, pg_catalog;
SELECT public.rrr_register('evil.orders', 'timed', track_deletes => true, target_table => '$schema.orders');
INSERT INTO evil.orders (id, item) SELECT g, 'item ' || g FROM generate_series(1, 50) g;
DELETE FROM evil.orders WHERE id <= 5;
UPDATE evil.orders SET id = id + 1000, updated_at = pg_catalog.clock_timestamp() WHERE id = 10;
SELECT state FROM public.rrr_replicate('evil.orders');
SELECT public.rrr_target_ddl('evil.orders');
SELECT public.rrr_define_stream('evil_clicks_$$', '{"page": {"type": "varchar(100)"}, "n": {"type": "integer"}}');
SELECT public.rrr_write('evil_clicks_$$', '{"page": "/", "n": 1}');
SELECT public.rrr_write_batch('evil_clicks_$$', ARRAY['{"page": "/a", "n": 2}', '{"page": "/b"}']::jsonb[]);
SELECT public.rrr_stream_ddl('evil_clicks_$$');
SELECT 'stream', state, rows FROM public.rrr_replicate('redtrack_streams.evil_clicks_$$');
SELECT count(*) FROM redtrack.status;
SELECT public.rrr_drop_stream('evil_clicks_$$', false);
SELECT public.rrr_unregister('evil.orders');
SQL
my ($out, $err);
my $rc = $node->psql('postgres', $mallory, stdout => \$out, stderr => \$err, on_error_stop => 1);
is($rc, 0, 'redtrack works for an admin with a hostile search_path') or diag($err);
like($out, qr/^imported$/m, 'the replication succeeded');
like($out, qr/^stream\|imported\|3$/m, 'and so did the stream\'s');
is(sql(q{SELECT coalesce(string_agg(what || ' by ' || by_role, ', '), '') FROM evil.calls}), '',
	'no shadowing function or operator was called');

compare_tables($node, 'SELECT id, item FROM evil.orders ORDER BY 1', "SELECT id, item FROM $schema.orders ORDER BY 1",
	'the hostile admin\'s table arrived intact');

warehouse_sql("DROP SCHEMA IF EXISTS $schema CASCADE; DROP SCHEMA IF EXISTS ${schema}_loads CASCADE; DROP TABLE IF EXISTS evil_clicks_$$");
$node->stop;
done_testing();
