# S3 keys read like the warehouse: <prefix>/<target>/<replication id>/part-...
# with the target as written (a table bar_exp is stored under bar_exp/, not
# bar_5fexp/), and only what a key cannot hold or would make ambiguous
# escaped as %XX.  A replication keeps the key it stored: one exported
# under an older layout is still loaded from its own files.
use strict;
use warnings;

use File::Temp qw(tempfile);
use FindBin;
use lib "$FindBin::Bin/lib";
use PostgreSQL::Test::Utils;
use RedtrackTest;
use Test::More;

my $dialect = $ENV{REDTRACK_TEST_DIALECT} // 'redshift';
my $st = stack();
my $schema = target_schema();
my $node = new_source('layout', dialect => $dialect);
my $prefix = $node->{redtrack_prefix};
clear_faults();

sub sql { return $node->safe_psql('postgres', $_[0]); }

# --- A plain target: bar_exp as written.
sql(qq{CREATE TABLE bar_exp (id int PRIMARY KEY, v text, updated_at timestamptz NOT NULL DEFAULT now());
	INSERT INTO bar_exp (id, v) SELECT g, 'v' || g FROM generate_series(1, 40) g;
	SELECT rrr_register('bar_exp', 'timed', target_table => '$schema.bar_exp')});
is(sql(q{SELECT state || '|' || rows FROM rrr_replicate('bar_exp')}), 'imported|40', 'bar_exp: imported');
my ($id, $key) = split /\|/, sql(q{SELECT id || '|' || s3_key FROM redtrack.replications
	WHERE source = 'bar_exp'::regclass ORDER BY id DESC LIMIT 1});
is($key, "$prefix/$schema.bar_exp/$id/", 'the stored key names the target as written');
my @keys = sort keys %{ s3_keys("$prefix/") };
ok(@keys >= 2, 'files were written') or diag(join "\n", @keys);
is_deeply([ grep { !m{^\Q$prefix/$schema.bar_exp/$id/\E(part-\d{4}[^/]*\.csv\.(?:zst|gz)|manifest\.json)$} } @keys ], [],
	'every object is <prefix>/<target>/<id>/part-NNNN... or its manifest')
  or diag(join "\n", @keys);
ok(!grep({ /_5f/ } @keys), 'no _5f escapes in the keys');
compare_tables($node, 'SELECT id, v FROM bar_exp ORDER BY 1', "SELECT id, v FROM $schema.bar_exp ORDER BY 1", 'bar_exp');

# --- A quoted target with a space and a dot in its name: escaped, unambiguous.
sql(qq{CREATE TABLE odd (id int PRIMARY KEY, v text);
	INSERT INTO odd SELECT g, 'o' || g FROM generate_series(1, 10) g;
	SELECT rrr_register('odd', 'full', target_table => '"$schema"."odd name.x"')});
is(sql(q{SELECT state || '|' || rows FROM rrr_replicate('odd')}), 'imported|10', 'odd name: imported');
($id, $key) = split /\|/, sql(q{SELECT id || '|' || s3_key FROM redtrack.replications
	WHERE source = 'odd'::regclass ORDER BY id DESC LIMIT 1});
is($key, "$prefix/$schema.odd%20name%2Ex/$id/", 'a space and a dot inside a name are escaped, the separator is not');
ok(scalar(grep { /^part-/ } map { s{^\Q$key\E}{}r } keys %{ s3_keys($key) }) >= 1, 'its files are under that key');
compare_tables($node, 'SELECT id, v FROM odd ORDER BY 1', qq{SELECT id, v FROM "$schema"."odd name.x" ORDER BY 1},
	'odd name');

# --- A replication exported under the old layout loads from its stored key.
sql(q{UPDATE bar_exp SET v = 'changed ' || id, updated_at = now() + interval '1 second' WHERE id <= 5;
	INSERT INTO bar_exp (id, v) VALUES (41, 'v41')});
is(sql(q{SELECT state FROM rrr_export('bar_exp')}), 'uploaded', 'exported');
($id, $key) = split /\|/, sql(q{SELECT id || '|' || s3_key FROM redtrack.replications
	WHERE source = 'bar_exp'::regclass ORDER BY id DESC LIMIT 1});
my $old = "$prefix/" . ("$schema.bar_exp" =~ s/_/_5f/gr) . "/$id/";
my ($ok, $out, $err);
for my $k (sort keys %{ s3_keys($key) })
{
	my $rest = substr($k, length $key);
	if ($rest =~ /manifest\.json$/)
	{
		($ok, $out, $err) = aws_cli('s3', 'cp', "s3://$st->{bucket}/$k", '-');
		die $err unless $ok;
		$out =~ s{\Q$key\E}{$old}g;
		my ($fh, $file) = tempfile();
		print $fh $out;
		close $fh;
		($ok, undef, $err) = aws_cli('s3', 'cp', $file, "s3://$st->{bucket}/$old$rest");
	}
	else
	{
		($ok, undef, $err) = aws_cli('s3', 'cp', "s3://$st->{bucket}/$k", "s3://$st->{bucket}/$old$rest");
	}
	die $err unless $ok;
	($ok, undef, $err) = aws_cli('s3', 'rm', "s3://$st->{bucket}/$k");
	die $err unless $ok;
}
is(scalar(keys %{ s3_keys($key) }), 0, 'the files moved away from the new layout');
sql(qq{UPDATE redtrack.replications SET s3_key = '$old' WHERE id = $id});
my $exported = sql(qq{SELECT rows FROM redtrack.replications WHERE id = $id});
cmp_ok($exported, '>=', 6, 'the export carries the changed rows (and what the watermark margin re-sends)');
is(sql(q{SELECT state || '|' || rows FROM rrr_import('bar_exp')}), "imported|$exported",
	'a replication stored under the old layout is imported from its own key');
compare_tables($node, 'SELECT id, v FROM bar_exp ORDER BY 1', "SELECT id, v FROM $schema.bar_exp ORDER BY 1",
	'bar_exp after the old-layout import');

$node->stop;
warehouse_sql(qq{DROP SCHEMA IF EXISTS "$schema" CASCADE; DROP SCHEMA IF EXISTS ${schema}_loads CASCADE});
done_testing();
