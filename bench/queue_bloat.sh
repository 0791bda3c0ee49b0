#!/usr/bin/env bash
# Comparison 8: the size of a stream's queue table under continuous writes,
# drained by the background worker (issue 7: "queue tables must not bloat
# without bound").
#
# A stream bench_bloat (the write API section's four fields).  Worker:
# redtrack.enabled = on, redtrack.naptime = 1 (s); the queue table with
# redtrack's own settings (vacuum after every 10,000 deleted rows), and
# autovacuum_naptime = BENCH_BLOAT_AUTOVACUUM_NAPTIME (10 s): autovacuum
# looks at a database only that often, so the dead space between two
# vacuums is about rate x autovacuum_naptime rows whatever the threshold,
# and a two-minute run with the default minute would show only the first
# two cycles, not the steady state.
# Workload: pgbench -R BENCH_BLOAT_RATE -T BENCH_BLOAT_SECONDS, 2 clients,
# one rrr_write per transaction (bench/pgbench/write_bloat.sql).  A sampler records every 2 s the queue's
# heap size, total size (with its index), live and dead tuples, backlog and
# autovacuum count.  At the end, after the last drain, the warehouse must
# hold exactly the events written: the measurement is also a check.
set -euo pipefail
source "$(dirname "$0")/lib.sh"

stream=bench_bloat
queue=redtrack_streams.$stream
fresh_event_stream "$stream"
# Each event carries a unique user_id (a sequence), so the warehouse can be
# checked for lost and duplicated events, not only counted.
src -c "DROP SEQUENCE IF EXISTS bench_bloat_seq" -c "CREATE SEQUENCE bench_bloat_seq"
script=$BENCH_HOME/pgbench/write_bloat.sql

# One sample: seconds since start, heap bytes, total bytes, live, dead,
# backlog (rows in the queue), autovacuums so far.
sample() {
	src_val "SELECT round(extract(epoch FROM clock_timestamp() - '$1'::timestamptz)::numeric, 1),
	                pg_relation_size('$queue'), pg_total_relation_size('$queue'),
	                s.n_live_tup, s.n_dead_tup, (SELECT count(*) FROM $queue), s.autovacuum_count
	         FROM pg_stat_user_tables s WHERE s.relid = '$queue'::regclass" | tr '|' '\t'
}

src -c "ALTER SYSTEM SET redtrack.naptime = 1" -c "ALTER SYSTEM SET redtrack.enabled = on" \
	-c "ALTER SYSTEM SET autovacuum_naptime = '$BENCH_BLOAT_AUTOVACUUM_NAPTIME'" \
	-c "SELECT pg_reload_conf()" >/dev/null
record bloat workload - 0 autovacuum_naptime_s "$(src_val "SELECT setting FROM pg_settings WHERE name = 'autovacuum_naptime'")"
started=$(src_val "SELECT clock_timestamp()")
"$PG_BINDIR/pgbench" -n -h 127.0.0.1 -p "$REDTRACK_SOURCE_PORT" -U postgres postgres \
	-c 2 -j 2 -R "$BENCH_BLOAT_RATE" -T "$BENCH_BLOAT_SECONDS" -f "$script" >"$BENCH_WORK/bloat_pgbench.out" 2>&1 &
writer=$!
trap 'kill "$writer" 2>/dev/null || true' EXIT
: >"$BENCH_WORK/bloat.tsv"
while kill -0 "$writer" 2>/dev/null; do
	sample "$started" >>"$BENCH_WORK/bloat.tsv"
	sleep 2
done
wait "$writer" || die "pgbench failed: $(cat "$BENCH_WORK/bloat_pgbench.out")"
trap - EXIT
written=$(sed -n 's/^number of transactions actually processed: \([0-9]*\).*/\1/p' "$BENCH_WORK/bloat_pgbench.out")
note "pgbench: $written events in ${BENCH_BLOAT_SECONDS}s"

# The worker drains what is left (up to 60 s).
for ((i = 0; i < 300; i++)); do
	[[ $(src_val "SELECT count(*) FROM $queue") == 0 ]] && break
	sleep 0.2
done
sample "$started" >>"$BENCH_WORK/bloat.tsv"
src -c "ALTER SYSTEM RESET redtrack.naptime" -c "ALTER SYSTEM SET redtrack.enabled = off" \
	-c "ALTER SYSTEM RESET autovacuum_naptime" -c "SELECT pg_reload_conf()" >/dev/null

loaded=$(wh_val "SELECT count(*) FROM $stream")
record bloat workload - 0 written "$written"
record bloat workload - 0 loaded "$loaded"
record bloat workload - 0 distinct_loaded "$(wh_val "SELECT count(DISTINCT user_id) FROM $stream")"
record bloat workload - 0 seconds "$BENCH_BLOAT_SECONDS"
record bloat workload - 0 left_in_queue "$(src_val "SELECT count(*) FROM $queue")"
record bloat workload - 0 replications \
	"$(src_val "SELECT count(*) FROM redtrack.replications WHERE source = '$queue'::regclass AND created_at >= '$started'")"
record bloat workload - 0 failed_replications \
	"$(src_val "SELECT count(*) FROM redtrack.replications WHERE source = '$queue'::regclass AND created_at >= '$started' AND state = 'failed'")"
note "queue: $(tail -1 "$BENCH_WORK/bloat.tsv" | awk -F'\t' '{ printf "%.1f MB total after the last drain", $3 / 1e6 }'); warehouse: $loaded of $written events"

src -c "SELECT rrr_drop_stream('$stream', force => true)" -c "DROP SEQUENCE bench_bloat_seq" >/dev/null
wh -c "DROP TABLE IF EXISTS $stream"
