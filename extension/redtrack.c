/*-------------------------------------------------------------------------
 *
 * redtrack.c
 *	  Module entry point: configuration parameters, shared memory and the
 *	  background worker.
 *
 * redtrack works without shared_preload_libraries: the SQL functions then
 * run replications in worker processes started on demand.  Only the
 * scheduled background worker (and the progress view, which lives in
 * shared memory) needs preloading.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "fmgr.h"
#include "miscadmin.h"
#include "postmaster/bgworker.h"
#include "utils/guc.h"

#include "guc.h"
#include "log_guard.h"
#include "scheduler.h"
#include "shmem.h"

PG_MODULE_MAGIC;

void		_PG_init(void);

void
_PG_init(void)
{
	/* pg_upgrade loads libraries only to check them; start nothing. */
	if (IsBinaryUpgrade)
		return;

	redtrack_define_gucs();
	MarkGUCPrefixReserved("redtrack");
	redtrack_install_log_guard();

	if (!process_shared_preload_libraries_in_progress)
		return;

	redtrack_shmem_install_hooks();
	redtrack_register_scheduler();
}
