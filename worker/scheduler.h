/*-------------------------------------------------------------------------
 *
 * scheduler.h
 *	  The background worker that replicates registered tables on the
 *	  schedule set in postgresql.conf.
 *
 *-------------------------------------------------------------------------
 */
#ifndef REDTRACK_SCHEDULER_H
#define REDTRACK_SCHEDULER_H

extern void redtrack_register_scheduler(void);

extern PGDLLEXPORT void redtrack_scheduler_main(Datum main_arg);

#endif							/* REDTRACK_SCHEDULER_H */
