/*-------------------------------------------------------------------------
 *
 * tools.h
 *	  The standalone tools: any read-only query exported to S3 as parts
 *	  plus a manifest (rrr_export_query), and data already on S3 loaded
 *	  into a warehouse table exactly once per source (rrr_load).
 *
 * Both run in the caller's backend, not in an engine worker: they keep
 * no state in the source database (the load marker lives on the
 * warehouse, as replication's does), so nothing has to commit apart from
 * the caller's transaction; in the caller's backend the query runs with
 * the caller's own privileges and snapshot, and a cancel or terminate
 * reaches every wait (the pipeline's, S3's and the warehouse's) at once.
 *
 *-------------------------------------------------------------------------
 */
#ifndef REDTRACK_TOOLS_H
#define REDTRACK_TOOLS_H

#include "nodes/pg_list.h"
#include "utils/jsonb.h"

#include "s3.h"

typedef enum ToolsFormat
{
	TOOLS_CSV,					/* as replication writes it (COPY ... CSV) */
	TOOLS_JSON					/* one object per line (COPY ... JSON 'auto') */
} ToolsFormat;

/* 'csv' or 'json' (case-insensitive), or an error. */
extern ToolsFormat tools_parse_format(const char *format);

/*
 * An S3 location given by the user: "s3://bucket/key" or a key inside
 * redtrack.s3_bucket.  Returns the key.  Anything outside the configured
 * bucket is refused, as are keys with empty, "." or ".." segments, a
 * leading '/', control characters or more than 1024 bytes: redtrack's S3
 * credentials are the server's, and a tool must not reach further with
 * them than replication does.  With prefix, the key ends with '/'.
 */
extern char *tools_s3_key(S3Settings *s3, const char *location, bool prefix, const char *what);

/* Refuse to run with an empty redtrack.s3_prefix (nothing to keep away from). */
extern void tools_require_prefix(S3Settings *s3);

/* Whether a key lies under redtrack.s3_prefix, where replications keep their files. */
extern bool tools_in_own_prefix(S3Settings *s3, const char *key);

/*
 * Refuse a key under redtrack.s3_prefix: an export must not overwrite
 * replication's files, and a load must not read them (they hold tables the
 * caller may have no right to read).
 */
extern void tools_refuse_own_prefix(S3Settings *s3, const char *key, const char *what,
									const char *given, bool reading);

/*
 * Whether a key names a manifest (*manifest, *manifest.json): a load of a
 * prefix takes every other file under it for data.
 */
extern bool tools_is_manifest_name(const char *key);

/*
 * The compression of a file, from its name (compress_codec_of_key), as
 * COPY's option: "GZIP", "ZSTD", or "" for none.
 */
extern const char *tools_codec_copy_option(const char *key);

typedef struct ExportQueryResult
{
	char	   *manifest_url;
	int			files;
	int64		rows;
	int64		bytes;
} ExportQueryResult;

/*
 * Whether an export's query is running: neither tool runs inside it (they
 * write S3 and the warehouse, which the read-only state does not stop).
 */
extern bool tools_export_running(void);

extern void tools_export_query(const char *query, const char *destination, ToolsFormat format,
							   const char *manifest, ExportQueryResult *result);

typedef struct LoadRequest
{
	const char *target;			/* identifier syntax, optionally qualified */
	const char *source;			/* manifest URL or key, or a prefix ending in '/' */
	ToolsFormat format;
	Jsonb	   *columns;		/* NULL: the target must exist */
	const char *sortkey;
	const char *distkey;
	bool		truncate;
	bool		force;
} LoadRequest;

extern int64 tools_load(LoadRequest *req);

#endif							/* REDTRACK_TOOLS_H */
