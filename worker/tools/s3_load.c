/*-------------------------------------------------------------------------
 *
 * s3_load.c
 *	  rrr_load: data already on S3 (a manifest, or every data file under a
 *	  prefix) into a warehouse table, exactly once per source.
 *
 * In one warehouse transaction, after the bookkeeping table's LOCK (the
 * one replication's loads take, so loads into one warehouse run one after
 * another): look for the load marker of this source and target; create the
 * target or add its new columns; empty it if asked (DELETE: TRUNCATE would
 * commit on Redshift); COPY; insert the marker; COMMIT.  The marker is
 * keyed by the source's identity, the set of its files with each one's
 * ETag and size (not the URL that named them), so the same files load
 * once, and files rewritten in place are new data.
 *
 * Nothing under redtrack.s3_prefix is read (replication's files hold
 * tables the caller may have no right to read), and the tables replication
 * writes are never a target (extension/tools.c).  It runs in the caller's backend
 * (see tools.h), waiting on the warehouse interruptibly (redshift.c).
 *
 * A prefix means every data file under it (manifests left out), not the
 * newest dated folder under it: which folder is newest is a guess from
 * names, and the newest one may still be being written; a prefix load
 * lists what is there now, and its identity changes when a file is added,
 * so point rrr_load at one complete folder, or better at its manifest.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "common/md5.h"
#include "lib/stringinfo.h"
#include "mb/pg_wchar.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "utils/builtins.h"
#include "utils/datetime.h"
#include "utils/fmgrprotos.h"
#include "utils/json.h"
#include "utils/jsonb.h"
#include "utils/timestamp.h"

#include "stream.h"
#include "guc.h"
#include "loader.h"
#include "redact.h"
#include "redshift.h"
#include "registry.h"
#include "rs_ident.h"
#include "target.h"
#include "tools.h"
#include "typemap.h"

typedef struct SourceFile
{
	char	   *key;
	bool		mandatory;
	long long	size;
	char	   *etag;
	bool		found;
} SourceFile;

typedef struct Source
{
	char	   *url;			/* as the user named it, resolved */
	char	   *manifest_key;	/* NULL for a prefix */
	char	   *prefix;			/* for a prefix */
	List	   *files;			/* of SourceFile *, present ones */
	List	   *schema;			/* column names a manifest lists, or NIL */
	const char *codec;			/* COPY option */
} Source;

static void
exec(RedshiftConn *conn, const char *sql)
{
	pgstat_report_activity(STATE_RUNNING, redtrack_redact(psprintf("redtrack: %s", sql)));
	(void) redshift_exec(conn, sql, 0, NULL, NULL);
}

static bool
collect(const char *data, size_t len, void *arg)
{
	appendBinaryStringInfo((StringInfo) arg, data, (int) len);
	return true;
}

/* ----------------------------------------------------------------
 * The source: its files and their identity
 * ----------------------------------------------------------------
 */

static void
malformed(Source *src, const char *why)
{
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
			 errmsg("manifest %s is malformed: %s", src->url, why),
			 errhint("A manifest is {\"entries\": [{\"url\": \"s3://bucket/key\", \"mandatory\": true}, ...]}.")));
}

static JsonbValue *
get_key(JsonbContainer *object, const char *key)
{
	JsonbValue	k;

	k.type = jbvString;
	k.val.string.val = (char *) key;
	k.val.string.len = strlen(key);
	return findJsonbValueFromContainer(object, JB_FOBJECT, &k);
}

static Jsonb *
parse_json(Source *src, const char *text)
{
	MemoryContext cxt = CurrentMemoryContext;
	Jsonb	   *volatile doc = NULL;

	PG_TRY();
	{
		doc = DatumGetJsonbP(DirectFunctionCall1(jsonb_in, CStringGetDatum(text)));
	}
	PG_CATCH();
	{
		ErrorData  *edata;

		/* Only the parse failed: say which file, then stop as before. */
		MemoryContextSwitchTo(cxt);
		edata = CopyErrorData();
		if (edata->sqlerrcode != ERRCODE_INVALID_TEXT_REPRESENTATION)
			PG_RE_THROW();
		FlushErrorState();
		malformed(src, psprintf("not JSON (%s)", edata->message));
	}
	PG_END_TRY();
	return doc;
}

static void
read_manifest(S3Settings *s3, S3Client *client, Source *src)
{
	StringInfoData text;
	S3Error		err;
	Jsonb	   *doc;
	JsonbValue *entries;
	JsonbValue *schema;
	JsonbIterator *it;
	JsonbValue	v;
	JsonbIteratorToken tok;
	char	   *bucket_url = psprintf("s3://%s/", s3->bucket);

	initStringInfo(&text);
	if (!s3_get_object(client, src->manifest_key, collect, &text, &err))
	{
		if (err.http_status == 404)
			ereport(ERROR,
					(errcode(ERRCODE_UNDEFINED_FILE),
					 errmsg("manifest %s does not exist", src->url),
					 errhint("A source is a manifest, or a prefix ending with '/'.")));
		redtrack_s3_report(&err);
	}
	if (strlen(text.data) != (size_t) text.len)
		malformed(src, "it contains a NUL byte");
	pg_verify_mbstr(PG_UTF8, text.data, text.len, false);
	doc = parse_json(src, text.data);
	if (!JB_ROOT_IS_OBJECT(doc) || JB_ROOT_IS_SCALAR(doc))
		malformed(src, "it is not a JSON object");
	entries = get_key(&doc->root, "entries");
	if (entries == NULL || entries->type != jbvBinary ||
		!JsonContainerIsArray(entries->val.binary.data))
		malformed(src, "it has no \"entries\" array");

	it = JsonbIteratorInit(entries->val.binary.data);
	while ((tok = JsonbIteratorNext(&it, &v, true)) != WJB_DONE)
	{
		SourceFile *f;
		JsonbValue *url;
		JsonbValue *mandatory;
		char	   *u;

		if (tok != WJB_ELEM)
			continue;
		if (v.type != jbvBinary || !JsonContainerIsObject(v.val.binary.data))
			malformed(src, "an entry is not an object");
		url = get_key(v.val.binary.data, "url");
		if (url == NULL || url->type != jbvString)
			malformed(src, "an entry has no \"url\" string");
		mandatory = get_key(v.val.binary.data, "mandatory");
		if (mandatory != NULL && mandatory->type != jbvBool)
			malformed(src, "\"mandatory\" is not true or false");
		u = pnstrdup(url->val.string.val, url->val.string.len);
		f = palloc0(sizeof(SourceFile));
		f->key = tools_s3_key(s3, u, false, "a file of the manifest");
		if (strncmp(u, bucket_url, strlen(bucket_url)) != 0)
			malformed(src, psprintf("\"%s\" is not a full s3:// URL", u));
		tools_refuse_own_prefix(s3, f->key, "a file of the manifest", u, true);
		f->mandatory = mandatory ? mandatory->val.boolean : false;
		src->files = lappend(src->files, f);
	}
	/* An empty result exports an empty manifest: it loads no rows. */

	/* The columns, as rrr_export_query (and UNLOAD ... MANIFEST VERBOSE) lists them. */
	schema = get_key(&doc->root, "schema");
	if (schema != NULL && schema->type == jbvBinary && JsonContainerIsObject(schema->val.binary.data))
	{
		JsonbValue *elements = get_key(schema->val.binary.data, "elements");

		if (elements != NULL && elements->type == jbvBinary &&
			JsonContainerIsArray(elements->val.binary.data))
		{
			it = JsonbIteratorInit(elements->val.binary.data);
			while ((tok = JsonbIteratorNext(&it, &v, true)) != WJB_DONE)
			{
				JsonbValue *name;

				if (tok != WJB_ELEM)
					continue;
				if (v.type != jbvBinary || !JsonContainerIsObject(v.val.binary.data) ||
					(name = get_key(v.val.binary.data, "name")) == NULL || name->type != jbvString)
					malformed(src, "a \"schema\" element has no \"name\"");
				src->schema = lappend(src->schema, pnstrdup(name->val.string.val, name->val.string.len));
			}
		}
	}
}

/* Size and ETag of every file; a missing mandatory file is an error. */
static void
stat_files(S3Settings *s3, S3Client *client, Source *src)
{
	List	   *present = NIL;
	ListCell   *lc;

	foreach(lc, src->files)
	{
		SourceFile *f = lfirst(lc);
		S3ObjectList objects = {0};
		S3Error		err;

		CHECK_FOR_INTERRUPTS();
		if (!s3_list_objects(client, f->key, &objects, &err))
			redtrack_s3_report(&err);
		for (int i = 0; i < objects.count; i++)
		{
			if (strcmp(objects.items[i].key, f->key) == 0)
			{
				f->found = true;
				f->size = objects.items[i].size;
				f->etag = pstrdup(objects.items[i].etag ? objects.items[i].etag : "");
				break;
			}
		}
		s3_object_list_free(&objects);
		if (!f->found && f->mandatory)
			ereport(ERROR,
					(errcode(ERRCODE_UNDEFINED_FILE),
					 errmsg("manifest %s names %s, which does not exist", src->url,
							redtrack_s3_url(s3, f->key)),
					 errhint("Every entry marked \"mandatory\": true must exist; nothing was loaded.")));
		if (f->found)
			present = lappend(present, f);
	}
	/* As COPY: whatever "mandatory" says, no file found at all fails. */
	if (src->files != NIL && present == NIL)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_FILE),
				 errmsg("no file that manifest %s names exists", src->url)));
	src->files = present;
}

static void
list_prefix(S3Settings *s3, S3Client *client, Source *src)
{
	S3ObjectList objects = {0};
	S3Error		err;

	if (!s3_list_objects(client, src->prefix, &objects, &err))
		redtrack_s3_report(&err);
	for (int i = 0; i < objects.count; i++)
	{
		SourceFile *f;

		if (tools_is_manifest_name(objects.items[i].key) ||
			objects.items[i].key[strlen(objects.items[i].key) - 1] == '/')
			continue;
		if (tools_in_own_prefix(s3, objects.items[i].key))
		{
			char	   *url = redtrack_s3_url(s3, objects.items[i].key);

			s3_object_list_free(&objects);
			ereport(ERROR,
					(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
					 errmsg("source %s holds %s, which is inside redtrack.s3_prefix", src->url, url),
					 errdetail("Replications keep their files under \"%s/\"; they hold tables the caller may not be allowed to read.",
							   s3->prefix),
					 errhint("Give a prefix that holds only the files to load.")));
		}
		f = palloc0(sizeof(SourceFile));
		f->key = pstrdup(objects.items[i].key);
		f->mandatory = true;
		f->found = true;
		f->size = objects.items[i].size;
		f->etag = pstrdup(objects.items[i].etag ? objects.items[i].etag : "");
		src->files = lappend(src->files, f);
	}
	s3_object_list_free(&objects);
	if (src->files == NIL)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_FILE),
				 errmsg("no data file under %s", src->url)));
}

static int
file_key_cmp(const ListCell *a, const ListCell *b)
{
	return strcmp(((SourceFile *) lfirst(a))->key, ((SourceFile *) lfirst(b))->key);
}

/*
 * The marker's name for the source: the set of its files, each with its
 * ETag and size, and not the URL it was named by, so that the same files
 * reached through a manifest and through their prefix are one source.
 * The files are sorted (the order COPY reads them in changes nothing),
 * and a file named twice is refused: COPY would load it twice.
 */
static char *
source_identity(S3Settings *s3, Source *src)
{
	StringInfoData id;
	ListCell   *lc;
	char		hex[33];
	const char *errstr = NULL;
	SourceFile *prev = NULL;

	list_sort(src->files, file_key_cmp);
	foreach(lc, src->files)
	{
		SourceFile *f = lfirst(lc);

		if (prev && strcmp(prev->key, f->key) == 0)
			malformed(src, psprintf("it names %s twice", redtrack_s3_url(s3, f->key)));
		prev = f;
	}
	initStringInfo(&id);
	foreach(lc, src->files)
	{
		SourceFile *f = lfirst(lc);

		appendStringInfo(&id, "%s %s %lld\n", redtrack_s3_url(s3, f->key), f->etag, f->size);
	}
	if (!pg_md5_hash(id.data, id.len, hex, &errstr))
		ereport(ERROR,
				(errcode(ERRCODE_OUT_OF_MEMORY),
				 errmsg("could not compute the source's identity: %s", errstr)));
	return psprintf("rrr_load:%s", hex);
}

/* The codec of the files: one for all (COPY takes one). */
static void
choose_codec(S3Settings *s3, Source *src)
{
	ListCell   *lc;

	src->codec = NULL;
	foreach(lc, src->files)
	{
		SourceFile *f = lfirst(lc);
		const char *codec = tools_codec_copy_option(f->key);

		if (src->codec && strcmp(codec, src->codec) != 0)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("the files of %s are not all compressed the same way", src->url),
					 errdetail("%s differs from the files before it.", redtrack_s3_url(s3, f->key)),
					 errhint("COPY reads one compression per load.")));
		src->codec = codec;
	}
	if (src->codec == NULL)
		src->codec = "";
}

/* The longest URL prefix all files share, to find their load errors. */
static char *
files_url(S3Settings *s3, Source *src)
{
	char	   *common = NULL;
	size_t		len = 0;
	ListCell   *lc;

	foreach(lc, src->files)
	{
		char	   *key = ((SourceFile *) lfirst(lc))->key;

		if (common == NULL)
		{
			common = key;
			len = strlen(key);
		}
		else
		{
			size_t		i = 0;

			while (i < len && key[i] == common[i])
				i++;
			len = i;
		}
	}
	return redtrack_s3_url(s3, common ? pnstrdup(common, len) : "");
}

/* ----------------------------------------------------------------
 * The target
 * ----------------------------------------------------------------
 */

static TargetColumn *
target_column(TargetTable *t, const char *name)
{
	ListCell   *lc;

	foreach(lc, t->columns)
	{
		TargetColumn *c = lfirst(lc);

		if (strcmp(c->name, name) == 0)
			return c;
	}
	foreach(lc, t->columns)
	{
		TargetColumn *c = lfirst(lc);

		/* Redshift folds names to lower case */
		if (pg_strcasecmp(c->name, name) == 0)
			return c;
	}
	return NULL;
}

/* Create the target from columns, or add the columns it lacks. */
static pg_noinline TargetTable *
prepare_target(RedshiftConn *conn, LoadRequest *req, Replicable *r, TargetTable *t)
{
	bool		postgres_dialect = (redtrack_target_dialect == REDTRACK_DIALECT_POSTGRES);
	List	   *names;
	List	   *types;
	char	   *ddl;
	ListCell   *nc;
	ListCell   *tc;
	bool		changed = false;

	if (req->columns == NULL)
	{
		if (!t->exists)
			ereport(ERROR,
					(errcode(ERRCODE_UNDEFINED_TABLE),
					 errmsg("target table %s does not exist", t->qualified),
					 errhint("Pass columns => '{\"name\": {\"type\": \"...\"}, ...}' to create it.")));
		return t;
	}
	ddl = redtrack_columns_ddl(req->target, t->qualified, req->columns,
							   req->sortkey, req->distkey, postgres_dialect, &names, &types);
	if (!t->exists)
	{
		target_create(conn, r, t, ddl);
		return target_describe(conn, r);
	}
	forboth(nc, names, tc, types)
	{
		if (target_column(t, lfirst(nc)) != NULL)
			continue;
		/* NOT NULL would fail for the rows already there. */
		exec(conn, psprintf("ALTER TABLE %s ADD COLUMN %s %s", t->qualified,
							rs_quote_identifier(lfirst(nc)), (char *) lfirst(tc)));
		ereport(NOTICE,
				(errmsg("added column %s to %s", rs_quote_identifier(lfirst(nc)), t->qualified)));
		changed = true;
	}
	return changed ? target_describe(conn, r) : t;
}

/* COPY's column list for a CSV source: the manifest's columns, by target name. */
static char *
csv_columns(TargetTable *t, Source *src)
{
	StringInfoData list;
	ListCell   *lc;

	if (src->schema == NIL)
		return NULL;
	initStringInfo(&list);
	foreach(lc, src->schema)
	{
		TargetColumn *c = target_column(t, lfirst(lc));

		if (c == NULL)
			ereport(ERROR,
					(errcode(ERRCODE_UNDEFINED_COLUMN),
					 errmsg("column \"%s\" of the files is not a column of target table %s",
							(char *) lfirst(lc), t->qualified),
					 errhint("Add it to the target, or pass columns => with it.")));
		appendStringInfo(&list, "%s%s", list.len > 0 ? ", " : "", rs_quote_identifier(c->name));
	}
	return list.data;
}

/* ----------------------------------------------------------------
 * COPY
 * ----------------------------------------------------------------
 */

/* A manifest of the files, for a prefix source (Redshift reads files through one). */
static char *
put_load_manifest(S3Settings *s3, S3Client *client, Source *src)
{
	StringInfoData json;
	S3Error		err;
	ListCell   *lc;
	char	   *key;

	key = psprintf("%s%srrr_load/%d-" INT64_FORMAT ".manifest",
				   s3->prefix, s3->prefix[0] ? "/" : "", MyProcPid, (int64) GetCurrentTimestamp());
	initStringInfo(&json);
	appendStringInfoString(&json, "{\"entries\": [");
	foreach(lc, src->files)
	{
		appendStringInfoString(&json, lc == list_head(src->files) ? "\n  {\"url\": " : ",\n  {\"url\": ");
		escape_json(&json, redtrack_s3_url(s3, ((SourceFile *) lfirst(lc))->key));
		appendStringInfoString(&json, ", \"mandatory\": true}");
	}
	appendStringInfoString(&json, "\n]}\n");
	if (!s3_put_object(client, key, json.data, json.len, "application/json", &err))
		redtrack_s3_report(&err);
	return key;
}

static void
check_copy_text(const char *value, const char *what)
{
	for (const char *p = value; *p; p++)
		if (*p == '\'' || *p == '\\')
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("%s %s cannot be passed to COPY", what, value),
					 errhint("Remove quotes and backslashes from it.")));
}

static int64
copy_from_s3(RedshiftConn *conn, S3Settings *s3, TargetTable *t, Source *src, ToolsFormat format,
			 const char *manifest_key)
{
	char	   *url = redtrack_s3_url(s3, manifest_key);
	char	   *columns = format == TOOLS_CSV ? csv_columns(t, src) : NULL;
	RedshiftError error;
	RedshiftResult *res;
	char	   *sql;

	check_copy_text(url, "S3 location");
	check_copy_text(s3->region, "redtrack.s3_region");
	/*
	 * CSV as replication writes it; JSON by field name, ignoring case:
	 * Redshift's column names are lower case, a query's may not be.
	 */
	sql = psprintf("COPY %s%s%s%s FROM '%s' %s MANIFEST%s%s %s TIMEFORMAT 'auto' DATEFORMAT 'auto' "
				   "REGION '%s' MAXERROR %d COMPUPDATE OFF STATUPDATE OFF%s",
				   t->qualified, columns ? " (" : "", columns ? columns : "", columns ? ")" : "",
				   url, load_copy_authorization(s3), src->codec[0] ? " " : "", src->codec,
				   format == TOOLS_JSON ? "FORMAT AS JSON 'auto ignorecase'"
				   : "CSV QUOTE AS '\"' DELIMITER AS ',' NULL AS '\\0'",
				   s3->region, redtrack_max_copy_errors,
				   GetDatabaseEncoding() == PG_SQL_ASCII ? " ACCEPTINVCHARS" : "");
	pgstat_report_activity(STATE_RUNNING, redtrack_redact(psprintf("redtrack: %s", sql)));
	res = redshift_exec(conn, sql, 0, NULL, &error);
	if (res == NULL)
		load_report_copy_failure(conn, t->qualified, files_url(s3, src), &error);
	res = redshift_exec(conn, "SELECT pg_last_copy_count()", 0, NULL, NULL);
	return redshift_value(res, 0, 0) ? pg_strtoint64(redshift_value(res, 0, 0)) : 0;
}

/*
 * A PostgreSQL warehouse has no COPY from S3: the files are streamed into
 * COPY FROM STDIN (loader.c), CSV straight into the target, JSON lines
 * into a one-column stage (0x01 and 0x02 as quote and delimiter: valid JSON
 * text holds no raw control character) and from there into the target by
 * field name, ignoring case, as COPY ... JSON 'auto ignorecase' does.
 */
static int64
copy_from_stdin(RedshiftConn *conn, S3Settings *s3, S3Client *client, TargetTable *t, Source *src,
				ToolsFormat format)
{
	List	   *keys = NIL;
	ListCell   *lc;
	RedshiftResult *res;
	RedshiftError error;
	char	   *columns;

	foreach(lc, src->files)
		keys = lappend(keys, ((SourceFile *) lfirst(lc))->key);

	if (format == TOOLS_CSV)
	{
		columns = csv_columns(t, src);
		redshift_copy_begin(conn, psprintf("COPY %s%s%s%s FROM STDIN WITH (FORMAT csv)", t->qualified,
										   columns ? " (" : "", columns ? columns : "", columns ? ")" : ""));
		load_send_s3_files(conn, client, keys);
		res = redshift_copy_end(conn, &error);
		if (res == NULL)
			load_report_copy_failure(conn, t->qualified, files_url(s3, src), &error);
		return res->command_tuples[0] ? pg_strtoint64(res->command_tuples) : 0;
	}

	exec(conn, "CREATE TEMP TABLE redtrack_load_json (doc text) ON COMMIT DROP");
	redshift_copy_begin(conn, "COPY redtrack_load_json (doc) FROM STDIN "
						"WITH (FORMAT csv, QUOTE E'\\x01', DELIMITER E'\\x02')");
	load_send_s3_files(conn, client, keys);
	res = redshift_copy_end(conn, &error);
	if (res == NULL)
		load_report_copy_failure(conn, t->qualified, files_url(s3, src), &error);
	res = redshift_exec(conn,
						psprintf("INSERT INTO %s SELECT (pg_catalog.jsonb_populate_record(NULL::%s, "
								 "(SELECT pg_catalog.jsonb_object_agg(pg_catalog.lower(e.key), e.value) "
								 " FROM pg_catalog.jsonb_each(j.doc::pg_catalog.jsonb) AS e))).* "
								 "FROM redtrack_load_json AS j WHERE j.doc ~ '\\S'",
								 t->qualified, t->qualified),
						0, NULL, &error);
	if (res == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_DATA_EXCEPTION),
				 errmsg("loading the JSON of %s into %s failed: %s", src->url, t->qualified,
						error.message),
				 error.detail ? errdetail("%s", error.detail) : 0));
	return res->command_tuples && res->command_tuples[0] ? pg_strtoint64(res->command_tuples) : 0;
}

/* ----------------------------------------------------------------
 * The load
 * ----------------------------------------------------------------
 */

static char *
utc_now(void)
{
	Timestamp	ts = DatumGetTimestamp(DirectFunctionCall2(timestamptz_zone,
														   CStringGetTextDatum("UTC"),
														   TimestampTzGetDatum(GetCurrentTimestamp())));

	return DatumGetCString(DirectFunctionCall1(timestamp_out, TimestampGetDatum(ts)));
}

static void
delete_quietly(S3Settings *s3, const char *key)
{
	S3Config	config;
	S3Client   *client;
	S3Error		err;

	redtrack_s3_config(s3, &config);
	config.should_abort = NULL;
	config.sleep_ms = NULL;
	config.max_attempts = 2;
	client = s3_client_new(&config);
	if (client == NULL)
		return;
	(void) s3_delete_object(client, key, &err);
	s3_client_free(client);
}

int64
tools_load(LoadRequest *req)
{
	S3Settings *s3 = redtrack_s3_settings();
	bool		postgres_dialect = (redtrack_target_dialect == REDTRACK_DIALECT_POSTGRES);
	Source		src;
	S3Client   *client;
	Replicable	r;
	RedshiftConn *conn;
	TargetTable *volatile t;
	char	   *loads;
	char	   *identity;
	const char *params[4];
	RedshiftResult *res;
	char	   *volatile load_manifest = NULL;
	int64		rows = 0;
	size_t		len = strlen(req->source);

	tools_require_prefix(s3);
	memset(&src, 0, sizeof(src));
	if (len > 0 && req->source[len - 1] == '/')
	{
		src.prefix = tools_s3_key(s3, req->source, true, "source");
		src.url = redtrack_s3_url(s3, src.prefix);
		tools_refuse_own_prefix(s3, src.prefix, "source", req->source, true);
	}
	else
	{
		src.manifest_key = tools_s3_key(s3, req->source, false, "source");
		src.url = redtrack_s3_url(s3, src.manifest_key);
		tools_refuse_own_prefix(s3, src.manifest_key, "source", req->source, true);
	}

	if (!s3_global_init())
		ereport(ERROR,
				(errcode(ERRCODE_SYSTEM_ERROR),
				 errmsg("could not initialize libcurl")));
	client = redtrack_s3_open(s3);
	if (src.manifest_key)
	{
		read_manifest(s3, client, &src);
		stat_files(s3, client, &src);
	}
	else
		list_prefix(s3, client, &src);
	choose_codec(s3, &src);
	identity = source_identity(s3, &src);

	memset(&r, 0, sizeof(r));
	r.target_table = (char *) req->target;
	r.source_name = src.url;
	r.strategy = STRATEGY_FULL;

	conn = redshift_connect();
	loads = load_ensure_loads_table(conn);

	/*
	 * The target's DDL runs in the load's transaction too (Redshift allows
	 * CREATE TABLE and ALTER TABLE ADD COLUMN in one): a failed load leaves
	 * no table or column behind.
	 */
	exec(conn, "BEGIN");
	exec(conn, psprintf("LOCK %s", loads));
	t = target_describe(conn, &r);
	params[0] = identity;
	params[1] = t->qualified;
	res = redshift_exec(conn, psprintf("SELECT COUNT(*) FROM %s WHERE replication_id = 0 "
									   "AND source = $1 AND target = $2", loads),
						2, params, NULL);
	if (redshift_value(res, 0, 0) && pg_strtoint64(redshift_value(res, 0, 0)) > 0 && !req->force)
	{
		exec(conn, "ROLLBACK");
		redshift_disconnect(conn);
		ereport(NOTICE,
				(errmsg("%s was already loaded into %s; nothing loaded", src.url, t->qualified),
				 errdetail("The same files (same ETags and sizes) are recorded as loaded there (%s).",
						   identity),
				 errhint("Pass force => true to load them again.")));
		return 0;
	}
	t = prepare_target(conn, req, &r, t);
	if (req->truncate)
		exec(conn, psprintf("DELETE FROM %s", t->qualified));

	PG_TRY();
	{
		if (src.files == NIL)
			rows = 0;
		else if (postgres_dialect)
			rows = copy_from_stdin(conn, s3, client, t, &src, req->format);
		else
		{
			/*
			 * Always a manifest of our own, of the files checked above:
			 * Redshift reads the manifest again at COPY time, and the
			 * caller's may have changed since.
			 */
			load_manifest = put_load_manifest(s3, client, &src);
			rows = copy_from_s3(conn, s3, t, &src, req->format, load_manifest);
		}
	}
	PG_FINALLY();
	{
		if (load_manifest)
			delete_quietly(s3, load_manifest);
	}
	PG_END_TRY();

	params[0] = identity;
	params[1] = t->qualified;
	params[2] = psprintf(INT64_FORMAT, rows);
	params[3] = utc_now();
	(void) redshift_exec(conn,
						 psprintf("INSERT INTO %s (replication_id, source, target, strategy, "
								  "window_first, window_last, rows_loaded, deletes_loaded, loaded_at) "
								  "VALUES (0, $1, $2, 'load', NULL, NULL, $3, 0, $4)", loads),
						 4, params, NULL);
	exec(conn, "COMMIT");
	redshift_disconnect(conn);
	return rows;
}
