/*-------------------------------------------------------------------------
 *
 * state.h
 *	  The one owner of redtrack's own tables on the replication path:
 *	  redtrack.replications (the state machine), redtrack.deleted_records
 *	  (claimed, counted, read and given back here) and the watermark
 *	  columns of redtrack.replicables.  No other module of the replication
 *	  path issues SQL against them.
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

/*
 * The states of a replication, in the order a run goes through them: the
 * first six are its phases, and their order is what "before uploaded"
 * means.  Their text (state_name) is what redtrack.replications stores.
 */
typedef enum ReplicationState
{
	RS_NONE = -1,				/* no state: a failed_phase that is NULL */
	RS_EXPORTING = 0,
	RS_EXPORTED,
	RS_UPLOADING,
	RS_UPLOADED,
	RS_IMPORTING,
	RS_IMPORTED,
	RS_FAILED,
	RS_CANCELED
} ReplicationState;

/* The one text form of each state, and back (RS_NONE for NULL). */
extern const char *state_name(ReplicationState state);
extern ReplicationState state_from_name(const char *name);

typedef struct Replication
{
	int64		id;
	Oid			relid;
	char	   *target;
	char	   *strategy;
	ReplicationState state;
	ReplicationState failed_phase;	/* RS_NONE unless failed */
	char	   *window_first;	/* inclusive bounds, text; NULL = unbounded */
	char	   *window_last;
	char	   *next_first;
	TimestampTz horizon;		/* 0 when unknown */
	TimestampTz snapshot_at;
	bool		carries_truncate;
	int64		rows;
	int64		rows_loaded;	/* what this run's load inserted (not stored) */
	int64		deletes;
	int64		bytes;
	int64		raw_bytes;
	int			files;
	int64		truncated_values;
	int64		clamped_values;
	char	   *s3_key;			/* "prefix/target/42/", as stored */
	List	   *target_columns;	/* column names in the files, target's names */
	List	   *target_keys;	/* key columns, target's names */
	char	   *target_order;	/* replication field on the target, or NULL */
	char	   *queue_ids;		/* the row ids a strategy collected (int8multirange) */
	char	   *installation;	/* identity of the installation that created it
								 * (uuid text); NULL: created by redtrack 0.4 */
	int			retries;
	char	   *error;
	double		export_seconds;
	double		upload_seconds;
	double		import_seconds;
} Replication;

/* The phase a replication is in, failed ones included. */
extern ReplicationState replication_phase(Replication *rep);
extern bool replication_is_finished(Replication *rep);
extern bool replication_needs_export(Replication *rep);

/* ----------------------------------------------------------------
 * redtrack.replications
 * ----------------------------------------------------------------
 */

extern Replication *state_latest(Oid relid);
extern Replication *state_create(Replicable *r, const char *window_first);

/* Whether any replication of the table was imported (since registration). */
extern bool state_has_imported(Oid relid);

/* The lower bound for the next replication of a table (NULL: everything). */
extern char *state_watermark(Replicable *r);

/*
 * The largest window_last (as numeric text) of the table's imported
 * replications since its watermark epoch whose snapshot was taken no later
 * than snapshot_limit; NULL if none.  For integer watermarks.
 */
extern char *state_imported_window_last(Oid relid, int64 epoch, TimestampTz snapshot_limit);

/* Resume a failed or interrupted replication: retries + 1, error cleared. */
extern void state_resume(Replication *rep, ReplicationState state);
extern void state_set(Replication *rep, ReplicationState state);
extern void state_record_export(Replication *rep);
extern void state_record_upload(Replication *rep);
extern void state_record_failure(Replication *rep, ReplicationState phase, const char *error);

/*
 * Give up on a replication: canceled, with reason as its error, and its
 * delete records back in the pool.
 */
extern void state_cancel(Replication *rep, const char *reason);

/*
 * rrr_reset: cancel the table's unfinished replication (as state_cancel)
 * and start its watermark history again.  Returns how many were canceled.
 */
extern uint64 state_reset(Oid relid, const char *reason);

/*
 * The load committed: 'imported' (synchronously), the delete records it
 * carried gone, and after a replayed TRUNCATE a new watermark epoch.  (The
 * rows the load inserted are in rep->rows_loaded for the run's outcome and
 * log; redtrack.replications records what was exported, rows.)
 */
extern void state_mark_imported(Replication *rep, Replicable *r);

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

/*
 * The prefix a new replication's files go under:
 * "<s3 prefix>/<target>/<id>/", the target as written (see state.c for
 * the few characters that are escaped).  An existing replication keeps
 * the s3_key it stored.
 */
extern char *state_s3_key(const char *s3_prefix, const char *target, int64 id);

/* ----------------------------------------------------------------
 * The scheduler's questions
 * ----------------------------------------------------------------
 */

typedef struct DueTable
{
	Oid			relid;
	TimestampTz due_at;
	char	   *strategy;		/* its registered strategy's name */
} DueTable;

/*
 * Every registered table with the time its next replication is due, in
 * registration order (see scheduler.c for the rule).  Allocated in cxt.
 */
extern List *state_due_tables(MemoryContext cxt, int64 naptime_ms, int64 max_backoff_ms);

/*
 * After a restart: replications another process left mid-way are marked
 * failed ("interrupted"), unless a live process still holds the run lock
 * (lock_class, relid) of their table.
 */
extern void state_mark_interrupted(int32 lock_class);

/* ----------------------------------------------------------------
 * redtrack.deleted_records
 * ----------------------------------------------------------------
 */

/*
 * Inside the export's snapshot: with claim_new, the table's delete
 * records not yet taken become this replication's; then rep->deletes and
 * rep->carries_truncate count what the replication carries.
 */
extern void state_claim_deletes(Replication *rep, bool claim_new);

/*
 * Call fn with the key array (text[], maybe toasted: fn detoasts it in a
 * context it resets) of each delete record the replication carries, in id
 * order, in the caller's transaction.
 */
typedef void (*DeleteKeysFn) (Datum keys, void *arg);
extern void state_foreach_delete_keys(Replication *rep, DeleteKeysFn fn, void *arg);

/*
 * How many delete records of a table are not replicated yet (taken by an
 * unfinished replication, or by none).
 */
extern int64 state_pending_delete_records(Oid relid);

/* ----------------------------------------------------------------
 * redtrack.replicables, for the modules that register tables
 * ----------------------------------------------------------------
 */

/*
 * A registration with only its source, strategy, target and registrant
 * (the rest takes the columns' defaults): the queue of a stream.
 */
extern void state_insert_registration(Oid relid, const char *strategy, const char *target,
									  const char *registered_by);

/* Unregister: the table's history and pending deletes go with it. */
extern void state_delete_registration(Oid relid);

#endif							/* REDTRACK_STATE_H */

