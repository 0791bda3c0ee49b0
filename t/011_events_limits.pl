# Event streams against what the warehouse accepts: an event whose load
# file row would pass Redshift's 4 MB record limit is refused when it is
# written, so it never blocks the stream's other events; timestamps mean
# the same instant whatever the writer's DateStyle and TimeZone; field
# names that fold to the same column are refused.
use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/lib";
use PostgreSQL::Test::Utils;
use RedtrackTest;
use Test::More;

my $dialect = $ENV{REDTRACK_TEST_DIALECT} // 'redshift';
my $node = new_source('event_limits', dialect => $dialect);
my $schema = target_schema();
clear_faults();

sub sql { return $node->safe_psql('postgres', $_[0]); }

my $stream = "limits_" . substr($schema, -12);
my $queue = qq{redtrack_streams."$stream"};
warehouse_sql(qq{DROP TABLE IF EXISTS "$stream"});
sql(qq{
SELECT rrr_define_stream('$stream', '{
	"n": {"type": "integer", "constraint": "not null"},
	"a": {"type": "super"},
	"path": {"type": "varchar(32)"},
	"at": {"type": "timestamptz"},
	"local": {"type": "timestamp"},
	"day": {"type": "date"}}');
CREATE TABLE written (n int PRIMARY KEY, path text, at timestamptz, local timestamp, day date);
});

sub drain
{
	return sql(qq{SELECT state || '|' || rows || coalesce('|' || error, '') FROM rrr_replicate('$queue')});
}

sub write_plain
{
	my ($from, $to) = @_;
	sql(qq{
SELECT rrr_write('$stream', jsonb_build_object('n', g, 'path', '/p/' || g, 'a', jsonb_build_object('k', g)))
FROM generate_series($from, $to) g;
INSERT INTO written (n, path) SELECT g, '/p/' || g FROM generate_series($from, $to) g;});
}

# ---------------------------------------------------------------------------
# Item 13: the 4 MB check measures the row Redshift receives.  3.9 million
# bytes 0x01 are 3.9 MB of jsonb, but jsonb's text form writes each as
# \u0001: a 23 MB row that no drain could ever load.
# ---------------------------------------------------------------------------
write_plain(1, 50);
my ($rc, $out, $err) = $node->psql('postgres',
	qq{\\set VERBOSITY verbose
SELECT rrr_write('$stream', jsonb_build_object('n', 1000, 'a', repeat(chr(1), 3900000)))});
isnt($rc, 0, 'an event whose load file row passes 4 MB is refused at write');
like($err, qr/54000/, 'with SQLSTATE 54000 (program limit exceeded)');
like($err, qr/23400\d\d\d bytes/, 'the error gives the row\'s size in the load file');
# redtrack keeps records under 4,000,000 bytes, less 48 bytes a field (and
# one more) that it keeps for small values after a cut: 6 fields here.
my $limit = 4000000 - 48 * (6 + 1);
like($err, qr/under $limit bytes/, 'and the limit redtrack keeps this stream\'s rows under');

# The same through rrr_write_batch: the whole batch is refused.
($rc, $out, $err) = $node->psql('postgres',
	qq{SELECT rrr_write_batch('$stream', ARRAY[jsonb_build_object('n', 1001),
		jsonb_build_object('n', 1002, 'a', repeat(chr(1), 700000))])});
isnt($rc, 0, 'rrr_write_batch refuses a batch holding an oversized event');
like($err, qr/4200\d\d\d bytes/, 'measured as the load file row, not as jsonb');

# A large value cut to its declared length is not oversized.
sql(qq{SELECT rrr_write('$stream', jsonb_build_object('n', 51, 'path', repeat('x', 5000000)));
INSERT INTO written (n, path) VALUES (51, repeat('x', 32));});
write_plain(52, 100);
like(drain(), qr/^imported\|100$/, 'the other events of the stream drain');
compare_tables($node, q{SELECT n, path FROM written ORDER BY n},
	qq{SELECT n, path FROM "$stream" ORDER BY n}, 'every accepted event arrived, none other');
is(warehouse_sql(qq{SELECT count(*) FROM "$stream" WHERE a IS NOT NULL}), 99,
	'with its super value');

# The largest event that fits loads.  Its row in the file: "101", then the
# quoted jsonb string (its text form and two quotes, each doubled: 6
# bytes more), then four NULL fields (one byte each in the Redshift
# dialect, none in PostgreSQL's), joined by five commas.
my $nulls = $dialect eq 'postgres' ? 0 : 4;
my $fits = $limit - 3 - 6 - $nulls - 5;
($rc, $out, $err) = $node->psql('postgres',
	qq{SELECT rrr_write('$stream', jsonb_build_object('n', 102, 'a', to_jsonb(repeat('y', $fits + 1))))});
like($err, qr/@{[ $limit + 1 ]} bytes/, 'one byte over the limit is refused');
sql(qq{SELECT rrr_write('$stream', jsonb_build_object('n', 101, 'a', to_jsonb(repeat('y', $fits))))});
like(drain(), qr/^imported\|1$/, 'an event exactly at the limit drains');
is(warehouse_sql(qq{SELECT length(a::text) FROM "$stream" WHERE n = 101}), $fits + 2,
	'and arrives whole');

# ---------------------------------------------------------------------------
# Item 19: ISO 8601 only, the same instant whatever the writer's settings.
# ---------------------------------------------------------------------------
my @sessions = ( [ 'ISO, MDY', 'UTC' ], [ 'SQL, DMY', 'Asia/Kolkata' ],
	[ 'German', 'America/New_York' ], [ 'Postgres, YMD', 'Pacific/Chatham' ] );
my $k = 200;
for my $s (@sessions)
{
	my ($style, $zone) = @$s;
	for my $fn ('single', 'batch')
	{
		my $event = qq{jsonb_build_object('n', $k, 'at', '2024-01-02T03:04:05.25', 'local', '2024-01-02 03:04:05+07:00', 'day', '2024-01-02')};
		my $event2 = qq{jsonb_build_object('n', $k + 1, 'at', '2024-01-02T03:04:05+05:30', 'local', '2024-01-02T03:04', 'day', '2024-02-29')};
		my $call = $fn eq 'single'
		  ? qq{SELECT rrr_write('$stream', $event); SELECT rrr_write('$stream', $event2);}
		  : qq{SELECT rrr_write_batch('$stream', ARRAY[$event, $event2]);};
		sql(qq{SET DateStyle = '$style'; SET TimeZone = '$zone'; $call});
		sql(qq{INSERT INTO written VALUES
			($k, NULL, '2024-01-02 03:04:05.25+00', '2024-01-02 03:04:05', '2024-01-02'),
			($k + 1, NULL, '2024-01-01 21:34:05+00', '2024-01-02 03:04:00', '2024-02-29')});
		for my $bad ('01/02/2024', 'now', 'epoch', 'infinity', '2024-01-02 03:04:05 EST')
		{
			my ($brc, undef, $berr) = $node->psql('postgres',
				qq{SET DateStyle = '$style'; SET TimeZone = '$zone';
				SELECT rrr_write('$stream', jsonb_build_object('n', 999, 'at', '$bad'))});
			ok($brc != 0 && $berr =~ /ISO 8601/, "\"$bad\" is refused ($style, $zone)");
		}
		$k += 2;
	}
}
like(drain(), qr/^imported\|16$/, 'the events written under every setting drain');
compare_tables($node, q{SELECT n, at, local, day FROM written WHERE n >= 200 ORDER BY n},
	qq{SELECT n, at, local, day FROM "$stream" WHERE n >= 200 ORDER BY n},
	'every session\'s timestamps arrived as the same instants');

# ---------------------------------------------------------------------------
# Item 17: names that Redshift folds to one column.
# ---------------------------------------------------------------------------
($rc, $out, $err) = $node->psql('postgres',
	qq{SELECT rrr_define_stream('$stream', '{"n": {"type": "integer", "constraint": "not null"},
	"a": {"type": "super"}, "path": {"type": "varchar(32)"}, "at": {"type": "timestamptz"},
	"local": {"type": "timestamp"}, "day": {"type": "date"}, "Path": {"type": "varchar(8)"}}')});
like($err, qr/differ only in case/, 'a redefinition adding "Path" beside "path" is refused');
write_plain(300, 310);
like(drain(), qr/^imported\|11$/, 'and the stream still drains');
compare_tables($node, q{SELECT n, path FROM written ORDER BY n},
	qq{SELECT n, path FROM "$stream" WHERE n <> 101 ORDER BY n}, 'the stream\'s events, all of them');

# ---------------------------------------------------------------------------
# Upgrading from 0.4: a stored date or time default that is not ISO 8601
# ("epoch", "infinity", "01/02/2024", read until then in each writer's
# settings) is rewritten, so that writes to its stream keep working.
# ---------------------------------------------------------------------------
$node->safe_psql('postgres', 'CREATE DATABASE upgraded');
sub up { return $node->safe_psql('upgraded', $_[0]); }
up(q{CREATE EXTENSION redtrack VERSION '0.4'});
up(q{SELECT rrr_define_stream('legacy', '{"k": {"type": "integer"},
	"a": {"type": "timestamptz", "default": "2000-01-01"}, "b": {"type": "timestamp", "default": "2000-01-01"},
	"c": {"type": "date", "default": "2000-01-01"}, "d": {"type": "timestamptz", "default": "2000-01-01"}}')});
up(q{UPDATE redtrack.streams SET columns = '{"k": {"type": "integer"},
	"a": {"type": "timestamptz", "default": "epoch"}, "b": {"type": "timestamp", "default": "infinity"},
	"c": {"type": "date", "default": "01/02/2024"}, "d": {"type": "timestamptz", "default": "2024-05-01 12:00:00.5+02"}}'
	WHERE name = 'legacy'});
up(q{ALTER EXTENSION redtrack UPDATE TO '0.5'});
up(q{SET DateStyle = 'SQL, DMY'; SET TimeZone = 'Asia/Kolkata'; SELECT rrr_write('legacy', '{"k": 1}')});
is(up(q{SET TimeZone = 'UTC'; SET DateStyle = 'ISO, YMD'; SELECT k, a, b, c, d FROM redtrack_streams.legacy}),
	'1|1970-01-01 00:00:00+00|9999-12-31 23:59:59.999999|2024-01-02|2024-05-01 10:00:00.5+00',
	'after the upgrade, a stream with 0.4 date and time defaults takes writes, with their values');

sql(qq{SELECT rrr_drop_stream('$stream', force => true)});
warehouse_sql(qq{DROP TABLE IF EXISTS "$stream"; DROP SCHEMA IF EXISTS ${schema}_loads CASCADE});
$node->stop;
done_testing();
