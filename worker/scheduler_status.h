/*-------------------------------------------------------------------------
 *
 * scheduler_status.h
 *	  What the scheduler last did: filled by worker/scheduler.c, published
 *	  in shared memory (shmem.h) for redtrack.worker and redtrack.status.
 *
 *-------------------------------------------------------------------------
 */
#ifndef REDTRACK_SCHEDULER_STATUS_H
#define REDTRACK_SCHEDULER_STATUS_H

#include "datatype/timestamp.h"

typedef struct SchedulerStatus
{
	pid_t		pid;			/* 0: not running */
	TimestampTz started_at;
	TimestampTz run_started_at;
	TimestampTz run_finished_at;
	TimestampTz next_run_at;
	int			tables_run;
	int			tables_failed;
	char		error[512];		/* a problem with the whole run, or "" */
} SchedulerStatus;

#endif							/* REDTRACK_SCHEDULER_STATUS_H */
