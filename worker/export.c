/*-------------------------------------------------------------------------
 *
 * export.c
 *	  Snapshot-consistent streaming export to gzip CSV parts on S3.
 *
 * One REPEATABLE READ transaction reads the window's upper bound, takes
 * the table's pending delete records, and streams the window's rows: all
 * from one snapshot.  Rows go straight from the executor into the CSV
 * encoder (a DestReceiver), and from there through the pipeline's threads
 * to S3, so memory stays flat and nothing touches local disk.  The
 * manifests are written last, after the transaction committed the
 * replication as 'exported'; with them in place it is 'uploaded'.
 *
 * The transaction holds only AccessShareLock on the table: writers are
 * never blocked.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xact.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "lib/stringinfo.h"
#include "miscadmin.h"
#include "nodes/params.h"
#include "pgstat.h"
#include "tcop/dest.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/json.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/snapmgr.h"
#include "utils/timestamp.h"

#include "events.h"
#include "export.h"
#include "guc.h"
#include "pipeline.h"
#include "rs_ident.h"
#include "shmem.h"
#include "spi_util.h"
#include "state.h"
#include "target.h"
#include "typemap.h"
#include "watermark.h"

/*
 * Parts of S3's minimum size (all but a file's last part must reach it):
 * the pipeline holds slices + 2 of them, so the smallest size keeps
 * the export's memory smallest, and S3's 10,000-part limit still allows
 * 48 GiB per file.
 */
#define PART_SIZE (5 * 1024 * 1024)
#define MAX_CHUNK_SIZE (256 * 1024)
/*
 * Upload threads: one per slice (up to 8), so the last parts of every file,
 * which all become ready when the export ends, go up together; the
 * pipeline's buffer pool, not the thread count, bounds what is in flight
 * during the export.
 */
#define MAX_UPLOAD_THREADS 8
#define PROGRESS_EVERY_ROWS 4096

/* ----------------------------------------------------------------
 * The receiver: executor rows -> CSV -> pipeline
 * ----------------------------------------------------------------
 */

typedef struct ExportDest
{
	DestReceiver pub;
	ColumnMap **columns;
	int			ncolumns;
	bool		postgres_dialect;
	PipelineConfig config;
	Pipeline   *pipeline;		/* started with the first row */
	int			next_slice;
	int64		rows;
	EncodeCounters counters;
	MemoryContext row_context;

	/*
	 * Queue drains: the event ids sent, as ranges of consecutive ids read
	 * in id order (the last selected column), so that exactly these events
	 * are deleted once loaded.
	 */
	bool		track_ids;
	bool		have_range;
	int64		range_first;
	int64		range_last;
	StringInfoData ranges;		/* int8multirange text */
} ExportDest;

static void
end_id_range(ExportDest *dest)
{
	if (!dest->have_range)
		return;
	appendStringInfo(&dest->ranges, "%s[" INT64_FORMAT "," INT64_FORMAT ")",
					 dest->ranges.len > 1 ? "," : "", dest->range_first, dest->range_last + 1);
}

static void
note_id(ExportDest *dest, int64 id)
{
	if (dest->have_range && id == dest->range_last + 1)
	{
		dest->range_last = id;
		return;
	}
	end_id_range(dest);
	dest->have_range = true;
	dest->range_first = dest->range_last = id;
}

static bool
backend_interrupted(void *arg)
{
	return InterruptPending && (QueryCancelPending || ProcDiePending);
}

/* A pipeline failure as an ERROR, after letting a pending interrupt in. */
static void
report_pipeline_failure(Pipeline *p)
{
	CHECK_FOR_INTERRUPTS();
	ereport(ERROR,
			(errcode(ERRCODE_EXTERNAL_ROUTINE_EXCEPTION),
			 errmsg("export to S3 failed: %s",
					pipeline_error(p)[0] ? pipeline_error(p) : "interrupted")));
}

static Pipeline *
start_pipeline(PipelineConfig *config)
{
	char		error[512];
	Pipeline   *p;

	if (!s3_global_init())
		ereport(ERROR,
				(errcode(ERRCODE_SYSTEM_ERROR),
				 errmsg("could not initialize libcurl")));
	p = pipeline_start(config, error, sizeof(error));
	if (p == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_SYSTEM_ERROR),
				 errmsg("could not start the export pipeline: %s", error)));
	return p;
}

static void
report_progress(ExportDest *dest)
{
	PipelineStats stats;

	if (dest->pipeline == NULL)
		return;
	pipeline_stats(dest->pipeline, &stats);
	redtrack_progress_count(dest->rows, stats.raw_bytes);
	redtrack_progress_uploaded(stats.uploaded_bytes, stats.files_done);
}

static bool
export_receive(TupleTableSlot *slot, DestReceiver *self)
{
	ExportDest *dest = (ExportDest *) self;
	ByteBuf    *buf;
	MemoryContext old;
	int			slice = dest->next_slice;

	if (dest->pipeline == NULL)
		dest->pipeline = start_pipeline(&dest->config);

	slot_getallattrs(slot);
	buf = pipeline_buffer(dest->pipeline, slice);
	old = MemoryContextSwitchTo(dest->row_context);
	for (int i = 0; i < dest->ncolumns; i++)
	{
		if (i > 0)
			bytebuf_append_char(buf, ',');
		redtrack_encode_value(buf, dest->columns[i], slot->tts_values[i], slot->tts_isnull[i],
							  dest->postgres_dialect, &dest->counters);
	}
	bytebuf_append_char(buf, '\n');
	if (dest->track_ids)
		note_id(dest, DatumGetInt64(slot->tts_values[dest->ncolumns]));
	MemoryContextSwitchTo(old);
	MemoryContextReset(dest->row_context);

	if (!pipeline_commit(dest->pipeline, slice))
		report_pipeline_failure(dest->pipeline);
	dest->next_slice = (slice + 1) % dest->config.slices;
	if (++dest->rows % PROGRESS_EVERY_ROWS == 0)
	{
		CHECK_FOR_INTERRUPTS();
		report_progress(dest);
	}
	return true;
}

static void
export_startup(DestReceiver *self, int operation, TupleDesc typeinfo)
{
}

static void
export_shutdown(DestReceiver *self)
{
}

static void
export_destroy(DestReceiver *self)
{
}

static void
init_dest(ExportDest *dest, List *columns, bool postgres_dialect, PipelineConfig *config)
{
	ListCell   *lc;
	int			i = 0;

	memset(dest, 0, sizeof(*dest));
	dest->pub.receiveSlot = export_receive;
	dest->pub.rStartup = export_startup;
	dest->pub.rShutdown = export_shutdown;
	dest->pub.rDestroy = export_destroy;
	dest->pub.mydest = DestNone;
	dest->ncolumns = list_length(columns);
	dest->columns = palloc(sizeof(ColumnMap *) * Max(dest->ncolumns, 1));
	foreach(lc, columns)
		dest->columns[i++] = lfirst(lc);
	dest->postgres_dialect = postgres_dialect;
	dest->config = *config;
	dest->row_context = AllocSetContextCreate(CurrentMemoryContext, "redtrack export row",
											  ALLOCSET_DEFAULT_SIZES);
}

static void
destroy_pipeline(ExportDest *dest)
{
	if (dest->pipeline)
		pipeline_destroy(dest->pipeline);
	dest->pipeline = NULL;
}

/* ----------------------------------------------------------------
 * Layout: which columns travel, under which names
 * ----------------------------------------------------------------
 */

static ColumnMap *
find_column(List *columns, const char *source_name)
{
	ListCell   *lc;

	foreach(lc, columns)
	{
		ColumnMap  *col = lfirst(lc);

		if (strcmp(col->source_name, source_name) == 0)
			return col;
	}
	return NULL;
}

/*
 * A target column that no source column feeds.  Loading around it would
 * write NULL into it for every re-sent row: after a RENAME COLUMN on the
 * source, the warehouse would silently lose the column's data.
 */
static void
refuse_orphaned_target_columns(Replicable *r, TargetTable *target, List *columns)
{
	ListCell   *tc;

	foreach(tc, target->columns)
	{
		TargetColumn *t = lfirst(tc);
		bool		fed = false;
		ListCell   *cc;

		foreach(cc, columns)
		{
			if (strcmp(((ColumnMap *) lfirst(cc))->target_name, t->name) == 0)
			{
				fed = true;
				break;
			}
		}
		if (!fed)
			ereport(ERROR,
					(errcode(ERRCODE_UNDEFINED_COLUMN),
					 errmsg("column \"%s\" of target table %s has no source column in %s",
							t->name, target->qualified, r->source_name),
					 errdetail("The source column was renamed or dropped; loading would set the "
							   "target column to NULL in every row sent."),
					 errhint("On the warehouse, rename the target column to the source column's new name "
							 "(ALTER TABLE %s RENAME COLUMN ...), or drop it if its data is no longer needed; "
							 "then replicate again.", target->qualified)));
	}
}

void
export_layout(Replicable *r, RedshiftConn *conn, ExportLayout *layout)
{
	bool		postgres_dialect = (redtrack_target_dialect == REDTRACK_DIALECT_POSTGRES);
	TargetTable *target = target_describe(conn, r);
	List	   *missing = NIL;
	ListCell   *lc;

	memset(layout, 0, sizeof(*layout));
	if (r->strategy == STRATEGY_QUEUE)
	{
		/*
		 * A stream's target has its declared types, not the queue's, and
		 * gains the fields a redefinition added.
		 */
		const char *stream = get_rel_name(r->relid);
		bool		changed = false;

		if (!target->exists)
		{
			target_create(conn, r, target, redtrack_stream_ddl(stream));
			changed = true;
		}
		else
		{
			ListCell   *mc;

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
		}
		if (changed)
			target = target_describe(conn, r);
	}
	else if (target->exists && r->evolve)
	{
		(void) redtrack_column_map(r->relid, target->columns, postgres_dialect, &missing);
		if (missing != NIL)
		{
			target_add_columns(conn, r, target, missing, postgres_dialect);
			target = target_describe(conn, r);
		}
	}
	layout->target_exists = target->exists;
	layout->columns = redtrack_column_map(r->relid, target->exists ? target->columns : NIL,
										  postgres_dialect, NULL);
	if (layout->columns == NIL)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_COLUMN),
				 errmsg("no column of %s matches a column of target table %s",
						r->source_name, target->qualified),
				 errhint("Give the target the source's column names, or pass target_table => "
						 "to rrr_register to load another table.")));

	if (target->exists && r->strategy != STRATEGY_QUEUE)
		refuse_orphaned_target_columns(r, target, layout->columns);

	foreach(lc, r->key_columns)
	{
		ColumnMap  *key = find_column(layout->columns, lfirst(lc));

		if (key == NULL)
			ereport(ERROR,
					(errcode(ERRCODE_UNDEFINED_COLUMN),
					 errmsg("key column \"%s\" of %s is not a column of target table %s",
							(char *) lfirst(lc), r->source_name, target->qualified),
					 errhint("Rows are matched on the target by their key: add the column to the target.")));
		layout->key_columns = lappend(layout->key_columns, key);
	}
	if (r->replication_field)
	{
		ColumnMap  *field = find_column(layout->columns, r->replication_field);

		layout->replication_field_target = field ? field->target_name : NULL;
	}
}

/* ----------------------------------------------------------------
 * S3 housekeeping
 * ----------------------------------------------------------------
 */

void
export_remove_files(S3Settings *s3, const char *key_prefix)
{
	S3Client   *client = redtrack_s3_open(s3);
	S3ObjectList objects;
	S3UploadList uploads;
	S3Error		err;

	if (!s3_list_multipart_uploads(client, key_prefix, &uploads, &err))
		redtrack_s3_report(&err);
	for (int i = 0; i < uploads.count; i++)
	{
		if (!s3_multipart_abort(client, uploads.items[i].key, uploads.items[i].upload_id, &err))
		{
			s3_upload_list_free(&uploads);
			redtrack_s3_report(&err);
		}
	}
	s3_upload_list_free(&uploads);

	if (!s3_list_objects(client, key_prefix, &objects, &err))
		redtrack_s3_report(&err);
	if (objects.count > 0)
	{
		char	  **keys = palloc(sizeof(char *) * objects.count);
		bool		ok;

		for (int i = 0; i < objects.count; i++)
			keys[i] = objects.items[i].key;
		ok = s3_delete_objects(client, keys, objects.count, &err);
		s3_object_list_free(&objects);
		if (!ok)
			redtrack_s3_report(&err);
	}
	else
		s3_object_list_free(&objects);
}

static void
put_manifest(S3Client *client, S3Settings *s3, const char *key, Pipeline *p)
{
	StringInfoData json;
	S3Error		err;

	initStringInfo(&json);
	appendStringInfoString(&json, "{\"entries\": [");
	for (int i = 0; i < pipeline_file_count(p); i++)
	{
		if (i > 0)
			appendStringInfoChar(&json, ',');
		appendStringInfoString(&json, "\n  {\"url\": ");
		escape_json(&json, redtrack_s3_url(s3, pipeline_file(p, i)->key));
		appendStringInfoString(&json, ", \"mandatory\": true}");
	}
	appendStringInfoString(&json, "\n]}\n");
	if (!s3_put_object(client, key, json.data, json.len, "application/json", &err))
		redtrack_s3_report(&err);
}

/* ----------------------------------------------------------------
 * The export transaction
 * ----------------------------------------------------------------
 */

typedef struct ExportRun
{
	Replicable *r;
	Replication *rep;
	S3Settings *s3;
	bool		postgres_dialect;
	Oid			field_type;
	bool		window_fixed;	/* a retry after 'exported': keep everything */
	Oid			reader;			/* the role whose rights read the source */
	ExportDest	rows;
	ExportDest	deletes;
	PipelineConfig config;
} ExportRun;

static void
pipeline_config(ExportRun *run, const char *stem, int slices, PipelineConfig *config)
{
	size_t		max_file = (size_t) redtrack_max_file_size * 1024;

	memset(config, 0, sizeof(*config));
	redtrack_s3_config(run->s3, &config->s3);
	config->key_prefix = run->rep->s3_key;
	config->file_stem = stem;
	config->slices = slices;
	config->max_file_size = max_file;
	config->part_size = PART_SIZE;
	/* Chunks small against the file size keep files under the limit. */
	config->chunk_size = Min(MAX_CHUNK_SIZE, Max(max_file / 8, 4096));
	config->compression_level = redtrack_compression_level;
	config->uploaders = Min(Max(slices, 2), MAX_UPLOAD_THREADS);
	config->wait_check = backend_interrupted;
}

static char *
window_condition(ExportRun *run, const char *first, const char *last, int *nparams)
{
	StringInfoData where;
	const char *field = quote_identifier(run->r->replication_field);
	char	   *type = format_type_be(run->field_type);

	initStringInfo(&where);
	*nparams = 0;
	if (first)
		appendStringInfo(&where, " WHERE %s >= $%d::%s", field, ++*nparams, type);
	if (last)
		appendStringInfo(&where, "%s %s <= $%d::%s", first ? " AND" : " WHERE",
						 field, ++*nparams, type);
	return where.data;
}

static char *
table_reference(Replicable *r)
{
	/* A partitioned table is read with its partitions; others alone. */
	return psprintf("%s%s", get_rel_relkind(r->relid) == RELKIND_PARTITIONED_TABLE ? "" : "ONLY ",
					r->source_name);
}

/* Stream the window's rows; returns the number exported. */
static int64
stream_rows(ExportRun *run, ExportLayout *layout, const char *first, const char *last)
{
	StringInfoData sql;
	ListCell   *lc;
	int			nparams = 0;
	const char *where = "";
	Oid			argtypes[2] = {TEXTOID, TEXTOID};
	ParamListInfo params;
	SPIPlanPtr	plan;
	SPIExecuteOptions options;
	int			rc;
	RoleScope	reader;
	MemoryContext caller = CurrentMemoryContext;

	initStringInfo(&sql);
	appendStringInfoString(&sql, "SELECT ");
	foreach(lc, layout->columns)
	{
		ColumnMap  *col = lfirst(lc);

		if (lc != list_head(layout->columns))
			appendStringInfoString(&sql, ", ");
		appendStringInfoString(&sql, quote_identifier(col->source_name));
	}
	if (run->r->strategy == STRATEGY_QUEUE)
		appendStringInfoString(&sql, ", redtrack_event_id");
	else if (run->r->strategy != STRATEGY_FULL)
		where = window_condition(run, first, last, &nparams);
	appendStringInfo(&sql, " FROM %s%s", table_reference(run->r), where);
	if (run->r->strategy == STRATEGY_QUEUE)
		appendStringInfoString(&sql, " ORDER BY redtrack_event_id");

	params = makeParamList(nparams);
	for (int i = 0; i < nparams; i++)
	{
		const char *value = (i == 0 && first) ? first : last;

		params->params[i].value = CStringGetTextDatum(value);
		params->params[i].isnull = false;
		params->params[i].pflags = PARAM_FLAG_CONST;
		params->params[i].ptype = TEXTOID;
	}
	params->numParams = nparams;

	role_scope_enter(&reader, run->reader);
	plan = SPI_prepare(sql.data, nparams, argtypes);
	MemoryContextSwitchTo(caller);
	if (plan == NULL)
		elog(ERROR, "SPI_prepare failed (%s) on: %s", SPI_result_code_string(SPI_result), sql.data);

	pipeline_config(run, "part", redtrack_slices, &run->config);
	init_dest(&run->rows, layout->columns, run->postgres_dialect, &run->config);
	if (run->r->strategy == STRATEGY_QUEUE)
	{
		run->rows.track_ids = true;
		initStringInfo(&run->rows.ranges);
		appendStringInfoChar(&run->rows.ranges, '{');
	}

	memset(&options, 0, sizeof(options));
	options.params = params;
	options.read_only = true;
	options.dest = (DestReceiver *) &run->rows;
	rc = SPI_execute_plan_extended(plan, &options);
	role_scope_leave(&reader);
	MemoryContextSwitchTo(caller);
	if (rc < 0)
		elog(ERROR, "SPI_execute_plan_extended failed: %s", SPI_result_code_string(rc));

	if (run->rows.pipeline && !pipeline_finish(run->rows.pipeline))
		report_pipeline_failure(run->rows.pipeline);
	report_progress(&run->rows);
	if (run->rows.track_ids)
	{
		end_id_range(&run->rows);
		appendStringInfoChar(&run->rows.ranges, '}');
		run->rep->queue_ids = run->rows.rows > 0 ? run->rows.ranges.data : NULL;
	}
	return run->rows.rows;
}

/* Stream the keys of the delete records this replication carries. */
static int64
stream_deletes(ExportRun *run, ExportLayout *layout)
{
	SpiArgs		args = {0};
	int			nkeys = list_length(layout->key_columns);
	ColumnMap **keys = palloc(sizeof(ColumnMap *) * nkeys);
	ListCell   *lc;
	int			k = 0;
	uint64		nrecords;
	int64		count = 0;
	ExportDest *dest = &run->deletes;
	PipelineConfig config;
	MemoryContext record_context;
	MemoryContext old_context;

	foreach(lc, layout->key_columns)
		keys[k++] = lfirst(lc);
	record_context = AllocSetContextCreate(CurrentMemoryContext, "redtrack delete record",
										   ALLOCSET_DEFAULT_SIZES);

	pipeline_config(run, "deletes", 1, &config);
	init_dest(dest, layout->key_columns, run->postgres_dialect, &config);
	dest->pipeline = start_pipeline(&dest->config);

	spi_arg_int8(&args, run->rep->id);
	/* Not read-only: the records were marked earlier in this transaction. */
	nrecords = spi_run("SELECT keys FROM redtrack.deleted_records "
					   "WHERE replication_id = $1 AND kind = 'delete' ORDER BY id", &args, false);
	for (uint64 i = 0; i < nrecords; i++)
	{
		bool		isnull;
		Datum		d = SPI_getbinval(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 1, &isnull);
		Datum	   *values;
		bool	   *nulls;
		int			nvalues;

		if (isnull)
			continue;
		/* One record's keys at a time: a replication may carry millions. */
		MemoryContextReset(record_context);
		old_context = MemoryContextSwitchTo(record_context);
		deconstruct_array(DatumGetArrayTypeP(d), TEXTOID, -1, false, TYPALIGN_INT,
						  &values, &nulls, &nvalues);
		MemoryContextSwitchTo(old_context);
		for (int row = 0; row + nkeys <= nvalues; row += nkeys)
		{
			ByteBuf    *buf = pipeline_buffer(dest->pipeline, 0);
			MemoryContext old = MemoryContextSwitchTo(dest->row_context);

			for (int j = 0; j < nkeys; j++)
			{
				if (j > 0)
					bytebuf_append_char(buf, ',');
				redtrack_encode_text_value(buf, keys[j], TextDatumGetCString(values[row + j]),
										   run->postgres_dialect, &dest->counters);
			}
			bytebuf_append_char(buf, '\n');
			MemoryContextSwitchTo(old);
			MemoryContextReset(dest->row_context);
			if (!pipeline_commit(dest->pipeline, 0))
				report_pipeline_failure(dest->pipeline);
			count++;
		}
		CHECK_FOR_INTERRUPTS();
	}
	MemoryContextDelete(record_context);
	if (!pipeline_finish(dest->pipeline))
		report_pipeline_failure(dest->pipeline);
	return count;
}

/* Whether the source has rows in the window (for a queue: any event). */
static bool
source_has_rows(ExportRun *run, const char *first, const char *last)
{
	SpiArgs		args = {0};
	RoleScope	reader;
	char	   *where = "";
	int			nparams;
	bool		has_rows;

	if (run->r->strategy == STRATEGY_FULL)
		return true;
	if (run->r->strategy != STRATEGY_QUEUE)
	{
		where = window_condition(run, first, last, &nparams);
		if (first)
			spi_arg_text(&args, first);
		if (last)
			spi_arg_text(&args, last);
	}
	role_scope_enter(&reader, run->reader);
	spi_run(psprintf("SELECT EXISTS (SELECT 1 FROM %s%s)", table_reference(run->r), where),
			&args, true);
	role_scope_leave(&reader);
	has_rows = spi_get_bool(0, 1);
	return has_rows;
}

/*
 * Whether the target of an incremental table is missing although an
 * earlier replication loaded it.  Says so in a WARNING.
 */
static bool
target_was_dropped(ExportRun *run, RedshiftConn **conn)
{
	Replicable *r = run->r;
	TargetTable *target;

	if (r->strategy != STRATEGY_TIMED && r->strategy != STRATEGY_IDENTITY)
		return false;
	if (!state_has_imported(r->relid))
		return false;
	if (*conn == NULL)
		*conn = redshift_connect();
	target = target_describe(*conn, r);
	if (target->exists)
		return false;
	ereport(WARNING,
			(errmsg("redtrack: target table %s of %s no longer exists; replication " INT64_FORMAT
					" rebuilds it from every row", target->qualified, r->source_name, run->rep->id),
			 errdetail("An earlier replication loaded it; it was dropped on the warehouse since.")));
	return true;
}

bool
export_has_work(Replicable *r, Replication *rep)
{
	/* A full replication loads even an empty table: it empties the target. */
	return r->strategy == STRATEGY_FULL || rep->rows > 0 || rep->deletes > 0 ||
		rep->carries_truncate;
}

void
export_replication(Replicable *r, Replication *rep, S3Settings *s3, RedshiftConn **conn,
				   ExportLayout *layout)
{
	ExportRun	run;
	Horizon		horizon;
	TimestampTz started;
	char	   *first;
	char	   *last;
	MemoryContext caller = CurrentMemoryContext;

	memset(&run, 0, sizeof(run));
	memset(&horizon, 0, sizeof(horizon));
	run.r = r;
	run.rep = rep;
	run.s3 = s3;
	run.postgres_dialect = (redtrack_target_dialect == REDTRACK_DIALECT_POSTGRES);
	run.window_fixed = (rep->snapshot_at != 0);
	run.field_type = r->field_type;
	rep->s3_key = state_s3_key(s3->prefix, r->target_table, rep->id);

	redtrack_progress_phase("exporting");
	pgstat_report_activity(STATE_RUNNING, psprintf("redtrack: exporting %s", r->source_name));

	/* A retry starts from a clean prefix: no stale files, no open uploads. */
	if (rep->retries > 0)
		export_remove_files(s3, rep->s3_key);

	/* The horizon, in a transaction that ends before the export's snapshot. */
	if (r->replication_field && !run.window_fixed)
	{
		engine_begin_transaction(caller);
		watermark_read_horizon(r, run.field_type, &horizon);
		engine_commit_transaction(caller);
	}

	started = GetCurrentTimestamp();
	SetCurrentStatementStartTimestamp();
	StartTransactionCommand();
	XactIsoLevel = XACT_REPEATABLE_READ;
	PushActiveSnapshot(GetTransactionSnapshot());
	SPI_connect();
	/* What the export computes outlives SPI: allocate it in the caller's context. */
	MemoryContextSwitchTo(caller);

	PG_TRY();
	{
		SpiArgs		args = {0};
		bool		has_rows = true;
		bool		rebuilt = false;
		RoleScope	reader;

		run.reader = redtrack_source_reader(r);

		/* The window's upper bound, from this transaction's snapshot. */
		first = rep->window_first;
		last = rep->window_last;
		if (!run.window_fixed)
		{
			if (r->replication_field)
			{
				role_scope_enter(&reader, run.reader);
				spi_run(psprintf("SELECT pg_catalog.max(%s)::text FROM %s",
								 quote_identifier(r->replication_field), table_reference(r)),
						NULL, true);
				role_scope_leave(&reader);
				last = spi_get_text(caller, 0, 1);
			}
			else
				spi_run("SELECT 1", NULL, true);
			rep->snapshot_at = GetCurrentTimestamp();
			rep->horizon = horizon.horizon;
		}

		/* The table's delete records, taken by this replication. */
		if (r->track_deletes)
		{
			args.n = 0;
			spi_arg_int8(&args, rep->id);
			spi_arg_oid(&args, r->relid);
			if (!run.window_fixed)
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
		}

		/* After a TRUNCATE the target is rebuilt: send every row. */
		if (rep->carries_truncate)
			first = NULL;

		has_rows = source_has_rows(&run, first, last);

		/*
		 * A target that held this table's rows and is gone (dropped by
		 * hand) must be rebuilt from every row, not from this window:
		 * loading only the window would leave the rest of the table
		 * missing on the warehouse with nothing to say so.
		 */
		if (!run.window_fixed && first != NULL &&
			(has_rows || rep->deletes > 0 || rep->carries_truncate) &&
			target_was_dropped(&run, conn))
		{
			rebuilt = true;
			first = NULL;
			has_rows = source_has_rows(&run, first, last);
		}

		rep->rows = 0;
		rep->bytes = 0;
		rep->raw_bytes = 0;
		rep->files = 0;
		if (has_rows || rep->deletes > 0 || rep->carries_truncate || r->strategy == STRATEGY_FULL)
		{
			ListCell   *lc;

			if (*conn == NULL)
				*conn = redshift_connect();
			export_layout(r, *conn, layout);
			layout->target_rebuilt = rebuilt;
			rep->target_columns = NIL;
			rep->target_keys = NIL;
			foreach(lc, layout->columns)
				rep->target_columns = lappend(rep->target_columns,
											  ((ColumnMap *) lfirst(lc))->target_name);
			foreach(lc, layout->key_columns)
				rep->target_keys = lappend(rep->target_keys,
										   ((ColumnMap *) lfirst(lc))->target_name);
			rep->target_order = layout->replication_field_target;
			if (has_rows)
			{
				rep->rows = stream_rows(&run, layout, first, last);
				for (int i = 0; i < pipeline_file_count(run.rows.pipeline); i++)
				{
					rep->bytes += pipeline_file(run.rows.pipeline, i)->bytes;
					rep->raw_bytes += pipeline_file(run.rows.pipeline, i)->raw_bytes;
				}
				rep->files = pipeline_file_count(run.rows.pipeline);
			}
			if (rep->deletes > 0 && !rep->carries_truncate && r->strategy != STRATEGY_FULL)
			{
				rep->deletes = stream_deletes(&run, layout);
				for (int i = 0; i < pipeline_file_count(run.deletes.pipeline); i++)
					rep->bytes += pipeline_file(run.deletes.pipeline, i)->bytes;
				rep->files += pipeline_file_count(run.deletes.pipeline);
			}
		}
		rep->truncated_values = run.rows.counters.truncated + run.deletes.counters.truncated;
		rep->clamped_values = run.rows.counters.clamped + run.deletes.counters.clamped;

		if (!run.window_fixed)
		{
			rep->window_first = first;
			rep->window_last = last;
			if (r->replication_field)
				rep->next_first = watermark_next_first(r, run.field_type, rep->window_first,
													   last, rep->carries_truncate, &horizon);
		}
		rep->export_seconds = (double) (GetCurrentTimestamp() - started) / USECS_PER_SEC;
		state_record_export(rep);
	}
	PG_CATCH();
	{
		/* Stop the threads and abort their uploads before unwinding. */
		destroy_pipeline(&run.rows);
		destroy_pipeline(&run.deletes);
		PG_RE_THROW();
	}
	PG_END_TRY();

	SPI_finish();
	PopActiveSnapshot();
	CommitTransactionCommand();
	MemoryContextSwitchTo(caller);

	if (rep->truncated_values > 0 || rep->clamped_values > 0)
		ereport(WARNING,
				(errmsg("redtrack: %s: " INT64_FORMAT " values cut or rounded to fit the target, "
						INT64_FORMAT " values the target cannot hold replaced",
						r->source_name, rep->truncated_values, rep->clamped_values),
				 errdetail("Replication " INT64_FORMAT " records both counts.", rep->id)));

	/* The manifests, last: only now is the replication complete on S3. */
	if (export_has_work(r, rep))
	{
		S3Client   *client;
		TimestampTz upload_started = GetCurrentTimestamp();

		engine_begin_transaction(caller);
		state_set(rep, "uploading");
		engine_commit_transaction(caller);
		redtrack_progress_phase("uploading");
		pgstat_report_activity(STATE_RUNNING, psprintf("redtrack: uploading the manifest of %s",
														r->source_name));

		client = redtrack_s3_open(s3);
		PG_TRY();
		{
			if (run.rows.pipeline && pipeline_file_count(run.rows.pipeline) > 0)
				put_manifest(client, s3, psprintf("%smanifest.json", rep->s3_key), run.rows.pipeline);
			if (run.deletes.pipeline && pipeline_file_count(run.deletes.pipeline) > 0)
				put_manifest(client, s3, psprintf("%sdeletes.manifest.json", rep->s3_key),
							 run.deletes.pipeline);
		}
		PG_CATCH();
		{
			destroy_pipeline(&run.rows);
			destroy_pipeline(&run.deletes);
			PG_RE_THROW();
		}
		PG_END_TRY();
		destroy_pipeline(&run.rows);
		destroy_pipeline(&run.deletes);

		rep->upload_seconds = (double) (GetCurrentTimestamp() - upload_started) / USECS_PER_SEC;
		engine_begin_transaction(caller);
		state_record_upload(rep);
		engine_commit_transaction(caller);
	}
	else
	{
		destroy_pipeline(&run.rows);
		destroy_pipeline(&run.deletes);
	}
}

/*
 * cdc (issue 13): the manifest of a pipeline's files, as the export writes
 * it (worker/cdc/cdc_run.c uploads its changes through the same pipeline).
 */
void
export_put_manifest(S3Settings *s3, const char *key, Pipeline *p)
{
	put_manifest(redtrack_s3_open(s3), s3, key, p);
}
