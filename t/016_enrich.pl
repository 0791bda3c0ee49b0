# Enrichment in the drain: a stream's enricher fills fields the writer
# left out; what arrives in the warehouse is what the enricher computes
# from the events written.  Events the enricher cannot make loadable (it
# raises, returns something else than an object, breaks the stream's
# rules, reads what its definer may not) are set aside in
# redtrack.rejected_events, the stream goes on, and they are re-queued once
# the enricher is fixed.  Streams are named in rrr_replicate, rrr_export and
# rrr_import by their names; an ambiguous name is refused.
use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/lib";
use PostgreSQL::Test::Utils;
use RedtrackTest;
use Test::More;

my $dialect = $ENV{REDTRACK_TEST_DIALECT} // 'redshift';
my $node = new_source('enrich', dialect => $dialect);
clear_faults();

sub sql { return $node->safe_psql('postgres', $_[0]); }

my $stream = "pv_" . substr(target_schema(), -12);
warehouse_sql(qq{DROP TABLE IF EXISTS "$stream"});

# The definer may read the IP ranges, not the owner's secret table.
sql(q{
CREATE ROLE definer LOGIN IN ROLE redtrack_admin;
CREATE TABLE ip_ranges (lo inet, hi inet, country text);
INSERT INTO ip_ranges VALUES ('10.0.0.0', '10.0.255.255', 'DE'), ('10.1.0.0', '10.1.255.255', 'FR'),
	('192.0.2.0', '192.0.2.255', 'JP');
GRANT SELECT ON ip_ranges TO definer;
CREATE TABLE owner_secret (s text);
REVOKE ALL ON owner_secret FROM PUBLIC;
GRANT CREATE ON SCHEMA public TO definer;
});

# The enricher, as the definer writes it.  mode (a field of the event)
# makes it misbehave on purpose.
my $enricher = q{
CREATE OR REPLACE FUNCTION public.enrich_pv(e jsonb) RETURNS jsonb LANGUAGE plpgsql AS $f$
BEGIN
	IF e->>'mode' = 'raise' THEN RAISE EXCEPTION 'cannot enrich event %', e->>'id'; END IF;
	IF e->>'mode' = 'array' THEN RETURN '[1, 2]'; END IF;
	IF e->>'mode' = 'scalar' THEN RETURN '"x"'; END IF;
	IF e->>'mode' = 'null' THEN RETURN NULL; END IF;
	IF e->>'mode' = 'badtype' THEN RETURN e || '{"device": 42}'; END IF;
	IF e->>'mode' = 'unknown' THEN RETURN e || '{"nope": 1}'; END IF;
	IF e->>'mode' = 'secret' THEN PERFORM count(*) FROM public.owner_secret; END IF;
	RETURN e || jsonb_build_object(
		'device', CASE WHEN e->>'ua' ~* '(ipad|tablet)' THEN 'tablet'
					   WHEN e->>'ua' ~* '(mobile|android|iphone)' THEN 'mobile'
					   WHEN e->>'ua' ~* '(bot|crawl|spider)' THEN 'bot'
					   ELSE 'desktop' END,
		'country', (SELECT r.country FROM public.ip_ranges r
					WHERE (e->>'ip')::inet BETWEEN r.lo AND r.hi),
		'ran_as', current_user::text);
END
$f$;
};
sql("SET ROLE definer; $enricher");

# device, country and ran_as are only ever filled by the enricher.
sql(qq{
SET ROLE definer;
SELECT rrr_define_stream('$stream', '{
	"id": {"type": "bigint", "constraint": "not null"},
	"ip": {"type": "varchar(45)"},
	"ua": {"type": "varchar(256)"},
	"mode": {"type": "varchar(16)"},
	"device": {"type": "varchar(16)"},
	"country": {"type": "varchar(2)"},
	"ran_as": {"type": "varchar(64)"}}', enrich => 'public.enrich_pv(jsonb)');
});
is(sql(qq{SELECT enrich::text || '|' || enrich_role FROM redtrack.streams WHERE name = '$stream'}),
	'public.enrich_pv(jsonb)|definer', 'the stream names its enricher and the role it runs as');

# What the test wrote, to compare with.
sql(q{CREATE TABLE written (id bigint PRIMARY KEY, e jsonb); GRANT SELECT ON written TO definer});

sub remember
{
	my ($from, $to, $mode) = @_;
	my $m = defined $mode ? "'$mode'" : 'NULL';
	sql(qq{
INSERT INTO written
SELECT g, jsonb_strip_nulls(jsonb_build_object('id', g,
	'ip', '10.' || (g % 3) || '.' || (g % 200) || '.7',
	'ua', (ARRAY['Mozilla/5.0 (iPhone; CPU iPhone OS 17_0)', 'Mozilla/5.0 (X11; Linux x86_64)',
				 'Mozilla/5.0 (iPad; CPU OS 16_0)', 'Googlebot/2.1', 'Mozilla/5.0 (Linux; Android 14) Mobile'])[g % 5 + 1],
	'mode', $m))
FROM generate_series($from, $to) g});
}

sub write_events
{
	my ($from, $to, $mode) = @_;
	remember($from, $to, $mode);
	sql(qq{SELECT count(rrr_write('$stream', e)) FROM written WHERE id BETWEEN $from AND $to});
}

# The warehouse against the enricher applied to what was written.
sub arrived
{
	my ($message) = @_;
	return compare_tables($node,
		q{SET ROLE definer; SELECT w.id, x->>'ip', x->>'ua', x->>'device', x->>'country', x->>'ran_as'
		  FROM written w, LATERAL (SELECT public.enrich_pv(w.e - 'mode') AS x) y ORDER BY 1},
		qq{SELECT id, ip, ua, device, country, ran_as FROM "$stream" ORDER BY 1}, $message);
}

my @bad = qw(raise array scalar null badtype unknown secret);
write_events(1, 300);
my $i = 1000;
write_events(++$i, $i, $_) for @bad;

# Named by the stream's name.
is(sql(qq{SELECT state || '|' || rows FROM rrr_replicate('$stream')}), 'imported|300',
	'the drain loads the events the enricher accepted, by the stream\'s name');
is(sql(qq{SELECT count(*) FROM redtrack_streams."$stream"}), 0, 'the queue is empty: set-aside events left it too');
my %errors = split /\n|\|/, sql(qq{SELECT event->>'mode', error FROM redtrack.rejected_events
	WHERE stream = '$stream' ORDER BY event_id});
is(scalar keys %errors, scalar @bad, 'every misbehaving event was set aside');
like($errors{raise}, qr/cannot enrich event 1001/, 'an enricher that raises: its error');
like($errors{array}, qr/returned an array, not a JSON object/, 'an array is not an event');
like($errors{scalar}, qr/returned a scalar, not a JSON object/, 'nor a scalar');
like($errors{null}, qr/returned NULL/, 'nor NULL');
like($errors{badtype}, qr/field "device" of stream "\Q$stream\E" must be a string, not a number/,
	'an enriched event that breaks a field\'s type');
like($errors{unknown}, qr/stream "\Q$stream\E" has no field "nope"/, 'an enriched event with an unknown field');
like($errors{secret}, qr/permission denied for table owner_secret/,
	'the enricher runs with its definer\'s rights, not the extension owner\'s');
is(sql(qq{SELECT rejected_events FROM redtrack.status WHERE source = 'redtrack_streams."$stream"'::regclass}),
	scalar @bad, 'status counts the rejected events');
is(sql(q{SELECT count(*) FROM written w JOIN redtrack.rejected_events r ON jsonb_strip_nulls(r.event) = w.e}),
	scalar @bad, 'a rejected event is kept as it was written (fields not written are null)');

sql(q{DELETE FROM written WHERE id > 1000});
arrived('enriched rows in the warehouse are what the enricher computes');
is(warehouse_sql(qq{SELECT count(*) FROM "$stream" WHERE ran_as = 'definer'}), 300,
	'the enricher ran as the role that defined the stream');

# The stream goes on.
write_events(301, 350);
is(sql(qq{SELECT state || '|' || rows FROM rrr_replicate('$stream')}), 'imported|50', 'the next drain goes on');

# Fixed, the enricher ignores mode; the rejected events are queued again.
(my $fixed = $enricher) =~ s/IF e->>'mode'[^\n]*\n//g;
sql("SET ROLE definer; $fixed");
is(sql(qq{SELECT rrr_requeue_rejected('$stream', ARRAY(SELECT event_id FROM redtrack.rejected_events
	WHERE stream = '$stream' AND event->>'mode' IN ('raise', 'secret')))}), 2, 're-queue two by id');
is(sql(qq{SELECT count(*) FROM redtrack.rejected_events WHERE stream = '$stream'}), scalar @bad - 2,
	'the others still wait');
is(sql(qq{SELECT rrr_requeue_rejected('$stream')}), scalar @bad - 2, 're-queue the rest');
is(sql(qq{SELECT count(*) FROM redtrack.rejected_events WHERE stream = '$stream'}), 0, 'nothing set aside any more');
is(sql(qq{SELECT state || '|' || rows FROM rrr_replicate('$stream')}), 'imported|' . scalar @bad,
	'the re-queued events load');
$i = 1000;
remember(++$i, $i, $_) for @bad;
arrived('after the fix, every event arrived, enriched, once');

# ---------------------------------------------------------------------------
# A cancel stops the drain: it is no enrichment error, and sets nothing aside.
# ---------------------------------------------------------------------------
my $slow = "slow_" . substr(target_schema(), -12);
warehouse_sql(qq{DROP TABLE IF EXISTS "$slow"});
sql(qq{
CREATE FUNCTION public.enrich_slow(e jsonb) RETURNS jsonb LANGUAGE plpgsql AS \$f\$
BEGIN PERFORM pg_sleep(0.2); RETURN e; END \$f\$;
SELECT rrr_define_stream('$slow', '{"id": {"type": "bigint"}}', enrich => 'public.enrich_slow(jsonb)');
SELECT count(rrr_write('$slow', jsonb_build_object('id', g))) FROM generate_series(1, 100) g;});
my $session = $node->background_psql('postgres', on_error_stop => 0);
$session->query_until(qr/started/, "\\echo started\nSELECT state FROM rrr_replicate('$slow');\n");
my $engine;
ok(wait_until(sub {
	$engine = sql(q{SELECT pid FROM pg_stat_activity WHERE backend_type = 'redtrack engine' AND wait_event = 'PgSleep'});
	return $engine ne '';
}, 30, 'the enricher running'), 'the drain runs the slow enricher');
sql("SELECT pg_cancel_backend($engine)");
ok(wait_until(sub {
	sql(q{SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'redtrack engine'}) eq '0';
}, 30, 'the engine to stop'), 'a cancel stops the drain');
$session->quit;
is(sql(qq{SELECT count(*) FROM redtrack.rejected_events WHERE stream = '$slow'}), 0, 'no event was set aside');
is(sql(qq{SELECT count(*) FROM redtrack_streams."$slow"}), 100, 'every event still waits in the queue');
sql(q{CREATE OR REPLACE FUNCTION public.enrich_slow(e jsonb) RETURNS jsonb LANGUAGE sql AS 'SELECT e'});
is(sql(qq{SELECT state || '|' || rows FROM rrr_replicate('$slow')}), 'imported|100', 'the next drain loads them');

# ---------------------------------------------------------------------------
# Names: a stream's name, its queue table, and a name that is both.
# ---------------------------------------------------------------------------
write_events(2001, 2010);
is(sql(qq{SELECT state FROM rrr_export('$stream')}), 'uploaded', 'rrr_export takes the stream\'s name');
is(sql(qq{SELECT state || '|' || rows FROM rrr_import('$stream')}), 'imported|10', 'and so does rrr_import');
write_events(2011, 2012);
sql(qq{CREATE TABLE public."$stream" (id int)});
my ($rc, $out, $err) = $node->psql('postgres', qq{SELECT rrr_replicate('$stream')});
like($err, qr/"\Q$stream\E" names both table public\.\Q$stream\E and stream "\Q$stream\E"/,
	'a name that is a table and a stream is refused');
like($err, qr/HINT:  Write the table as 'public\.\Q$stream\E', or the stream as its queue table 'redtrack_streams\.\Q$stream\E'/,
	'with a hint');
($rc, $out, $err) = $node->psql('postgres', qq{SELECT rrr_export('$stream')});
like($err, qr/names both table/, 'rrr_export refuses it too');
is(sql(qq{SELECT state || '|' || rows FROM rrr_replicate('redtrack_streams.$stream')}), 'imported|2',
	'the queue table\'s name is not ambiguous');
sql(qq{SET search_path = redtrack_streams, public; SELECT rrr_replicate('$stream')});
pass('a name that finds the queue table itself is not ambiguous');
($rc, $out, $err) = $node->psql('postgres', q{SELECT rrr_replicate('no_such_thing')});
like($err, qr/relation "no_such_thing" does not exist/, 'a name that is neither: regclass\'s error');
arrived('every event arrived once');

# ---------------------------------------------------------------------------
# The enricher never runs with rights its owner does not have: its owner can
# replace its body.  Checked again at every drain; a refusal fails the
# drain and the events stay queued.
# ---------------------------------------------------------------------------
my $suffix = substr(target_schema(), -12);
my $owned = "own_$suffix";
warehouse_sql(qq{DROP TABLE IF EXISTS "$owned"});
sql(q{
CREATE ROLE lowly;
CREATE TABLE definer_only (who text);
REVOKE ALL ON definer_only FROM PUBLIC;
GRANT INSERT ON definer_only TO definer;
SET ROLE definer;
CREATE FUNCTION public.enrich_own(e jsonb) RETURNS jsonb LANGUAGE sql AS $f$ SELECT e $f$;
});
sql(qq{SET ROLE definer; SELECT rrr_define_stream('$owned', '{"id": {"type": "bigint"}}', enrich => 'public.enrich_own(jsonb)');
SELECT count(rrr_write('$owned', jsonb_build_object('id', g))) FROM generate_series(1, 20) g;});
# The function changes hands; its new owner makes it do what only the definer may.
sql(q{ALTER FUNCTION public.enrich_own(jsonb) OWNER TO lowly; GRANT CREATE ON SCHEMA public TO lowly;
SET ROLE lowly;
CREATE OR REPLACE FUNCTION public.enrich_own(e jsonb) RETURNS jsonb LANGUAGE plpgsql AS $f$
BEGIN INSERT INTO public.definer_only VALUES (current_user); RETURN e; END $f$;});
like(sql(qq{SELECT state || '|' || error FROM rrr_replicate('$owned')}),
	qr/^failed\|.*enricher public\.enrich_own\(jsonb\) of stream "\Q$owned\E" would run as role "definer", whose privileges its owner "lowly" does not have/s,
	'an enricher now owned by a role without the definer\'s privileges fails the drain');
is(sql(q{SELECT count(*) FROM definer_only}), 0, 'its code did not run with the definer\'s rights');
is(sql(qq{SELECT count(*) FROM redtrack_streams."$owned"}), 20, 'the events stay queued');
is(sql(qq{SELECT count(*) FROM redtrack.rejected_events WHERE stream = '$owned'}), 0, 'none is set aside');
# Back with the definer, who rewrites it: the drain goes on.
sql(q{ALTER FUNCTION public.enrich_own(jsonb) OWNER TO definer; SET ROLE definer;
CREATE OR REPLACE FUNCTION public.enrich_own(e jsonb) RETURNS jsonb LANGUAGE sql AS $f$ SELECT e $f$;});
like(sql(qq{SELECT state || '|' || rows FROM rrr_replicate('$owned')}), qr/^imported\|20$/,
	'owned by the definer again, the enricher runs');
compare_tables($node, q{SELECT g FROM generate_series(1, 20) g ORDER BY 1}, qq{SELECT id FROM "$owned" ORDER BY 1},
	'every held-back event arrived');

# ---------------------------------------------------------------------------
# Settings the enricher changes, even for the session, end with its call:
# the engine goes on with other tables in the same session.
# ---------------------------------------------------------------------------
my $guc = "guc_$suffix";
warehouse_sql(qq{DROP TABLE IF EXISTS "$guc"});
sql(qq{
CREATE FUNCTION public.enrich_guc(e jsonb) RETURNS jsonb LANGUAGE plpgsql AS \$f\$
BEGIN
	PERFORM set_config('default_transaction_read_only', 'on', false);
	RETURN e || jsonb_build_object('tz', current_setting('TimeZone'));
END \$f\$;
SELECT rrr_define_stream('$guc', '{"id": {"type": "bigint"}, "tz": {"type": "varchar(64)"}}',
	enrich => 'public.enrich_guc(jsonb)');
SELECT count(rrr_write('$guc', jsonb_build_object('id', g))) FROM generate_series(1, 10) g;});
write_events(3001, 3010);
is(sql(qq{SELECT string_agg(state || '|' || rows, ',' ORDER BY rows) FROM rrr_replicate('$guc', 'redtrack_streams.$stream')}),
	'imported|10,imported|10', 'a stream whose enricher sets a session setting, and another table after it, load');
compare_tables($node, q{SELECT g FROM generate_series(1, 10) g ORDER BY 1}, qq{SELECT id FROM "$guc" ORDER BY 1},
	'the enriched events arrived');
arrived('and so did the other stream\'s');

# ---------------------------------------------------------------------------
# The definer is kept by OID: renamed, it still is; dropped, it is no one
# (not a new role of the same name).  A dropped enricher is named.
# ---------------------------------------------------------------------------
my $renamed = "ren_$suffix";
warehouse_sql(qq{DROP TABLE IF EXISTS "$renamed"});
sql(qq{
CREATE ROLE old_name IN ROLE redtrack_admin;
GRANT CREATE ON SCHEMA public TO old_name;
SET ROLE old_name;
CREATE FUNCTION public.enrich_ren(e jsonb) RETURNS jsonb LANGUAGE sql AS \$f\$
	SELECT e || jsonb_build_object('ran_as', current_user::text) \$f\$;
SELECT rrr_define_stream('$renamed', '{"id": {"type": "bigint"}, "ran_as": {"type": "varchar(64)"}}',
	enrich => 'public.enrich_ren(jsonb)');
RESET ROLE;
ALTER ROLE old_name RENAME TO new_name;
SELECT count(rrr_write('$renamed', jsonb_build_object('id', g))) FROM generate_series(1, 5) g;});
is(sql(qq{SELECT state || '|' || rows FROM rrr_replicate('$renamed')}), 'imported|5',
	'a renamed definer is still the definer');
is(warehouse_sql(qq{SELECT string_agg(DISTINCT ran_as, ',') FROM "$renamed"}), 'new_name', 'the enricher ran as it');

sql(qq{DROP FUNCTION public.enrich_ren(jsonb);
SELECT count(rrr_write('$renamed', jsonb_build_object('id', g))) FROM generate_series(6, 8) g;});
like(sql(qq{SELECT state || '|' || error FROM rrr_replicate('$renamed')}),
	qr/^failed\|.*the enricher \S+ of stream "\Q$renamed\E" no longer exists/s,
	'a dropped enricher fails the drain, naming the stream');
is(sql(qq{SELECT count(*) FROM redtrack_streams."$renamed"}), 3, 'its events stay queued');
is(sql(qq{SELECT count(*) FROM redtrack.rejected_events WHERE stream = '$renamed'}), 0, 'none is set aside');

# A role that defined a stream with an enricher a superuser owns (who has
# every privilege), then dropped, and a new role of the same name.
sql(qq{SET ROLE new_name; SELECT rrr_define_stream('$renamed', '{"id": {"type": "bigint"}, "ran_as": {"type": "varchar(64)"}}',
	enrich => 'public.enrich_slow(jsonb)');
RESET ROLE; REVOKE CREATE ON SCHEMA public FROM new_name; DROP ROLE new_name; CREATE ROLE new_name IN ROLE redtrack_admin;});
like(sql(qq{SELECT state || '|' || error FROM rrr_replicate('$renamed')}),
	qr/^failed\|.*the role that defined stream "\Q$renamed\E" \(OID \d+\) no longer exists/s,
	'a dropped definer fails the drain, naming the stream; a new role of its name is not it');
is(sql(qq{SELECT count(*) FROM redtrack_streams."$renamed"}), 3, 'the events stay queued');
sql(qq{SET ROLE new_name; SELECT rrr_define_stream('$renamed', '{"id": {"type": "bigint"}, "ran_as": {"type": "varchar(64)"}}')});
is(sql(qq{SELECT state || '|' || rows FROM rrr_replicate('$renamed')}), 'imported|3',
	'defined again, the stream loads what waited');
compare_tables($node, q{SELECT g FROM generate_series(1, 8) g ORDER BY 1}, qq{SELECT id FROM "$renamed" ORDER BY 1},
	'every event arrived once');

done_testing();
