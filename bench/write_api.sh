#!/usr/bin/env bash
# Comparison 6: the write API -- PLACEHOLDER SECTION for issue 7 (event
# tracking, being built): it runs only when the function rrr_write exists,
# and records "skipped" otherwise.  Extend it as the events issue lands.
#
# A stream bench_events (user_id bigint, event varchar(32), amount
# decimal(12,2), at timestamptz) and an equivalent plain table with the
# queue's own columns (identity key, enqueued_at default now()).  Per run,
# for 1 and 8 clients, in rotating order: BENCH_EVENTS events written with
# pgbench (-n, simple protocol, one event per transaction), through
#   plain     bench/pgbench/write_plain.sql  INSERT INTO bench_plain_events ...
#   rrr_write bench/pgbench/write_rrr.sql    SELECT rrr_write('bench_events', '{...}')
# timed as BENCH_EVENTS / pgbench's tps (without connection time).  Then the
# run's queued events are drained to the warehouse by rrr_replicate (timed
# wall-clock: the drain rate in events per second).
set -euo pipefail
source "$(dirname "$0")/lib.sh"

if [[ $(src_val "SELECT count(*) FROM pg_proc WHERE proname = 'rrr_write'") == 0 ]]; then
	note "rrr_write does not exist yet: write API section skipped"
	record write skipped - 0 skipped 1
	exit 0
fi

queue=redtrack_streams.bench_events
fresh_event_stream bench_events
src -c "DROP TABLE IF EXISTS bench_plain_events" \
	-c "CREATE TABLE bench_plain_events (
	        redtrack_event_id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	        redtrack_enqueued_at timestamptz NOT NULL DEFAULT now(),
	        amount numeric(12,2),
	        at timestamptz NOT NULL,
	        event text NOT NULL,
	        user_id bigint NOT NULL)"

# pgbench CLIENTS SCRIPT: prints the seconds BENCH_EVENTS events took.
write() {
	local clients=$1 script=$2 out tps
	out=$("$PG_BINDIR/pgbench" -n -h 127.0.0.1 -p "$REDTRACK_SOURCE_PORT" -U postgres postgres \
		-c "$clients" -j $((clients < 2 ? clients : 2)) -t $((BENCH_EVENTS / clients)) \
		-f "$BENCH_HOME/pgbench/$script" 2>&1) || die "pgbench failed: $out"
	tps=$(sed -n 's/^tps = \([0-9.]*\) (without initial connection time)/\1/p' <<<"$out")
	[[ -n $tps ]] || die "no tps in pgbench output: $out"
	awk -v n=$((BENCH_EVENTS / clients * clients)) -v t="$tps" 'BEGIN { printf "%.6f", n / t }'
}

for ((run = 1; run <= BENCH_RUNS; run++)); do
	src -c "TRUNCATE bench_plain_events" -c "CHECKPOINT"
	for clients in 1 8; do
		while read -r api; do
			case $api in
			plain) s=$(write "$clients" write_plain.sql) ;;
			rrr_write) s=$(write "$clients" write_rrr.sql) ;;
			esac
			record write "$api" "$clients" "$run" seconds "$s"
		done < <(rotate "$run" plain rrr_write)
	done
	queued=$(src_val "SELECT count(*) FROM $queue")
	t0=$(now)
	result=$(src -AtF ' ' -c "SELECT state, rows FROM rrr_replicate('$queue')")
	t1=$(now)
	read -r state rows <<<"$result"
	[[ $state == imported && $rows == "$queued" ]] ||
		die "draining $queued events ended '$result'"
	record write drain "$rows" "$run" seconds "$(elapsed "$t0" "$t1")"
	record write drain "$rows" "$run" events "$rows"
	note "run $run: $(awk -F'\t' -v r="$run" '$1 == "write" && $4 == r && $5 == "seconds" { printf "%s/%s %.2fs  ", $2, $3, $6 }' "$BENCH_WORK/results.tsv")"
done
record write queue - 0 queue_bytes_after "$(src_val "SELECT pg_total_relation_size('$queue')")"
record write queue - 0 queue_rows_after "$(src_val "SELECT count(*) FROM $queue")"

src -c "SELECT rrr_drop_stream('bench_events', force => true)" -c "DROP TABLE bench_plain_events" >/dev/null
