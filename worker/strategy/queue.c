/*-------------------------------------------------------------------------
 *
 * queue.c
 *	  The queue strategy: drain the queue table of an event stream
 *	  (rrr_define_stream).  A run reads every event in id order and notes
 *	  the ids it sent; the load appends them to the stream's target, which
 *	  has the stream's declared types and gains the fields a redefinition
 *	  added; once the load committed, exactly the events sent are deleted
 *	  from the queue.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "utils/lsyscache.h"

#include "rs_ident.h"
#include "spi_util.h"
#include "strategy.h"
#include "stream.h"
#include "typemap.h"

#define QUEUE_ID_COLUMN "redtrack_event_id"

static void
queue_select(Replicable *r, const char *first, const char *last, StrategySelect *out)
{
	memset(out, 0, sizeof(*out));
	out->where = "";
	out->id_column = QUEUE_ID_COLUMN;
	out->order_by = " ORDER BY " QUEUE_ID_COLUMN;
}

static char *
queue_target_ddl(Replicable *r, bool postgres_dialect)
{
	return redtrack_stream_ddl(get_rel_name(r->relid));
}

/*
 * A stream's target has its declared types, not the queue's: created from
 * the stream's definition, and given the fields a redefinition added.
 */
static TargetTable *
queue_prepare_target(RedshiftConn *conn, Replicable *r, TargetTable *target,
					 bool postgres_dialect)
{
	const char *stream = get_rel_name(r->relid);
	List	   *missing = NIL;
	bool		changed = false;
	ListCell   *mc;

	if (!target->exists)
	{
		target_create(conn, r, target, redtrack_stream_ddl(stream));
		return target_describe(conn, r);
	}
	(void) redtrack_column_map(r->relid, target->columns, false, &missing);
	foreach(mc, missing)
	{
		const char *field = lfirst(mc);
		char	   *type;

		if (strncmp(field, STREAM_INTERNAL_PREFIX, strlen(STREAM_INTERNAL_PREFIX)) == 0)
			continue;
		type = redtrack_stream_field_type(stream, field);
		if (type)
		{
			redshift_exec(conn, psprintf("ALTER TABLE %s ADD COLUMN %s %s", target->qualified,
										 rs_quote_identifier(field), type), 0, NULL, NULL);
			changed = true;
		}
	}
	return changed ? target_describe(conn, r) : target;
}

/* A stream's enricher runs on each event before it is encoded. */
static StreamEnricher *
queue_row_enricher(Replicable *r, List *columns)
{
	return stream_enricher_open(r->relid, columns);
}

static void
queue_rows_sent(Replication *rep, const char *id_ranges)
{
	rep->queue_ids = id_ranges ? pstrdup(id_ranges) : NULL;
}

/* Events only append. */
static List *
queue_merge(const StrategyMerge *m)
{
	return list_make1(strategy_insert_all(m));
}

/* A drained queue: exactly the events this replication carried go. */
static void
queue_after_import(Replicable *r, Replication *rep)
{
	SpiArgs		ids = {0};

	if (rep->queue_ids == NULL)
		return;
	spi_arg_text(&ids, rep->queue_ids);
	SPI_connect();
	spi_run(psprintf("DELETE FROM %s WHERE " QUEUE_ID_COLUMN " BETWEEN "
					 "pg_catalog.lower($1::int8multirange) AND pg_catalog.upper($1::int8multirange) - 1 "
					 "AND " QUEUE_ID_COLUMN " OPERATOR(pg_catalog.<@) $1::int8multirange",
					 r->source_name),
			&ids, false);
	SPI_finish();
}

const Strategy strategy_queue = {
	.kind = STRATEGY_QUEUE,
	.field = STRATEGY_FIELD_NONE,
	.no_field_detail = "A stream's queue is drained whole.",
	.name = "queue",
	.windowed = false,
	.replaces_target = false,
	.refuses_unfed_columns = false,
	.select = queue_select,
	.target_ddl = queue_target_ddl,
	.prepare_target = queue_prepare_target,
	.row_enricher = queue_row_enricher,
	.rows_sent = queue_rows_sent,
	.merge_sql = queue_merge,
	.after_import = queue_after_import,
	.run_group = NULL,
};
