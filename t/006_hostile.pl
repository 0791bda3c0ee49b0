# Hostile and bad input: every bad call gets a clear error (an SQLSTATE
# other than internal_error, a message naming the problem) and changes
# nothing; identifiers built for SQL injection are just names; values that
# stress the CSV path arrive intact (or cut to Redshift's limit, counted).
use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/lib";
use PostgreSQL::Test::Utils;
use RedtrackTest;
use Test::More;

my $dialect = $ENV{REDTRACK_TEST_DIALECT} // 'redshift';
my $pg = ($dialect eq 'postgres');
my $node = new_source('hostile', dialect => $dialect);
my $schema = target_schema();
clear_faults();

sub sql { return $node->safe_psql('postgres', $_[0]); }

sql(qq{
CREATE TABLE users (id bigint PRIMARY KEY, name text, updated_at timestamptz NOT NULL DEFAULT now());
INSERT INTO users (id, name) VALUES (1, 'alice'), (2, 'bob');
SELECT rrr_register('users', 'timed', target_table => '$schema.users', track_deletes => true);
SELECT rrr_define_stream('clicks_$$', '{"n": {"type": "integer", "constraint": "not null"}}');
CREATE VIEW v AS SELECT 1 AS x;
});

# What a bad call must not change.
sub state
{
	return sql(q{SELECT (SELECT count(*) FROM redtrack.replicables) || '/' ||
		(SELECT count(*) FROM redtrack.streams) || '/' ||
		(SELECT count(*) FROM redtrack.replications) || '/' ||
		(SELECT count(*) FROM redtrack.deleted_records) || '/' ||
		(SELECT count(*) FROM users) || '/' ||
		(SELECT count(*) FROM pg_class WHERE relname = 'users')});
}

my $huge = 'x' x (2 * 1024 * 1024);
my $deep = ('[' x 10000) . (']' x 10000);
my $enormous = '{"n": 1, "pad": "' . ('y' x (5 * 1024 * 1024)) . '"}';
my $injection = q{x"; drop table users; --};
my $quoted = q{"x""; drop table users; --"};    # the same name, quoted
my @bad = (
	[ q{SELECT rrr_register('no_such_table', 'timed')}, '42P01', 'an unknown table' ],
	[ q{SELECT rrr_register('users', 'sometimes')}, '22023', 'an unknown strategy' ],
	[ q{SELECT rrr_register('users', 'queue')}, '22023', 'the internal queue strategy' ],
	[ q{SELECT rrr_register('v', 'full')}, '42809', 'a view' ],
	[ q{SELECT rrr_register('users', 'timed')}, '42710', 'a second registration' ],
	[ q{SELECT rrr_register('users', 'identity', replication_field => 'name')}, '42710', 'a second registration, another strategy' ],
	[ q{SELECT rrr_register(NULL, 'timed')}, '22004', 'a NULL table' ],
	[ q{SELECT rrr_register('users', NULL)}, '22004', 'a NULL strategy' ],
	[ q{SELECT rrr_register('users', 'timed', key_columns => ARRAY[NULL]::name[])}, '42710', 'a NULL key column' ],
	[ qq{SELECT rrr_register('pg_class', 'full', target_table => '$huge')}, '42809', 'a 2 MB target name on a catalog' ],
	[ q{SELECT rrr_unregister('v')}, '42704', 'unregistering what is not registered' ],
	[ q{SELECT rrr_unregister(NULL)}, '22004', 'unregistering NULL' ],
	[ q{SELECT rrr_replicate('v')}, '42704', 'replicating an unregistered view' ],
	[ q{SELECT rrr_replicate(NULL::regclass)}, '22004', 'replicating NULL' ],
	[ q{SELECT rrr_replicate(VARIADIC NULL::regclass[])}, '22004', 'replicating a NULL list' ],
	[ q{SELECT rrr_replicate('no_such_table')}, '42P01', 'replicating an unknown table' ],
	[ q{SELECT rrr_export('v')}, '42704', 'exporting an unregistered table' ],
	[ q{SELECT rrr_reset('v')}, '42704', 'resetting an unregistered table' ],
	[ q{SELECT rrr_reset(NULL)}, '22004', 'resetting NULL' ],
	[ q{SELECT rrr_vacuum('users', 'full; DROP TABLE users')}, '22023', 'VACUUM options with SQL in them' ],
	[ q{SELECT rrr_vacuum('users', 'TO 200 PERCENT')}, '22023', 'VACUUM options out of range' ],
	[ q{SELECT rrr_vacuum('v')}, '42704', 'vacuuming an unregistered table' ],
	[ q{SELECT rrr_analyze(NULL)}, '22004', 'analyzing NULL' ],
	[ q{SELECT rrr_target_ddl(NULL)}, '22004', 'DDL of NULL' ],
	[ q{SELECT rrr_define_stream('s', '[1,2]')}, '22023', 'stream columns that are not an object' ],
	[ q{SELECT rrr_define_stream('s', '{"a": {"type": "text; DROP TABLE users"}}')}, '42704', 'a stream type with SQL in it' ],
	[ qq{SELECT rrr_define_stream('$huge', '{"a": {"type": "integer"}}')}, '42602', 'a 2 MB stream name' ],
	[ q{SELECT rrr_define_stream('s', '{"a": {"type": "integer"}}', distkey => 'a, a')}, '22023', 'two distribution keys' ],
	[ qq{SELECT rrr_write('clicks_$$', '[1]')}, '22023', 'an event that is an array' ],
	[ qq{SELECT rrr_write('clicks_$$', '"just a string"')}, '22023', 'an event that is a string' ],
	[ qq{SELECT rrr_write('clicks_$$', 'null')}, '22023', 'an event that is JSON null' ],
	[ qq{SELECT rrr_write('clicks_$$', '$deep')}, '22023', 'a deeply nested event' ],
	[ qq{SELECT rrr_write('clicks_$$', '$enormous')}, '42703', 'a 5 MB event with an unknown field' ],
	[ qq{SELECT rrr_write('clicks_$$', '{"n": "1; DROP TABLE users"}')}, '42804', 'a string where a number belongs' ],
	[ qq{SELECT rrr_write('clicks_$$', '{"n": 1, "x\\"; DROP TABLE users; --": 2}')}, '42703', 'an unknown field with SQL in its name' ],
	[ q{SELECT rrr_write('no stream', '{}')}, '42704', 'an unknown stream' ],
	[ q{SELECT rrr_write_batch('no stream', ARRAY[]::jsonb[])}, '42704', 'a batch to an unknown stream' ],
	[ qq{SELECT rrr_drop_stream('clicks_$$')}, '55000', 'dropping a stream with events waiting' ] ,
	[ q{SET redtrack.s3_endpoint = 'ftp://example.com'; SELECT rrr_replicate('users')}, '22023', 'an endpoint with another scheme' ],
);

sql(qq{SELECT rrr_write('clicks_$$', '{"n": 1}')});
my $before = state();
my ($count, $bad_sqlstate) = (0, 0);
for my $case (@bad)
{
	my ($query, $sqlstate, $what) = @$case;
	my ($stdout, $stderr);
	$node->psql('postgres', "\\set VERBOSITY verbose\n$query", stdout => \$stdout, stderr => \$stderr);
	my ($code) = $stderr =~ /(?:ERROR|WARNING):\s+([0-9A-Z]{5}):/;
	$code //= 'none';
	is($code, $sqlstate, "$what: SQLSTATE $sqlstate") or diag(substr($stderr, 0, 500));
	unlike($stderr, qr/XX000|internal error|cache lookup|SPI_|server closed/i, "$what: no internal error");
	$count++;
	$bad_sqlstate++ if $code eq $sqlstate;
}
my $unchanged = (state() eq $before);
is(state(), $before, "none of the $count bad calls changed anything");
cmp_ok($count, '>=', 30, "$count bad calls tried");

# A registration with every name built for SQL injection works, and is only a name.
sql(qq{
CREATE TABLE $quoted ($quoted int PRIMARY KEY, "it's" text, updated_at timestamptz NOT NULL DEFAULT now());
INSERT INTO $quoted VALUES (1, 'a'), (2, 'b');
SELECT rrr_register('$quoted', 'timed', track_deletes => true, target_table => '$schema.$quoted');
DELETE FROM $quoted WHERE $quoted = 2;
});
my $injected = 0;
$injected += like(sql(q{SELECT state FROM rrr_replicate('"x""; drop table users; --"')}), qr/imported/,
	'a table named for injection replicates');
compare_tables($node, qq{SELECT $quoted, "it's" FROM $quoted ORDER BY 1},
	qq{SELECT $quoted, "it's" FROM $schema.$quoted ORDER BY 1}, 'its rows and its delete arrived');
is(sql('SELECT count(*) FROM users'), 2, 'the users table is still there');
sql(qq{SELECT rrr_define_stream('$injection', '{"x\\"; drop table users; --": {"type": "varchar(40)"}}')});
sql(qq{SELECT rrr_write('$injection', '{"x\\"; drop table users; --": "ok"}')});
$injected += like(sql(qq{SELECT state || rows FROM rrr_replicate('redtrack_streams."x""; drop table users; --"')}),
	qr/imported1/, 'a stream named for injection drains');

# ---------------------------------------------------------------------------
# Values that stress the CSV path
# ---------------------------------------------------------------------------
sql(qq{
CREATE TABLE stress (id int PRIMARY KEY, v text, updated_at timestamptz NOT NULL DEFAULT now());
-- every character from U+0001 to U+00FF, and some from every plane
INSERT INTO stress VALUES (1, (SELECT string_agg(chr(c), '') FROM generate_series(1, 255) c));
INSERT INTO stress VALUES (2, (SELECT string_agg(chr(c), '') FROM generate_series(256, 20000, 37) c));
INSERT INTO stress VALUES (3, chr(65536) || chr(128512) || chr(917505) || chr(1114111));
INSERT INTO stress VALUES (4, '\\N'), (5, E'\\\\N'), (6, ''), (7, NULL), (8, '"'), (9, ',\n,'), (10, E'\\r');
INSERT INTO stress VALUES (11, repeat('é', 500000));       -- 1 MB
INSERT INTO stress VALUES (12, repeat('z', 70000));        -- over Redshift's 65535 bytes
SELECT rrr_register('stress', 'timed', target_table => '$schema.stress');
});
my ($rc, $out, $err) = $node->psql('postgres', "SELECT U&'\\D800'");
ok($rc != 0 && $err =~ /surrogate|invalid/i, 'the database itself refuses a lone surrogate');
like(sql(q{SELECT state FROM rrr_replicate('stress')}), qr/imported/, 'the stress values replicate');
my $limit = $pg ? '' : 'WHERE id NOT IN (11, 12)';
compare_tables($node, "SELECT id, v FROM stress $limit ORDER BY id", "SELECT id, v FROM $schema.stress $limit ORDER BY id",
	'every character, \\N literals, quotes, commas and newlines arrive exact');
if (!$pg)
{
	is(warehouse_sql("SELECT octet_length(v) || '/' || (v = repeat('z', 65535)) FROM $schema.stress WHERE id = 12"),
		'65535/true', 'a value over 65535 bytes is cut to Redshift\'s limit');
	is(warehouse_sql("SELECT octet_length(v) FROM $schema.stress WHERE id = 11"), 65534,
		'a 1 MB multibyte value is cut on a character boundary');
	is(sql(q{SELECT truncated_values FROM redtrack.replications WHERE source = 'stress'::regclass ORDER BY id DESC LIMIT 1}),
		2, 'and both cuts are counted');
}
else
{
	compare_tables($node, 'SELECT id, md5(v) FROM stress WHERE id IN (11, 12) ORDER BY id',
		"SELECT id, md5(v) FROM $schema.stress WHERE id IN (11, 12) ORDER BY id", 'long values arrive whole in PostgreSQL');
}

reliability_report('Hostile and bad input',
	[ 'bad calls tried (unknown tables, wrong strategies and types, NULL and huge arguments, missing configuration, injection names, bad JSON events)', $count ],
	[ 'answered with the expected SQLSTATE', $bad_sqlstate ],
	[ 'state changed by a bad call', $unchanged ? 'none' : '**some**' ],
	[ 'a table, its target and a stream named for SQL injection, replicated', "$injected of 2" ],
	[ 'stress values (every character U+0001-U+00FF, all planes, \\N literals, quotes, CR/LF, 1 MB, over 65,535 bytes)',
	  sql('SELECT count(*) FROM stress') . ' rows, compared with the target' ]);

warehouse_sql("DROP SCHEMA IF EXISTS $schema CASCADE; DROP SCHEMA IF EXISTS ${schema}_loads CASCADE");
warehouse_sql(qq{DROP TABLE IF EXISTS "clicks_$$", $quoted});
$node->stop;
done_testing();
