# Two source databases and their schedulers load into one warehouse at
# once, as often happens with one Redshift cluster per company.  On a
# SERIALIZABLE cluster their load transactions conflict on the shared
# bookkeeping table (error 1023) unless they serialise themselves; every
# row must still arrive exactly once.  20 rounds of writes of every kind,
# then both databases' tables compared row by row with their targets.
use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/lib";
use PostgreSQL::Test::Utils;
use RedtrackTest;
use Test::More;

my $dialect = $ENV{REDTRACK_TEST_DIALECT} // 'redshift';
my $schema = target_schema();
clear_faults();

# Reserved words of Redshift (not of PostgreSQL) as column names: every
# statement redtrack sends must quote them.
my $columns = 'id int PRIMARY KEY, tag text, "open" boolean, system text, percent numeric(5,2), '
  . 'snapshot text, updated_at timestamptz NOT NULL DEFAULT now()';
my $compare_columns = 'id, tag, "open", system, percent, snapshot';

my @nodes;
for my $name (qw(alpha beta))
{
	my $node = new_source($name, dialect => $dialect, worker => 1);
	$node->safe_psql('postgres', qq{
CREATE TABLE items ($columns);
CREATE TABLE codes (code varchar(20) PRIMARY KEY, v int, updated_at timestamptz NOT NULL DEFAULT now());
CREATE TABLE totals (id int PRIMARY KEY, total bigint);
SELECT rrr_register('items', 'timed', target_table => '$schema.${name}_items', track_deletes => true);
SELECT rrr_register('codes', 'timed', target_table => '$schema.${name}_codes', track_deletes => true);
SELECT rrr_register('totals', 'full', target_table => '$schema.${name}_totals');
});
	push @nodes, [ $name, $node ];
}

my $ok = 1;
for my $round (1 .. 20)
{
	for my $entry (@nodes)
	{
		my ($name, $node) = @$entry;
		my $base = $round * 10;
		$node->safe_psql('postgres', qq{
INSERT INTO items (id, tag, "open", system, percent, snapshot)
	SELECT g, 'tag' || g, g % 2 = 0, 'sys', (g % 100)::numeric / 3, 'snap $round'
	FROM generate_series($base, $base + 9) g;
UPDATE items SET tag = tag || '+', updated_at = now() WHERE id % 7 = $round % 7;
DELETE FROM items WHERE id % 11 = $round % 11;
-- keys that differ only by trailing spaces are distinct keys
INSERT INTO codes (code, v) VALUES ('k$round', $round), ('k$round ', -$round), ('k$round  ', 0)
	ON CONFLICT (code) DO UPDATE SET v = excluded.v + 1000, updated_at = now();
DELETE FROM codes WHERE code = 'k@{[ $round - 1 ]} ';
INSERT INTO totals VALUES ($round, $round * 1000) ON CONFLICT (id) DO UPDATE SET total = excluded.total;
});
	}

	# Both databases replicate at once, their schedulers running too.
	my @runs = map {
		my $s = $_->[1]->background_psql('postgres');
		$s->query_until(qr/started/, "\\echo started\nSELECT string_agg(state, ',' ORDER BY source) FROM rrr_replicate_all();\n");
		$s
	} @nodes;
	for my $s (@runs)
	{
		my $states = $s->query_safe('SELECT 1');
		$ok &&= like($states, qr/^imported,imported,imported$/m, "round $round: every table imported");
		$s->quit;
	}
	for my $entry (@nodes)
	{
		my ($name, $node) = @$entry;
		$ok &&= defined compare_tables($node, "SELECT $compare_columns FROM items ORDER BY id",
			"SELECT $compare_columns FROM $schema.${name}_items ORDER BY id", "round $round: $name items");
		$ok &&= defined compare_tables($node,
			"SELECT code || '|' || octet_length(code) || '|' || v FROM codes ORDER BY code COLLATE \"C\", octet_length(code)",
			"SELECT code || '|' || octet_length(code) || '|' || v FROM $schema.${name}_codes ORDER BY code COLLATE \"C\", octet_length(code)",
			"round $round: $name codes (trailing spaces)");
		$ok &&= defined compare_tables($node, 'SELECT id, total FROM totals ORDER BY id',
			"SELECT id, total FROM $schema.${name}_totals ORDER BY id", "round $round: $name totals");
	}
	last unless $ok;
}

# Every load of both databases committed once: one marker per replication.
my $markers = warehouse_sql("SELECT count(*) || '/' || count(DISTINCT source || ':' || replication_id) FROM ${schema}_loads.redtrack_loads");
my ($all, $distinct) = split m{/}, $markers;
is($all, $distinct, "no replication loaded twice ($all load markers)");

for my $entry (@nodes) { $entry->[1]->stop; }
warehouse_sql("DROP SCHEMA IF EXISTS $schema CASCADE; DROP SCHEMA IF EXISTS ${schema}_loads CASCADE");
done_testing();
