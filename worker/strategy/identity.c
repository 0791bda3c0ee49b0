/*-------------------------------------------------------------------------
 *
 * identity.c
 *	  The identity strategy: rows with a growing key that are only ever
 *	  inserted.  A run reads the window from the watermark up to the key's
 *	  maximum in its snapshot; the load inserts the staged rows whose key
 *	  the target does not hold yet (an anti-join: a retry or a repeated
 *	  row never duplicates).
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "strategy.h"

static List *
identity_merge(const StrategyMerge *m)
{
	return list_make1(psprintf("INSERT INTO %s (%s) SELECT %s FROM %s %s NOT EXISTS "
							   "(SELECT 1 FROM %s AS t WHERE %s)",
							   m->target, m->columns, m->columns, m->source,
							   m->source_has_where ? "AND" : "WHERE", m->target, m->t_s_keys));
}

const Strategy strategy_identity = {
	.kind = STRATEGY_IDENTITY,
	.field = STRATEGY_FIELD_INTEGER,
	.default_field = "id",
	.field_is_default_key = true,
	.name = "identity",
	.windowed = true,
	.replaces_target = false,
	.refuses_unfed_columns = true,
	.select = strategy_window_select,
	.target_ddl = strategy_table_ddl,
	.prepare_target = strategy_evolve_target,
	.rows_sent = NULL,
	.merge_sql = identity_merge,
	.after_import = NULL,
	.run_group = NULL,
};
