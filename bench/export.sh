#!/usr/bin/env bash
# Comparisons 1-3: exporting a whole table.
#
# For each run and each table size, in an order that rotates from run to run
# (so machine noise hits every contender alike), three contenders export the
# same table bench_<rows>:
#
#   floor     psql -c "COPY (SELECT * FROM t) TO STDOUT (FORMAT csv)" | gzip -1 > /dev/null
#   rrr       bench/rrr_pipeline.sh: \copy to a file, split, gzip, aws s3 cp each slice
#   redtrack  psql -c "SELECT * FROM rrr_export('t')" (full strategy), up to
#             state 'uploaded': parts and manifest on the S3 stand-in
#
# Each is timed wall-clock around the client command.  During redtrack's
# export bench/peak_rss.sh samples the engine worker's memory.  Shared buffers
# are emptied of the bench tables at the start of every run (see below).
set -euo pipefail
source "$(dirname "$0")/lib.sh"

for rows in $BENCH_SIZES; do
	unregister "bench_$rows"
	src -c "SELECT rrr_register('bench_$rows', 'full', target_table => 'bench_export_$rows')" >/dev/null
done

floor() {
	"$PG_BINDIR/psql" -X -q -h 127.0.0.1 -p "$REDTRACK_SOURCE_PORT" -U postgres -d postgres \
		-c "COPY (SELECT * FROM $1) TO STDOUT (FORMAT csv)" | gzip -1 >/dev/null
}

redtrack() {
	local table=$1 run=$2 rows=$3 result t0 t1
	cancel_pending "$table"
	bash "$BENCH_HOME/peak_rss.sh" "$BENCH_WORK/rss" &
	local sampler=$!
	t0=$(now)
	result=$(src -Atc "SELECT state || ' ' || rows || ' ' || replication_id FROM rrr_export('$table')")
	t1=$(now)
	wait "$sampler"
	read -r state got id <<<"$result"
	[[ $state == uploaded && $got == "$rows" ]] ||
		die "rrr_export($table) ended '$result'; expected state uploaded with $rows rows"
	record export redtrack "$rows" "$run" seconds "$(elapsed "$t0" "$t1")"
	read -r hwm anon <"$BENCH_WORK/rss"
	record memory redtrack "$rows" "$run" vmhwm_kb "$hwm"
	record memory redtrack "$rows" "$run" rss_anon_kb "$anon"
	# the server's own account of the same export
	src -AtF $'\t' -c "SELECT extract(epoch FROM export_duration), raw_bytes, bytes, files
	                   FROM redtrack.replications WHERE id = $id" |
		while IFS=$'\t' read -r dur raw bytes files; do
			record export redtrack "$rows" "$run" server_seconds "$dur"
			record export redtrack "$rows" "$run" raw_bytes "$raw"
			record export redtrack "$rows" "$run" gzip_bytes "$bytes"
			record export redtrack "$rows" "$run" files "$files"
		done
	cancel_pending "$table"
}

# Fills shared buffers with a throw-away table, then drops it: the bench
# tables' pages leave the buffer pool.  A sequential scan of a table larger
# than a quarter of shared_buffers then reads through a small ring, so the
# engine's VmHWM (which counts every shared-buffer page the process touched)
# no longer depends on how much of *its* table happened to be cached -- which
# is only a matter of which table was generated last.
evict_shared_buffers() {
	src -c "CREATE UNLOGGED TABLE bench_evict (id bigint, filler text)" \
		-c "INSERT INTO bench_evict SELECT g, repeat('x', 500) FROM generate_series(1,
		        (1.5 * pg_size_bytes(current_setting('shared_buffers')) / 560)::bigint) AS g" \
		-c "DROP TABLE bench_evict"
}

for ((run = 1; run <= BENCH_RUNS; run++)); do
	evict_shared_buffers
	for rows in $BENCH_SIZES; do
		table=bench_$rows
		while read -r contender; do
			case $contender in
			floor)
				t0=$(now)
				floor "$table"
				t1=$(now)
				record export floor "$rows" "$run" seconds "$(elapsed "$t0" "$t1")"
				;;
			rrr)
				t0=$(now)
				bash "$BENCH_HOME/rrr_pipeline.sh" "$table" "$BENCH_WORK"
				t1=$(now)
				record export rrr "$rows" "$run" seconds "$(elapsed "$t0" "$t1")"
				;;
			redtrack) redtrack "$table" "$run" "$rows" ;;
			esac
		done < <(rotate "$run" floor redtrack rrr)
		note "run $run, $rows rows: $(awk -F'\t' -v r="$run" -v n="$rows" \
			'$1 == "export" && $3 == n && $4 == r && $5 == "seconds" { printf "%s %.2fs  ", $2, $6 }' \
			"$BENCH_WORK/results.tsv")"
	done
	# Untimed: the parts of this run, on the stand-in's disk.
	s3_clear
done

# CSV bytes per row, for the throughput chart (the floor's and RRR's CSV is
# PostgreSQL's own; redtrack's raw_bytes is recorded above).
for rows in $BENCH_SIZES; do
	record export floor "$rows" 0 csv_bytes \
		"$("$PG_BINDIR/psql" -X -q -h 127.0.0.1 -p "$REDTRACK_SOURCE_PORT" -U postgres -d postgres \
			-c "COPY (SELECT * FROM bench_$rows) TO STDOUT (FORMAT csv)" | wc -c)"
	unregister "bench_$rows"
done
