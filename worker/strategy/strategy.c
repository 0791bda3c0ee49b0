/*-------------------------------------------------------------------------
 *
 * strategy.c
 *	  The registry of strategies (name -> module), and the pieces several
 *	  strategies share.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "lib/stringinfo.h"
#include "utils/builtins.h"

#include "strategy.h"
#include "typemap.h"

/*
 * Every strategy module, from the one list of strategies
 * (REDTRACK_STRATEGIES in catalog/registry.h): each module defines
 * `const Strategy strategy_<name>`.
 */
#define DECLARE_MODULE(kind, name, what) extern const Strategy strategy_##name;
#define LIST_MODULE(kind, name, what) &strategy_##name,

REDTRACK_STRATEGIES(DECLARE_MODULE)

static const Strategy *const modules[] = {
	REDTRACK_STRATEGIES(LIST_MODULE)
};

const Strategy *
strategy_for(ReplicationStrategy kind)
{
	for (int i = 0; i < lengthof(modules); i++)
		if (modules[i]->kind == kind)
			return modules[i];
	elog(ERROR, "redtrack: no module for strategy %d", (int) kind);
	pg_unreachable();
}

const Strategy *
strategy_of(Replicable *r)
{
	return strategy_for(r->strategy);
}

const Strategy *
strategy_by_name(const char *name)
{
	for (int i = 0; i < lengthof(modules); i++)
		if (strcmp(modules[i]->name, name) == 0)
			return modules[i];
	return NULL;
}

/* ----------------------------------------------------------------
 * Shared pieces
 * ----------------------------------------------------------------
 */

/* The rows whose replication field lies in [first, last]. */
void
strategy_window_select(Replicable *r, const char *first, const char *last, StrategySelect *out)
{
	StringInfoData where;
	const char *field = quote_identifier(r->replication_field);
	char	   *type = format_type_be(r->field_type);

	memset(out, 0, sizeof(*out));
	initStringInfo(&where);
	if (first)
	{
		out->params[out->nparams++] = first;
		appendStringInfo(&where, " WHERE %s >= $%d::%s", field, out->nparams, type);
	}
	if (last)
	{
		out->params[out->nparams++] = last;
		appendStringInfo(&where, "%s %s <= $%d::%s", first ? " AND" : " WHERE",
						 field, out->nparams, type);
	}
	out->where = where.data;
	out->order_by = "";
}

/* Every row. */
void
strategy_no_select(Replicable *r, const char *first, const char *last, StrategySelect *out)
{
	memset(out, 0, sizeof(*out));
	out->where = "";
	out->order_by = "";
}

char *
strategy_table_ddl(Replicable *r, bool postgres_dialect)
{
	return target_ddl(r, postgres_dialect);
}

/* With evolve, the source columns the target lacks are added to it. */
TargetTable *
strategy_evolve_target(RedshiftConn *conn, Replicable *r, TargetTable *target,
					   bool postgres_dialect)
{
	List	   *missing = NIL;

	if (!target->exists || !r->evolve)
		return target;
	(void) redtrack_column_map(r->relid, target->columns, postgres_dialect, &missing);
	if (missing == NIL)
		return target;
	target_add_columns(conn, r, target, missing, postgres_dialect);
	return target_describe(conn, r);
}

/* A strategy that replaces the target: the loader emptied it first. */
List *
strategy_replace_merge(const StrategyMerge *m)
{
	return list_make1(strategy_insert_all(m));
}

/* Every staged row (newest per key) into the target. */
char *
strategy_insert_all(const StrategyMerge *m)
{
	return psprintf("INSERT INTO %s (%s) SELECT %s FROM %s", m->target, m->columns, m->columns,
					m->source);
}
