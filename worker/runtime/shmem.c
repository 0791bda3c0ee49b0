/*-------------------------------------------------------------------------
 *
 * shmem.c
 *	  Shared memory for the scheduler's latch and for progress reporting.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "funcapi.h"
#include "miscadmin.h"
#include "port/atomics.h"
#include "storage/ipc.h"
#include "storage/latch.h"
#include "storage/proc.h"
#include "storage/shmem.h"
#include "storage/spin.h"
#include "utils/builtins.h"
#include "utils/timestamp.h"

#include "guc.h"
#include "ownership.h"
#include "shmem.h"

PG_FUNCTION_INFO_V1(redtrack_progress);
PG_FUNCTION_INFO_V1(rrr_wake);
PG_FUNCTION_INFO_V1(redtrack_worker_status);

/* More replications than this in flight at once are not shown. */
#define PROGRESS_SLOTS 64
#define PHASE_LEN 16

typedef struct ProgressSlot
{
	pid_t		pid;			/* 0: free */
	Oid			dboid;
	Oid			relid;
	pg_atomic_uint64 replication_id;
	char		phase[PHASE_LEN];
	TimestampTz started_at;
	TimestampTz phase_started_at;
	pg_atomic_uint64 rows;
	pg_atomic_uint64 raw_bytes;
	pg_atomic_uint64 bytes;
	pg_atomic_uint32 files;
} ProgressSlot;

typedef struct RedtrackShared
{
	slock_t		mutex;
	pid_t		scheduler_pid;
	Latch	   *scheduler_latch;
	bool		wake_requested;
	SchedulerStatus scheduler;
	ProgressSlot slots[PROGRESS_SLOTS];
} RedtrackShared;

static RedtrackShared *shared = NULL;
static ProgressSlot *my_slot = NULL;

static shmem_request_hook_type prev_shmem_request_hook = NULL;
static shmem_startup_hook_type prev_shmem_startup_hook = NULL;

static void
shmem_request(void)
{
	if (prev_shmem_request_hook)
		prev_shmem_request_hook();
	RequestAddinShmemSpace(MAXALIGN(sizeof(RedtrackShared)));
}

static void
shmem_startup(void)
{
	bool		found;

	if (prev_shmem_startup_hook)
		prev_shmem_startup_hook();

	LWLockAcquire(AddinShmemInitLock, LW_EXCLUSIVE);
	shared = ShmemInitStruct("redtrack", sizeof(RedtrackShared), &found);
	if (!found)
	{
		memset(shared, 0, sizeof(RedtrackShared));
		SpinLockInit(&shared->mutex);
		for (int i = 0; i < PROGRESS_SLOTS; i++)
		{
			pg_atomic_init_u64(&shared->slots[i].replication_id, 0);
			pg_atomic_init_u64(&shared->slots[i].rows, 0);
			pg_atomic_init_u64(&shared->slots[i].raw_bytes, 0);
			pg_atomic_init_u64(&shared->slots[i].bytes, 0);
			pg_atomic_init_u32(&shared->slots[i].files, 0);
		}
	}
	LWLockRelease(AddinShmemInitLock);
}

void
redtrack_shmem_install_hooks(void)
{
	prev_shmem_request_hook = shmem_request_hook;
	shmem_request_hook = shmem_request;
	prev_shmem_startup_hook = shmem_startup_hook;
	shmem_startup_hook = shmem_startup;
}

bool
redtrack_shmem_available(void)
{
	return shared != NULL;
}

/* ----------------------------------------------------------------
 * Scheduler latch
 * ----------------------------------------------------------------
 */

static void
scheduler_detach(int code, Datum arg)
{
	SpinLockAcquire(&shared->mutex);
	if (shared->scheduler_pid == MyProcPid)
	{
		shared->scheduler_pid = 0;
		shared->scheduler_latch = NULL;
		shared->scheduler.pid = 0;
	}
	SpinLockRelease(&shared->mutex);
}

void
redtrack_scheduler_attach(void)
{
	if (shared == NULL)
		return;
	SpinLockAcquire(&shared->mutex);
	shared->scheduler_pid = MyProcPid;
	shared->scheduler_latch = MyLatch;
	SpinLockRelease(&shared->mutex);
	before_shmem_exit(scheduler_detach, (Datum) 0);
}

/* Ask the scheduler for a run now; false if there is no scheduler. */
bool
redtrack_scheduler_wake(void)
{
	Latch	   *latch = NULL;

	if (shared == NULL)
		return false;
	SpinLockAcquire(&shared->mutex);
	if (shared->scheduler_pid != 0)
	{
		shared->wake_requested = true;
		latch = shared->scheduler_latch;
	}
	SpinLockRelease(&shared->mutex);
	if (latch == NULL)
		return false;
	SetLatch(latch);
	return true;
}

void
redtrack_scheduler_report(const SchedulerStatus *status)
{
	if (shared == NULL)
		return;
	SpinLockAcquire(&shared->mutex);
	shared->scheduler = *status;
	SpinLockRelease(&shared->mutex);
}

/*
 * redtrack.worker: the scheduler of this server, if it works for this
 * database.
 */
Datum
redtrack_worker_status(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	SchedulerStatus status;
	Datum		values[9];
	bool		nulls[9] = {0};

	InitMaterializedSRF(fcinfo, 0);
	if (shared == NULL)
		return (Datum) 0;
	SpinLockAcquire(&shared->mutex);
	status = shared->scheduler;
	SpinLockRelease(&shared->mutex);
	if (status.pid == 0)
		return (Datum) 0;

	values[0] = Int32GetDatum(status.pid);
	values[1] = TimestampTzGetDatum(status.started_at);
	values[2] = TimestampTzGetDatum(status.run_started_at);
	nulls[2] = (status.run_started_at == 0);
	values[3] = TimestampTzGetDatum(status.run_finished_at);
	nulls[3] = (status.run_finished_at == 0);
	values[4] = TimestampTzGetDatum(status.next_run_at);
	nulls[4] = (status.next_run_at == 0);
	values[5] = Int32GetDatum(status.tables_run);
	values[6] = Int32GetDatum(status.tables_failed);
	values[7] = CStringGetTextDatum(status.error);
	nulls[7] = (status.error[0] == '\0');
	values[8] = CStringGetTextDatum(redtrack_database ? redtrack_database : "");
	tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	return (Datum) 0;
}

bool
redtrack_scheduler_take_wake_request(void)
{
	bool		requested;

	if (shared == NULL)
		return false;
	SpinLockAcquire(&shared->mutex);
	requested = shared->wake_requested;
	shared->wake_requested = false;
	SpinLockRelease(&shared->mutex);
	return requested;
}

Datum
rrr_wake(PG_FUNCTION_ARGS)
{
	redtrack_require_admin("wake the redtrack worker");
	if (!redtrack_scheduler_wake())
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("the redtrack background worker is not running"),
				 errhint("Add redtrack to shared_preload_libraries, set redtrack.enabled = on "
						 "and redtrack.database to this database, then restart the server.")));
	PG_RETURN_BOOL(true);
}

/* ----------------------------------------------------------------
 * Progress
 * ----------------------------------------------------------------
 */

static void
progress_release(int code, Datum arg)
{
	redtrack_progress_end();
}

void
redtrack_progress_begin(Oid relid, int64 replication_id, const char *phase)
{
	static bool exit_hook_registered = false;

	if (shared == NULL)
		return;
	redtrack_progress_end();

	SpinLockAcquire(&shared->mutex);
	for (int i = 0; i < PROGRESS_SLOTS; i++)
	{
		if (shared->slots[i].pid == 0)
		{
			my_slot = &shared->slots[i];
			my_slot->pid = MyProcPid;
			break;
		}
	}
	SpinLockRelease(&shared->mutex);
	if (my_slot == NULL)
		return;

	if (!exit_hook_registered)
	{
		before_shmem_exit(progress_release, (Datum) 0);
		exit_hook_registered = true;
	}
	my_slot->dboid = MyDatabaseId;
	my_slot->relid = relid;
	pg_atomic_write_u64(&my_slot->replication_id, (uint64) replication_id);
	pg_atomic_write_u64(&my_slot->rows, 0);
	pg_atomic_write_u64(&my_slot->raw_bytes, 0);
	pg_atomic_write_u64(&my_slot->bytes, 0);
	pg_atomic_write_u32(&my_slot->files, 0);
	my_slot->started_at = GetCurrentTimestamp();
	redtrack_progress_phase(phase);
}

void
redtrack_progress_phase(const char *phase)
{
	if (my_slot == NULL)
		return;
	SpinLockAcquire(&shared->mutex);
	strlcpy(my_slot->phase, phase, PHASE_LEN);
	my_slot->phase_started_at = GetCurrentTimestamp();
	SpinLockRelease(&shared->mutex);
}

void
redtrack_progress_set_replication(int64 replication_id)
{
	if (my_slot != NULL)
		pg_atomic_write_u64(&my_slot->replication_id, (uint64) replication_id);
}

void
redtrack_progress_count(int64 rows, int64 raw_bytes)
{
	if (my_slot == NULL)
		return;
	pg_atomic_write_u64(&my_slot->rows, (uint64) rows);
	pg_atomic_write_u64(&my_slot->raw_bytes, (uint64) raw_bytes);
}

void
redtrack_progress_uploaded(int64 bytes, int files)
{
	if (my_slot == NULL)
		return;
	pg_atomic_write_u64(&my_slot->bytes, (uint64) bytes);
	pg_atomic_write_u32(&my_slot->files, (uint32) files);
}

void
redtrack_progress_end(void)
{
	if (my_slot == NULL)
		return;
	SpinLockAcquire(&shared->mutex);
	my_slot->pid = 0;
	SpinLockRelease(&shared->mutex);
	my_slot = NULL;
}

/*
 * redtrack.progress(): one row per replication in flight in this database.
 */
Datum
redtrack_progress(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;

	InitMaterializedSRF(fcinfo, 0);
	if (shared == NULL)
		return (Datum) 0;

	for (int i = 0; i < PROGRESS_SLOTS; i++)
	{
		ProgressSlot *slot = &shared->slots[i];
		ProgressSlot copy;
		Datum		values[10];
		bool		nulls[10] = {0};

		SpinLockAcquire(&shared->mutex);
		copy.pid = slot->pid;
		copy.dboid = slot->dboid;
		copy.relid = slot->relid;
		memcpy(copy.phase, slot->phase, PHASE_LEN);
		copy.started_at = slot->started_at;
		copy.phase_started_at = slot->phase_started_at;
		SpinLockRelease(&shared->mutex);

		if (copy.pid == 0 || copy.dboid != MyDatabaseId)
			continue;

		values[0] = Int32GetDatum(copy.pid);
		values[1] = ObjectIdGetDatum(copy.relid);
		values[2] = Int64GetDatum((int64) pg_atomic_read_u64(&slot->replication_id));
		nulls[2] = (DatumGetInt64(values[2]) == 0);
		values[3] = CStringGetTextDatum(copy.phase);
		values[4] = Int64GetDatum((int64) pg_atomic_read_u64(&slot->rows));
		values[5] = Int64GetDatum((int64) pg_atomic_read_u64(&slot->raw_bytes));
		values[6] = Int64GetDatum((int64) pg_atomic_read_u64(&slot->bytes));
		values[7] = Int32GetDatum((int32) pg_atomic_read_u32(&slot->files));
		values[8] = TimestampTzGetDatum(copy.started_at);
		values[9] = TimestampTzGetDatum(copy.phase_started_at);
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}
	return (Datum) 0;
}
