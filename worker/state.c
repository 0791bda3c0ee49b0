/*-------------------------------------------------------------------------
 *
 * state.c
 *	  Reading and writing redtrack's own tables for the replication path:
 *	  redtrack.replications, redtrack.deleted_records, and the watermark
 *	  and registration rows of redtrack.replicables.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xlog.h"
#include "catalog/pg_type.h"
#include "commands/async.h"
#include "lib/stringinfo.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/jsonb.h"
#include "utils/json.h"
#include "utils/memutils.h"
#include "utils/timestamp.h"

#include "array_list.h"
#include "guc.h"
#include "spi_util.h"
#include "state.h"

#define REPLICATION_COLUMNS \
	"id, source::pg_catalog.oid, target, strategy, state, failed_phase, window_first, " \
	"window_last, next_first, horizon, snapshot_at, carries_truncate, rows, deletes, bytes, " \
	"raw_bytes, files, truncated_values, clamped_values, s3_key, retries, error, " \
	"extract(epoch FROM export_duration)::float8, extract(epoch FROM upload_duration)::float8, " \
	"extract(epoch FROM import_duration)::float8, " \
	"pg_catalog.array_to_json(target_columns)::text, " \
	"pg_catalog.array_to_json(target_keys)::text, target_order, queue_ids::text, " \
	"installation::text"

/* The one text form of each state, in ReplicationState's order. */
static const char *const state_names[] = {
	[RS_EXPORTING] = "exporting",
	[RS_EXPORTED] = "exported",
	[RS_UPLOADING] = "uploading",
	[RS_UPLOADED] = "uploaded",
	[RS_IMPORTING] = "importing",
	[RS_IMPORTED] = "imported",
	[RS_FAILED] = "failed",
	[RS_CANCELED] = "canceled",
};

const char *
state_name(ReplicationState state)
{
	if (state < 0 || state >= lengthof(state_names))
		return NULL;
	return state_names[state];
}

ReplicationState
state_from_name(const char *name)
{
	if (name == NULL)
		return RS_NONE;
	for (int i = 0; i < lengthof(state_names); i++)
		if (strcmp(state_names[i], name) == 0)
			return (ReplicationState) i;
	ereport(ERROR,
			(errcode(ERRCODE_DATA_CORRUPTED),
			 errmsg("redtrack.replications holds an unknown state \"%s\"", name)));
	pg_unreachable();
}

ReplicationState
replication_phase(Replication *rep)
{
	if (rep->state == RS_FAILED && rep->failed_phase != RS_NONE)
		return rep->failed_phase;
	return rep->state;
}

bool
replication_is_finished(Replication *rep)
{
	return rep->state == RS_IMPORTED || rep->state == RS_CANCELED;
}

/* Stopped before its files and manifest were all in S3. */
bool
replication_needs_export(Replication *rep)
{
	return replication_phase(rep) < RS_UPLOADED;
}

/*
 * Make everything written to the WAL so far durable.  Called before a
 * load, after the replication's 'importing' state committed: every commit
 * the export's snapshot saw precedes the export's own commit, and so does
 * the replication's row and the WAL record of the sequence value that
 * gave it its id.  With synchronous_commit = off all of them may still be
 * in WAL buffers, and a crash would take them back while the load and its
 * marker stay on the warehouse: rows the source no longer has, and an id
 * handed out again whose next load would be taken for done.  One flush
 * per load covers all of it.  Needs no transaction.
 */
void
state_flush_wal(void)
{
	/*
	 * The end of the last record inserted, not the insert position: at a
	 * page boundary that points past the next page's header, where nothing
	 * is written yet, and XLogFlush would fail ("xlog flush request ... is
	 * not satisfied").
	 */
	XLogFlush(GetXLogInsertEndRecPtr());
}

/*
 * Commit the current transaction synchronously, whatever the server's
 * synchronous_commit says: for the outcomes a run reports (imported,
 * failed, canceled), so that what rrr_replicate returned and NOTIFY said
 * survives a crash.  (A lost 'imported' would not load twice, the marker
 * sees to that, but the next run would resume the finished replication
 * instead of sending the changes made since.)  SET LOCAL: only this
 * transaction; its commit reads the setting before it is undone.
 */
static void
commit_synchronously(void)
{
	(void) set_config_option("synchronous_commit", "on", PGC_USERSET, PGC_S_SESSION,
							 GUC_ACTION_LOCAL, true, 0, false);
}

/* A JSON array of strings (array_to_json of text[]) as a List. */
static List *
text_array_to_list(MemoryContext cxt, const char *json)
{
	MemoryContext old = MemoryContextSwitchTo(cxt);
	List	   *result = NIL;

	if (json != NULL)
	{
		Datum		array = DirectFunctionCall1(jsonb_in, CStringGetDatum(json));
		Jsonb	   *jb = DatumGetJsonbP(array);
		JsonbIterator *it = JsonbIteratorInit(&jb->root);
		JsonbValue	v;
		JsonbIteratorToken tok;

		while ((tok = JsonbIteratorNext(&it, &v, true)) != WJB_DONE)
		{
			if (tok == WJB_ELEM && v.type == jbvString)
				result = lappend(result, pnstrdup(v.val.string.val, v.val.string.len));
		}
	}
	MemoryContextSwitchTo(old);
	return result;
}

static Replication *
replication_from_row(MemoryContext cxt, uint64 row)
{
	Replication *rep = MemoryContextAllocZero(cxt, sizeof(Replication));
	bool		isnull;

	rep->id = spi_get_int8(row, 1, NULL);
	rep->relid = (Oid) spi_get_int8(row, 2, NULL);
	rep->target = spi_get_text(cxt, row, 3);
	rep->strategy = spi_get_text(cxt, row, 4);
	rep->state = state_from_name(spi_get_text(cxt, row, 5));
	rep->failed_phase = state_from_name(spi_get_text(cxt, row, 6));
	rep->window_first = spi_get_text(cxt, row, 7);
	rep->window_last = spi_get_text(cxt, row, 8);
	rep->next_first = spi_get_text(cxt, row, 9);
	rep->horizon = spi_get_timestamptz(row, 10);
	rep->snapshot_at = spi_get_timestamptz(row, 11);
	rep->carries_truncate = spi_get_bool(row, 12);
	rep->rows = spi_get_int8(row, 13, &isnull);
	rep->deletes = spi_get_int8(row, 14, &isnull);
	rep->bytes = spi_get_int8(row, 15, &isnull);
	rep->raw_bytes = spi_get_int8(row, 16, &isnull);
	rep->files = (int) spi_get_int8(row, 17, &isnull);
	rep->truncated_values = spi_get_int8(row, 18, &isnull);
	rep->clamped_values = spi_get_int8(row, 19, &isnull);
	rep->s3_key = spi_get_text(cxt, row, 20);
	rep->retries = (int) spi_get_int8(row, 21, &isnull);
	rep->error = spi_get_text(cxt, row, 22);
	rep->export_seconds = spi_get_float8(row, 23);
	rep->upload_seconds = spi_get_float8(row, 24);
	rep->import_seconds = spi_get_float8(row, 25);
	rep->target_columns = text_array_to_list(cxt, spi_get_text(cxt, row, 26));
	rep->target_keys = text_array_to_list(cxt, spi_get_text(cxt, row, 27));
	rep->target_order = spi_get_text(cxt, row, 28);
	rep->queue_ids = spi_get_text(cxt, row, 29);
	rep->installation = spi_get_text(cxt, row, 30);
	return rep;
}

static Replication *
fetch_one(const char *sql, SpiArgs *args)
{
	MemoryContext caller = CurrentMemoryContext;
	Replication *rep = NULL;

	SPI_connect();
	if (spi_run(sql, args, true) > 0)
		rep = replication_from_row(caller, 0);
	SPI_finish();
	return rep;
}

Replication *
state_latest(Oid relid)
{
	SpiArgs		args = {0};

	spi_arg_oid(&args, relid);
	return fetch_one("SELECT " REPLICATION_COLUMNS " FROM redtrack.replications "
					 "WHERE source = $1::pg_catalog.regclass ORDER BY id DESC LIMIT 1", &args);
}

bool
state_has_imported(Oid relid)
{
	SpiArgs		args = {0};
	bool		found;

	spi_arg_oid(&args, relid);
	SPI_connect();
	found = spi_run("SELECT 1 FROM redtrack.replications WHERE source = $1::pg_catalog.regclass "
					"AND state = 'imported' LIMIT 1", &args, true) > 0;
	SPI_finish();
	return found;
}

char *
state_watermark(Replicable *r)
{
	MemoryContext caller = CurrentMemoryContext;
	SpiArgs		args = {0};
	char	   *watermark = NULL;

	spi_arg_oid(&args, r->relid);
	spi_arg_int8(&args, r->watermark_epoch);
	SPI_connect();
	if (spi_run("SELECT next_first FROM redtrack.replications "
				"WHERE source = $1::pg_catalog.regclass AND id > $2 AND state = 'imported' "
				"ORDER BY id DESC LIMIT 1", &args, true) > 0)
		watermark = spi_get_text(caller, 0, 1);
	SPI_finish();
	return watermark;
}

char *
state_imported_window_last(Oid relid, int64 epoch, TimestampTz snapshot_limit)
{
	MemoryContext caller = CurrentMemoryContext;
	SpiArgs		args = {0};
	char	   *last;

	spi_arg_oid(&args, relid);
	spi_arg_int8(&args, epoch);
	spi_arg_timestamptz(&args, snapshot_limit);
	SPI_connect();
	spi_run("SELECT pg_catalog.max(window_last::numeric)::text FROM redtrack.replications "
			"WHERE source = $1::pg_catalog.regclass AND id > $2 AND state = 'imported' "
			"  AND snapshot_at <= $3 AND window_last IS NOT NULL", &args, true);
	last = spi_get_text(caller, 0, 1);
	SPI_finish();
	return last;
}

/*
 * A new replication, under this installation's identity (see
 * redtrack.installation): its id and identity name its load marker on the
 * warehouse for good.  The id is made durable before its load, by
 * state_flush_wal.
 */
Replication *
state_create(Replicable *r, const char *window_first)
{
	MemoryContext caller = CurrentMemoryContext;
	SpiArgs		args = {0};
	Replication *rep;

	spi_arg_oid(&args, r->relid);
	spi_arg_text(&args, r->target_table);
	spi_arg_text(&args, redtrack_strategy_name(r->strategy));
	spi_arg_text(&args, window_first);
	SPI_connect();
	if (spi_run("SELECT 1 FROM redtrack.installation", NULL, true) != 1)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("redtrack.installation does not hold exactly one row"),
				 errdetail("Every replication carries this installation's identity into its load marker."),
				 errhint("Update the extension (ALTER EXTENSION redtrack UPDATE), or re-create it.")));
	spi_run("INSERT INTO redtrack.replications (source, target, strategy, state, window_first, "
			"installation) "
			"VALUES ($1::pg_catalog.regclass, $2, $3, 'exporting', $4, "
			"(SELECT id FROM redtrack.installation)) "
			"RETURNING " REPLICATION_COLUMNS, &args, false);
	rep = replication_from_row(caller, 0);
	SPI_finish();
	return rep;
}

static void
run_update(const char *sql, SpiArgs *args)
{
	SPI_connect();
	spi_run(sql, args, false);
	SPI_finish();
}

/*
 * The new state is set on the replication too: the error path reads it
 * after an abort, and NOTIFY reports it.
 */
void
state_resume(Replication *rep, ReplicationState state)
{
	SpiArgs		args = {0};

	rep->retries++;
	rep->state = state;
	rep->failed_phase = RS_NONE;
	rep->error = NULL;
	spi_arg_int8(&args, rep->id);
	spi_arg_text(&args, state_name(state));
	run_update("UPDATE redtrack.replications SET state = $2, failed_phase = NULL, error = NULL, "
			   "retries = retries + 1, updated_at = pg_catalog.now() WHERE id = $1", &args);
}

void
state_set(Replication *rep, ReplicationState state)
{
	SpiArgs		args = {0};

	rep->state = state;
	rep->failed_phase = RS_NONE;
	spi_arg_int8(&args, rep->id);
	spi_arg_text(&args, state_name(state));
	run_update("UPDATE redtrack.replications SET state = $2, failed_phase = NULL, "
			   "updated_at = pg_catalog.now() WHERE id = $1", &args);
}

static void
arg_text_array(SpiArgs *args, List *names)
{
	args->types[args->n] = TEXTARRAYOID;
	args->values[args->n] = redtrack_list_to_text_array(names);
	args->nulls[args->n++] = names ? ' ' : 'n';
}

void
state_record_export(Replication *rep)
{
	SpiArgs		args = {0};

	rep->state = RS_EXPORTED;
	rep->failed_phase = RS_NONE;
	spi_arg_int8(&args, rep->id);
	spi_arg_text(&args, rep->window_first);
	spi_arg_text(&args, rep->window_last);
	spi_arg_text(&args, rep->next_first);
	spi_arg_timestamptz(&args, rep->horizon);
	spi_arg_timestamptz(&args, rep->snapshot_at);
	spi_arg_bool(&args, rep->carries_truncate);
	spi_arg_int8(&args, rep->rows);
	spi_arg_int8(&args, rep->deletes);
	spi_arg_int8(&args, rep->bytes);
	spi_arg_int8(&args, rep->raw_bytes);
	spi_arg_int4(&args, rep->files);
	spi_arg_int8(&args, rep->truncated_values);
	spi_arg_int8(&args, rep->clamped_values);
	spi_arg_text(&args, rep->s3_key);
	spi_arg_float8(&args, rep->export_seconds);
	arg_text_array(&args, rep->target_columns);
	arg_text_array(&args, rep->target_keys);
	spi_arg_text(&args, rep->target_order);
	spi_arg_text(&args, rep->queue_ids);
	run_update("UPDATE redtrack.replications SET state = 'exported', failed_phase = NULL, "
			   "window_first = $2, window_last = $3, next_first = $4, horizon = $5, "
			   "snapshot_at = $6, carries_truncate = $7, rows = $8, deletes = $9, bytes = $10, "
			   "raw_bytes = $11, files = $12, truncated_values = $13, clamped_values = $14, "
			   "s3_key = $15, export_duration = pg_catalog.make_interval(secs => $16), "
			   "target_columns = $17, target_keys = $18, target_order = $19, "
			   "queue_ids = $20::int8multirange, "
			   "exported_at = pg_catalog.now(), updated_at = pg_catalog.now() WHERE id = $1",
			   &args);
}

void
state_record_upload(Replication *rep)
{
	SpiArgs		args = {0};

	rep->state = RS_UPLOADED;
	rep->failed_phase = RS_NONE;
	spi_arg_int8(&args, rep->id);
	spi_arg_float8(&args, rep->upload_seconds);
	run_update("UPDATE redtrack.replications SET state = 'uploaded', failed_phase = NULL, "
			   "upload_duration = pg_catalog.make_interval(secs => $2), "
			   "uploaded_at = pg_catalog.now(), updated_at = pg_catalog.now() WHERE id = $1",
			   &args);
}

void
state_record_failure(Replication *rep, ReplicationState phase, const char *error)
{
	SpiArgs		args = {0};

	commit_synchronously();
	rep->state = RS_FAILED;
	rep->failed_phase = phase;
	spi_arg_int8(&args, rep->id);
	spi_arg_text(&args, state_name(phase));
	spi_arg_text(&args, error);
	run_update("UPDATE redtrack.replications SET state = 'failed', failed_phase = $2, error = $3, "
			   "updated_at = pg_catalog.now() WHERE id = $1", &args);
}

/*
 * Cancel the unfinished replications a condition selects ($1 is the
 * replication id or the source table, $2 the reason): the delete records
 * they carried go back to the pool first, so the next replication sends
 * them.  The one way a replication is canceled, for the engine and for
 * rrr_reset.
 */
static uint64
cancel_unfinished(const char *which, SpiArgs *args)
{
	uint64		canceled;

	commit_synchronously();
	SPI_connect();
	spi_run(psprintf("UPDATE redtrack.deleted_records SET replication_id = NULL "
					 "WHERE replication_id IN (SELECT id FROM redtrack.replications "
					 "  WHERE %s AND state NOT IN ('imported', 'canceled'))", which),
			args, false);
	canceled = spi_run(psprintf("UPDATE redtrack.replications SET state = 'canceled', "
								"failed_phase = NULL, error = $2, updated_at = pg_catalog.now() "
								"WHERE %s AND state NOT IN ('imported', 'canceled')", which),
					   args, false);
	SPI_finish();
	return canceled;
}

void
state_cancel(Replication *rep, const char *reason)
{
	SpiArgs		args = {0};

	rep->state = RS_CANCELED;
	rep->failed_phase = RS_NONE;
	spi_arg_int8(&args, rep->id);
	spi_arg_text(&args, reason);
	(void) cancel_unfinished("id = $1", &args);
}

uint64
state_reset(Oid relid, const char *reason)
{
	SpiArgs		args = {0};
	uint64		canceled;

	spi_arg_oid(&args, relid);
	spi_arg_text(&args, reason);
	canceled = cancel_unfinished("source = $1::pg_catalog.regclass", &args);
	args.n = 1;
	run_update("UPDATE redtrack.replicables SET watermark_epoch = "
			   "  (SELECT COALESCE(pg_catalog.max(id), 0) FROM redtrack.replications "
			   "   WHERE source = $1::pg_catalog.regclass) "
			   "WHERE source = $1::pg_catalog.regclass", &args);
	return canceled;
}

void
state_mark_imported(Replication *rep, Replicable *r)
{
	SpiArgs		args = {0};

	rep->state = RS_IMPORTED;
	rep->failed_phase = RS_NONE;
	commit_synchronously();
	spi_arg_int8(&args, rep->id);
	spi_arg_float8(&args, rep->import_seconds);
	SPI_connect();
	spi_run("UPDATE redtrack.replications SET state = 'imported', failed_phase = NULL, "
			"error = NULL, import_duration = pg_catalog.make_interval(secs => $2), "
			"imported_at = pg_catalog.now(), updated_at = pg_catalog.now() WHERE id = $1",
			&args, false);
	args.n = 1;
	/* Exactly the delete records this replication carried. */
	spi_run("DELETE FROM redtrack.deleted_records WHERE replication_id = $1", &args, false);

	/*
	 * After a TRUNCATE was replayed, earlier replications say nothing about
	 * the table's contents: the watermark history starts again here.
	 */
	if (rep->carries_truncate)
	{
		SpiArgs		epoch = {0};

		spi_arg_oid(&epoch, r->relid);
		spi_arg_int8(&epoch, rep->id - 1);
		spi_run("UPDATE redtrack.replicables SET watermark_epoch = greatest(watermark_epoch, $2) "
				"WHERE source = $1::pg_catalog.regclass", &epoch, false);
	}
	SPI_finish();
}

void
state_cap_history(Oid relid, int cap)
{
	SpiArgs		args = {0};

	if (cap <= 0)
		return;
	spi_arg_oid(&args, relid);
	spi_arg_int4(&args, cap);
	/*
	 * Finished replications beyond the newest cap go, except the latest
	 * imported one, which holds the watermark.
	 */
	run_update("DELETE FROM redtrack.replications AS r "
			   "WHERE r.source = $1::pg_catalog.regclass "
			   "  AND r.state IN ('imported', 'canceled') "
			   "  AND r.id < (SELECT pg_catalog.min(id) FROM (SELECT id FROM redtrack.replications "
			   "              WHERE source = $1::pg_catalog.regclass ORDER BY id DESC LIMIT $2) AS newest) "
			   "  AND r.id <> COALESCE((SELECT pg_catalog.max(id) FROM redtrack.replications "
			   "              WHERE source = $1::pg_catalog.regclass AND state = 'imported'), 0)",
			   &args);
}

/*
 * NOTIFY redtrack with the outcome of a run.  Any role that may connect
 * can LISTEN on a channel (PostgreSQL has no privilege for it), and any
 * role can NOTIFY on it too: the payload says which table and how much,
 * never an error text, and listeners should read redtrack.replications for
 * the truth.  redtrack.notify = off sends nothing.
 */
void
state_notify(Replication *rep, const char *source_name)
{
	StringInfoData payload;

	if (!redtrack_notify)
		return;
	initStringInfo(&payload);
	appendStringInfoString(&payload, "{\"table\": ");
	escape_json(&payload, source_name);
	appendStringInfo(&payload, ", \"replication_id\": " INT64_FORMAT ", \"state\": ", rep->id);
	escape_json(&payload, state_name(rep->state));
	appendStringInfo(&payload, ", \"rows\": " INT64_FORMAT ", \"deletes\": " INT64_FORMAT "}",
					 rep->rows, rep->deletes);
	Async_Notify("redtrack", payload.data);
}

/* ----------------------------------------------------------------
 * S3 keys
 * ----------------------------------------------------------------
 */

/*
 * One part of a target name (schema or table, unquoted, case kept) in a
 * key.  Kept as written: letters, digits, '_' and '-'.  Every other byte is
 * written %XX (hex), because an S3 key cannot carry it safely or it would
 * be ambiguous:
 *   '%'  the escape itself, so that the rule stays reversible;
 *   '/'  would add a level to the key;
 *   '.'  separates schema and table ("a.b" the table vs a.b);
 *   quotes, backslashes, spaces, control characters, non-ASCII bytes and
 *        other punctuation: keys are pasted into COPY's string literals,
 *        JSON manifests and URLs, and AWS advises against them in keys.
 */
static void
append_key_part(StringInfo key, const char *part)
{
	for (const unsigned char *p = (const unsigned char *) part; *p; p++)
	{
		if ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
			(*p >= '0' && *p <= '9') || *p == '_' || *p == '-')
			appendStringInfoChar(key, (char) *p);
		else
			appendStringInfo(key, "%%%02X", *p);
	}
}

/*
 * "<prefix>/<target>/<id>/": the target's parts joined with '.', e.g.
 * target bar_exp -> redtrack/bar_exp/42/, "Sales"."order lines" ->
 * redtrack/Sales.order%20lines/42/.  Only new replications get keys from
 * here: replications exported by an earlier version keep the key they
 * stored (under which their files are).
 */
char *
state_s3_key(const char *s3_prefix, const char *target, int64 id)
{
	StringInfoData key;
	List	   *parts = redtrack_split_name(target);
	ListCell   *lc;

	initStringInfo(&key);
	if (s3_prefix && s3_prefix[0])
	{
		appendStringInfoString(&key, s3_prefix);
		appendStringInfoChar(&key, '/');
	}
	if (parts == NIL)
		append_key_part(&key, target);
	foreach(lc, parts)
	{
		if (lc != list_head(parts))
			appendStringInfoChar(&key, '.');
		append_key_part(&key, lfirst(lc));
	}
	appendStringInfo(&key, "/" INT64_FORMAT "/", id);
	return key.data;
}

/* ----------------------------------------------------------------
 * The scheduler's questions
 * ----------------------------------------------------------------
 */

/*
 * Due: now for a table without replication or with an unfinished one; a
 * failed one after a backoff that doubles per retry (capped); otherwise
 * `every` after the last one started (now without `every`).
 */
List *
state_due_tables(MemoryContext cxt, int64 naptime_ms, int64 max_backoff_ms)
{
	List	   *result = NIL;
	SpiArgs		args = {0};
	uint64		n;

	spi_arg_int8(&args, naptime_ms);
	spi_arg_int8(&args, max_backoff_ms);
	SPI_connect();
	n = spi_run("SELECT r.source::pg_catalog.oid, "
				"  CASE WHEN l.id IS NULL THEN pg_catalog.now() "
				"       WHEN l.state = 'failed' THEN l.updated_at + pg_catalog.make_interval(secs => "
				"            least($2::float8, $1::float8 * (2 ^ l.retries)) / 1000) "
				"       WHEN l.state NOT IN ('imported', 'canceled') THEN pg_catalog.now() "
				"       WHEN r.every IS NULL THEN pg_catalog.now() "
				"       ELSE l.created_at + r.every END, "
				"  r.strategy "
				"FROM redtrack.replicables AS r "
				"LEFT JOIN LATERAL (SELECT * FROM redtrack.replications AS p "
				"                   WHERE p.source = r.source ORDER BY p.id DESC LIMIT 1) AS l ON true "
				"ORDER BY r.registered_at, r.source::pg_catalog.oid", &args, true);
	for (uint64 i = 0; i < n; i++)
	{
		MemoryContext old = MemoryContextSwitchTo(cxt);
		DueTable   *t = palloc(sizeof(DueTable));

		t->relid = (Oid) spi_get_int8(i, 1, NULL);
		t->due_at = spi_get_timestamptz(i, 2);
		t->strategy = spi_get_text(cxt, i, 3);
		result = lappend(result, t);
		MemoryContextSwitchTo(old);
	}
	SPI_finish();
	return result;
}

void
state_mark_interrupted(int32 lock_class)
{
	SpiArgs		args = {0};

	spi_arg_int4(&args, lock_class);
	run_update("UPDATE redtrack.replications AS p "
			   "SET failed_phase = p.state, state = 'failed', "
			   "    error = 'interrupted: the process running it stopped', updated_at = pg_catalog.now() "
			   "WHERE p.state NOT IN ('imported', 'canceled', 'failed') "
			   "  AND pg_catalog.pg_try_advisory_xact_lock($1, p.source::pg_catalog.oid::int4)",
			   &args);
}

/* ----------------------------------------------------------------
 * redtrack.deleted_records
 * ----------------------------------------------------------------
 */

void
state_claim_deletes(Replication *rep, bool claim_new)
{
	SpiArgs		args = {0};

	spi_arg_int8(&args, rep->id);
	spi_arg_oid(&args, rep->relid);
	SPI_connect();
	if (claim_new)
		spi_run("UPDATE redtrack.deleted_records SET replication_id = $1 "
				"WHERE source = $2::pg_catalog.regclass AND replication_id IS NULL",
				&args, false);
	args.n = 1;
	/* Not read-only: it must see the UPDATE just made. */
	spi_run("SELECT COALESCE(pg_catalog.sum(nkeys) FILTER (WHERE kind = 'delete'), 0), "
			"COALESCE(pg_catalog.bool_or(kind = 'truncate'), false) "
			"FROM redtrack.deleted_records WHERE replication_id = $1", &args, false);
	rep->deletes = spi_get_int8(0, 1, NULL);
	rep->carries_truncate = spi_get_bool(0, 2);
	SPI_finish();
}

void
state_foreach_delete_keys(Replication *rep, DeleteKeysFn fn, void *arg)
{
	SpiArgs		args = {0};
	MemoryContext caller = CurrentMemoryContext;
	uint64		nrecords;

	spi_arg_int8(&args, rep->id);
	SPI_connect();
	/* Not read-only: the records were claimed earlier in this transaction. */
	nrecords = spi_run("SELECT keys FROM redtrack.deleted_records "
					   "WHERE replication_id = $1 AND kind = 'delete' ORDER BY id", &args, false);
	MemoryContextSwitchTo(caller);
	for (uint64 i = 0; i < nrecords; i++)
	{
		bool		isnull;
		Datum		d = SPI_getbinval(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 1, &isnull);

		if (!isnull)
			fn(d, arg);
	}
	SPI_finish();
	MemoryContextSwitchTo(caller);
}

int64
state_pending_delete_records(Oid relid)
{
	SpiArgs		args = {0};
	int64		records;

	spi_arg_oid(&args, relid);
	SPI_connect();
	spi_run("SELECT pg_catalog.count(*) FROM redtrack.deleted_records "
			"WHERE source = $1::pg_catalog.regclass", &args, true);
	records = spi_get_int8(0, 1, NULL);
	SPI_finish();
	return records;
}

/* ----------------------------------------------------------------
 * redtrack.replicables
 * ----------------------------------------------------------------
 */

void
state_insert_registration(Oid relid, const char *strategy, const char *target,
						  const char *registered_by)
{
	SpiArgs		args = {0};

	spi_arg_oid(&args, relid);
	spi_arg_text(&args, strategy);
	spi_arg_text(&args, target);
	spi_arg_text(&args, registered_by);
	run_update("INSERT INTO redtrack.replicables (source, strategy, target_table, registered_by) "
			   "VALUES ($1::pg_catalog.regclass, $2, $3, $4)", &args);
}

void
state_delete_registration(Oid relid)
{
	SpiArgs		args = {0};

	spi_arg_oid(&args, relid);
	/* History and pending deletes go with it (ON DELETE CASCADE). */
	run_update("DELETE FROM redtrack.replicables WHERE source = $1::pg_catalog.regclass", &args);
}

