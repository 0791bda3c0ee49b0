/*-------------------------------------------------------------------------
 *
 * launcher.c
 *	  Engine workers for SQL calls.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "miscadmin.h"
#include "postmaster/bgworker.h"
#include "storage/dsm.h"
#include "tcop/tcopprot.h"
#include "utils/guc.h"

#include "bgworker.h"
#include "guc.h"
#include "launcher.h"
#include "ownership.h"

/* The request in shared memory: header, relids, outcomes, settings. */
typedef struct EngineRequest
{
	Oid			dboid;
	Oid			roleid;
	int			mode;
	int			ntables;
	Size		settings_len;	/* "name\0value\0" pairs */
} EngineRequest;

static Oid *
request_relids(EngineRequest *req)
{
	return (Oid *) ((char *) req + MAXALIGN(sizeof(EngineRequest)));
}

static TableOutcome *
request_outcomes(EngineRequest *req)
{
	return (TableOutcome *) ((char *) request_relids(req) + MAXALIGN(sizeof(Oid) * req->ntables));
}

static char *
request_settings(EngineRequest *req)
{
	return (char *) request_outcomes(req) + MAXALIGN(sizeof(TableOutcome) * req->ntables);
}

TableOutcome *
redtrack_run_engine(const Oid *relids, int ntables, EngineMode mode)
{
	StringInfoData settings;
	Size		size;
	dsm_segment *seg;
	EngineRequest *req;
	BackgroundWorker worker;
	BackgroundWorkerHandle *handle;
	TableOutcome *result;

	/* The session's redtrack settings go with the request. */
	initStringInfo(&settings);
	for (int i = 0; redtrack_session_gucs[i]; i++)
	{
		const char *value = GetConfigOption(redtrack_session_gucs[i], true, false);

		if (value == NULL)
			continue;
		appendBinaryStringInfo(&settings, redtrack_session_gucs[i],
							   strlen(redtrack_session_gucs[i]) + 1);
		appendBinaryStringInfo(&settings, value, strlen(value) + 1);
	}

	size = MAXALIGN(sizeof(EngineRequest)) + MAXALIGN(sizeof(Oid) * ntables) +
		MAXALIGN(sizeof(TableOutcome) * ntables) + settings.len;
	seg = dsm_create(size, 0);
	req = dsm_segment_address(seg);
	memset(req, 0, size);
	req->dboid = MyDatabaseId;
	/* The engine writes redtrack's tables: it runs as their owner. */
	req->roleid = redtrack_owner_oid();
	req->mode = (int) mode;
	req->ntables = ntables;
	req->settings_len = settings.len;
	memcpy(request_relids(req), relids, sizeof(Oid) * ntables);
	memcpy(request_settings(req), settings.data, settings.len);
	/* Mark every table unfinished until the worker says otherwise. */
	for (int i = 0; i < ntables; i++)
	{
		request_outcomes(req)[i].relid = relids[i];
		strlcpy(request_outcomes(req)[i].error,
				"the engine worker stopped before it got to this table", OUTCOME_ERROR_LEN);
	}

	redtrack_describe_worker(&worker, "redtrack_engine_main", "redtrack engine",
							 BGW_NEVER_RESTART);
	snprintf(worker.bgw_name, BGW_MAXLEN, "redtrack engine for PID %d", MyProcPid);
	worker.bgw_main_arg = UInt32GetDatum(dsm_segment_handle(seg));
	worker.bgw_notify_pid = MyProcPid;

	if (!RegisterDynamicBackgroundWorker(&worker, &handle))
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_RESOURCES),
				 errmsg("could not start a redtrack engine worker"),
				 errhint("All background worker slots are in use: raise max_worker_processes.")));

	PG_TRY();
	{
		pid_t		pid;

		if (WaitForBackgroundWorkerStartup(handle, &pid) == BGWH_STARTED)
			(void) WaitForBackgroundWorkerShutdown(handle);
	}
	PG_CATCH();
	{
		/* Cancelled: stop the engine too (it stops within a second). */
		TerminateBackgroundWorker(handle);
		PG_RE_THROW();
	}
	PG_END_TRY();

	result = palloc(sizeof(TableOutcome) * ntables);
	memcpy(result, request_outcomes(req), sizeof(TableOutcome) * ntables);
	dsm_detach(seg);
	return result;
}

void
redtrack_engine_main(Datum main_arg)
{
	dsm_segment *seg;
	EngineRequest *req;
	char	   *setting;
	char	   *end;

	pqsignal(SIGTERM, die);
	BackgroundWorkerUnblockSignals();

	seg = dsm_attach(DatumGetUInt32(main_arg));
	if (seg == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("redtrack engine worker could not find its request")));
	req = dsm_segment_address(seg);

	BackgroundWorkerInitializeConnectionByOid(req->dboid, req->roleid, 0);

	setting = request_settings(req);
	end = setting + req->settings_len;
	while (setting < end)
	{
		char	   *value = setting + strlen(setting) + 1;

		SetConfigOption(setting, value, PGC_SUSET, PGC_S_SESSION);
		setting = value + strlen(value) + 1;
	}
	engine_session_setup();

	/* Tables of a strategy that runs per database run together. */
	engine_run_tables(request_relids(req), req->ntables, (EngineMode) req->mode, true,
					  request_outcomes(req));

	dsm_detach(seg);
}
