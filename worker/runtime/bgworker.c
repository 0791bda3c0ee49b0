/*-------------------------------------------------------------------------
 *
 * bgworker.c
 *	  redtrack's background workers, described in one place (bgworker.h).
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "bgworker.h"

void
redtrack_describe_worker(BackgroundWorker *worker, const char *function_name,
						 const char *type, int restart_seconds)
{
	memset(worker, 0, sizeof(*worker));
	worker->bgw_flags =
		BGWORKER_SHMEM_ACCESS | BGWORKER_BACKEND_DATABASE_CONNECTION;
	worker->bgw_start_time = BgWorkerStart_RecoveryFinished;
	worker->bgw_restart_time = restart_seconds;
	strlcpy(worker->bgw_library_name, "redtrack", BGW_MAXLEN);
	strlcpy(worker->bgw_function_name, function_name, BGW_MAXLEN);
	strlcpy(worker->bgw_name, type, BGW_MAXLEN);
	strlcpy(worker->bgw_type, type, BGW_MAXLEN);
}
