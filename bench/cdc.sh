#!/usr/bin/env bash
# Comparison 9: the cdc strategy (issue 13).
#
#   deletes     bulk DELETE of BENCH_DEL_BULK rows, and BENCH_DEL_SINGLE
#               one-by-one DELETEs, of a table registered 'cdc' on the
#               source (wal_level = logical), against the same DELETEs on a
#               private server at wal_level = replica with no trigger
#               (initdb'd here, same settings as the stack's source)
#   throughput  BENCH_CDC_ROWS rows updated in one statement, then
#               rrr_replicate: 'cdc' (the UPDATE leaves updated_at alone)
#               against 'timed' (the UPDATE bumps updated_at), rows/s
#   memory      peak memory of the engine worker decoding one UPDATE of
#               every row, for each of BENCH_CDC_MEMORY_SIZES rows
#
# As a section of bench/run.sh (BENCH_SECTIONS=cdc) it records into
# results.tsv; run alone (bash bench/cdc.sh, with REDTRACK_STACK_DIR and the
# REDTRACK_*_PORT of a running stack) it makes its own work directory and
# prints the ratios.
set -euo pipefail
source "$(dirname "$0")/lib.sh"

BENCH_CDC_ROWS=${BENCH_CDC_ROWS:-1000000}
BENCH_CDC_MEMORY_SIZES=${BENCH_CDC_MEMORY_SIZES:-1000000 5000000}
BENCH_CDC_RUNS=${BENCH_CDC_RUNS:-$BENCH_RUNS}
BENCH_CDC_REPLICA_PORT=${BENCH_CDC_REPLICA_PORT:-25533}
BENCH_CDC_PARTS=${BENCH_CDC_PARTS:-deletes throughput memory}
part() { [[ " $BENCH_CDC_PARTS " == *" $1 "* ]]; }

standalone=
if [[ -z $BENCH_WORK ]]; then
	standalone=1
	BENCH_WORK=$(mktemp -d /tmp/redtrack-bench-cdc.XXXXXX)
	export BENCH_WORK
	chmod 755 "$BENCH_WORK"
fi
replica_dir=$BENCH_WORK/replica
cleanup() {
	[[ -d $replica_dir ]] && "$PG_BINDIR/pg_ctl" -D "$replica_dir" -m immediate stop >/dev/null 2>&1 || true
	rm -rf "$replica_dir"
	[[ -z $standalone ]] || rm -rf "$BENCH_WORK"
}
trap cleanup EXIT

if [[ -n $standalone ]]; then
	# run.sh turns the scheduler off for the whole bench; alone, do it here
	# (its runs would compete with the ones measured)
	src -c "ALTER SYSTEM SET redtrack.enabled = off" -c "SELECT pg_reload_conf()" >/dev/null
fi
[[ $(src_val "SHOW wal_level") == logical ]] || die "the source runs with wal_level = $(src_val 'SHOW wal_level'); cdc needs logical"
src -c "CREATE EXTENSION IF NOT EXISTS redtrack" >/dev/null
src -f "$BENCH_HOME/schema.sql" -v tbl=bench_cdc_scratch >/dev/null

# ---------------------------------------------------------------------------
# deletes: logical + cdc against replica + nothing
# ---------------------------------------------------------------------------
if part deletes; then
# The private replica-level server runs as the source's owner, with the
# settings test/stack/stack.sh gives the source.
owner=$(stat -c %U "$REDTRACK_STACK_DIR/source")
as_owner() { if [[ $(id -un) == "$owner" ]]; then "$@"; else runuser -u "$owner" -- "$@"; fi; }
mkdir -p "$replica_dir"
chown "$owner" "$replica_dir" "$BENCH_WORK"
as_owner "$PG_BINDIR/initdb" -D "$replica_dir" -U postgres --auth=trust >/dev/null
cat >>"$replica_dir/postgresql.conf" <<EOF
port = $BENCH_CDC_REPLICA_PORT
listen_addresses = '127.0.0.1'
unix_socket_directories = '$replica_dir'
wal_level = replica
fsync = off
synchronous_commit = off
full_page_writes = off
shared_buffers = '$(src_val "SHOW shared_buffers")'
max_wal_size = '$(src_val "SHOW max_wal_size")'
EOF
as_owner "$PG_BINDIR/pg_ctl" -D "$replica_dir" -l "$replica_dir/log" -w start >/dev/null ||
	{ cat "$replica_dir/log" >&2; die "the wal_level = replica server did not start"; }
rep() { PGOPTIONS="-c client_min_messages=warning" "$PG_BINDIR/psql" -X -q -v ON_ERROR_STOP=1 -h 127.0.0.1 -p "$BENCH_CDC_REPLICA_PORT" -U postgres -d postgres "$@"; }
rep -f "$BENCH_HOME/schema.sql" -v tbl=bench_cdc_scratch >/dev/null

table=bench_cdc_del
# A fresh table of BENCH_DEL_BULK rows on one server; cdc registered on the source.
setup() {
	local server=$1
	if [[ $server == logical ]]; then
		unregister "$table"
		src -v tbl="$table" -f "$BENCH_HOME/schema.sql"
		src -c "INSERT INTO $table SELECT * FROM bench_rows(1, $BENCH_DEL_BULK)" \
			-c "ALTER TABLE $table ADD PRIMARY KEY (id)" \
			-c "SELECT rrr_register('$table', 'cdc')" >/dev/null
		src -c "VACUUM (FREEZE, ANALYZE) $table" -c "CHECKPOINT"
	else
		rep -v tbl="$table" -f "$BENCH_HOME/schema.sql"
		rep -c "INSERT INTO $table SELECT * FROM bench_rows(1, $BENCH_DEL_BULK)" \
			-c "ALTER TABLE $table ADD PRIMARY KEY (id)" \
			-c "VACUUM (FREEZE, ANALYZE) $table" -c "CHECKPOINT"
	fi
}
on() { if [[ $1 == logical ]]; then shift; src "$@"; else shift; rep "$@"; fi; }

singles=$BENCH_WORK/cdc_deletes.sql
for ((id = 1; id <= BENCH_DEL_SINGLE; id++)); do
	echo "DELETE FROM $table WHERE id = $id;"
done >"$singles"

for ((run = 1; run <= BENCH_CDC_RUNS; run++)); do
	while read -r server; do
		setup "$server"
		ms=$(on "$server" -c '\timing on' -c "DELETE FROM $table" | sed -n 's/^Time: \([0-9.]*\) ms.*/\1/p')
		record cdc_deletes "$server" bulk "$run" seconds "$(awk -v m="$ms" 'BEGIN { printf "%.6f", m / 1000 }')"
		setup "$server"
		t0=$(now)
		on "$server" -f "$singles"
		record cdc_deletes "$server" single "$run" seconds "$(elapsed "$t0" "$(now)")"
	done < <(rotate "$run" replica logical)
done
unregister "$table"
src -c "DROP TABLE $table"
fi

# ---------------------------------------------------------------------------
# throughput: cdc against timed, the same rows updated
# ---------------------------------------------------------------------------
fresh() {
	local t=$1 strategy=$2
	unregister "$t"
	wh -c "DROP TABLE IF EXISTS $t" >/dev/null
	bash "$BENCH_HOME/gen_table.sh" "$BENCH_CDC_ROWS" "$t"
	if [[ $strategy == timed ]]; then
		src -c "SELECT rrr_register('$t', 'timed', replication_field => 'updated_at')" >/dev/null
	else
		src -c "SELECT rrr_register('$t', 'cdc')" >/dev/null
	fi
	src -c "SELECT state FROM rrr_replicate('$t')" >/dev/null # the first full load, untimed
}
replicate_timed() {
	local t=$1 t0 t1 state
	t0=$(now)
	state=$(src_val "SELECT state || ':' || coalesce(error, '') FROM rrr_replicate('$t')")
	t1=$(now)
	[[ $state == imported: ]] || die "rrr_replicate('$t'): $state"
	elapsed "$t0" "$t1"
}
for ((run = 1; run <= BENCH_CDC_RUNS; run++)); do
	part throughput || break
	while read -r strategy; do
		t=bench_cdc_$strategy
		fresh "$t" "$strategy"
		if [[ $strategy == timed ]]; then
			src -c "UPDATE $t SET score = score + 1, updated_at = now()"
		else
			src -c "UPDATE $t SET score = score + 1"
		fi
		s=$(replicate_timed "$t")
		record cdc_throughput "$strategy" "$BENCH_CDC_ROWS" "$run" seconds "$s"
		[[ $(src_val "SELECT count(*) FROM $t") == $(wh_val "SELECT count(*) FROM $t") ]] ||
			die "$t: the warehouse's row count differs"
		unregister "$t"
		src -c "DROP TABLE $t"
		wh -c "DROP TABLE IF EXISTS $t" >/dev/null
	done < <(rotate "$run" timed cdc)
done

# ---------------------------------------------------------------------------
# memory: one UPDATE of every row, decoded
# ---------------------------------------------------------------------------
for rows in $BENCH_CDC_MEMORY_SIZES; do
	part memory || break
	t=bench_cdc_mem
	unregister "$t"
	wh -c "DROP TABLE IF EXISTS $t" >/dev/null
	bash "$BENCH_HOME/gen_table.sh" "$rows" "$t"
	src -c "SELECT rrr_register('$t', 'cdc')" -c "SELECT state FROM rrr_replicate('$t')" >/dev/null
	src -c "UPDATE $t SET score = score + 1"
	bash "$BENCH_HOME/peak_rss.sh" "$BENCH_WORK/cdc_rss" &
	sampler=$!
	s=$(replicate_timed "$t")
	wait "$sampler"
	read -r hwm anon <"$BENCH_WORK/cdc_rss"
	record cdc_memory cdc "$rows" 1 seconds "$s"
	record cdc_memory cdc "$rows" 1 vmhwm_kb "$hwm"
	record cdc_memory cdc "$rows" 1 rssanon_kb "$anon"
	unregister "$t"
	src -c "DROP TABLE $t"
	wh -c "DROP TABLE IF EXISTS $t" >/dev/null
done

if [[ -n $standalone ]]; then
	python3 - "$BENCH_WORK/results.tsv" <<'PY'
import statistics, sys
from collections import defaultdict
v = defaultdict(list)
for line in open(sys.argv[1]):
    section, case, size, run, metric, value = line.rstrip("\n").split("\t")
    v[(section, case, size, metric)].append(float(value))
med = lambda k: statistics.median(v[k]) if v.get(k) else float("nan")
for kind, goal in (("bulk", 1.6), ("single", 1.2)):
    r, l = med(("cdc_deletes", "replica", kind, "seconds")), med(("cdc_deletes", "logical", kind, "seconds"))
    print(f"DELETE {kind}: replica/no trigger {r:.3f} s, logical/cdc {l:.3f} s, ratio {l / r:.2f} (goal <= {goal})")
for (s, c, size, m), _ in sorted(v.items()):
    if s == "cdc_throughput":
        pass
sizes = sorted({k[2] for k in v if k[0] == "cdc_throughput"})
for size in sizes:
    t, c = med(("cdc_throughput", "timed", size, "seconds")), med(("cdc_throughput", "cdc", size, "seconds"))
    n = int(size)
    print(f"{n} updated rows: timed {t:.2f} s ({n / t:.0f} rows/s), cdc {c:.2f} s ({n / c:.0f} rows/s), "
          f"cdc/timed throughput {t / c:.2f} (goal >= 0.8)")
mem = sorted(((int(k[2]), val[0]) for k, val in v.items() if k[0] == "cdc_memory" and k[3] == "vmhwm_kb"))
anon = dict((int(k[2]), val[0]) for k, val in v.items() if k[0] == "cdc_memory" and k[3] == "rssanon_kb")
for n, h in mem:
    print(f"decoding {n} changes: VmHWM {h / 1024:.1f} MB, RssAnon {anon.get(n, 0) / 1024:.1f} MB")
if len(mem) >= 2:
    print(f"memory growth {mem[0][0]} -> {mem[-1][0]} changes: {(mem[-1][1] - mem[0][1]) / 1024:.1f} MB (goal within 10 MB)")
PY
fi
