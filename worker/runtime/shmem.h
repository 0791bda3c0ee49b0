/*-------------------------------------------------------------------------
 *
 * shmem.h
 *	  redtrack's shared memory: the scheduler's latch (so rrr_wake can
 *	  start a run now) and the progress of replications in flight.
 *
 * Shared memory exists only when redtrack is in shared_preload_libraries;
 * without it, progress is simply not published and rrr_wake reports that
 * there is no worker to wake.
 *
 *-------------------------------------------------------------------------
 */
#ifndef REDTRACK_SHMEM_H
#define REDTRACK_SHMEM_H

#include "datatype/timestamp.h"

#include "scheduler_status.h"

extern void redtrack_shmem_install_hooks(void);
extern bool redtrack_shmem_available(void);

/* The scheduler's status (scheduler_status.h), published for everyone. */
extern void redtrack_scheduler_report(const SchedulerStatus *status);

/* The scheduler publishes its latch and clears it on exit. */
extern void redtrack_scheduler_attach(void);
extern bool redtrack_scheduler_wake(void);
extern bool redtrack_scheduler_take_wake_request(void);

/*
 * Progress of the replication this process is running.  Counters are
 * written only by the owning process and read by anyone.
 */
extern void redtrack_progress_begin(Oid relid, int64 replication_id, const char *phase);
extern void redtrack_progress_phase(const char *phase);
extern void redtrack_progress_set_replication(int64 replication_id);
extern void redtrack_progress_count(int64 rows, int64 raw_bytes);
extern void redtrack_progress_uploaded(int64 bytes, int files);
extern void redtrack_progress_end(void);

#endif							/* REDTRACK_SHMEM_H */
