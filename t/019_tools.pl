# The standalone tools: rrr_export_query streams any read-only query to S3
# as parts plus a manifest, and rrr_load loads such files (or any manifest
# or prefix in the bucket) into a warehouse table once per source.  Round
# trips in CSV and JSON, rows compared; hostile input: writes, destinations
# outside the bucket, bad manifests, repeated sources, missing privileges.
use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/lib";
use PostgreSQL::Test::Utils;
use RedtrackTest;
use Test::More;

my $dialect = $ENV{REDTRACK_TEST_DIALECT} // 'redshift';
my $st = stack();
my $schema = target_schema();
my $node = new_source('tools', dialect => $dialect);
my $exports = 'tap/' . RedtrackTest::run_id() . '/exports';
my $bucket = $st->{bucket};
clear_faults();

sub sql { return $node->safe_psql('postgres', $_[0]); }

# (exit code, stdout, stderr) of SQL that may fail.
sub try_sql
{
	my ($query) = @_;
	my ($out, $err) = ('', '');
	my $rc = $node->psql('postgres', $query, stdout => \$out, stderr => \$err);
	return ($rc, $out, $err);
}

sql(q{
CREATE TABLE orders (id int PRIMARY KEY, customer text, amount numeric(10,2), at timestamptz, note text, flags jsonb);
INSERT INTO orders
  SELECT g, 'customer ' || (g % 97),
         CASE WHEN g % 13 = 0 THEN NULL ELSE (g * 1.25)::numeric(10,2) END,
         timestamptz '2024-05-01 12:00:00+00' + g * interval '37 seconds',
         CASE g % 5 WHEN 0 THEN NULL WHEN 1 THEN '' WHEN 2 THEN 'say "hi", then, leave'
              WHEN 3 THEN E'two\nlines' ELSE 'grüße \\N' END,
         CASE WHEN g % 7 = 0 THEN NULL ELSE jsonb_build_object('g', g, 'tags', jsonb_build_array('a', g % 3)) END
  FROM generate_series(1, 3000) g;
});

my $columns = q{{"id": {"type": "integer", "constraint": "not null"}, "customer": {"type": "varchar(64)"},
	"amount": {"type": "decimal(10,2)"}, "at": {"type": "timestamptz"}, "note": {"type": "varchar(256)"},
	"flags": {"type": "super"}}};
my $compare_source = 'SELECT id, customer, amount, at, note FROM orders ORDER BY id';
sub compare_target
{
	my ($table, $what) = @_;
	return compare_tables($node, $compare_source, "SELECT id, customer, amount, at, note FROM $schema.$table ORDER BY id", $what);
}

# ---- CSV round trip ---------------------------------------------------------
my $r = sql(qq{SET redtrack.slices = 2;
	SELECT manifest_url || '|' || files || '|' || rows || '|' || (bytes > 0)
	FROM rrr_export_query('SELECT id, customer, amount, at, note, flags FROM orders', 's3://$bucket/$exports/csv/')});
is($r, "s3://$bucket/$exports/csv/manifest.json|2|3000|true",
	'csv export: a manifest, one part per slice, every row');
my $keys = s3_keys("$exports/csv/");
is(scalar(keys %$keys), 3, 'three objects under the destination');
is(scalar(grep { m{^\Q$exports\E/csv/(manifest\.json|part-[0-9a-f]{8}-000[12]\.csv\.(?:zst|gz))$} } keys %$keys), 3,
	'the parts (named after this export) and the manifest are under the destination');

$r = sql(qq{SELECT rrr_load('$schema.orders_csv', 's3://$bucket/$exports/csv/manifest.json', columns => '$columns', sortkey => 'at', distkey => 'id')});
is($r, '3000', 'rrr_load creates the target from columns and loads every row');
compare_target('orders_csv', 'csv round trip');
is(warehouse_sql("SELECT count(*) FROM $schema.orders_csv WHERE flags IS NOT NULL"),
	sql('SELECT count(*) FROM orders WHERE flags IS NOT NULL'), 'jsonb arrives in the super column, NULLs stay NULL');

# The same source again: nothing, with a NOTICE.
my ($rc, $out, $err) = try_sql(qq{SELECT rrr_load('$schema.orders_csv', 's3://$bucket/$exports/csv/manifest.json')});
is($out, '0', 'the same source a second time loads nothing');
like($err, qr/NOTICE:.*was already loaded into/, 'and says so in a NOTICE');
is(warehouse_sql("SELECT count(*) FROM $schema.orders_csv"), '3000', 'the target still holds each row once');

# The same files through their prefix are the same source (review finding 6).
($rc, $out, $err) = try_sql(qq{SELECT rrr_load('$schema.orders_csv', '$exports/csv/')});
is($out, '0', 'the same files named by their prefix load nothing');
like($err, qr/NOTICE:.*was already loaded into/, 'and say so');
is(warehouse_sql("SELECT count(*) FROM $schema.orders_csv"), '3000', 'the target still holds each row once after a prefix load');

# force loads it again; truncate empties the target first, in the same transaction.
is(sql(qq{SELECT rrr_load('$schema.orders_csv', 's3://$bucket/$exports/csv/manifest.json', force => true)}), '3000', 'force loads again');
is(warehouse_sql("SELECT count(*) FROM $schema.orders_csv"), '6000', 'every row twice now');
is(sql(qq{SELECT rrr_load('$schema.orders_csv', 's3://$bucket/$exports/csv/manifest.json', truncate => true, force => true)}),
	'3000', 'truncate + force');
compare_target('orders_csv', 'after truncate');

# truncate rolls back with a failed load: the rows stay.
($rc, $out, $err) = try_sql(qq{SELECT rrr_load('$schema.orders_csv', 's3://$bucket/$exports/nothing-here.manifest', truncate => true)});
isnt($rc, 0, 'a load of a missing manifest fails');
like($err, qr/manifest .*nothing-here\.manifest does not exist/, 'naming the manifest');
is(warehouse_sql("SELECT count(*) FROM $schema.orders_csv"), '3000', 'and truncated nothing');

# ---- JSON round trip, with a manifest of the caller's choosing ---------------
$r = sql(qq{SELECT files || '|' || rows || '|' || manifest_url FROM rrr_export_query(
	'SELECT id, customer, amount, at, note, flags FROM orders WHERE id > 0', '$exports/json', 'json',
	manifest => 'orders.manifest')});
is($r, "4|3000|s3://$bucket/$exports/json/orders.manifest", 'json export: a key inside the bucket, a custom manifest name');
$r = sql(qq{SELECT rrr_load('$schema.orders_json', 's3://$bucket/$exports/json/orders.manifest', 'json', columns => '$columns')});
is($r, '3000', 'json loads');
compare_target('orders_json', 'json round trip');
is(warehouse_sql("SELECT count(*) FROM $schema.orders_json WHERE flags IS NOT NULL"),
	sql('SELECT count(*) FROM orders WHERE flags IS NOT NULL'), 'json: nested objects arrive in the super column');

# A prefix: every data file under it (the manifest is not data).
$r = sql(qq{SELECT rrr_load('$schema.orders_prefix', '$exports/json/', 'json', columns => '$columns')});
is($r, '3000', 'a prefix loads every data file under it');
compare_target('orders_prefix', 'prefix load');

# New columns are added to an existing target.
my $more = $columns =~ s/\}\}$/}, "region": {"type": "varchar(8)"}}/r;
($rc, $out, $err) = try_sql(qq{SELECT rrr_load('$schema.orders_prefix', '$exports/json/', 'json', columns => '$more', force => true)});
is($out, '3000', 'a load with a new column');
like($err, qr/added column "region"/, 'adds the column');
is(warehouse_sql("SELECT count(*) FROM information_schema.columns WHERE table_schema = '$schema' AND table_name = 'orders_prefix' AND column_name = 'region'"),
	'1', 'the column is on the target');

# Files follow max_file_size: all slices move to new files together.
$r = sql(qq{SET redtrack.slices = 3; SET redtrack.max_file_size = '64kB';
	SELECT files || '|' || rows FROM rrr_export_query(
	  'SELECT g AS "Id", md5(g::text) || md5((g * 7)::text) AS "Mixed_Case" FROM generate_series(1, 40000) g',
	  '$exports/big/', 'json')});
my ($files, $rows) = split /\|/, $r;
is($rows, '40000', 'a bigger export: every row');
ok($files > 3 && $files % 3 == 0, "max_file_size: more files than slices, a multiple of them ($files)");
$keys = s3_keys("$exports/big/");
ok(!(grep { $_ =~ /part-/ && $keys->{$_} > 2 * 65536 } keys %$keys), 'no part far past max_file_size');
$r = sql(qq{SELECT rrr_load('$schema.big', '$exports/big/manifest.json', 'json',
	columns => '{"id": {"type": "integer"}, "mixed_case": {"type": "varchar(64)"}}')});
is($r, '40000', 'upper-case column names load into lower-case columns (json, ignoring case)');
compare_tables($node, 'SELECT g, md5(g::text) || md5((g * 7)::text) FROM generate_series(1, 40000) g ORDER BY 1',
	"SELECT id, mixed_case FROM $schema.big ORDER BY 1", 'big json round trip');

# An empty result: an empty manifest, which loads no row.
$r = sql(qq{SELECT files || '|' || rows FROM rrr_export_query('SELECT id, customer FROM orders WHERE false', '$exports/empty/')});
is($r, '0|0', 'an empty result exports no part');
is(sql(qq{SELECT rrr_load('$schema.orders_csv', '$exports/empty/manifest.json')}), '0', 'and its manifest loads nothing');

# A cancel stops the export and removes what it wrote.
($rc, $out, $err) = try_sql(qq{SET statement_timeout = '1500ms'; SET redtrack.max_file_size = '64kB';
	SELECT * FROM rrr_export_query('SELECT g, repeat(md5(g::text), 20) FROM (SELECT generate_series(1, 50000000) AS g) s',
	  '$exports/cancel/')});
like($err, qr/canceling statement due to statement timeout/, 'a cancel stops a long export');
is_deeply(s3_keys("$exports/cancel/"), {}, 'and leaves nothing under the destination');
is(scalar(grep { index($_->{key}, "$exports/cancel/") == 0 } @{ s3_admin('GET', 'uploads')->{uploads} }), 0,
	'nor an unfinished multipart upload');

# ---- Hostile input -------------------------------------------------------------
for my $case (
	[ 'INSERT INTO orders VALUES (-1) RETURNING id', 'an INSERT' ],
	[ 'WITH d AS (DELETE FROM orders WHERE id = 1 RETURNING *) SELECT * FROM d', 'a data-modifying WITH' ],
	[ 'SELECT * FROM orders FOR UPDATE', 'FOR UPDATE' ],
	[ 'SELECT 1 AS a; SELECT 2 AS b', 'two statements' ])
{
	($rc, $out, $err) = try_sql(qq{SELECT * FROM rrr_export_query(\$q\$$case->[0]\$q\$, '$exports/w/')});
	like($err, qr/rrr_export_query runs only a read-only query/, "$case->[1] is refused");
}
sql(q{CREATE FUNCTION sneaky() RETURNS int LANGUAGE plpgsql VOLATILE AS $f$
	BEGIN DELETE FROM orders WHERE id = 2; RETURN 1; END $f$});
($rc, $out, $err) = try_sql(qq{SELECT * FROM rrr_export_query('SELECT sneaky()', '$exports/w/')});
like($err, qr/cannot execute DELETE in a read-only transaction/, 'a volatile function that writes is refused');
is(sql('SELECT count(*) FROM orders'), '3000', 'and nothing was written');
is(sql('SHOW transaction_read_only'), 'off', 'the session is read-write again afterwards');
is_deeply(s3_keys("$exports/w/"), {}, 'a refused export leaves nothing on S3');

for my $case (
	[ 's3://another-bucket/x/', qr/outside the bucket/, 'another bucket' ],
	[ 'https://example.com/x/', qr/not an S3 location in the configured bucket/, 'an absolute URL elsewhere' ],
	[ "$exports/../escape/", qr/has an empty, "\." or "\.\." segment/, 'a ".." segment' ],
	[ "/$exports/abs/", qr/begins with '\/'/, 'a leading slash' ],
	[ "$node->{redtrack_prefix}/mine/", qr/is inside redtrack\.s3_prefix/, "redtrack's own prefix" ],
	[ "$exports/csv/", qr/already holds 3 objects/, 'a destination that holds files' ])
{
	($rc, $out, $err) = try_sql(qq{SELECT * FROM rrr_export_query('SELECT 1 AS one', '$case->[0]')});
	like($err, $case->[1], "destination: $case->[2] is refused");
}
($rc, $out, $err) = try_sql(qq{SELECT rrr_load('$schema.x', 's3://another-bucket/m.manifest', columns => '$columns')});
like($err, qr/outside the bucket/, 'a source in another bucket is refused');

# Manifests that lie.
my ($part1) = sort grep { /part-/ } keys %{ s3_keys("$exports/csv/") };
my $dir = PostgreSQL::Test::Utils::tempdir();
my %manifests = (
	'broken.manifest' => ['{"entries": [ {"url": ', qr/is malformed: not JSON/, 'a manifest that is not JSON'],
	'noentries.manifest' => ['{"files": []}', qr/is malformed: it has no "entries" array/, 'a manifest without entries'],
	'missing.manifest' => [qq({"entries": [{"url": "s3://$bucket/$part1", "mandatory": true},
		{"url": "s3://$bucket/$exports/csv/part-0099.csv.gz", "mandatory": true}]}),
		qr/names s3:\/\/\S+part-0099\.csv\.gz, which does not exist/, 'a manifest naming a missing file'],
	'elsewhere.manifest' => ['{"entries": [{"url": "s3://another-bucket/x.csv.gz", "mandatory": true}]}',
		qr/outside the bucket/, 'a manifest naming a file in another bucket'],
	'twice.manifest' => [qq({"entries": [{"url": "s3://$bucket/$part1", "mandatory": true},
		{"url": "s3://$bucket/$part1", "mandatory": true}]}),
		qr/is malformed: it names s3:\/\/\S+part-[0-9a-f]{8}-0001\.csv\.(?:zst|gz) twice/, 'a manifest naming a file twice'],
);
for my $name (sort keys %manifests)
{
	my ($body, $expect, $what) = @{ $manifests{$name} };
	open my $fh, '>', "$dir/$name" or die;
	print $fh $body;
	close $fh;
	my ($ok, undef, $cli_err) = aws_cli('s3', 'cp', "$dir/$name", "s3://$bucket/$exports/bad/$name");
	ok($ok, "upload $name") or diag($cli_err);
	($rc, $out, $err) = try_sql(qq{SELECT rrr_load('$schema.orders_csv', 's3://$bucket/$exports/bad/$name', truncate => true)});
	like($err, $expect, "$what is refused");
}
is(warehouse_sql("SELECT count(*) FROM $schema.orders_csv"), '3000', 'none of them touched the target');

# A load that COPY rejects reports the rejected rows, as replication does.
sql(q{CREATE TABLE wide AS SELECT g AS id, repeat('x', 20) AS customer FROM generate_series(1, 5) g});
sql(qq{SELECT * FROM rrr_export_query('SELECT id, customer FROM wide', '$exports/wide/')});
sql(qq{SELECT * FROM rrr_export_query('SELECT id, left(customer, 4) AS customer FROM wide', '$exports/fits/')});
is(sql(qq{SELECT rrr_load('$schema.narrow', '$exports/fits/manifest.json',
	columns => '{"id": {"type": "integer"}, "customer": {"type": "varchar(4)"}}')}), '5', 'values that fit load');
($rc, $out, $err) = try_sql(qq{SELECT rrr_load('$schema.narrow', '$exports/wide/manifest.json', truncate => true)});
isnt($rc, 0, 'a load of values too long for the target fails');
is(warehouse_sql("SELECT count(*) FROM $schema.narrow"), '5', 'and its truncate rolled back with it');
if ($dialect eq 'redshift')
{
	like($err, qr/COPY into .*narrow.* failed.*\n.*DETAIL:\s+Rejected rows \((stl_load_errors|sys_load_error_detail)\):\s*\n\s*part-[0-9a-f]{8}-000\d\.csv\.(?:zst|gz) line 1, column customer: String length exceeds DDL length/,
		'with the rejected rows from stl_load_errors');
}
else
{
	like($err, qr/COPY into .*narrow.* failed: .*value too long/, 'with the warehouse\'s error');
}

unlike($err, qr/\Q$st->{secret_key}\E/, 'the failed COPY names no credential');

# A failed load leaves no DDL behind (review finding 8).
($rc, $out, $err) = try_sql(qq{SELECT rrr_load('$schema.narrow_new', '$exports/wide/manifest.json',
	columns => '{"id": {"type": "integer"}, "customer": {"type": "varchar(4)"}}')});
like($err, qr/COPY into .*narrow_new.* failed/, 'a load into a new table that COPY rejects fails');
is(warehouse_sql("SELECT count(*) FROM information_schema.tables WHERE table_schema = '$schema' AND table_name = 'narrow_new'"),
	'0', 'and leaves no table behind');
($rc, $out, $err) = try_sql(qq{SELECT rrr_load('$schema.narrow', '$exports/wide/manifest.json',
	columns => '{"id": {"type": "integer"}, "customer": {"type": "varchar(4)"}, "extra": {"type": "integer"}}')});
like($err, qr/COPY into .*narrow.* failed/, 'a load with a new column that COPY rejects fails');
is(warehouse_sql("SELECT count(*) FROM information_schema.columns WHERE table_schema = '$schema' AND table_name = 'narrow' AND column_name = 'extra'"),
	'0', 'and leaves no column behind');

# Redshift COPYs from a manifest redtrack wrote, not the caller's (review
# finding 9): the caller's manifest is read once, by redtrack.
s3_admin('PUT', 'faults', { rules => [ { method => 'GET', path => 'json/orders\\.manifest', count => 100, action => 'latency:1' } ] });
is(sql(qq{SELECT rrr_load('$schema.orders_json', '$exports/json/orders.manifest', 'json', force => true)}), '3000',
	'a manifest load');
is(s3_admin('GET', 'faults')->{rules}[0]{fired}, 1, 'reads the caller\'s manifest once');
clear_faults();

# A failed export removes its own files only; two exports to one
# destination at the same time do not both finish (review finding 5).
sub slow_export
{
	my ($sql) = @_;
	my %h = (out => '', err => '');
	$h{run} = IPC::Run::start([ 'psql', '-XAtq', '-d', $node->connstr('postgres'), '-c', $sql ],
		'>', \$h{out}, '2>', \$h{err});
	$node->poll_query_until('postgres', q{SELECT count(*) > 0 FROM pg_stat_activity WHERE wait_event = 'PgSleep'})
	  or die 'the slow export did not start';
	return \%h;
}
for my $case ([ 'race1', q{SET statement_timeout = '4s'; SELECT * FROM rrr_export_query('SELECT 1 AS s FROM pg_sleep(30)', '%s')},
		qr/canceling statement due to statement timeout/, 'a cancelled export' ],
	[ 'race2', q{SELECT * FROM rrr_export_query('SELECT 1 AS s FROM pg_sleep(4)', '%s')},
		qr/destination ".*race2\/" already holds \d+ objects?\n.*DETAIL:\s+Another export wrote there/, 'an export that finds another\'s files' ])
{
	my ($name, $slow_sql, $expect, $what) = @$case;
	my $slow = slow_export(sprintf($slow_sql, "$exports/$name/"));
	is(sql(qq{SELECT rows FROM rrr_export_query('SELECT id FROM orders', '$exports/$name/')}), '3000',
		"$name: another export to the destination finishes meanwhile");
	$slow->{run}->finish;
	like($slow->{err}, $expect, "$name: $what fails");
	ok(exists s3_keys("$exports/$name/")->{"$exports/$name/manifest.json"}, "$name: the other export's manifest is still there");
	($rc, $out, $err) = try_sql(qq{SELECT rrr_load('$schema.$name', '$exports/$name/manifest.json', columns => '{"id": {"type": "integer"}}')});
	is($out, '3000', "$name: and its files load whole");
	compare_tables($node, 'SELECT id FROM orders ORDER BY id', "SELECT id FROM $schema.$name ORDER BY id", "$name: rows")
	  if $rc == 0;
}

# The query calls no function of redtrack, directly or not (review finding 7).
sql(qq{CREATE FUNCTION load_inside() RETURNS bigint LANGUAGE plpgsql AS \$f\$
	BEGIN RETURN rrr_load('$schema.inside', '$exports/csv/manifest.json', columns => '{"id": {"type": "integer"}}'); END \$f\$});
sql(q{CREATE FUNCTION replicate_inside() RETURNS bigint LANGUAGE plpgsql AS $f$
	BEGIN PERFORM * FROM rrr_replicate_all(); RETURN 0; END $f$});
for my $case ([ qq{SELECT rrr_load('$schema.inside', '$exports/csv/manifest.json', columns => '{"id": {"type": "integer"}}') AS n}, 'a direct call' ],
	[ 'SELECT load_inside() AS n', 'a call through a function' ],
	[ 'SELECT replicate_inside() AS n', 'a replication started through a function' ],
	[ qq{SELECT * FROM rrr_export_query('SELECT 1 AS one', '$exports/inner/')}, 'a nested export' ])
{
	($rc, $out, $err) = try_sql(qq{SELECT * FROM rrr_export_query(\$q\$$case->[0]\$q\$, '$exports/outer/')});
	like($err, qr/rrr_export_query runs only a read-only query: it calls a function of redtrack/, "the query: $case->[1] of redtrack is refused");
}
is(warehouse_sql("SELECT count(*) FROM information_schema.tables WHERE table_schema = '$schema' AND table_name = 'inside'"),
	'0', 'nothing was loaded from inside an export');
is_deeply(s3_keys("$exports/inner/"), {}, 'nothing was exported from inside an export');

# Replication's files are never a source (review finding 2), and the tables
# replication writes are never a target (finding 3).
sql(qq{CREATE TABLE salaries (id int PRIMARY KEY, name text);
	INSERT INTO salaries VALUES (1, 'alice'), (2, 'bob');
	SELECT rrr_register('salaries', 'full', target_table => '$schema.salaries_rv')});
is(sql(q{SELECT rows FROM rrr_replicate('salaries')}), '2', 'a replicated table');
my $rv_key = sql(q{SELECT s3_key FROM redtrack.replications WHERE s3_key IS NOT NULL ORDER BY id DESC LIMIT 1});
like($rv_key, qr/^\Q$node->{redtrack_prefix}\E\//, 'its files are under redtrack.s3_prefix');
my $rv_file = (grep { !/manifest/ } sort keys %{ s3_keys($rv_key) })[0];
sql(q{CREATE ROLE loader LOGIN; GRANT redtrack_admin TO loader});
my $leak_columns = '{"id": {"type": "integer"}, "name": {"type": "varchar(32)"}}';
open my $lfh, '>', "$dir/leak.manifest" or die;
print $lfh qq({"entries": [{"url": "s3://$bucket/$rv_file", "mandatory": true}]});
close $lfh;
my ($lok, undef, $lerr) = aws_cli('s3', 'cp', "$dir/leak.manifest", "s3://$bucket/$exports/bad/leak.manifest");
ok($lok, 'upload leak.manifest') or diag($lerr);
for my $case ([ $rv_key, qr/source ".*" is inside redtrack\.s3_prefix/, 'the replication\'s prefix' ],
	[ "s3://$bucket/$rv_file", qr/source ".*" is inside redtrack\.s3_prefix/, 'a replication file as s3:// URL' ],
	[ "$exports/bad/leak.manifest", qr/a file of the manifest ".*" is inside redtrack\.s3_prefix/, 'a manifest naming a replication file' ],
	[ 'tap/' . RedtrackTest::run_id() . '/', qr/source \S+ holds \S+, which is inside redtrack\.s3_prefix/, 'a prefix above the replication\'s' ])
{
	($rc, $out, $err) = try_sql(qq{SET ROLE loader; SELECT rrr_load('$schema.leak', '$case->[0]', columns => '$leak_columns', force => true)});
	like($err, $case->[1], "source: $case->[2] is refused");
}
is(warehouse_sql("SELECT count(*) FROM information_schema.tables WHERE table_schema = '$schema' AND table_name = 'leak'"),
	'0', 'no replicated row reached a table of the caller');

sql(q{SELECT rrr_define_stream('tool_events', '{"a": {"type": "integer"}}')});
my $loads_before = warehouse_sql("SELECT count(*) FROM ${schema}_loads.redtrack_loads");
for my $case ([ "${schema}_loads.redtrack_loads", qr/target table \S+ is in redtrack\.loads_schema/, 'the load markers' ],
	[ "\"${schema}_LOADS\".other", qr/target table \S+ is in redtrack\.loads_schema/, 'another table of the loads schema' ],
	[ "$schema.salaries_rv", qr/target table \S+ is the target of "(public\.)?salaries"/, 'a replication target' ],
	[ "\"" . uc($schema) . "\".\"SALARIES_RV\"", qr/is the target of "(public\.)?salaries"/, 'a replication target, in capitals' ],
	[ 'public.tool_events', qr/is the target of "redtrack_streams\.tool_events"/, 'a stream\'s table' ])
{
	($rc, $out, $err) = try_sql(qq{SELECT rrr_load('$case->[0]', '$exports/csv/manifest.json', truncate => true, force => true,
		columns => '{"id": {"type": "integer"}, "extra": {"type": "integer"}}')});
	like($err, $case->[1], "target: $case->[2] is refused");
}
is(warehouse_sql("SELECT count(*) FROM ${schema}_loads.redtrack_loads"), $loads_before, 'the load markers are untouched');
compare_tables($node, 'SELECT id, name FROM salaries ORDER BY id', "SELECT id, name FROM $schema.salaries_rv ORDER BY id",
	'the replication target is untouched');
is(warehouse_sql("SELECT count(*) FROM information_schema.columns WHERE table_schema = '$schema' AND table_name = 'salaries_rv' AND column_name = 'extra'"),
	'0', 'and got no column');

# An empty redtrack.s3_prefix turns the tools off (review finding 11).
($rc, $out, $err) = try_sql(qq{SET redtrack.s3_prefix = ''; SELECT * FROM rrr_export_query('SELECT 1 AS one', '$exports/noprefix/')});
like($err, qr/redtrack\.s3_prefix is empty/, 'rrr_export_query refuses an empty prefix');
is_deeply(s3_keys("$exports/noprefix/"), {}, 'and writes nothing');
($rc, $out, $err) = try_sql(qq{SET redtrack.s3_prefix = ''; SELECT rrr_load('$schema.noprefix', '$rv_key', columns => '$leak_columns')});
like($err, qr/redtrack\.s3_prefix is empty/, 'rrr_load refuses an empty prefix');
is(warehouse_sql("SELECT count(*) FROM information_schema.tables WHERE table_schema = '$schema' AND table_name = 'noprefix'"),
	'0', 'and loads nothing');

# Privileges: the query runs as the caller.
sql(q{CREATE ROLE exporter LOGIN; GRANT redtrack_admin TO exporter; CREATE TABLE secret (v text); INSERT INTO secret VALUES ('s');
	GRANT SELECT ON orders TO exporter});
($rc, $out, $err) = try_sql(qq{SET ROLE exporter; SELECT * FROM rrr_export_query('SELECT * FROM orders JOIN secret ON true', '$exports/priv/')});
like($err, qr/permission denied for table secret/, 'a caller without SELECT on a table in the query is refused');
is_deeply(s3_keys("$exports/priv/"), {}, 'and nothing was written');
$r = sql(qq{SET ROLE exporter; SELECT rows FROM rrr_export_query('SELECT id FROM orders', '$exports/priv-ok/')});
is($r, '3000', 'the same role may export what it may read');
($rc, $out, $err) = try_sql(qq{CREATE ROLE nobody_special LOGIN; SET ROLE nobody_special;
	SELECT * FROM rrr_export_query('SELECT 1 AS one', '$exports/nobody/')});
like($err, qr/permission denied for function rrr_export_query/, 'a role outside redtrack_admin cannot call it');

unlike(slurp_file($node->logfile), qr/\Q$st->{secret_key}\E/, 'the S3 secret never reaches the server log');

$node->stop;
warehouse_sql("DROP SCHEMA IF EXISTS $schema CASCADE; DROP SCHEMA IF EXISTS ${schema}_loads CASCADE");
done_testing();
