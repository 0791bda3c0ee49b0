#!/usr/bin/env bash
# Compression: redtrack.compression = zstd, gzip and none against both
# floors, in one run.
#
# For each run and each table size, in an order that rotates from run to run
# (machine noise hits every contender alike), six contenders read the same
# table bench_<rows>:
#
#   csv       psql -c "COPY (SELECT * FROM t) TO STDOUT (FORMAT csv)" > /dev/null
#   gzip1     the same | gzip -1 > /dev/null
#   zstd1     the same | zstd -1 > /dev/null      (reference: zstd's own CLI)
#   zstd, gzip, none
#             psql -c "SET redtrack.compression = ...; SELECT * FROM rrr_export('t')"
#             (full strategy), up to state 'uploaded': files and manifest on
#             the S3 stand-in, the upload included
#
# Then, untimed by the others, bench/zstd_probe.c compresses the table's CSV
# chunk by chunk as the export's compressor thread does, at several zstd
# levels and worker counts: what the choice of level and threads rests on.
set -euo pipefail
source "$(dirname "$0")/lib.sh"

sizes=${BENCH_COMPRESSION_SIZES:-100000 1000000}
# The machine is shared: how busy it was, for whoever reads the figures.
fact compression_load_start "$(cut -d' ' -f1-3 /proc/loadavg)"
codecs="zstd gzip none"

for rows in $sizes; do
	unregister "bench_$rows"
	src -c "SELECT rrr_register('bench_$rows', 'full', target_table => 'bench_compression_$rows')" >/dev/null
done
# The fixed cost of an export, whatever its size: 10 rows of the same shape.
smallest=$(printf '%s\n' $sizes | sort -n | head -1)
unregister bench_compression_fixed
src -c "DROP TABLE IF EXISTS bench_compression_fixed" \
	-c "CREATE TABLE bench_compression_fixed AS SELECT * FROM bench_$smallest ORDER BY 1 LIMIT 10" \
	-c "SELECT rrr_register('bench_compression_fixed', 'full', target_table => 'bench_compression_fixed')" >/dev/null

copy_csv() {
	"$PG_BINDIR/psql" -X -q -h 127.0.0.1 -p "$REDTRACK_SOURCE_PORT" -U postgres -d postgres \
		-c "COPY (SELECT * FROM $1) TO STDOUT (FORMAT csv)"
}

# CPU seconds (user + system) the S3 stand-in's process has used: on this
# machine it shares the cores with the export it serves, which real S3 does not.
s3_cpu() {
	local pid
	pid=$(cat "$REDTRACK_STACK_DIR/run/s3.pid" 2>/dev/null) || { echo 0; return; }
	awk -v hz="$(getconf CLK_TCK)" '{ printf "%.2f", ($14 + $15) / hz }' "/proc/$pid/stat" 2>/dev/null || echo 0
}

export_with() {
	local codec=$1 table=$2 run=$3 rows=$4 result t0 t1 state got id c0 c1
	cancel_pending "$table" >/dev/null
	c0=$(s3_cpu)
	t0=$(now)
	result=$(src -Atc "SET redtrack.compression = '$codec'" \
		-c "SELECT state || ' ' || rows || ' ' || replication_id FROM rrr_export('$table')")
	t1=$(now)
	c1=$(s3_cpu)
	record compression "$codec" "$rows" "$run" s3_cpu_seconds "$(awk -v a="$c0" -v b="$c1" 'BEGIN { printf "%.2f", b - a }')"
	read -r state got id <<<"$result"
	[[ $state == uploaded && $got == "$rows" ]] ||
		die "rrr_export($table) under $codec ended '$result'; expected state uploaded with $rows rows"
	record compression "$codec" "$rows" "$run" seconds "$(elapsed "$t0" "$t1")"
	src -AtF $'\t' -c "SELECT raw_bytes, bytes, files FROM redtrack.replications WHERE id = $id" |
		while IFS=$'\t' read -r raw bytes files; do
			record compression "$codec" "$rows" "$run" raw_bytes "$raw"
			record compression "$codec" "$rows" "$run" bytes "$bytes"
			record compression "$codec" "$rows" "$run" files "$files"
		done
	# every file is named by its format
	local suffix
	case $codec in zstd) suffix='.csv.zst' ;; gzip) suffix='.csv.gz' ;; none) suffix='.csv' ;; esac
	local prefix
	prefix=$(src_val "SELECT s3_key FROM redtrack.replications WHERE id = $id")
	aws_local s3 ls --recursive "s3://$REDTRACK_S3_BUCKET/$prefix" | awk '{ print $4 }' | grep '/part-' |
		grep -v -- "$suffix\$" && die "files of $codec not named $suffix"
	cancel_pending "$table" >/dev/null
}

for ((run = 1; run <= BENCH_RUNS; run++)); do
	export_with zstd bench_compression_fixed "$run" 10
	for rows in $sizes; do
		table=bench_$rows
		while read -r contender; do
			case $contender in
			csv | gzip1 | zstd1)
				t0=$(now)
				case $contender in
				csv) copy_csv "$table" >/dev/null ;;
				gzip1) copy_csv "$table" | gzip -1 >/dev/null ;;
				zstd1) copy_csv "$table" | zstd -q -1 >/dev/null ;;
				esac
				t1=$(now)
				record compression "$contender" "$rows" "$run" seconds "$(elapsed "$t0" "$t1")"
				;;
			*) export_with "$contender" "$table" "$run" "$rows" ;;
			esac
		done < <(rotate "$run" csv zstd gzip1 gzip zstd1 none)
		note "run $run, $rows rows: $(awk -F'\t' -v r="$run" -v n="$rows" \
			'$1 == "compression" && $3 == n && $4 == r && $5 == "seconds" { printf "%s %.2fs  ", $2, $6 }' \
			"$BENCH_WORK/results.tsv")"
	done
	s3_clear
done

# Sizes of the same CSV through the CLIs, and the compressor thread's cost
# per level and worker count (bench/zstd_probe.c), on the largest table.
largest=$(printf '%s\n' $sizes | sort -n | tail -1)
csv_file=$BENCH_WORK/compression_$largest.csv
copy_csv "bench_$largest" >"$csv_file"
record compression csv "$largest" 0 bytes "$(stat -c %s "$csv_file")"
record compression gzip1 "$largest" 0 bytes "$(gzip -1 -c "$csv_file" | wc -c)"
record compression zstd1 "$largest" 0 bytes "$(zstd -q -1 -c "$csv_file" | wc -c)"
cc -O2 -o "$BENCH_WORK/zstd_probe" "$BENCH_HOME/zstd_probe.c" -lzstd -lz
for ((run = 1; run <= BENCH_RUNS; run++)); do
	"$BENCH_WORK/zstd_probe" "$csv_file" |
		while IFS=$'\t' read -r codec level workers wall cpu bytes _raw; do
			record compression_probe "$codec:$level:$workers" "$largest" "$run" seconds "$wall"
			record compression_probe "$codec:$level:$workers" "$largest" "$run" cpu_seconds "$cpu"
			record compression_probe "$codec:$level:$workers" "$largest" "$run" bytes "$bytes"
		done
done
rm -f "$csv_file"
fact compression_load_end "$(cut -d' ' -f1-3 /proc/loadavg)"
fact zstd "$(zstd --version)"
fact libzstd "$(dpkg-query -W -f='${Version}' libzstd1 2>/dev/null || echo '?')"

for rows in $sizes; do
	unregister "bench_$rows"
done
unregister bench_compression_fixed
src -c "DROP TABLE bench_compression_fixed" >/dev/null
