/*-------------------------------------------------------------------------
 *
 * loader.c
 *	  Exactly-once loads into Redshift (or a PostgreSQL warehouse).
 *
 * In one warehouse transaction:
 *
 *	 1. if redtrack_loads already has this replication, an earlier attempt
 *		committed: nothing to do (exactly once);
 *	 2. COPY the files into a temporary stage (LIKE the target);
 *	 3. delete the tracked deletes (staged, joined, never an IN list);
 *	 4. a replayed TRUNCATE or a full replication empties the target
 *		(DELETE, never TRUNCATE, which would commit, nor DROP/RENAME, which
 *		would lose grants and views);
 *	 5. merge, as the table's strategy says (worker/strategy/): e.g. timed
 *		deletes the staged keys and inserts the newest staged row per key;
 *	 6. insert the load marker;
 *
 * then COMMIT.  Deletes come before inserts so a key deleted and inserted
 * again within one replication ends up present.
 *
 * Only SQL that Redshift accepts: no ON CONFLICT, no
 * RETURNING, no COPY FROM STDIN on Redshift.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "lib/stringinfo.h"
#include "mb/pg_wchar.h"
#include "access/xlog.h"
#include "commands/dbcommands.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "storage/latch.h"
#include "utils/builtins.h"
#include "utils/timestamp.h"

#include "compress_stream.h"
#include "guc.h"
#include "loader.h"
#include "redact.h"
#include "rs_ident.h"
#include "sql_list.h"
#include "strategy.h"
#include "target.h"
#include "typemap.h"

#define MAX_LOAD_ERRORS_SHOWN 5

/* Attempts of a load that meets serialisation conflicts (error 1023). */
#define LOAD_ATTEMPTS 6

typedef struct Load
{
	Replicable *r;
	char	   *marker_source;	/* which database's table, see marker_identity */
	Replication *rep;
	S3Settings *s3;
	RedshiftConn *conn;
	bool		postgres_dialect;
	char	   *target;			/* quoted, qualified */
	char	   *stage;
	char	   *deletes_stage;
	char	   *column_list;	/* "a", "b", ... */
	List	   *varchar_keys;	/* key columns compared ignoring trailing spaces */
} Load;

static void
exec(Load *load, const char *sql)
{
	pgstat_report_activity(STATE_RUNNING, redtrack_redact(psprintf("redtrack: %s", sql)));
	(void) redshift_exec(load->conn, sql, 0, NULL, NULL);
}

/* The key columns the target stores as VARCHAR. */
static List *
varchar_keys(TargetTable *target, List *keys)
{
	List	   *result = NIL;
	ListCell   *kc;

	foreach(kc, keys)
	{
		ListCell   *tc;

		foreach(tc, target->columns)
		{
			TargetColumn *col = lfirst(tc);

			if (strcmp(col->name, lfirst(kc)) == 0 &&
				strcmp(col->data_type, "character varying") == 0)
				result = lappend(result, lfirst(kc));
		}
	}
	return result;
}

/* ----------------------------------------------------------------
 * Bookkeeping table
 * ----------------------------------------------------------------
 */

static char *
loads_table(void)
{
	return psprintf("%s.redtrack_loads", rs_quote_identifier(redtrack_loads_schema));
}

static void
ensure_loads_table(Load *load)
{
	exec(load, psprintf("CREATE SCHEMA IF NOT EXISTS %s", rs_quote_identifier(redtrack_loads_schema)));
	exec(load, psprintf("CREATE TABLE IF NOT EXISTS %s ("
						"replication_id BIGINT NOT NULL, "
						"source VARCHAR(1024) NOT NULL, "
						"target VARCHAR(1024) NOT NULL, "
						"strategy VARCHAR(16) NOT NULL, "
						"window_first VARCHAR(64), "
						"window_last VARCHAR(64), "
						"rows_loaded BIGINT, "
						"deletes_loaded BIGINT, "
						"loaded_at TIMESTAMP NOT NULL)", loads_table()));
}

/* The bookkeeping table, created if missing, for loads of other data (rrr_load). */
char *
load_ensure_loads_table(RedshiftConn *conn)
{
	Load		load;

	memset(&load, 0, sizeof(load));
	load.conn = conn;
	ensure_loads_table(&load);
	return loads_table();
}

/*
 * The load marker names the source table together with the installation
 * of the extension that created the replication (a random identity, see
 * redtrack.installation), so that a marker identifies one replication of
 * one incarnation for good: replication ids start again at 1 in a
 * re-created database or extension, or after a restore into the same
 * cluster, and several sources may load the same warehouse.
 *
 * Replications created by redtrack 0.4 carry no identity: their markers
 * named the cluster (system identifier) and the database, which is what
 * this function returns; so an upgraded installation still finds what 0.4
 * loaded.  Reads the catalog: call it in a transaction.
 */
char *
load_marker_identity(Replicable *r)
{
	return psprintf(UINT64_FORMAT ":%s:%s", GetSystemIdentifier(),
					get_database_name(MyDatabaseId), r->source_name);
}

/* The name of this replication's source in its load marker. */
static const char *
marker_source(Load *load)
{
	if (load->rep->installation)
		return psprintf("%s:%s", load->rep->installation, load->r->source_name);
	return load->marker_source;
}

static bool
same_text(const char *a, const char *b)
{
	if (a == NULL || b == NULL)
		return a == b;
	return strcmp(a, b) == 0;
}

/*
 * The rows an earlier committed attempt loaded, or -1 if none did.  The
 * marker must describe this very replication: the window, rows and deletes
 * it exported.  One that does not was written by another load under the
 * same identity and id; taking it for this one would skip this load
 * silently, so it is an error.
 */
static int64
marker_rows(Load *load)
{
	const char *params[2];
	RedshiftResult *res;
	Replication *rep = load->rep;
	const char *marked_first;
	const char *marked_last;
	int64		marked_rows;
	int64		marked_deletes;
	bool		rows_match;

	params[0] = psprintf(INT64_FORMAT, rep->id);
	params[1] = marker_source(load);
	res = redshift_exec(load->conn,
						psprintf("SELECT rows_loaded, deletes_loaded, window_first, window_last "
								 "FROM %s WHERE replication_id = $1 AND source = $2",
								 loads_table()),
						2, params, NULL);
	if (res->nrows == 0)
		return -1;
	marked_rows = redshift_value(res, 0, 0) ? pg_strtoint64(redshift_value(res, 0, 0)) : 0;
	marked_deletes = redshift_value(res, 0, 1) ? pg_strtoint64(redshift_value(res, 0, 1)) : 0;
	marked_first = redshift_value(res, 0, 2);
	marked_last = redshift_value(res, 0, 3);

	/* COPY may have skipped up to redtrack.max_copy_errors bad rows. */
	rows_match = marked_rows == rep->rows ||
		(marked_rows < rep->rows && rep->rows - marked_rows <= redtrack_max_copy_errors);
	if (res->nrows > 1 || !rows_match || marked_deletes != rep->deletes ||
		!same_text(marked_first, rep->window_first) || !same_text(marked_last, rep->window_last))
	{
		exec(load, "ROLLBACK");
		ereport(ERROR,
				(errcode(ERRCODE_DUPLICATE_OBJECT),
				 errmsg("the warehouse holds a load marker for replication " INT64_FORMAT " of %s that does not describe it",
						rep->id, load->r->source_name),
				 errdetail("The marker (%s in %s) records the window %s to %s, " INT64_FORMAT " rows and "
						   INT64_FORMAT " deletes%s; the replication exported the window %s to %s, "
						   INT64_FORMAT " rows and " INT64_FORMAT " deletes.",
						   params[1], loads_table(),
						   marked_first ? marked_first : "(unbounded)",
						   marked_last ? marked_last : "(unbounded)",
						   marked_rows, marked_deletes,
						   res->nrows > 1 ? psprintf(" (and %d markers more)", res->nrows - 1) : "",
						   rep->window_first ? rep->window_first : "(unbounded)",
						   rep->window_last ? rep->window_last : "(unbounded)",
						   rep->rows, rep->deletes),
				 errhint("Another load used this replication's identity and id, and this load was not made. "
						 "After redtrack.max_retries the replication is canceled and a new one, with a new id, "
						 "sends its rows.")));
	}
	return marked_rows;
}

static void
insert_marker(Load *load, int64 rows_loaded)
{
	const char *params[9];
	char	   *now = DatumGetCString(DirectFunctionCall1(timestamptz_out,
														  TimestampTzGetDatum(GetCurrentTimestamp())));

	params[0] = psprintf(INT64_FORMAT, load->rep->id);
	params[1] = marker_source(load);
	params[2] = load->r->target_table;
	params[3] = redtrack_strategy_name(load->r->strategy);
	params[4] = load->rep->window_first;
	params[5] = load->rep->window_last;
	params[6] = psprintf(INT64_FORMAT, rows_loaded);
	params[7] = psprintf(INT64_FORMAT, load->rep->deletes);
	/* the engine's session runs in UTC: strip the +00 for a TIMESTAMP */
	now[strcspn(now, "+")] = '\0';
	params[8] = now;
	pgstat_report_activity(STATE_RUNNING, "redtrack: recording the load marker");
	(void) redshift_exec(load->conn,
						 psprintf("INSERT INTO %s (replication_id, source, target, strategy, "
								  "window_first, window_last, rows_loaded, deletes_loaded, loaded_at) "
								  "VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)", loads_table()),
						 9, params, NULL);
}

/* ----------------------------------------------------------------
 * COPY from S3 (Redshift)
 * ----------------------------------------------------------------
 */

/* Credentials go into COPY's text: allow only what keys are made of. */
static const char *
copy_literal(const char *value, const char *setting)
{
	for (const char *p = value; *p; p++)
	{
		if (*p == '\'' || *p == '\\' || (unsigned char) *p < 0x20)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("%s contains a character that cannot be passed to COPY", setting),
					 errhint("AWS keys, tokens and role ARNs never contain quotes, backslashes or control characters.")));
	}
	return value;
}

static char *
copy_authorization(Load *load)
{
	return load_copy_authorization(load->s3);
}

char *
load_copy_authorization(S3Settings *s3)
{
	if (redtrack_redshift_iam_role && redtrack_redshift_iam_role[0])
		return psprintf("IAM_ROLE '%s'", copy_literal(redtrack_redshift_iam_role,
													   "redtrack.redshift_iam_role"));
	if (s3->session_token[0])
		return psprintf("ACCESS_KEY_ID '%s' SECRET_ACCESS_KEY '%s' SESSION_TOKEN '%s'",
						copy_literal(s3->access_key, "the AWS access key id"),
						copy_literal(s3->secret_key, "the AWS secret access key"),
						copy_literal(s3->session_token, "the AWS session token"));
	return psprintf("ACCESS_KEY_ID '%s' SECRET_ACCESS_KEY '%s'",
					copy_literal(s3->access_key, "the AWS access key id"),
					copy_literal(s3->secret_key, "the AWS secret access key"));
}

/* A LIKE pattern for every key under a prefix (wildcards in it escaped). */
static char *
like_prefix(const char *prefix)
{
	StringInfoData buf;

	initStringInfo(&buf);
	for (const char *p = prefix; *p; p++)
	{
		if (*p == '%' || *p == '_' || *p == '\\')
			appendStringInfoChar(&buf, '\\');
		appendStringInfoChar(&buf, *p);
	}
	appendStringInfoChar(&buf, '%');
	return buf.data;
}

/* Describe a failed COPY with the rows Redshift rejected. */
static void
report_copy_failure(Load *load, RedshiftError *error, const char *manifest_url)
{
	load_report_copy_failure(load->conn, load->target,
							 redtrack_s3_url(load->s3, load->rep->s3_key), error);
}

void
load_report_copy_failure(RedshiftConn *conn, const char *target, const char *files_url,
						 RedshiftError *error)
{
	RedshiftResult *res = NULL;
	RedshiftError ignored;
	StringInfoData detail;
	const char *params[1];
	const char *source = "stl_load_errors";

	/*
	 * The rows this COPY rejected, found by this session and this
	 * replication's files, newest COPY first: never by pg_last_copy_id(),
	 * which a COPY whose transaction rolled back does not update (it may
	 * still name an earlier COPY of the session).  Serverless has no STL
	 * views: there the same rows are in sys_load_error_detail, without the
	 * raw value.
	 */
	params[0] = like_prefix(files_url);
	if (!error->connection_lost)
	{
		(void) redshift_exec(conn, "ROLLBACK", 0, NULL, &ignored);
		memset(&ignored, 0, sizeof(ignored));
		res = redshift_exec(conn,
							psprintf("SELECT TRIM(filename), line_number, TRIM(colname), err_code, "
									 "TRIM(err_reason), TRIM(raw_field_value) FROM stl_load_errors "
									 "WHERE session = pg_backend_pid() AND TRIM(filename) LIKE $1 "
									 "AND query = (SELECT MAX(query) FROM stl_load_errors "
									 "  WHERE session = pg_backend_pid() AND TRIM(filename) LIKE $1) "
									 "ORDER BY line_number LIMIT %d", MAX_LOAD_ERRORS_SHOWN),
							1, params, &ignored);
		if (res == NULL && ignored.message != NULL)
		{
			source = "sys_load_error_detail";
			res = redshift_exec(conn,
								psprintf("SELECT TRIM(file_name), line_number, TRIM(column_name), error_code, "
										 "TRIM(error_message), NULL FROM sys_load_error_detail "
										 "WHERE session_id = pg_backend_pid() AND TRIM(file_name) LIKE $1 "
										 "AND query_id = (SELECT MAX(query_id) FROM sys_load_error_detail "
										 "  WHERE session_id = pg_backend_pid() AND TRIM(file_name) LIKE $1) "
										 "ORDER BY line_number LIMIT %d", MAX_LOAD_ERRORS_SHOWN),
								1, params, &ignored);
		}
	}

	initStringInfo(&detail);
	for (int i = 0; res && i < res->nrows; i++)
	{
		const char *file = redshift_value(res, i, 0);
		const char *base = file ? strrchr(file, '/') : NULL;
		const char *raw = redshift_value(res, i, 5);
		char	   *shown = raw ? pnstrdup(raw, pg_mbcliplen(raw, strlen(raw), 80)) : NULL;

		appendStringInfo(&detail, "%s%s line %s, column %s: %s (error %s)%s%s%s",
						 i > 0 ? "\n" : "",
						 base ? base + 1 : (file ? file : "?"),
						 redshift_value(res, i, 1) ? redshift_value(res, i, 1) : "?",
						 redshift_value(res, i, 2) ? redshift_value(res, i, 2) : "?",
						 redshift_value(res, i, 4) ? redshift_value(res, i, 4) : "?",
						 redshift_value(res, i, 3) ? redshift_value(res, i, 3) : "?",
						 shown ? ", value \"" : "", shown ? shown : "", shown ? "\"" : "");
	}

	ereport(ERROR,
			(errcode(error->connection_lost ? ERRCODE_CONNECTION_FAILURE : ERRCODE_DATA_EXCEPTION),
			 errmsg("COPY into %s failed: %s", target, error->message),
			 detail.len > 0 ? errdetail("Rejected rows (%s):\n%s", source, detail.data)
			 : (error->detail ? errdetail("%s", error->detail) : 0),
			 errhint("Fix the rows or the target's column definitions; redtrack.max_copy_errors "
					 "lets COPY skip up to that many bad rows.")));
}

static CompressCodec manifest_codec(Load *load, S3Client *client, const char *manifest_key);

static int64
copy_from_s3(Load *load, const char *stage, const char *columns, const char *manifest_key)
{
	char	   *url = redtrack_s3_url(load->s3, manifest_key);

	/*
	 * redtrack.compression: COPY's ZSTD, GZIP or nothing, from
	 * the names of the files the manifest lists (one S3 GET), never from the
	 * current setting: a retry loads what its export wrote.
	 */
	CompressCodec codec = manifest_codec(load, redtrack_s3_open(load->s3), manifest_key);
	RedshiftError error;
	RedshiftResult *res;
	char	   *sql;

	for (const char *p = url; *p; p++)
		if (*p == '\'' || *p == '\\')
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("S3 location %s cannot be passed to COPY", url),
					 errhint("Remove quotes and backslashes from redtrack.s3_bucket and redtrack.s3_prefix.")));

	sql = psprintf("COPY %s (%s) FROM '%s' %s MANIFEST %s%sCSV QUOTE AS '\"' DELIMITER AS ',' "
				   "NULL AS '\\0' TIMEFORMAT 'auto' DATEFORMAT 'auto' REGION '%s' MAXERROR %d "
				   "COMPUPDATE OFF STATUPDATE OFF%s",
				   stage, columns, url, copy_authorization(load),
				   compress_codec_copy_option(codec), codec == COMPRESS_NONE ? "" : " ",
				   copy_literal(load->s3->region, "redtrack.s3_region"),
				   redtrack_max_copy_errors,
				   GetDatabaseEncoding() == PG_SQL_ASCII ? " ACCEPTINVCHARS" : "");
	pgstat_report_activity(STATE_RUNNING, redtrack_redact(psprintf("redtrack: %s", sql)));
	res = redshift_exec(load->conn, sql, 0, NULL, &error);
	if (res == NULL)
		report_copy_failure(load, &error, url);

	/* The command tag is not reliable on Redshift: ask for the count. */
	res = redshift_exec(load->conn, "SELECT pg_last_copy_count()", 0, NULL, NULL);
	return redshift_value(res, 0, 0) ? pg_strtoint64(redshift_value(res, 0, 0)) : 0;
}

/* ----------------------------------------------------------------
 * COPY FROM STDIN (PostgreSQL dialect), fed from the same S3 files
 * ----------------------------------------------------------------
 */

/*
 * redtrack.compression: the files of one COPY and how far the
 * current one is decoded.  Each file is read in the format its name says,
 * not in the current setting's.
 */
typedef struct Decoder
{
	DecompressStream *stream;	/* the current file's; malloc'd state inside */
	RedshiftConn *conn;
	bool		decode_failed;	/* corrupt input, or COPY refused the data */
} Decoder;

static bool
collect_manifest(const char *data, size_t len, void *arg)
{
	appendBinaryStringInfo((StringInfo) arg, data, (int) len);
	return true;
}

static bool
send_to_copy(const char *data, size_t len, void *arg)
{
	Decoder    *dec = arg;

	return redshift_copy_send_quietly(dec->conn, data, len);
}

/* Decompress downloaded bytes straight into COPY (a curl callback). */
static bool
decode_into_copy(const char *data, size_t len, void *arg)
{
	Decoder    *dec = arg;

	if (decompress_stream_write(dec->stream, data, len, send_to_copy, dec))
		return true;
	dec->decode_failed = true;
	return false;
}

/* The object keys a manifest lists. */
static pg_noinline List *
manifest_keys(Load *load, S3Client *client, const char *manifest_key)
{
	StringInfoData json;
	S3Error		err;
	List	   *keys = NIL;
	char	   *bucket_prefix = psprintf("s3://%s/", load->s3->bucket);
	char	   *p;

	initStringInfo(&json);
	if (!s3_get_object(client, manifest_key, collect_manifest, &json, &err))
		redtrack_s3_report(&err);
	/* Our own manifests: "url": "s3://bucket/key" with plain keys. */
	p = json.data;
	while ((p = strstr(p, "\"url\": \"")) != NULL)
	{
		char	   *start = p + strlen("\"url\": \"");
		char	   *end = strchr(start, '"');

		if (end == NULL)
			break;
		if (strncmp(start, bucket_prefix, strlen(bucket_prefix)) == 0)
			keys = lappend(keys, pnstrdup(start + strlen(bucket_prefix),
										  end - start - strlen(bucket_prefix)));
		p = end;
	}
	return keys;
}

static CompressCodec
file_codec(const char *key)
{
	CompressCodec codec;

	if (!compress_codec_of_key(key, &codec))
		ereport(ERROR,
				(errcode(ERRCODE_DATA_CORRUPTED),
				 errmsg("exported file %s has an unknown format", key),
				 errdetail("redtrack writes files named .csv.zst, .csv.gz or .csv.")));
	return codec;
}

/*
 * The format of the files a manifest lists, for COPY's option: one per
 * export, whatever redtrack.compression says now (a retry of an older
 * replication).
 */
static CompressCodec
manifest_codec(Load *load, S3Client *client, const char *manifest_key)
{
	List	   *keys = manifest_keys(load, client, manifest_key);
	CompressCodec codec = COMPRESS_NONE;
	ListCell   *lc;

	foreach(lc, keys)
	{
		CompressCodec this = file_codec(lfirst(lc));

		if (lc != list_head(keys) && this != codec)
			ereport(ERROR,
					(errcode(ERRCODE_DATA_CORRUPTED),
					 errmsg("manifest %s lists files of more than one format", manifest_key)));
		codec = this;
	}
	return codec;
}

static void
send_files(S3Client *client, List *keys, Decoder *dec)
{
	ListCell   *lc;

	foreach(lc, keys)
	{
		S3Error		err;
		bool		ok;

		pgstat_report_activity(STATE_RUNNING,
							   psprintf("redtrack: loading %s", (char *) lfirst(lc)));
		if (!decompress_stream_open(dec->stream, file_codec(lfirst(lc))))
			ereport(ERROR,
					(errcode(ERRCODE_OUT_OF_MEMORY),
					 errmsg("could not start decompressing %s", (char *) lfirst(lc))));
		dec->decode_failed = false;
		ok = s3_get_object(client, lfirst(lc), decode_into_copy, dec, &err);
		if (!ok)
		{
			CHECK_FOR_INTERRUPTS();
			if (!dec->decode_failed)
				redtrack_s3_report(&err);
		}
		/* A file that ends inside a frame or member is truncated. */
		if (!ok || !decompress_stream_finish(dec->stream))
			ereport(ERROR,
					(errcode(ERRCODE_DATA_CORRUPTED),
					 errmsg("could not decompress or send %s", (char *) lfirst(lc))));
		decompress_stream_close(dec->stream);
	}
}

static int64
copy_from_stdin(Load *load, const char *stage, const char *columns, const char *manifest_key)
{
	S3Client   *client = redtrack_s3_open(load->s3);
	List	   *keys = manifest_keys(load, client, manifest_key);
	RedshiftResult *res;
	RedshiftError error;

	redshift_copy_begin(load->conn, psprintf("COPY %s (%s) FROM STDIN WITH (FORMAT csv)",
											 stage, columns));
	load_send_s3_files(load->conn, client, keys);
	res = redshift_copy_end(load->conn, &error);
	if (res == NULL)
		report_copy_failure(load, &error, manifest_key);
	return res->command_tuples[0] ? pg_strtoint64(res->command_tuples) : 0;
}

static int64
copy_manifest(Load *load, const char *stage, const char *columns, const char *manifest_key)
{
	if (load->postgres_dialect)
		return copy_from_stdin(load, stage, columns, manifest_key);
	return copy_from_s3(load, stage, columns, manifest_key);
}

/*
 * For rrr_load: the files, decompressed, into a COPY FROM STDIN begun on
 * conn (the middle of copy_from_stdin, for keys that are not a
 * replication's).
 */
void
load_send_s3_files(RedshiftConn *conn, S3Client *client, List *keys)
{
	Decoder    *dec = palloc0(sizeof(Decoder));

	dec->stream = palloc0(sizeof(DecompressStream));
	dec->conn = conn;
	PG_TRY();
	{
		send_files(client, keys, dec);
	}
	PG_CATCH();
	{
		decompress_stream_close(dec->stream);
		PG_RE_THROW();
	}
	PG_END_TRY();
}

/* ----------------------------------------------------------------
 * The load
 * ----------------------------------------------------------------
 */

/*
 * A name for redtrack's own column in SQL that also names the target's
 * columns: redtrack_rn, unless a user column is called that (compared as
 * Redshift compares names, ignoring case), then redtrack_rn_1, ...
 */
static char *
own_column_name(List *user_columns, const char *base)
{
	char	   *name = pstrdup(base);

	for (int n = 1;; n++)
	{
		ListCell   *lc;
		bool		taken = false;

		foreach(lc, user_columns)
		{
			if (pg_strcasecmp(lfirst(lc), name) == 0)
			{
				taken = true;
				break;
			}
		}
		if (!taken)
			return name;
		name = psprintf("%s_%d", base, n);
	}
}

/* Newest staged row per key (duplicate keys, or a key listed twice). */
static char *
deduplicated_stage(Load *load)
{
	Replication *rep = load->rep;
	char	   *order;
	const char *rn;

	if (rep->target_keys == NIL)
		return load->stage;
	order = rep->target_order
		? psprintf("%s DESC", rs_quote_identifier(rep->target_order))
		: sql_name_list(rep->target_keys, NULL, SQL_QUOTE_WAREHOUSE);
	rn = rs_quote_identifier(own_column_name(rep->target_columns, "redtrack_rn"));
	return psprintf("(SELECT *, ROW_NUMBER() OVER (PARTITION BY %s ORDER BY %s) AS %s "
					"FROM %s) AS s WHERE %s = 1",
					sql_key_partition(rep->target_keys, load->varchar_keys), order, rn, load->stage, rn);
}

/* The strategy's merge of the stage into the target. */
static void
merge_stage(Load *load)
{
	Replication *rep = load->rep;
	StrategyMerge m;
	bool		deduplicated = (rep->target_keys != NIL);
	ListCell   *lc;

	memset(&m, 0, sizeof(m));
	m.target = load->target;
	m.stage = load->stage;
	m.columns = load->column_list;
	m.source = deduplicated ? deduplicated_stage(load) : psprintf("%s AS s", load->stage);
	m.source_has_where = deduplicated;
	m.target_stage_keys = sql_key_join(rep->target_keys, load->varchar_keys, load->target, load->stage);
	m.t_s_keys = sql_key_join(rep->target_keys, load->varchar_keys, "t", "s");
	foreach(lc, strategy_of(load->r)->merge_sql(&m))
		exec(load, lfirst(lc));
}

static int64
load_replication_once(Replicable *r, Replication *rep, S3Settings *s3, RedshiftConn **conn,
					  const char *create_ddl, const char *marker_source, bool target_must_exist,
					  bool *target_missing)
{
	Load		load;
	TargetTable *target;
	int64		rows_loaded = 0;
	int64		earlier;

	memset(&load, 0, sizeof(load));
	load.r = r;
	load.rep = rep;
	load.s3 = s3;
	load.postgres_dialect = (redtrack_target_dialect == REDTRACK_DIALECT_POSTGRES);
	if (*conn == NULL)
		*conn = redshift_connect();
	load.conn = *conn;
	load.stage = psprintf("redtrack_stage_" INT64_FORMAT, rep->id);
	load.deletes_stage = psprintf("redtrack_deletes_" INT64_FORMAT, rep->id);
	load.column_list = sql_name_list(rep->target_columns, NULL, SQL_QUOTE_WAREHOUSE);
	load.marker_source = pstrdup(marker_source);

	if (rep->target_columns == NIL && rep->rows > 0)
		ereport(ERROR,
				(errcode(ERRCODE_INTERNAL_ERROR),
				 errmsg("replication " INT64_FORMAT " has rows but no recorded columns", rep->id)));

	/* Before the transaction: DDL that must exist whatever happens. */
	ensure_loads_table(&load);
	target = target_describe(load.conn, r);
	*target_missing = !target->exists;
	if (!target->exists && target_must_exist)
		return 0;
	if (!target->exists)
	{
		target_create(load.conn, r, target, create_ddl);
		target = target_describe(load.conn, r);
	}
	load.target = target->qualified;
	load.varchar_keys = varchar_keys(target, rep->target_keys);

	exec(&load, "BEGIN");

	/*
	 * Loads into one warehouse serialise on the bookkeeping table, taken
	 * first: on a SERIALIZABLE cluster two loads that both read and write
	 * it would otherwise abort one another (error 1023).  Redshift's LOCK
	 * has no mode; PostgreSQL reads the same text as ACCESS EXCLUSIVE.
	 */
	exec(&load, psprintf("LOCK %s", loads_table()));
	earlier = marker_rows(&load);
	if (earlier >= 0)
	{
		/* Committed by an earlier attempt whose outcome we never heard. */
		exec(&load, "ROLLBACK");
		ereport(LOG,
				(errmsg("redtrack: replication " INT64_FORMAT " of %s was already loaded; not loading it again",
						rep->id, r->source_name)));
		return earlier;
	}

	if (rep->rows > 0)
	{
		exec(&load, psprintf("CREATE TEMP TABLE %s (LIKE %s)", load.stage, load.target));
		rows_loaded = copy_manifest(&load, load.stage, load.column_list,
									psprintf("%smanifest.json", rep->s3_key));
	}
	if (rep->deletes > 0 && !rep->carries_truncate && !strategy_of(r)->replaces_target)
	{
		char	   *keys = sql_name_list(rep->target_keys, NULL, SQL_QUOTE_WAREHOUSE);

		exec(&load, psprintf("CREATE TEMP TABLE %s AS SELECT %s FROM %s WHERE 1 = 0",
							 load.deletes_stage, keys, load.target));
		(void) copy_manifest(&load, load.deletes_stage, keys,
							 psprintf("%sdeletes.manifest.json", rep->s3_key));
		exec(&load, psprintf("DELETE FROM %s USING %s WHERE %s", load.target, load.deletes_stage,
							 sql_key_join(rep->target_keys, load.varchar_keys, load.target, load.deletes_stage)));
		exec(&load, psprintf("DROP TABLE %s", load.deletes_stage));
	}
	if (rep->carries_truncate || strategy_of(r)->replaces_target)
		exec(&load, psprintf("DELETE FROM %s", load.target));
	if (rep->rows > 0)
	{
		merge_stage(&load);
		exec(&load, psprintf("DROP TABLE %s", load.stage));
	}
	insert_marker(&load, rows_loaded);
	exec(&load, "COMMIT");
	return rows_loaded;
}

/*
 * A serialisation failure: Redshift's error 1023 ("Serializable isolation
 * violation on table ..."), on a cluster that runs SERIALIZABLE, when a
 * transaction of someone else's conflicts with the load's; or
 * PostgreSQL's 40001.  Nothing of the load committed: it can run again.
 */
static bool
is_serialization_failure(ErrorData *edata)
{
	return edata->sqlerrcode == ERRCODE_T_R_SERIALIZATION_FAILURE ||
		(edata->message && strncmp(edata->message, "1023", 4) == 0) ||
		(edata->message && strstr(edata->message, "Serializable isolation violation")) ||
		(edata->detail && strstr(edata->detail, "Serializable isolation violation"));
}

int64
load_replication(Replicable *r, Replication *rep, S3Settings *s3, RedshiftConn **conn,
				 const char *create_ddl, const char *marker_source, bool target_must_exist,
				 bool *target_missing)
{
	MemoryContext cxt = CurrentMemoryContext;
	volatile int64 rows_loaded = 0;
	volatile bool done = false;

	for (volatile int attempt = 1; !done; attempt++)
	{
		ErrorData  *volatile edata = NULL;

		PG_TRY();
		{
			rows_loaded = load_replication_once(r, rep, s3, conn, create_ddl, marker_source,
												target_must_exist, target_missing);
			done = true;
		}
		PG_CATCH();
		{
			MemoryContextSwitchTo(cxt);
			edata = CopyErrorData();
			if (attempt >= LOAD_ATTEMPTS || *conn == NULL || !is_serialization_failure(edata))
				PG_RE_THROW();
			FlushErrorState();
		}
		PG_END_TRY();

		if (!done)
		{
			long		backoff_ms = (100L << attempt) + random() % 100;

			(void) redshift_exec(*conn, "ROLLBACK", 0, NULL, NULL);
			ereport(LOG,
					(errmsg("redtrack: load of replication " INT64_FORMAT " of %s met a serialisation "
							"conflict; attempt %d of %d in %ld ms",
							rep->id, r->source_name, attempt + 1, LOAD_ATTEMPTS, backoff_ms),
					 errdetail("%s", edata->message)));
			(void) WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH,
							 backoff_ms, PG_WAIT_EXTENSION);
			ResetLatch(MyLatch);
			CHECK_FOR_INTERRUPTS();
		}
	}
	return rows_loaded;
}

/* ----------------------------------------------------------------
 * Maintenance
 * ----------------------------------------------------------------
 */

/* VACUUM's forms, and what may follow them (docs/REDSHIFT.md). */
static char *
vacuum_options(const char *options, bool *automatic)
{
	char	   *copy = pstrdup(options);
	char	   *words[8];
	int			n = 0;
	StringInfoData out;
	int			i = 0;

	*automatic = false;
	for (char *tok = strtok(copy, " \t\n"); tok; tok = strtok(NULL, " \t\n"))
	{
		if (n == lengthof(words))
			goto invalid;
		for (char *p = tok; *p; p++)
			*p = pg_ascii_toupper((unsigned char) *p);
		words[n++] = tok;
	}
	initStringInfo(&out);
	if (n == 1 && strcmp(words[0], "AUTO") == 0)
	{
		*automatic = true;
		return NULL;
	}
	if (n == 0)
		goto invalid;
	if (strcmp(words[0], "FULL") == 0 || strcmp(words[0], "REINDEX") == 0)
		appendStringInfoString(&out, words[i++]);
	else if (n >= 2 && (strcmp(words[0], "SORT") == 0 || strcmp(words[0], "DELETE") == 0) &&
			 strcmp(words[1], "ONLY") == 0)
	{
		appendStringInfo(&out, "%s ONLY", words[0]);
		i = 2;
	}
	else
		goto invalid;
	appendStringInfoString(&out, " %s");
	if (i < n && strcmp(words[i], "TO") == 0)
	{
		int			percent;
		char	   *end;

		if (i + 2 >= n || strcmp(words[i + 2], "PERCENT") != 0)
			goto invalid;
		percent = (int) strtol(words[i + 1], &end, 10);
		if (*end != '\0' || percent < 0 || percent > 100)
			goto invalid;
		appendStringInfo(&out, " TO %d PERCENT", percent);
		i += 3;
	}
	if (i < n && strcmp(words[i], "BOOST") == 0)
	{
		appendStringInfoString(&out, " BOOST");
		i++;
	}
	if (i != n)
		goto invalid;
	return out.data;

invalid:
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
			 errmsg("invalid VACUUM options \"%s\"", options),
			 errhint("Use 'auto', 'FULL', 'SORT ONLY', 'DELETE ONLY' or 'REINDEX', optionally "
					 "followed by 'TO n PERCENT' and 'BOOST'.")));
	pg_unreachable();
}

char *
load_vacuum(Replicable *r, const char *options)
{
	RedshiftConn *conn = redshift_connect();
	TargetTable *target = target_describe(conn, r);
	bool		automatic;
	char	   *form = vacuum_options(options, &automatic);
	char	   *sql;

	if (!target->exists)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_TABLE),
				 errmsg("target table %s does not exist", r->target_table),
				 errhint("It is created by the first replication, or by rrr_create_target().")));

	if (redtrack_target_dialect == REDTRACK_DIALECT_POSTGRES)
		sql = psprintf("VACUUM %s%s", automatic || strncmp(form, "FULL", 4) == 0 ? "FULL " : "",
					   target->qualified);
	else
	{
		if (automatic)
		{
			/* pg_table_def only shows schemas on the search path. */
			const char *params[2] = {target->schema, target->name};
			RedshiftResult *res;
			const char *sortkey;

			redshift_exec(conn, psprintf("SET search_path TO %s, public",
										 rs_quote_identifier(target->schema)), 0, NULL, NULL);
			res = redshift_exec(conn, "SELECT min(sortkey) FROM pg_table_def "
								"WHERE schemaname = $1 AND tablename = $2", 2, params, NULL);
			sortkey = redshift_value(res, 0, 0);
			/* Interleaved sort keys have negative positions: REINDEX them. */
			form = (sortkey && atoi(sortkey) < 0) ? "REINDEX %s" : "FULL %s";
		}
		sql = psprintf("VACUUM %s", psprintf(form, target->qualified));
	}
	pgstat_report_activity(STATE_RUNNING, psprintf("redtrack: %s", sql));
	redshift_exec(conn, sql, 0, NULL, NULL);
	redshift_disconnect(conn);
	return sql;
}

char *
load_analyze(Replicable *r)
{
	RedshiftConn *conn = redshift_connect();
	TargetTable *target = target_describe(conn, r);
	char	   *sql;

	if (!target->exists)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_TABLE),
				 errmsg("target table %s does not exist", r->target_table),
				 errhint("It is created by the first replication, or by rrr_create_target().")));
	sql = psprintf("ANALYZE %s", target->qualified);
	pgstat_report_activity(STATE_RUNNING, psprintf("redtrack: %s", sql));
	redshift_exec(conn, sql, 0, NULL, NULL);
	redshift_disconnect(conn);
	return sql;
}

/* ----------------------------------------------------------------
 * For a load of several tables in one transaction (the cdc strategy,
 * worker/cdc/cdc_run.c): the pieces it uses (worker/cdc/cdc_run.c), from the code above.
 * ----------------------------------------------------------------
 */

char *
load_loads_table(void)
{
	return loads_table();
}

int64
load_copy_files(RedshiftConn *conn, S3Settings *s3, const char *s3_key, const char *target,
				const char *stage, const char *columns, const char *manifest_key)
{
	Load		load;
	Replication rep;

	memset(&load, 0, sizeof(load));
	memset(&rep, 0, sizeof(rep));
	rep.s3_key = (char *) s3_key;
	load.rep = &rep;
	load.s3 = s3;
	load.conn = conn;
	load.target = (char *) target;
	load.postgres_dialect = (redtrack_target_dialect == REDTRACK_DIALECT_POSTGRES);
	return copy_manifest(&load, stage, columns, manifest_key);
}

List *
load_varchar_keys(TargetTable *target, List *keys)
{
	return varchar_keys(target, keys);
}

bool
load_is_serialization_failure(ErrorData *edata)
{
	return is_serialization_failure(edata);
}
