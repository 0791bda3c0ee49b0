# redtrack.compression: zstd (the default), gzip or none.  Under each
# setting a table lands identical in the warehouse, its files are named by
# their format (.csv.zst, .csv.gz, .csv) and decode to the rows, and the
# manifest lists exactly them.  A replication keeps the format it was
# exported with: exported under gzip, it still loads after the setting
# changed to zstd (and the other way round), because the load reads the
# format from the files' names, not from the current setting.
use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/lib";
use JSON::PP;
use PostgreSQL::Test::Utils;
use RedtrackTest;
use Test::More;

my $dialect = $ENV{REDTRACK_TEST_DIALECT} // 'redshift';
my $pg = ($dialect eq 'postgres');
my $node = new_source('compression', dialect => $dialect);
my $schema = target_schema();
my $bucket = stack()->{bucket};
clear_faults();

sub sql { return $node->safe_psql('postgres', $_[0]); }

# Download an exported file; its bytes decompressed as its name says.
sub file_bytes
{
	my ($key) = @_;
	my $dir = PostgreSQL::Test::Utils::tempdir();
	my ($ok, $out, $err) = aws_cli('s3', 'cp', "s3://$bucket/$key", "$dir/f");
	die "download of $key failed: $err" unless $ok;
	my $cmd = $key =~ /\.zst$/ ? [ 'zstd', '-dcq', "$dir/f" ] : $key =~ /\.gz$/ ? [ 'gzip', '-dc', "$dir/f" ] : [ 'cat', "$dir/f" ];
	my $data;
	IPC::Run::run($cmd, '>', \$data) or die "@$cmd failed for $key";
	return $data;
}

# The replication's data files (rows and deletes), and the ones its
# manifests list.
sub files_of
{
	my ($rid) = @_;
	my $prefix = sql("SELECT s3_key FROM redtrack.replications WHERE id = $rid");
	my $keys = s3_keys($prefix);
	my @files = sort grep { !/manifest\.json$/ } keys %$keys;
	my @listed;
	for my $manifest (grep { exists $keys->{"$prefix$_"} } 'manifest.json', 'deletes.manifest.json')
	{
		push @listed, map { $_->{url} =~ s{^s3://\Q$bucket\E/}{}r }
		  @{ decode_json(file_bytes("$prefix$manifest"))->{entries} };
	}
	return (\@files, [ sort @listed ]);
}

my $columns = 'id, label, amount, at, flag';
sub same
{
	my ($message) = @_;
	return compare_tables($node, "SELECT $columns FROM items ORDER BY id",
		"SELECT $columns FROM $schema.items ORDER BY id", $message);
}

# Values that show a damaged byte: quotes, commas, line breaks, 4-byte
# UTF-8, NULLs, empty strings; enough rows for several chunks per slice.
sql(qq{
CREATE TABLE items (id bigint PRIMARY KEY, label text, amount numeric(12,2), at timestamptz, flag boolean,
	updated_at timestamptz NOT NULL DEFAULT clock_timestamp());
INSERT INTO items (id, label, amount, at, flag)
SELECT g, CASE g % 7 WHEN 0 THEN NULL WHEN 1 THEN '' WHEN 2 THEN 'say "hi", then' || chr(10) || 'leave'
	WHEN 3 THEN 'ünïcødé 😀 𝄞 ' || g ELSE md5(g::text) || repeat(' x', g % 40) END,
	CASE WHEN g % 11 = 0 THEN NULL ELSE (g * 1.25)::numeric(12,2) END,
	timestamptz '2024-01-01 00:00:00+00' + g * interval '1 minute', g % 3 = 0
FROM generate_series(1, 30000) g;
SELECT rrr_register('items', 'timed', track_deletes => true, target_table => '$schema.items');
});

my %suffix = (zstd => '.csv.zst', gzip => '.csv.gz', none => '.csv');
my $round = 0;
for my $codec ('zstd', 'gzip', 'none')
{
	$round++;
	# Each run carries changes: new rows, updated rows, a deleted row.
	sql(qq{INSERT INTO items (id, label, amount, at, flag)
		SELECT g, '$codec ' || g, g, now(), true FROM generate_series(100000 * $round, 100000 * $round + 999) g;
		UPDATE items SET label = 'updated under $codec', updated_at = clock_timestamp() WHERE id % 97 = $round;
		DELETE FROM items WHERE id = $round * 13;}) if $round > 1;
	my $r = sql("SET redtrack.compression = '$codec'; "
		  . "SELECT replication_id || '|' || state || '|' || COALESCE(error, '') FROM rrr_replicate('items')");
	like($r, qr/^\d+\|imported\|$/, "$codec: replicated") or diag($r);
	my ($rid) = split /\|/, $r;
	my ($parts, $listed) = files_of($rid);
	ok((grep { m{/part-} } @$parts) && !grep({ substr($_, -length $suffix{$codec}) ne $suffix{$codec} } @$parts),
		"$codec: every file is named $suffix{$codec}") or diag(join ', ', @$parts);
	is_deeply($listed, $parts, "$codec: the manifests list exactly these files");
	my $lines = 0;
	for my $part (grep { m{/part-} } @$parts)
	{
		my $csv = eval { parse_csv(file_bytes($part), empty_is_null => $pg) };
		$lines += @$csv if $csv;
	}
	is($lines, sql("SELECT rows FROM redtrack.replications WHERE id = $rid"),
		"$codec: the files decode to the replication's rows");
	same("$codec: the warehouse holds the source's rows");
}

# The default is zstd.
is(sql('SHOW redtrack.compression'), 'zstd', 'redtrack.compression defaults to zstd');
my ($ok, $stdout, $stderr) = $node->psql('postgres', "SET redtrack.compression = 'lz4'");
like($stderr, qr/invalid value for parameter "redtrack.compression": "lz4".*Available values: zstd, gzip, none/s,
	'an unknown codec is refused, with the choices');

# ---------------------------------------------------------------------------
# A replication loads in the format it was exported with, whatever the
# setting says when it is imported (a retry in a later run).
# ---------------------------------------------------------------------------
for my $switch ([ 'gzip', 'zstd' ], [ 'zstd', 'none' ], [ 'none', 'gzip' ])
{
	my ($from, $to) = @$switch;
	sql(qq{UPDATE items SET label = 'exported under $from', updated_at = clock_timestamp() WHERE id % 89 = 0;
		INSERT INTO items (id, label, amount, at, flag) VALUES ((SELECT max(id) + 1 FROM items), '$from', 1, now(), false)});
	my $r = sql("SET redtrack.compression = '$from'; SELECT replication_id || '|' || state FROM rrr_export('items')");
	like($r, qr/^\d+\|uploaded$/, "exported under $from") or diag($r);
	my ($rid) = split /\|/, $r;
	$r = sql("SET redtrack.compression = '$to'; SELECT replication_id || '|' || state || '|' || COALESCE(error, '') FROM rrr_import('items')");
	is($r, "$rid|imported|", "imported after switching to $to: the same replication loads");
	my ($parts) = files_of($rid);
	ok(!grep({ substr($_, -length $suffix{$from}) ne $suffix{$from} } @$parts), "its files are still $suffix{$from}");
	same("exported under $from, imported under $to: the warehouse holds the source's rows");
}

$node->stop;
warehouse_sql("DROP SCHEMA IF EXISTS $schema CASCADE; DROP SCHEMA IF EXISTS ${schema}_loads CASCADE");
done_testing();
