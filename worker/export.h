/*-------------------------------------------------------------------------
 *
 * export.h
 *	  The source half of a replication: rows and deleted keys of one
 *	  snapshot, as gzip CSV parts and manifests on S3.
 *
 * engine.c drives an export in steps, each in the transaction it says:
 *
 *	 export_begin			outside a transaction
 *	 export_read_horizon	a transaction of its own (if export_needs_horizon)
 *	 export_scan			the export's REPEATABLE READ transaction, SPI
 *	 export_stream			  connected; then state_record_export, commit
 *	 export_put_manifests	outside a transaction
 *	 export_end				always, also on error (stops the threads)
 *
 * When export_scan finds work and the layout is not prepared yet, the
 * engine ends that transaction without committing, prepares the target
 * on the warehouse (and the layout, export_layout), and scans again in a
 * new snapshot: nothing here talks to the warehouse, least of all inside
 * the snapshot.
 *
 *-------------------------------------------------------------------------
 */
#ifndef REDTRACK_EXPORT_H
#define REDTRACK_EXPORT_H

#include "pipeline.h"
#include "registry.h"
#include "s3.h"
#include "state.h"
#include "target.h"

/*
 * What the import needs to know about the export's columns: the target
 * columns loaded, and the key columns of the deletes file.
 */
typedef struct ExportLayout
{
	bool		prepared;		/* computed against the target, this run */
	bool		target_dropped; /* a loaded windowed table's target is gone */
	List	   *columns;		/* of ColumnMap * */
	List	   *key_columns;	/* of ColumnMap *, subset of columns */
	char	   *replication_field_target;	/* its name on the target, or NULL */
	bool		target_exists;
	bool		target_rebuilt; /* the target was gone: every row is sent */
} ExportLayout;

typedef struct ExportRun ExportRun;

/* Its S3 key (kept if stored), and a clean prefix for a retry. */
extern ExportRun *export_begin(Replicable *r, Replication *rep, S3Settings *s3);
extern bool export_needs_horizon(ExportRun *run);
extern void export_read_horizon(ExportRun *run);

/*
 * The window's upper bound, the delete records taken, whether the source
 * has rows: whether the replication sends anything to the warehouse.  A
 * retry after 'exported' keeps its stored window and records.
 */
extern bool export_scan(ExportRun *run, ExportLayout *layout);

/* Stream what export_scan found (if work) and fill in the replication. */
extern void export_stream(ExportRun *run, ExportLayout *layout, bool work);

extern void export_put_manifests(ExportRun *run);
extern void export_end(ExportRun *run);

/* Whether an exported replication has anything to load. */
extern bool export_has_work(Replicable *r, Replication *rep);

/*
 * The columns that travel, against the target as prepared (reads the
 * source's catalogs: call in a transaction).
 */
extern void export_layout(Replicable *r, TargetTable *target, ExportLayout *layout);

/* Delete the files of a replication and abort its unfinished uploads. */
extern void export_remove_files(S3Settings *s3, const char *key_prefix);
extern void export_remove_files_or_warn(S3Settings *s3, const char *key_prefix,
										const char *what);

/*
 * For every export through the pipeline (also rrr_export_query): its
 * wait_check, and a pipeline failure as an ERROR after letting a pending
 * interrupt in.
 */
extern bool export_backend_interrupted(void *arg);
extern void export_report_pipeline_failure(Pipeline *p) pg_attribute_noreturn();

/* The manifest of a finished pipeline's files (cdc uploads through one). */
extern void export_put_manifest(S3Settings *s3, const char *key, Pipeline *p);

#endif							/* REDTRACK_EXPORT_H */
