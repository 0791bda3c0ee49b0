/*-------------------------------------------------------------------------
 *
 * cdc.c
 *	  The cdc strategy: changes read from the WAL through the database's
 *	  logical slot (worker/cdc/).  Its runs are per database: one decoding
 *	  and one warehouse transaction for all cdc tables (run_group).
 *
 * A table's first run is its initial snapshot, which the cdc run has the
 * engine take one table at a time (in_group_run): then the table
 * replicates as a full one does, so the per-table hooks below are the
 * full strategy's.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "cdc.h"
#include "strategy.h"

static void
cdc_run_group(Oid *relids, int n, EngineMode mode, bool wait_for_lock,
			  TableOutcome *outcomes)
{
	/*
	 * The first call decodes and loads for every cdc table of the
	 * database; the others find nothing new past the slot and only report
	 * their table.
	 */
	for (int i = 0; i < n; i++)
		cdc_run_database(relids[i], wait_for_lock, &outcomes[i]);
}

/* The last cdc table takes the database's slot with it. */
static void
cdc_after_unregister(void)
{
	cdc_drop_slot_if_unused(true);
}

const Strategy strategy_cdc = {
	.kind = STRATEGY_CDC,
	.field = STRATEGY_FIELD_NONE,
	.no_field_detail = "Every change is read from the write-ahead log.",
	/* wal_level, a key the WAL carries, no trigger */
	.check_registration = cdc_check_registration,
	.after_unregister = cdc_after_unregister,
	.name = "cdc",
	.windowed = false,
	.replaces_target = true,
	.refuses_unfed_columns = true,
	.select = strategy_no_select,
	.target_ddl = strategy_table_ddl,
	.prepare_target = strategy_evolve_target,
	.rows_sent = NULL,
	.merge_sql = strategy_replace_merge,
	.after_import = NULL,
	.run_group = cdc_run_group,
	.in_group_run = cdc_taking_snapshot,
};
