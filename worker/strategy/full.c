/*-------------------------------------------------------------------------
 *
 * full.c
 *	  The full strategy: every row, every run.  The load empties the target
 *	  (DELETE, in the load's transaction) and inserts the snapshot; it runs
 *	  even for an empty table, which empties the target.  Delete records
 *	  need no file of their own: the target is replaced anyway.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "strategy.h"

const Strategy strategy_full = {
	.kind = STRATEGY_FULL,
	.field = STRATEGY_FIELD_NONE,
	.no_field_detail = "A full replication replaces the whole target table on every run.",
	.name = "full",
	.windowed = false,
	.replaces_target = true,
	.refuses_unfed_columns = true,
	.select = strategy_no_select,
	.target_ddl = strategy_table_ddl,
	.prepare_target = strategy_evolve_target,
	.rows_sent = NULL,
	.merge_sql = strategy_replace_merge,
	.after_import = NULL,
	.run_group = NULL,
};
