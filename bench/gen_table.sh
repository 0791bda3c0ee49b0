#!/usr/bin/env bash
# Creates (or re-creates) the table bench_<rows> holding rows 1..<rows> of
# bench/schema.sql, loaded by two sessions at once, then its primary key, an
# index on the replication field (updated_at), and VACUUM (FREEZE, ANALYZE) so
# no later scan pays for hint bits or visibility checks.
#
#   bench/gen_table.sh ROWS [TABLE]
set -euo pipefail
source "$(dirname "$0")/lib.sh"

rows=$1
table=${2:-bench_$rows}
half=$((rows / 2))

src -v tbl="$table" -f "$BENCH_HOME/schema.sql"
src -c "INSERT INTO $table SELECT * FROM bench_rows(1, $half)" &
src -c "INSERT INTO $table SELECT * FROM bench_rows($half + 1, $rows)"
wait $!
src -c "ALTER TABLE $table ADD PRIMARY KEY (id)" \
	-c "CREATE INDEX ${table}_updated_at_idx ON $table (updated_at)" \
	-c "VACUUM (FREEZE, ANALYZE) $table"
