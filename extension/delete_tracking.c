/*-------------------------------------------------------------------------
 *
 * delete_tracking.c
 *	  The trigger that records what DELETE, key-changing UPDATE and
 *	  TRUNCATE did to a tracked table, the triggers' upkeep on partitions,
 *	  and the function that shows the recorded keys as jsonb.
 *
 * A DELETE fires one statement-level trigger with the deleted rows in a
 * transition table; their keys go into redtrack.deleted_records rows,
 * flattened row by row into a text[], a few megabytes per row: memory
 * stays bounded whatever the statement deletes, and a bulk DELETE costs a
 * few inserts.  An UPDATE that changes a key fires a row-level trigger
 * (its WHEN clause keeps other updates cheap) and records the old key.  A
 * TRUNCATE records a marker telling the next load to replace the target.
 *
 * PostgreSQL fires a statement-level trigger only for the table a
 * statement names, and clones only row-level triggers to partitions, so
 * every partition below a tracked table (at any depth) carries its own
 * DELETE and TRUNCATE triggers: rrr_register installs them, and an event
 * trigger adds them to partitions created or attached later.  Whatever
 * table fires, the records go to the registered table above it.
 *
 * An UPDATE that moves a row to another partition is run by PostgreSQL as
 * a delete and an insert that fire no UPDATE row trigger and no DELETE
 * statement trigger, only DELETE row triggers.  A row-level DELETE
 * trigger on every row deleted would cost a queued event per row of
 * every bulk DELETE, so its WHEN clause lets rows through only while an
 * UPDATE statement runs on the partitioned table: statement-level
 * triggers before and after each UPDATE count them in a transaction-local
 * setting (MOVES_SETTING), which a failed statement's rollback restores.
 *
 * Key columns are found by attribute number (see resolve_key_columns), so
 * a renamed key column is followed.  The trigger never fails the
 * application's statement over a problem of its own: when it cannot
 * record the keys (a key column dropped, a NULL key) it records a
 * TRUNCATE marker instead, so the next load replaces the target and no
 * delete is lost.
 *
 * The trigger runs as whoever deletes; it reads and writes redtrack's
 * tables as the extension owner (see ownership.h).
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "access/relation.h"
#include "access/table.h"
#include "catalog/dependency.h"
#include "catalog/namespace.h"
#include "catalog/partition.h"
#include "catalog/pg_attribute.h"
#include "catalog/pg_class.h"
#include "catalog/pg_extension.h"
#include "catalog/pg_inherits.h"
#include "catalog/pg_trigger.h"
#include "catalog/pg_type.h"
#include "commands/event_trigger.h"
#include "commands/extension.h"
#include "commands/trigger.h"
#include "executor/executor.h"
#include "executor/spi.h"
#include "executor/tuptable.h"
#include "fmgr.h"
#include "funcapi.h"
#include "lib/stringinfo.h"
#include "miscadmin.h"
#include "nodes/parsenodes.h"
#include "tcop/deparse_utility.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/jsonb.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/partcache.h"
#include "utils/rel.h"
#include "utils/tuplestore.h"

#include "array_list.h"
#include "canonical_output.h"
#include "delete_tracking.h"
#include "ownership.h"
#include "spi_util.h"

PG_FUNCTION_INFO_V1(redtrack_track_deletes);
PG_FUNCTION_INFO_V1(redtrack_deleted_keys);
PG_FUNCTION_INFO_V1(redtrack_track_partitions_sql);
PG_FUNCTION_INFO_V1(redtrack_on_ddl_command_end);

/*
 * A deleted_records row holds the keys of up to this many bytes of key
 * text (or this many values): the trigger's memory stays near a few times
 * this, and the export detoasts one row at a time.  Rows of a statement are
 * never split between two records.
 */
#define DELETE_CHUNK_BYTES		(4 * 1024 * 1024)
#define DELETE_CHUNK_VALUES		(256 * 1024)

/*
 * The number of UPDATE statements running on tracked partitioned tables,
 * as a placeholder setting changed with SET LOCAL semantics, and the
 * moved-rows trigger's WHEN clause that reads it: unset (NULL), empty
 * (its value after the first transaction that set it) or '0' mean none.
 */
#define MOVES_SETTING			"redtrack_moves.depth"
#define MOVES_WHEN \
	"pg_catalog.current_setting('" MOVES_SETTING "', true) NOT IN ('', '0')"

/* The key columns of the relation a trigger fired on. */
typedef struct KeyColumns
{
	int			count;
	AttrNumber *attnums;
	FmgrInfo   *output;
	char	  **names;			/* current names */
	bool		needs_canonical_settings;	/* output depends on GUCs */
} KeyColumns;

/* Keys of one statement on their way into deleted_records rows. */
typedef struct KeyRecorder
{
	Oid			source;			/* the registered table */
	KeyColumns *keys;
	MemoryContext chunk_context;	/* reset after each inserted row */
	Datum	   *values;
	int			nvalues;
	int			capacity;
	Size		bytes;
} KeyRecorder;

static SPIPlanPtr insert_plan = NULL;
static SPIPlanPtr truncate_plan = NULL;
static SPIPlanPtr tracked_plan = NULL;

/*
 * Types whose text output does not depend on any setting.  Keys of other
 * types are written with canonical settings (canonical_output.h), so the stored text
 * is the same whatever DateStyle or TimeZone the deleting session uses.
 */
static bool
output_is_setting_independent(Oid typid)
{
	switch (getBaseType(typid))
	{
		case INT2OID:
		case INT4OID:
		case INT8OID:
		case OIDOID:
		case NUMERICOID:
		case BOOLOID:
		case TEXTOID:
		case VARCHAROID:
		case BPCHAROID:
		case NAMEOID:
		case UUIDOID:
			return true;
		default:
			return false;
	}
}

/* ----------------------------------------------------------------
 * Key columns
 * ----------------------------------------------------------------
 */

/*
 * The relation's redtrack key-change trigger (the one that fired, or its
 * sibling), or NULL.  Its column list (UPDATE OF ...) names the key.
 */
static Trigger *
key_change_trigger(Relation rel, Trigger *fired)
{
	TriggerDesc *trigdesc = rel->trigdesc;

	if (fired->tgnattr > 0)
		return fired;
	if (trigdesc == NULL)
		return NULL;
	for (int i = 0; i < trigdesc->numtriggers; i++)
	{
		Trigger    *t = &trigdesc->triggers[i];

		if (t->tgfoid == fired->tgfoid && t->tgnattr > 0 &&
			TRIGGER_FOR_ROW(t->tgtype) && TRIGGER_FOR_UPDATE(t->tgtype) &&
			strcmp(t->tgname, REDTRACK_TRIGGER_KEY_CHANGES) == 0)
			return t;
	}
	return NULL;
}

/*
 * Find the key columns of the relation a trigger fired on.
 *
 * The key-change trigger's column list is the authority: PostgreSQL keeps
 * it as attribute numbers, so it follows ALTER TABLE ... RENAME COLUMN,
 * is mapped to each partition's own attribute numbers when the trigger is
 * cloned, and pg_dump writes it with the columns' current names.  Only
 * without that trigger (dropped by hand, or with its column by DROP
 * COLUMN ... CASCADE) do the names the triggers were created with count.
 *
 * Never raises over the table's shape: returns false with *problem set
 * when a key column is gone.
 */
static bool
resolve_key_columns(Relation rel, Trigger *trigger, KeyColumns *keys,
					char **problem)
{
	TupleDesc	desc = RelationGetDescr(rel);
	Trigger    *authority = key_change_trigger(rel, trigger);
	int			count = authority ? authority->tgnattr : trigger->tgnargs;

	if (count < 1)
	{
		*problem = psprintf("The triggers of \"%s\" name no key column",
							RelationGetRelationName(rel));
		return false;
	}

	keys->count = count;
	keys->attnums = palloc(sizeof(AttrNumber) * count);
	keys->output = palloc(sizeof(FmgrInfo) * count);
	keys->names = palloc(sizeof(char *) * count);
	keys->needs_canonical_settings = false;

	for (int i = 0; i < count; i++)
	{
		AttrNumber	attnum;
		Form_pg_attribute attr;
		Oid			outfunc;
		bool		isvarlena;

		attnum = authority ? authority->tgattr[i] : SPI_fnumber(desc, trigger->tgargs[i]);
		if (attnum <= 0 || attnum > desc->natts ||
			TupleDescAttr(desc, attnum - 1)->attisdropped)
		{
			*problem = authority
				? psprintf("Key column %d of \"%s\" no longer exists",
						   i + 1, RelationGetRelationName(rel))
				: psprintf("Key column \"%s\" of \"%s\" no longer exists",
						   trigger->tgargs[i], RelationGetRelationName(rel));
			return false;
		}
		attr = TupleDescAttr(desc, attnum - 1);
		keys->attnums[i] = attnum;
		keys->names[i] = pstrdup(NameStr(attr->attname));
		getTypeOutputInfo(attr->atttypid, &outfunc, &isvarlena);
		fmgr_info(outfunc, &keys->output[i]);
		if (!output_is_setting_independent(attr->atttypid))
			keys->needs_canonical_settings = true;
	}
	return true;
}

/* ----------------------------------------------------------------
 * Which registration the rows belong to
 * ----------------------------------------------------------------
 */

/* Whether relid is registered with track_deletes.  Connected to SPI. */
static bool
is_tracked(Oid relid)
{
	Oid			argtype = REGCLASSOID;
	Datum		arg = ObjectIdGetDatum(relid);
	int			rc;

	rc = SPI_execute_plan(spi_kept_plan(&tracked_plan,
										"SELECT 1 FROM redtrack.replicables "
										"WHERE source OPERATOR(pg_catalog.=) $1 AND track_deletes",
										1, &argtype),
						  &arg, NULL, true, 1);
	if (rc != SPI_OK_SELECT)
		elog(ERROR, "SPI_execute_plan failed: %s", SPI_result_code_string(rc));
	return SPI_processed > 0;
}

/*
 * The registered table whose deletes happen in relid: relid itself, else
 * the nearest ancestor registered with track_deletes; ignoring "except"
 * (a registration being removed).  InvalidOid when there is none, as for
 * a detached partition that kept its triggers.  Connected to SPI, as the
 * extension owner.
 */
static Oid
tracking_source(Oid relid, Oid except)
{
	List	   *candidates = list_make1_oid(relid);
	ListCell   *lc;

	if (get_rel_relispartition(relid))
		candidates = list_concat(candidates, get_partition_ancestors(relid));
	foreach(lc, candidates)
	{
		Oid			candidate = lfirst_oid(lc);

		if (candidate != except && is_tracked(candidate))
			return candidate;
	}
	return InvalidOid;
}

/* ----------------------------------------------------------------
 * Writing records
 * ----------------------------------------------------------------
 */

/* One 'delete' row: the keys of whole rows, flattened row by row. */
static void
insert_keys(Oid source, KeyColumns *keys, ArrayType *values, int nrows)
{
	Oid			argtypes[4] = {REGCLASSOID, NAMEARRAYOID, TEXTARRAYOID, INT4OID};
	Datum		args[4];
	int			rc;

	args[0] = ObjectIdGetDatum(source);
	args[1] = redtrack_names_to_name_array(keys->names, keys->count);
	args[2] = PointerGetDatum(values);
	args[3] = Int32GetDatum(nrows);

	rc = SPI_execute_plan(spi_kept_plan(&insert_plan,
										"INSERT INTO redtrack.deleted_records "
										"(source, kind, key_names, keys, nkeys) "
										"VALUES ($1, 'delete', $2, $3, $4)",
										4, argtypes),
						  args, NULL, false, 0);
	if (rc != SPI_OK_INSERT)
		elog(ERROR, "SPI_execute_plan failed: %s", SPI_result_code_string(rc));
}

/*
 * A TRUNCATE marker: the next load replaces the whole target.  One per
 * transaction is enough (TRUNCATE of a partitioned table fires the
 * trigger of every partition); markers of other transactions are left
 * alone, whether taken by a replication or not, since one taken by an
 * export that started before this transaction would not cover it.
 */
static void
insert_truncate_marker(Oid source, KeyColumns *keys)
{
	Oid			argtypes[2] = {REGCLASSOID, NAMEARRAYOID};
	Datum		args[2];
	char		nulls[2] = {' ', ' '};
	int			rc;

	args[0] = ObjectIdGetDatum(source);
	if (keys != NULL)
		args[1] = redtrack_names_to_name_array(keys->names, keys->count);
	else
		nulls[1] = 'n';

	rc = SPI_execute_plan(spi_kept_plan(&truncate_plan,
										"INSERT INTO redtrack.deleted_records "
										"(source, kind, key_names, nkeys) "
										"SELECT $1, 'truncate', $2, 0 "
										"WHERE NOT EXISTS (SELECT FROM redtrack.deleted_records "
										"  WHERE source OPERATOR(pg_catalog.=) $1 "
										"  AND replication_id IS NULL "
										"  AND kind OPERATOR(pg_catalog.=) 'truncate' "
										"  AND xmin OPERATOR(pg_catalog.=) "
										"      pg_catalog.pg_current_xact_id()::pg_catalog.xid)",
										2, argtypes),
						  args, nulls, false, 0);
	if (rc != SPI_OK_INSERT)
		elog(ERROR, "SPI_execute_plan failed: %s", SPI_result_code_string(rc));
}

/*
 * Connect to SPI as the extension owner, for redtrack's own tables only:
 * key values are turned into text before, as the deleting user.
 */
static void
begin_owner_call(OwnerScope *scope)
{
	SPI_connect();
	redtrack_enter_owner_scope(scope);
}

static void
end_owner_call(OwnerScope *scope)
{
	redtrack_leave_owner_scope(scope);
	SPI_finish();
}

/* Write the keys collected so far as one deleted_records row. */
static void
flush_keys(KeyRecorder *rec)
{
	MemoryContext old;
	ArrayType  *array;
	OwnerScope	call;

	if (rec->nvalues == 0)
		return;
	old = MemoryContextSwitchTo(rec->chunk_context);
	array = construct_array(rec->values, rec->nvalues, TEXTOID, -1, false, TYPALIGN_INT);
	MemoryContextSwitchTo(old);

	begin_owner_call(&call);
	insert_keys(rec->source, rec->keys, array, rec->nvalues / rec->keys->count);
	end_owner_call(&call);

	MemoryContextReset(rec->chunk_context);
	rec->values = NULL;
	rec->nvalues = 0;
	rec->capacity = 0;
	rec->bytes = 0;
}

/*
 * Add the key of one row; false, with nothing added, if a key value is
 * NULL (possible only if NOT NULL was dropped after registration).
 */
static bool
add_row_keys(KeyRecorder *rec, TupleTableSlot *slot)
{
	KeyColumns *keys = rec->keys;
	MemoryContext old;

	for (int i = 0; i < keys->count; i++)
	{
		bool		isnull;

		(void) slot_getattr(slot, keys->attnums[i], &isnull);
		if (isnull)
			return false;
	}

	old = MemoryContextSwitchTo(rec->chunk_context);
	if (rec->nvalues + keys->count > rec->capacity)
	{
		int			capacity = Max(rec->capacity * 2, 1024 * keys->count);

		rec->values = rec->values == NULL
			? palloc(sizeof(Datum) * capacity)
			: repalloc(rec->values, sizeof(Datum) * capacity);
		rec->capacity = capacity;
	}
	for (int i = 0; i < keys->count; i++)
	{
		bool		isnull;
		Datum		d = slot_getattr(slot, keys->attnums[i], &isnull);
		char	   *str = OutputFunctionCall(&keys->output[i], d);
		text	   *t = cstring_to_text(str);

		pfree(str);
		rec->values[rec->nvalues++] = PointerGetDatum(t);
		rec->bytes += VARSIZE(t) + sizeof(Datum);
	}
	MemoryContextSwitchTo(old);

	if (rec->bytes >= DELETE_CHUNK_BYTES ||
		rec->nvalues + keys->count > DELETE_CHUNK_VALUES)
		flush_keys(rec);
	return true;
}

static void
init_recorder(KeyRecorder *rec, Oid source, KeyColumns *keys)
{
	memset(rec, 0, sizeof(*rec));
	rec->source = source;
	rec->keys = keys;
	rec->chunk_context = AllocSetContextCreate(CurrentMemoryContext,
											   "redtrack deleted keys",
											   ALLOCSET_DEFAULT_SIZES);
}

/*
 * The keys cannot be recorded: record a TRUNCATE instead, so that the next
 * load rebuilds the target and no delete is lost, and say so, without
 * failing the application's statement.
 */
static void
record_lost_keys(Relation rel, Oid source, const char *problem)
{
	OwnerScope	call;

	ereport(WARNING,
			(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
			 errmsg("redtrack cannot record the keys of rows deleted from \"%s\"",
					RelationGetRelationName(rel)),
			 errdetail("%s.", problem),
			 errhint("A TRUNCATE was recorded instead: the next replication of \"%s\" reloads the whole table.",
					 get_rel_name(source))));
	begin_owner_call(&call);
	insert_truncate_marker(source, NULL);
	end_owner_call(&call);
}

/* ----------------------------------------------------------------
 * Rows moved between partitions
 * ----------------------------------------------------------------
 */

/*
 * Count an UPDATE statement on a tracked partitioned table in or out.  SET
 * LOCAL semantics: a statement that fails takes its count with it when
 * its (sub)transaction rolls back.
 */
static void
change_update_depth(int delta)
{
	const char *current = GetConfigOption(MOVES_SETTING, true, false);
	int			depth = current != NULL ? atoi(current) : 0;

	depth = Max(depth + delta, 0);
	(void) set_config_option(MOVES_SETTING, psprintf("%d", depth),
							 PGC_USERSET, PGC_S_SESSION, GUC_ACTION_LOCAL,
							 true, 0, false);
}

/*
 * Whether a row that left partition rel (below source) by an UPDATE
 * certainly changed its key: true when every partitioning column between
 * rel and source is a key column, as a primary key guarantees.  Otherwise
 * the key may be unchanged, and recording it as deleted would delete a
 * live row on Redshift; with explicit key columns that leave out a
 * partitioning column such a move is not recorded.
 */
static bool
moves_change_key(Relation rel, Oid source, KeyColumns *keys)
{
	List	   *ancestors = get_partition_ancestors(RelationGetRelid(rel));
	ListCell   *lc;

	foreach(lc, ancestors)
	{
		Relation	parent = relation_open(lfirst_oid(lc), AccessShareLock);
		PartitionKey partkey = RelationGetPartitionKey(parent);
		bool		covered = true;

		for (int i = 0; partkey != NULL && i < partkey->partnatts && covered; i++)
		{
			AttrNumber	attnum = partkey->partattrs[i];

			covered = false;
			for (int k = 0; attnum > 0 && k < keys->count && !covered; k++)
				covered = strcmp(keys->names[k],
								 NameStr(TupleDescAttr(RelationGetDescr(parent), attnum - 1)->attname)) == 0;
		}
		relation_close(parent, AccessShareLock);
		if (!covered)
			return false;
		if (lfirst_oid(lc) == source)
			break;
	}
	return true;
}

/* ----------------------------------------------------------------
 * redtrack.track_deletes() trigger
 * ----------------------------------------------------------------
 */

/*
 * The keys of a bulk DELETE's rows, from its transition table; a problem
 * (a NULL key) or NULL.
 */
static char *
add_deleted_rows_keys(KeyRecorder *rec, Relation rel, Tuplestorestate *old)
{
	TupleTableSlot *slot;
	uint64		seen = 0;
	char	   *problem = NULL;

	slot = MakeSingleTupleTableSlot(RelationGetDescr(rel), &TTSOpsMinimalTuple);

	/*
	 * Read with a read pointer of our own, from the start, so other readers
	 * of the same transition table are not disturbed.
	 */
	tuplestore_select_read_pointer(old,
								   tuplestore_alloc_read_pointer(old, EXEC_FLAG_REWIND));
	tuplestore_rescan(old);
	while (tuplestore_gettupleslot(old, true, false, slot))
	{
		if (!add_row_keys(rec, slot))
		{
			problem = psprintf("A deleted row of \"%s\" has a NULL key",
							   RelationGetRelationName(rel));
			break;
		}
		if (++seen % 10000 == 0)
			CHECK_FOR_INTERRUPTS();
	}
	ExecDropSingleTupleTableSlot(slot);
	return problem;
}

Datum
redtrack_track_deletes(PG_FUNCTION_ARGS)
{
	TriggerData *trigdata;
	TriggerEvent event;
	Relation	rel;
	KeyColumns	keys;
	KeyRecorder rec;
	OwnerScope	call;
	Oid			source;
	char	   *problem = NULL;
	bool		resolved;
	bool		bulk;
	int			nestlevel = -1;

	if (!CALLED_AS_TRIGGER(fcinfo))
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("redtrack.track_deletes() must be called as a trigger")));

	trigdata = (TriggerData *) fcinfo->context;
	event = trigdata->tg_event;
	rel = trigdata->tg_relation;

	/* Before and after an UPDATE of a partitioned table. */
	if (TRIGGER_FIRED_BY_UPDATE(event) && TRIGGER_FIRED_FOR_STATEMENT(event))
	{
		change_update_depth(TRIGGER_FIRED_BEFORE(event) ? 1 : -1);
		return PointerGetDatum(NULL);
	}

	if (!TRIGGER_FIRED_AFTER(event) ||
		!(TRIGGER_FIRED_BY_TRUNCATE(event) || TRIGGER_FIRED_BY_DELETE(event) ||
		  (TRIGGER_FIRED_BY_UPDATE(event) && TRIGGER_FIRED_FOR_ROW(event))))
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("redtrack.track_deletes() fired for an unexpected event")));
	bulk = TRIGGER_FIRED_BY_DELETE(event) && TRIGGER_FIRED_FOR_STATEMENT(event);
	if (bulk && trigdata->tg_oldtable == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("redtrack.track_deletes() needs REFERENCING OLD TABLE on DELETE")));

	/* A DELETE that matched nothing records nothing. */
	if (bulk && tuplestore_tuple_count(trigdata->tg_oldtable) == 0)
		return PointerGetDatum(NULL);

	begin_owner_call(&call);
	source = tracking_source(RelationGetRelid(rel), InvalidOid);
	end_owner_call(&call);
	if (!OidIsValid(source))
		return PointerGetDatum(NULL);

	resolved = resolve_key_columns(rel, trigdata->tg_trigger, &keys, &problem);

	if (TRIGGER_FIRED_BY_TRUNCATE(event))
	{
		/* A TRUNCATE needs no key; its marker names the key if known. */
		begin_owner_call(&call);
		insert_truncate_marker(source, resolved ? &keys : NULL);
		end_owner_call(&call);
		return PointerGetDatum(NULL);
	}
	if (!resolved)
	{
		record_lost_keys(rel, source, problem);
		return PointerGetDatum(NULL);
	}

	/*
	 * A row deleted one by one while an UPDATE runs: one the UPDATE moved to
	 * another partition (or one a trigger of the UPDATE deleted, which the
	 * statement-level trigger records too: deleting a key twice on Redshift
	 * is harmless).
	 */
	if (TRIGGER_FIRED_BY_DELETE(event) && !bulk &&
		!moves_change_key(rel, source, &keys))
		return PointerGetDatum(NULL);

	if (keys.needs_canonical_settings)
		nestlevel = redtrack_push_canonical_output();
	init_recorder(&rec, source, &keys);

	if (bulk)
		problem = add_deleted_rows_keys(&rec, rel, trigdata->tg_oldtable);
	else
	{
		/*
		 * One row: an UPDATE changed its key (the key-change trigger's WHEN
		 * clause let only those through) or moved it to another partition.
		 */
		if (!add_row_keys(&rec, trigdata->tg_trigslot))
			problem = psprintf("An updated row of \"%s\" had a NULL key",
							   RelationGetRelationName(rel));
	}

	if (problem == NULL)
		flush_keys(&rec);
	MemoryContextDelete(rec.chunk_context);
	if (nestlevel >= 0)
		AtEOXact_GUC(true, nestlevel);
	if (problem != NULL)
		record_lost_keys(rel, source, problem);
	return PointerGetDatum(NULL);
}

/* ----------------------------------------------------------------
 * Triggers on partitions
 * ----------------------------------------------------------------
 */

/* Make DROP EXTENSION take redtrack's triggers with it, not the tables. */
void
redtrack_tie_trigger_to_extension(Oid relid, const char *trigger_name)
{
	ObjectAddress trigger;
	ObjectAddress extension;

	ObjectAddressSet(trigger, TriggerRelationId,
					 get_trigger_oid(relid, trigger_name, false));
	ObjectAddressSet(extension, ExtensionRelationId,
					 get_extension_oid("redtrack", false));
	recordDependencyOn(&trigger, &extension, DEPENDENCY_AUTO);
}

static void
execute_ddl(const char *sql)
{
	int			rc = SPI_execute(sql, false, 0);

	if (rc < 0)
		elog(ERROR, "SPI_execute failed: %s", SPI_result_code_string(rc));
}

static char *
qualified_name(Oid relid)
{
	return quote_qualified_identifier(get_namespace_name(get_rel_namespace(relid)),
									  get_rel_name(relid));
}

/*
 * The trigger arguments for partitions of source: its key columns' names
 * as they are now, quoted as literals.  Partitions share their parent's
 * column names (renames recurse).  NULL if source has no redtrack
 * triggers.
 */
static char *
key_arguments(Oid source)
{
	Relation	rel = table_open(source, AccessShareLock);
	TriggerDesc *trigdesc = rel->trigdesc;
	StringInfoData args;

	initStringInfo(&args);
	for (int i = 0; trigdesc != NULL && i < trigdesc->numtriggers && args.len == 0; i++)
	{
		Trigger    *t = &trigdesc->triggers[i];

		if (strcmp(t->tgname, REDTRACK_TRIGGER_KEY_CHANGES) == 0 && t->tgnattr > 0)
		{
			for (int k = 0; k < t->tgnattr; k++)
				appendStringInfo(&args, "%s%s", k > 0 ? ", " : "",
								 quote_literal_cstr(get_attname(source, t->tgattr[k], false)));
		}
	}
	for (int i = 0; trigdesc != NULL && i < trigdesc->numtriggers && args.len == 0; i++)
	{
		Trigger    *t = &trigdesc->triggers[i];

		if (strcmp(t->tgname, REDTRACK_TRIGGER_DELETES) == 0)
		{
			for (int k = 0; k < t->tgnargs; k++)
				appendStringInfo(&args, "%s%s", k > 0 ? ", " : "",
								 quote_literal_cstr(t->tgargs[k]));
		}
	}
	table_close(rel, AccessShareLock);
	return args.len > 0 ? args.data : NULL;
}

/* Create one of redtrack's triggers on relid unless it has it already. */
static void
ensure_trigger(Oid relid, const char *name, const char *events,
			   const char *options, const char *args)
{
	if (OidIsValid(get_trigger_oid(relid, name, true)))
		return;
	execute_ddl(psprintf("CREATE TRIGGER %s %s ON %s %s "
						 "EXECUTE FUNCTION redtrack.track_deletes(%s)",
						 name, events, qualified_name(relid), options, args));
	CommandCounterIncrement();
	redtrack_tie_trigger_to_extension(relid, name);
}

/*
 * The statement-level triggers a partitioned table carries so that rows an
 * UPDATE of it moves between partitions are seen (see the file header).
 */
static void
ensure_update_counting(Oid relid, const char *args)
{
	ensure_trigger(relid, REDTRACK_TRIGGER_MOVES_BEGIN, "BEFORE UPDATE",
				   "FOR EACH STATEMENT", args);
	ensure_trigger(relid, REDTRACK_TRIGGER_MOVES_END, "AFTER UPDATE",
				   "FOR EACH STATEMENT", args);
}

/*
 * Give top and every partition below it, at any depth, redtrack's
 * statement-level triggers where they are missing, with the key arguments
 * of the tracked table above.  (Row triggers are cloned to partitions by
 * PostgreSQL itself.)  Foreign partitions are skipped: they cannot have
 * transition tables.
 */
static void
track_subtree(Oid top, Oid skip, const char *args)
{
	List	   *tree;
	ListCell   *lc;

	if (get_rel_relkind(top) == RELKIND_PARTITIONED_TABLE)
		tree = find_all_inheritors(top, NoLock, NULL);
	else
		tree = list_make1_oid(top);
	foreach(lc, tree)
	{
		Oid			relid = lfirst_oid(lc);
		char		relkind = get_rel_relkind(relid);

		if (relid == skip ||
			(relkind != RELKIND_RELATION && relkind != RELKIND_PARTITIONED_TABLE))
			continue;
		ensure_trigger(relid, REDTRACK_TRIGGER_DELETES, "AFTER DELETE",
					   "REFERENCING OLD TABLE AS redtrack_old FOR EACH STATEMENT", args);
		ensure_trigger(relid, REDTRACK_TRIGGER_TRUNCATE, "AFTER TRUNCATE",
					   "FOR EACH STATEMENT", args);
		if (relkind == RELKIND_PARTITIONED_TABLE)
			ensure_update_counting(relid, args);
	}
}

/*
 * For a tracked partitioned table: the triggers that see rows moved
 * between its partitions, and the statement-level triggers of every
 * partition below it.
 */
void
redtrack_track_partitions(Oid source)
{
	char	   *args;

	if (get_rel_relkind(source) != RELKIND_PARTITIONED_TABLE)
		return;
	args = key_arguments(source);
	if (args == NULL)
		return;
	ensure_update_counting(source, args);
	ensure_trigger(source, REDTRACK_TRIGGER_MOVED_ROWS, "AFTER DELETE",
				   "FOR EACH ROW WHEN (" MOVES_WHEN ")", args);
	track_subtree(source, source, args);
}

/* Drop redtrack's statement-level triggers from one table, if it has them. */
static void
drop_statement_triggers(Oid relid)
{
	const char *names[] = {
		REDTRACK_TRIGGER_DELETES, REDTRACK_TRIGGER_TRUNCATE,
		REDTRACK_TRIGGER_MOVES_BEGIN, REDTRACK_TRIGGER_MOVES_END
	};

	for (int i = 0; i < lengthof(names); i++)
	{
		if (OidIsValid(get_trigger_oid(relid, names[i], true)))
			execute_ddl(psprintf("DROP TRIGGER %s ON %s", names[i], qualified_name(relid)));
	}
}

/*
 * Remove the partition triggers of source (its registration is going),
 * except where another registration above or at a partition still needs
 * them.
 */
void
redtrack_untrack_partitions(Oid source)
{
	List	   *tree;
	ListCell   *lc;

	if (get_rel_relkind(source) != RELKIND_PARTITIONED_TABLE)
		return;
	tree = find_all_inheritors(source, NoLock, NULL);
	foreach(lc, tree)
	{
		Oid			relid = lfirst_oid(lc);

		if (relid == source || OidIsValid(tracking_source(relid, source)))
			continue;
		drop_statement_triggers(relid);
	}
}

/* ----------------------------------------------------------------
 * redtrack.track_partitions(source): the upgrade's catch-up
 * ----------------------------------------------------------------
 */
Datum
redtrack_track_partitions_sql(PG_FUNCTION_ARGS)
{
	Oid			source = PG_GETARG_OID(0);
	OwnerScope	call;

	redtrack_require_admin("track the partitions of a table");
	begin_owner_call(&call);
	if (is_tracked(source))
		redtrack_track_partitions(source);
	end_owner_call(&call);
	PG_RETURN_VOID();
}

/* ----------------------------------------------------------------
 * Event trigger on ddl_command_end (CREATE TABLE, ALTER TABLE)
 * ----------------------------------------------------------------
 */

/*
 * Whether a command may add or detach partitions: CREATE TABLE ...
 * PARTITION OF, ALTER TABLE ... ATTACH/DETACH PARTITION.  Any other
 * command is ignored at the cost of a look at its parse tree.
 */
static bool
command_concerns_partitions(Node *parsetree)
{
	ListCell   *lc;

	if (parsetree == NULL)
		return false;
	if (IsA(parsetree, CreateStmt))
		return ((CreateStmt *) parsetree)->partbound != NULL;
	if (!IsA(parsetree, AlterTableStmt))
		return false;
	foreach(lc, ((AlterTableStmt *) parsetree)->cmds)
	{
		AlterTableCmd *cmd = lfirst_node(AlterTableCmd, lc);

		if (cmd->subtype == AT_AttachPartition ||
			cmd->subtype == AT_DetachPartition ||
			cmd->subtype == AT_DetachPartitionFinalize)
			return true;
	}
	return false;
}

/*
 * What the command did to partitions, from the commands PostgreSQL
 * collected for event triggers (object ids are exact, where names in the
 * parse tree would need the caller's search_path, which this function
 * does not run with): the partitions CREATE TABLE created go to *created,
 * the tables ALTER TABLE attached partitions to go to *attached_to (the
 * partition itself is not reported), and *detaches says whether it
 * detached any.  Connected to SPI.
 */
static void
collected_partitions(List **created, List **attached_to, bool *detaches)
{
	int			rc;

	*created = NIL;
	*attached_to = NIL;
	*detaches = false;
	rc = SPI_execute("SELECT objid, command FROM pg_catalog.pg_event_trigger_ddl_commands() "
					 "WHERE classid OPERATOR(pg_catalog.=) 'pg_catalog.pg_class'::pg_catalog.regclass "
					 "AND objsubid OPERATOR(pg_catalog.=) 0",
					 true, 0);
	if (rc != SPI_OK_SELECT)
		elog(ERROR, "SPI_execute failed: %s", SPI_result_code_string(rc));
	for (uint64 i = 0; i < SPI_processed; i++)
	{
		HeapTuple	tuple = SPI_tuptable->vals[i];
		TupleDesc	desc = SPI_tuptable->tupdesc;
		bool		isnull;
		Oid			objid = DatumGetObjectId(SPI_getbinval(tuple, desc, 1, &isnull));
		CollectedCommand *command;
		ListCell   *lc;

		command = (CollectedCommand *) DatumGetPointer(SPI_getbinval(tuple, desc, 2, &isnull));
		if (isnull || command == NULL)
			continue;
		if (command->type == SCT_Simple && command->parsetree != NULL &&
			IsA(command->parsetree, CreateStmt) &&
			((CreateStmt *) command->parsetree)->partbound != NULL)
			*created = list_append_unique_oid(*created, objid);
		if (command->type != SCT_AlterTable)
			continue;
		foreach(lc, command->d.alterTable.subcmds)
		{
			CollectedATSubcmd *sub = (CollectedATSubcmd *) lfirst(lc);
			AlterTableCmd *cmd = (AlterTableCmd *) sub->parsetree;

			if (cmd == NULL || !IsA(cmd, AlterTableCmd))
				continue;
			if (cmd->subtype == AT_AttachPartition)
				*attached_to = list_append_unique_oid(*attached_to,
													  command->d.alterTable.objectId);
			else if (cmd->subtype == AT_DetachPartition ||
					 cmd->subtype == AT_DetachPartitionFinalize)
				*detaches = true;
		}
	}
}

/*
 * Tables that carry redtrack's statement-level triggers but belong to no
 * tracked table any more: partitions detached since.  (Their cloned row
 * triggers went with the detach.)  Connected to SPI.
 */
static List *
untracked_trigger_tables(void)
{
	List	   *relids = NIL;
	List	   *result = NIL;
	ListCell   *lc;
	int			rc;

	rc = SPI_execute("SELECT DISTINCT tgrelid FROM pg_catalog.pg_trigger "
					 "WHERE tgfoid OPERATOR(pg_catalog.=) "
					 "      'redtrack.track_deletes()'::pg_catalog.regprocedure "
					 "AND tgname OPERATOR(pg_catalog.=) ANY ('{" REDTRACK_TRIGGER_DELETES ","
					 REDTRACK_TRIGGER_TRUNCATE "," REDTRACK_TRIGGER_MOVES_BEGIN ","
					 REDTRACK_TRIGGER_MOVES_END "}'::pg_catalog.name[])",
					 true, 0);
	if (rc != SPI_OK_SELECT)
		elog(ERROR, "SPI_execute failed: %s", SPI_result_code_string(rc));
	for (uint64 i = 0; i < SPI_processed; i++)
	{
		bool		isnull;

		relids = lappend_oid(relids,
							 DatumGetObjectId(SPI_getbinval(SPI_tuptable->vals[i],
															SPI_tuptable->tupdesc, 1, &isnull)));
	}
	foreach(lc, relids)
	{
		if (!OidIsValid(tracking_source(lfirst_oid(lc), InvalidOid)))
			result = lappend_oid(result, lfirst_oid(lc));
	}
	return result;
}

Datum
redtrack_on_ddl_command_end(PG_FUNCTION_ARGS)
{
	EventTriggerData *trigdata;
	List	   *created;
	List	   *attached_to;
	bool		detaches;
	ListCell   *lc;
	OwnerScope	call;

	if (!CALLED_AS_EVENT_TRIGGER(fcinfo))
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("redtrack.on_ddl_command_end() must be called as an event trigger")));
	trigdata = (EventTriggerData *) fcinfo->context;
	if (!command_concerns_partitions(trigdata->parsetree))
		PG_RETURN_VOID();

	begin_owner_call(&call);
	collected_partitions(&created, &attached_to, &detaches);

	/*
	 * A new partition of a tracked table gets the triggers, with the
	 * tracked table's keys; after ATTACH PARTITION, every partition below
	 * the table attached to (the one attached, with its own partitions).
	 */
	foreach(lc, list_concat(created, attached_to))
	{
		Oid			relid = lfirst_oid(lc);
		Oid			source = tracking_source(relid, InvalidOid);
		char	   *args;

		if (!OidIsValid(source) || (args = key_arguments(source)) == NULL)
			continue;
		track_subtree(relid, source, args);
	}

	/*
	 * A detached partition no longer belongs to the tracked table: its
	 * deletes are not the table's, so its triggers go (and with them the
	 * cost of capturing its deleted rows).
	 */
	if (detaches)
	{
		foreach(lc, untracked_trigger_tables())
			drop_statement_triggers(lfirst_oid(lc));
	}
	end_owner_call(&call);
	PG_RETURN_VOID();
}

/* ----------------------------------------------------------------
 * redtrack.deleted_keys(source, key_names, keys) returns setof jsonb
 * ----------------------------------------------------------------
 */

/* A key value as a jsonb scalar of the column's kind. */
static void
push_key_value(JsonbParseState **state, Oid typid, const char *text)
{
	JsonbValue	v;

	switch (getBaseType(typid))
	{
		case INT2OID:
		case INT4OID:
		case INT8OID:
		case NUMERICOID:
		case OIDOID:
			v.type = jbvNumeric;
			v.val.numeric = DatumGetNumeric(DirectFunctionCall3(numeric_in,
																CStringGetDatum(text),
																ObjectIdGetDatum(InvalidOid),
																Int32GetDatum(-1)));
			break;
		case BOOLOID:
			v.type = jbvBool;
			v.val.boolean = (text[0] == 't');
			break;
		default:
			v.type = jbvString;
			v.val.string.val = (char *) text;
			v.val.string.len = strlen(text);
			break;
	}
	(void) pushJsonbValue(state, WJB_VALUE, &v);
}

Datum
redtrack_deleted_keys(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	Oid			relid;
	Datum	   *names;
	Datum	   *keys;
	bool	   *nulls;
	int			nnames;
	int			nkeys;
	Oid		   *types;

	InitMaterializedSRF(fcinfo, MAT_SRF_USE_EXPECTED_DESC);
	if (PG_ARGISNULL(0) || PG_ARGISNULL(1) || PG_ARGISNULL(2))
		return (Datum) 0;

	relid = PG_GETARG_OID(0);
	deconstruct_array(PG_GETARG_ARRAYTYPE_P(1), NAMEOID, NAMEDATALEN, false,
					  TYPALIGN_CHAR, &names, NULL, &nnames);
	deconstruct_array(PG_GETARG_ARRAYTYPE_P(2), TEXTOID, -1, false,
					  TYPALIGN_INT, &keys, &nulls, &nkeys);
	if (nnames == 0)
		return (Datum) 0;

	/* Column types as they are now; a dropped column shows as a string. */
	types = palloc(sizeof(Oid) * nnames);
	for (int i = 0; i < nnames; i++)
	{
		AttrNumber	attnum = get_attnum(relid, NameStr(*DatumGetName(names[i])));

		types[i] = attnum > 0 ? get_atttype(relid, attnum) : TEXTOID;
	}

	for (int row = 0; row + nnames <= nkeys; row += nnames)
	{
		JsonbParseState *state = NULL;
		JsonbValue *result;
		Datum		value;
		bool		isnull = false;

		(void) pushJsonbValue(&state, WJB_BEGIN_OBJECT, NULL);
		for (int i = 0; i < nnames; i++)
		{
			JsonbValue	k;
			char	   *name = NameStr(*DatumGetName(names[i]));

			k.type = jbvString;
			k.val.string.val = name;
			k.val.string.len = strlen(name);
			(void) pushJsonbValue(&state, WJB_KEY, &k);
			if (nulls[row + i])
			{
				JsonbValue	null;

				null.type = jbvNull;
				(void) pushJsonbValue(&state, WJB_VALUE, &null);
			}
			else
				push_key_value(&state, types[i], TextDatumGetCString(keys[row + i]));
		}
		result = pushJsonbValue(&state, WJB_END_OBJECT, NULL);
		value = JsonbPGetDatum(JsonbValueToJsonb(result));
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, &value, &isnull);
	}
	return (Datum) 0;
}
