/*-------------------------------------------------------------------------
 *
 * guc.c
 *	  Definitions of redtrack's configuration parameters.
 *
 * Contexts are chosen on purpose:
 *	- redtrack.database names the database the background worker connects
 *	  to, which is fixed at postmaster start;
 *	- the schedule (naptime, enabled) is read by the background worker on
 *	  SIGHUP;
 *	- everything that describes where and how to replicate is PGC_SUSET, so
 *	  a superuser can try a different bucket or prefix in one session, and
 *	  the value is handed to the engine worker that session starts.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "utils/guc.h"

#include "compress_stream.h"
#include "guc.h"

char	   *redtrack_database = NULL;
int			redtrack_naptime = 60;
bool		redtrack_enabled = true;
char	   *redtrack_s3_bucket = NULL;
char	   *redtrack_s3_prefix = NULL;
char	   *redtrack_s3_region = NULL;
char	   *redtrack_s3_endpoint = NULL;
char	   *redtrack_aws_access_key_id = NULL;
char	   *redtrack_aws_secret_access_key = NULL;
char	   *redtrack_aws_session_token = NULL;
char	   *redtrack_redshift_conninfo = NULL;
char	   *redtrack_redshift_iam_role = NULL;
char	   *redtrack_loads_schema = NULL;
int			redtrack_target_dialect = REDTRACK_DIALECT_REDSHIFT;
int			redtrack_slices = 4;
int			redtrack_max_file_size = 256 * 1024;	/* kB */
int			redtrack_max_copy_errors = 0;
int			redtrack_max_retries = 3;
int			redtrack_history_cap = 1000;
bool		redtrack_delete_s3_files_after_import = false;
int			redtrack_watermark_margin = 2000;	/* ms */
int			redtrack_compression = COMPRESS_ZSTD;
int			redtrack_compression_level = 1;
bool		redtrack_notify = true;
int			redtrack_cdc_max_retained_wal = 1024;	/* MB */
char	   *redtrack_cdc_fault = NULL;

static const struct config_enum_entry dialect_options[] = {
	{"redshift", REDTRACK_DIALECT_REDSHIFT, false},
	{"postgres", REDTRACK_DIALECT_POSTGRES, false},
	{"postgresql", REDTRACK_DIALECT_POSTGRES, true},
	{NULL, 0, false}
};

/*
 * The format of exported files.  A replication keeps the one it was
 * exported with (in its files' names): changing this never breaks a retry.
 */
static const struct config_enum_entry compression_options[] = {
	{"zstd", COMPRESS_ZSTD, false},
	{"gzip", COMPRESS_GZIP, false},
	{"none", COMPRESS_NONE, false},
	{NULL, 0, false}
};

const char *const redtrack_session_gucs[] = {
	"redtrack.s3_bucket",
	"redtrack.s3_prefix",
	"redtrack.s3_region",
	"redtrack.s3_endpoint",
	"redtrack.aws_access_key_id",
	"redtrack.aws_secret_access_key",
	"redtrack.aws_session_token",
	"redtrack.redshift_conninfo",
	"redtrack.redshift_iam_role",
	"redtrack.loads_schema",
	"redtrack.target_dialect",
	"redtrack.slices",
	"redtrack.max_file_size",
	"redtrack.max_copy_errors",
	"redtrack.max_retries",
	"redtrack.history_cap",
	"redtrack.delete_s3_files_after_import",
	"redtrack.watermark_margin",
	"redtrack.compression",
	"redtrack.compression_level",
	"redtrack.notify",
	NULL
};

/*
 * Secrets: hidden from non-superusers and from SHOW ALL (which assert-enabled
 * servers since 16 accept only together with NOT_IN_SAMPLE).
 */
#define SECRET_FLAGS (GUC_SUPERUSER_ONLY | GUC_NO_SHOW_ALL | GUC_NOT_IN_SAMPLE)

void
redtrack_define_gucs(void)
{
	DefineCustomStringVariable("redtrack.database",
							   "Database the redtrack background worker connects to.",
							   NULL,
							   &redtrack_database,
							   "postgres",
							   PGC_POSTMASTER,
							   0,
							   NULL, NULL, NULL);

	DefineCustomIntVariable("redtrack.naptime",
							"Time between two runs of the background worker.",
							"Each run replicates every registered table that is due.",
							&redtrack_naptime,
							60, 1, 86400,
							PGC_SIGHUP,
							GUC_UNIT_S,
							NULL, NULL, NULL);

	DefineCustomBoolVariable("redtrack.enabled",
							 "Whether the background worker replicates on its schedule.",
							 NULL,
							 &redtrack_enabled,
							 true,
							 PGC_SIGHUP,
							 0,
							 NULL, NULL, NULL);

	DefineCustomStringVariable("redtrack.s3_bucket",
							   "S3 bucket that receives exported files.",
							   NULL,
							   &redtrack_s3_bucket,
							   "",
							   PGC_SUSET,
							   0,
							   NULL, NULL, NULL);

	DefineCustomStringVariable("redtrack.s3_prefix",
							   "Key prefix under which exported files are written.",
							   NULL,
							   &redtrack_s3_prefix,
							   "redtrack",
							   PGC_SUSET,
							   0,
							   NULL, NULL, NULL);

	DefineCustomStringVariable("redtrack.s3_region",
							   "AWS region of the S3 bucket (also passed to Redshift COPY).",
							   NULL,
							   &redtrack_s3_region,
							   "us-east-1",
							   PGC_SUSET,
							   0,
							   NULL, NULL, NULL);

	DefineCustomStringVariable("redtrack.s3_endpoint",
							   "Endpoint of an S3-compatible store; empty means AWS.",
							   "With a scheme of http:// the connection is not encrypted; "
							   "without a scheme https is used.",
							   &redtrack_s3_endpoint,
							   "",
							   PGC_SUSET,
							   0,
							   NULL, NULL, NULL);

	DefineCustomStringVariable("redtrack.aws_access_key_id",
							   "AWS access key id; empty means the server's AWS_ACCESS_KEY_ID.",
							   NULL,
							   &redtrack_aws_access_key_id,
							   "",
							   PGC_SUSET,
							   SECRET_FLAGS,
							   NULL, NULL, NULL);

	DefineCustomStringVariable("redtrack.aws_secret_access_key",
							   "AWS secret access key; empty means the server's AWS_SECRET_ACCESS_KEY.",
							   NULL,
							   &redtrack_aws_secret_access_key,
							   "",
							   PGC_SUSET,
							   SECRET_FLAGS,
							   NULL, NULL, NULL);

	DefineCustomStringVariable("redtrack.aws_session_token",
							   "AWS session token for temporary credentials.",
							   NULL,
							   &redtrack_aws_session_token,
							   "",
							   PGC_SUSET,
							   SECRET_FLAGS,
							   NULL, NULL, NULL);

	DefineCustomStringVariable("redtrack.redshift_conninfo",
							   "libpq connection string of the Redshift cluster.",
							   "The password may also come from a password file (.pgpass or passfile=).",
							   &redtrack_redshift_conninfo,
							   "",
							   PGC_SUSET,
							   SECRET_FLAGS,
							   NULL, NULL, NULL);

	DefineCustomStringVariable("redtrack.redshift_iam_role",
							   "IAM role ARN that Redshift COPY assumes to read S3.",
							   "When set, COPY authenticates with the role instead of the access keys.",
							   &redtrack_redshift_iam_role,
							   "",
							   PGC_SUSET,
							   0,
							   NULL, NULL, NULL);

	DefineCustomStringVariable("redtrack.loads_schema",
							   "Redshift schema holding the redtrack_loads bookkeeping table.",
							   NULL,
							   &redtrack_loads_schema,
							   "redtrack",
							   PGC_SUSET,
							   0,
							   NULL, NULL, NULL);

	DefineCustomEnumVariable("redtrack.target_dialect",
							 "Kind of warehouse the engine loads: redshift or postgres.",
							 NULL,
							 &redtrack_target_dialect,
							 REDTRACK_DIALECT_REDSHIFT,
							 dialect_options,
							 PGC_SUSET,
							 0,
							 NULL, NULL, NULL);

	DefineCustomIntVariable("redtrack.slices",
							"Number of slices of the Redshift cluster.",
							"Each export writes a multiple of this many files.",
							&redtrack_slices,
							4, 1, 1024,
							PGC_SUSET,
							0,
							NULL, NULL, NULL);

	DefineCustomIntVariable("redtrack.max_file_size",
							"Largest compressed size of one exported file.",
							NULL,
							&redtrack_max_file_size,
							256 * 1024, 64, 4 * 1024 * 1024,
							PGC_SUSET,
							GUC_UNIT_KB,
							NULL, NULL, NULL);

	DefineCustomIntVariable("redtrack.max_copy_errors",
							"Number of bad rows a Redshift COPY may skip (MAXERROR).",
							NULL,
							&redtrack_max_copy_errors,
							0, 0, 100000,
							PGC_SUSET,
							0,
							NULL, NULL, NULL);

	DefineCustomIntVariable("redtrack.max_retries",
							"Attempts at an unfinished replication before it is canceled.",
							NULL,
							&redtrack_max_retries,
							3, 0, 1000,
							PGC_SUSET,
							0,
							NULL, NULL, NULL);

	DefineCustomIntVariable("redtrack.history_cap",
							"Finished replications kept per table in redtrack.replications; 0 keeps all.",
							NULL,
							&redtrack_history_cap,
							1000, 0, PG_INT32_MAX,
							PGC_SUSET,
							0,
							NULL, NULL, NULL);

	DefineCustomBoolVariable("redtrack.delete_s3_files_after_import",
							 "Delete a replication's S3 files once Redshift has loaded them.",
							 NULL,
							 &redtrack_delete_s3_files_after_import,
							 false,
							 PGC_SUSET,
							 0,
							 NULL, NULL, NULL);

	DefineCustomIntVariable("redtrack.watermark_margin",
							"Allowance for clock skew between the writers of a timed replication field and the database.",
							"Changes stamped up to this long before the oldest open transaction began are sent again.",
							&redtrack_watermark_margin,
							2000, 0, 24 * 3600 * 1000,
							PGC_SUSET,
							GUC_UNIT_MS,
							NULL, NULL, NULL);

	DefineCustomEnumVariable("redtrack.compression",
							 "Compression of exported files: zstd, gzip or none.",
							 "Files are named .csv.zst, .csv.gz or .csv; a replication is loaded with the format it was exported with.",
							 &redtrack_compression,
							 COMPRESS_ZSTD,
							 compression_options,
							 PGC_SUSET,
							 0,
							 NULL, NULL, NULL);

	DefineCustomIntVariable("redtrack.compression_level",
							"Compression level of exported files (1 fastest, 9 smallest).",
							"The level of the codec redtrack.compression names (zstd or gzip).",
							&redtrack_compression_level,
							1, 1, 9,
							PGC_SUSET,
							0,
							NULL, NULL, NULL);

	DefineCustomBoolVariable("redtrack.notify",
							 "Send NOTIFY redtrack with each finished run's outcome.",
							 "Any role that can connect may LISTEN on the channel: payloads carry table names and counts, never error text.",
							 &redtrack_notify,
							 true,
							 PGC_SUSET,
							 0,
							 NULL, NULL, NULL);

	DefineCustomIntVariable("redtrack.cdc_max_retained_wal",
							"WAL the cdc slot may retain before each run warns.",
							"0 turns the warning off.",
							&redtrack_cdc_max_retained_wal,
							1024, 0, INT_MAX,
							PGC_SIGHUP,
							GUC_UNIT_MB,
							NULL, NULL, NULL);

	DefineCustomStringVariable("redtrack.cdc_fault",
							   "Test hook: where a cdc run kills its own process.",
							   "kill_after_commit: between the warehouse's COMMIT and the slot's advance; "
							   "kill_while_decoding: after 50 decoded changes.",
							   &redtrack_cdc_fault,
							   "",
							   PGC_SUSET,
							   GUC_NO_SHOW_ALL | GUC_NOT_IN_SAMPLE,
							   NULL, NULL, NULL);
}
