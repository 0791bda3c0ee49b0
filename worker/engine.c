/*-------------------------------------------------------------------------
 *
 * engine.c
 *	  A table's replication run: lock, resume or start, export, upload,
 *	  import, finish; or record why not.  The one orchestrator: it opens
 *	  and ends every transaction of a run, walks the state machine
 *	  (state.c), holds the warehouse connection and prepares the target;
 *	  export.c only exports, loader.c only loads, and the table's strategy
 *	  (worker/strategy/) says what each of them does.
 *
 * One run of a table at a time, whoever starts it: a session-level
 * advisory lock (REDTRACK_LOCK_CLASS, relid) is held for the whole run.
 * The scheduler skips a table another run holds; SQL callers wait.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xact.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "utils/builtins.h"
#include "utils/fmgrprotos.h"
#include "utils/guc.h"
#include "utils/memutils.h"
#include "utils/snapmgr.h"
#include "utils/timestamp.h"

#include "canonical_output.h"
#include "engine.h"
#include "export.h"
#include "guc.h"
#include "loader.h"
#include "redact.h"
#include "registry.h"
#include "shmem.h"
#include "spi_util.h"
#include "state.h"
#include "strategy.h"
#include "target.h"
#include "watermark.h"

void
engine_session_setup(void)
{
	/* The server's own zone matters for timestamp-without-time-zone fields. */
	watermark_remember_server_timezone(GetConfigOption("TimeZone", false, false));

	/* One canonical text form for every value: UTC, ISO, exact floats. */
	redtrack_impose_canonical_output();
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

/*
 * The export's transaction: REPEATABLE READ, so that the window's bound,
 * the delete records taken and the rows all come from one snapshot; SPI
 * connected for the export's queries.
 */
static void
begin_snapshot_transaction(MemoryContext cxt)
{
	SetCurrentStatementStartTimestamp();
	StartTransactionCommand();
	XactIsoLevel = XACT_REPEATABLE_READ;
	PushActiveSnapshot(GetTransactionSnapshot());
	SPI_connect();
	/* What the export computes outlives SPI: allocate it in the run's context. */
	MemoryContextSwitchTo(cxt);
}

static void
end_snapshot_transaction(bool commit, MemoryContext cxt)
{
	SPI_finish();
	PopActiveSnapshot();
	if (commit)
		CommitTransactionCommand();
	else
		AbortCurrentTransaction();
	MemoryContextSwitchTo(cxt);
}

/* ----------------------------------------------------------------
 * Start or resume
 * ----------------------------------------------------------------
 */

static void
give_up(Replicable *r, Replication *last)
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
			give_up(r, last);
		else
		{
			state_resume(last, replication_needs_export(last) ? RS_EXPORTING : RS_UPLOADED);
			rep = last;
		}
	}
	if (rep == NULL && mode != ENGINE_IMPORT)
		rep = state_create(r, strategy_of(r)->windowed ? state_watermark(r) : NULL);
	engine_commit_transaction(cxt);
	return rep;
}

/* ----------------------------------------------------------------
 * Export and upload
 * ----------------------------------------------------------------
 */

/*
 * The target on the warehouse, before the export's snapshot: whether a
 * loaded windowed table lost it, what the strategy changes on it, and the
 * columns the export sends.  In a transaction of its own (the layout reads
 * the source's catalogs), never the export's.
 */
static void
prepare_target(Replicable *r, RedshiftConn **conn, ExportLayout *layout, MemoryContext cxt)
{
	const Strategy *strategy = strategy_of(r);
	bool		postgres_dialect = (redtrack_target_dialect == REDTRACK_DIALECT_POSTGRES);
	TargetTable *target;

	engine_begin_transaction(cxt);
	if (*conn == NULL)
		*conn = redshift_connect();
	target = target_describe(*conn, r);
	layout->target_dropped = strategy->windowed && !target->exists &&
		state_has_imported(r->relid);
	target = strategy->prepare_target(*conn, r, target, postgres_dialect);
	export_layout(r, target, layout);
	engine_commit_transaction(cxt);
}

static void
warn_cut_values(Replicable *r, Replication *rep)
{
	if (rep->truncated_values > 0 || rep->clamped_values > 0)
		ereport(WARNING,
				(errmsg("redtrack: %s: " INT64_FORMAT " values cut or rounded to fit the target, "
						INT64_FORMAT " values the target cannot hold replaced",
						r->source_name, rep->truncated_values, rep->clamped_values),
				 errdetail("Replication " INT64_FORMAT " records both counts.", rep->id)));
}

/*
 * The export's snapshot: scan, and stream if there is anything to send.
 * A scan that finds work before the target was prepared ends its
 * transaction without a trace, the target is prepared outside it, and a
 * new snapshot scans again (the window may have grown; the horizon read
 * before the first one still bounds it).  A run with nothing to send never
 * connects to the warehouse.
 */
static void
export_snapshot(Replicable *r, Replication *rep, ExportRun *run, RedshiftConn **conn,
				ExportLayout *layout, MemoryContext cxt)
{
	/* A strategy that replaces the target always sends: prepare it first. */
	if (strategy_of(r)->replaces_target)
		prepare_target(r, conn, layout, cxt);
	for (;;)
	{
		bool		work;

		begin_snapshot_transaction(cxt);
		work = export_scan(run, layout);
		if (work && !layout->prepared)
		{
			end_snapshot_transaction(false, cxt);
			prepare_target(r, conn, layout, cxt);
			continue;
		}
		export_stream(run, layout, work);
		state_record_export(rep);
		end_snapshot_transaction(true, cxt);
		return;
	}
}

/* The manifests: with them on S3 the replication is 'uploaded'. */
static void
upload(Replicable *r, Replication *rep, ExportRun *run, MemoryContext cxt)
{
	TimestampTz started = GetCurrentTimestamp();

	engine_begin_transaction(cxt);
	state_set(rep, RS_UPLOADING);
	engine_commit_transaction(cxt);
	redtrack_progress_phase(state_name(RS_UPLOADING));
	pgstat_report_activity(STATE_RUNNING, psprintf("redtrack: uploading the manifest of %s",
													r->source_name));
	export_put_manifests(run);
	rep->upload_seconds = (double) (GetCurrentTimestamp() - started) / USECS_PER_SEC;
	engine_begin_transaction(cxt);
	state_record_upload(rep);
	engine_commit_transaction(cxt);
}

/*
 * Export (or re-export, with the stored window) one replication.  Returns
 * with it 'uploaded', or 'exported' with nothing to load.  *conn is
 * connected when the target had to be prepared, and stays open.
 */
static void
export_and_upload(Replicable *r, Replication *rep, S3Settings *s3, RedshiftConn **conn,
				  ExportLayout *layout, MemoryContext cxt)
{
	ExportRun  *volatile run = NULL;

	redtrack_progress_phase(state_name(RS_EXPORTING));
	pgstat_report_activity(STATE_RUNNING, psprintf("redtrack: exporting %s", r->source_name));
	PG_TRY();
	{
		run = export_begin(r, rep, s3);

		/* The horizon, in a transaction that ends before the export's snapshot. */
		if (export_needs_horizon(run))
		{
			engine_begin_transaction(cxt);
			export_read_horizon(run);
			engine_commit_transaction(cxt);
		}
		export_snapshot(r, rep, run, conn, layout, cxt);
		warn_cut_values(r, rep);
		if (export_has_work(r, rep))
			upload(r, rep, run, cxt);
	}
	PG_CATCH();
	{
		/* Stop the threads and abort their uploads before unwinding. */
		export_end(run);
		PG_RE_THROW();
	}
	PG_END_TRY();
	export_end(run);
}

/* ----------------------------------------------------------------
 * Import
 * ----------------------------------------------------------------
 */

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
	rep->error = reason;
	state_notify(rep, r->source_name);
	engine_commit_transaction(cxt);
	ereport(WARNING,
			(errmsg("redtrack: %s: %s", r->source_name, reason),
			 errdetail("Replication " INT64_FORMAT " was canceled before loading.", rep->id)));
}

/*
 * Load an uploaded replication.  False when it was canceled instead (its
 * windowed target is gone).
 */
static bool
import(Replicable *r, Replication *rep, S3Settings *s3, RedshiftConn **conn, MemoryContext cxt)
{
	const Strategy *strategy = strategy_of(r);
	TimestampTz started = GetCurrentTimestamp();
	char	   *create_ddl;
	char	   *marker_source;
	bool		target_must_exist;
	bool		target_missing = false;

	engine_begin_transaction(cxt);
	state_set(rep, RS_IMPORTING);
	target_must_exist = rep->window_first != NULL && strategy->windowed &&
		state_has_imported(r->relid);
	create_ddl = strategy->target_ddl(r, redtrack_target_dialect == REDTRACK_DIALECT_POSTGRES);
	marker_source = load_marker_identity(r);
	engine_commit_transaction(cxt);
	redtrack_progress_phase(state_name(RS_IMPORTING));
	pgstat_report_activity(STATE_RUNNING, psprintf("redtrack: importing %s", r->source_name));

	/* Nothing goes to the warehouse that a crash here could take back. */
	state_flush_wal();
	rep->rows_loaded = load_replication(r, rep, s3, conn, create_ddl, marker_source,
										target_must_exist, &target_missing);
	rep->import_seconds = (double) (GetCurrentTimestamp() - started) / USECS_PER_SEC;
	if (target_missing && target_must_exist)
	{
		redshift_disconnect(*conn);
		*conn = NULL;
		cancel_for_missing_target(r, rep, cxt);
		return false;
	}
	return true;
}

/*
 * Nothing changed: no trip to the warehouse, except on a table's first
 * run, which creates the target even for an empty table.
 */
static void
create_target_on_first_run(Replicable *r, RedshiftConn **conn, MemoryContext cxt)
{
	bool		first_run;
	char	   *create_ddl = NULL;

	engine_begin_transaction(cxt);
	first_run = !state_has_imported(r->relid);
	if (first_run)
		create_ddl = strategy_of(r)->target_ddl(r, redtrack_target_dialect == REDTRACK_DIALECT_POSTGRES);
	engine_commit_transaction(cxt);
	if (first_run)
	{
		if (*conn == NULL)
			*conn = redshift_connect();
		target_create(*conn, r, target_describe(*conn, r), create_ddl);
	}
}

/* ----------------------------------------------------------------
 * Finish
 * ----------------------------------------------------------------
 */

static void
finish(Replicable *r, Replication *rep, MemoryContext cxt)
{
	const Strategy *strategy = strategy_of(r);

	engine_begin_transaction(cxt);
	state_mark_imported(rep, r);
	if (strategy->after_import)
		strategy->after_import(r, rep);
	state_cap_history(r->relid, redtrack_history_cap);
	state_notify(rep, r->source_name);
	engine_commit_transaction(cxt);
}

static void
log_success(Replicable *r, Replication *rep)
{
	if (rep->rows == 0 && rep->deletes == 0 && !rep->carries_truncate &&
		!strategy_of(r)->replaces_target)
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
					r->source_name, rep->rows_loaded, rep->deletes,
					rep->carries_truncate ? ", target replaced after TRUNCATE" : "",
					rep->bytes, rep->files, rep->export_seconds, rep->upload_seconds,
					rep->import_seconds, rep->id)));
}

static void
remove_files_after_import(Replicable *r, Replication *rep, S3Settings *s3)
{
	/* The load is done: leftover files are not the table's problem. */
	if (!redtrack_delete_s3_files_after_import || rep->s3_key == NULL || rep->files == 0)
		return;
	export_remove_files_or_warn(s3, rep->s3_key,
								psprintf("replication " INT64_FORMAT, rep->id));
}

/* ----------------------------------------------------------------
 * A run
 * ----------------------------------------------------------------
 */

static void
set_outcome(TableOutcome *outcome, Replication *rep, int64 rows)
{
	outcome->replication_id = rep->id;
	strlcpy(outcome->state, state_name(rep->state), OUTCOME_STATE_LEN);
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

	memset(&layout, 0, sizeof(layout));

	/* A configuration problem is not a replication's failure: check first. */
	s3 = redtrack_s3_settings();
	redshift_require_conninfo();

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
		export_and_upload(r, rep, s3, &conn, &layout, cxt);
	}
	if (mode == ENGINE_EXPORT)
	{
		set_outcome(outcome, rep, rep->rows);
		return;
	}

	rep->rows_loaded = 0;
	if (!export_has_work(r, rep))
		create_target_on_first_run(r, &conn, cxt);
	else if (!import(r, rep, s3, &conn, cxt))
	{
		set_outcome(outcome, rep, 0);
		strlcpy(outcome->error, rep->error, OUTCOME_ERROR_LEN);
		return;
	}
	redshift_disconnect(conn);

	finish(r, rep, cxt);
	set_outcome(outcome, rep, rep->rows_loaded);
	if (layout.target_rebuilt)
		snprintf(outcome->warning, OUTCOME_ERROR_LEN,
				 "target table %s no longer exists; replication " INT64_FORMAT
				 " rebuilds it from every row", r->target_table, rep->id);
	log_success(r, rep);
	remove_files_after_import(r, rep, s3);
}

/*
 * A failed run: recorded on its replication (failed, in the phase it
 * reached), which the next run retries.
 */
static void
record_failure(Replicable *r, Replication *rep, TableOutcome *outcome, MemoryContext cxt)
{
	ErrorData  *edata;
	char	   *message;
	const char *phase;

	/*
	 * Copy what outlives the abort into the run's context first: the error
	 * may have been thrown with a transaction's (or SPI's) context current,
	 * and AbortCurrentTransaction frees those.
	 */
	MemoryContextSwitchTo(cxt);
	phase = rep ? state_name(replication_phase(rep)) : "starting";
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
		state_record_failure(rep, replication_phase(rep), message);
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
	 * A strategy whose runs are per database (cdc) runs its group, unless
	 * the group run itself asks for this table alone (an initial snapshot).
	 */
	if (r != NULL && strategy_of(r)->run_group != NULL &&
		!(strategy_of(r)->in_group_run && strategy_of(r)->in_group_run()))
	{
		const Strategy *strategy = strategy_of(r);

		MemoryContextSwitchTo(old);
		MemoryContextDelete(cxt);
		strategy->run_group(&relid, 1, mode, wait_for_lock, outcome);
		return;
	}
	if (r == NULL)
	{
		outcome->not_registered = true;
		strlcpy(outcome->error, "table is not registered", OUTCOME_ERROR_LEN);
	}
	else if (!lock_table(relid, wait_for_lock, cxt))
		outcome->skipped = true;
	else
	{
		redtrack_progress_begin(relid, 0, "starting");
		pgstat_report_activity(STATE_RUNNING, psprintf("redtrack: replicating %s", r->source_name));
		PG_TRY();
		{
			run(r, mode, outcome, &current, cxt);
		}
		PG_CATCH();
		{
			record_failure(r, current, outcome, cxt);
		}
		PG_END_TRY();
		redtrack_progress_end();
		pgstat_report_activity(STATE_IDLE, NULL);
		unlock_table(relid, cxt);
	}
	MemoryContextSwitchTo(old);
	MemoryContextDelete(cxt);
}

/*
 * Several tables: those of a strategy that runs per database (run_group)
 * together, in one call of it; the others one by one, in order.
 */
void
engine_run_tables(Oid *relids, int n, EngineMode mode, bool wait_for_lock,
				  TableOutcome *outcomes)
{
	const Strategy **strategies = palloc0(sizeof(Strategy *) * Max(n, 1));
	Oid		   *group = palloc(sizeof(Oid) * Max(n, 1));
	int		   *positions = palloc(sizeof(int) * Max(n, 1));
	TableOutcome *group_outcomes = palloc0(sizeof(TableOutcome) * Max(n, 1));
	MemoryContext cxt = CurrentMemoryContext;

	for (int i = 0; i < n; i++)
	{
		Replicable *r;

		engine_begin_transaction(cxt);
		r = redtrack_load_replicable(relids[i], true);
		strategies[i] = r ? strategy_of(r) : NULL;
		engine_commit_transaction(cxt);
		if (strategies[i] == NULL || strategies[i]->run_group == NULL)
			engine_run_table(relids[i], mode, wait_for_lock, &outcomes[i]);
	}
	for (int i = 0; i < n; i++)
	{
		const Strategy *s = strategies[i];
		int			m = 0;

		if (s == NULL || s->run_group == NULL)
			continue;
		for (int j = i; j < n; j++)
		{
			if (strategies[j] != s)
				continue;
			positions[m] = j;
			group[m++] = relids[j];
			strategies[j] = NULL;
		}
		s->run_group(group, m, mode, wait_for_lock, group_outcomes);
		for (int k = 0; k < m; k++)
			outcomes[positions[k]] = group_outcomes[k];
	}
}
