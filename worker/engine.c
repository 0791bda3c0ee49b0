/*-------------------------------------------------------------------------
 *
 * engine.c
 *	  A table's replication run: lock, resume or start, export, import,
 *	  finish; or record why not.
 *
 * One run of a table at a time, whoever starts it: a session-level
 * advisory lock (REDTRACK_LOCK_CLASS, relid) is held for the whole run.
 * The scheduler skips a table another run holds; SQL callers wait.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xact.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "utils/builtins.h"
#include "utils/fmgrprotos.h"
#include "utils/guc.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/snapmgr.h"
#include "utils/timestamp.h"

#include "cdc.h"				/* cdc (issue 13) */
#include "engine.h"
#include "events.h"
#include "export.h"
#include "guc.h"
#include "loader.h"
#include "redact.h"
#include "registry.h"
#include "shmem.h"
#include "spi_util.h"
#include "state.h"
#include "target.h"
#include "watermark.h"

void
engine_session_setup(void)
{
	/* The server's own zone matters for timestamp-without-time-zone fields. */
	watermark_remember_server_timezone(GetConfigOption("TimeZone", false, false));

	/* One canonical text form for every value: UTC, ISO, exact floats. */
	SetConfigOption("TimeZone", "UTC", PGC_SUSET, PGC_S_OVERRIDE);
	SetConfigOption("DateStyle", "ISO, YMD", PGC_SUSET, PGC_S_OVERRIDE);
	SetConfigOption("IntervalStyle", "postgres", PGC_SUSET, PGC_S_OVERRIDE);
	SetConfigOption("extra_float_digits", "1", PGC_SUSET, PGC_S_OVERRIDE);
	SetConfigOption("bytea_output", "hex", PGC_SUSET, PGC_S_OVERRIDE);
	SetConfigOption("search_path", "pg_catalog, pg_temp", PGC_SUSET, PGC_S_OVERRIDE);
	/* A run must never be cut short by a setting meant for sessions. */
	SetConfigOption("statement_timeout", "0", PGC_SUSET, PGC_S_OVERRIDE);
	SetConfigOption("idle_in_transaction_session_timeout", "0", PGC_SUSET, PGC_S_OVERRIDE);
}

/* ----------------------------------------------------------------
 * Transactions and locks
 * ----------------------------------------------------------------
 */

static bool
lock_table(Oid relid, bool wait, MemoryContext cxt)
{
	bool		locked = true;

	engine_begin_transaction(cxt);
	if (wait)
		DirectFunctionCall2(pg_advisory_lock_int4, Int32GetDatum(REDTRACK_LOCK_CLASS),
							Int32GetDatum((int32) relid));
	else
		locked = DatumGetBool(DirectFunctionCall2(pg_try_advisory_lock_int4,
												  Int32GetDatum(REDTRACK_LOCK_CLASS),
												  Int32GetDatum((int32) relid)));
	engine_commit_transaction(cxt);
	return locked;
}

static void
unlock_table(Oid relid, MemoryContext cxt)
{
	engine_begin_transaction(cxt);
	DirectFunctionCall2(pg_advisory_unlock_int4, Int32GetDatum(REDTRACK_LOCK_CLASS),
						Int32GetDatum((int32) relid));
	engine_commit_transaction(cxt);
}

/* ----------------------------------------------------------------
 * Start or resume
 * ----------------------------------------------------------------
 */

/*
 * The replication this run works on: the unfinished one (resumed at the
 * phase it stopped in, or canceled after redtrack.max_retries), else a new
 * one starting from the watermark.  NULL when an import-only run finds
 * nothing waiting.
 */
static Replication *
prepare(Replicable *r, EngineMode mode, MemoryContext cxt)
{
	Replication *last;
	Replication *rep = NULL;

	engine_begin_transaction(cxt);
	last = state_latest(r->relid);
	if (last && !replication_is_finished(last))
	{
		if (mode == ENGINE_EXPORT && !replication_needs_export(last))
		{
			/* Already on S3, waiting for its import. */
			engine_commit_transaction(cxt);
			return last;
		}
		if (last->retries >= redtrack_max_retries)
		{
			char	   *reason = psprintf("canceled after %d retries; last error: %s",
										  last->retries, last->error ? last->error : "interrupted");

			state_cancel(last, reason);
			last->error = reason;
			state_notify(last, r->source_name);
			ereport(LOG,
					(errmsg("redtrack: gave up on replication " INT64_FORMAT " of %s after %d retries",
							last->id, r->source_name, last->retries),
					 errdetail("A new replication starts from the last imported watermark.")));
		}
		else
		{
			state_resume(last, replication_needs_export(last) ? "exporting" : "uploaded");
			rep = last;
		}
	}
	if (rep == NULL && mode != ENGINE_IMPORT)
		rep = state_create(r, r->strategy == STRATEGY_FULL ? NULL : state_watermark(r));
	engine_commit_transaction(cxt);
	return rep;
}

/* ----------------------------------------------------------------
 * Finish
 * ----------------------------------------------------------------
 */

static void
finish(Replicable *r, Replication *rep, int64 rows_loaded, MemoryContext cxt)
{
	engine_begin_transaction(cxt);
	state_mark_imported(rep, r, rows_loaded);
	state_cap_history(r->relid, redtrack_history_cap);
	state_notify(rep, r->source_name);
	engine_commit_transaction(cxt);
}

static void
log_success(Replicable *r, Replication *rep, int64 rows_loaded)
{
	if (rep->rows == 0 && rep->deletes == 0 && !rep->carries_truncate &&
		r->strategy != STRATEGY_FULL)
	{
		ereport(DEBUG1,
				(errmsg("redtrack: %s: no changes (replication " INT64_FORMAT ")",
						r->source_name, rep->id)));
		return;
	}
	ereport(LOG,
			(errmsg("redtrack: replicated %s: " INT64_FORMAT " rows, " INT64_FORMAT " deletes%s, "
					INT64_FORMAT " bytes in %d files; export %.3f s, upload %.3f s, import %.3f s "
					"(replication " INT64_FORMAT ")",
					r->source_name, rows_loaded, rep->deletes,
					rep->carries_truncate ? ", target replaced after TRUNCATE" : "",
					rep->bytes, rep->files, rep->export_seconds, rep->upload_seconds,
					rep->import_seconds, rep->id)));
}

static void
remove_files_after_import(Replicable *r, Replication *rep, S3Settings *s3)
{
	MemoryContext cxt = CurrentMemoryContext;

	if (!redtrack_delete_s3_files_after_import || rep->s3_key == NULL || rep->files == 0)
		return;
	PG_TRY();
	{
		export_remove_files(s3, rep->s3_key);
	}
	PG_CATCH();
	{
		/* The load is done: leftover files are not the table's problem. */
		ErrorData  *edata;

		MemoryContextSwitchTo(cxt);
		edata = CopyErrorData();
		FlushErrorState();
		ereport(WARNING,
				(errmsg("redtrack: could not delete the files of replication " INT64_FORMAT ": %s",
						rep->id, edata->message)));
	}
	PG_END_TRY();
}

/*
 * The target of an incremental window was dropped after an earlier load:
 * loading the window alone would leave every older row missing.  Cancel
 * the replication (its delete records go back to the pool); the next run
 * finds the target gone and rebuilds it from every row.
 */
static void
cancel_for_missing_target(Replicable *r, Replication *rep, MemoryContext cxt)
{
	char	   *reason = psprintf("target table %s no longer exists; the next run rebuilds it "
								  "from every row", r->target_table);

	engine_begin_transaction(cxt);
	state_cancel(rep, reason);
	rep->state = "canceled";
	rep->error = reason;
	state_notify(rep, r->source_name);
	engine_commit_transaction(cxt);
	ereport(WARNING,
			(errmsg("redtrack: %s: %s", r->source_name, reason),
			 errdetail("Replication " INT64_FORMAT " was canceled before loading.", rep->id)));
}

/* ----------------------------------------------------------------
 * A run
 * ----------------------------------------------------------------
 */

static void
set_outcome(TableOutcome *outcome, Replication *rep, int64 rows)
{
	outcome->replication_id = rep->id;
	strlcpy(outcome->state, rep->state, OUTCOME_STATE_LEN);
	outcome->rows = rows;
	outcome->truncated_values = rep->truncated_values;
	outcome->clamped_values = rep->clamped_values;
}

static void
run(Replicable *r, EngineMode mode, TableOutcome *outcome, Replication *volatile *current,
	MemoryContext cxt)
{
	Replication *rep;
	S3Settings *s3;
	RedshiftConn *conn = NULL;
	ExportLayout layout;
	int64		rows_loaded;

	memset(&layout, 0, sizeof(layout));

	/* A configuration problem is not a replication's failure: check first. */
	s3 = redtrack_s3_settings();
	if (redtrack_redshift_conninfo == NULL || redtrack_redshift_conninfo[0] == '\0')
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("redtrack.redshift_conninfo is not set"),
				 errhint("Set it in postgresql.conf to the cluster's libpq connection string.")));

	rep = prepare(r, mode, cxt);
	if (rep == NULL)
	{
		strlcpy(outcome->error, "no exported replication is waiting to be imported",
				OUTCOME_ERROR_LEN);
		return;
	}
	*current = rep;
	redtrack_progress_set_replication(rep->id);

	/* DDL since registration stops this table here, as its failure. */
	engine_begin_transaction(cxt);
	redtrack_check_registration(r);
	engine_commit_transaction(cxt);

	if (replication_needs_export(rep))
	{
		if (mode == ENGINE_IMPORT)
		{
			set_outcome(outcome, rep, 0);
			strlcpy(outcome->error, "the replication has not been exported yet: run rrr_export first",
					OUTCOME_ERROR_LEN);
			return;
		}
		export_replication(r, rep, s3, &conn, &layout);
	}
	if (mode == ENGINE_EXPORT)
	{
		set_outcome(outcome, rep, rep->rows);
		return;
	}

	if (export_has_work(r, rep))
	{
		TimestampTz started = GetCurrentTimestamp();
		char	   *create_ddl;
		char	   *marker_source;
		bool		target_must_exist;
		bool		target_missing = false;

		engine_begin_transaction(cxt);
		state_set(rep, "importing");
		target_must_exist = rep->window_first != NULL &&
			(r->strategy == STRATEGY_TIMED || r->strategy == STRATEGY_IDENTITY) &&
			state_has_imported(r->relid);
		create_ddl = r->strategy == STRATEGY_QUEUE
			? redtrack_stream_ddl(get_rel_name(r->relid))
			: target_ddl(r, redtrack_target_dialect == REDTRACK_DIALECT_POSTGRES);
		marker_source = load_marker_identity(r);
		engine_commit_transaction(cxt);
		redtrack_progress_phase("importing");
		pgstat_report_activity(STATE_RUNNING, psprintf("redtrack: importing %s", r->source_name));

		/* Nothing goes to the warehouse that a crash here could take back. */
		state_flush_wal();
		rows_loaded = load_replication(r, rep, s3, &conn, create_ddl, marker_source,
									   target_must_exist, &target_missing);
		rep->import_seconds = (double) (GetCurrentTimestamp() - started) / USECS_PER_SEC;
		if (target_missing && target_must_exist)
		{
			redshift_disconnect(conn);
			cancel_for_missing_target(r, rep, cxt);
			set_outcome(outcome, rep, 0);
			strlcpy(outcome->error, rep->error, OUTCOME_ERROR_LEN);
			return;
		}
	}
	else
	{
		/*
		 * Nothing changed: no trip to the warehouse, except on a table's
		 * first run, which creates the target even for an empty table.
		 */
		bool		first_run;
		char	   *create_ddl = NULL;

		engine_begin_transaction(cxt);
		first_run = !state_has_imported(r->relid);
		if (first_run)
			create_ddl = r->strategy == STRATEGY_QUEUE
				? redtrack_stream_ddl(get_rel_name(r->relid))
				: target_ddl(r, redtrack_target_dialect == REDTRACK_DIALECT_POSTGRES);
		engine_commit_transaction(cxt);
		if (first_run)
		{
			if (conn == NULL)
				conn = redshift_connect();
			target_create(conn, r, target_describe(conn, r), create_ddl);
		}
		rows_loaded = 0;
	}
	redshift_disconnect(conn);

	finish(r, rep, rows_loaded, cxt);
	set_outcome(outcome, rep, rows_loaded);
	if (layout.target_rebuilt)
		snprintf(outcome->warning, OUTCOME_ERROR_LEN,
				 "target table %s no longer exists; replication " INT64_FORMAT
				 " rebuilds it from every row", r->target_table, rep->id);
	log_success(r, rep, rows_loaded);
	remove_files_after_import(r, rep, s3);
}

void
engine_run_table(Oid relid, EngineMode mode, bool wait_for_lock, TableOutcome *outcome)
{
	MemoryContext cxt = AllocSetContextCreate(TopMemoryContext, "redtrack run",
											  ALLOCSET_DEFAULT_SIZES);
	MemoryContext old = MemoryContextSwitchTo(cxt);
	Replicable *r;
	Replication *volatile current = NULL;

	memset(outcome, 0, sizeof(*outcome));
	outcome->relid = relid;

	engine_begin_transaction(cxt);
	r = redtrack_load_replicable(relid, true);
	engine_commit_transaction(cxt);
	/*
	 * cdc (issue 13): a cdc table's changes run for the whole database
	 * (worker/cdc/cdc_run.c); its initial snapshot comes back here as a
	 * full replication.
	 */
	if (r != NULL && r->strategy == STRATEGY_CDC)
	{
		if (!cdc_taking_snapshot())
		{
			MemoryContextSwitchTo(old);
			MemoryContextDelete(cxt);
			cdc_run_database(relid, wait_for_lock, outcome);
			return;
		}
		r->strategy = STRATEGY_FULL;
	}
	if (r == NULL)
	{
		outcome->not_registered = true;
		strlcpy(outcome->error, "table is not registered", OUTCOME_ERROR_LEN);
		MemoryContextSwitchTo(old);
		MemoryContextDelete(cxt);
		return;
	}

	if (!lock_table(relid, wait_for_lock, cxt))
	{
		outcome->skipped = true;
		MemoryContextSwitchTo(old);
		MemoryContextDelete(cxt);
		return;
	}

	redtrack_progress_begin(relid, 0, "starting");
	pgstat_report_activity(STATE_RUNNING, psprintf("redtrack: replicating %s", r->source_name));

	PG_TRY();
	{
		run(r, mode, outcome, &current, cxt);
	}
	PG_CATCH();
	{
		ErrorData  *edata;
		char	   *message;
		Replication *rep = current;
		const char *phase;

		/*
		 * Copy what outlives the abort into the run's context first: the
		 * error may have been thrown with a transaction's (or SPI's) context
		 * current, and AbortCurrentTransaction frees those.
		 */
		MemoryContextSwitchTo(cxt);
		phase = rep ? pstrdup(replication_phase(rep)) : "starting";
		edata = CopyErrorData();
		FlushErrorState();
		AbortCurrentTransaction();
		MemoryContextSwitchTo(cxt);

		message = redtrack_redact(edata->detail
								  ? psprintf("%s\n%s", edata->message, edata->detail)
								  : edata->message);
		strlcpy(outcome->error, message, OUTCOME_ERROR_LEN);
		outcome->sqlstate = edata->sqlerrcode;
		if (rep)
		{
			engine_begin_transaction(cxt);
			state_record_failure(rep->id, phase, message);
			rep->state = "failed";
			rep->error = message;
			state_notify(rep, r->source_name);
			engine_commit_transaction(cxt);
			set_outcome(outcome, rep, 0);
		}
		ereport(LOG,
				(errmsg("redtrack: replication %s of %s failed while %s: %s",
						rep ? psprintf(INT64_FORMAT, rep->id) : "run",
						r->source_name, phase, redtrack_redact(edata->message)),
				 edata->hint ? errhint("%s", edata->hint) : 0,
				 errdetail("It is retried by the next run (redtrack.max_retries = %d).",
						   redtrack_max_retries)));
	}
	PG_END_TRY();

	redtrack_progress_end();
	pgstat_report_activity(STATE_IDLE, NULL);
	unlock_table(relid, cxt);
	MemoryContextSwitchTo(old);
	MemoryContextDelete(cxt);
}
