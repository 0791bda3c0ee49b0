/*-------------------------------------------------------------------------
 *
 * export.h
 *	  The source half of a replication: rows and deleted keys of one
 *	  snapshot, as gzip CSV parts and manifests on S3.
 *
 *-------------------------------------------------------------------------
 */
#ifndef REDTRACK_EXPORT_H
#define REDTRACK_EXPORT_H

#include "redshift.h"
#include "registry.h"
#include "s3.h"
#include "state.h"

/*
 * What the import needs to know about the export's columns: the target
 * columns loaded, and the key columns of the deletes file.
 */
typedef struct ExportLayout
{
	List	   *columns;		/* of ColumnMap * */
	List	   *key_columns;	/* of ColumnMap *, subset of columns */
	char	   *replication_field_target;	/* its name on the target, or NULL */
	bool		target_exists;
	bool		target_rebuilt; /* the target was gone: every row is sent */
} ExportLayout;

/*
 * Export (or re-export, with the stored window) one replication.  Runs its
 * own transactions; must be called outside one.  Returns with the
 * replication 'uploaded', or 'exported' with nothing to load (no rows, no
 * deletes, no TRUNCATE, not a full replication).  *conn is connected on
 * demand and left open for the import.
 */
extern void export_replication(Replicable *r, Replication *rep, S3Settings *s3,
							   RedshiftConn **conn, ExportLayout *layout);

/* Whether an exported replication has anything to load. */
extern bool export_has_work(Replicable *r, Replication *rep);

/*
 * The column layout for loading a replication exported earlier (a retry of
 * its import in a new run).
 */
extern void export_layout(Replicable *r, RedshiftConn *conn, ExportLayout *layout);

/* Delete the files of a replication and abort its unfinished uploads. */
extern void export_remove_files(S3Settings *s3, const char *key_prefix);

/* cdc (issue 13): write the manifest of a finished pipeline's files. */
#include "pipeline.h"
extern void export_put_manifest(S3Settings *s3, const char *key, Pipeline *p);

#endif							/* REDTRACK_EXPORT_H */
