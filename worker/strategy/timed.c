/*-------------------------------------------------------------------------
 *
 * timed.c
 *	  The timed strategy: rows stamped with a replication field on every
 *	  insert and update, merged by key.  A run reads the window from the
 *	  watermark up to the field's maximum in its snapshot; the load
 *	  deletes the staged keys from the target and inserts the newest
 *	  staged row per key.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "strategy.h"

static List *
timed_merge(const StrategyMerge *m)
{
	return list_make2(psprintf("DELETE FROM %s USING %s WHERE %s", m->target, m->stage,
							   m->target_stage_keys),
					  strategy_insert_all(m));
}

const Strategy strategy_timed = {
	.kind = STRATEGY_TIMED,
	.field = STRATEGY_FIELD_TIME_OR_INTEGER,
	.default_field = "updated_at",
	.needs_key = true,
	.name = "timed",
	.windowed = true,
	.replaces_target = false,
	.refuses_unfed_columns = true,
	.select = strategy_window_select,
	.target_ddl = strategy_table_ddl,
	.prepare_target = strategy_evolve_target,
	.rows_sent = NULL,
	.merge_sql = timed_merge,
	.after_import = NULL,
	.run_group = NULL,
};
