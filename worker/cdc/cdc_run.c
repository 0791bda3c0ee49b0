/*-------------------------------------------------------------------------
 *
 * cdc_run.c
 *	  A cdc run of one database: every cdc table together, one slot, one
 *	  warehouse transaction, exactly once.
 *
 *	 1. The slot exists (created on the first run; created again, with a
 *		fresh snapshot of every table, when it was lost or dropped by hand).
 *	 2. A load that committed on the warehouse but whose slot advance was
 *		lost: the load marker of the slot's confirmed LSN says so, and the
 *		run only advances the slot to the marker's end.
 *	 3. Tables without a snapshot get one: a full replication through the
 *		engine, exported in a snapshot taken after the slot's confirmed LSN
 *		(see take_snapshot for why nothing is lost or doubled).
 *	 4. Decode with the peek function from the confirmed LSN up to the WAL
 *		flushed when the run started; the output plugin (cdc_decoder.c)
 *		spools each captured table's changes as CSV records to a file.
 *	 5. Upload the spools through the export pipeline (compressed parts and a
 *		manifest on S3).
 *	 6. One warehouse transaction: per table, stage the records, apply a
 *		replayed TRUNCATE, keep the last change per key in stream order,
 *		fill unchanged TOAST values from the row's previous version, delete
 *		the keys, insert the surviving rows; then the load marker naming
 *		the LSN range; COMMIT.
 *	 7. Only then advance the slot (pg_replication_slot_advance).
 *
 * A crash before 6's COMMIT leaves the slot where it was: the next run
 * decodes the same changes again and loads them once.  A crash after it
 * finds the marker (2).  The slot advances every run, also when no cdc
 * table changed, so a quiet database never makes it hold WAL.
 *
 * One run per database at a time: a session advisory lock
 * (REDTRACK_LOCK_CLASS, 0) is held for the whole run.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include "access/htup_details.h"
#include "access/transam.h"
#include "access/xact.h"
#include "access/xlog.h"
#include "catalog/pg_type.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "storage/fd.h"
#include "storage/latch.h"
#include "storage/lmgr.h"
#include "storage/procarray.h"
#include "utils/builtins.h"
#include "utils/fmgrprotos.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/pg_lsn.h"
#include "utils/rel.h"
#include "utils/snapmgr.h"
#include "utils/syscache.h"
#include "utils/timestamp.h"

#include "cdc.h"
#include "export.h"
#include "guc.h"
#include "loader.h"
#include "sql_list.h"
#include "pipeline.h"
#include "redact.h"
#include "registry.h"
#include "rs_ident.h"
#include "s3.h"
#include "spi_util.h"
#include "state.h"
#include "strategy.h"
#include "target.h"

#define CDC_PART_SIZE (5 * 1024 * 1024)
#define CDC_MAX_CHUNK (256 * 1024)
#define CDC_MAX_UPLOADERS 8
#define CDC_LOAD_ATTEMPTS 6

static bool snapshot_in_progress = false;

struct Run;
static void advance_slot(struct Run *run, XLogRecPtr to);

bool
cdc_taking_snapshot(void)
{
	return snapshot_in_progress;
}

/* One cdc table in a run. */
typedef struct RunTable
{
	Oid			relid;
	Replicable *r;
	bool		pending;		/* needs a snapshot */
	char	   *columns_stored; /* signature at its snapshot */
	bool		active;			/* its changes are captured this run */
	CdcTable   *ct;
	ExportLayout layout;
	TargetTable *target;
	char	   *s3_key;
	int64		staged;
	char	   *error;
	bool		snapshot_taken; /* this run */
	Oid			reader;			/* redtrack_source_reader */
} RunTable;

typedef struct Run
{
	MemoryContext cxt;
	S3Settings *s3;
	char	   *slot;
	List	   *tables;			/* of RunTable * */
	XLogRecPtr	confirmed;
	XLogRecPtr	upto;
	RedshiftConn *conn;
	char	   *identity;		/* the load marker's source */
	char	   *note;
	CdcCapture	capture;
	int64		changes;
} Run;

static char *
lsn_text(XLogRecPtr lsn)
{
	return psprintf("%X/%X", LSN_FORMAT_ARGS(lsn));
}

/* ----------------------------------------------------------------
 * Locks, tables, state
 * ----------------------------------------------------------------
 */

static bool
lock_database(bool wait, MemoryContext cxt)
{
	bool		locked = true;

	engine_begin_transaction(cxt);
	if (wait)
		DirectFunctionCall2(pg_advisory_lock_int4, Int32GetDatum(REDTRACK_LOCK_CLASS),
							Int32GetDatum(0));
	else
		locked = DatumGetBool(DirectFunctionCall2(pg_try_advisory_lock_int4,
												  Int32GetDatum(REDTRACK_LOCK_CLASS),
												  Int32GetDatum(0)));
	engine_commit_transaction(cxt);
	return locked;
}

static void
unlock_database(MemoryContext cxt)
{
	engine_begin_transaction(cxt);
	DirectFunctionCall2(pg_advisory_unlock_int4, Int32GetDatum(REDTRACK_LOCK_CLASS),
						Int32GetDatum(0));
	engine_commit_transaction(cxt);
}

/* The source columns (attnum:type, ...) a table's changes are read with. */
static char *
column_signature(Oid relid)
{
	Relation	rel = RelationIdGetRelation(relid);
	TupleDesc	desc;
	StringInfoData buf;

	if (!RelationIsValid(rel))
		elog(ERROR, "could not open relation %u", relid);
	desc = RelationGetDescr(rel);
	initStringInfo(&buf);
	for (int i = 0; i < desc->natts; i++)
	{
		Form_pg_attribute att = TupleDescAttr(desc, i);

		if (att->attisdropped)
			continue;
		appendStringInfo(&buf, "%s%d:%u", buf.len ? "," : "", (int) att->attnum,
						 getBaseType(att->atttypid));
	}
	RelationClose(rel);
	return buf.data;
}

/*
 * A column of the signature stored at the snapshot that is gone or has
 * another type now, or NULL.  (Columns added since are fine.)
 */
static char *
changed_column(Oid relid, const char *stored, const char *current)
{
	char	   *copy = pstrdup(stored);
	char	   *save;

	for (char *tok = strtok_r(copy, ",", &save); tok; tok = strtok_r(NULL, ",", &save))
	{
		char	   *probe = psprintf(",%s,", tok);
		char	   *haystack = psprintf(",%s,", current);

		if (strstr(haystack, probe) == NULL)
		{
			AttrNumber	attnum = (AttrNumber) atoi(tok);
			HeapTuple	tuple = SearchSysCacheAttNum(relid, attnum);
			char	   *result;

			if (!HeapTupleIsValid(tuple))
				return psprintf("column %d was dropped", (int) attnum);
			result = ((Form_pg_attribute) GETSTRUCT(tuple))->attisdropped
				? psprintf("column %d was dropped", (int) attnum)
				: psprintf("column \"%s\" changed type",
						   NameStr(((Form_pg_attribute) GETSTRUCT(tuple))->attname));
			ReleaseSysCache(tuple);
			return result;
		}
	}
	return NULL;
}

static List *
load_tables(Run *run)
{
	List	   *result = NIL;
	uint64		n;

	engine_begin_transaction(run->cxt);
	SPI_connect();
	n = spi_run("SELECT r.source::pg_catalog.oid, c.source IS NULL OR c.needs_snapshot "
				"  OR c.watermark_epoch IS DISTINCT FROM r.watermark_epoch, c.columns "
				"FROM redtrack.replicables AS r "
				"LEFT JOIN redtrack.cdc_tables AS c ON c.source = r.source "
				"WHERE r.strategy = 'cdc' ORDER BY r.registered_at, r.source::pg_catalog.oid",
				NULL, true);
	for (uint64 i = 0; i < n; i++)
	{
		MemoryContext spi = MemoryContextSwitchTo(run->cxt);
		RunTable   *t = palloc0(sizeof(RunTable));

		t->relid = (Oid) spi_get_int8(i, 1, NULL);
		t->pending = spi_get_bool(i, 2);
		t->columns_stored = spi_get_text(run->cxt, i, 3);
		result = lappend(result, t);
		MemoryContextSwitchTo(spi);
	}
	SPI_finish();
	{
		ListCell   *lc;

		foreach(lc, result)
		{
			RunTable   *t = lfirst(lc);

			t->r = redtrack_load_replicable(t->relid, false);
		}
	}
	engine_commit_transaction(run->cxt);
	return result;
}

static void
record_table(RunTable *t, const char *sql_set, MemoryContext cxt)
{
	SpiArgs		args = {0};

	spi_arg_oid(&args, t->r->relid);
	spi_arg_text(&args, t->error);
	engine_begin_transaction(cxt);
	SPI_connect();
	spi_run(psprintf("INSERT INTO redtrack.cdc_tables AS c (source, error) VALUES ($1::pg_catalog.oid::pg_catalog.regclass, $2) "
					 "ON CONFLICT (source) DO UPDATE SET error = $2%s%s",
					 sql_set ? ", " : "", sql_set ? sql_set : ""),
			&args, false);
	SPI_finish();
	engine_commit_transaction(cxt);
}

static void
table_failed(Run *run, RunTable *t, const char *message, bool needs_snapshot)
{
	t->error = pstrdup(message);
	t->active = false;
	record_table(t, needs_snapshot ? "needs_snapshot = true" : NULL, run->cxt);
	ereport(WARNING,
			(errmsg("redtrack: cdc of %s stopped: %s", t->r->source_name, message),
			 needs_snapshot ? errdetail("Its changes are not loaded; once this is resolved, a fresh snapshot "
										"of the table replaces its target's rows.") : 0));
}

/* ----------------------------------------------------------------
 * The slot
 * ----------------------------------------------------------------
 */

typedef struct SlotInfo
{
	bool		exists;
	bool		lost;
	bool		known;			/* redtrack.cdc_state has it */
	XLogRecPtr	confirmed;
	XLogRecPtr	advanced_to;	/* by redtrack, as cdc_state recorded it */
} SlotInfo;

static XLogRecPtr
parse_lsn(const char *text)
{
	return text ? DatumGetLSN(DirectFunctionCall1(pg_lsn_in, CStringGetDatum(text))) : InvalidXLogRecPtr;
}

static void
read_slot(Run *run, SlotInfo *info)
{
	SpiArgs		args = {0};
	uint64		n;

	memset(info, 0, sizeof(*info));
	spi_arg_text(&args, run->slot);
	engine_begin_transaction(run->cxt);
	SPI_connect();
	n = spi_run("SELECT confirmed_flush_lsn::text, wal_status FROM pg_catalog.pg_replication_slots "
				"WHERE slot_name = $1", &args, true);
	if (n == 1)
	{
		char	   *lsn = spi_get_text(run->cxt, 0, 1);
		char	   *status = spi_get_text(run->cxt, 0, 2);

		info->exists = true;
		info->lost = (status && strcmp(status, "lost") == 0) || lsn == NULL;
		info->confirmed = parse_lsn(lsn);
	}
	info->known = spi_run("SELECT advanced_to::text FROM redtrack.cdc_state WHERE slot_name = $1",
						  &args, true) == 1;
	if (info->known)
		info->advanced_to = parse_lsn(spi_get_text(run->cxt, 0, 1));
	SPI_finish();
	engine_commit_transaction(run->cxt);
}

static void
slot_sql(Run *run, const char *sql, const char *lsn)
{
	SpiArgs		args = {0};

	spi_arg_text(&args, run->slot);
	if (lsn)
		spi_arg_text(&args, lsn);
	engine_begin_transaction(run->cxt);
	SPI_connect();
	spi_run(sql, &args, false);
	SPI_finish();
	engine_commit_transaction(run->cxt);
}

/*
 * The slot, created if missing.  A slot redtrack knew that is gone (dropped
 * by hand) or lost (max_slot_wal_keep_size) lost changes nobody loaded:
 * every cdc table gets a fresh snapshot, and the run says so.
 */
static void
ensure_slot(Run *run)
{
	SlotInfo	info;
	ListCell   *lc;

	read_slot(run, &info);
	if (info.exists && !info.lost && info.known)
	{
		run->confirmed = info.confirmed;

		/*
		 * An advance only reaches the disk with the next checkpoint: after a
		 * crash the slot can be back where an earlier run found it, although
		 * what lies between was loaded (or held nothing to load).
		 */
		if (info.advanced_to > run->confirmed)
			advance_slot(run, info.advanced_to);
		return;
	}
	if (info.exists)
		slot_sql(run, "SELECT pg_catalog.pg_drop_replication_slot($1)", NULL);

	/* No writes in this transaction: a logical slot's creation needs that. */
	slot_sql(run, "SELECT pg_catalog.pg_create_logical_replication_slot($1, '" CDC_PLUGIN "')", NULL);

	if (info.known)
	{
		run->note = psprintf("replication slot \"%s\" was %s; took a fresh snapshot of %d cdc table%s",
							 run->slot, info.exists ? "lost (its WAL was removed)" : "dropped",
							 list_length(run->tables), list_length(run->tables) == 1 ? "" : "s");
		ereport(WARNING,
				(errmsg("redtrack: %s", run->note),
				 errdetail("Changes since the last load may not be in the write-ahead log any more; "
						   "each table's target is replaced by a new snapshot.")));
		foreach(lc, run->tables)
			((RunTable *) lfirst(lc))->pending = true;
	}
	{
		SpiArgs		args = {0};

		spi_arg_text(&args, run->slot);
		spi_arg_text(&args, run->note);
		engine_begin_transaction(run->cxt);
		SPI_connect();
		spi_run("UPDATE redtrack.cdc_tables SET needs_snapshot = true", NULL, false);
		spi_run("INSERT INTO redtrack.cdc_state AS s (slot_name, created_lsn, note) "
				"SELECT slot_name, confirmed_flush_lsn, $2 FROM pg_catalog.pg_replication_slots "
				"WHERE slot_name = $1 "
				"ON CONFLICT (slot_name) DO UPDATE SET created_at = pg_catalog.now(), "
				"created_lsn = excluded.created_lsn, advanced_to = NULL, note = $2", &args, false);
		SPI_finish();
		engine_commit_transaction(run->cxt);
	}
	read_slot(run, &info);
	if (!info.exists)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("replication slot \"%s\" vanished right after its creation", run->slot)));
	run->confirmed = info.confirmed;
	foreach(lc, run->tables)
		((RunTable *) lfirst(lc))->pending = true;
}

static void
advance_slot(Run *run, XLogRecPtr to)
{
	if (to <= run->confirmed)
		return;
	slot_sql(run, "SELECT pg_catalog.pg_replication_slot_advance($1, $2::pg_catalog.pg_lsn)",
			 lsn_text(to));
	slot_sql(run, "UPDATE redtrack.cdc_state SET advanced_to = $2::pg_catalog.pg_lsn WHERE slot_name = $1",
			 lsn_text(to));
	run->confirmed = to;
}

/* ----------------------------------------------------------------
 * Snapshots
 * ----------------------------------------------------------------
 */

/*
 * A transaction whose commit record is written is visible to snapshots
 * only once it left the proc array, a moment later.  Wait for those, so
 * the snapshot the export takes next sees every transaction that committed
 * before the slot's confirmed LSN.
 */
static void
wait_for_committing_transactions(Run *run)
{
	Snapshot	snap;
	TransactionId *xids;
	int			n;

	engine_begin_transaction(run->cxt);
	snap = GetLatestSnapshot();
	n = snap->xcnt;
	xids = palloc(sizeof(TransactionId) * Max(n, 1));
	memcpy(xids, snap->xip, sizeof(TransactionId) * n);
	for (int i = 0; i < n; i++)
	{
		if (TransactionIdDidCommit(xids[i]))
			XactLockTableWait(xids[i], NULL, NULL, XLTW_None);
	}
	engine_commit_transaction(run->cxt);
}

/*
 * A table's snapshot: a full replication (the engine's, with this flag
 * set).  Why nothing is lost or doubled: the slot stays at its confirmed
 * LSN C until this run's changes are loaded, and the snapshot is taken
 * after every transaction that committed before C is visible.  The
 * changes this run decodes from C are then loaded on top of the snapshot:
 * those the snapshot already holds are replayed, which changes nothing
 * because a key's last change wins (the row is deleted and inserted as the
 * last change left it), and those it does not hold are applied.  A
 * TRUNCATE replayed from before the snapshot empties the target, but every
 * row that existed after it was inserted after it, so is replayed too.
 */
static void
take_snapshot(Run *run, RunTable *t)
{
	TableOutcome outcome;

	wait_for_committing_transactions(run);
	snapshot_in_progress = true;
	PG_TRY();
	{
		engine_run_table(t->r->relid, ENGINE_REPLICATE, true, &outcome);
	}
	PG_FINALLY();
	{
		snapshot_in_progress = false;
	}
	PG_END_TRY();
	MemoryContextSwitchTo(run->cxt);

	if (outcome.error[0])
	{
		t->error = psprintf("snapshot failed: %s", outcome.error);
		record_table(t, "needs_snapshot = true", run->cxt);
		ereport(WARNING,
				(errmsg("redtrack: cdc snapshot of %s failed: %s", t->r->source_name, outcome.error),
				 errdetail("The next run takes it again.")));
		return;
	}
	t->pending = false;
	t->snapshot_taken = true;
	engine_begin_transaction(run->cxt);
	t->columns_stored = column_signature(t->r->relid);
	engine_commit_transaction(run->cxt);
	t->error = NULL;
	{
		SpiArgs		args = {0};

		spi_arg_oid(&args, t->r->relid);
		spi_arg_text(&args, lsn_text(run->confirmed));
		spi_arg_text(&args, t->columns_stored);
		spi_arg_int8(&args, t->r->watermark_epoch);
		engine_begin_transaction(run->cxt);
		SPI_connect();
		spi_run("INSERT INTO redtrack.cdc_tables AS c (source, needs_snapshot, snapshot_lsn, snapshot_at, columns, "
				"watermark_epoch) "
				"VALUES ($1::pg_catalog.oid::pg_catalog.regclass, false, $2::pg_catalog.pg_lsn, pg_catalog.now(), $3, $4) "
				"ON CONFLICT (source) DO UPDATE SET needs_snapshot = false, snapshot_lsn = excluded.snapshot_lsn, "
				"snapshot_at = excluded.snapshot_at, columns = excluded.columns, "
				"watermark_epoch = excluded.watermark_epoch, error = NULL",
				&args, false);
		SPI_finish();
		engine_commit_transaction(run->cxt);
	}
}

/* ----------------------------------------------------------------
 * Capture
 * ----------------------------------------------------------------
 */

static char *
spool_path(Oid relid)
{
	return psprintf("%s/%s/%sredtrack_cdc.%d.%u", "base", PG_TEMP_FILES_DIR, PG_TEMP_FILE_PREFIX,
					MyProcPid, relid);
}

/*
 * What a table's changes are encoded with: the target's columns (a source
 * column added since is added to the target first, as evolve does), or the
 * reason the table cannot go on.
 */
static void
prepare_table(Run *run, RunTable *t)
{
	MemoryContext cxt = run->cxt;
	ErrorData  *volatile edata = NULL;
	char	   *volatile changed = NULL;
	Replicable	evolving = *t->r;
	volatile bool missing_target = false;

	evolving.evolve = true;
	PG_TRY();
	{
		engine_begin_transaction(cxt);
		redtrack_check_registration(t->r);
		/* wal_level, replica identity: DDL since registration too */
		cdc_check_registration(t->r->relid, t->r->key_columns, false);
		t->reader = redtrack_source_reader(t->r);
		if (t->columns_stored)
			changed = changed_column(t->r->relid, t->columns_stored, column_signature(t->r->relid));
		if (changed == NULL)
		{
			TargetTable *target = target_describe(run->conn, &evolving);

			/* an added column is added on the target, as evolve does */
			target = strategy_evolve_target(run->conn, &evolving, target,
											redtrack_target_dialect == REDTRACK_DIALECT_POSTGRES);
			export_layout(&evolving, target, &t->layout);
			missing_target = !t->layout.target_exists;
		}
		engine_commit_transaction(cxt);
	}
	PG_CATCH();
	{
		MemoryContextSwitchTo(cxt);
		edata = CopyErrorData();
		FlushErrorState();
		AbortCurrentTransaction();
		MemoryContextSwitchTo(cxt);
	}
	PG_END_TRY();

	if (edata)
	{
		table_failed(run, t, redtrack_redact(edata->message), true);
		return;
	}
	if (changed)
	{
		table_failed(run, t, psprintf("%s since its snapshot: its changes cannot be loaded into the target", changed),
					 true);
		return;
	}
	if (missing_target)
	{
		/* Dropped on the warehouse by hand: a new snapshot rebuilds it. */
		t->active = false;
		t->error = NULL;
		record_table(t, "needs_snapshot = true", cxt);
		ereport(WARNING,
				(errmsg("redtrack: target table %s of %s no longer exists; the next run rebuilds it from a new snapshot",
						t->r->target_table, t->r->source_name)));
		return;
	}
	t->target = target_describe(run->conn, t->r);
	t->active = true;
}

static void
build_capture(Run *run)
{
	HASHCTL		ctl;
	ListCell   *lc;
	CdcCapture *capture = &run->capture;

	memset(capture, 0, sizeof(*capture));
	memset(&ctl, 0, sizeof(ctl));
	ctl.keysize = sizeof(Oid);
	ctl.entrysize = sizeof(CdcTable);
	ctl.hcxt = run->cxt;
	capture->tables = hash_create("redtrack cdc tables", 16, &ctl,
								  HASH_ELEM | HASH_BLOBS | HASH_CONTEXT);
	capture->postgres_dialect = (redtrack_target_dialect == REDTRACK_DIALECT_POSTGRES);
	capture->change_cxt = AllocSetContextCreate(run->cxt, "redtrack cdc change",
												ALLOCSET_DEFAULT_SIZES);

	foreach(lc, run->tables)
	{
		RunTable   *t = lfirst(lc);
		CdcTable   *ct;
		bool		found;
		ListCell   *cc;
		int			i = 0;

		if (!t->active)
			continue;
		ct = hash_search(capture->tables, &t->r->relid, HASH_ENTER, &found);
		ct->source_name = t->r->source_name;
		ct->reader = t->reader;
		ct->ncolumns = list_length(t->layout.columns);
		ct->columns = palloc(sizeof(ColumnMap *) * Max(ct->ncolumns, 1));
		ct->is_key = palloc0(sizeof(bool) * Max(ct->ncolumns, 1));
		ct->unchanged_seen = palloc0(sizeof(bool) * Max(ct->ncolumns, 1));
		foreach(cc, t->layout.columns)
		{
			ColumnMap  *col = lfirst(cc);

			ct->columns[i] = col;
			ct->is_key[i] = list_member_ptr(t->layout.key_columns, col);
			i++;
		}
		ct->spool_path = spool_path(t->r->relid);
		ct->spool = NULL;
		ct->changes = 0;
		ct->truncate_seq = 0;
		memset(&ct->counters, 0, sizeof(ct->counters));
		t->ct = ct;
	}
}

static void
close_spools(Run *run, bool remove)
{
	ListCell   *lc;

	foreach(lc, run->tables)
	{
		RunTable   *t = lfirst(lc);

		if (t->ct == NULL)
			continue;
		if (t->ct->spool)
		{
			if (fclose(t->ct->spool) != 0 && !remove)
				ereport(ERROR,
						(errcode_for_file_access(),
						 errmsg("could not write spool file \"%s\": %m", t->ct->spool_path)));
			t->ct->spool = NULL;
		}
		if (remove)
			(void) unlink(t->ct->spool_path);
	}
}

/* Decode from the confirmed LSN up to run->upto into the spool files. */
static void
decode(Run *run)
{
	SpiArgs		args = {0};
	char		dir[MAXPGPATH];

	snprintf(dir, sizeof(dir), "base/%s", PG_TEMP_FILES_DIR);
	if (MakePGDirectory(dir) < 0 && errno != EEXIST)
		ereport(ERROR,
				(errcode_for_file_access(),
				 errmsg("could not create directory \"%s\": %m", dir)));

	spi_arg_text(&args, run->slot);
	spi_arg_text(&args, lsn_text(run->upto));
	pgstat_report_activity(STATE_RUNNING,
						   psprintf("redtrack: decoding %s from %s to %s", run->slot,
									lsn_text(run->confirmed), lsn_text(run->upto)));
	engine_begin_transaction(run->cxt);
	SPI_connect();
	cdc_capture = &run->capture;
	PG_TRY();
	{
		/* The plugin writes nothing through the function: it spools. */
		spi_run("SELECT pg_catalog.count(*) FROM pg_catalog.pg_logical_slot_peek_binary_changes("
				"$1, $2::pg_catalog.pg_lsn, NULL)", &args, true);
	}
	PG_FINALLY();
	{
		cdc_capture = NULL;
	}
	PG_END_TRY();
	SPI_finish();
	engine_commit_transaction(run->cxt);
	close_spools(run, false);
	run->changes = run->capture.changes;
}

/* ----------------------------------------------------------------
 * Upload
 * ----------------------------------------------------------------
 */

/* A table's spool, record by record, through the export pipeline. */
static void
upload_table(Run *run, RunTable *t)
{
	PipelineConfig config;
	size_t		max_file = (size_t) redtrack_max_file_size * 1024;
	Pipeline   *volatile p = NULL;
	FILE	   *volatile in = NULL;
	char		error[512];

	t->s3_key = psprintf("%scdc-%X-%X/", state_s3_key(run->s3->prefix, t->r->target_table, 0),
						 LSN_FORMAT_ARGS(run->confirmed));
	/* state_s3_key ends in "/0/": keep the target's folder, not the id */
	{
		char	   *zero = strstr(t->s3_key, "/0/cdc-");

		if (zero)
			memmove(zero + 1, zero + 3, strlen(zero + 3) + 1);
	}

	memset(&config, 0, sizeof(config));
	redtrack_s3_config(run->s3, &config.s3);
	config.key_prefix = t->s3_key;
	config.file_stem = "changes";
	config.slices = redtrack_slices;
	config.max_file_size = max_file;
	config.part_size = CDC_PART_SIZE;
	config.chunk_size = Min(CDC_MAX_CHUNK, Max(max_file / 8, 4096));
	config.compression_level = redtrack_compression_level;
	config.uploaders = Min(Max(redtrack_slices, 2), CDC_MAX_UPLOADERS);
	config.wait_check = export_backend_interrupted;

	if (!s3_global_init())
		ereport(ERROR,
				(errcode(ERRCODE_SYSTEM_ERROR),
				 errmsg("could not initialize libcurl")));
	pgstat_report_activity(STATE_RUNNING, psprintf("redtrack: uploading changes of %s",
												   t->r->source_name));
	PG_TRY();
	{
		uint32		len;
		char	   *record = NULL;
		uint32		cap = 0;
		int			slice = 0;
		int64		n = 0;

		p = pipeline_start(&config, error, sizeof(error));
		if (p == NULL)
			ereport(ERROR,
					(errcode(ERRCODE_SYSTEM_ERROR),
					 errmsg("could not start the upload pipeline: %s", error)));
		in = fopen(t->ct->spool_path, "rb");
		if (in == NULL)
			ereport(ERROR,
					(errcode_for_file_access(),
					 errmsg("could not open spool file \"%s\": %m", t->ct->spool_path)));
		while (fread(&len, sizeof(len), 1, in) == 1)
		{
			ByteBuf    *buf;

			if (len > cap)
			{
				cap = Max(len, 64 * 1024);
				record = record ? repalloc(record, cap) : palloc(cap);
			}
			if (fread(record, 1, len, in) != len)
				ereport(ERROR,
						(errcode(ERRCODE_DATA_CORRUPTED),
						 errmsg("spool file \"%s\" ends inside a record", t->ct->spool_path)));
			buf = pipeline_buffer(p, slice);
			bytebuf_append(buf, record, len);
			if (!pipeline_commit(p, slice))
				export_report_pipeline_failure(p);
			slice = (slice + 1) % config.slices;
			if (++n % 4096 == 0)
				CHECK_FOR_INTERRUPTS();
		}
		if (ferror(in))
			ereport(ERROR,
					(errcode_for_file_access(),
					 errmsg("could not read spool file \"%s\": %m", t->ct->spool_path)));
		fclose(in);
		in = NULL;
		if (!pipeline_finish(p))
			export_report_pipeline_failure(p);
		export_put_manifest(run->s3, psprintf("%smanifest.json", t->s3_key), p);
	}
	PG_FINALLY();
	{
		if (in)
			fclose(in);
		if (p)
			pipeline_destroy(p);
	}
	PG_END_TRY();
}

/* ----------------------------------------------------------------
 * The warehouse transaction
 * ----------------------------------------------------------------
 */

static void
exec(Run *run, const char *sql)
{
	pgstat_report_activity(STATE_RUNNING, redtrack_redact(psprintf("redtrack: %s", sql)));
	(void) redshift_exec(run->conn, sql, 0, NULL, NULL);
}

/* The end of the range a committed load of this slot from `from` covered. */
static char *
committed_load_end(Run *run, XLogRecPtr from)
{
	const char *params[2];
	RedshiftResult *res;

	params[0] = run->identity;
	params[1] = lsn_text(from);
	res = redshift_exec(run->conn,
						psprintf("SELECT window_last FROM %s WHERE source = $1 AND strategy = 'cdc' "
								 "AND window_first = $2", load_loads_table()),
						2, params, NULL);
	if (res->nrows == 0)
		return NULL;
	return pstrdup(redshift_value(res, 0, 0));
}

static List *
target_names(List *columns)
{
	List	   *names = NIL;
	ListCell   *lc;

	foreach(lc, columns)
		names = lappend(names, ((ColumnMap *) lfirst(lc))->target_name);
	return names;
}

/* One table's changes, inside the run's transaction. */
static void
apply_table(Run *run, RunTable *t)
{
	List	   *columns = target_names(t->layout.columns);
	List	   *keys = target_names(t->layout.key_columns);
	List	   *vkeys = load_varchar_keys(t->target, keys);
	char	   *collist = sql_name_list(columns, NULL, SQL_QUOTE_WAREHOUSE);
	char	   *stage = psprintf("redtrack_cdc_stage_%u", t->r->relid);
	char	   *last = psprintf("redtrack_cdc_last_%u", t->r->relid);
	const char *target = t->target->qualified;
	int			i;
	bool		any_unchanged = false;
	ListCell   *lc;

	exec(run, psprintf("CREATE TEMP TABLE %s AS SELECT CAST(0 AS BIGINT) AS redtrack_seq, "
					   "CAST('' AS VARCHAR(1)) AS redtrack_op, CAST('' AS VARCHAR(%d)) AS redtrack_mask, "
					   "%s FROM %s WHERE 1 = 0",
					   stage, Max(t->ct->ncolumns, 1), collist, target));
	t->staged = load_copy_files(run->conn, run->s3, t->s3_key, target, stage,
								psprintf("redtrack_seq, redtrack_op, redtrack_mask, %s", collist),
								psprintf("%smanifest.json", t->s3_key));

	/* A TRUNCATE: what came before it is gone, and so is the target's. */
	if (t->ct->truncate_seq > 0)
	{
		exec(run, psprintf("DELETE FROM %s WHERE redtrack_seq < " INT64_FORMAT, stage,
						   t->ct->truncate_seq));
		exec(run, psprintf("DELETE FROM %s", target));
	}

	/* The last change per key, in stream order. */
	for (i = 0; i < t->ct->ncolumns; i++)
		any_unchanged |= t->ct->unchanged_seen[i];
	if (!any_unchanged)
	{
		/*
		 * Nothing to fill in: no table of last changes to materialise.  The
		 * staged keys are deleted (a TRUNCATE record's NULL key matches
		 * nothing) and each key's last change inserted unless a delete.
		 */
		exec(run, psprintf("DELETE FROM %s USING %s WHERE %s", target, stage,
						   sql_key_join(keys, vkeys, target, stage)));
		exec(run, psprintf("INSERT INTO %s (%s) SELECT %s FROM "
						   "(SELECT *, ROW_NUMBER() OVER (PARTITION BY %s ORDER BY redtrack_seq DESC) AS redtrack_rn "
						   " FROM %s WHERE redtrack_op <> 'T') AS s WHERE redtrack_rn = 1 AND redtrack_op <> 'D'",
						   target, collist, collist, sql_key_partition(keys, vkeys), stage));
		exec(run, psprintf("DROP TABLE %s", stage));
		return;
	}
	exec(run, psprintf("CREATE TEMP TABLE %s AS SELECT * FROM "
					   "(SELECT *, ROW_NUMBER() OVER (PARTITION BY %s ORDER BY redtrack_seq DESC) AS redtrack_rn "
					   "FROM %s WHERE redtrack_op <> 'T') AS s WHERE redtrack_rn = 1",
					   last, sql_key_partition(keys, vkeys), stage));

	/*
	 * Unchanged TOAST values: the row's previous version has them, either
	 * on the target or in an earlier staged change of the same key (the
	 * newer of the two; after a delete or TRUNCATE a row comes back with
	 * every value, so the latest staged version that carried the value is
	 * the right one).
	 */
	i = 0;
	foreach(lc, columns)
	{
		const char *c = rs_quote_identifier(lfirst(lc));

		i++;
		if (!t->ct->unchanged_seen[i - 1])
			continue;
		exec(run, psprintf("UPDATE %s SET %s = t.%s FROM %s AS t WHERE %s "
						   "AND SUBSTRING(%s.redtrack_mask, %d, 1) = 'u'",
						   last, c, c, target, sql_key_join(keys, vkeys, last, "t"), last, i));
		exec(run, psprintf("UPDATE %s SET %s = p.%s FROM "
						   "(SELECT %s, %s, ROW_NUMBER() OVER (PARTITION BY %s ORDER BY redtrack_seq DESC) AS redtrack_rn "
						   " FROM %s WHERE redtrack_op IN ('I', 'U', 'K') AND SUBSTRING(redtrack_mask, %d, 1) <> 'u') AS p "
						   "WHERE p.redtrack_rn = 1 AND %s AND SUBSTRING(%s.redtrack_mask, %d, 1) = 'u'",
						   last, c, c, sql_name_list(keys, NULL, SQL_QUOTE_WAREHOUSE), c, sql_key_partition(keys, vkeys),
						   stage, i, sql_key_join(keys, vkeys, last, "p"), last, i));

		/*
		 * A changed key (K, right after the delete of the old key): the
		 * values it left out are the old key's, on the target or in an
		 * earlier staged change of the old key.  These come last, over
		 * whatever the new key's own history said.
		 */
		exec(run, psprintf("UPDATE %s SET %s = t.%s FROM %s AS d, %s AS t "
						   "WHERE %s.redtrack_op = 'K' AND SUBSTRING(%s.redtrack_mask, %d, 1) = 'u' "
						   "AND d.redtrack_seq = %s.redtrack_seq - 1 AND d.redtrack_op = 'D' AND %s",
						   last, c, c, stage, target, last, last, i, last,
						   sql_key_join(keys, vkeys, "t", "d")));
		exec(run, psprintf("UPDATE %s SET %s = p.%s FROM %s AS d, "
						   "(SELECT %s, %s, redtrack_seq, ROW_NUMBER() OVER (PARTITION BY %s ORDER BY redtrack_seq DESC) AS redtrack_rn "
						   " FROM %s WHERE redtrack_op IN ('I', 'U', 'K') AND SUBSTRING(redtrack_mask, %d, 1) <> 'u') AS p "
						   "WHERE %s.redtrack_op = 'K' AND SUBSTRING(%s.redtrack_mask, %d, 1) = 'u' "
						   "AND d.redtrack_seq = %s.redtrack_seq - 1 AND d.redtrack_op = 'D' "
						   "AND p.redtrack_rn = 1 AND p.redtrack_seq < d.redtrack_seq AND %s",
						   last, c, c, stage, sql_name_list(keys, NULL, SQL_QUOTE_WAREHOUSE), c, sql_key_partition(keys, vkeys),
						   stage, i, last, last, i, last, sql_key_join(keys, vkeys, "p", "d")));
	}

	exec(run, psprintf("DELETE FROM %s USING %s WHERE %s", target, last,
					   sql_key_join(keys, vkeys, target, last)));
	exec(run, psprintf("INSERT INTO %s (%s) SELECT %s FROM %s WHERE redtrack_op <> 'D'",
					   target, collist, collist, last));
	exec(run, psprintf("DROP TABLE %s", last));
	exec(run, psprintf("DROP TABLE %s", stage));
}

static void
insert_marker(Run *run, int64 rows, int ntables)
{
	const char *params[8];
	char	   *now = DatumGetCString(DirectFunctionCall1(timestamptz_out,
														  TimestampTzGetDatum(GetCurrentTimestamp())));

	now[strcspn(now, "+")] = '\0';
	params[0] = psprintf(INT64_FORMAT, (int64) run->upto);
	params[1] = run->identity;
	params[2] = psprintf("%d cdc table%s", ntables, ntables == 1 ? "" : "s");
	params[3] = lsn_text(run->confirmed);
	params[4] = lsn_text(run->upto);
	params[5] = psprintf(INT64_FORMAT, rows);
	params[6] = "0";
	params[7] = now;
	(void) redshift_exec(run->conn,
						 psprintf("INSERT INTO %s (replication_id, source, target, strategy, "
								  "window_first, window_last, rows_loaded, deletes_loaded, loaded_at) "
								  "VALUES ($1, $2, $3, 'cdc', $4, $5, $6, $7, $8)", load_loads_table()),
						 8, params, NULL);
}

/* Returns false when an earlier attempt had committed this very range. */
static bool
load_all(Run *run)
{
	ListCell   *lc;
	int64		rows = 0;
	int			ntables = 0;

	exec(run, "BEGIN");
	exec(run, psprintf("LOCK %s", load_loads_table()));
	if (committed_load_end(run, run->confirmed) != NULL)
	{
		exec(run, "ROLLBACK");
		return false;
	}
	foreach(lc, run->tables)
	{
		RunTable   *t = lfirst(lc);

		if (!t->active || t->ct->changes == 0)
			continue;
		apply_table(run, t);
		rows += t->staged;
		ntables++;
	}
	insert_marker(run, rows, ntables);
	exec(run, "COMMIT");
	return true;
}

/*
 * Serialisation conflicts with someone else's transaction (Redshift's
 * 1023 on a SERIALIZABLE cluster) roll the load back whole: try again a
 * few times with a growing pause, as the loader does.
 */
static bool
load_all_retrying(Run *run)
{
	MemoryContext cxt = CurrentMemoryContext;
	volatile bool result = false;

	for (volatile int attempt = 1;; attempt++)
	{
		ErrorData  *volatile edata = NULL;
		long		backoff_ms;

		PG_TRY();
		{
			result = load_all(run);
		}
		PG_CATCH();
		{
			MemoryContextSwitchTo(cxt);
			edata = CopyErrorData();
			if (attempt >= CDC_LOAD_ATTEMPTS || !load_is_serialization_failure(edata))
				PG_RE_THROW();
			FlushErrorState();
		}
		PG_END_TRY();
		if (edata == NULL)
			return result;

		backoff_ms = (100L << attempt) + random() % 100;
		(void) redshift_exec(run->conn, "ROLLBACK", 0, NULL, NULL);
		ereport(LOG,
				(errmsg("redtrack: cdc load of slot \"%s\" met a serialisation conflict; attempt %d of %d in %ld ms",
						run->slot, attempt + 1, CDC_LOAD_ATTEMPTS, backoff_ms),
				 errdetail("%s", edata->message)));
		(void) WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH,
						 backoff_ms, PG_WAIT_EXTENSION);
		ResetLatch(MyLatch);
		CHECK_FOR_INTERRUPTS();
	}
}

/* ----------------------------------------------------------------
 * The run
 * ----------------------------------------------------------------
 */

static void
record_run(Run *run, const char *error, bool loaded, XLogRecPtr from)
{
	SpiArgs		args = {0};
	ListCell   *lc;

	spi_arg_text(&args, run->slot);
	spi_arg_text(&args, error);
	spi_arg_text(&args, run->note);
	spi_arg_text(&args, loaded ? lsn_text(from) : NULL);
	spi_arg_text(&args, loaded ? lsn_text(run->upto) : NULL);
	spi_arg_int8(&args, run->changes);
	engine_begin_transaction(run->cxt);
	SPI_connect();
	spi_run("UPDATE redtrack.cdc_state SET last_run_at = pg_catalog.now(), error = $2, "
			"note = COALESCE($3, note), "
			"last_loaded_from = COALESCE($4::pg_catalog.pg_lsn, last_loaded_from), "
			"last_loaded_to = COALESCE($5::pg_catalog.pg_lsn, last_loaded_to), "
			"last_changes = CASE WHEN $2 IS NULL THEN $6 ELSE last_changes END "
			"WHERE slot_name = $1", &args, false);
	if (error == NULL)
	{
		foreach(lc, run->tables)
		{
			RunTable   *t = lfirst(lc);
			SpiArgs		targs = {0};

			if (!t->active)
				continue;
			spi_arg_oid(&targs, t->r->relid);
			spi_arg_int8(&targs, t->ct ? t->ct->changes : 0);
			spi_run("UPDATE redtrack.cdc_tables SET changes_loaded = changes_loaded + $2, "
					"last_loaded_at = pg_catalog.now(), error = NULL "
					"WHERE source = $1::pg_catalog.oid::pg_catalog.regclass", &targs, false);
		}
	}
	SPI_finish();
	engine_commit_transaction(run->cxt);
}

static void
warn_retained_wal(Run *run)
{
	SpiArgs		args = {0};
	int64		retained;
	bool		isnull;

	if (redtrack_cdc_max_retained_wal <= 0)
		return;
	spi_arg_text(&args, run->slot);
	engine_begin_transaction(run->cxt);
	SPI_connect();
	if (spi_run("SELECT pg_catalog.pg_wal_lsn_diff(pg_catalog.pg_current_wal_lsn(), restart_lsn)::int8 "
				"FROM pg_catalog.pg_replication_slots WHERE slot_name = $1", &args, true) == 1)
	{
		retained = spi_get_int8(0, 1, &isnull);
		if (!isnull && retained > (int64) redtrack_cdc_max_retained_wal * 1024 * 1024)
			ereport(WARNING,
					(errmsg("redtrack: replication slot \"%s\" retains " INT64_FORMAT " MB of WAL",
							run->slot, retained / (1024 * 1024)),
					 errdetail("redtrack.cdc_max_retained_wal is %d MB.", redtrack_cdc_max_retained_wal),
					 errhint("See redtrack.cdc_status and the errors of redtrack.cdc_tables: a failing load keeps the slot where it is.")));
	}
	SPI_finish();
	engine_commit_transaction(run->cxt);
}


static XLogRecPtr
flushed_lsn(void)
{
	return GetFlushRecPtr(NULL);
}

/*
 * Settings, tables, slot and identity of the run.  False when no cdc table
 * is left (the slot is then dropped): there is nothing to run.
 */
static bool
setup_run(Run *run)
{
	run->s3 = redtrack_s3_settings();
	redshift_require_conninfo();

	run->tables = load_tables(run);
	if (run->tables == NIL)
	{
		/* Unregistered meanwhile (a DROP that found the slot in use). */
		engine_begin_transaction(run->cxt);
		SPI_connect();
		cdc_drop_slot_if_unused(true);
		SPI_finish();
		engine_commit_transaction(run->cxt);
		return false;
	}
	ensure_slot(run);

	engine_begin_transaction(run->cxt);
	SPI_connect();
	if (spi_run("SELECT id::text FROM redtrack.installation", NULL, true) != 1)
		ereport(ERROR,
				(errcode(ERRCODE_INTERNAL_ERROR),
				 errmsg("redtrack.installation does not hold exactly one row")));
	run->identity = MemoryContextStrdup(run->cxt,
										psprintf("%s:cdc:%s", spi_get_text(run->cxt, 0, 1), run->slot));
	SPI_finish();
	engine_commit_transaction(run->cxt);
	return true;
}

/*
 * A load the warehouse committed but whose slot advance was lost (the
 * process died in between): only advance the slot past it.
 */
static void
catch_up_committed_load(Run *run)
{
	char	   *done_to;

	while ((done_to = committed_load_end(run, run->confirmed)) != NULL)
	{
		XLogRecPtr	to = parse_lsn(done_to);

		if (to <= run->confirmed)
			break;
		ereport(LOG,
				(errmsg("redtrack: changes of slot \"%s\" from %s to %s were already loaded; advancing the slot",
						run->slot, lsn_text(run->confirmed), done_to)));
		advance_slot(run, to);
	}
}

/*
 * Snapshot new tables, decode the WAL up to what is flushed now, upload and
 * load the changes, and advance the slot.  *from is where the capture
 * started; true when changes were loaded.
 */
static bool
capture_and_load(Run *run, XLogRecPtr *from)
{
	ListCell   *lc;
	bool		loaded = false;

	foreach(lc, run->tables)
	{
		RunTable   *t = lfirst(lc);

		if (t->pending)
			take_snapshot(run, t);
	}
	foreach(lc, run->tables)
	{
		RunTable   *t = lfirst(lc);

		if (!t->pending)
			prepare_table(run, t);
	}

	/*
	 * Up to the WAL flushed now: whatever commits later is the next run's.
	 * The slot advances to it even when nothing captured changed.
	 */
	*from = run->confirmed;
	/* What committed asynchronously is visible already: take it along. */
	state_flush_wal();
	run->upto = flushed_lsn();
	if (run->upto <= run->confirmed)
		return false;

	build_capture(run);
	decode(run);
	if (run->changes > 0)
	{
		foreach(lc, run->tables)
		{
			RunTable   *t = lfirst(lc);

			if (t->active && t->ct->changes > 0)
				upload_table(run, t);
		}
		close_spools(run, true);
		/* Nothing goes to the warehouse that a crash here could take back. */
		state_flush_wal();
		loaded = load_all_retrying(run);
		if (!loaded)
			ereport(LOG,
					(errmsg("redtrack: changes of slot \"%s\" from %s were already loaded; advancing the slot",
							run->slot, lsn_text(run->confirmed))));
		loaded = true;

		/* Test hook: the process dies between COMMIT and the advance. */
		if (redtrack_cdc_fault && strcmp(redtrack_cdc_fault, "kill_after_commit") == 0)
			(void) kill(MyProcPid, SIGKILL);
	}
	else
		close_spools(run, true);
	advance_slot(run, run->upto);
	if (loaded && redtrack_delete_s3_files_after_import)
	{
		foreach(lc, run->tables)
		{
			RunTable   *t = lfirst(lc);

			if (t->s3_key)
				/* the load is done: leftover files are not the run's failure */
				export_remove_files_or_warn(run->s3, t->s3_key, "a cdc load");
		}
	}
	return loaded;
}

/*
 * Record the run, warn about retained WAL, and fill in the outcome of the
 * table asked for.
 */
static void
report_outcome(Run *run, Oid asked, TableOutcome *outcome, bool loaded, XLogRecPtr from)
{
	ListCell   *lc;

	record_run(run, NULL, loaded, from);
	warn_retained_wal(run);

	foreach(lc, run->tables)
	{
		RunTable   *t = lfirst(lc);

		if (t->r->relid != asked)
			continue;
		outcome->rows = t->ct ? t->ct->changes : 0;
		strlcpy(outcome->state, state_name(t->error ? RS_FAILED : RS_IMPORTED), OUTCOME_STATE_LEN);
		if (t->error)
			strlcpy(outcome->error, t->error, OUTCOME_ERROR_LEN);
	}
	if (run->changes > 0)
		ereport(LOG,
				(errmsg("redtrack: cdc loaded " INT64_FORMAT " changes of slot \"%s\" from %s to %s",
						run->changes, run->slot, lsn_text(from), lsn_text(run->upto))));
	if (run->note)
		strlcpy(outcome->warning, run->note, OUTCOME_ERROR_LEN);
}

static void
run_database(Run *run, Oid asked, TableOutcome *outcome)
{
	XLogRecPtr	from;
	bool		loaded;

	if (!setup_run(run))
		return;

	run->conn = redshift_connect();
	load_ensure_loads_table(run->conn);
	catch_up_committed_load(run);

	loaded = capture_and_load(run, &from);
	redshift_disconnect(run->conn);
	run->conn = NULL;

	report_outcome(run, asked, outcome, loaded, from);
}

void
cdc_run_database(Oid relid, bool wait_for_lock, TableOutcome *outcome)
{
	MemoryContext cxt = AllocSetContextCreate(TopMemoryContext, "redtrack cdc run",
											  ALLOCSET_DEFAULT_SIZES);
	MemoryContext old = MemoryContextSwitchTo(cxt);
	Run		   *run = palloc0(sizeof(Run));

	memset(outcome, 0, sizeof(*outcome));
	outcome->relid = relid;
	run->cxt = cxt;
	run->slot = cdc_slot_name();

	if (!lock_database(wait_for_lock, cxt))
	{
		outcome->skipped = true;
		MemoryContextSwitchTo(old);
		MemoryContextDelete(cxt);
		return;
	}
	pgstat_report_activity(STATE_RUNNING, "redtrack: cdc run");

	PG_TRY();
	{
		run_database(run, relid, outcome);
	}
	PG_CATCH();
	{
		ErrorData  *edata;
		char	   *message;

		MemoryContextSwitchTo(cxt);
		edata = CopyErrorData();
		FlushErrorState();
		AbortCurrentTransaction();
		MemoryContextSwitchTo(cxt);
		cdc_capture = NULL;
		snapshot_in_progress = false;
		close_spools(run, true);
		if (run->conn)
			redshift_disconnect(run->conn);

		message = redtrack_redact(edata->detail
								  ? psprintf("%s\n%s", edata->message, edata->detail)
								  : edata->message);
		strlcpy(outcome->error, message, OUTCOME_ERROR_LEN);
		strlcpy(outcome->state, state_name(RS_FAILED), OUTCOME_STATE_LEN);
		outcome->sqlstate = edata->sqlerrcode;
		PG_TRY();
		{
			record_run(run, message, false, InvalidXLogRecPtr);
		}
		PG_CATCH();
		{
			FlushErrorState();
			AbortCurrentTransaction();
		}
		PG_END_TRY();
		MemoryContextSwitchTo(cxt);
		ereport(LOG,
				(errmsg("redtrack: cdc run of slot \"%s\" failed: %s", run->slot,
						redtrack_redact(edata->message)),
				 edata->hint ? errhint("%s", edata->hint) : 0,
				 errdetail("Nothing was advanced: the next run decodes the same changes again.")));
	}
	PG_END_TRY();

	pgstat_report_activity(STATE_IDLE, NULL);
	unlock_database(cxt);
	MemoryContextSwitchTo(old);
	MemoryContextDelete(cxt);
}
