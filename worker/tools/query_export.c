/*-------------------------------------------------------------------------
 *
 * query_export.c
 *	  rrr_export_query: the result of any read-only query, streamed through
 *	  the export pipeline (typemap encoders -> gzip -> S3 multipart parts)
 *	  into parts plus a manifest.
 *
 * The query runs in the caller's backend, as the caller: parse analysis,
 * permission checks and execution all use the caller's user id, since this
 * code runs inside a SECURITY INVOKER function and never switches roles.
 * Only the S3 credentials are the server's, and they stay in this C code.
 * Rows go straight from the executor into the pipeline (a DestReceiver),
 * so memory stays flat whatever the result's size; the pipeline's waits
 * and the receiver check for interrupts, so a cancel stops the export and
 * aborts its uploads.
 *
 * Read only: the statement must be one plain SELECT (no data-modifying
 * WITH, no FOR UPDATE, no SELECT INTO), and it runs with XactReadOnly set,
 * so that a function it calls cannot write either (PostgreSQL refuses
 * writes to permanent tables, nextval() and the like in a read-only
 * transaction).
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <ctype.h>

#include "access/xact.h"
#include "catalog/dependency.h"
#include "catalog/pg_proc.h"
#include "catalog/pg_type.h"
#include "commands/extension.h"
#include "executor/spi.h"
#include "lib/stringinfo.h"
#include "miscadmin.h"
#include "nodes/nodeFuncs.h"
#include "nodes/parsenodes.h"
#include "tcop/dest.h"
#include "utils/builtins.h"
#include "utils/json.h"
#include "utils/memutils.h"
#include "utils/plancache.h"

#include "export.h"
#include "guc.h"
#include "interrupts.h"
#include "pipeline.h"
#include "tools.h"
#include "typemap.h"

/*
 * The pipeline's shape, as replication's export sets it (export.c): parts
 * of S3's minimum size, chunks small against the file size, one upload
 * thread per slice up to 8.
 */
#define PART_SIZE (5 * 1024 * 1024)
#define MAX_CHUNK_SIZE (256 * 1024)
#define MAX_UPLOAD_THREADS 8
#define INTERRUPT_EVERY_ROWS 4096

typedef struct QueryDest
{
	DestReceiver pub;
	ColumnMap **columns;
	char	  **json_keys;		/* "name": for each column */
	int			ncolumns;
	ToolsFormat format;
	bool		postgres_dialect;
	PipelineConfig config;
	Pipeline   *pipeline;		/* started with the first row */
	int			next_slice;
	int64		rows;
	EncodeCounters counters;
	ByteBuf		scratch;		/* one value's CSV form, for JSON */
	MemoryContext row_context;
} QueryDest;

/* ----------------------------------------------------------------
 * JSON lines, as COPY ... FORMAT JSON 'auto' reads them
 * ----------------------------------------------------------------
 */

static void
append_json_string(ByteBuf *out, const char *s, size_t len)
{
	bytebuf_append_char(out, '"');
	for (size_t i = 0; i < len; i++)
	{
		unsigned char c = (unsigned char) s[i];

		switch (c)
		{
			case '"':
				bytebuf_append(out, "\\\"", 2);
				break;
			case '\\':
				bytebuf_append(out, "\\\\", 2);
				break;
			case '\n':
				bytebuf_append(out, "\\n", 2);
				break;
			case '\r':
				bytebuf_append(out, "\\r", 2);
				break;
			case '\t':
				bytebuf_append(out, "\\t", 2);
				break;
			default:
				if (c < 0x20)
				{
					char		esc[8];

					snprintf(esc, sizeof(esc), "\\u%04x", c);
					bytebuf_append(out, esc, 6);
				}
				else
					bytebuf_append_char(out, (char) c);
		}
	}
	bytebuf_append_char(out, '"');
}

/* Whether text is a JSON number (the encoders write NaN and such as NULL). */
static bool
is_json_number(const char *s, size_t len)
{
	size_t		i = 0;

	if (i < len && s[i] == '-')
		i++;
	if (i >= len || !isdigit((unsigned char) s[i]))
		return false;
	if (s[i] == '0' && i + 1 < len && isdigit((unsigned char) s[i + 1]))
		return false;
	while (i < len && isdigit((unsigned char) s[i]))
		i++;
	if (i < len && s[i] == '.')
	{
		i++;
		if (i >= len || !isdigit((unsigned char) s[i]))
			return false;
		while (i < len && isdigit((unsigned char) s[i]))
			i++;
	}
	if (i < len && (s[i] == 'e' || s[i] == 'E'))
	{
		i++;
		if (i < len && (s[i] == '+' || s[i] == '-'))
			i++;
		if (i >= len || !isdigit((unsigned char) s[i]))
			return false;
		while (i < len && isdigit((unsigned char) s[i]))
			i++;
	}
	return i == len;
}

/*
 * One value as JSON.  The value goes through the same encoder as the CSV
 * (so types, clamps, cuts and their counters are replication's), and its
 * CSV form becomes the JSON one: numbers stay numbers, booleans become
 * true/false, json and jsonb nest as they are, everything else is a string.
 */
static void
append_json_value(QueryDest *dest, ByteBuf *out, ColumnMap *col, Datum value, bool isnull)
{
	ByteBuf    *v = &dest->scratch;
	int64		truncated_before = dest->counters.truncated;

	if (isnull)
	{
		bytebuf_append(out, "null", 4);
		return;
	}
	bytebuf_reset(v);
	redtrack_encode_value(v, col, value, false, dest->postgres_dialect, &dest->counters);
	if (v->len == 1 && v->data[0] == '\0')
	{
		/* the encoder's NULL: a value the warehouse cannot hold */
		bytebuf_append(out, "null", 4);
		return;
	}
	switch (col->encoding)
	{
		case ENC_INTEGER:
		case ENC_FLOAT:
		case ENC_NUMERIC:
		case ENC_MONEY_NUMERIC:
		case ENC_INTERVAL_MICROS:
			if (is_json_number(v->data, v->len))
				bytebuf_append(out, v->data, v->len);
			else
				append_json_string(out, v->data, v->len);
			return;
		case ENC_BOOL:
			if (v->len == 1 && (v->data[0] == 't' || v->data[0] == 'f'))
			{
				if (v->data[0] == 't')
					bytebuf_append(out, "true", 4);
				else
					bytebuf_append(out, "false", 5);
				return;
			}
			break;
		default:
			break;
	}
	if (v->len >= 2 && v->data[0] == '"' && v->data[v->len - 1] == '"')
	{
		/* a quoted CSV field: drop the quotes, undouble the inner ones */
		size_t		w = 0;

		for (size_t r = 1; r + 1 < v->len; r++)
		{
			v->data[w++] = v->data[r];
			if (v->data[r] == '"' && r + 2 < v->len && v->data[r + 1] == '"')
				r++;
		}
		v->len = w;
		if ((col->typid == JSONOID || col->typid == JSONBOID) &&
			dest->counters.truncated == truncated_before)
		{
			/* whole json text is a JSON value: it nests (into SUPER) */
			bytebuf_append(out, v->data, v->len);
			return;
		}
	}
	append_json_string(out, v->data, v->len);
}

/* ----------------------------------------------------------------
 * The receiver: executor rows -> CSV or JSON -> pipeline
 * ----------------------------------------------------------------
 */

static bool
query_receive(TupleTableSlot *slot, DestReceiver *self)
{
	QueryDest  *dest = (QueryDest *) self;
	ByteBuf    *buf;
	MemoryContext old;
	int			slice = dest->next_slice;
	char		error[512];

	if (dest->pipeline == NULL)
	{
		dest->pipeline = pipeline_start(&dest->config, error, sizeof(error));
		if (dest->pipeline == NULL)
			ereport(ERROR,
					(errcode(ERRCODE_SYSTEM_ERROR),
					 errmsg("could not start the export pipeline: %s", error)));
	}

	slot_getallattrs(slot);
	buf = pipeline_buffer(dest->pipeline, slice);
	old = MemoryContextSwitchTo(dest->row_context);
	if (dest->format == TOOLS_JSON)
	{
		bytebuf_append_char(buf, '{');
		for (int i = 0; i < dest->ncolumns; i++)
		{
			if (i > 0)
				bytebuf_append_char(buf, ',');
			bytebuf_append(buf, dest->json_keys[i], strlen(dest->json_keys[i]));
			append_json_value(dest, buf, dest->columns[i], slot->tts_values[i], slot->tts_isnull[i]);
		}
		bytebuf_append(buf, "}\n", 2);
	}
	else
	{
		for (int i = 0; i < dest->ncolumns; i++)
		{
			if (i > 0)
				bytebuf_append_char(buf, ',');
			redtrack_encode_value(buf, dest->columns[i], slot->tts_values[i], slot->tts_isnull[i],
								  dest->postgres_dialect, &dest->counters);
		}
		bytebuf_append_char(buf, '\n');
	}
	MemoryContextSwitchTo(old);
	MemoryContextReset(dest->row_context);
	if (dest->scratch.oom)
		ereport(ERROR,
				(errcode(ERRCODE_OUT_OF_MEMORY),
				 errmsg("out of memory")));

	if (!pipeline_commit(dest->pipeline, slice))
		export_report_pipeline_failure(dest->pipeline);
	dest->next_slice = (slice + 1) % dest->config.slices;
	if (++dest->rows % INTERRUPT_EVERY_ROWS == 0)
		CHECK_FOR_INTERRUPTS();
	return true;
}

static void
query_startup(DestReceiver *self, int operation, TupleDesc typeinfo)
{
}

static void
query_shutdown(DestReceiver *self)
{
}

static void
query_destroy(DestReceiver *self)
{
}

/* ----------------------------------------------------------------
 * The statement
 * ----------------------------------------------------------------
 */

/* Set while an export's query runs: the tools refuse to run inside it. */
static bool export_running = false;

bool
tools_export_running(void)
{
	return export_running;
}

static bool
is_redtrack_function(Oid funcid, void *context)
{
	return getExtensionOfObject(ProcedureRelationId, funcid) == *(Oid *) context;
}

/* Whether the query calls a function of the extension (directly). */
static bool
calls_redtrack(Node *node, void *context)
{
	if (node == NULL)
		return false;
	if (IsA(node, Query))
		return query_tree_walker((Query *) node, calls_redtrack, context, 0);
	if (check_functions_in_node(node, is_redtrack_function, context))
		return true;
	return expression_tree_walker(node, calls_redtrack, context);
}

static void
refuse_write(const char *what)
{
	ereport(ERROR,
			(errcode(ERRCODE_READ_ONLY_SQL_TRANSACTION),
			 errmsg("rrr_export_query runs only a read-only query: %s", what),
			 errhint("Pass one SELECT (or VALUES, or TABLE) that reads what to export.")));
}

/* One statement that only reads, or an error saying what it is. */
static TupleDesc
read_only_statement(SPIPlanPtr plan)
{
	List	   *sources = SPI_plan_get_plan_sources(plan);
	CachedPlanSource *source;
	ListCell   *lc;
	Oid			extension = get_extension_oid("redtrack", false);

	if (list_length(sources) != 1)
		refuse_write("the text holds more than one statement");
	source = linitial(sources);
	if (source->query_list == NIL)
		refuse_write("the text holds no statement");
	foreach(lc, source->query_list)
	{
		Query	   *q = lfirst(lc);

		if (q->commandType != CMD_SELECT || q->utilityStmt != NULL)
			refuse_write(psprintf("the statement is %s", GetCommandTagName(source->commandTag)));
		if (q->hasModifyingCTE)
			refuse_write("a WITH clause modifies data");
		if (q->rowMarks != NIL)
			refuse_write("FOR UPDATE or FOR SHARE locks rows");

		/*
		 * redtrack's own functions write S3, the warehouse or redtrack's
		 * catalog, whatever the read-only state says (what a function of
		 * the caller's calls in turn is caught by the tools themselves:
		 * tools_export_running).
		 */
		if (calls_redtrack((Node *) q, &extension))
			refuse_write("it calls a function of redtrack");
	}
	if (source->resultDesc == NULL)
		refuse_write("the statement returns no rows");
	return source->resultDesc;
}

/* ----------------------------------------------------------------
 * S3
 * ----------------------------------------------------------------
 */

/*
 * Remove what a failed export wrote: the files named after its own stem,
 * and nothing else, since another export may have written to the same
 * destination meanwhile.  Pure C, never an ERROR: it runs while one is
 * being handled.
 */
static void
remove_quietly(S3Settings *s3, const char *prefix, const char *stem)
{
	size_t		mine = strlen(prefix) + strlen(stem);
	char	   *own = malloc(mine + 1);

	S3Config	config;
	S3Client   *client;
	S3ObjectList objects = {0};
	S3Error		err;

	redtrack_s3_config(s3, &config);
	config.should_abort = NULL;
	config.sleep_ms = NULL;
	config.max_attempts = 2;
	if (own == NULL)
		return;
	snprintf(own, mine + 1, "%s%s", prefix, stem);
	client = s3_client_new(&config);
	if (client == NULL)
	{
		free(own);
		return;
	}
	if (s3_list_objects(client, own, &objects, &err) && objects.count > 0)
	{
		char	  **keys = malloc(sizeof(char *) * objects.count);
		int			n = 0;

		if (keys)
		{
			for (int i = 0; i < objects.count; i++)
				if (strncmp(objects.items[i].key, own, mine) == 0)
					keys[n++] = objects.items[i].key;
			if (n > 0)
				(void) s3_delete_objects(client, keys, n, &err);
			free(keys);
		}
	}
	s3_object_list_free(&objects);
	s3_client_free(client);
	free(own);
}

/*
 * The manifest: COPY's entries, and, as UNLOAD ... MANIFEST VERBOSE writes
 * them, the columns ("schema") and counts ("meta"), which COPY ignores and
 * rrr_load reads for the order of a CSV file's columns.
 */
static void
put_manifest(S3Client *client, S3Settings *s3, const char *key, QueryDest *dest)
{
	StringInfoData json;
	S3Error		err;
	int			nfiles = dest->pipeline ? pipeline_file_count(dest->pipeline) : 0;
	long long	bytes = 0;

	initStringInfo(&json);
	appendStringInfoString(&json, "{\"entries\": [");
	for (int i = 0; i < nfiles; i++)
	{
		const PipelineFile *f = pipeline_file(dest->pipeline, i);

		if (i > 0)
			appendStringInfoChar(&json, ',');
		appendStringInfoString(&json, "\n  {\"url\": ");
		escape_json(&json, redtrack_s3_url(s3, f->key));
		appendStringInfo(&json, ", \"mandatory\": true, \"meta\": {\"content_length\": %lld}}",
						 f->bytes);
		bytes += f->bytes;
	}
	appendStringInfoString(&json, "\n],\n\"schema\": {\"elements\": [");
	for (int i = 0; i < dest->ncolumns; i++)
	{
		appendStringInfoString(&json, i > 0 ? ", {\"name\": " : "{\"name\": ");
		escape_json(&json, dest->columns[i]->source_name);
		appendStringInfoString(&json, ", \"type\": {\"base\": ");
		escape_json(&json, dest->columns[i]->target_type);
		appendStringInfoString(&json, "}}");
	}
	appendStringInfo(&json, "]},\n\"meta\": {\"content_length\": %lld, \"record_count\": " INT64_FORMAT
					 ", \"format\": \"%s\"}}\n",
					 bytes, dest->rows, dest->format == TOOLS_JSON ? "json" : "csv");
	if (!s3_put_object(client, key, json.data, json.len, "application/json", &err))
		redtrack_s3_report(&err);
}

/*
 * The destination holds nothing but this export's files (none, before it
 * begins: an earlier export's parts would be loaded along with these by
 * anyone who loads the prefix), and the manifest does not exist.  Checked
 * before the query runs and again before the manifest is written, so that
 * two exports to one destination at the same time do not both finish.
 */
static void
check_destination(S3Client *client, S3Settings *s3, const char *prefix, const char *own,
				  const char *manifest_key, const char *destination)
{
	S3ObjectList objects = {0};
	S3Error		err;
	bool		exists = false;
	int			others = 0;

	if (!s3_list_objects(client, prefix, &objects, &err))
		redtrack_s3_report(&err);
	for (int i = 0; i < objects.count; i++)
		if (own == NULL || strncmp(objects.items[i].key, own, strlen(own)) != 0)
			others++;
	s3_object_list_free(&objects);
	if (others > 0)
		ereport(ERROR,
				(errcode(ERRCODE_DUPLICATE_OBJECT),
				 errmsg("destination \"%s\" already holds %d object%s", destination, others,
						others == 1 ? "" : "s"),
				 own ? errdetail("Another export wrote there while this one ran; this one's files were removed.") : 0,
				 errhint("Export into a new prefix (a dated folder, say), or delete what is there.")));
	if (!s3_head_object(client, manifest_key, &exists, NULL, &err))
		redtrack_s3_report(&err);
	if (exists)
		ereport(ERROR,
				(errcode(ERRCODE_DUPLICATE_OBJECT),
				 errmsg("manifest %s already exists", redtrack_s3_url(s3, manifest_key)),
				 errhint("Name another manifest, or delete that one.")));
}

/*
 * Where the manifest goes: the given name (a URL, or a key inside the
 * destination), or manifest.json in the destination.
 */
static char *
manifest_key_for(S3Settings *s3, const char *prefix, const char *manifest)
{
	char	   *manifest_key;

	if (manifest == NULL)
		manifest_key = psprintf("%smanifest.json", prefix);
	else if (strncmp(manifest, "s3://", 5) == 0)
		manifest_key = tools_s3_key(s3, manifest, false, "manifest");
	else
		manifest_key = tools_s3_key(s3, psprintf("%s%s", prefix, manifest), false, "manifest");
	if (manifest_key[strlen(manifest_key) - 1] == '/')
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("manifest \"%s\" names a folder, not a file", manifest)));
	tools_refuse_own_prefix(s3, manifest_key, "manifest", manifest ? manifest : manifest_key, false);
	if (strncmp(manifest_key, prefix, strlen(prefix)) == 0 && !tools_is_manifest_name(manifest_key))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("manifest \"%s\" inside the destination must be named *manifest or *manifest.json",
						manifest ? manifest : manifest_key),
				 errdetail("A load of the destination prefix takes every other file there for data.")));
	return manifest_key;
}

/*
 * The receiver of the query's rows: its columns as the warehouse names
 * and types them, and the pipeline its parts go through.
 */
static void
init_query_dest(QueryDest *d, TupleDesc desc, ToolsFormat format, S3Settings *s3,
				const char *prefix, const char *stem, MemoryContext caller)
{
	size_t		max_file = (size_t) redtrack_max_file_size * 1024;
	int			ncolumns = 0;

	memset(d, 0, sizeof(*d));
	d->pub.receiveSlot = query_receive;
	d->pub.rStartup = query_startup;
	d->pub.rShutdown = query_shutdown;
	d->pub.rDestroy = query_destroy;
	d->pub.mydest = DestNone;
	d->format = format;
	d->postgres_dialect = (redtrack_target_dialect == REDTRACK_DIALECT_POSTGRES);
	d->columns = palloc0(sizeof(ColumnMap *) * Max(desc->natts, 1));
	d->json_keys = palloc0(sizeof(char *) * Max(desc->natts, 1));
	for (int i = 0; i < desc->natts; i++)
	{
		Form_pg_attribute att = TupleDescAttr(desc, i);
		StringInfoData key;

		if (att->attisdropped)
			continue;
		for (int j = 0; j < ncolumns; j++)
		{
			/* the warehouse folds names to lower case */
			if (pg_strcasecmp(d->columns[j]->source_name, NameStr(att->attname)) == 0)
				ereport(ERROR,
						(errcode(ERRCODE_DUPLICATE_COLUMN),
						 errmsg("the query returns two columns named \"%s\"", NameStr(att->attname)),
						 errdetail("Loading matches columns by name, and the warehouse folds names to lower case."),
						 errhint("Give every column its own alias (AS name).")));
		}
		d->columns[ncolumns] = redtrack_map_column(NameStr(att->attname), att->atttypid,
													 att->atttypmod, false, d->postgres_dialect);
		initStringInfo(&key);
		escape_json(&key, NameStr(att->attname));
		appendStringInfoChar(&key, ':');
		d->json_keys[ncolumns] = key.data;
		ncolumns++;
	}
	if (ncolumns == 0)
		refuse_write("the statement returns no columns");
	d->ncolumns = ncolumns;
	/* A JSON object is measured whole by COPY (4 MB); the encoder sees one value. */
	d->counters.no_record_limit = (format == TOOLS_JSON);
	d->row_context = AllocSetContextCreate(caller, "redtrack export_query row",
											 ALLOCSET_DEFAULT_SIZES);

	redtrack_s3_config(s3, &d->config.s3);
	d->config.key_prefix = prefix;
	d->config.file_stem = stem;
	d->config.slices = redtrack_slices;
	d->config.max_file_size = max_file;
	d->config.part_size = PART_SIZE;
	d->config.chunk_size = Min(MAX_CHUNK_SIZE, Max(max_file / 8, 4096));
	d->config.compression_level = redtrack_compression_level;
	d->config.uploaders = Min(Max(redtrack_slices, 2), MAX_UPLOAD_THREADS);
	d->config.wait_check = export_backend_interrupted;

}

void
tools_export_query(const char *query, const char *destination, ToolsFormat format,
				   const char *manifest, ExportQueryResult *result)
{
	S3Settings *s3 = redtrack_s3_settings();
	char	   *prefix = tools_s3_key(s3, destination, true, "destination");
	char	   *volatile manifest_key;
	S3Client   *client;
	uint32		unique;
	char	   *stem;
	char	   *own;
	SPIPlanPtr	plan;
	TupleDesc	desc;
	QueryDest	dest;
	SPIExecuteOptions options;
	MemoryContext caller = CurrentMemoryContext;
	bool		save_read_only = XactReadOnly;
	int			rc;

	tools_require_prefix(s3);
	tools_refuse_own_prefix(s3, prefix, "destination", destination, false);
	manifest_key = manifest_key_for(s3, prefix, manifest);

	/*
	 * An empty destination: parts of an earlier export left there would
	 * be loaded with this one by anyone who loads the prefix.
	 */
	if (!s3_global_init())
		ereport(ERROR,
				(errcode(ERRCODE_SYSTEM_ERROR),
				 errmsg("could not initialize libcurl")));
	client = redtrack_s3_open(s3);
	check_destination(client, s3, prefix, NULL, manifest_key, destination);

	/*
	 * Parts named after this export alone (part-<random>-0001.csv.gz): a
	 * failed export removes its own files and no other's.
	 */
	if (!pg_strong_random(&unique, sizeof(unique)))
		ereport(ERROR,
				(errcode(ERRCODE_INTERNAL_ERROR),
				 errmsg("could not generate a random export name")));
	stem = psprintf("part-%08x", unique);
	own = psprintf("%s%s-", prefix, stem);

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	plan = SPI_prepare(query, 0, NULL);
	if (plan == NULL)
		elog(ERROR, "SPI_prepare failed: %s", SPI_result_code_string(SPI_result));
	desc = read_only_statement(plan);
	MemoryContextSwitchTo(caller);

	init_query_dest(&dest, desc, format, s3, prefix, stem, caller);

	PG_TRY();
	{
		/* Also what the query calls cannot write (restored below, or by the abort). */
		XactReadOnly = true;
		export_running = true;
		memset(&options, 0, sizeof(options));
		options.read_only = true;
		options.dest = (DestReceiver *) &dest;
		rc = SPI_execute_plan_extended(plan, &options);
		XactReadOnly = save_read_only;
		export_running = false;
		MemoryContextSwitchTo(caller);
		if (rc < 0)
			elog(ERROR, "SPI_execute_plan_extended failed: %s", SPI_result_code_string(rc));
		if (dest.pipeline && !pipeline_finish(dest.pipeline))
			export_report_pipeline_failure(dest.pipeline);
		check_destination(client, s3, prefix, own, manifest_key, destination);
		put_manifest(client, s3, manifest_key, &dest);
	}
	PG_CATCH();
	{
		XactReadOnly = save_read_only;
		export_running = false;
		if (dest.pipeline)
			pipeline_destroy(dest.pipeline);
		dest.pipeline = NULL;
		bytebuf_free(&dest.scratch);
		remove_quietly(s3, prefix, stem);
		PG_RE_THROW();
	}
	PG_END_TRY();
	SPI_finish();
	MemoryContextSwitchTo(caller);

	result->manifest_url = redtrack_s3_url(s3, manifest_key);
	result->files = dest.pipeline ? pipeline_file_count(dest.pipeline) : 0;
	result->rows = dest.rows;
	result->bytes = 0;
	for (int i = 0; i < result->files; i++)
		result->bytes += pipeline_file(dest.pipeline, i)->bytes;
	if (dest.pipeline)
		pipeline_destroy(dest.pipeline);
	bytebuf_free(&dest.scratch);
	MemoryContextDelete(dest.row_context);

	if (dest.counters.truncated > 0 || dest.counters.clamped > 0)
		ereport(WARNING,
				(errmsg("redtrack: " INT64_FORMAT " values cut or rounded to fit the warehouse, "
						INT64_FORMAT " values the warehouse cannot hold replaced",
						dest.counters.truncated, dest.counters.clamped)));
}
