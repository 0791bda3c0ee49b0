/*-------------------------------------------------------------------------
 *
 * scheduler.c
 *	  The "redtrack replicator" background worker: every redtrack.naptime
 *	  it replicates each registered table that is due, one at a time, in
 *	  registration order.
 *
 * A table is due when its `every` interval (registration) has passed
 * since its last replication started, or at every run without one.  A
 * failed replication is retried with a backoff that doubles per attempt
 * (capped at 15 minutes), so an outage is neither hammered nor forgotten.
 * rrr_wake() starts a run at once in which every table is due.
 *
 * Each table runs in its own short transactions (engine.c); an ERROR in
 * one is recorded on its replication and the run goes on.  SIGHUP reloads
 * the configuration between tables; SIGTERM stops the worker within a
 * second, even mid-transfer (the engine's waits are interruptible).  After
 * a crash the postmaster starts the worker again, which first marks the
 * replications it left half done as interrupted; the next run resumes them
 * where the state machine says.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xact.h"
#include "catalog/namespace.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "postmaster/bgworker.h"
#include "postmaster/interrupt.h"
#include "storage/ipc.h"
#include "storage/latch.h"
#include "tcop/tcopprot.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/snapmgr.h"
#include "utils/timestamp.h"

#include "engine.h"
#include "guc.h"
#include "redact.h"
#include "s3.h"
#include "scheduler.h"
#include "shmem.h"
#include "spi_util.h"
#include "state.h"
#include "strategy.h"
#include "bgworker.h"

/* After a crash the postmaster starts the worker again this much later. */
#define SCHEDULER_RESTART_SECONDS 10
#define MAX_RETRY_BACKOFF_MS (15 * 60 * 1000)

void
redtrack_register_scheduler(void)
{
	BackgroundWorker worker;

	redtrack_describe_worker(&worker, "redtrack_scheduler_main", "redtrack replicator",
							 SCHEDULER_RESTART_SECONDS);
	RegisterBackgroundWorker(&worker);
}

static SchedulerStatus status;

static void
reload_configuration_if_asked(void)
{
	if (ConfigReloadPending)
	{
		ConfigReloadPending = false;
		ProcessConfigFile(PGC_SIGHUP);
	}
}

/* ----------------------------------------------------------------
 * What to run
 * ----------------------------------------------------------------
 */

static bool
extension_installed(MemoryContext cxt)
{
	bool		installed;

	engine_begin_transaction(cxt);
	installed = OidIsValid(get_namespace_oid("redtrack", true)) &&
		OidIsValid(get_relname_relid("replicables", get_namespace_oid("redtrack", true)));
	engine_commit_transaction(cxt);
	return installed;
}

/*
 * Every registered table with the time its next replication is due, in
 * registration order.
 */
static List *
due_tables(MemoryContext cxt)
{
	List	   *result;

	engine_begin_transaction(cxt);
	result = state_due_tables(cxt, (int64) redtrack_naptime * 1000, MAX_RETRY_BACKOFF_MS);
	engine_commit_transaction(cxt);
	return result;
}

/*
 * After a restart: replications another process left mid-way are marked
 * interrupted, unless a live process still runs them (it holds the lock).
 */
static void
mark_interrupted(MemoryContext cxt)
{
	engine_begin_transaction(cxt);
	state_mark_interrupted(REDTRACK_LOCK_CLASS);
	engine_commit_transaction(cxt);
}

/*
 * A problem with the whole configuration, or NULL.  Checked once per run,
 * so a missing bucket is one log line per run, not one per table.
 */
static char *
configuration_problem(MemoryContext cxt)
{
	char	   *volatile problem = NULL;

	PG_TRY();
	{
		(void) redtrack_s3_settings();
		redshift_require_conninfo();
	}
	PG_CATCH();
	{
		ErrorData  *edata;

		MemoryContextSwitchTo(cxt);
		edata = CopyErrorData();
		FlushErrorState();
		problem = edata->hint ? psprintf("%s (%s)", edata->message, edata->hint)
			: pstrdup(edata->message);
	}
	PG_END_TRY();
	return problem;
}

/* ----------------------------------------------------------------
 * The loop
 * ----------------------------------------------------------------
 */

static void
count_outcome(TableOutcome *outcome)
{
	if (outcome->skipped || outcome->not_registered)
		return;
	status.tables_run++;
	if (outcome->error[0])
		status.tables_failed++;
	redtrack_scheduler_report(&status);
}

static void
run_grouped(List *relids)
{
	int			n = list_length(relids);
	Oid		   *ids = palloc(sizeof(Oid) * n);
	TableOutcome *outcomes = palloc0(sizeof(TableOutcome) * n);

	for (int i = 0; i < n; i++)
		ids[i] = list_nth_oid(relids, i);
	engine_run_tables(ids, n, ENGINE_REPLICATE, false, outcomes);
	for (int i = 0; i < n; i++)
		count_outcome(&outcomes[i]);
}

static void
run_once(bool everything, MemoryContext cxt)
{
	List	   *tables;
	List	   *grouped = NIL;
	ListCell   *lc;
	char	   *problem;

	status.run_started_at = GetCurrentTimestamp();
	status.tables_run = 0;
	status.tables_failed = 0;
	status.error[0] = '\0';

	if (!extension_installed(cxt))
	{
		snprintf(status.error, sizeof(status.error),
				 "extension redtrack is not installed in database \"%s\"", redtrack_database);
		ereport(LOG,
				(errmsg("redtrack: %s; nothing to replicate", status.error),
				 errhint("Run CREATE EXTENSION redtrack in that database, or set redtrack.database.")));
		return;
	}
	problem = configuration_problem(cxt);
	if (problem)
	{
		strlcpy(status.error, problem, sizeof(status.error));
		ereport(LOG,
				(errmsg("redtrack: not replicating: %s", problem)));
		return;
	}

	tables = due_tables(cxt);
	foreach(lc, tables)
	{
		DueTable   *t = lfirst(lc);
		const Strategy *strategy = strategy_by_name(t->strategy);
		TableOutcome outcome;

		CHECK_FOR_INTERRUPTS();
		reload_configuration_if_asked();
		if (!redtrack_enabled)
			break;
		if (!everything && t->due_at > GetCurrentTimestamp())
			continue;
		/* A strategy that runs per database takes its due tables at the end. */
		if (strategy && strategy->run_group)
		{
			grouped = lappend_oid(grouped, t->relid);
			continue;
		}
		engine_run_table(t->relid, ENGINE_REPLICATE, false, &outcome);
		count_outcome(&outcome);
	}
	if (grouped != NIL && redtrack_enabled)
		run_grouped(grouped);
}

void
redtrack_scheduler_main(Datum main_arg)
{
	MemoryContext cxt;

	pqsignal(SIGHUP, SignalHandlerForConfigReload);
	pqsignal(SIGTERM, die);
	BackgroundWorkerUnblockSignals();

	BackgroundWorkerInitializeConnection(redtrack_database, NULL, 0);
	redtrack_scheduler_attach();
	engine_session_setup();
	cxt = AllocSetContextCreate(TopMemoryContext, "redtrack scheduler", ALLOCSET_DEFAULT_SIZES);
	MemoryContextSwitchTo(cxt);

	memset(&status, 0, sizeof(status));
	status.pid = MyProcPid;
	status.started_at = GetCurrentTimestamp();
	redtrack_scheduler_report(&status);
	ereport(LOG,
			(errmsg("redtrack replicator started for database \"%s\" (naptime %d s%s)",
					redtrack_database, redtrack_naptime,
					redtrack_enabled ? "" : ", disabled by redtrack.enabled")));

	if (extension_installed(cxt))
		mark_interrupted(cxt);

	for (;;)
	{
		bool		woken = redtrack_scheduler_take_wake_request();

		CHECK_FOR_INTERRUPTS();
		reload_configuration_if_asked();
		if (redtrack_enabled || woken)
		{
			pgstat_report_activity(STATE_RUNNING, "redtrack: replication run");
			run_once(woken, cxt);
			status.run_finished_at = GetCurrentTimestamp();
		}
		status.next_run_at = TimestampTzPlusMilliseconds(GetCurrentTimestamp(),
														 redtrack_naptime * 1000L);
		redtrack_scheduler_report(&status);
		pgstat_report_activity(STATE_IDLE, NULL);

		/*
		 * A backend flushes its table statistics when it goes idle; a
		 * background worker must do it itself.  Without this autovacuum
		 * never learns of the rows the drains of queue tables delete, and
		 * a queue grows without bound.
		 */
		pgstat_report_stat(true);
		MemoryContextReset(cxt);

		/* rrr_wake sets the latch: a wake during the run ends this wait. */
		(void) WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH,
						 redtrack_naptime * 1000L, PG_WAIT_EXTENSION);
		ResetLatch(MyLatch);
	}
}
