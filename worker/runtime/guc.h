/*-------------------------------------------------------------------------
 *
 * guc.h
 *	  redtrack's configuration parameters (postgresql.conf, prefix
 *	  "redtrack.").
 *
 * Every module reads its settings from these variables; nothing else
 * knows how they are declared.  Secrets (the AWS keys, the session token
 * and the Redshift conninfo) are superuser-only and are never printed by
 * redtrack: their check hooks do not exist on purpose, because PostgreSQL
 * echoes a rejected value in its error message.
 *
 *-------------------------------------------------------------------------
 */
#ifndef REDTRACK_GUC_H
#define REDTRACK_GUC_H

typedef enum RedtrackDialect
{
	REDTRACK_DIALECT_REDSHIFT,
	REDTRACK_DIALECT_POSTGRES
} RedtrackDialect;

extern char *redtrack_database;
extern int	redtrack_naptime;
extern bool redtrack_enabled;
extern char *redtrack_s3_bucket;
extern char *redtrack_s3_prefix;
extern char *redtrack_s3_region;
extern char *redtrack_s3_endpoint;
extern char *redtrack_aws_access_key_id;
extern char *redtrack_aws_secret_access_key;
extern char *redtrack_aws_session_token;
extern char *redtrack_redshift_conninfo;
extern char *redtrack_redshift_iam_role;
extern char *redtrack_loads_schema;
extern int	redtrack_target_dialect;
extern int	redtrack_slices;
extern int	redtrack_max_file_size;
extern int	redtrack_max_copy_errors;
extern int	redtrack_max_retries;
extern int	redtrack_history_cap;
extern bool redtrack_delete_s3_files_after_import;
extern int	redtrack_watermark_margin;
extern int	redtrack_compression;	/* CompressCodec (compress_stream.h) */
extern int	redtrack_compression_level;
extern bool redtrack_notify;
extern int	redtrack_cdc_max_retained_wal;	/* MB; 0: no warning */
extern char *redtrack_cdc_fault;	/* test hook: where a cdc run exits */

extern void redtrack_define_gucs(void);

/*
 * The settings a session may change with SET and that an on-demand engine
 * worker must therefore inherit from the session that started it.
 */
extern const char *const redtrack_session_gucs[];

#endif							/* REDTRACK_GUC_H */
