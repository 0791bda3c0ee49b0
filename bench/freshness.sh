#!/usr/bin/env bash
# Comparison 7: freshness, from commit on the source to visibility in the
# warehouse, with the background worker doing the work.
#
# Source: bench_fresh (id, changed_at timestamptz indexed, version, payload)
# with 100,000 rows, registered timed on changed_at and loaded once.  Worker:
# redtrack.enabled = on, redtrack.naptime = 1 (s).  Workload: pgbench -R
# BENCH_FRESH_RATE -T BENCH_FRESH_SECONDS, 2 clients, one row change per
# transaction, half inserts (bench/pgbench/fresh_insert.sql) and half updates
# of a random existing row (fresh_update.sql); each change sets changed_at =
# clock_timestamp(), microseconds before its commit.
# Observer: one psql session on the warehouse runs, every 0.1 s (\watch),
#   INSERT INTO bench_seen SELECT id, changed_at, clock_timestamp() FROM bench_fresh
#   WHERE <not seen yet>
# so seen_at - changed_at is the delay of each change (resolution 0.1 s: the
# observer adds 0.05 s on average).  An update overwritten on the source
# before it was loaded is never visible; the report gives the coverage.
set -euo pipefail
source "$(dirname "$0")/lib.sh"

table=bench_fresh
unregister "$table"
wh -c "DROP TABLE IF EXISTS bench_fresh" -c "DROP TABLE IF EXISTS bench_seen"
src -c "DROP TABLE IF EXISTS $table" \
	-c "CREATE TABLE $table (id bigserial PRIMARY KEY, changed_at timestamptz NOT NULL,
	                         version integer NOT NULL DEFAULT 1, payload text)" \
	-c "INSERT INTO $table (changed_at, payload)
	    SELECT timestamptz '2024-01-01 00:00:00+00' + g * interval '1 second', 'initial row'
	    FROM generate_series(1, 100000) AS g" \
	-c "CREATE INDEX ON $table (changed_at)" \
	-c "VACUUM (FREEZE, ANALYZE) $table" \
	-c "SELECT rrr_register('$table', 'timed', replication_field => 'changed_at')" >/dev/null
state=$(src_val "SELECT state FROM rrr_replicate('$table')")
[[ $state == imported ]] || die "initial load of $table ended $state"

# The observer's table, and an index so that each poll reads only recent changes.
wh -c "CREATE INDEX bench_fresh_changed_at_idx ON bench_fresh (changed_at)" \
	-c "CREATE TABLE bench_seen (id bigint, changed_at timestamptz, seen_at timestamptz NOT NULL,
	                             PRIMARY KEY (id, changed_at))"

started=$(src_val "SELECT clock_timestamp()")
# (psql itself in the background, not the wh function: $! must be psql's pid)
"$PG_BINDIR/psql" -X -q -h 127.0.0.1 -p "$REDTRACK_WAREHOUSE_PORT" -U awsuser -d dev >/dev/null 2>&1 <<-SQL &
	INSERT INTO bench_seen
	SELECT f.id, f.changed_at, clock_timestamp() FROM bench_fresh AS f
	WHERE f.changed_at >= '$started' AND f.changed_at > clock_timestamp() - interval '30 s'
	  AND NOT EXISTS (SELECT FROM bench_seen AS s WHERE s.id = f.id AND s.changed_at = f.changed_at)
	\\watch 0.1
SQL
observer=$!
trap 'kill "$observer" 2>/dev/null || true' EXIT

src -c "ALTER SYSTEM SET redtrack.naptime = 1" -c "ALTER SYSTEM SET redtrack.enabled = on" \
	-c "SELECT pg_reload_conf()" >/dev/null

out=$("$PG_BINDIR/pgbench" -n -h 127.0.0.1 -p "$REDTRACK_SOURCE_PORT" -U postgres postgres \
	-c 2 -j 2 -R "$BENCH_FRESH_RATE" -T "$BENCH_FRESH_SECONDS" \
	-f "$BENCH_HOME/pgbench/fresh_insert.sql@1" -f "$BENCH_HOME/pgbench/fresh_update.sql@1" 2>&1) ||
	die "pgbench failed: $out"
changes=$(sed -n 's/^number of transactions actually processed: \([0-9]*\).*/\1/p' <<<"$out")
note "pgbench: $changes changes in ${BENCH_FRESH_SECONDS}s"

# Wait (up to 60 s) until the warehouse holds every change still current on the source.
current=$(src_val "SELECT count(*) FROM $table WHERE changed_at >= '$started'")
for ((i = 0; i < 600; i++)); do
	seen=$(wh_val "SELECT count(*) FROM bench_fresh WHERE changed_at >= '$started'")
	((seen >= current)) && break
	sleep 0.1
done
sleep 0.3
kill "$observer" 2>/dev/null || true
wait "$observer" 2>/dev/null || true
trap - EXIT
src -c "ALTER SYSTEM RESET redtrack.naptime" -c "ALTER SYSTEM SET redtrack.enabled = off" \
	-c "SELECT pg_reload_conf()" >/dev/null

record freshness workload - 0 changes "$changes"
record freshness workload - 0 current_changes "$current"
record freshness workload - 0 seconds "$BENCH_FRESH_SECONDS"
record freshness workload - 0 replications \
	"$(src_val "SELECT count(*) FROM redtrack.replications WHERE source = '$table'::regclass AND created_at >= '$started'")"
record freshness workload - 0 failed_replications \
	"$(src_val "SELECT count(*) FROM redtrack.replications WHERE source = '$table'::regclass AND created_at >= '$started' AND state = 'failed'")"
record freshness workload - 0 seen "$(wh_val "SELECT count(*) FROM bench_seen")"
# Every delay, in seconds, with the segment (1..BENCH_RUNS, equal slices of the
# workload's duration) its change fell in: the report takes percentiles.
wh -AtF $'\t' -c "SELECT least($BENCH_RUNS, 1 + floor(extract(epoch FROM changed_at - '$started'::timestamptz)
                                                  / ($BENCH_FRESH_SECONDS::float8 / $BENCH_RUNS)))::int,
                         extract(epoch FROM seen_at - changed_at)
                  FROM bench_seen" >"$BENCH_WORK/freshness.tsv"
record freshness workload - 0 seen_delays "$(wc -l <"$BENCH_WORK/freshness.tsv")"

unregister "$table"
src -c "DROP TABLE $table"
