/*-------------------------------------------------------------------------
 *
 * scheduler.c
 *	  The "redtrack replicator" background worker.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "miscadmin.h"
#include "pgstat.h"
#include "postmaster/bgworker.h"
#include "postmaster/interrupt.h"
#include "storage/ipc.h"
#include "storage/latch.h"
#include "tcop/tcopprot.h"
#include "utils/guc.h"

#include "guc.h"
#include "scheduler.h"
#include "shmem.h"

/* After a crash the postmaster starts the worker again this much later. */
#define SCHEDULER_RESTART_SECONDS 10

void
redtrack_register_scheduler(void)
{
	BackgroundWorker worker;

	memset(&worker, 0, sizeof(worker));
	worker.bgw_flags = BGWORKER_SHMEM_ACCESS | BGWORKER_BACKEND_DATABASE_CONNECTION;
	worker.bgw_start_time = BgWorkerStart_RecoveryFinished;
	worker.bgw_restart_time = SCHEDULER_RESTART_SECONDS;
	strlcpy(worker.bgw_library_name, "redtrack", BGW_MAXLEN);
	strlcpy(worker.bgw_function_name, "redtrack_scheduler_main", BGW_MAXLEN);
	strlcpy(worker.bgw_name, "redtrack replicator", BGW_MAXLEN);
	strlcpy(worker.bgw_type, "redtrack replicator", BGW_MAXLEN);
	RegisterBackgroundWorker(&worker);
}

void
redtrack_scheduler_main(Datum main_arg)
{
	pqsignal(SIGHUP, SignalHandlerForConfigReload);
	pqsignal(SIGTERM, die);
	BackgroundWorkerUnblockSignals();

	BackgroundWorkerInitializeConnection(redtrack_database, NULL, 0);
	redtrack_scheduler_attach();

	for (;;)
	{
		(void) WaitLatch(MyLatch,
						 WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH,
						 redtrack_naptime * 1000L,
						 PG_WAIT_EXTENSION);
		ResetLatch(MyLatch);
		CHECK_FOR_INTERRUPTS();

		if (ConfigReloadPending)
		{
			ConfigReloadPending = false;
			ProcessConfigFile(PGC_SIGHUP);
		}
	}
}
