/*-------------------------------------------------------------------------
 *
 * cdc_decoder.c
 *	  The logical decoding output plugin of the cdc strategy: redtrack.so
 *	  itself (pg_create_logical_replication_slot(name, 'redtrack')).
 *
 * Each change of a captured table is encoded straight into the export's
 * CSV encoding (typemap.c, the same code the snapshot export uses) and
 * appended to that table's spool file as it is decoded: no text protocol
 * to parse, and nothing held in memory, so a transaction of millions of
 * rows flows through with flat memory (the reorder buffer itself spills
 * large transactions to disk past logical_decoding_work_mem).
 *
 * A record is: sequence number (the order of the change in the decoded
 * stream: commit order, then the order within the transaction), kind
 * (I, U, D, T), the unchanged-columns mask, then the target's columns.
 * An UPDATE that did not touch a toasted column carries no value for it
 * in the WAL (default replica identity): its mask has 'u' there and the
 * load keeps the value the row had before.  An UPDATE that changed the key
 * is a delete of the old key followed by the new row.
 *
 * The plugin writes only while a redtrack run has set cdc_capture; anyone
 * else peeking at the slot gets nothing (and moves nothing: a peek never
 * advances a slot).  It emits nothing through the output stream, so the
 * peek function's tuplestore stays empty.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <signal.h>
#include <unistd.h>

#include "access/detoast.h"
#include "access/htup_details.h"
#include "catalog/pg_type.h"
#include "miscadmin.h"
#include "replication/logical.h"
#include "replication/output_plugin.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "catalog/pg_class.h"
#include "utils/rel.h"

#include "cdc.h"
#include "csv.h"
#include "guc.h"
#include "spi_util.h"

CdcCapture *cdc_capture = NULL;

/* Declared by output_plugin.h from PostgreSQL 16 on. */
extern PGDLLEXPORT void _PG_output_plugin_init(OutputPluginCallbacks *cb);

#if PG_VERSION_NUM >= 170000
#define CHANGE_TUPLE(t) (t)
#else
#define CHANGE_TUPLE(t) ((t) ? &(t)->tuple : NULL)
#endif

static void
cdc_startup(LogicalDecodingContext *ctx, OutputPluginOptions *opt, bool is_init)
{
	ListCell   *lc;

	opt->output_type = OUTPUT_PLUGIN_BINARY_OUTPUT;
	opt->receive_rewrites = false;
	foreach(lc, ctx->output_plugin_options)
	{
		DefElem    *elem = lfirst(lc);

		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("option \"%s\" is not known to redtrack's output plugin", elem->defname)));
	}
}

static void
cdc_shutdown(LogicalDecodingContext *ctx)
{
}

static void
cdc_begin(LogicalDecodingContext *ctx, ReorderBufferTXN *txn)
{
}

static void
cdc_commit(LogicalDecodingContext *ctx, ReorderBufferTXN *txn, XLogRecPtr commit_lsn)
{
}

/* Append one framed record to the table's spool file. */
static void
spool_record(CdcTable *t, ByteBuf *record)
{
	uint32		len = (uint32) record->len;

	if (record->oom)
		ereport(ERROR,
				(errcode(ERRCODE_OUT_OF_MEMORY),
				 errmsg("out of memory while encoding a change of %s", t->source_name)));
	if (t->spool == NULL)
	{
		t->spool = fopen(t->spool_path, "wb");
		if (t->spool == NULL)
			ereport(ERROR,
					(errcode_for_file_access(),
					 errmsg("could not create spool file \"%s\": %m", t->spool_path)));
	}
	if (fwrite(&len, sizeof(len), 1, t->spool) != 1 ||
		fwrite(record->data, 1, record->len, t->spool) != record->len)
		ereport(ERROR,
				(errcode_for_file_access(),
				 errmsg("could not write spool file \"%s\": %m", t->spool_path)));
	t->changes++;
	cdc_capture->changes++;

	/* Test hook: a worker killed in the middle of decoding. */
	if (redtrack_cdc_fault && strcmp(redtrack_cdc_fault, "kill_while_decoding") == 0 &&
		cdc_capture->changes == 50)
		(void) kill(MyProcPid, SIGKILL);
}

static void
begin_record(CdcTable *t, ByteBuf *record, char op, const char *mask)
{
	char		seq[32];
	int			n;

	bytebuf_reset(record);
	t->counters.record_start = 0;
	n = snprintf(seq, sizeof(seq), INT64_FORMAT, ++cdc_capture->next_seq);
	bytebuf_append(record, seq, n);
	bytebuf_append_char(record, ',');
	bytebuf_append_char(record, op);
	bytebuf_append_char(record, ',');
	csv_append_quoted(record, mask, strlen(mask));
}

/*
 * The value of a column in a decoded tuple.  A column added after the
 * change was written is NULL; a column dropped or retyped since is an
 * error (the run checked the catalog, so this is DDL that came while it
 * ran: the next run sees it and stops the table with a clear message).
 */
static Datum
tuple_value(CdcTable *t, ColumnMap *col, HeapTuple tuple, TupleDesc desc, bool *isnull)
{
	Form_pg_attribute att;

	if (col->attnum > desc->natts)
	{
		*isnull = true;
		return (Datum) 0;
	}
	att = TupleDescAttr(desc, col->attnum - 1);
	if (att->attisdropped || getBaseType(att->atttypid) != col->typid)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("column \"%s\" of %s was dropped or changed type while its changes were being captured",
						col->source_name, t->source_name)));
	return heap_getattr(tuple, col->attnum, desc, isnull);
}

static bool
unchanged_toast(Form_pg_attribute att, Datum value, bool isnull)
{
	return !isnull && att->attlen == -1 &&
		VARATT_IS_EXTERNAL_ONDISK(DatumGetPointer(value));
}

/*
 * A whole row (I, U or K): every column, with the unchanged ones masked.
 * An old tuple, when the WAL has one (REPLICA IDENTITY FULL logs it whole,
 * its toasted values inlined), supplies the values the new one left out.
 */
static void
spool_row(CdcTable *t, char op, HeapTuple tuple, HeapTuple oldtuple, TupleDesc desc)
{
	ByteBuf    *record = &cdc_capture->record;
	char	   *mask = palloc(t->ncolumns + 1);
	Datum	   *values = palloc(sizeof(Datum) * Max(t->ncolumns, 1));
	bool	   *nulls = palloc(sizeof(bool) * Max(t->ncolumns, 1));

	for (int i = 0; i < t->ncolumns; i++)
	{
		ColumnMap  *col = t->columns[i];

		values[i] = tuple_value(t, col, tuple, desc, &nulls[i]);
		mask[i] = CDC_MASK_PRESENT;
		if (col->attnum <= desc->natts &&
			unchanged_toast(TupleDescAttr(desc, col->attnum - 1), values[i], nulls[i]))
		{
			bool		old_null = true;
			Datum		old_value = (Datum) 0;

			if (oldtuple)
				old_value = tuple_value(t, col, oldtuple, desc, &old_null);
			if (oldtuple && !unchanged_toast(TupleDescAttr(desc, col->attnum - 1), old_value, old_null))
			{
				values[i] = old_value;
				nulls[i] = old_null;
				continue;
			}
			mask[i] = CDC_MASK_UNCHANGED;
			nulls[i] = true;
			t->unchanged_seen[i] = true;
		}
	}
	mask[t->ncolumns] = '\0';

	begin_record(t, record, op, mask);
	for (int i = 0; i < t->ncolumns; i++)
	{
		bytebuf_append_char(record, ',');
		redtrack_encode_value(record, t->columns[i], values[i], nulls[i],
							  cdc_capture->postgres_dialect, &t->counters);
	}
	bytebuf_append_char(record, '\n');
	spool_record(t, record);
}

/* The key of a tuple, encoded, into out (for comparing old and new). */
static void
encode_key(CdcTable *t, HeapTuple tuple, TupleDesc desc, ByteBuf *out)
{
	EncodeCounters counters;

	memset(&counters, 0, sizeof(counters));
	counters.no_record_limit = true;
	bytebuf_reset(out);
	for (int i = 0; i < t->ncolumns; i++)
	{
		bool		isnull;
		Datum		value;

		if (!t->is_key[i])
			continue;
		value = tuple_value(t, t->columns[i], tuple, desc, &isnull);
		bytebuf_append_char(out, ',');
		redtrack_encode_value(out, t->columns[i], value, isnull, cdc_capture->postgres_dialect,
							  &counters);
	}
}

/* A delete of the key an old tuple carries. */
static void
spool_delete(CdcTable *t, HeapTuple old, TupleDesc desc)
{
	ByteBuf    *record = &cdc_capture->record;
	char	   *mask = palloc(t->ncolumns + 1);

	memset(mask, CDC_MASK_PRESENT, t->ncolumns);
	mask[t->ncolumns] = '\0';
	begin_record(t, record, CDC_OP_DELETE, mask);
	for (int i = 0; i < t->ncolumns; i++)
	{
		bool		isnull = true;
		Datum		value = (Datum) 0;

		if (t->is_key[i])
			value = tuple_value(t, t->columns[i], old, desc, &isnull);
		bytebuf_append_char(record, ',');
		redtrack_encode_value(record, t->columns[i], value, isnull,
							  cdc_capture->postgres_dialect, &t->counters);
	}
	bytebuf_append_char(record, '\n');
	spool_record(t, record);
}

static CdcTable *
captured(Relation relation)
{
	bool		found;
	Oid			relid = RelationGetRelid(relation);
	CdcTable   *t;

	if (cdc_capture == NULL)
		return NULL;
	t = hash_search(cdc_capture->tables, &relid, HASH_FIND, &found);
	return found ? t : NULL;
}

static void
cdc_change(LogicalDecodingContext *ctx, ReorderBufferTXN *txn, Relation relation,
		   ReorderBufferChange *change)
{
	CdcTable   *t = captured(relation);
	TupleDesc	desc;
	MemoryContext old;
	HeapTuple	newtuple;
	HeapTuple	oldtuple;
	char		op;
	RoleScope	scope;

	if (t == NULL)
		return;
	desc = RelationGetDescr(relation);
	old = MemoryContextSwitchTo(cdc_capture->change_cxt);

	/*
	 * A type's output function is the table owner's code: it runs with the
	 * registering role's rights, restricted, as the export's reads do (an
	 * error aborts the transaction, which restores the user).
	 */
	role_scope_enter(&scope, t->reader);
	newtuple = CHANGE_TUPLE(change->data.tp.newtuple);
	oldtuple = CHANGE_TUPLE(change->data.tp.oldtuple);

	switch (change->action)
	{
		case REORDER_BUFFER_CHANGE_INSERT:
			if (newtuple)
				spool_row(t, CDC_OP_INSERT, newtuple, NULL, desc);
			break;
		case REORDER_BUFFER_CHANGE_UPDATE:
			op = CDC_OP_UPDATE;
			if (oldtuple && newtuple)
			{
				/*
				 * The old key is logged when the key changed (or always, with
				 * REPLICA IDENTITY FULL): a changed key is a delete first.
				 */
				ByteBuf		a = {0};
				ByteBuf		b = {0};
				bool		same;

				encode_key(t, oldtuple, desc, &a);
				encode_key(t, newtuple, desc, &b);
				same = a.len == b.len && memcmp(a.data, b.data, a.len) == 0;
				bytebuf_free(&a);
				bytebuf_free(&b);
				if (!same)
				{
					/*
					 * K: the new row of a changed key, right after the
					 * delete of the old key; its unchanged values are the
					 * old key's (the load looks them up through that
					 * delete).
					 */
					spool_delete(t, oldtuple, desc);
					op = CDC_OP_KEY_CHANGE;
				}
				/* With the default identity the old tuple is only the key. */
				if (RelationGetForm(relation)->relreplident != REPLICA_IDENTITY_FULL)
					oldtuple = NULL;
			}
			else
				oldtuple = NULL;
			if (newtuple)
				spool_row(t, op, newtuple, oldtuple, desc);
			break;
		case REORDER_BUFFER_CHANGE_DELETE:
			if (oldtuple)
				spool_delete(t, oldtuple, desc);
			break;
		default:
			break;
	}
	role_scope_leave(&scope);
	MemoryContextSwitchTo(old);
	MemoryContextReset(cdc_capture->change_cxt);
	CHECK_FOR_INTERRUPTS();
}

static void
cdc_truncate(LogicalDecodingContext *ctx, ReorderBufferTXN *txn, int nrelations,
			 Relation relations[], ReorderBufferChange *change)
{
	for (int i = 0; i < nrelations; i++)
	{
		CdcTable   *t = captured(relations[i]);
		RoleScope	scope;
		ByteBuf    *record;
		char	   *mask;

		if (t == NULL)
			continue;
		role_scope_enter(&scope, t->reader);
		record = &cdc_capture->record;
		mask = palloc(t->ncolumns + 1);
		memset(mask, CDC_MASK_PRESENT, t->ncolumns);
		mask[t->ncolumns] = '\0';
		begin_record(t, record, CDC_OP_TRUNCATE, mask);
		t->truncate_seq = cdc_capture->next_seq;
		for (int c = 0; c < t->ncolumns; c++)
		{
			bytebuf_append_char(record, ',');
			redtrack_encode_value(record, t->columns[c], (Datum) 0, true,
								  cdc_capture->postgres_dialect, &t->counters);
		}
		bytebuf_append_char(record, '\n');
		spool_record(t, record);
		pfree(mask);
		role_scope_leave(&scope);
	}
}

void
_PG_output_plugin_init(OutputPluginCallbacks *cb)
{
	cb->startup_cb = cdc_startup;
	cb->begin_cb = cdc_begin;
	cb->change_cb = cdc_change;
	cb->truncate_cb = cdc_truncate;
	cb->commit_cb = cdc_commit;
	cb->shutdown_cb = cdc_shutdown;
}
