#!/usr/bin/env bash
# redtrack's demo: `make demo` (or bash scripts/demo.sh) on a fresh Debian 12.
#
# Installs what is missing, builds and installs the extension, starts the
# local stack (S3 and Redshift stand-ins, and a source PostgreSQL with
# redtrack preloaded), creates a small shop schema, registers it with every
# strategy plus an event stream, lets the background worker replicate,
# changes the data, and shows the source and the Redshift side by side.
# Run it again at will: it starts from a clean schema each time.
set -euo pipefail
cd "$(dirname "$0")/.."

say() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

say "dependencies, build, install"
bash scripts/deps.sh
make -s -j2
if [[ $(id -u) -eq 0 ]]; then
	make -s install
elif sudo -n true 2>/dev/null; then
	sudo -n make -s install PG_CONFIG="$(command -v pg_config)"
else
	echo "redtrack: installing the extension into $(pg_config --pkglibdir) needs root, and 'sudo -n' failed for $(id -un)" >&2
	echo "redtrack: (sudo wants a password, or $(id -un) may not use sudo): run 'sudo -v' first, or run this as root" >&2
	exit 1
fi

say "local stack"
bash test/stack/stack.sh start
eval "$(bash test/stack/stack.sh env)"
SRC=(psql -X -q -v ON_ERROR_STOP=1 "$REDTRACK_SOURCE_CONNINFO")
DWH=(psql -X -q -v ON_ERROR_STOP=1 "$REDTRACK_WAREHOUSE_CONNINFO")

say "a shop on the source, registered for replication"
"${DWH[@]}" -c 'SET client_min_messages = warning' -c 'DROP SCHEMA IF EXISTS shop CASCADE' -c 'DROP TABLE IF EXISTS public.page_views'
"${SRC[@]}" <<'SQL'
SET client_min_messages = warning;
\o /dev/null
CREATE EXTENSION IF NOT EXISTS redtrack;
ALTER EXTENSION redtrack UPDATE;
-- a fast schedule for the demo (the default is one minute)
ALTER SYSTEM SET redtrack.naptime = 2;
SELECT pg_reload_conf();

SELECT rrr_drop_stream('page_views', force => true)
FROM redtrack.streams WHERE name = 'page_views';
DROP SCHEMA IF EXISTS shop CASCADE;
CREATE SCHEMA shop;

CREATE TABLE shop.users (
    id bigint PRIMARY KEY,
    email text NOT NULL,
    name text,
    country char(2),
    updated_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX ON shop.users (updated_at);

CREATE TABLE shop.orders (
    id bigint PRIMARY KEY,
    user_id bigint NOT NULL,
    total numeric(10,2) NOT NULL,
    status text NOT NULL DEFAULT 'new',
    placed_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX ON shop.orders (updated_at);

CREATE TABLE shop.audit_log (
    id bigserial PRIMARY KEY,
    actor text NOT NULL,
    action text NOT NULL,
    at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE shop.plans (
    code text PRIMARY KEY,
    price numeric(8,2) NOT NULL,
    active boolean NOT NULL
);

INSERT INTO shop.users (id, email, name, country)
SELECT g, 'user' || g || '@example.com', 'User ' || g, (ARRAY['DE','FR','US','JP'])[1 + g % 4]
FROM generate_series(1, 5000) g;
INSERT INTO shop.orders (id, user_id, total)
SELECT g, 1 + g % 5000, round((random() * 200)::numeric, 2) FROM generate_series(1, 20000) g;
INSERT INTO shop.audit_log (actor, action)
SELECT 'user' || (g % 50), 'login' FROM generate_series(1, 3000) g;
INSERT INTO shop.plans VALUES ('basic', 9.99, true), ('pro', 29.00, true), ('legacy', 4.50, false);

-- timed: changed rows merged by key; deletes tracked
SELECT rrr_register('shop.users', 'timed', target_table => 'shop.users', track_deletes => true);
SELECT rrr_register('shop.orders', 'timed', target_table => 'shop.orders', track_deletes => true);
-- identity: an append-only log
SELECT rrr_register('shop.audit_log', 'identity', target_table => 'shop.audit_log');
-- full: a small lookup table replaced every run
SELECT rrr_register('shop.plans', 'full', target_table => 'shop.plans');
-- an event stream, written through the validating API
SELECT rrr_define_stream('page_views', '{
    "user_id": {"type": "bigint", "constraint": "not null"},
    "path": {"type": "varchar(128)", "constraint": "not null"},
    "referrer": {"type": "varchar(256)"},
    "at": {"type": "timestamptz", "constraint": "not null"}}',
    sortkey => 'at', distkey => 'user_id');
SELECT count(rrr_write('page_views', jsonb_build_object('user_id', 1 + g % 5000,
    'path', '/product/' || g, 'at', now())))
FROM generate_series(1, 2000) g \gset
SELECT rrr_wake();
\o
SELECT source, strategy, target FROM redtrack.status ORDER BY source::text;
SQL

counts() {
	local src dwh
	src=$("${SRC[@]}" -At -c "SELECT (SELECT count(*) FROM shop.users), (SELECT count(*) FROM shop.orders),
		(SELECT count(*) FROM shop.audit_log), (SELECT count(*) FROM shop.plans),
		(SELECT count(*) FROM redtrack_streams.page_views)")
	dwh=$("${DWH[@]}" -At -c "SELECT
		(SELECT count(*) FROM shop.users), (SELECT count(*) FROM shop.orders),
		(SELECT count(*) FROM shop.audit_log), (SELECT count(*) FROM shop.plans),
		(SELECT count(*) FROM public.page_views)" 2>/dev/null || echo "-|-|-|-|-")
	printf '%-12s %12s %12s %12s %8s %12s\n' "" users orders audit_log plans page_views
	IFS='|' read -r a b c d e <<<"$src"
	printf '%-12s %12s %12s %12s %8s %12s\n' "source" "$a" "$b" "$c" "$d" "$e (queued)"
	IFS='|' read -r a b c d e <<<"$dwh"
	printf '%-12s %12s %12s %12s %8s %12s\n' "Redshift" "$a" "$b" "$c" "$d" "$e"
}

wait_for_sync() {
	local deadline=$((SECONDS + 120))
	while ((SECONDS < deadline)); do
		if [[ $("${SRC[@]}" -At -c "SELECT count(*) FROM redtrack.status WHERE last_state IS DISTINCT FROM 'imported' OR last_imported_at IS NULL OR (strategy = 'queue' AND backlog > 0)") == 0 ]]; then
			sleep 3 # one more run, so changes made just before are in
			return 0
		fi
		sleep 1
	done
	echo "the worker has not caught up after 2 minutes; see redtrack.status" >&2
}

say "the worker replicates on its own (naptime 2 s)"
wait_for_sync
counts

say "changes: updates, deletes, new orders, more events"
"${SRC[@]}" <<'SQL'
UPDATE shop.users SET country = 'CA', updated_at = now() WHERE id % 10 = 0;
DELETE FROM shop.orders WHERE id % 7 = 0;
UPDATE shop.orders SET status = 'shipped', updated_at = now() WHERE id % 5 = 0;
INSERT INTO shop.orders (id, user_id, total) SELECT g, 1 + g % 5000, 42 FROM generate_series(20001, 21000) g;
INSERT INTO shop.audit_log (actor, action) SELECT 'admin', 'refund' FROM generate_series(1, 250);
UPDATE shop.plans SET active = false WHERE code = 'pro';
SELECT count(rrr_write('page_views', jsonb_build_object('user_id', g, 'path', '/cart', 'at', now())))
FROM generate_series(1, 500) g \gset
SQL
wait_for_sync
counts

say "events enriched in the drain: device class from the user agent, country from IP ranges"
"${SRC[@]}" <<'SQL'
SET client_min_messages = warning;
\o /dev/null
DROP TABLE IF EXISTS public.demo_ip_ranges;
CREATE TABLE public.demo_ip_ranges (first_ip inet NOT NULL, last_ip inet NOT NULL, country char(2) NOT NULL);
INSERT INTO public.demo_ip_ranges VALUES
    ('192.0.2.0', '192.0.2.255', 'DE'), ('198.51.100.0', '198.51.100.255', 'FR'),
    ('203.0.113.0', '203.0.113.255', 'JP');
-- The tracker sends the raw user agent and IP; the worker's drain adds the
-- rest, with the rights of whoever defined the stream.
CREATE OR REPLACE FUNCTION public.demo_enrich_page_view(e jsonb) RETURNS jsonb
LANGUAGE sql STABLE AS $$
    SELECT e || jsonb_build_object(
        'device', CASE WHEN e->>'user_agent' IS NULL THEN NULL
                       WHEN e->>'user_agent' ~* '(ipad|tablet)' THEN 'tablet'
                       WHEN e->>'user_agent' ~* '(mobi|iphone|android)' THEN 'mobile'
                       WHEN e->>'user_agent' ~* '(bot|crawler|spider)' THEN 'bot'
                       ELSE 'desktop' END,
        'country', (SELECT r.country FROM public.demo_ip_ranges AS r
                    WHERE (e->>'ip')::inet BETWEEN r.first_ip AND r.last_ip))
$$;
-- The stream gains the raw fields, and those only the enricher fills.
SELECT rrr_define_stream('page_views', '{
    "user_id": {"type": "bigint", "constraint": "not null"},
    "path": {"type": "varchar(128)", "constraint": "not null"},
    "referrer": {"type": "varchar(256)"},
    "at": {"type": "timestamptz", "constraint": "not null"},
    "user_agent": {"type": "varchar(512)"},
    "ip": {"type": "varchar(45)"},
    "device": {"type": "varchar(16)"},
    "country": {"type": "varchar(2)"}}',
    sortkey => 'at', distkey => 'user_id', enrich => 'public.demo_enrich_page_view(jsonb)');
SELECT count(rrr_write('page_views', jsonb_build_object('user_id', g, 'path', '/landing', 'at', now(),
    'user_agent', (ARRAY['Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) Mobile/15E148',
                         'Mozilla/5.0 (Windows NT 10.0; Win64; x64) Chrome/124.0',
                         'Mozilla/5.0 (iPad; CPU OS 16_6 like Mac OS X)',
                         'Googlebot/2.1 (+http://www.google.com/bot.html)'])[1 + g % 4],
    'ip', (ARRAY['192.0.2.', '198.51.100.', '203.0.113.', '10.1.2.'])[1 + g % 3 + g % 2] || (g % 250))))
FROM generate_series(1, 1000) g \gset
SQL
wait_for_sync
"${DWH[@]}" -c "SELECT device, country, count(*) FROM public.page_views WHERE path = '/landing'
                GROUP BY 1, 2 ORDER BY 1, 2"
"${SRC[@]}" -c "SELECT source, backlog, rejected_events FROM redtrack.status WHERE strategy = 'queue'"
echo "(a stream is named by its name too:)"
"${SRC[@]}" -c "SELECT source, state FROM rrr_replicate('page_views')"

say "a failure at 3 a.m.: S3 refuses every upload"
S3_ADMIN=http://127.0.0.1:$REDTRACK_S3_PORT/_admin/faults
curl -sf -X PUT -H 'content-type: application/json' -d '{"refuse_writes": true}' "$S3_ADMIN" >/dev/null
"${SRC[@]}" -c "UPDATE shop.users SET name = name || ' (vip)', updated_at = now() WHERE id <= 100"
deadline=$((SECONDS + 60))
until [[ $("${SRC[@]}" -At -c "SELECT last_state FROM redtrack.status WHERE source = 'shop.users'::regclass") == failed ]] ||
	((SECONDS > deadline)); do sleep 1; done
"${SRC[@]}" -c "SELECT source, last_state, last_retries, left(last_error, 90) AS last_error
                FROM redtrack.status WHERE last_state = 'failed' ORDER BY source::text"
echo "(the worker retries each failed table after a backoff that doubles: 2 s, 4 s, 8 s, ...)"
sleep 5

say "S3 is back: the worker heals on its own"
curl -sf -X DELETE "$S3_ADMIN" >/dev/null
wait_for_sync
counts
"${SRC[@]}" -c "SELECT id, state, failed_phase, retries, rows FROM redtrack.replications
                WHERE source = 'shop.users'::regclass ORDER BY id DESC LIMIT 3"

say "the warehouse matches the source"
for t in users orders audit_log plans; do
	s=$("${SRC[@]}" -At -c "SELECT md5(string_agg(t::text, ',' ORDER BY 1)) FROM (SELECT * FROM shop.$t ORDER BY 1) t")
	d=$("${DWH[@]}" -At -c "SET TimeZone = '$("${SRC[@]}" -At -c 'SHOW TimeZone')'; SELECT md5(string_agg(t::text, ',' ORDER BY 1)) FROM (SELECT * FROM shop.$t ORDER BY 1) t")
	[[ $s == "$d" ]] && echo "shop.$t: identical" || echo "shop.$t: DIFFERS"
done

say "standalone tools: export a query to S3, load it into another table"
# A report no replication makes: revenue per country, exported as JSON
# lines with a manifest, then loaded into a new warehouse table.
EXPORT_PREFIX="exports/revenue/$(date -u +%Y%m%dT%H%M%S)/"
"${DWH[@]}" -c 'SET client_min_messages = warning' -c 'DROP SCHEMA IF EXISTS reports CASCADE'
"${SRC[@]}" -c "SELECT manifest_url, files, rows FROM rrr_export_query(
  \$q\$SELECT u.country, count(*) AS orders, sum(o.total) AS revenue
       FROM shop.orders o JOIN shop.users u ON u.id = o.user_id GROUP BY u.country\$q\$,
  '$EXPORT_PREFIX', 'json')"
"${SRC[@]}" -c "SELECT rrr_load('reports.revenue', '${EXPORT_PREFIX}manifest.json', 'json',
  columns => '{\"country\": {\"type\": \"varchar(2)\"}, \"orders\": {\"type\": \"bigint\"},
               \"revenue\": {\"type\": \"decimal(14,2)\"}}') AS rows_loaded"
echo "(the same source again loads nothing, with a NOTICE:)"
"${SRC[@]}" -c "SELECT rrr_load('reports.revenue', '${EXPORT_PREFIX}manifest.json', 'json') AS rows_loaded"
"${DWH[@]}" -c "SELECT * FROM reports.revenue ORDER BY country"

say "cdc: every change read from the WAL (no trigger, no updated_at)"
"${SRC[@]}" <<'SQL'
SET client_min_messages = warning;
\o /dev/null
CREATE TABLE shop.reviews (
    id bigint PRIMARY KEY,
    user_id bigint NOT NULL,
    stars int NOT NULL,
    body text
);
INSERT INTO shop.reviews SELECT g, 1 + g % 5000, 1 + g % 5, 'review ' || g FROM generate_series(1, 3000) g;
SELECT rrr_register('shop.reviews', 'cdc', target_table => 'shop.reviews');
SELECT * FROM rrr_replicate('shop.reviews');   -- the snapshot (the worker would take it too)
UPDATE shop.reviews SET stars = 5 WHERE id % 4 = 0;           -- no updated_at to bump
DELETE FROM shop.reviews WHERE id % 9 = 0;                    -- no trigger needed
UPDATE shop.reviews SET id = id + 100000 WHERE id % 50 = 1;   -- key changes
SELECT * FROM rrr_replicate('shop.reviews');   -- one warehouse transaction, then the slot advances
SQL
s=$("${SRC[@]}" -At -c "SELECT md5(string_agg(t::text, ',' ORDER BY 1)) FROM (SELECT * FROM shop.reviews ORDER BY 1) t")
d=$("${DWH[@]}" -At -c "SELECT md5(string_agg(t::text, ',' ORDER BY 1)) FROM (SELECT * FROM shop.reviews ORDER BY 1) t")
[[ $s == "$d" ]] && echo "shop.reviews: identical" || echo "shop.reviews: DIFFERS"
"${SRC[@]}" -c "SELECT slot_name, confirmed_lsn, retained_wal_bytes, wal_status, last_changes FROM redtrack.cdc_status"

say "redtrack.status"
"${SRC[@]}" -c "SELECT source, strategy, last_state, last_rows, lag, backlog, last_error
                FROM redtrack.status ORDER BY source::text"

cat <<EOF

Source PostgreSQL:   psql "$REDTRACK_SOURCE_CONNINFO"
Redshift stand-in:   psql "host=127.0.0.1 port=$REDTRACK_REDSHIFT_PORT dbname=dev user=awsuser sslmode=require"
                     (password Redtrack-test-1)
Its PostgreSQL:      psql "$REDTRACK_WAREHOUSE_CONNINFO"
Try:                 SELECT * FROM rrr_replicate('shop.users');   -- or rrr_replicate_all()
                     SELECT * FROM redtrack.replications ORDER BY id DESC LIMIT 5;
Stop everything:     bash test/stack/stack.sh stop
EOF
