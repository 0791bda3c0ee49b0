# shellcheck shell=bash
# Settings and helpers shared by the benchmark scripts.  Sourced, not run:
#   source "$(dirname "$0")/lib.sh"
#
# Every setting is an environment variable with a default; bench/run.sh
# documents them.  The stack ports default to a private instance *below*
# Linux's ephemeral port range (32768-60999), so neither a running test stack
# nor the outgoing connections of a busy machine can collide with it.

BENCH_HOME=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck disable=SC2034 # ROOT is used by run.sh
ROOT=$(cd "$BENCH_HOME/.." && pwd)

export REDTRACK_STACK_DIR=${REDTRACK_STACK_DIR:-/tmp/redtrack-bench-stack}
export REDTRACK_S3_PORT=${REDTRACK_S3_PORT:-29100}
export REDTRACK_S3RVER_PORT=${REDTRACK_S3RVER_PORT:-29110}
export REDTRACK_REDSHIFT_PORT=${REDTRACK_REDSHIFT_PORT:-25539}
export REDTRACK_REDSHIFT_ADMIN_PORT=${REDTRACK_REDSHIFT_ADMIN_PORT:-25540}
export REDTRACK_WAREHOUSE_PORT=${REDTRACK_WAREHOUSE_PORT:-25538}
export REDTRACK_SOURCE_PORT=${REDTRACK_SOURCE_PORT:-25532}
export REDTRACK_S3_ENDPOINT=${REDTRACK_S3_ENDPOINT:-http://127.0.0.1:$REDTRACK_S3_PORT}
export REDTRACK_S3_BUCKET=${REDTRACK_S3_BUCKET:-redtrack-test}
export REDTRACK_AWS_ACCESS_KEY_ID=${REDTRACK_AWS_ACCESS_KEY_ID:-AKIDREDTRACKTEST}
export REDTRACK_AWS_SECRET_ACCESS_KEY=${REDTRACK_AWS_SECRET_ACCESS_KEY:-redtrack-test-secret}

BENCH_SIZES=${BENCH_SIZES:-100000 1000000 5000000}     # export table sizes (rows)
BENCH_RUNS=${BENCH_RUNS:-5}                             # runs per measurement (>= 5 for medians)
BENCH_SLICES=${BENCH_SLICES:-4}                         # redtrack.slices and the RRR split count
BENCH_MEMORY_SIZES=${BENCH_MEMORY_SIZES:-1000000 5000000}  # sizes whose peak RSS is compared
BENCH_INC_SIZES=${BENCH_INC_SIZES:-100000 5000000}      # incremental: small and large table
BENCH_INC_ROWS=${BENCH_INC_ROWS:-1000}                  # incremental: rows changed per run
BENCH_DEL_BULK=${BENCH_DEL_BULK:-100000}                # deletes: rows of the one-statement DELETE
BENCH_DEL_SINGLE=${BENCH_DEL_SINGLE:-10000}             # deletes: rows deleted one by one
BENCH_EVENTS=${BENCH_EVENTS:-100000}                    # write API: events per run
BENCH_FRESH_SECONDS=${BENCH_FRESH_SECONDS:-60}          # freshness: workload duration
BENCH_FRESH_RATE=${BENCH_FRESH_RATE:-1000}              # freshness: row changes per second
BENCH_BLOAT_SECONDS=${BENCH_BLOAT_SECONDS:-120}         # queue bloat: workload duration
BENCH_BLOAT_RATE=${BENCH_BLOAT_RATE:-1000}              # queue bloat: events per second
BENCH_BLOAT_AUTOVACUUM_NAPTIME=${BENCH_BLOAT_AUTOVACUUM_NAPTIME:-10s}  # queue bloat: the server's autovacuum_naptime
BENCH_DIALECT=${BENCH_DIALECT:-postgres}                # postgres | redshift | auto
BENCH_SECTIONS=${BENCH_SECTIONS-export incremental deletes write_api freshness queue_bloat compression}
BENCH_WORK=${BENCH_WORK:-}                              # temp dir (run.sh makes one)

PG_BINDIR=${PG_BINDIR:-$(pg_config --bindir 2>/dev/null || echo /usr/lib/postgresql/15/bin)}

say() { printf '\n\033[1m== %s\033[0m\n' "$*" >&2; }
note() { printf '   %s\n' "$*" >&2; }
die() { echo "bench: $*" >&2; exit 1; }

# psql on the source (superuser) and on the warehouse behind the Redshift
# stand-in.  -X: no ~/.psqlrc; stop at the first error.
src() { PGOPTIONS="-c client_min_messages=warning" "$PG_BINDIR/psql" -X -q -v ON_ERROR_STOP=1 -h 127.0.0.1 -p "$REDTRACK_SOURCE_PORT" -U postgres -d postgres "$@"; }
wh() { PGOPTIONS="-c client_min_messages=warning" "$PG_BINDIR/psql" -X -q -v ON_ERROR_STOP=1 -h 127.0.0.1 -p "$REDTRACK_WAREHOUSE_PORT" -U awsuser -d dev "$@"; }
# One value (unaligned, tuples only).
src_val() { src -Atc "$1"; }
wh_val() { wh -Atc "$1"; }

# The source's postmaster pid (parent of the engine workers we measure).
postmaster_pid() { head -1 "$REDTRACK_STACK_DIR/source/postmaster.pid"; }

# Debian's AWS CLI, confined to the loopback stand-in: no config files, no
# instance metadata lookups, no proxies, the stand-in's test keys.
aws_local() {
	env -u http_proxy -u https_proxy -u HTTP_PROXY -u HTTPS_PROXY -u AWS_PROFILE \
		AWS_EC2_METADATA_DISABLED=true AWS_CONFIG_FILE=/dev/null AWS_SHARED_CREDENTIALS_FILE=/dev/null \
		AWS_ACCESS_KEY_ID="$REDTRACK_AWS_ACCESS_KEY_ID" AWS_SECRET_ACCESS_KEY="$REDTRACK_AWS_SECRET_ACCESS_KEY" \
		AWS_DEFAULT_REGION=us-east-1 AWS_PAGER= \
		/usr/bin/aws --endpoint-url "$REDTRACK_S3_ENDPOINT" "$@"
}

# Removes every object under a prefix of the bucket (untimed housekeeping).
s3_clear() { aws_local s3 rm --recursive --only-show-errors "s3://$REDTRACK_S3_BUCKET/${1:-}" >/dev/null; }

# Wall-clock seconds since the epoch, microsecond resolution.
now() { echo "$EPOCHREALTIME"; }
elapsed() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.6f", b - a }'; }

# Appends one measurement: section, case, size, run, metric, value.
record() {
	[[ -n $BENCH_WORK ]] || die "BENCH_WORK is not set"
	printf '%s\t%s\t%s\t%s\t%s\t%s\n' "$@" >>"$BENCH_WORK/results.tsv"
}

# Records a fact for the report (key=value, shell-quoted on read).
fact() { printf '%s\t%s\n' "$1" "$2" >>"$BENCH_WORK/facts.tsv"; }

# Items of a list rotated by n places: interleaves baselines and redtrack so
# neither always runs first (or last) in a round.
rotate() {
	local n=$1
	shift
	local items=("$@") i
	for ((i = 0; i < ${#items[@]}; i++)); do
		printf '%s\n' "${items[(i + n) % ${#items[@]}]}"
	done
}

# Cancels whatever replication of a table is not imported yet, so the next
# rrr_export starts a new one.
cancel_pending() {
	src -c "UPDATE redtrack.replications SET state = 'canceled'
	        WHERE source = '$1'::regclass AND state NOT IN ('imported', 'canceled', 'failed')"
}

# (Re)declares an empty event stream with the write API sections' four
# fields, dropping an earlier one and its warehouse table.
fresh_event_stream() {
	src -c "SELECT rrr_drop_stream(name, force => true) FROM redtrack.streams WHERE name = '$1'" >/dev/null
	wh -c "DROP TABLE IF EXISTS $1"
	src -c "SELECT rrr_define_stream('$1', '{
	          \"user_id\": {\"type\": \"bigint\", \"constraint\": \"not null\"},
	          \"event\":   {\"type\": \"varchar(32)\", \"constraint\": \"not null\"},
	          \"amount\":  {\"type\": \"decimal(12,2)\"},
	          \"at\":      {\"type\": \"timestamptz\", \"constraint\": \"not null\"}}')" >/dev/null
}

# Drops a registration if there is one.
unregister() {
	src -c "SELECT rrr_unregister(source) FROM redtrack.replicables WHERE source = to_regclass('$1')" >/dev/null
}
