/*-------------------------------------------------------------------------
 *
 * watermark.c
 *	  Horizon reading and the next lower bound.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "catalog/pg_type.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/timestamp.h"

#include "field_type.h"
#include "guc.h"
#include "spi_util.h"
#include "state.h"
#include "watermark.h"

static char *server_timezone = NULL;

void
watermark_remember_server_timezone(const char *tz)
{
	if (server_timezone)
		pfree(server_timezone);
	server_timezone = MemoryContextStrdup(TopMemoryContext, tz ? tz : "UTC");
}

void
watermark_read_horizon(Replicable *r, Oid field_type, Horizon *h)
{
	MemoryContext caller = CurrentMemoryContext;
	TimestampTz before_read;

	memset(h, 0, sizeof(*h));
	SPI_connect();

	/*
	 * The probe's snapshot is taken when its query starts; a clock reading
	 * after the query is a safe upper bound on that moment.
	 */
	if (redtrack_is_integer_type(field_type))
	{
		char	   *sql = psprintf("SELECT pg_catalog.max(%s)::text FROM %s",
								   quote_identifier(r->replication_field), r->source_name);
		RoleScope	reader;

		role_scope_enter(&reader, redtrack_source_reader(r));
		spi_run(sql, NULL, true);
		role_scope_leave(&reader);
		h->probe_max = spi_get_text(caller, 0, 1);
		h->probe_at = GetCurrentTimestamp();
	}

	/*
	 * Read the clock first, then the backend status array: a transaction
	 * that does not show up in the read began after the clock reading.
	 * Engine workers and maintenance processes never write user tables.
	 * (The status array is read once per transaction: this must be the
	 * transaction's first look at it.)
	 */
	before_read = GetCurrentTimestamp();
	spi_run("SELECT pg_catalog.min(xact_start) FROM pg_catalog.pg_stat_activity "
			"WHERE datid = (SELECT oid FROM pg_catalog.pg_database "
			"               WHERE datname OPERATOR(pg_catalog.=) pg_catalog.current_database()) "
			"  AND pid OPERATOR(pg_catalog.<>) pg_catalog.pg_backend_pid() "
			"  AND xact_start IS NOT NULL "
			"  AND backend_type NOT IN ('autovacuum worker', 'autovacuum launcher', 'walsender', "
			"      'walreceiver', 'checkpointer', 'background writer', 'walwriter', 'archiver', "
			"      'startup', 'logical replication launcher') "
			"  AND backend_type NOT LIKE 'redtrack%'", NULL, true);
	h->horizon = spi_get_timestamptz(0, 1);
	if (h->horizon == 0 || h->horizon > before_read)
		h->horizon = before_read;

	/*
	 * Prepared transactions are in neither list with a start time; while
	 * one exists the bound does not move.  Read after the status array: a
	 * transaction being prepared is always in one of the two.
	 */
	spi_run("SELECT pg_catalog.count(*) > 0 FROM pg_catalog.pg_prepared_xacts "
			"WHERE database OPERATOR(pg_catalog.=) pg_catalog.current_database()", NULL, true);
	h->prepared_xacts = spi_get_bool(0, 1);
	SPI_finish();
}

/* One past value in the field's type, and the least of candidates. */
static char *
eval_text(MemoryContext cxt, const char *sql, SpiArgs *args)
{
	char	   *result;

	SPI_connect();
	spi_run(sql, args, true);
	result = spi_get_text(cxt, 0, 1);
	SPI_finish();
	return result;
}

char *
watermark_next_first(Replicable *r, Oid field_type, const char *first, const char *last,
					 bool carries_truncate, Horizon *h)
{
	MemoryContext caller = CurrentMemoryContext;
	SpiArgs		args = {0};
	TimestampTz bound = TimestampTzPlusMilliseconds(h->horizon, -redtrack_watermark_margin);

	if (h->prepared_xacts)
		return first ? pstrdup(first) : NULL;

	if (redtrack_is_integer_type(field_type))
	{
		char	   *best = NULL;

		/* After a replayed TRUNCATE no earlier snapshot describes the table. */
		if (carries_truncate)
			return first ? pstrdup(first) : NULL;
		spi_arg_text(&args, (h->probe_at != 0 && h->probe_at <= h->horizon) ? h->probe_max : NULL);
		spi_arg_text(&args, state_imported_window_last(r->relid, r->watermark_epoch, h->horizon));
		/* greatest() ignores NULLs: NULL only when neither is known. */
		best = eval_text(caller, "SELECT (GREATEST($1::numeric, $2::numeric) + 1)::text",
						 &args);
		if (best == NULL)
			return first ? pstrdup(first) : NULL;
		return best;
	}

	spi_arg_text(&args, last);
	spi_arg_text(&args, first);
	spi_arg_timestamptz(&args, bound);
	spi_arg_text(&args, server_timezone ? server_timezone : "UTC");
	switch (field_type)
	{
		case TIMESTAMPTZOID:
			return eval_text(caller,
							 "SELECT least("
							 "  greatest($1::timestamptz + interval '1 microsecond', $2::timestamptz),"
							 "  $3)::text", &args);
		case TIMESTAMPOID:
			/* Written in UTC or in the server's zone: take the earlier. */
			return eval_text(caller,
							 "SELECT least("
							 "  greatest($1::timestamp + interval '1 microsecond', $2::timestamp),"
							 "  $3 AT TIME ZONE 'UTC', $3 AT TIME ZONE $4)::text", &args);
		case DATEOID:
			/* current_date differs by zone: one day covers every zone. */
			return eval_text(caller,
							 "SELECT least("
							 "  greatest($1::date + 1, $2::date),"
							 "  ($3 AT TIME ZONE 'UTC')::date - 1)::text", &args);
		default:
			elog(ERROR, "unsupported replication field type %s", format_type_be(field_type));
	}
	pg_unreachable();
}
