# A hostile redtrack_admin, and ordinary DDL after registration: issue 16.
#
# The source is read with the rights of the role that registered it,
# re-checked at every run (a table turned into a view, a revoked GRANT,
# row-level security); unregistering needs the rights registering needs,
# checked before any lock; NOTIFY payloads carry no error text and can be
# turned off; two registrations never load one Redshift table; DDL on the
# source (renamed columns, a new primary key, a target dropped by hand)
# stops the table with an error or rebuilds the target, never loses rows
# silently; one broken registration never stops a call for the others.
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
my $node = new_source('hostile_admin', dialect => $dialect);
my $schema = target_schema();
clear_faults();

sub sql { return $node->safe_psql('postgres', $_[0]); }

# Run SQL as a role; returns (stdout, stderr).
sub as_role
{
	my ($role, $query, %opts) = @_;
	my ($out, $err);
	local $ENV{PGOPTIONS} = $opts{options} // '';
	$node->psql('postgres', $query, stdout => \$out, stderr => \$err, extra_params => [ '-U', $role ],
		on_error_stop => 1);
	return ($out // '', $err // '');
}

# One table's replication: "state|rows|error".
sub replicate
{
	my ($table) = @_;
	my ($out, $err);
	$node->psql('postgres',
		"SELECT state || '|' || rows || '|' || COALESCE(error, '') FROM rrr_replicate('$table')",
		stdout => \$out, stderr => \$err);
	return wantarray ? ($out // '', $err // '') : ($out // '');
}

sql(q{
CREATE ROLE mallory LOGIN IN ROLE redtrack_admin;
CREATE SCHEMA m AUTHORIZATION mallory;
});

# ---------------------------------------------------------------------------
# 1. A table turned into a view after registration runs nothing as the owner.
# ---------------------------------------------------------------------------
my ($out, $err) = as_role('mallory', qq{
CREATE TABLE m.loot (who text, super bool, secret text);
CREATE FUNCTION m.evil() RETURNS int LANGUAGE plpgsql AS \$\$BEGIN
  INSERT INTO m.loot SELECT current_user, (SELECT rolsuper FROM pg_roles WHERE rolname = current_user),
    left(current_setting('redtrack.aws_secret_access_key', true), 8);
  RETURN 1; END\$\$;
CREATE TABLE m.trojan (id int);
SELECT rrr_register('m.trojan', 'full', target_table => '$schema.trojan');
});
is($err, '', 'mallory registers an empty table');
my ($rule_out, $rule_err) = as_role('mallory',
	q{CREATE RULE "_RETURN" AS ON SELECT TO m.trojan DO INSTEAD SELECT m.evil() AS id});
if ($rule_err eq '')
{
	($out, $err) = as_role('mallory', q{SELECT state || '|' || COALESCE(error, '') FROM rrr_replicate('m.trojan')});
	like($out, qr/^failed\|.*no longer a table/s, 'a table turned into a view is refused at the next run');
}
else
{
	# PostgreSQL 16 and later refuse to turn a table into a view.
	like($rule_err, qr/could not convert table|view rule/, 'this server refuses to turn a table into a view');
	sql(q{SELECT rrr_unregister('m.trojan')});
}
is(sql(q{SELECT count(*) FROM m.loot WHERE super OR secret IS NOT NULL}), '0',
	'no code of the admin ran with superuser rights, no secret was read');

# The export runs as the registering role, in a security-restricted
# operation: what a planted function sees as current_user is that role.
sql(q{
CREATE TABLE m.spy_log (who text);
GRANT INSERT ON m.spy_log TO PUBLIC;
CREATE TABLE m.base (id int PRIMARY KEY, v text);
ALTER TABLE m.base OWNER TO mallory;
INSERT INTO m.base VALUES (1, 'a'), (2, 'b');
});
($out, $err) = as_role('mallory', qq{SELECT rrr_register('m.base', 'full', target_table => '$schema.base')});
is($err, '', 'mallory registers her own table');
like(replicate('m.base'), qr/^imported\|2\|/, 'and a superuser replicates it');

# ---------------------------------------------------------------------------
# 1b. A GRANT revoked after registration stops the table at the next run.
# ---------------------------------------------------------------------------
sql(qq{
CREATE TABLE public.granted (id int PRIMARY KEY, v text);
INSERT INTO public.granted VALUES (1, 'one');
GRANT SELECT ON public.granted TO mallory;
});
($out, $err) = as_role('mallory', qq{SELECT rrr_register('public.granted', 'full', target_table => '$schema.granted')});
is($err, '', 'mallory registers a table she may read');
sql(q{REVOKE SELECT ON public.granted FROM mallory; INSERT INTO public.granted VALUES (2, 'two')});
like(replicate('granted'), qr/^failed\|0\|.*permission denied/s,
	'after REVOKE, a superuser\'s run reads nothing with the superuser\'s rights');
is(warehouse_sql("SELECT count(*) FROM information_schema.tables WHERE table_schema = '$schema' AND table_name = 'granted'"),
	'0', 'and nothing reached the warehouse');
like(sql(q{SELECT last_state || '|' || last_error FROM redtrack.status WHERE source = 'granted'::regclass}),
	qr/^failed\|.*permission denied/, 'redtrack.status shows the failure');

# ---------------------------------------------------------------------------
# 2. Row-level security: the warehouse never holds more than the role sees.
# ---------------------------------------------------------------------------
sql(q{
CREATE TABLE public.secrets (id int PRIMARY KEY, owner name NOT NULL, v text);
INSERT INTO public.secrets VALUES (1, 'mallory', 'mine'), (2, 'postgres', 'theirs'), (3, 'alice', 'hers');
ALTER TABLE public.secrets ENABLE ROW LEVEL SECURITY;
ALTER TABLE public.secrets FORCE ROW LEVEL SECURITY;
CREATE POLICY own ON public.secrets USING (owner = current_user);
GRANT SELECT ON public.secrets TO mallory;
});
is((as_role('mallory', 'SELECT count(*) FROM public.secrets'))[0], '1', 'mallory sees one row of three');
($out, $err) = as_role('mallory', qq{SELECT rrr_register('public.secrets', 'full', target_table => '$schema.secrets')});
like($err, qr/row-level security applies to "secrets" for role "mallory"/, 'registering a table under RLS is refused');

# RLS switched on after registration stops the table.
sql(q{
CREATE TABLE public.later (id int PRIMARY KEY, owner name NOT NULL);
INSERT INTO public.later VALUES (1, 'mallory'), (2, 'postgres');
GRANT SELECT ON public.later TO mallory;
});
($out, $err) = as_role('mallory', qq{SELECT rrr_register('public.later', 'full', target_table => '$schema.later')});
is($err, '', 'mallory registers a table without RLS');
like(replicate('later'), qr/^imported\|2\|/, 'it replicates');
sql(q{ALTER TABLE public.later ENABLE ROW LEVEL SECURITY; CREATE POLICY own ON public.later USING (owner = current_user);
	INSERT INTO public.later VALUES (3, 'postgres')});
like(replicate('later'), qr/^failed\|0\|.*row-level security/s, 'RLS enabled afterwards stops the table');
is(warehouse_sql("SELECT count(*) FROM $schema.later"), '2', 'the warehouse keeps what it had');

# ---------------------------------------------------------------------------
# 3. rrr_unregister checks privileges before it locks anything.
# ---------------------------------------------------------------------------
sql(qq{
CREATE TABLE public.victim (id int PRIMARY KEY, v text);
INSERT INTO public.victim VALUES (1, 'a'), (2, 'b');
SELECT rrr_register('victim', 'full', target_table => '$schema.victim', track_deletes => true);
DELETE FROM public.victim WHERE id = 2;
});
my $blocker = $node->background_psql('postgres');
$blocker->query_safe('BEGIN; LOCK public.victim IN ACCESS EXCLUSIVE MODE');
($out, $err) = as_role('mallory', q{SELECT rrr_unregister('public.victim')}, options => '-c statement_timeout=5s');
$blocker->query_safe('COMMIT');
$blocker->quit;
like($err, qr/permission denied for table victim/, 'unregistering without rights is refused at once, without waiting for a lock');
is(sql(q{SELECT count(*) FROM pg_trigger WHERE tgrelid = 'public.victim'::regclass AND tgname LIKE 'redtrack%'}), '3',
	'the triggers stay');
is(sql(q{SELECT count(*) FROM redtrack.deleted_records WHERE source = 'public.victim'::regclass}), '1',
	'the pending deletes stay');

# ---------------------------------------------------------------------------
# 4. NOTIFY carries no error text, and can be turned off.
# ---------------------------------------------------------------------------
my $listener = $node->background_psql('postgres');
$listener->query_safe('LISTEN redtrack');
replicate('granted');    # fails: permission denied
my $notes = $listener->query_safe('SELECT 1');
my ($payload) = ($notes =~ /payload "(\{.*\})"/);
my $note = eval { decode_json($payload // '') } // {};
is($note->{state}, 'failed', 'a failed run is announced');
ok(!exists $note->{error} && ($payload // '') !~ /permission/, 'without its error text');
sql(q{ALTER SYSTEM SET redtrack.notify = off; SELECT pg_reload_conf()});
replicate('granted');
$notes = $listener->query_safe('SELECT 1');
unlike($notes, qr/Asynchronous notification/, 'redtrack.notify = off sends nothing');
$listener->quit;
sql(q{ALTER SYSTEM RESET redtrack.notify; SELECT pg_reload_conf()});

# ---------------------------------------------------------------------------
# 5. A planted operator in a superuser's search_path runs nowhere.
# ---------------------------------------------------------------------------
sql(q{SELECT rrr_define_stream('hits', '{"n": {"type": "integer"}}'); SELECT rrr_write('hits', '{"n": 1}')});
as_role('mallory', q{
CREATE TABLE m.ops (who text);
GRANT INSERT ON m.ops TO PUBLIC;
CREATE FUNCTION m.minus(timestamptz, timestamptz) RETURNS interval LANGUAGE plpgsql AS $$
BEGIN INSERT INTO m.ops VALUES (current_user); RETURN $1 OPERATOR(pg_catalog.-) $2; END$$;
CREATE OPERATOR m.- (LEFTARG = timestamptz, RIGHTARG = timestamptz, FUNCTION = m.minus);
CREATE FUNCTION m.eq(regclass, regclass) RETURNS boolean LANGUAGE plpgsql AS $$
BEGIN INSERT INTO m.ops VALUES (current_user); RETURN $1::oid OPERATOR(pg_catalog.=) $2::oid; END$$;
CREATE OPERATOR m.= (LEFTARG = regclass, RIGHTARG = regclass, FUNCTION = m.eq);
GRANT USAGE ON SCHEMA m TO PUBLIC;
});
sql(q{SET search_path = m, pg_catalog, public; SELECT count(*) FROM redtrack.status; SELECT count(*) FROM redtrack.pending_deletes;
	SELECT * FROM rrr_replicate('victim'); SELECT rrr_reset('victim');});
is(sql(q{SELECT count(*) FROM m.ops}), '0', 'the planted operators never ran');

# ---------------------------------------------------------------------------
# 6. Two registrations never load one Redshift table.
# ---------------------------------------------------------------------------
sql(q{CREATE TABLE same1 (id int PRIMARY KEY); CREATE TABLE same2 (id int PRIMARY KEY); CREATE TABLE same3 (id int PRIMARY KEY)});
sql(qq{SELECT rrr_register('same1', 'full', target_table => '$schema.rt_same')});
for my $t (qq{"$schema"."RT_SAME"}, qq{$schema.RT_Same}, qq{"$schema".rt_same})
{
	my ($o, $e);
	$node->psql('postgres', qq{SELECT rrr_register('same2', 'full', target_table => '$t')}, stderr => \$e);
	like($e, qr/already the target of "public.same1"/, "target $t collides with $schema.rt_same");
}
sql(q{SELECT rrr_register('same2', 'full', target_table => 'rt_plain')});
$node->psql('postgres', q{SELECT rrr_register('same3', 'full', target_table => 'public."RT_PLAIN"')}, stderr => \$err);
like($err, qr/already the target of "public.same2"/, 'an unqualified target is the same table as public.target');

# ---------------------------------------------------------------------------
# 7. RENAME COLUMN on the source never nulls warehouse data.
# ---------------------------------------------------------------------------
sql(qq{
CREATE TABLE people (id int PRIMARY KEY, email text, updated_at timestamptz NOT NULL DEFAULT now());
INSERT INTO people (id, email) SELECT g, 'p' || g || '\@x' FROM generate_series(1, 10) g;
SELECT rrr_register('people', 'timed', target_table => '$schema.people');
});
like(replicate('people'), qr/^imported\|10\|/, 'people replicates');
sql(q{ALTER TABLE people RENAME COLUMN email TO mail; UPDATE people SET updated_at = now() + interval '1 minute' WHERE id <= 5});
like(replicate('people'), qr/^failed\|0\|.*column "email" of target table .* has no source column/s,
	'a target column with no source column stops the table');
is(warehouse_sql("SELECT count(*) FROM $schema.people WHERE email IS NULL"), '0', 'no email was nulled');
warehouse_sql("ALTER TABLE $schema.people RENAME COLUMN email TO mail");
like(replicate('people'), qr/^imported\|(5|10)\|/, 'after the same rename on the warehouse, the retry loads');
compare_tables($node, 'SELECT id, mail FROM people ORDER BY 1', "SELECT id, mail FROM $schema.people ORDER BY 1",
	'people after the rename');

# ---------------------------------------------------------------------------
# 9. A target dropped by hand is rebuilt in full.
# ---------------------------------------------------------------------------
sql(qq{
CREATE TABLE orders (id int PRIMARY KEY, amount int, updated_at timestamptz NOT NULL DEFAULT now());
INSERT INTO orders (id, amount) SELECT g, g FROM generate_series(1, 100) g;
SELECT rrr_register('orders', 'timed', target_table => '$schema.orders');
});
like(replicate('orders'), qr/^imported\|100\|/, 'orders replicates');
warehouse_sql("DROP TABLE $schema.orders");
sql(q{UPDATE orders SET amount = -1, updated_at = now() + interval '1 minute' WHERE id = 7});
my ($res, $warn) = replicate('orders');
like($res, qr/^imported\|100\|/, 'the next run sends every row');
like($warn, qr/no longer exists; replication \d+ rebuilds it from every row/, 'with a WARNING');
compare_tables($node, 'SELECT id, amount FROM orders ORDER BY 1', "SELECT id, amount FROM $schema.orders ORDER BY 1",
	'orders after the target was dropped');

# Dropped between export and import: the window alone is never loaded.
sql(q{UPDATE orders SET amount = -2, updated_at = now() + interval '2 minutes' WHERE id = 8});
like(sql(q{SELECT state FROM rrr_export('orders')}), qr/^(exported|uploaded)$/, 'exported');
warehouse_sql("DROP TABLE $schema.orders");
$node->psql('postgres', q{SELECT state FROM rrr_import('orders')}, stdout => \$out, stderr => \$err);
is($out, 'canceled', 'an import whose target vanished is canceled');
like(replicate('orders'), qr/^imported\|100\|/, 'and the next run rebuilds the target');
compare_tables($node, 'SELECT id, amount FROM orders ORDER BY 1', "SELECT id, amount FROM $schema.orders ORDER BY 1",
	'orders after the target vanished before an import');

# ---------------------------------------------------------------------------
# 10. A primary key change stops the table.
# ---------------------------------------------------------------------------
sql(qq{
CREATE TABLE tenants (tenant int NOT NULL, id int NOT NULL, v text, updated_at timestamptz NOT NULL DEFAULT now(),
	PRIMARY KEY (id));
INSERT INTO tenants (tenant, id, v) VALUES (1, 1, 'a'), (1, 2, 'b');
SELECT rrr_register('tenants', 'timed', target_table => '$schema.tenants');
});
like(replicate('tenants'), qr/^imported\|2\|/, 'tenants replicates');
sql(q{ALTER TABLE tenants DROP CONSTRAINT tenants_pkey; ALTER TABLE tenants ADD PRIMARY KEY (tenant, id);
	INSERT INTO tenants (tenant, id, v) VALUES (2, 1, 'c'), (2, 2, 'd')});
like(replicate('tenants'), qr/^failed\|0\|.*primary key of public.tenants changed from \(id\) to \(tenant, id\)/s,
	'a changed primary key stops the table');
is(warehouse_sql("SELECT count(*) FROM $schema.tenants"), '2', 'nothing was merged under the old key');

# ---------------------------------------------------------------------------
# 14. One broken registration never stops the call for the others.
# ---------------------------------------------------------------------------
sql(qq{
CREATE TABLE ok_t (id int PRIMARY KEY, updated_at timestamptz NOT NULL DEFAULT now());
CREATE TABLE broken_t (id int PRIMARY KEY, updated_at timestamptz NOT NULL DEFAULT now());
INSERT INTO ok_t (id) VALUES (1); INSERT INTO broken_t (id) VALUES (1);
SELECT rrr_register('ok_t', 'timed', target_table => '$schema.ok_t');
SELECT rrr_register('broken_t', 'timed', target_table => '$schema.broken_t');
});
like(replicate('broken_t'), qr/^imported/, 'broken_t replicates once');
sql(q{ALTER TABLE broken_t RENAME COLUMN updated_at TO changed_at});
$node->psql('postgres', q{SELECT source || '|' || state FROM rrr_replicate('ok_t', 'broken_t') ORDER BY 1},
	stdout => \$out, stderr => \$err);
is($out, "broken_t|failed\nok_t|imported", 'rrr_replicate: a failed row for the broken table, the other imported');
like(sql(q{SELECT last_state || '|' || last_error FROM redtrack.status WHERE source = 'broken_t'::regclass}),
	qr/^failed\|replication field "updated_at" of public.broken_t no longer exists/, 'the status says why');
$node->psql('postgres', q{SELECT count(*) FROM rrr_replicate_all()}, stdout => \$out, stderr => \$err);
ok($out > 0, 'rrr_replicate_all runs too') or diag($err);

# ---------------------------------------------------------------------------
# 16. rrr_replicate after rrr_reset in one transaction fails at once.
# ---------------------------------------------------------------------------
{
	local $ENV{PGOPTIONS} = '-c statement_timeout=10s';
	$node->psql('postgres', q{BEGIN; SELECT rrr_reset('ok_t'); SELECT * FROM rrr_replicate('ok_t'); COMMIT;},
		stderr => \$err);
}
like($err, qr/current transaction holds the replication lock of "public.ok_t"/, 'no hang: a clear error');

# ---------------------------------------------------------------------------
# 18. A source column named like redtrack's own.
# ---------------------------------------------------------------------------
sql(qq{
CREATE TABLE rn (id int PRIMARY KEY, redtrack_rn int, updated_at timestamptz NOT NULL DEFAULT now());
INSERT INTO rn (id, redtrack_rn) SELECT g, g * 10 FROM generate_series(1, 5) g;
SELECT rrr_register('rn', 'timed', target_table => '$schema.rn');
});
like(replicate('rn'), qr/^imported\|5\|/, 'a column named redtrack_rn loads');
compare_tables($node, 'SELECT id, redtrack_rn FROM rn ORDER BY 1', "SELECT id, redtrack_rn FROM $schema.rn ORDER BY 1",
	'rn');

# ---------------------------------------------------------------------------
# 19. Values cut to the target are reported to the caller, not only the log.
# ---------------------------------------------------------------------------
warehouse_sql("CREATE TABLE $schema.narrow (id int, v varchar(3))");
sql(qq{
CREATE TABLE narrow (id int PRIMARY KEY, v text);
INSERT INTO narrow VALUES (1, 'abcdef');
SELECT rrr_register('narrow', 'full', target_table => '$schema.narrow');
});
($res, $warn) = replicate('narrow');
like($res, qr/^imported\|1\|/, 'narrow loads');
like($warn, qr/1 values cut or rounded to fit the target/, 'the caller hears about the cut value');

warehouse_sql("DROP SCHEMA IF EXISTS $schema CASCADE; DROP SCHEMA IF EXISTS ${schema}_loads CASCADE");
$node->stop;
done_testing();
