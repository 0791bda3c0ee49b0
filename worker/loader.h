/*-------------------------------------------------------------------------
 *
 * loader.h
 *	  The warehouse half of a replication: one transaction that stages the
 *	  exported files, applies deletes, merges by strategy and records a
 *	  load marker.  It knows SQL and the replication's stored layout; it
 *	  knows nothing of libcurl or of the source tables' catalogs.
 *
 *-------------------------------------------------------------------------
 */
#ifndef REDTRACK_LOADER_H
#define REDTRACK_LOADER_H

#include "redshift.h"
#include "registry.h"
#include "s3.h"
#include "state.h"

/*
 * Load an uploaded replication.  Returns the rows COPY loaded, or, when
 * the load marker shows an earlier attempt committed, the rows it
 * recorded.  create_ddl creates the target when it does not exist yet
 * (computed beforehand: the loader runs outside any local transaction and
 * cannot read the catalogs).  Errors leave the warehouse unchanged (the transaction rolls
 * back) and describe COPY failures with stl_load_errors.  With
 * target_must_exist (an incremental window of a table loaded before), a
 * missing target is not created: *target_missing is set and nothing is
 * loaded, since the window alone would rebuild it without the older rows.
 */
extern int64 load_replication(Replicable *r, Replication *rep, S3Settings *s3,
							  RedshiftConn **conn, const char *create_ddl,
							  const char *marker_source, bool target_must_exist,
							  bool *target_missing);

/* How the load marker names a source table (call in a transaction). */
extern char *load_marker_identity(Replicable *r);

/*
 * For loads of other data (rrr_load): COPY's authorization clause (the
 * IAM role, else the S3 keys); a failed COPY's ERROR with the rows
 * stl_load_errors / sys_load_error_detail recorded for files whose URL
 * starts with files_url; the bookkeeping table (created if missing), whose
 * markers rrr_load shares; and S3 objects, decompressed, sent into a
 * COPY FROM STDIN in progress (PostgreSQL dialect).
 */
extern char *load_copy_authorization(S3Settings *s3);
extern char *load_ensure_loads_table(RedshiftConn *conn);
extern void load_report_copy_failure(RedshiftConn *conn, const char *target,
									 const char *files_url, RedshiftError *error)
			pg_attribute_noreturn();
extern void load_send_s3_files(RedshiftConn *conn, S3Client *client, List *keys);

/* VACUUM / ANALYZE of a registration's target. */
extern char *load_vacuum(Replicable *r, const char *options);
extern char *load_analyze(Replicable *r);

/*
 * The loader's pieces for a load of several tables in one
 * transaction (worker/cdc/cdc_run.c).  COPY of a manifest's files into a
 * stage (S3 COPY, or COPY FROM STDIN on a PostgreSQL warehouse); key
 * predicates exact for VARCHAR keys; the bookkeeping table.
 */
#include "target.h"
extern char *load_loads_table(void);
extern int64 load_copy_files(RedshiftConn *conn, S3Settings *s3, const char *s3_key,
							 const char *target, const char *stage, const char *columns,
							 const char *manifest_key);
extern List *load_varchar_keys(TargetTable *target, List *keys);
/* Redshift's 1023 or PostgreSQL's 40001: nothing committed, run it again. */
extern bool load_is_serialization_failure(ErrorData *edata);

#endif							/* REDTRACK_LOADER_H */
