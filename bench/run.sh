#!/usr/bin/env bash
# redtrack's benchmarks: `make bench` (or bash bench/run.sh).
#
# Installs what is missing (scripts/deps.sh bench), builds and installs the
# extension when the installed copy differs, starts a PRIVATE instance of the
# local stack (own state directory, own ports: a running test stack is never
# touched), generates the tables, runs every comparison, writes
# bench/RESULTS.md and bench/throughput.svg, and stops and removes what it
# started.  Generated data and intermediate files live in a temp dir that is
# removed at the end.
#
# Parameters (environment):
#   BENCH_SIZES="100000 1000000 5000000"   export comparisons, rows per table
#   BENCH_RUNS=5                           runs per measurement (medians, min-max)
#   BENCH_MEMORY_SIZES="1000000 5000000"   peak memory compared between these sizes
#   BENCH_INC_SIZES="100000 5000000"       incremental: small and large table
#   BENCH_INC_ROWS=1000                    incremental: rows changed per run
#   BENCH_DEL_BULK=100000 BENCH_DEL_SINGLE=10000   delete tracking
#   BENCH_EVENTS=100000                    write API: events per run
#   BENCH_FRESH_SECONDS=60 BENCH_FRESH_RATE=1000   freshness workload
#   BENCH_BLOAT_SECONDS=120 BENCH_BLOAT_RATE=1000  queue bloat workload (events)
#   BENCH_BLOAT_AUTOVACUUM_NAPTIME=10s             autovacuum_naptime during it
#   BENCH_SLICES=4                         redtrack.slices and RRR's split count
#   BENCH_DIALECT=postgres                 postgres: load straight into the warehouse
#                                          PostgreSQL; redshift: through the Redshift
#                                          stand-in (must be up); auto: redshift if up
#   BENCH_SECTIONS="export incremental deletes write_api freshness queue_bloat compression"
#   BENCH_COMPRESSION_SIZES="100000 1000000"   compression: rows per table
#   BENCH_KEEP_STACK=1                     leave the private stack running at the end
#   REDTRACK_STACK_DIR=/tmp/redtrack-bench-stack and REDTRACK_*_PORT (see lib.sh)
set -euo pipefail
source "$(dirname "$0")/lib.sh"
cd "$ROOT"

began=$(now)
BENCH_WORK=$(mktemp -d /tmp/redtrack-bench.XXXXXX)
export BENCH_WORK
chmod 755 "$BENCH_WORK"
STACK_STARTED=

cleanup() {
	local rc=$?
	if [[ -n $STACK_STARTED && -z ${BENCH_KEEP_STACK:-} ]]; then
		bash test/stack/stack.sh stop >/dev/null 2>&1 || true
		rm -rf "$REDTRACK_STACK_DIR"
	fi
	rm -rf "$BENCH_WORK"
	((rc == 0)) || echo "bench: FAILED (exit $rc)" >&2
}
trap cleanup EXIT

say "dependencies"
# deps.sh installs what is missing, with sudo -n when not root (and says
# why when that cannot work).
bash scripts/deps.sh bench

say "build and install"
make -s -j"$(nproc)"
installed() {
	local libdir sharedir f
	libdir=$(pg_config --pkglibdir)
	sharedir=$(pg_config --sharedir)/extension
	cmp -s redtrack.so "$libdir/redtrack.so" && cmp -s redtrack.control "$sharedir/redtrack.control" || return 1
	for f in extension/redtrack--*.sql; do cmp -s "$f" "$sharedir/$(basename "$f")" || return 1; done
}
if installed; then
	note "the installed extension is this build"
elif [[ $(id -u) -eq 0 || -w $(pg_config --pkglibdir) ]]; then
	make -s install
elif sudo -n true 2>/dev/null; then
	sudo -n make -s install
else
	die "the installed redtrack differs from this build and $(pg_config --pkglibdir) is not writable: make install as root, or give this user passwordless sudo"
fi

say "private stack in $REDTRACK_STACK_DIR (ports S3 $REDTRACK_S3_PORT, source $REDTRACK_SOURCE_PORT, warehouse $REDTRACK_WAREHOUSE_PORT)"
STACK_STARTED=1
bash test/stack/stack.sh start || { sleep 2; bash test/stack/stack.sh start; } || die "the stack did not start"

proxy_up=no
(exec 3<>"/dev/tcp/127.0.0.1/$REDTRACK_REDSHIFT_PORT") 2>/dev/null && proxy_up=yes
dialect=$BENCH_DIALECT
[[ $dialect != auto ]] || { [[ $proxy_up == yes ]] && dialect=redshift || dialect=postgres; }
case $dialect in
postgres) conninfo="host=127.0.0.1 port=$REDTRACK_WAREHOUSE_PORT dbname=dev user=awsuser sslmode=disable" ;;
redshift)
	[[ $proxy_up == yes ]] || die "BENCH_DIALECT=redshift but the Redshift stand-in is not up"
	conninfo=$(bash test/stack/stack.sh env | sed -n "s/^export REDTRACK_REDSHIFT_CONNINFO='\(.*\)'$/\1/p") ;;
*) die "BENCH_DIALECT must be postgres, redshift or auto" ;;
esac

say "source configuration (dialect $dialect)"
# A clean slate: no registration, replication or stream left from an earlier run.
src -c "DROP EXTENSION IF EXISTS redtrack CASCADE" -c "DROP SCHEMA IF EXISTS redtrack_streams CASCADE" \
	-c "CREATE EXTENSION redtrack" \
	-c "ALTER SYSTEM SET redtrack.target_dialect = '$dialect'" \
	-c "ALTER SYSTEM SET redtrack.redshift_conninfo = '$conninfo'" \
	-c "ALTER SYSTEM SET redtrack.enabled = off" \
	-c "ALTER SYSTEM SET redtrack.slices = $BENCH_SLICES" \
	-c "SELECT pg_reload_conf()" >/dev/null
# ... and in the warehouse: no load marker (keyed by replication id) nor bench table.
wh >/dev/null <<-'SQL'
	DROP SCHEMA IF EXISTS redtrack CASCADE;
	SELECT format('DROP TABLE %I.%I', schemaname, tablename) FROM pg_tables
	WHERE schemaname = 'public' AND tablename LIKE 'bench%' \gexec
SQL
sleep 0.5

say "tables"
sizes=$(printf '%s\n' $BENCH_SIZES $BENCH_INC_SIZES ${BENCH_COMPRESSION_SIZES:-100000 1000000} | sort -nu)
for rows in $sizes; do
	t0=$(now)
	bash bench/gen_table.sh "$rows"
	note "bench_$rows: $(elapsed "$t0" "$(now)") s"
done

# Facts for the report: machine, versions, settings, parameters.
{
	fact date "$(date -u '+%Y-%m-%d %H:%M UTC')"
	fact cores "$(nproc)"
	fact cpu "$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -1)"
	fact memory "$(awk '/MemTotal/ { printf "%.1f GB", $2 / 1048576 }' /proc/meminfo)"
	fact kernel "$(uname -r)"
	fact postgres "$(src_val 'SELECT version()')"
	fact psql "$(psql --version)"
	fact pgbench "$(pgbench --version)"
	fact gzip "$(gzip --version | head -1)"
	fact split "$(split --version | head -1)"
	fact aws "$(aws_local --version 2>&1)"
	fact gnuplot "$(gnuplot --version)"
	fact node "$(node --version)"
	fact s3rver "$(node -p "require('$ROOT/test/stack/node_modules/s3rver/package.json').version" 2>/dev/null || echo '?')"
	fact redtrack "$(src_val "SELECT extversion FROM pg_extension WHERE extname = 'redtrack'"), commit $(git rev-parse --short HEAD 2>/dev/null || echo '?')$(git diff --quiet HEAD -- extension worker 2>/dev/null || echo ' + uncommitted changes in extension/ worker/')"
	fact dialect "$dialect"
	fact proxy "$proxy_up"
	fact settings "$(src_val "SELECT string_agg(name || ' = ' || current_setting(name), ', ' ORDER BY name)
	                          FROM pg_settings WHERE name IN ('shared_buffers', 'redtrack.slices',
	                          'redtrack.compression_level', 'redtrack.max_file_size', 'redtrack.watermark_margin',
	                          'synchronous_commit', 'fsync')")"
	for v in BENCH_SIZES BENCH_RUNS BENCH_MEMORY_SIZES BENCH_INC_SIZES BENCH_INC_ROWS BENCH_DEL_BULK \
		BENCH_DEL_SINGLE BENCH_EVENTS BENCH_FRESH_SECONDS BENCH_FRESH_RATE BENCH_BLOAT_SECONDS BENCH_BLOAT_RATE \
		BENCH_BLOAT_AUTOVACUUM_NAPTIME BENCH_SLICES BENCH_SECTIONS; do
		fact "$v" "${!v}"
	done
}

for section in $BENCH_SECTIONS; do
	case $section in
	export) say "1-3. export: floor, RRR pipeline, redtrack; peak memory" ;;
	incremental) say "4. incremental replication" ;;
	deletes) say "5. delete tracking" ;;
	write_api) say "6. write API" ;;
	freshness) say "7. freshness" ;;
	queue_bloat) say "8. queue table size under continuous writes" ;;
	compression) say "compression: redtrack.compression = zstd, gzip, none against the floors" ;;
	*) die "unknown section '$section'" ;;
	esac
	t0=$(now)
	bash "bench/$section.sh"
	fact "duration_$section" "$(elapsed "$t0" "$(now)")"
done

fact duration_total "$(elapsed "$began" "$(now)")"
say "report"
# report.py writes RESULTS.md whole; the compression section has its own
# report, which keeps the last one when this run did not measure it.
python3 bench/report_compression.py --keep bench/RESULTS.md "$BENCH_WORK/compression.md"
[[ $(echo $BENCH_SECTIONS) == compression ]] ||
	python3 bench/report.py "$BENCH_WORK" bench/RESULTS.md bench/throughput.svg
python3 bench/report_compression.py "$BENCH_WORK" bench/RESULTS.md "$BENCH_WORK/compression.md"
note "bench/RESULTS.md, bench/throughput.svg (total $(elapsed "$began" "$(now)") s)"
