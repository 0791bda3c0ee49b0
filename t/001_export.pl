# The export pipeline against the S3 stand-in: exact CSV for awkward
# values, multipart uploads, slices and file sizes, late commits, retries
# that keep their window, S3 faults, and interrupts.
use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/lib";
use JSON::PP;
use PostgreSQL::Test::Utils;
use RedtrackTest;
use Test::More;
use Time::HiRes qw(time usleep);

my $dialect = $ENV{REDTRACK_TEST_DIALECT} // 'redshift';
my $node = new_source('export', dialect => $dialect);
my $schema = target_schema();
my $pg = ($dialect eq 'postgres');
clear_faults();

sub replicate
{
	my ($table, $fn) = @_;
	$fn //= 'rrr_replicate';
	return $node->safe_psql('postgres',
		"SELECT replication_id || '|' || state || '|' || rows || '|' || COALESCE(error, '') FROM $fn('$table')");
}

sub files_of
{
	my ($replication_id) = @_;
	my $key = $node->safe_psql('postgres', "SELECT s3_key FROM redtrack.replications WHERE id = $replication_id");
	my $keys = s3_keys($key);
	return ($key, $keys);
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
# Every awkward value, byte for byte in the CSV.
# ---------------------------------------------------------------------------
$node->safe_psql('postgres', qq{
CREATE TABLE awkward (
	id bigint PRIMARY KEY,
	t text, v varchar(40), c char(5), n numeric, n30 numeric(38,8), f8 float8, f4 real,
	b boolean, d date, ts timestamp, tstz timestamptz, j jsonb, a int[], u uuid, by bytea,
	iv interval, updated_at timestamptz NOT NULL DEFAULT now());
INSERT INTO awkward (id, t, v, c, n, n30, f8, f4, b, d, ts, tstz, j, a, u, by, iv) VALUES
 (1, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL),
 (2, '', '', '', 0, 0, 0, 0, false, '2024-02-29', '2024-02-29 00:00:00', '2024-02-29 00:00:00+00',
	 '{}', '{}', '00000000-0000-0000-0000-000000000000', '', '0'),
 (3, E'\\\\N', '\\N', 'NULL', -1.5, 12345678901234567890123456789.12345678, 1e300, 3.4e38, true,
	 '0001-01-01', '1999-12-31 23:59:59.999999', '2024-05-01 12:34:56.789+02', '{"a": "\\\\N"}',
	 '{1,NULL,3}', 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11', '\\x00ff10', '1 year 2 mons 3 days 04:05:06.7'),
 (4, 'say "hi", then
leave', 'comma, "quote"', 'a"b', 3.14159265358979323846264338327950288, 99999999999999999999999999999.99999999,
	 -0.0, 'NaN', true, 'infinity', 'infinity', '-infinity', '{"k": [1, "two\\n", null]}', '{{1,2},{3,4}}', NULL,
	 '\\x5c4e', '-1 day -02:00:00'),
 (5, E'back\\\\slash\\r\\nCRLF\\ttab', 'ünïcødé 😀 𝄞', 'ü😀', 12345678901234567890.1234567890, NULL, 1.5, -1.5,
	 false, '9999-12-31', '2024-07-04 15:30:00', '2024-01-01 00:00:00-11', '[1, 2]', NULL, NULL, NULL,
	 '100 years'),
 (6, repeat('x', 100000), repeat('é', 40), NULL, 'NaN', NULL, 'Infinity', '-Infinity', NULL, NULL, NULL,
	 '2024-06-30 23:59:59.5+05:30', NULL, NULL, NULL, NULL, NULL);
SELECT rrr_register('awkward', 'timed', target_table => '$schema.awkward');
});
my $r = replicate('awkward', 'rrr_export');
like($r, qr/^\d+\|uploaded\|6\|$/, 'the awkward table is exported') or diag($r);
my ($rid) = split /\|/, $r;
my ($prefix, $keys) = files_of($rid);
ok(exists $keys->{"${prefix}manifest.json"}, 'a manifest is written');
my @parts = sort grep { /part-\d+\.csv\.zst$/ } keys %$keys;
ok(@parts && !grep({ /part-/ && !/\.csv\.zst$/ } keys %$keys), 'the files are zstd (the default), named .csv.zst');
is(scalar(@parts) % 4, 0, 'a multiple of redtrack.slices (4) files');

my @rows;
push @rows, @{ parse_csv(exported_csv($_), empty_is_null => $pg) } for @parts;
@rows = sort { $a->[0] <=> $b->[0] } @rows;
is(scalar @rows, 6, 'every row is in the files, once');

# What each field must be, computed by the source itself in the engine's
# settings (UTC, ISO), as JSON so no byte is lost on the way (char(n) with
# its padding, as its output function writes it).
my $expected = decode_json($node->safe_psql('postgres', q{
SET TimeZone = 'UTC'; SET DateStyle = 'ISO, YMD'; SET extra_float_digits = 1;
SELECT json_agg(json_build_array(id::text, t, v, CASE WHEN c IS NOT NULL THEN concat(c) END, n::text, n30::text, f8::text, f4::text,
	CASE WHEN b THEN 't' WHEN NOT b THEN 'f' END, d::text, ts::text, tstz::text, j::text, a::text,
	u::text, encode(by, 'hex'), iv::text,
	(extract(epoch FROM iv) * 1000000)::bigint::text) ORDER BY id) FROM awkward}));

my @redshift_clamp = ('0001-01-01', '9999-12-31', '0001-01-01 00:00:00', '9999-12-31 23:59:59.999999');
my $mismatches = 0;
for my $i (0 .. $#rows)
{
	my ($got, $want) = ($rows[$i], $expected->[$i]);
	my @want = @$want[0 .. 16];
	my $micros = $want->[17];
	# Where the dialects differ from the plain text form:
	if (!$pg)
	{
		$want[12] = defined $want[12] ? $want[12] : undef;
		$want[16] = defined $want[16] ? $micros : undef;                           # interval: microseconds
		$want[1] = substr($want[1], 0, 65535) if defined $want[1];                  # VARCHAR(65535) bytes (ASCII here)
		$want[4] = undef if defined $want[4] && $want[4] =~ /NaN|Infinity/;        # DECIMAL has no NaN
		$want[4] = '3.1415926536' if defined $want[4] && $want[4] =~ /^3\.14159/;   # DECIMAL(38,10): rounded
		$want[$_] = undef for grep { defined $want[$_] && $want[$_] =~ /NaN|Infinity/ } 6, 7;    # REAL/DOUBLE: NULL
		$want[15] = undef if defined $want[15] && $want[15] eq '';                # an empty VARBYTE loads as NULL
		$want[9] = { 'infinity' => '9999-12-31', '-infinity' => '0001-01-01' }->{$want[9]} // $want[9] if defined $want[9];
		$want[10] = '9999-12-31 23:59:59.999999' if defined $want[10] && $want[10] eq 'infinity';
		$want[11] = '0001-01-01 00:00:00+00' if defined $want[11] && $want[11] eq '-infinity';
	}
	else
	{
		$want[15] = defined $want[15] ? "\\x$want[15]" : undef;                    # bytea text form
	}
	# timestamptz travels in UTC with +00, which is what the UTC text form is
	for my $k (0 .. 16)
	{
		my ($g, $w) = ($got->[$k], $want[$k]);
		next if (!defined $g && !defined $w) || (defined $g && defined $w && $g eq $w);
		$mismatches++;
		diag(sprintf('row %s column %d: got %s, want %s', $want[0], $k,
			defined $g ? "'" . substr($g, 0, 60) . "'" : 'NULL', defined $w ? "'" . substr($w, 0, 60) . "'" : 'NULL'));
	}
}
is($mismatches, 0, "every awkward value is exact in the CSV ($dialect dialect)");

# The raw bytes: NULL is a lone 0x00 (Redshift) or an empty field (PostgreSQL),
# the empty string is "", and the literal \N is quoted.
my $raw = join '', map { exported_csv($_) } @parts;
if ($pg)
{
	like($raw, qr/^1,,,,/m, 'NULLs are empty unquoted fields (PostgreSQL dialect)');
}
else
{
	like($raw, qr/^1,\0,\0,\0,/m, 'NULLs are a lone NUL byte (Redshift dialect)');
}
like($raw, qr/^2,"","",/m, 'empty strings are ""');
like($raw, qr/^3,"\\N","\\N",/m, 'a literal \\N is an ordinary quoted string');

my $counts = $node->safe_psql('postgres',
	"SELECT rows, truncated_values, clamped_values FROM redtrack.replications WHERE id = $rid");
# Redshift: the 100 000-byte text is cut to VARCHAR(65535) and pi rounded to
# DECIMAL(38,10)'s scale; three infinite dates and timestamps, a NaN numeric,
# three NaN or infinite floats and an empty bytea are replaced.
is($counts, $pg ? '6|0|0' : '6|2|8',
	'values changed on the way are counted (long text, rounded decimal; infinite dates, NaN and infinite numbers, empty bytea)');

# ---------------------------------------------------------------------------
# Multipart: a file larger than one part, and nothing left unfinished.
# ---------------------------------------------------------------------------
$node->safe_psql('postgres', q{
CREATE TABLE big (id bigint PRIMARY KEY, payload text NOT NULL, updated_at timestamptz NOT NULL DEFAULT now());
INSERT INTO big (id, payload)
SELECT g, md5(g::text) || md5((g * 7)::text) || md5((g * 13)::text) FROM generate_series(1, 300000) g;
SELECT rrr_register('big', 'full');
SET redtrack.slices = 1;
});
$r = $node->safe_psql('postgres', "SET redtrack.slices = 1; SELECT replication_id || '|' || state || '|' || rows FROM rrr_export('big')");
like($r, qr/^\d+\|uploaded\|300000$/, 'a 300 000-row table is exported') or diag($r);
($rid) = split /\|/, $r;
($prefix, $keys) = files_of($rid);
@parts = grep { /part-/ } keys %$keys;
is(scalar @parts, 1, 'one slice, one file');
my ($ok, $head) = aws_cli('s3api', 'head-object', '--bucket', stack()->{bucket}, '--key', $parts[0]);
my $etag = $ok ? decode_json($head)->{ETag} : '';
like($etag, qr/-([2-9]|\d\d+)"$/, "the file went up in several parts (ETag $etag)");
my $data = exported_csv($parts[0]);
my $lines = () = $data =~ /\n/g;
is($lines, 300000, 'the multipart file holds every row');
is(scalar @{ s3_admin('GET', 'uploads')->{uploads} }, 0, 'no unfinished multipart upload remains');

# ---------------------------------------------------------------------------
# Slices and the file size limit.
# ---------------------------------------------------------------------------
$node->safe_psql('postgres', "SELECT rrr_unregister('big'); SELECT rrr_register('big', 'full', target_table => 'big2')");
$r = $node->safe_psql('postgres',
	"SET redtrack.slices = 3; SET redtrack.max_file_size = '512kB'; SELECT replication_id || '|' || state FROM rrr_export('big')");
($rid) = split /\|/, $r;
($prefix, $keys) = files_of($rid);
my @sizes = map { $keys->{$_} } sort grep { /part-/ } keys %$keys;
ok(@sizes > 3, scalar(@sizes) . ' files for a 512 kB limit');
is(scalar(@sizes) % 3, 0, 'a multiple of 3 slices');
ok(!(grep { $_ > 512 * 1024 } @sizes), 'no file exceeds redtrack.max_file_size');
# Files are numbered in the order they are opened: the last three (one per
# slice) hold what was left after the last move to new files.
my @full = sort { $a <=> $b } @sizes[0 .. $#sizes - 3];
ok(@full && $full[-1] < 1.3 * $full[0], "files are about equal in size ($full[0] .. $full[-1] bytes)");

# ---------------------------------------------------------------------------
# Late commits: a transaction open across a replication still arrives.
# ---------------------------------------------------------------------------
for my $strategy ('timed', 'identity')
{
	my $t = "late_$strategy";
	$node->safe_psql('postgres', qq{
CREATE TABLE $t (id bigserial PRIMARY KEY, note text, updated_at timestamptz NOT NULL DEFAULT now());
CREATE INDEX ON $t (updated_at);
SELECT rrr_register('$t', '$strategy', target_table => '$schema.$t');
INSERT INTO $t (note) VALUES ('before');
});
	like(replicate($t), qr/\|imported\|1\|$/, "$strategy: first replication");

	# A transaction starts, takes its id and timestamp, and stays open.
	my $open = $node->background_psql('postgres');
	$open->query_safe("BEGIN; INSERT INTO $t (note) VALUES ('late')");
	usleep(50_000);
	# Others commit newer rows (larger ids, later timestamps) meanwhile.
	$node->safe_psql('postgres', "INSERT INTO $t (note) SELECT 'after ' || g FROM generate_series(1, 5) g");
	like(replicate($t), qr/\|imported\|\d+\|$/, "$strategy: replication while a transaction is open");
	$open->query_safe('COMMIT');
	$open->quit;
	like(replicate($t), qr/\|imported\|\d+\|$/, "$strategy: replication after the late commit");
	compare_tables($node, "SELECT id, note FROM $t ORDER BY id", "SELECT id, note FROM $schema.$t ORDER BY id",
		"$strategy: the late-committed row arrived");
}

# ---------------------------------------------------------------------------
# A failed upload is retried with the same window.
# ---------------------------------------------------------------------------
$node->safe_psql('postgres', qq{
CREATE TABLE windowed (id int PRIMARY KEY, updated_at timestamptz NOT NULL DEFAULT now());
SELECT rrr_register('windowed', 'timed', target_table => '$schema.windowed');
INSERT INTO windowed SELECT g FROM generate_series(1, 10) g;
});
s3_admin('PUT', 'faults', { rules => [ { method => 'PUT', path => 'manifest\\.json', count => 100, action => '500' } ] });
$r = $node->psql('postgres', "SELECT state FROM rrr_replicate('windowed')");
my $failed = $node->safe_psql('postgres',
	"SELECT id || '|' || state || '|' || failed_phase || '|' || window_last FROM redtrack.replications WHERE source = 'windowed'::regclass ORDER BY id DESC LIMIT 1");
like($failed, qr/\|failed\|uploading\|/, 'an S3 failure while uploading fails the replication in that phase') or diag($failed);
my ($frid, undef, undef, $window_last) = split /\|/, $failed;
clear_faults();
$node->safe_psql('postgres', "INSERT INTO windowed SELECT g FROM generate_series(11, 20) g");
$r = replicate('windowed');
my $retried = $node->safe_psql('postgres', "SELECT state || '|' || retries || '|' || window_last || '|' || rows FROM redtrack.replications WHERE id = $frid");
is($retried, "imported|1|$window_last|10", 'the retry re-used its window: the same upper bound, the same 10 rows');
like(replicate('windowed'), qr/\|imported\|\d+\|$/, 'the next replication takes the newer rows');
compare_tables($node, 'SELECT id FROM windowed ORDER BY id', "SELECT id FROM $schema.windowed ORDER BY id",
	'windowed: source and target agree after the retry');

# ---------------------------------------------------------------------------
# S3 faults: 500/503 answers and dropped connections still give a complete,
# correct upload, and no orphaned multipart upload.
# ---------------------------------------------------------------------------
s3_admin('DELETE', 'stats');
s3_admin('PUT', 'faults', { seed => 7, error_rate => 0.2, error_statuses => [ 500, 503 ], reset_rate => 0.05 });
$node->safe_psql('postgres', qq{SELECT rrr_unregister('big'); SELECT rrr_register('big', 'full', target_table => '$schema.big')});
$r = $node->safe_psql('postgres', "SET redtrack.slices = 2; SELECT state || '|' || rows FROM rrr_replicate('big')");
my $stats = s3_admin('GET', 'stats');
clear_faults();
is($r, 'imported|300000', 'the replication completes despite the faults') or diag($r);
my $injected = 0;
$injected += $_ for values %{ $stats->{faults} // {} };
ok($injected >= 5, "faults were injected ($injected)") or diag(encode_json($stats));
is(scalar @{ s3_admin('GET', 'uploads')->{uploads} }, 0, 'no orphaned multipart upload after faults');
compare_tables($node, 'SELECT count(*), sum(length(payload)), md5(string_agg(payload, \'\' ORDER BY id)) FROM big',
	"SELECT count(*), sum(length(payload)), md5(string_agg(payload, '' ORDER BY id)) FROM $schema.big",
	'the table arrived intact through the faults');

# ---------------------------------------------------------------------------
# An interrupt stops a transfer promptly, and the next run completes.
# ---------------------------------------------------------------------------
s3_admin('PUT', 'faults', { latency_ms => 5000 });
$node->safe_psql('postgres', "UPDATE big SET updated_at = now() WHERE id % 2 = 0");
my $session = $node->background_psql('postgres', on_error_stop => 0);
$session->query_until(qr/started/, "\\echo started\nSELECT state FROM rrr_replicate('big');\n");
my $engine;
wait_until(sub {
	$engine = $node->safe_psql('postgres', "SELECT pid FROM pg_stat_activity WHERE backend_type = 'redtrack engine'");
	return $engine ne '';
}, 30, 'the engine worker');
usleep(500_000);
my $client = $node->safe_psql('postgres',
	"SELECT pid FROM pg_stat_activity WHERE query LIKE 'SELECT state FROM rrr_replicate%' AND pid <> pg_backend_pid()");
my $t0 = time();
$node->safe_psql('postgres', "SELECT pg_cancel_backend($client)");
wait_until(sub {
	$node->safe_psql('postgres', "SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'redtrack engine'") eq '0';
}, 30, 'the engine to stop');
my $elapsed = time() - $t0;
ok($elapsed < 3, sprintf('a cancelled replication stopped in %.2f s, during a 5 s S3 request', $elapsed));
$session->quit;
clear_faults();
like(replicate('big'), qr/\|imported\|/, 'the next replication after the interrupt completes');
is(scalar @{ s3_admin('GET', 'uploads')->{uploads} }, 0, 'no orphaned multipart upload after the interrupt');
compare_tables($node, 'SELECT count(*), md5(string_agg(payload, \'\' ORDER BY id)) FROM big',
	"SELECT count(*), md5(string_agg(payload, '' ORDER BY id)) FROM $schema.big", 'big: source and target agree');

warehouse_sql("DROP SCHEMA IF EXISTS $schema CASCADE; DROP SCHEMA IF EXISTS ${schema}_loads CASCADE");
$node->stop;
done_testing();
