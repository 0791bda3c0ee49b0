/*-------------------------------------------------------------------------
 *
 * engine.h
 *	  One replication run of one table, start to finish, whoever asked
 *	  for it (the scheduler or an SQL function's engine worker).
 *
 * Runs in a background worker process, outside any transaction: it opens
 * and commits its own short transactions.  A failure is recorded on the
 * table's replication and returned; it never stops the caller's next
 * table.
 *
 *-------------------------------------------------------------------------
 */
#ifndef REDTRACK_ENGINE_H
#define REDTRACK_ENGINE_H

typedef enum EngineMode
{
	ENGINE_REPLICATE,			/* export + upload + import */
	ENGINE_EXPORT,				/* up to 'uploaded' */
	ENGINE_IMPORT				/* an uploaded replication into the warehouse */
} EngineMode;

#define OUTCOME_STATE_LEN 16
#define OUTCOME_ERROR_LEN 2048

typedef struct TableOutcome
{
	Oid			relid;
	int64		replication_id; /* 0: none */
	char		state[OUTCOME_STATE_LEN];	/* "" when skipped */
	int64		rows;
	bool		skipped;		/* another run holds the table */
	bool		not_registered;
	int64		truncated_values;	/* values cut to the target's length */
	int64		clamped_values; /* values out of the target's range, replaced */
	int			sqlstate;		/* of the error, 0 on success */
	char		error[OUTCOME_ERROR_LEN];	/* redacted; "" on success */
	char		warning[OUTCOME_ERROR_LEN]; /* for the caller too; "" if none */
} TableOutcome;

/* The advisory lock key space: pg_advisory_lock(REDTRACK_LOCK_CLASS, relid). */
#define REDTRACK_LOCK_CLASS 1920234084	/* 0x72747264, "rtrd"; decimal for SQL text */

/* Session settings every engine process exports and loads with. */
extern void engine_session_setup(void);

extern void engine_run_table(Oid relid, EngineMode mode, bool wait_for_lock,
							 TableOutcome *outcome);

/*
 * Several tables, one outcome each: the tables of a strategy that runs per
 * database (Strategy.run_group) in one call of it, the others one by one.
 */
extern void engine_run_tables(Oid *relids, int n, EngineMode mode, bool wait_for_lock,
							  TableOutcome *outcomes);

#endif							/* REDTRACK_ENGINE_H */
