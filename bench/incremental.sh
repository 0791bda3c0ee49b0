#!/usr/bin/env bash
# Comparison 4: the cost of an incremental replication does not grow with
# the table.
#
# Tables bench_<rows> of each size in BENCH_INC_SIZES are registered with the
# timed strategy on updated_at (indexed) and loaded once in full (timed as
# "initial").  Then, per run and per table (order rotating): UPDATE of
# BENCH_INC_ROWS rows (distinct ids spread over the table) setting
# updated_at = clock_timestamp(); a pause of redtrack.watermark_margin + 0.5 s
# (untimed: otherwise the next run re-sends these rows, which the watermark
# margin keeps in the window); then `SELECT * FROM rrr_replicate(t)` timed
# wall-clock: export + upload + load into the warehouse in one transaction.
set -euo pipefail
source "$(dirname "$0")/lib.sh"

margin_ms=$(src_val "SELECT setting FROM pg_settings WHERE name = 'redtrack.watermark_margin'")
pause=$(awk -v m="$margin_ms" 'BEGIN { printf "%.3f", m / 1000 + 0.5 }')

# rrr_replicate(table); prints the replication id, fails unless imported.
replicate() {
	local table=$1 result state id
	result=$(src -AtF ' ' -c "SELECT state, replication_id FROM rrr_replicate('$table')")
	read -r state id <<<"$result"
	[[ $state == imported ]] || die "rrr_replicate($table) ended '$result': $(src_val \
		"SELECT error FROM redtrack.replications WHERE source = '$table'::regclass ORDER BY id DESC LIMIT 1")"
	echo "$id"
}

# Records the server's split of one replication: export (incl. upload) and import.
record_split() {
	local rows=$1 run=$2 id=$3
	src -AtF $'\t' -c "SELECT extract(epoch FROM export_duration), extract(epoch FROM import_duration), rows
	                   FROM redtrack.replications WHERE id = $id" |
		while IFS=$'\t' read -r exp imp n; do
			record incremental redtrack "$rows" "$run" export_seconds "$exp"
			record incremental redtrack "$rows" "$run" import_seconds "$imp"
			record incremental redtrack "$rows" "$run" rows "$n"
		done
}

for rows in $BENCH_INC_SIZES; do
	table=bench_$rows
	unregister "$table"
	wh -c "DROP TABLE IF EXISTS bench_inc_$rows"
	src -c "SELECT rrr_register('$table', 'timed', target_table => 'bench_inc_$rows',
	                            replication_field => 'updated_at')" >/dev/null
	t0=$(now)
	replicate "$table" >/dev/null
	t1=$(now)
	record incremental initial "$rows" 1 seconds "$(elapsed "$t0" "$t1")"
	note "initial load of $rows rows: $(elapsed "$t0" "$t1") s"
done

for ((run = 1; run <= BENCH_RUNS; run++)); do
	while read -r rows; do
		table=bench_$rows
		# BENCH_INC_ROWS distinct ids (7919 is prime, so i * 7919 mod rows never repeats for i < rows)
		src -c "UPDATE $table SET updated_at = clock_timestamp()
		        WHERE id IN (SELECT 1 + (i * 7919 + $run * 104729) % $rows
		                     FROM generate_series(1, $BENCH_INC_ROWS) AS i)"
		sleep "$pause"
		t0=$(now)
		id=$(replicate "$table")
		t1=$(now)
		record incremental redtrack "$rows" "$run" seconds "$(elapsed "$t0" "$t1")"
		record_split "$rows" "$run" "$id"
	done < <(rotate "$run" $BENCH_INC_SIZES) # (the list splits into its sizes)
	note "run $run: $(awk -F'\t' -v r="$run" '$1 == "incremental" && $2 == "redtrack" && $4 == r && $5 ~ /seconds|rows/ { printf "%s %s=%s  ", $3, $5, $6 }' "$BENCH_WORK/results.tsv")"
done

for rows in $BENCH_INC_SIZES; do unregister "bench_$rows"; done
