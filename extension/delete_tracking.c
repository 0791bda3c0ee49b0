/*-------------------------------------------------------------------------
 *
 * delete_tracking.c
 *	  The trigger that records what DELETE, key-changing UPDATE and
 *	  TRUNCATE did to a tracked table, and the function that shows the
 *	  recorded keys as jsonb.
 *
 * A DELETE fires one statement-level trigger with the deleted rows in a
 * transition table; all their keys go into one redtrack.deleted_records
 * row, flattened row by row into a text[], so a bulk DELETE costs one
 * insert.  An UPDATE that changes a key fires a row-level trigger (its
 * WHEN clause keeps other updates cheap) and records the old key.  A
 * TRUNCATE records a marker telling the next load to replace the target.
 *
 * The trigger runs as whoever deletes; it writes redtrack's table as the
 * extension owner (see ownership.h).
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "catalog/pg_type.h"
#include "commands/trigger.h"
#include "executor/executor.h"
#include "executor/spi.h"
#include "executor/tuptable.h"
#include "fmgr.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/jsonb.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/rel.h"
#include "utils/tuplestore.h"

#include "ownership.h"

PG_FUNCTION_INFO_V1(redtrack_track_deletes);
PG_FUNCTION_INFO_V1(redtrack_deleted_keys);

/* The key columns named in the trigger's arguments. */
typedef struct KeyColumns
{
	int			count;
	AttrNumber *attnums;
	FmgrInfo   *output;
	char	  **names;
	bool		needs_canonical_settings;	/* output depends on GUCs */
} KeyColumns;

/*
 * Types whose text output does not depend on any setting.  Keys of other
 * types are written with canonical settings (below), so the stored text
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

/* The settings the engine also exports with. */
static int
use_canonical_settings(void)
{
	int			nestlevel = NewGUCNestLevel();

	(void) set_config_option("DateStyle", "ISO, YMD", PGC_USERSET, PGC_S_SESSION,
							 GUC_ACTION_SAVE, true, 0, false);
	(void) set_config_option("IntervalStyle", "postgres", PGC_USERSET, PGC_S_SESSION,
							 GUC_ACTION_SAVE, true, 0, false);
	(void) set_config_option("TimeZone", "UTC", PGC_USERSET, PGC_S_SESSION,
							 GUC_ACTION_SAVE, true, 0, false);
	(void) set_config_option("extra_float_digits", "1", PGC_USERSET, PGC_S_SESSION,
							 GUC_ACTION_SAVE, true, 0, false);
	(void) set_config_option("bytea_output", "hex", PGC_USERSET, PGC_S_SESSION,
							 GUC_ACTION_SAVE, true, 0, false);
	return nestlevel;
}

static SPIPlanPtr insert_plan = NULL;

static void
resolve_key_columns(Relation rel, Trigger *trigger, KeyColumns *keys)
{
	TupleDesc	desc = RelationGetDescr(rel);

	if (trigger->tgnargs < 1)
		elog(ERROR, "redtrack.track_deletes() needs the key column names as arguments");

	keys->count = trigger->tgnargs;
	keys->attnums = palloc(sizeof(AttrNumber) * keys->count);
	keys->output = palloc(sizeof(FmgrInfo) * keys->count);
	keys->names = trigger->tgargs;
	keys->needs_canonical_settings = false;

	for (int i = 0; i < keys->count; i++)
	{
		int			attnum = SPI_fnumber(desc, trigger->tgargs[i]);
		Oid			outfunc;
		bool		isvarlena;

		if (attnum <= 0)
			ereport(ERROR,
					(errcode(ERRCODE_UNDEFINED_COLUMN),
					 errmsg("key column \"%s\" of tracked table \"%s\" no longer exists",
							trigger->tgargs[i], RelationGetRelationName(rel)),
					 errhint("Unregister and register the table again with its current key.")));
		keys->attnums[i] = attnum;
		getTypeOutputInfo(TupleDescAttr(desc, attnum - 1)->atttypid, &outfunc, &isvarlena);
		fmgr_info(outfunc, &keys->output[i]);
		if (!output_is_setting_independent(TupleDescAttr(desc, attnum - 1)->atttypid))
			keys->needs_canonical_settings = true;
	}
}

static Datum
key_names_array(KeyColumns *keys)
{
	Datum	   *elems = palloc(sizeof(Datum) * keys->count);

	for (int i = 0; i < keys->count; i++)
	{
		Name		n = palloc0(NAMEDATALEN);

		namestrcpy(n, keys->names[i]);
		elems[i] = NameGetDatum(n);
	}
	return PointerGetDatum(construct_array(elems, keys->count, NAMEOID,
										   NAMEDATALEN, false, TYPALIGN_CHAR));
}

/* Append the key values of one row, as text, to values[*n]. */
static void
append_row_keys(TupleTableSlot *slot, KeyColumns *keys, Datum *values, int64 *n)
{
	for (int i = 0; i < keys->count; i++)
	{
		bool		isnull;
		Datum		d = slot_getattr(slot, keys->attnums[i], &isnull);

		/* Keys are NOT NULL (checked at registration); be safe anyway. */
		if (isnull)
			ereport(ERROR,
					(errcode(ERRCODE_NOT_NULL_VIOLATION),
					 errmsg("key column \"%s\" of a deleted row is NULL", keys->names[i])));
		values[(*n)++] = CStringGetTextDatum(OutputFunctionCall(&keys->output[i], d));
	}
}

static void
insert_record(Relation rel, const char *kind, KeyColumns *keys,
			  Datum *key_values, int64 nvalues)
{
	Oid			argtypes[5] = {REGCLASSOID, TEXTOID, NAMEARRAYOID, TEXTARRAYOID, INT4OID};
	Datum		values[5];
	char		nulls[5] = {' ', ' ', ' ', ' ', ' '};
	OwnerScope	scope;
	int			rc;

	values[0] = ObjectIdGetDatum(RelationGetRelid(rel));
	values[1] = CStringGetTextDatum(kind);
	values[2] = key_names_array(keys);
	if (key_values != NULL)
	{
		values[3] = PointerGetDatum(construct_array(key_values, (int) nvalues, TEXTOID,
													-1, false, TYPALIGN_INT));
		values[4] = Int32GetDatum((int32) (nvalues / keys->count));
	}
	else
	{
		nulls[3] = 'n';
		values[4] = Int32GetDatum(0);
	}

	SPI_connect();
	redtrack_enter_owner_scope(&scope);
	if (insert_plan == NULL)
	{
		SPIPlanPtr	plan = SPI_prepare("INSERT INTO redtrack.deleted_records "
									   "(source, kind, key_names, keys, nkeys) "
									   "VALUES ($1, $2, $3, $4, $5)",
									   5, argtypes);

		if (plan == NULL)
			elog(ERROR, "SPI_prepare failed: %s", SPI_result_code_string(SPI_result));
		SPI_keepplan(plan);
		insert_plan = plan;
	}
	rc = SPI_execute_plan(insert_plan, values, nulls, false, 0);
	if (rc != SPI_OK_INSERT)
		elog(ERROR, "SPI_execute_plan failed: %s", SPI_result_code_string(rc));
	redtrack_leave_owner_scope(&scope);
	SPI_finish();
}

Datum
redtrack_track_deletes(PG_FUNCTION_ARGS)
{
	TriggerData *trigdata;
	TriggerEvent event;
	Relation	rel;
	KeyColumns	keys;
	int			nestlevel = -1;

	if (!CALLED_AS_TRIGGER(fcinfo))
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("redtrack.track_deletes() must be called as a trigger")));

	trigdata = (TriggerData *) fcinfo->context;
	event = trigdata->tg_event;
	rel = trigdata->tg_relation;
	resolve_key_columns(rel, trigdata->tg_trigger, &keys);
	if (keys.needs_canonical_settings && !TRIGGER_FIRED_BY_TRUNCATE(event))
		nestlevel = use_canonical_settings();

	if (TRIGGER_FIRED_BY_TRUNCATE(event))
	{
		insert_record(rel, "truncate", &keys, NULL, 0);
	}
	else if (TRIGGER_FIRED_BY_DELETE(event) && TRIGGER_FIRED_FOR_STATEMENT(event))
	{
		Tuplestorestate *old = trigdata->tg_oldtable;
		int64		rows;
		int64		n = 0;
		Datum	   *values;
		TupleTableSlot *slot;

		if (old == NULL)
			elog(ERROR, "redtrack.track_deletes() needs REFERENCING OLD TABLE on DELETE");
		rows = tuplestore_tuple_count(old);
		if (rows * keys.count > MaxArraySize)
			ereport(ERROR,
					(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
					 errmsg("cannot record %lld deleted keys in one statement",
							(long long) rows),
					 errhint("Delete in batches of fewer than %d rows.",
							 (int) (MaxArraySize / keys.count))));

		values = palloc(sizeof(Datum) * Max(rows, 1) * keys.count);
		slot = MakeSingleTupleTableSlot(RelationGetDescr(rel), &TTSOpsMinimalTuple);

		/*
		 * Read with a read pointer of our own, from the start, so other
		 * readers of the same transition table are not disturbed.
		 */
		tuplestore_select_read_pointer(old,
									   tuplestore_alloc_read_pointer(old, EXEC_FLAG_REWIND));
		tuplestore_rescan(old);
		while (tuplestore_gettupleslot(old, true, false, slot))
			append_row_keys(slot, &keys, values, &n);
		ExecDropSingleTupleTableSlot(slot);

		/* A DELETE that matched nothing records nothing. */
		if (n > 0)
			insert_record(rel, "delete", &keys, values, n);
	}
	else if (TRIGGER_FIRED_BY_UPDATE(event) && TRIGGER_FIRED_FOR_ROW(event))
	{
		/* The WHEN clause let only rows whose key changed through. */
		Datum	   *values = palloc(sizeof(Datum) * keys.count);
		int64		n = 0;

		append_row_keys(trigdata->tg_trigslot, &keys, values, &n);
		insert_record(rel, "delete", &keys, values, n);
	}
	else
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("redtrack.track_deletes() fired for an unexpected event")));

	if (nestlevel >= 0)
		AtEOXact_GUC(true, nestlevel);
	return PointerGetDatum(NULL);
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
