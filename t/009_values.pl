# Values the target cannot hold as they are never fail a load: decimals too
# large or too precise for Redshift's DECIMAL, NaN and infinite floats, an
# empty bytea, bytea over VARBYTE's limit, records over COPY's 4 MB, and
# TIME 24:00:00.  Each replication must end imported, the warehouse must hold
# exactly the values the README promises, and every changed value must be
# counted in redtrack.replications.
use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/lib";
use PostgreSQL::Test::Utils;
use RedtrackTest;
use Test::More;

my $dialect = $ENV{REDTRACK_TEST_DIALECT} // 'redshift';
my $pg = ($dialect eq 'postgres');
my $node = new_source('values', dialect => $dialect);
my $schema = target_schema();
clear_faults();

sub sql { return $node->safe_psql('postgres', $_[0]); }

# Replicate a table; returns (state, truncated, clamped, error).
sub replicate
{
	my ($table) = @_;
	my $id = sql("SELECT replication_id FROM rrr_replicate('$table')");
	return split /\|/, sql("SELECT state || '|' || truncated_values || '|' || clamped_values || '|' ||
		COALESCE(error, '') FROM redtrack.replications WHERE id = $id"), -1;
}

# ---------------------------------------------------------------------------
# Decimals, floats and an empty bytea.
# ---------------------------------------------------------------------------
my $int45 = '123456789' x 5;    # 45 integer digits
sql(qq{
CREATE TABLE vals (
	id int PRIMARY KEY,
	n numeric,                  -- DECIMAL(38,10): 28 integer digits
	n505 numeric(50,5),         -- DECIMAL(38,5): 33 integer digits
	n5045 numeric(50,45),       -- DECIMAL(38,37): 1 integer digit
	n190 numeric(19,0),         -- DECIMAL(19,0): 64 bits, at most 2^63 - 1
	f4 real, f8 double precision, by bytea);
INSERT INTO vals VALUES
 (1, 1234567890123456789012345678.12345678905, $int45.12345,
	 1.123456789012345678901234567890123456789012345, 9223372036854775807, 'NaN', 'Infinity', ''),
 (2, 12345678901234567890123456789, 123456789012345678901234567890123.12345,
	 12345.5, 9999999999999999999, '-Infinity', 'NaN', '\\x00'),
 (3, -0.00000000005, -1.5, NULL, -9223372036854775807, 1.5, -2.5e-300, NULL),
 (4, 0.00000000004, NULL, 0.5, NULL, NULL, NULL, '\\xff'),
 (5, 99999999999999999999999999.99, NULL, NULL, NULL, 3.4e38, 1.7976931348623157e308, NULL);
SELECT rrr_register('vals', 'full', target_table => '$schema.vals');
});

my ($state, $truncated, $clamped, $error) = replicate('vals');
is($state, 'imported', "decimals, floats and an empty bytea load ($dialect)") or diag($error);

my $shown = q{quote_nullable(n::text), quote_nullable(n505::text), quote_nullable(n5045::text),
	quote_nullable(n190::text), quote_nullable(f4::text), quote_nullable(f8::text),
	quote_nullable(encode(by, 'hex'))};
if ($pg)
{
	# A PostgreSQL warehouse keeps the source's types: nothing changes.
	compare_tables($node, "SELECT id, $shown FROM vals ORDER BY id",
		"SELECT id, $shown FROM $schema.vals ORDER BY id", 'every value arrives unchanged (postgres)');
	is("$truncated|$clamped", '0|0', 'nothing is counted (postgres)');
}
else
{
	# What Redshift must hold, computed by the source's own numeric code:
	# round() rounds half away from zero, as the exporter must.
	compare_tables(
		$node, qq{SELECT id,
		quote_nullable(CASE WHEN abs(round(n, 10)) < 1e28 THEN round(n, 10)::numeric(38,10)::text END),
		quote_nullable(CASE WHEN abs(n505) < 1e33 THEN n505::numeric(38,5)::text END),
		quote_nullable(CASE WHEN abs(round(n5045, 37)) < 10 THEN round(n5045, 37)::numeric(38,37)::text END),
		quote_nullable(CASE WHEN abs(n190) <= 9223372036854775807 THEN n190::text END),
		quote_nullable(CASE WHEN f4 NOT IN ('NaN', 'Infinity', '-Infinity') THEN f4::text END),
		quote_nullable(CASE WHEN f8 NOT IN ('NaN', 'Infinity', '-Infinity') THEN f8::text END),
		quote_nullable(encode(NULLIF(by, ''), 'hex'))
		FROM vals ORDER BY id},
		"SELECT id, $shown FROM $schema.vals ORDER BY id",
		'decimals rounded to the scale, NULL when too large; NaN, infinities and empty bytea NULL (redshift)');
	is(sql("SELECT n5045::text FROM vals WHERE id = 1"), '1.' . ('1234567890' x 4) . '12345', 'source value (row 1)');
	is(warehouse_sql("SELECT n5045::text FROM $schema.vals WHERE id = 1"), '1.1234567890123456789012345678901234568',
		'45 fraction digits rounded to 37');
	is(warehouse_sql("SELECT n::text || '|' || (SELECT n::text FROM $schema.vals WHERE id = 4) FROM $schema.vals WHERE id = 3"),
		'-0.0000000001|0.0000000000', 'half away from zero; a value rounded to zero');
	# truncated: rounded decimals n (rows 1, 3, 4) and n5045 (row 1);
	# clamped: n505 (1), n (2), n5045 (2), n190 (2), f4 and f8 (1, 2), empty bytea (1).
	is("$truncated|$clamped", '4|9', 'every rounded decimal and replaced value is counted (redshift)');
}

# The same rows again, through a target that exists now.
($state, $truncated, $clamped, $error) = replicate('vals');
is("$state|$truncated|$clamped", $pg ? 'imported|0|0' : 'imported|4|9', 'a second run into the existing target')
  or diag($error);

# ---------------------------------------------------------------------------
# The same in NOT NULL columns, where NULL would fail the load: the nearest
# value the column holds (0 for NaN, one zero byte for an empty bytea).
# ---------------------------------------------------------------------------
sql(qq{
CREATE TABLE strict_vals (
	id int PRIMARY KEY, n numeric NOT NULL, n505 numeric(50,5) NOT NULL, f8 float8 NOT NULL,
	f4 real NOT NULL, nn numeric NOT NULL, n192 numeric(19,2) NOT NULL, by bytea NOT NULL,
	iv interval NOT NULL);
INSERT INTO strict_vals VALUES
 (1, 12345678901234567890123456789, -$int45, 'Infinity', 'NaN', 'NaN', 99999999999999999.99, '', '178000000 years'),
 (2, -12345678901234567890123456789, 1.5, '-Infinity', 'Infinity', '-Infinity', 'NaN', '\\x01', '-178000000 years');
SELECT rrr_register('strict_vals', 'full', target_table => '$schema.strict_vals');
});
($state, $truncated, $clamped, $error) = replicate('strict_vals');
is($state, 'imported', "values without an equivalent load into NOT NULL columns ($dialect)") or diag($error);
my $strict = "SELECT id, n, n505, f8, f4, nn, n192, encode(by, 'hex'), iv FROM %s ORDER BY id";
if ($pg)
{
	compare_tables($node, sprintf($strict, 'strict_vals'), sprintf($strict, "$schema.strict_vals"),
		'every value arrives unchanged (postgres)');
	is("$truncated|$clamped", '0|0', 'nothing is counted (postgres)');
}
else
{
	my $max = '9999999999999999999999999999.9999999999';
	is_deeply(
		warehouse_rows(sprintf($strict, "$schema.strict_vals")),
		[
			"1|$max|-" . ('9' x 33) . ".99999|1.7976931348623157e+308|0|0.0000000000|92233720368547758.07|00|9223372036854775807",
			"2|-$max|1.50000|-1.7976931348623157e+308|3.4028235e+38|-$max|0.00|01|-9223372036854775808"
		],
		'the largest value of the column for overflows and infinities, 0 for NaN, 0x00 for an empty bytea (redshift)');
	# row 1: n, n505, f8, f4, nn, n192, by, iv; row 2: n, f8, f4, nn, n192, iv
	is("$truncated|$clamped", '0|14', 'every replaced value is counted (redshift)');
}

# ---------------------------------------------------------------------------
# VARBYTE's limit: redtrack's own, also when the target's catalog shows none.
# ---------------------------------------------------------------------------
sql(qq{
CREATE TABLE blobs (id int PRIMARY KEY, b bytea);
INSERT INTO blobs VALUES (1, decode(repeat('ab', 1024001), 'hex')), (2, decode(repeat('cd', 1024000), 'hex')),
	(3, '\\x01');
SELECT rrr_register('blobs', 'full', target_table => '$schema.blobs');
});
for my $run ('a new target', 'the existing target')
{
	($state, $truncated, $clamped, $error) = replicate('blobs');
	is($state, 'imported', "bytea of 1,024,001 bytes loads into $run ($dialect)") or diag($error);
	my $want = $pg
	  ? 'SELECT id, octet_length(b), md5(b) FROM blobs ORDER BY id'
	  : 'SELECT id, least(octet_length(b), 1024000), md5(substring(b FROM 1 FOR 1024000)) FROM blobs ORDER BY id';
	compare_tables($node, $want, "SELECT id, octet_length(b), md5(b) FROM $schema.blobs ORDER BY id",
		$pg ? "bytea arrives whole ($run)" : "bytea cut to 1,024,000 bytes ($run)");
	is("$truncated|$clamped", $pg ? '0|0' : '1|0', "the cut value is counted ($run)");
}

# ---------------------------------------------------------------------------
# Records over COPY's 4 MB: on Redshift the strings and bytes that would
# carry a record past 4,000,000 bytes are cut (bytes, or strings on a
# character boundary, counted); the fields before them arrive whole.
# ---------------------------------------------------------------------------
sql(qq{
CREATE TABLE wide (id int PRIMARY KEY, b1 bytea, b2 bytea, q text, b3 bytea, n int NOT NULL,
	tm time NOT NULL DEFAULT '12:34:56.789');
INSERT INTO wide (id, b1, b2, q, b3, n) VALUES
 (1, decode(repeat('11', 1000000), 'hex'), decode(repeat('22', 1000000), 'hex'), 'x',
	 decode(repeat('33', 1000000), 'hex'), 7),
 (2, decode(repeat('44', 1000000), 'hex'), decode(repeat('55', 990000), 'hex'), repeat('"', 65535),
	 '\\x66', 8),
 (3, '\\x77', NULL, 'small', '\\x88', 9);
SELECT rrr_register('wide', 'full', target_table => '$schema.wide');
});
($state, $truncated, $clamped, $error) = replicate('wide');
is($state, 'imported', "records of 6 MB load ($dialect)") or diag($error);

my @cols = qw(b1 b2 q b3);
my %got;
for (@{ warehouse_rows("SELECT id, " . join(', ', map { "octet_length($_), md5($_)" } @cols) . ", n FROM $schema.wide ORDER BY id") })
{
	my @f = split /\|/, $_, -1;
	$got{ $f[0] } = { len => [ map { $f[ 1 + 2 * $_ ] } 0 .. $#cols ], md5 => [ map { $f[ 2 + 2 * $_ ] } 0 .. $#cols ],
		n => $f[-1] };
}
my $changed = 0;
for my $id (1 .. 3)
{
	my $row = $got{$id};
	my @len = @{ $row->{len} };
	# Each value is the source's, or a prefix of it (NULL: cut to nothing).
	my @source = split /\|/, sql("SELECT " . join(', ', map {
		my $l = $len[$_] eq '' ? 0 : $len[$_];
		"octet_length($cols[$_]), md5(substring($cols[$_] FROM 1 FOR $l))"
	} 0 .. $#cols) . " FROM wide WHERE id = $id"), -1;
	my $prefixes = 0;
	for my $k (0 .. $#cols)
	{
		my ($source_len, $source_md5) = @source[ 2 * $k, 2 * $k + 1 ];
		if ($len[$k] eq '')
		{
			$prefixes++;
			$changed++ if $source_len ne '';
			next;
		}
		$prefixes++ if $source_md5 eq $row->{md5}[$k];
		$changed++ if $source_len ne $len[$k];
	}
	is($prefixes, scalar @cols, "record $id: every value is the source's, or a prefix of it");
	is($row->{n}, $id + 6, "record $id: the small field after the cut arrives");

	# The record as the CSV carries it: hex bytes, quoted text with its
	# quotes doubled, NULL as one byte, and the separators.
	my $q = sql("SELECT substring(q FROM 1 FOR " . ($len[2] || 0) . ") FROM wide WHERE id = $id");
	my $size = length($id) + length($id + 6) + length('"12:34:56.789"') + @cols + 3;
	$size += $len[2] eq '' ? 1 : 2 + $len[2] + ($q =~ tr/"//);
	$size += $len[$_] eq '' ? 1 : 2 * $len[$_] for (0, 1, 3);
	ok($size <= 4_000_000, "record $id takes $size bytes in the CSV (at most 4,000,000)") if !$pg;
}
is(warehouse_sql("SELECT string_agg(tm::text, ',' ORDER BY id) FROM $schema.wide"),
	join(',', ('12:34:56.789') x 3), 'a time after the cut, which cannot be cut, arrives whole');
if ($pg)
{
	is($changed, 0, 'a PostgreSQL warehouse has no 4 MB limit: every value whole (postgres)');
	is("$truncated|$clamped", '0|0', 'nothing is counted (postgres)');
}
else
{
	my @l1 = @{ $got{1}{len} };
	my @l2 = @{ $got{2}{len} };
	is($l1[0], 1000000, 'record 1: the first bytea arrives whole');
	ok($l1[1] > 990_000 && $l1[1] < 1_000_000, "record 1: the second is cut to what fits ($l1[1] bytes)");
	is("$l1[2]|$l1[3]", '0|', 'record 1: past the limit, the text is empty and the bytea NULL');
	is("$l2[0]|$l2[1]", '1000000|990000', 'record 2: both bytea arrive whole');
	ok($l2[2] > 0 && $l2[2] < 65535, "record 2: the quotes are cut to what fits ($l2[2] bytes)");
	is(join('|', @{ $got{3}{len} }), '1||5|1', 'record 3 (small) is untouched');
	# record 1: b2, q and b3; record 2: q and b3
	is($changed, 5, 'five values were cut to keep the records under 4 MB');
	is("$truncated|$clamped", "$changed|0", 'every cut value is counted (redshift)');
}

# ---------------------------------------------------------------------------
# TIME 24:00:00, which both PostgreSQL and Redshift (range 00:00:00 to
# 24:00:00, r_Datetime_types) hold.
# ---------------------------------------------------------------------------
sql(qq{
CREATE TABLE times (id int PRIMARY KEY, t time);
INSERT INTO times VALUES (1, '24:00:00'), (2, '23:59:59.999999'), (3, '00:00:00'), (4, NULL);
SELECT rrr_register('times', 'full', target_table => '$schema.times');
});
($state, $truncated, $clamped, $error) = replicate('times');
is($state, 'imported', "TIME 24:00:00 loads ($dialect)") or diag($error);
compare_tables($node, 'SELECT id, quote_nullable(t::text) FROM times ORDER BY id',
	"SELECT id, quote_nullable(t::text) FROM $schema.times ORDER BY id", 'times arrive unchanged');
is("$truncated|$clamped", '0|0', 'no time is changed');

done_testing();
