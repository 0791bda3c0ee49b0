#!/usr/bin/env bash
# Comparison 5: the cost of delete tracking.
#
# Per run, for each variant (order rotating), on a fresh table of
# BENCH_DEL_BULK rows (bench/schema.sql, primary key on id):
#   bulk    DELETE FROM t  -- all BENCH_DEL_BULK rows, one statement, autocommit;
#           timed by psql's \timing (statement round trip, no connection set-up)
#   single  then, on another fresh table, BENCH_DEL_SINGLE statements
#           DELETE FROM t WHERE id = <n>, each its own transaction, sent by one
#           psql session (psql -f); timed wall-clock around psql
# Variants:
#   none          no trigger
#   redtrack      rrr_register(t, 'timed', replication_field => 'updated_at',
#                 track_deletes => true): redtrack's C statement-level trigger
#   rrr_row       RRR's HairTrigger row-level PL/pgSQL trigger (delete_triggers.sql)
#   plpgsql_stmt  a PL/pgSQL statement-level trigger with a transition table
set -euo pipefail
source "$(dirname "$0")/lib.sh"

src -f "$BENCH_HOME/delete_triggers.sql"
table=bench_del

# A fresh, vacuumed table with the variant's trigger.
setup() {
	local variant=$1
	unregister "$table"
	src -v tbl="$table" -f "$BENCH_HOME/schema.sql"
	src -c "INSERT INTO $table SELECT * FROM bench_rows(1, $BENCH_DEL_BULK)" \
		-c "ALTER TABLE $table ADD PRIMARY KEY (id)" \
		-c "TRUNCATE rails_redshift_replicator_deleted_ids"
	case $variant in
	none) ;;
	redtrack)
		src -c "SELECT rrr_register('$table', 'timed', replication_field => 'updated_at',
		                            track_deletes => true)" >/dev/null ;;
	rrr_row)
		src -c "CREATE TRIGGER bench_del_tracking AFTER DELETE ON $table
		        FOR EACH ROW EXECUTE FUNCTION bench_rrr_row_delete()" ;;
	plpgsql_stmt)
		src -c "CREATE TRIGGER bench_del_tracking AFTER DELETE ON $table
		        REFERENCING OLD TABLE AS old_rows
		        FOR EACH STATEMENT EXECUTE FUNCTION bench_plpgsql_stmt_delete()" ;;
	esac
	src -c "VACUUM (FREEZE, ANALYZE) $table" -c "CHECKPOINT"
}

# Checks that the variant recorded what it should have.
check() {
	local variant=$1 expected=$2 got
	case $variant in
	none) return ;;
	redtrack) got=$(src_val "SELECT coalesce(sum(nkeys), 0) FROM redtrack.deleted_records
	                         WHERE source = '$table'::regclass") ;;
	*) got=$(src_val "SELECT count(*) FROM rails_redshift_replicator_deleted_ids") ;;
	esac
	[[ $got == "$expected" ]] || die "$variant recorded $got deleted keys, expected $expected"
}

singles=$BENCH_WORK/deletes.sql
for ((id = 1; id <= BENCH_DEL_SINGLE; id++)); do
	echo "DELETE FROM $table WHERE id = $id;"
done >"$singles"

for ((run = 1; run <= BENCH_RUNS; run++)); do
	while read -r variant; do
		setup "$variant"
		ms=$(src -c '\timing on' -c "DELETE FROM $table" | sed -n 's/^Time: \([0-9.]*\) ms.*/\1/p')
		[[ -n $ms ]] || die "no timing for the bulk DELETE"
		record deletes "$variant" bulk "$run" seconds "$(awk -v m="$ms" 'BEGIN { printf "%.6f", m / 1000 }')"
		check "$variant" "$BENCH_DEL_BULK"

		setup "$variant"
		t0=$(now)
		src -f "$singles"
		t1=$(now)
		record deletes "$variant" single "$run" seconds "$(elapsed "$t0" "$t1")"
		check "$variant" "$BENCH_DEL_SINGLE"
	done < <(rotate "$run" none redtrack rrr_row plpgsql_stmt)
	note "run $run: $(awk -F'\t' -v r="$run" '$1 == "deletes" && $4 == r { printf "%s/%s %.3fs  ", $2, $3, $6 }' "$BENCH_WORK/results.tsv")"
done

unregister "$table"
src -c "DROP TABLE $table" -c "DROP TABLE rails_redshift_replicator_deleted_ids" \
	-c "DROP FUNCTION bench_rrr_row_delete()" -c "DROP FUNCTION bench_plpgsql_stmt_delete()"
