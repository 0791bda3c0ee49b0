/*-------------------------------------------------------------------------
 *
 * bgworker.h
 *	  redtrack's background workers, described in one place.
 *
 * Both kinds (the scheduler, started by the postmaster and restarted after
 * a crash, and the engine workers that SQL calls start and wait for) live
 * in the library "redtrack", connect to a database and use shared memory,
 * and start once recovery has finished.
 *
 *-------------------------------------------------------------------------
 */
#ifndef REDTRACK_BGWORKER_H
#define REDTRACK_BGWORKER_H

#include "postmaster/bgworker.h"

/*
 * A worker whose main is function_name in the library, of the given type
 * (also its name, until the caller sets another), restarted after
 * restart_seconds or BGW_NEVER_RESTART.
 */
extern void redtrack_describe_worker(BackgroundWorker *worker,
									 const char *function_name,
									 const char *type, int restart_seconds);

#endif							/* REDTRACK_BGWORKER_H */
