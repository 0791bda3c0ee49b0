/*-------------------------------------------------------------------------
 *
 * event_write.c
 *	  rrr_write and rrr_write_batch: the application's hot path.
 *
 * An event is checked against its stream's rules (worker/stream) and
 * inserted into the stream's queue table, with a per-backend cache of
 * each stream's definition and a prepared INSERT, so a write costs about
 * what a plain INSERT does.  The cache is dropped when the queue table
 * changes (relcache invalidation), which is what redefining a stream does.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "lib/stringinfo.h"
#include "miscadmin.h"
#include "utils/acl.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/hsearch.h"
#include "utils/inval.h"
#include "utils/jsonb.h"
#include "utils/memutils.h"

#include "events.h"
#include "ownership.h"
#include "spi_util.h"
#include "stream.h"

PG_FUNCTION_INFO_V1(rrr_write);
PG_FUNCTION_INFO_V1(rrr_write_batch);
PG_FUNCTION_INFO_V1(rrr_requeue_rejected);

#define WRITER_ROLE "redtrack_writer"

/* ----------------------------------------------------------------
 * The per-backend stream cache
 * ----------------------------------------------------------------
 */

typedef struct StreamEntry
{
	char		name[NAMEDATALEN];	/* hash key */
	bool		valid;
	Oid			owner;
	SPIPlanPtr	insert;
	StreamDef	def;
} StreamEntry;

static HTAB *streams = NULL;

static void
invalidate_streams(Datum arg, Oid relid)
{
	HASH_SEQ_STATUS status;
	StreamEntry *entry;

	if (streams == NULL)
		return;
	hash_seq_init(&status, streams);
	while ((entry = hash_seq_search(&status)) != NULL)
	{
		if (relid == InvalidOid || entry->def.relid == relid)
			entry->valid = false;
	}
}

static void
release_entry(StreamEntry *entry)
{
	if (entry->insert)
		SPI_freeplan(entry->insert);
	entry->insert = NULL;
	stream_release_def(&entry->def);
}

/* The INSERT of an event's declared fields (in SPI). */
static SPIPlanPtr
prepare_insert(StreamDef *def)
{
	StringInfoData sql;
	Oid		   *argtypes;
	SPIPlanPtr	plan;

	initStringInfo(&sql);
	appendStringInfo(&sql, "INSERT INTO %s (", stream_queue_table(def->name));
	argtypes = palloc(sizeof(Oid) * def->nfields);
	for (int i = 0; i < def->nfields; i++)
	{
		int32		typmod;

		appendStringInfo(&sql, "%s%s", i > 0 ? ", " : "", quote_identifier(def->fields[i].name));
		argtypes[i] = redshift_type_local(&def->fields[i].type, &typmod);
	}
	appendStringInfoString(&sql, ") VALUES (");
	for (int i = 0; i < def->nfields; i++)
		appendStringInfo(&sql, "%s$%d", i > 0 ? ", " : "", i + 1);
	appendStringInfoString(&sql, ") RETURNING redtrack_event_id");
	plan = SPI_prepare(sql.data, def->nfields, argtypes);
	if (plan == NULL)
		elog(ERROR, "SPI_prepare failed: %s", SPI_result_code_string(SPI_result));
	SPI_keepplan(plan);
	return plan;
}

/* Read a stream's definition and prepare its INSERT. */
static void
load_entry(StreamEntry *entry)
{
	OwnerScope	scope;

	release_entry(entry);
	strlcpy(entry->def.name, entry->name, NAMEDATALEN);
	SPI_connect();
	redtrack_enter_owner_scope(&scope);
	stream_load_def(&entry->def, CacheMemoryContext);
	entry->owner = redtrack_owner_oid();
	entry->insert = prepare_insert(&entry->def);
	redtrack_leave_owner_scope(&scope);
	SPI_finish();
	entry->valid = true;
}

static StreamEntry *
lookup_stream(const char *name)
{
	StreamEntry *entry;
	bool		found;
	char		key[NAMEDATALEN] = {0};

	if (strlen(name) >= NAMEDATALEN)
		stream_not_found(name);
	if (streams == NULL)
	{
		HASHCTL		ctl;

		ctl.keysize = NAMEDATALEN;
		ctl.entrysize = sizeof(StreamEntry);
		streams = hash_create("redtrack streams", 16, &ctl, HASH_ELEM | HASH_STRINGS);
		CacheRegisterRelcacheCallback(invalidate_streams, (Datum) 0);
	}
	strlcpy(key, name, NAMEDATALEN);
	entry = hash_search(streams, key, HASH_ENTER, &found);
	if (!found)
	{
		memset((char *) entry + NAMEDATALEN, 0, sizeof(StreamEntry) - NAMEDATALEN);
		entry->valid = false;
	}
	if (!entry->valid)
	{
		PG_TRY();
		{
			load_entry(entry);
		}
		PG_CATCH();
		{
			release_entry(entry);
			hash_search(streams, key, HASH_REMOVE, NULL);
			PG_RE_THROW();
		}
		PG_END_TRY();
	}
	return entry;
}

/* ----------------------------------------------------------------
 * rrr_write
 * ----------------------------------------------------------------
 */

static void
require_writer(void)
{
	Oid			writer = get_role_oid(WRITER_ROLE, true);

	if (!redtrack_is_admin(GetUserId()) &&
		!(OidIsValid(writer) && has_privs_of_role(GetUserId(), writer)))
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("permission denied to write events"),
				 errhint("GRANT %s TO the role that writes events.", WRITER_ROLE)));
}

/* Validate one event and insert it; returns its event id. */
static int64
write_event(StreamEntry *s, Jsonb *event, int *truncated)
{
	Datum	   *values = palloc(sizeof(Datum) * s->def.nfields);
	char	   *nulls = palloc(sizeof(char) * s->def.nfields);
	Oid			saved_userid;
	int			saved_context;
	int			rc;
	int64		id;
	bool		isnull;

	stream_event_values(&s->def, event, values, nulls, truncated);

	/* The queue table belongs to the extension owner. */
	SPI_connect();
	GetUserIdAndSecContext(&saved_userid, &saved_context);
	SetUserIdAndSecContext(s->owner, saved_context | SECURITY_LOCAL_USERID_CHANGE);
	rc = SPI_execute_plan(s->insert, values, nulls, false, 1);
	SetUserIdAndSecContext(saved_userid, saved_context);
	if (rc != SPI_OK_INSERT_RETURNING)
		elog(ERROR, "SPI_execute_plan failed: %s", SPI_result_code_string(rc));
	id = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
	SPI_finish();
	return id;
}

static void
report_truncation(const char *stream, int truncated)
{
	if (truncated > 0)
		ereport(WARNING,
				(errcode(ERRCODE_STRING_DATA_RIGHT_TRUNCATION),
				 errmsg("%d value%s of stream \"%s\" cut to the declared length",
						truncated, truncated == 1 ? "" : "s", stream),
				 errdetail("varchar lengths are bytes, as on Redshift; values are cut on a character boundary.")));
}

Datum
rrr_write(PG_FUNCTION_ARGS)
{
	char	   *name;
	StreamEntry *s;
	int			truncated = 0;
	int64		id;

	require_writer();
	if (PG_ARGISNULL(0))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("stream name must not be NULL")));
	if (PG_ARGISNULL(1))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("event must not be NULL")));
	name = text_to_cstring(PG_GETARG_TEXT_PP(0));
	s = lookup_stream(name);
	id = write_event(s, PG_GETARG_JSONB_P(1), &truncated);
	report_truncation(name, truncated);
	PG_RETURN_INT64(id);
}

static void
batch_error_context(void *arg)
{
	errcontext("event %d of the batch", *(int *) arg);
}

/* rrr_write_batch(stream, events jsonb[]): many events, one call. */
Datum
rrr_write_batch(PG_FUNCTION_ARGS)
{
	char	   *name;
	StreamEntry *s;
	Datum	   *events;
	bool	   *nulls;
	int			n;
	int			truncated = 0;
	int			position = 0;
	ErrorContextCallback callback;
	MemoryContext per_event;
	MemoryContext old;

	require_writer();
	if (PG_ARGISNULL(0) || PG_ARGISNULL(1))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("stream name and events must not be NULL")));
	name = text_to_cstring(PG_GETARG_TEXT_PP(0));
	s = lookup_stream(name);
	deconstruct_array(PG_GETARG_ARRAYTYPE_P(1), JSONBOID, -1, false, TYPALIGN_INT,
					  &events, &nulls, &n);
	per_event = AllocSetContextCreate(CurrentMemoryContext, "redtrack event", ALLOCSET_DEFAULT_SIZES);
	for (int i = 0; i < n; i++)
	{
		if (nulls[i])
			ereport(ERROR,
					(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
					 errmsg("event %d of the batch is NULL", i + 1)));
		/* which of many events an error is about */
		position = i + 1;
		callback.callback = batch_error_context;
		callback.arg = &position;
		callback.previous = error_context_stack;
		error_context_stack = &callback;
		old = MemoryContextSwitchTo(per_event);
		(void) write_event(s, DatumGetJsonbP(events[i]), &truncated);
		MemoryContextSwitchTo(old);
		error_context_stack = callback.previous;
		MemoryContextReset(per_event);
	}
	report_truncation(name, truncated);
	PG_RETURN_INT64(n);
}

/* ----------------------------------------------------------------
 * rrr_requeue_rejected
 * ----------------------------------------------------------------
 */

static void
requeue_error_context(void *arg)
{
	errcontext("rejected event " INT64_FORMAT, *(int64 *) arg);
}

/*
 * rrr_requeue_rejected(stream, ids bigint[] DEFAULT NULL): events the drain
 * set aside (all of the stream's, or those ids) go back into the queue, as
 * they were written, in their order; the next drain enriches them again.
 * They get new event ids.  An event that no longer meets the stream's
 * rules stops the call, and nothing is re-queued.
 */
Datum
rrr_requeue_rejected(PG_FUNCTION_ARGS)
{
	char	   *name;
	StreamEntry *s;
	SpiArgs		args = {0};
	OwnerScope	scope;
	SPITupleTable *rows;
	uint64		n;
	int			truncated = 0;
	int64		id = 0;
	ErrorContextCallback callback;

	redtrack_require_admin("re-queue rejected events");
	if (PG_ARGISNULL(0))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("stream name must not be NULL")));
	name = text_to_cstring(PG_GETARG_TEXT_PP(0));
	s = lookup_stream(name);

	SPI_connect();
	redtrack_enter_owner_scope(&scope);
	spi_arg_text(&args, name);
	args.types[args.n] = INT8ARRAYOID;
	args.values[args.n] = PG_ARGISNULL(1) ? (Datum) 0 : PG_GETARG_DATUM(1);
	args.nulls[args.n++] = PG_ARGISNULL(1) ? 'n' : ' ';
	n = spi_run("WITH taken AS (DELETE FROM redtrack.rejected_events "
				"WHERE stream OPERATOR(pg_catalog.=) $1 "
				"AND ($2 IS NULL OR event_id OPERATOR(pg_catalog.=) ANY ($2)) "
				"RETURNING event_id, event) "
				"SELECT event_id, event FROM taken ORDER BY event_id", &args, false);
	rows = SPI_tuptable;
	callback.callback = requeue_error_context;
	callback.arg = &id;
	callback.previous = error_context_stack;
	error_context_stack = &callback;
	for (uint64 i = 0; i < n; i++)
	{
		bool		isnull;

		id = DatumGetInt64(SPI_getbinval(rows->vals[i], rows->tupdesc, 1, &isnull));
		(void) write_event(s, DatumGetJsonbP(SPI_getbinval(rows->vals[i], rows->tupdesc, 2, &isnull)),
						   &truncated);
	}
	error_context_stack = callback.previous;
	redtrack_leave_owner_scope(&scope);
	SPI_finish();
	report_truncation(name, truncated);
	PG_RETURN_INT64((int64) n);
}
