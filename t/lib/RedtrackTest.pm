# Shared helpers for redtrack's TAP tests.
#
# A test gets a source cluster of its own (PostgreSQL::Test::Cluster) whose
# redtrack.* settings point at the local stack (test/stack/stack.sh), with an
# S3 prefix and a warehouse schema of its own, so tests never see each
# other's files or tables.  The stack must be running; make test starts it.
package RedtrackTest;

use strict;
use warnings;

use Encode ();
use Exporter 'import';
use File::Spec;
use File::Temp qw(tempdir);
use HTTP::Tiny;
use IPC::Run;
use JSON::PP;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(time usleep);

our @EXPORT = qw(
  stack new_source warehouse_sql warehouse_rows s3_admin redshift_admin
  aws_cli s3_keys compare_tables wait_until clear_faults gunzip_csv parse_csv
  target_schema reliability_report server_accepts
);

my %env = (
	stack_dir => $ENV{REDTRACK_STACK_DIR} // '/tmp/redtrack-stack',
	s3_port => $ENV{REDTRACK_S3_PORT} // 59000,
	redshift_port => $ENV{REDTRACK_REDSHIFT_PORT} // 55439,
	redshift_admin_port => $ENV{REDTRACK_REDSHIFT_ADMIN_PORT} // 55440,
	warehouse_port => $ENV{REDTRACK_WAREHOUSE_PORT} // 55438,
	bucket => $ENV{REDTRACK_S3_BUCKET} // 'redtrack-test',
	region => $ENV{REDTRACK_S3_REGION} // 'us-east-1',
	access_key => $ENV{REDTRACK_AWS_ACCESS_KEY_ID} // 'AKIDREDTRACKTEST',
	secret_key => $ENV{REDTRACK_AWS_SECRET_ACCESS_KEY} // 'redtrack-test-secret',
	database => $ENV{REDTRACK_REDSHIFT_DATABASE} // 'dev',
	user => $ENV{REDTRACK_REDSHIFT_USER} // 'awsuser',
	password => $ENV{REDTRACK_REDSHIFT_PASSWORD} // 'Redtrack-test-1',
	iam_role => $ENV{REDTRACK_IAM_ROLE} // 'arn:aws:iam::123456789012:role/redtrack-test',
);

sub stack { return \%env; }

# A name unique to this test run, usable in identifiers and S3 keys.
my $run_id;

sub run_id
{
	$run_id //= sprintf('%s_%d_%d', (split m{/}, $0)[-1] =~ s/\W/_/gr, $$, time() % 100000);
	return lc $run_id;
}

sub target_schema { return 'tap_' . run_id(); }

# cdc: redtrack decodes its slot itself; PostgreSQL minors with the
# output_plugin_libraries allowlist (15.19 and later) must name it there.
my $cdc_plugin_conf;
sub cdc_plugin_conf
{
	if (!defined $cdc_plugin_conf)
	{
		my $bindir = `pg_config --bindir`;
		chomp $bindir;
		my $described = `"$bindir/postgres" --describe-config 2>/dev/null`;
		$cdc_plugin_conf = $described =~ /^output_plugin_libraries\t/m
		  ? "output_plugin_libraries = 'pgoutput, test_decoding, redtrack'" : '';
	}
	return $cdc_plugin_conf;
}

# A source cluster configured for the stack.  Options:
#   dialect => 'redshift' | 'postgres'     (default redshift)
#   worker  => 1                           (start the scheduler; naptime 1 s)
#   conf    => "extra postgresql.conf lines"
sub new_source
{
	my ($name, %opts) = @_;
	my $node = PostgreSQL::Test::Cluster->new($name);
	my $dialect = $opts{dialect} // 'redshift';

	$node->init;
	my $passfile = File::Spec->rel2abs($node->basedir . '/pgpass');
	open my $fh, '>', $passfile or die "cannot write $passfile: $!";
	print $fh "127.0.0.1:$env{redshift_port}:$env{database}:$env{user}:$env{password}\n";
	close $fh;
	chmod 0600, $passfile;

	my $conninfo = $dialect eq 'postgres'
	  ? "host=127.0.0.1 port=$env{warehouse_port} dbname=$env{database} user=$env{user} sslmode=disable"
	  : "host=127.0.0.1 port=$env{redshift_port} dbname=$env{database} user=$env{user} passfile=$passfile";

	# Serverless (REDTRACK_TEST_SERVERLESS=1, or serverless => 1): the
	# stand-in has no STL views for this node's connections, which it
	# recognises by their application_name.
	if ($dialect ne 'postgres' && ($opts{serverless} || $ENV{REDTRACK_TEST_SERVERLESS}))
	{
		my $app = substr('serverless_' . run_id() . "_$name", 0, 63);
		$conninfo .= " application_name=$app";
		redshift_admin('PUT', 'settings', { serverless => JSON::PP::true, application_name => $app });
	}
	my $enabled = $opts{worker} ? 'on' : 'off';
	my $prefix = 'tap/' . run_id() . "/$name";
	$node->append_conf(
		'postgresql.conf', qq{
shared_preload_libraries = 'redtrack'
max_worker_processes = 16
# cdc: a logical slot per database (a test's conf may set replica)
wal_level = logical
max_replication_slots = 10
max_wal_senders = 10
@{[ cdc_plugin_conf() ]}
log_min_messages = info
redtrack.database = 'postgres'
redtrack.enabled = $enabled
redtrack.naptime = 1
redtrack.s3_bucket = '$env{bucket}'
redtrack.s3_prefix = '$prefix'
redtrack.s3_region = '$env{region}'
redtrack.s3_endpoint = 'http://127.0.0.1:$env{s3_port}'
redtrack.aws_access_key_id = '$env{access_key}'
redtrack.aws_secret_access_key = '$env{secret_key}'
redtrack.redshift_conninfo = '$conninfo'
redtrack.target_dialect = '$dialect'
redtrack.loads_schema = '@{[target_schema()]}_loads'
@{[ $opts{conf} // '' ]}
});
	$node->start;
	$node->safe_psql('postgres', 'CREATE EXTENSION redtrack');
	$node->{redtrack_prefix} = $prefix;
	return $node;
}

# Run SQL on the warehouse (the PostgreSQL behind the Redshift stand-in).
sub warehouse_sql
{
	my ($sql, %opts) = @_;
	my ($stdout, $stderr);
	my $ok = IPC::Run::run(
		[
			'psql', '-XAtq', '-v', 'ON_ERROR_STOP=1', '-F', '|',
			'-h', '127.0.0.1', '-p', $env{warehouse_port},
			'-U', $env{user}, '-d', $env{database}, '-c', $sql
		],
		'>', \$stdout, '2>', \$stderr);
	die "warehouse query failed: $stderr\n$sql" if !$ok && !$opts{allow_error};
	chomp $stdout;
	return wantarray ? ($stdout, $stderr, $ok) : $stdout;
}

sub warehouse_rows
{
	my ($sql) = @_;
	my $out = warehouse_sql($sql);
	return [ grep { $_ ne '' } split /\n/, $out ];
}

sub http_json
{
	my ($port, $method, $path, $body) = @_;
	my $http = HTTP::Tiny->new(timeout => 30);
	my $res = $http->request($method, "http://127.0.0.1:$port$path",
		defined $body ? { content => encode_json($body), headers => { 'content-type' => 'application/json' } } : {});
	die "$method $path: $res->{status} $res->{content}" unless $res->{success};
	return length($res->{content}) ? decode_json($res->{content}) : undef;
}

sub s3_admin { my ($method, $path, $body) = @_; return http_json($env{s3_port}, $method, "/_admin/$path", $body); }

sub redshift_admin { my ($method, $path, $body) = @_; return http_json($env{redshift_admin_port}, $method, "/$path", $body); }

sub clear_faults
{
	s3_admin('DELETE', 'faults');
	eval { redshift_admin('DELETE', 'faults'); };
}

# The AWS CLI against the S3 stand-in; returns (ok, stdout, stderr).
sub aws_cli
{
	my @args = @_;
	my ($out, $err);
	local $ENV{AWS_ACCESS_KEY_ID} = $env{access_key};
	local $ENV{AWS_SECRET_ACCESS_KEY} = $env{secret_key};
	local $ENV{AWS_DEFAULT_REGION} = $env{region};
	local $ENV{AWS_EC2_METADATA_DISABLED} = 'true';
	local $ENV{AWS_CONFIG_FILE} = '/dev/null';
	local $ENV{AWS_SHARED_CREDENTIALS_FILE} = '/dev/null';
	my $ok = IPC::Run::run([ '/usr/bin/aws', '--endpoint-url', "http://127.0.0.1:$env{s3_port}", @args ],
		'>', \$out, '2>', \$err);
	return ($ok, $out, $err);
}

# Keys under a prefix, with their sizes.
sub s3_keys
{
	my ($prefix) = @_;
	my ($ok, $out, $err) = aws_cli('s3api', 'list-objects-v2', '--bucket', $env{bucket},
		'--prefix', $prefix, '--output', 'json');
	die "list-objects-v2 failed: $err" unless $ok;
	return {} unless $out =~ /\S/;
	my $json = decode_json($out);
	return { map { $_->{Key} => $_->{Size} } @{ $json->{Contents} // [] } };
}

# Download a .csv.gz with the AWS CLI and return its decompressed bytes.
sub gunzip_csv
{
	my ($key) = @_;
	my $dir = tempdir(CLEANUP => 1);
	my ($ok, $out, $err) = aws_cli('s3', 'cp', "s3://$env{bucket}/$key", "$dir/f.gz");
	die "download of $key failed: $err" unless $ok;
	my $data;
	IPC::Run::run([ 'gzip', '-dc', "$dir/f.gz" ], '>', \$data) or die "gzip -d of $key failed";
	return $data;
}

# Parse redtrack's CSV (UTF-8 bytes): rows of fields; a field is undef for
# NULL (a lone 0x00 byte; with empty_is_null, an empty unquoted field as
# the PostgreSQL dialect writes it), a string for a quoted field, the bare
# text otherwise.
sub parse_csv
{
	my ($bytes, %opts) = @_;
	my $data = Encode::decode('UTF-8', $bytes, Encode::FB_CROAK);
	my (@rows, @row);
	my $i = 0;
	my $n = length $data;
	while ($i < $n)
	{
		my $c = substr($data, $i, 1);
		my $field;
		if ($c eq '"')
		{
			my $value = '';
			$i++;
			while (1)
			{
				my $q = index($data, '"', $i);
				die "unterminated quoted field" if $q < 0;
				$value .= substr($data, $i, $q - $i);
				if (substr($data, $q + 1, 1) eq '"') { $value .= '"'; $i = $q + 2; next; }
				$i = $q + 1;
				last;
			}
			$field = $value;
		}
		else
		{
			my $end = $i;
			$end++ while $end < $n && substr($data, $end, 1) ne ',' && substr($data, $end, 1) ne "\n";
			my $raw = substr($data, $i, $end - $i);
			$field = ($raw eq "\0" || ($opts{empty_is_null} && $raw eq '')) ? undef : $raw;
			$i = $end;
		}
		push @row, $field;
		my $sep = substr($data, $i, 1);
		$i++;
		if ($sep eq "\n" || $i > $n) { push @rows, [@row]; @row = (); }
	}
	return \@rows;
}

# Compare a query on the source with a query on the warehouse, row by row
# (both must return rows as text in the same order).  Returns the number
# of rows compared (0 for two empty results), undef when they differ.
sub compare_tables
{
	my ($node, $source_sql, $target_sql, $message) = @_;
	my $source = $node->safe_psql('postgres', "SET TimeZone = 'UTC'; SET DateStyle = 'ISO, YMD'; $source_sql");
	my $target = warehouse_sql("SET TimeZone = 'UTC'; SET DateStyle = 'ISO, YMD'; $target_sql");
	my @s = split /\n/, $source;
	my @t = split /\n/, $target;
	if (@s == @t && join("\n", @s) eq join("\n", @t))
	{
		pass("$message: " . scalar(@s) . " rows identical");
		return scalar @s;
	}
	fail("$message: source has " . scalar(@s) . " rows, target " . scalar(@t));
	my $shown = 0;
	for my $k (0 .. ($#s > $#t ? $#s : $#t))
	{
		next if defined $s[$k] && defined $t[$k] && $s[$k] eq $t[$k];
		diag("row $k: source: " . ($s[$k] // '<none>') . "\n       target: " . ($t[$k] // '<none>'));
		last if ++$shown >= 5;
	}
	return undef;
}

# Whether the server accepts a query now.  psql may exit (the server is
# still in recovery) before it reads the query from its stdin: that broken
# pipe means "not yet", not a failure of the test.
sub server_accepts
{
	my ($node) = @_;
	local $SIG{PIPE} = 'IGNORE';
	my $rc = eval { $node->psql('postgres', 'SELECT 1') };
	return defined $rc && $rc == 0;
}

sub wait_until
{
	my ($check, $timeout, $what) = @_;
	my $deadline = time() + ($timeout // 60);
	while (time() < $deadline)
	{
		return 1 if $check->();
		usleep(200_000);
	}
	diag("timed out waiting for " . ($what // 'condition'));
	return 0;
}

# The figures of a test for bench/RELIABILITY.md (make soak): a section
# appended to $REDTRACK_RELIABILITY_OUT when it is set, a diag otherwise.
# Rows are [label, value] pairs.
sub reliability_report
{
	my ($title, @rows) = @_;
	my $dialect = $ENV{REDTRACK_TEST_DIALECT} // 'redshift';
	my $text = "| $title ($dialect dialect) | |\n|---|---|\n"
	  . join('', map { "| $_->[0] | $_->[1] |\n" } @rows);
	diag($text);
	if (my $out = $ENV{REDTRACK_RELIABILITY_OUT})
	{
		open my $fh, '>>', $out or die "cannot append to $out: $!";
		print $fh "\n### $title\n\n$text";
		close $fh;
	}
	return;
}

1;
