/*-------------------------------------------------------------------------
 *
 * stream_enrich.c
 *	  A stream's enricher, applied by the drain to each event before it is
 *	  loaded; events it cannot make loadable are set aside.
 *
 * Enrichment happens here rather than in rrr_write so that writes stay as
 * cheap as a plain INSERT: the tracker stays thin, the drain does the
 * work in bulk (kafkastore's design).
 *
 * The enricher is user code.  It runs with the rights of the role that
 * defined the stream (redtrack.streams.enrich_role), never the extension
 * owner's, in a security-restricted operation, as the source reads of
 * worker/spi_util.c do, and never with rights its owner does not have:
 * whoever owns it can replace its body (stream_check_enricher, at
 * definition and before every event).  Settings it changes, even for the
 * session, are undone after each call.  Each event runs in a
 * subtransaction of its own:
 * an error raised by the enricher, a result that is not a JSON object, or
 * an enriched event that breaks the stream's rules (stream_event.c, the
 * same rules rrr_write applies) rolls back only that event's work, and the
 * event goes into redtrack.rejected_events with the error.  The drain
 * carries it like any other event, so the queue deletes it once the drain
 * is loaded: it is never lost (it waits in rejected_events to be
 * re-queued) and never blocks the stream.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <math.h>

#if PG_VERSION_NUM >= 160000
#include "varatt.h"
#endif

#include "access/xact.h"
#include "catalog/pg_proc.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "miscadmin.h"
#include "utils/acl.h"
#include "utils/builtins.h"
#include "utils/date.h"
#include "utils/float.h"
#include "utils/fmgrprotos.h"
#include "utils/guc.h"
#include "utils/json.h"
#include "utils/jsonb.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/numeric.h"
#include "utils/regproc.h"
#include "utils/resowner.h"
#include "utils/syscache.h"
#include "utils/timestamp.h"

#include "spi_util.h"
#include "stream.h"
#include "typemap.h"

struct StreamEnricher
{
	StreamDef	def;
	Oid			fn;				/* the enricher */
	Oid			role;			/* the role that defined the stream */
	FmgrInfo	flinfo;
	bool		fn_ready;		/* flinfo is set up */
	int			ncolumns;
	int		   *field_of_column;	/* column -> field, or -1 */
	int		   *column_of_field;	/* field -> column, or -1 */
	Datum	   *field_values;	/* the enriched event, in field order */
	char	   *field_nulls;
	Datum	   *values;			/* ... and in column order */
	bool	   *isnull;
	MemoryContext cxt;			/* lives as long as the enricher */
	MemoryContext row_cxt;		/* reset for each event */
};

StreamEnricher *
stream_enricher_open(Oid queue_relid, List *columns)
{
	SpiArgs		args = {0};
	StreamEnricher *e;
	MemoryContext caller = CurrentMemoryContext;
	ListCell   *lc;
	int			c = 0;
	bool		isnull;

	if (!stream_catalog_has_enrichment())
		return NULL;
	spi_arg_oid(&args, queue_relid);
	/* enrich is a schema-qualified signature (text: see the upgrade script) */
	if (spi_run("SELECT name, pg_catalog.to_regprocedure(enrich)::pg_catalog.oid, "
				"enrich_role::pg_catalog.oid, enrich FROM redtrack.streams "
				"WHERE queue_table::pg_catalog.oid OPERATOR(pg_catalog.=) $1 AND enrich IS NOT NULL",
				&args, true) == 0)
		return NULL;

	e = palloc0(sizeof(StreamEnricher));
	e->cxt = CurrentMemoryContext;
	strlcpy(e->def.name, spi_get_text(caller, 0, 1), NAMEDATALEN);
	e->fn = DatumGetObjectId(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 2, &isnull));
	if (isnull)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_FUNCTION),
				 errmsg("the enricher %s of stream \"%s\" no longer exists",
						spi_get_text(caller, 0, 4), e->def.name),
				 errhint("Define the stream again, with a new enricher or without one.")));
	e->role = DatumGetObjectId(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 3, &isnull));
	stream_load_def(&e->def, caller);

	e->ncolumns = list_length(columns);
	e->field_of_column = palloc(sizeof(int) * Max(e->ncolumns, 1));
	e->column_of_field = palloc(sizeof(int) * e->def.nfields);
	for (int f = 0; f < e->def.nfields; f++)
		e->column_of_field[f] = -1;
	foreach(lc, columns)
	{
		StreamField *field = stream_find_field(e->def.fields, e->def.nfields,
											   ((ColumnMap *) lfirst(lc))->source_name);

		e->field_of_column[c] = field ? (int) (field - e->def.fields) : -1;
		if (field)
			e->column_of_field[field - e->def.fields] = c;
		c++;
	}
	e->field_values = palloc(sizeof(Datum) * e->def.nfields);
	e->field_nulls = palloc(sizeof(char) * e->def.nfields);
	e->values = palloc(sizeof(Datum) * Max(e->ncolumns, 1));
	e->isnull = palloc(sizeof(bool) * Max(e->ncolumns, 1));
	e->row_cxt = AllocSetContextCreate(caller, "redtrack enrichment", ALLOCSET_DEFAULT_SIZES);
	return e;
}

/* ----------------------------------------------------------------
 * The event as the enricher sees it
 * ----------------------------------------------------------------
 */

/* A queue column's value as JSON, as rrr_write would have read it. */
static void
push_value(JsonbParseState **state, RedshiftType *type, Datum value)
{
	JsonbValue	v;
	int			tz = 0;

	switch (type->kind)
	{
		case RS_VARCHAR:
			{
				text	   *t = DatumGetTextPP(value);

				v.type = jbvString;
				v.val.string.val = VARDATA_ANY(t);
				v.val.string.len = VARSIZE_ANY_EXHDR(t);
				break;
			}
		case RS_SMALLINT:
			v.type = jbvNumeric;
			v.val.numeric = int64_to_numeric(DatumGetInt16(value));
			break;
		case RS_INTEGER:
			v.type = jbvNumeric;
			v.val.numeric = int64_to_numeric(DatumGetInt32(value));
			break;
		case RS_BIGINT:
			v.type = jbvNumeric;
			v.val.numeric = int64_to_numeric(DatumGetInt64(value));
			break;
		case RS_BOOLEAN:
			v.type = jbvBool;
			v.val.boolean = DatumGetBool(value);
			break;
		case RS_DOUBLE:
			/* JSON has no NaN or infinity (rrr_write never stores them) */
			if (isnan(DatumGetFloat8(value)) || isinf(DatumGetFloat8(value)))
			{
				v.type = jbvNull;
				break;
			}
			v.type = jbvNumeric;
			v.val.numeric = DatumGetNumeric(DirectFunctionCall1(float8_numeric, value));
			break;
		case RS_DECIMAL:
			v.type = jbvNumeric;
			v.val.numeric = DatumGetNumeric(value);
			break;
		case RS_DATE:
		case RS_TIMESTAMP:
		case RS_TIMESTAMPTZ:
			{
				int32		typmod;
				Oid			typid = redshift_type_local(type, &typmod);

				/* ISO 8601; a timestamptz in UTC, with its offset */
				v.type = jbvString;
				v.val.string.val = JsonEncodeDateTime(NULL, value, typid,
													  type->kind == RS_TIMESTAMPTZ ? &tz : NULL);
				v.val.string.len = strlen(v.val.string.val);
				break;
			}
		case RS_SUPER:
			{
				Jsonb	   *j = DatumGetJsonbP(value);

				v.type = jbvBinary;
				v.val.binary.data = &j->root;
				v.val.binary.len = VARSIZE(j) - VARHDRSZ;
				break;
			}
	}
	(void) pushJsonbValue(state, WJB_VALUE, &v);
}

/* The declared fields of a row as a JSON object; NULL fields as null. */
static Jsonb *
row_to_event(StreamEnricher *e, Datum *values, bool *isnull)
{
	JsonbParseState *state = NULL;
	JsonbValue *result;

	(void) pushJsonbValue(&state, WJB_BEGIN_OBJECT, NULL);
	for (int f = 0; f < e->def.nfields; f++)
	{
		int			c = e->column_of_field[f];
		JsonbValue	key;

		if (c < 0)
			continue;
		key.type = jbvString;
		key.val.string.val = e->def.fields[f].name;
		key.val.string.len = strlen(e->def.fields[f].name);
		(void) pushJsonbValue(&state, WJB_KEY, &key);
		if (isnull[c])
		{
			JsonbValue	null = {.type = jbvNull};

			(void) pushJsonbValue(&state, WJB_VALUE, &null);
		}
		else
			push_value(&state, &e->def.fields[f].type, values[c]);
	}
	result = pushJsonbValue(&state, WJB_END_OBJECT, NULL);
	return JsonbValueToJsonb(result);
}

/* ----------------------------------------------------------------
 * Enrichment
 * ----------------------------------------------------------------
 */

/*
 * Whether the enricher fn of stream may run as definer, the role that
 * defines (or defined) the stream; an ERROR saying why not otherwise.
 * rrr_define_stream asks before storing it, the drain before every event
 * (roles, owners and functions change in between), outside the event's
 * subtransaction: a refusal fails the drain, and the events stay queued.
 *
 * Whoever owns a function can replace its body, keeping its OID.  So the
 * enricher's owner must have every privilege of the role it runs as, or
 * its owner could run code of its choosing with rights it does not have
 * (a superuser restating an admin's enricher would hand that admin the
 * superuser's rights).  That the definer has the owner's privileges is
 * not enough: a superuser has everyone's.  A SECURITY DEFINER enricher
 * runs as its owner instead, so it must not have more rights than the
 * definer either: the definer must have the owner's privileges too.
 */
void
stream_check_enricher(const char *stream, Oid fn, Oid definer)
{
	HeapTuple	tuple;
	Form_pg_proc proc;
	Oid			owner;
	bool		secdef;
	AclResult	acl;

	if (!OidIsValid(definer) || !SearchSysCacheExists1(AUTHOID, ObjectIdGetDatum(definer)))
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("the role that defined stream \"%s\" (OID %u) no longer exists", stream, definer),
				 errdetail("The enricher runs with the rights of the role that defined the stream."),
				 errhint("Define the stream again, with its enricher, as a role that may run it.")));
	tuple = SearchSysCache1(PROCOID, ObjectIdGetDatum(fn));
	if (!HeapTupleIsValid(tuple))
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_FUNCTION),
				 errmsg("the enricher of stream \"%s\" (function OID %u) no longer exists", stream, fn),
				 errhint("Define the stream again, with a new enricher or without one.")));
	proc = (Form_pg_proc) GETSTRUCT(tuple);
	owner = proc->proowner;
	secdef = proc->prosecdef;
	ReleaseSysCache(tuple);

	if (!has_privs_of_role(owner, definer))
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("enricher %s of stream \"%s\" would run as role \"%s\", whose privileges its owner \"%s\" does not have",
						format_procedure(fn), stream, GetUserNameFromId(definer, false),
						GetUserNameFromId(owner, false)),
				 errdetail("The owner of a function can change what it does; the enricher runs with the rights of the role that defines the stream."),
				 errhint("Use an enricher owned by \"%s\" (or by a role with its privileges), or have its owner define the stream.",
						 GetUserNameFromId(definer, false))));
	if (secdef && !has_privs_of_role(definer, owner))
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("enricher %s of stream \"%s\" is SECURITY DEFINER and would run as role \"%s\", whose privileges role \"%s\" does not have",
						format_procedure(fn), stream, GetUserNameFromId(owner, false),
						GetUserNameFromId(definer, false)),
				 errdetail("A SECURITY DEFINER function runs with its owner's rights; an enricher runs with the rights of the role that defines the stream."),
				 errhint("Use a SECURITY INVOKER enricher, or one owned by \"%s\".",
						 GetUserNameFromId(definer, false))));
#if PG_VERSION_NUM >= 160000
	acl = object_aclcheck(ProcedureRelationId, fn, definer, ACL_EXECUTE);
#else
	acl = pg_proc_aclcheck(fn, definer, ACL_EXECUTE);
#endif
	if (acl != ACLCHECK_OK)
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("role \"%s\" may not execute enricher %s of stream \"%s\"",
						GetUserNameFromId(definer, false), format_procedure(fn), stream),
				 errhint("GRANT EXECUTE ON FUNCTION %s TO %s, or define the stream as a role that has it.",
						 format_procedure(fn), quote_identifier(GetUserNameFromId(definer, false)))));
}

/*
 * Run the enricher on one event as the stream's definer: its result,
 * checked.  stream_check_enricher has just said it may.
 */
static Jsonb *
call_enricher(StreamEnricher *e, Jsonb *event)
{
	RoleScope	scope;
	Datum		result;
	Jsonb	   *enriched;
	int			guc_level;

	LOCAL_FCINFO(fcinfo, 1);

	if (!e->fn_ready)
	{
		fmgr_info_cxt(e->fn, &e->flinfo, e->cxt);
		e->fn_ready = true;
	}
	InitFunctionCallInfoData(*fcinfo, &e->flinfo, 1, InvalidOid, NULL, NULL);
	fcinfo->args[0].value = JsonbPGetDatum(event);
	fcinfo->args[0].isnull = false;

	/*
	 * Whatever the enricher sets, even for the session (set_config(..., false)
	 * survives the release of the event's subtransaction), stops with the
	 * call: the engine runs other streams and tables next, in the same
	 * session.  On an error, rolling back the subtransaction undoes it.
	 */
	role_scope_enter(&scope, e->role);
	guc_level = NewGUCNestLevel();
	result = FunctionCallInvoke(fcinfo);
	AtEOXact_GUC(false, guc_level);
	role_scope_leave(&scope);

	if (fcinfo->isnull)
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("enricher %s of stream \"%s\" returned NULL",
						format_procedure(e->fn), e->def.name),
				 errhint("An enricher returns the event as a JSON object.")));
	enriched = DatumGetJsonbP(result);
	if (!JB_ROOT_IS_OBJECT(enriched) || JB_ROOT_IS_SCALAR(enriched))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("enricher %s of stream \"%s\" returned %s, not a JSON object",
						format_procedure(e->fn), e->def.name,
						JB_ROOT_IS_SCALAR(enriched) ? "a scalar" : "an array"),
				 errhint("An enricher returns the event as a JSON object.")));
	return enriched;
}

/* Keep an event that could not be enriched, with the reason. */
static void
set_aside(StreamEnricher *e, int64 event_id, Jsonb *event, const char *error)
{
	SpiArgs		args = {0};

	SPI_connect();
	spi_arg_text(&args, e->def.name);
	spi_arg_int8(&args, event_id);
	args.types[args.n] = JSONBOID;
	args.values[args.n] = JsonbPGetDatum(event);
	args.nulls[args.n++] = ' ';
	spi_arg_text(&args, error);
	/* Once per event: a drain exported again (a retry) finds it there. */
	spi_run("INSERT INTO redtrack.rejected_events AS r (stream, event_id, event, error) "
			"VALUES ($1, $2, $3, $4) ON CONFLICT (stream, event_id) DO UPDATE "
			"SET event = excluded.event, error = excluded.error, rejected_at = pg_catalog.now()",
			&args, false);
	SPI_finish();
}

bool
stream_enrich_row(StreamEnricher *e, Datum *values, bool *isnull, int64 event_id,
				  Datum **out_values, bool **out_isnull, int64 *truncated)
{
	MemoryContext caller = CurrentMemoryContext;
	ResourceOwner owner = CurrentResourceOwner;
	Jsonb	   *event;
	int			cut = 0;
	ErrorData  *volatile error = NULL;

	MemoryContextReset(e->row_cxt);
	MemoryContextSwitchTo(e->row_cxt);
	event = row_to_event(e, values, isnull);

	/* Not the event's fault: fails the drain, and the events stay queued. */
	stream_check_enricher(e->def.name, e->fn, e->role);

	BeginInternalSubTransaction(NULL);
	MemoryContextSwitchTo(e->row_cxt);
	PG_TRY();
	{
		Jsonb	   *enriched = call_enricher(e, event);

		stream_event_values(&e->def, enriched, e->field_values, e->field_nulls, &cut);
		ReleaseCurrentSubTransaction();
		MemoryContextSwitchTo(e->row_cxt);
		CurrentResourceOwner = owner;
	}
	PG_CATCH();
	{
		MemoryContextSwitchTo(e->row_cxt);
		error = CopyErrorData();
		FlushErrorState();
		RollbackAndReleaseCurrentSubTransaction();
		MemoryContextSwitchTo(e->row_cxt);
		CurrentResourceOwner = owner;
		/* A cancel or a shutdown stops the drain, not one event. */
		if (error->sqlerrcode == ERRCODE_QUERY_CANCELED ||
			error->sqlerrcode == ERRCODE_ADMIN_SHUTDOWN)
			ReThrowError(error);
	}
	PG_END_TRY();

	if (error != NULL)
	{
		set_aside(e, event_id, event, error->message ? error->message : "unknown error");
		MemoryContextSwitchTo(caller);
		return false;
	}

	/* The enriched values, where the drain expects the queue's. */
	for (int c = 0; c < e->ncolumns; c++)
	{
		int			f = e->field_of_column[c];

		e->values[c] = f < 0 ? values[c] : e->field_values[f];
		e->isnull[c] = f < 0 ? isnull[c] : (e->field_nulls[f] == 'n');
	}
	*out_values = e->values;
	*out_isnull = e->isnull;
	*truncated += cut;
	MemoryContextSwitchTo(caller);
	return true;
}
