/*-------------------------------------------------------------------------
 *
 * launcher.h
 *	  Running the engine on behalf of an SQL function.
 *
 * A replication commits its state at every step, so it cannot run inside
 * the caller's transaction.  rrr_replicate and friends start an engine
 * worker (a dynamic background worker), hand it the tables, the caller's
 * redtrack.* settings and a place for the outcomes in dynamic shared
 * memory, and wait.  Cancelling the caller terminates the worker.
 *
 *-------------------------------------------------------------------------
 */
#ifndef REDTRACK_LAUNCHER_H
#define REDTRACK_LAUNCHER_H

#include "engine.h"

/* Outcomes, one per table, in order (palloc'd). */
extern TableOutcome *redtrack_run_engine(const Oid *relids, int ntables, EngineMode mode);

extern PGDLLEXPORT void redtrack_engine_main(Datum main_arg);

#endif							/* REDTRACK_LAUNCHER_H */
