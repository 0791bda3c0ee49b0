/*-------------------------------------------------------------------------
 *
 * state.h
 *	  The replication state machine as stored in redtrack.replications.
 *
 *	  exporting -> exported -> uploading -> uploaded -> importing -> imported
 *	  any of them -> failed (failed_phase says where)  -> retried, or
 *	  canceled after redtrack.max_retries
 *
 * Every function here runs in the caller's transaction, with SPI, as the
 * extension owner; the engine decides where transactions begin and end.
 * state_flush_wal makes all of it durable before a load: the warehouse
 * must never hold a load that the source's state could lose in a crash.
 * The outcomes (imported, failed, canceled) commit synchronously.
 *
 *-------------------------------------------------------------------------
 */
#ifndef REDTRACK_STATE_H
#define REDTRACK_STATE_H

#include "datatype/timestamp.h"
#include "nodes/pg_list.h"

#include "registry.h"

typedef struct Replication
{
	int64		id;
	Oid			relid;
	char	   *target;
	char	   *strategy;
	char	   *state;
	char	   *failed_phase;
	char	   *window_first;	/* inclusive bounds, text; NULL = unbounded */
	char	   *window_last;
	char	   *next_first;
	TimestampTz horizon;		/* 0 when unknown */
	TimestampTz snapshot_at;
	bool		carries_truncate;
	int64		rows;
	int64		deletes;
	int64		bytes;
	int64		raw_bytes;
	int			files;
	int64		truncated_values;
	int64		clamped_values;
	char	   *s3_key;			/* "prefix/target/42/" */
	List	   *target_columns;	/* column names in the files, target's names */
	List	   *target_keys;	/* key columns, target's names */
	char	   *target_order;	/* replication field on the target, or NULL */
	char	   *queue_ids;		/* queue strategy: the event ids sent (int8multirange) */
	char	   *installation;	/* identity of the installation that created it
								 * (uuid text); NULL: created by redtrack 0.4 */
	int			retries;
	char	   *error;
	double		export_seconds;
	double		upload_seconds;
	double		import_seconds;
} Replication;

/* The phase a replication is in, failed ones included. */
extern const char *replication_phase(Replication *rep);
extern bool replication_is_finished(Replication *rep);
extern bool replication_needs_export(Replication *rep);

extern Replication *state_latest(Oid relid);
extern Replication *state_get(int64 id);
extern Replication *state_create(Replicable *r, const char *window_first);

/* Whether any replication of the table was imported (since registration). */
extern bool state_has_imported(Oid relid);

/* The lower bound for the next replication of a table (NULL: everything). */
extern char *state_watermark(Replicable *r);

/* Resume a failed or interrupted replication: retries + 1, error cleared. */
extern void state_resume(Replication *rep, const char *state);
extern void state_set(Replication *rep, const char *state);
extern void state_record_export(Replication *rep);
extern void state_record_upload(Replication *rep);
extern void state_record_failure(int64 id, const char *phase, const char *error);
extern void state_cancel(Replication *rep, const char *reason);
extern void state_mark_imported(Replication *rep, Replicable *r, int64 rows_loaded);

/*
 * Flush the WAL written so far (outside a transaction too): before a load,
 * so that neither what the export saw nor the replication's row and id can
 * be lost by a crash of the source, whatever synchronous_commit says.
 */
extern void state_flush_wal(void);

/* Keep at most cap finished replications of a table, and the watermark. */
extern void state_cap_history(Oid relid, int cap);

/* NOTIFY redtrack, '{"table": ..., "replication_id": ..., ...}'. */
extern void state_notify(Replication *rep, const char *source_name);

/* The prefix a replication's files go under. */
extern char *state_s3_key(const char *s3_prefix, const char *target, int64 id);

#endif							/* REDTRACK_STATE_H */
