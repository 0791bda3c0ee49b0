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
 * The export only exports: engine.c opens and ends its transactions,
 * records its states, and prepares the target on the warehouse before
 * the snapshot; nothing here talks to the warehouse.  What the rows are
 * and in which order comes from the table's strategy (worker/strategy/).
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

#include "interrupts.h"
#include "stream.h"
#include "export.h"
#include "guc.h"
#include "pipeline.h"
#include "shmem.h"
#include "spi_util.h"
#include "state.h"
#include "strategy.h"
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
	 * A strategy's id column (StrategySelect.id_column, the last selected
	 * column): the ids sent, as ranges of consecutive ids read in id
	 * order, e.g. so that a queue deletes exactly these events once loaded.
	 */
	bool		track_ids;
	bool		have_range;
	int64		range_first;
	int64		range_last;
	StringInfoData ranges;		/* int8multirange text */

	/*
	 * events: a stream's enricher (worker/stream/stream_enrich.c), or NULL.
	 * Events it sets aside are not written, but their ids are noted: the
	 * queue deletes them with the rest once the drain is loaded.
	 */
	StreamEnricher *enricher;
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

bool
export_backend_interrupted(void *arg)
{
	return redtrack_interrupt_pending();
}

void
export_report_pipeline_failure(Pipeline *p)
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
	Datum	   *values;
	bool	   *isnull;

	slot_getallattrs(slot);
	values = slot->tts_values;
	isnull = slot->tts_isnull;
	/* events: enrichment; an event set aside is carried, not written */
	if (dest->enricher != NULL &&
		!stream_enrich_row(dest->enricher, values, isnull,
						   DatumGetInt64(slot->tts_values[dest->ncolumns]),
						   &values, &isnull, &dest->counters.truncated))
	{
		note_id(dest, DatumGetInt64(slot->tts_values[dest->ncolumns]));
		return true;
	}

	if (dest->pipeline == NULL)
		dest->pipeline = start_pipeline(&dest->config);

	buf = pipeline_buffer(dest->pipeline, slice);
	old = MemoryContextSwitchTo(dest->row_context);
	for (int i = 0; i < dest->ncolumns; i++)
	{
		if (i > 0)
			bytebuf_append_char(buf, ',');
		redtrack_encode_value(buf, dest->columns[i], values[i], isnull[i],
							  dest->postgres_dialect, &dest->counters);
	}
	bytebuf_append_char(buf, '\n');
	if (dest->track_ids)
		note_id(dest, DatumGetInt64(slot->tts_values[dest->ncolumns]));
	MemoryContextSwitchTo(old);
	MemoryContextReset(dest->row_context);

	if (!pipeline_commit(dest->pipeline, slice))
		export_report_pipeline_failure(dest->pipeline);
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
export_layout(Replicable *r, TargetTable *target, ExportLayout *layout)
{
	bool		postgres_dialect = (redtrack_target_dialect == REDTRACK_DIALECT_POSTGRES);
	ListCell   *lc;

	layout->target_exists = target->exists;
	layout->columns = redtrack_column_map(r->relid, target->exists ? target->columns : NIL,
										  postgres_dialect, NULL);
	layout->key_columns = NIL;
	if (layout->columns == NIL)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_COLUMN),
				 errmsg("no column of %s matches a column of target table %s",
						r->source_name, target->qualified),
				 errhint("Give the target the source's column names, or pass target_table => "
						 "to rrr_register to load another table.")));

	if (target->exists && strategy_of(r)->refuses_unfed_columns)
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
	layout->replication_field_target = NULL;
	if (r->replication_field)
	{
		ColumnMap  *field = find_column(layout->columns, r->replication_field);

		layout->replication_field_target = field ? field->target_name : NULL;
	}
	layout->prepared = true;
}

/* ----------------------------------------------------------------
 * S3 housekeeping
 * ----------------------------------------------------------------
 */

/* The same, after a load: a failure is a WARNING (the load is done). */
void
export_remove_files_or_warn(S3Settings *s3, const char *key_prefix, const char *what)
{
	MemoryContext cxt = CurrentMemoryContext;

	PG_TRY();
	{
		export_remove_files(s3, key_prefix);
	}
	PG_CATCH();
	{
		ErrorData  *edata;

		MemoryContextSwitchTo(cxt);
		edata = CopyErrorData();
		FlushErrorState();
		ereport(WARNING,
				(errmsg("redtrack: could not delete the files of %s: %s", what, edata->message)));
	}
	PG_END_TRY();
}

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

struct ExportRun
{
	Replicable *r;
	Replication *rep;
	const Strategy *strategy;
	S3Settings *s3;
	bool		postgres_dialect;
	bool		window_fixed;	/* a retry after 'exported': keep everything */
	Oid			reader;			/* the role whose rights read the source */
	Horizon		horizon;
	TimestampTz started;
	char	   *first;			/* the window this export reads */
	char	   *last;
	bool		has_rows;
	ExportDest	rows;
	ExportDest	deletes;
	PipelineConfig config;
};

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
	/* Compression: the level the files are written with. */
	config->compression_level = redtrack_compression_level;
	config->uploaders = Min(Max(slices, 2), MAX_UPLOAD_THREADS);
	config->wait_check = export_backend_interrupted;
}

static char *
table_reference(Replicable *r)
{
	/* A partitioned table is read with its partitions; others alone. */
	return psprintf("%s%s", get_rel_relkind(r->relid) == RELKIND_PARTITIONED_TABLE ? "" : "ONLY ",
					r->source_name);
}

/* The strategy's SELECT of the export's rows, with its parameters. */
static char *
select_rows_sql(ExportRun *run, ExportLayout *layout, StrategySelect *sel, ParamListInfo *params)
{
	StringInfoData sql;
	ListCell   *lc;

	run->strategy->select(run->r, run->first, run->last, sel);
	initStringInfo(&sql);
	appendStringInfoString(&sql, "SELECT ");
	foreach(lc, layout->columns)
	{
		ColumnMap  *col = lfirst(lc);

		if (lc != list_head(layout->columns))
			appendStringInfoString(&sql, ", ");
		appendStringInfoString(&sql, quote_identifier(col->source_name));
	}
	if (sel->id_column)
		appendStringInfo(&sql, ", %s", quote_identifier(sel->id_column));
	appendStringInfo(&sql, " FROM %s%s%s", table_reference(run->r), sel->where, sel->order_by);

	*params = makeParamList(sel->nparams);
	for (int i = 0; i < sel->nparams; i++)
	{
		(*params)->params[i].value = CStringGetTextDatum(sel->params[i]);
		(*params)->params[i].isnull = false;
		(*params)->params[i].pflags = PARAM_FLAG_CONST;
		(*params)->params[i].ptype = TEXTOID;
	}
	(*params)->numParams = sel->nparams;
	return sql.data;
}

/* Stream the window's rows; returns the number exported. */
static int64
stream_rows(ExportRun *run, ExportLayout *layout)
{
	StrategySelect sel;
	ParamListInfo params;
	char	   *sql = select_rows_sql(run, layout, &sel, &params);
	Oid			argtypes[2] = {TEXTOID, TEXTOID};
	SPIPlanPtr	plan;
	SPIExecuteOptions options;
	int			rc;
	RoleScope	reader;
	MemoryContext caller = CurrentMemoryContext;

	role_scope_enter(&reader, run->reader);
	plan = SPI_prepare(sql, sel.nparams, argtypes);
	MemoryContextSwitchTo(caller);
	if (plan == NULL)
		elog(ERROR, "SPI_prepare failed (%s) on: %s", SPI_result_code_string(SPI_result), sql);

	pipeline_config(run, "part", redtrack_slices, &run->config);
	init_dest(&run->rows, layout->columns, run->postgres_dialect, &run->config);
	if (sel.id_column)
	{
		run->rows.track_ids = true;
		initStringInfo(&run->rows.ranges);
		appendStringInfoChar(&run->rows.ranges, '{');
	}

	if (run->strategy->row_enricher)
		run->rows.enricher = run->strategy->row_enricher(run->r, layout->columns);

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
		export_report_pipeline_failure(run->rows.pipeline);
	report_progress(&run->rows);
	if (run->rows.track_ids)
	{
		end_id_range(&run->rows);
		appendStringInfoChar(&run->rows.ranges, '}');
	}
	return run->rows.rows;
}

/* What stream_deletes encodes one delete record with. */
typedef struct DeleteKeysEncoder
{
	ExportRun  *run;
	ColumnMap **keys;
	int			nkeys;
	int64		count;
	MemoryContext record_context;
} DeleteKeysEncoder;

static void
encode_delete_keys(Datum keys, void *arg)
{
	DeleteKeysEncoder *enc = arg;
	ExportDest *dest = &enc->run->deletes;
	Datum	   *values;
	bool	   *nulls;
	int			nvalues;
	MemoryContext old_context;

	/* One record's keys at a time: a replication may carry millions. */
	MemoryContextReset(enc->record_context);
	old_context = MemoryContextSwitchTo(enc->record_context);
	deconstruct_array(DatumGetArrayTypeP(keys), TEXTOID, -1, false, TYPALIGN_INT,
					  &values, &nulls, &nvalues);
	MemoryContextSwitchTo(old_context);
	for (int row = 0; row + enc->nkeys <= nvalues; row += enc->nkeys)
	{
		ByteBuf    *buf = pipeline_buffer(dest->pipeline, 0);
		MemoryContext old = MemoryContextSwitchTo(dest->row_context);

		for (int j = 0; j < enc->nkeys; j++)
		{
			if (j > 0)
				bytebuf_append_char(buf, ',');
			redtrack_encode_text_value(buf, enc->keys[j], TextDatumGetCString(values[row + j]),
									   enc->run->postgres_dialect, &dest->counters);
		}
		bytebuf_append_char(buf, '\n');
		MemoryContextSwitchTo(old);
		MemoryContextReset(dest->row_context);
		if (!pipeline_commit(dest->pipeline, 0))
			export_report_pipeline_failure(dest->pipeline);
		enc->count++;
	}
	CHECK_FOR_INTERRUPTS();
}

/* Stream the keys of the delete records this replication carries. */
static int64
stream_deletes(ExportRun *run, ExportLayout *layout)
{
	DeleteKeysEncoder enc;
	ListCell   *lc;
	PipelineConfig config;

	memset(&enc, 0, sizeof(enc));
	enc.run = run;
	enc.nkeys = list_length(layout->key_columns);
	enc.keys = palloc(sizeof(ColumnMap *) * Max(enc.nkeys, 1));
	foreach(lc, layout->key_columns)
		enc.keys[enc.count++] = lfirst(lc);
	enc.count = 0;
	enc.record_context = AllocSetContextCreate(CurrentMemoryContext, "redtrack delete record",
											   ALLOCSET_DEFAULT_SIZES);

	pipeline_config(run, "deletes", 1, &config);
	init_dest(&run->deletes, layout->key_columns, run->postgres_dialect, &config);
	run->deletes.pipeline = start_pipeline(&run->deletes.config);

	state_foreach_delete_keys(run->rep, encode_delete_keys, &enc);
	MemoryContextDelete(enc.record_context);
	if (!pipeline_finish(run->deletes.pipeline))
		export_report_pipeline_failure(run->deletes.pipeline);
	return enc.count;
}

/* Whether the source has rows in the window (for a queue: any event). */
static bool
source_has_rows(ExportRun *run)
{
	SpiArgs		args = {0};
	RoleScope	reader;
	StrategySelect sel;

	if (run->strategy->replaces_target)
		return true;
	run->strategy->select(run->r, run->first, run->last, &sel);
	for (int i = 0; i < sel.nparams; i++)
		spi_arg_text(&args, sel.params[i]);
	role_scope_enter(&reader, run->reader);
	spi_run(psprintf("SELECT EXISTS (SELECT 1 FROM %s%s)", table_reference(run->r), sel.where),
			&args, true);
	role_scope_leave(&reader);
	return spi_get_bool(0, 1);
}

bool
export_has_work(Replicable *r, Replication *rep)
{
	/* A full replication loads even an empty table: it empties the target. */
	return strategy_of(r)->replaces_target || rep->rows > 0 || rep->deletes > 0 ||
		rep->carries_truncate;
}

/* ----------------------------------------------------------------
 * The export, step by step (engine.c drives the transactions)
 * ----------------------------------------------------------------
 */

ExportRun *
export_begin(Replicable *r, Replication *rep, S3Settings *s3)
{
	ExportRun  *run = palloc0(sizeof(ExportRun));

	run->r = r;
	run->rep = rep;
	run->strategy = strategy_of(r);
	run->s3 = s3;
	run->postgres_dialect = (redtrack_target_dialect == REDTRACK_DIALECT_POSTGRES);
	run->window_fixed = (rep->snapshot_at != 0);

	/* A replication keeps the key it stored: its files are there. */
	if (rep->s3_key == NULL)
		rep->s3_key = state_s3_key(s3->prefix, r->target_table, rep->id);

	/* A retry starts from a clean prefix: no stale files, no open uploads. */
	if (rep->retries > 0)
		export_remove_files(s3, rep->s3_key);
	return run;
}

bool
export_needs_horizon(ExportRun *run)
{
	return run->r->replication_field != NULL && !run->window_fixed;
}

void
export_read_horizon(ExportRun *run)
{
	watermark_read_horizon(run->r, run->r->field_type, &run->horizon);
}

/* The window's upper bound, from the export's snapshot. */
static void
read_upper_bound(ExportRun *run)
{
	Replicable *r = run->r;
	RoleScope	reader;

	if (r->replication_field)
	{
		role_scope_enter(&reader, run->reader);
		spi_run(psprintf("SELECT pg_catalog.max(%s)::text FROM %s",
						 quote_identifier(r->replication_field), table_reference(r)),
				NULL, true);
		role_scope_leave(&reader);
		run->last = spi_get_text(CurrentMemoryContext, 0, 1);
	}
	else
		spi_run("SELECT 1", NULL, true);
	run->rep->snapshot_at = GetCurrentTimestamp();
	run->rep->horizon = run->horizon.horizon;
}

bool
export_scan(ExportRun *run, ExportLayout *layout)
{
	Replication *rep = run->rep;
	bool		work;

	if (run->started == 0)
		run->started = GetCurrentTimestamp();
	run->reader = redtrack_source_reader(run->r);
	run->first = rep->window_first;
	run->last = rep->window_last;
	if (!run->window_fixed)
		read_upper_bound(run);

	/* The table's delete records, taken by this replication. */
	if (run->r->track_deletes)
		state_claim_deletes(rep, !run->window_fixed);

	/* After a TRUNCATE the target is rebuilt: send every row. */
	if (rep->carries_truncate)
		run->first = NULL;
	run->has_rows = source_has_rows(run);
	work = run->has_rows || rep->deletes > 0 || rep->carries_truncate ||
		run->strategy->replaces_target;

	/*
	 * A target that held this table's rows and is gone (dropped by hand)
	 * must be rebuilt from every row, not from this window: loading only
	 * the window would leave the rest of the table missing on the
	 * warehouse with nothing to say so.
	 */
	layout->target_rebuilt = false;
	if (work && !run->window_fixed && run->first != NULL && layout->prepared &&
		layout->target_dropped)
	{
		ereport(WARNING,
				(errmsg("redtrack: target table %s of %s no longer exists; replication " INT64_FORMAT
						" rebuilds it from every row", run->r->target_table, run->r->source_name,
						rep->id),
				 errdetail("An earlier replication loaded it; it was dropped on the warehouse since.")));
		layout->target_rebuilt = true;
		run->first = NULL;
		run->has_rows = source_has_rows(run);
	}
	return work;
}

static void
record_layout(Replication *rep, ExportLayout *layout)
{
	ListCell   *lc;

	rep->target_columns = NIL;
	rep->target_keys = NIL;
	foreach(lc, layout->columns)
		rep->target_columns = lappend(rep->target_columns,
									  ((ColumnMap *) lfirst(lc))->target_name);
	foreach(lc, layout->key_columns)
		rep->target_keys = lappend(rep->target_keys, ((ColumnMap *) lfirst(lc))->target_name);
	rep->target_order = layout->replication_field_target;
}

static void
add_file_sizes(Replication *rep, Pipeline *p, bool raw)
{
	for (int i = 0; i < pipeline_file_count(p); i++)
	{
		rep->bytes += pipeline_file(p, i)->bytes;
		if (raw)
			rep->raw_bytes += pipeline_file(p, i)->raw_bytes;
	}
	rep->files += pipeline_file_count(p);
}

void
export_stream(ExportRun *run, ExportLayout *layout, bool work)
{
	Replication *rep = run->rep;

	rep->rows = 0;
	rep->bytes = 0;
	rep->raw_bytes = 0;
	rep->files = 0;
	if (work)
	{
		record_layout(rep, layout);
		if (run->has_rows)
		{
			rep->rows = stream_rows(run, layout);
			add_file_sizes(rep, run->rows.pipeline, true);
			/*
			 * The ids carried: events the enricher set aside count too
			 * (have_range), not only rows written.
			 */
			if (run->strategy->rows_sent && run->rows.track_ids)
				run->strategy->rows_sent(rep, run->rows.have_range ? run->rows.ranges.data : NULL);
		}
		if (rep->deletes > 0 && !rep->carries_truncate && !run->strategy->replaces_target)
		{
			rep->deletes = stream_deletes(run, layout);
			add_file_sizes(rep, run->deletes.pipeline, false);
		}
	}
	rep->truncated_values = run->rows.counters.truncated + run->deletes.counters.truncated;
	rep->clamped_values = run->rows.counters.clamped + run->deletes.counters.clamped;

	if (!run->window_fixed)
	{
		rep->window_first = run->first;
		rep->window_last = run->last;
		if (run->r->replication_field)
			rep->next_first = watermark_next_first(run->r, run->r->field_type, rep->window_first,
												   run->last, rep->carries_truncate, &run->horizon);
	}
	rep->export_seconds = (double) (GetCurrentTimestamp() - run->started) / USECS_PER_SEC;
}

/* The manifests, last: only with them is the replication complete on S3. */
void
export_put_manifests(ExportRun *run)
{
	S3Client   *client = redtrack_s3_open(run->s3);
	const char *key = run->rep->s3_key;

	if (run->rows.pipeline && pipeline_file_count(run->rows.pipeline) > 0)
		put_manifest(client, run->s3, psprintf("%smanifest.json", key), run->rows.pipeline);
	if (run->deletes.pipeline && pipeline_file_count(run->deletes.pipeline) > 0)
		put_manifest(client, run->s3, psprintf("%sdeletes.manifest.json", key),
					 run->deletes.pipeline);
}

void
export_end(ExportRun *run)
{
	if (run == NULL)
		return;
	destroy_pipeline(&run->rows);
	destroy_pipeline(&run->deletes);
}

/*
 * The manifest of a pipeline's files, as the export writes
 * it (worker/cdc/cdc_run.c uploads its changes through the same pipeline).
 */
void
export_put_manifest(S3Settings *s3, const char *key, Pipeline *p)
{
	put_manifest(redtrack_s3_open(s3), s3, key, p);
}
