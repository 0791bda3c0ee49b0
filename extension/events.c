/*-------------------------------------------------------------------------
 *
 * events.c
 *	  rrr_define_stream, rrr_stream_ddl, rrr_drop_stream and the backlog
 *	  of a stream's queue (redtrack.status).
 *
 * What a stream is, and the rules its events meet, live in worker/stream
 * (stream.h): the engine needs them to drain a queue.  The write path is
 * event_write.c.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "catalog/namespace.h"
#include "catalog/pg_proc.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "funcapi.h"
#include "lib/stringinfo.h"
#include "miscadmin.h"
#include "utils/acl.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/inval.h"
#include "utils/jsonb.h"
#include "utils/lsyscache.h"
#include "utils/regproc.h"
#include "utils/syscache.h"

#include "array_list.h"
#include "events.h"
#include "state.h"
#include "strategy.h"
#include "ownership.h"
#include "registry.h"
#include "spi_util.h"
#include "stream.h"

PG_FUNCTION_INFO_V1(rrr_define_stream);
PG_FUNCTION_INFO_V1(rrr_stream_ddl);
PG_FUNCTION_INFO_V1(rrr_drop_stream);
PG_FUNCTION_INFO_V1(redtrack_stream_backlog);

/* What rrr_define_stream was asked for. */
typedef struct StreamRequest
{
	char	   *name;
	Jsonb	   *columns;
	StreamField *fields;
	int			nfields;
	char	   *sortkey;
	List	   *sortkeys;
	char	   *distkey;
	bool		lenient;
	char	   *definition;		/* normalized */
	char	   *registrant;		/* the role that defines it */
	Oid			registrant_id;	/* ... by OID */
	Oid			enrich;			/* the enricher, or InvalidOid */
} StreamRequest;

static char *
join_names(List *names)
{
	StringInfoData out;
	ListCell   *lc;

	initStringInfo(&out);
	foreach(lc, names)
		appendStringInfo(&out, "%s%s", out.len > 0 ? "," : "", (char *) lfirst(lc));
	return out.data;
}

/* ----------------------------------------------------------------
 * rrr_define_stream
 * ----------------------------------------------------------------
 */

static char *
queue_column_sql(StreamField *f)
{
	StringInfoData sql;
	int32		typmod;
	Oid			type = redshift_type_local(&f->type, &typmod);

	initStringInfo(&sql);
	appendStringInfo(&sql, "%s %s", quote_identifier(f->name), format_type_with_typemod(type, typmod));
	if (f->not_null)
		appendStringInfoString(&sql, " NOT NULL");
	return sql.data;
}

/* A new stream: its queue table, registered as a queue (in SPI, as owner). */
static void
create_stream(StreamRequest *req)
{
	const char *name = req->name;
	SpiArgs		args = {0};
	StringInfoData sql;
	Oid			other;

	/* Not part of the extension: DROP EXTENSION must leave events be. */
	if (!OidIsValid(get_namespace_oid(STREAMS_SCHEMA, true)))
	{
		spi_run("CREATE SCHEMA " STREAMS_SCHEMA, NULL, false);
		spi_run("REVOKE ALL ON SCHEMA " STREAMS_SCHEMA " FROM PUBLIC", NULL, false);
		spi_run("GRANT USAGE ON SCHEMA " STREAMS_SCHEMA " TO redtrack_admin", NULL, false);
	}
	/* Compared as Redshift resolves names (see redtrack_target_identity). */
	if (redtrack_target_is_taken(quote_identifier(name), InvalidOid, &other))
		ereport(ERROR,
				(errcode(ERRCODE_DUPLICATE_OBJECT),
				 errmsg("the Redshift table %s of stream \"%s\" is already a replication target",
						quote_identifier(name), name),
				 errhint("Name the stream differently, or unregister the table that loads %s.",
						 quote_identifier(name))));

	initStringInfo(&sql);
	appendStringInfo(&sql, "CREATE TABLE %s (redtrack_event_id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, "
					 "redtrack_enqueued_at timestamptz NOT NULL DEFAULT pg_catalog.now()",
					 stream_queue_table(name));
	for (int i = 0; i < req->nfields; i++)
		appendStringInfo(&sql, ", %s", queue_column_sql(&req->fields[i]));
	/* Drained in bulk: vacuum after a fixed number of deleted rows. */
	appendStringInfoString(&sql, ") WITH (autovacuum_vacuum_scale_factor = 0, "
						   "autovacuum_vacuum_threshold = 10000, "
						   "autovacuum_vacuum_insert_scale_factor = 0, "
						   "autovacuum_vacuum_insert_threshold = 100000)");
	spi_run(sql.data, NULL, false);
	spi_run(psprintf("GRANT SELECT ON %s TO redtrack_admin", stream_queue_table(name)), NULL, false);

	spi_arg_text(&args, name);
	spi_arg_text(&args, req->definition);
	args.types[args.n] = TEXTARRAYOID;
	args.values[args.n] = req->sortkeys ? redtrack_list_to_text_array(req->sortkeys) : (Datum) 0;
	args.nulls[args.n++] = req->sortkeys ? ' ' : 'n';
	spi_arg_text(&args, req->distkey);
	spi_arg_bool(&args, req->lenient);
	spi_arg_text(&args, stream_queue_table(name));
	spi_arg_text(&args, quote_identifier(name));
	spi_arg_text(&args, req->registrant);
	state_insert_registration(DatumGetObjectId(DirectFunctionCall1(regclassin,
																   CStringGetDatum(stream_queue_table(name)))),
							  strategy_for(STRATEGY_QUEUE)->name, quote_identifier(name), req->registrant);
	spi_run("INSERT INTO redtrack.streams (name, queue_table, columns, sortkey, distkey, lenient) "
			"VALUES ($1, $6::pg_catalog.regclass, $2::jsonb, $3::name[], $4, $5)", &args, false);
}

/* Redefinition refuses whatever is not an addition. */
static void
check_only_additions(StreamRequest *req, StreamField *old, int nold,
					 const char *old_sortkey, const char *old_distkey)
{
	const char *name = req->name;

	for (int i = 0; i < nold; i++)
	{
		StreamField *now = stream_find_field(req->fields, req->nfields, old[i].name);

		if (now == NULL)
			ereport(ERROR,
					(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
					 errmsg("redefining stream \"%s\" would remove field \"%s\"", name, old[i].name),
					 errhint("A stream's fields can only be added to.")));
		if (now->type.kind != old[i].type.kind || now->type.length != old[i].type.length ||
			now->type.precision != old[i].type.precision || now->type.scale != old[i].type.scale ||
			now->not_null != old[i].not_null)
			ereport(ERROR,
					(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
					 errmsg("redefining stream \"%s\" would change field \"%s\"", name, old[i].name),
					 errdetail("It is %s%s; the new definition says %s%s.",
							   redshift_type_spelling(&old[i].type), old[i].not_null ? " not null" : "",
							   redshift_type_spelling(&now->type), now->not_null ? " not null" : ""),
					 errhint("A stream's fields can only be added to.")));
	}
	if (req->sortkey && (old_sortkey == NULL || strcmp(join_names(req->sortkeys), old_sortkey) != 0))
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("stream \"%s\" already has its sort key", name),
				 errhint("Sort and distribution keys are fixed when a stream is first defined.")));
	if (req->distkey && (old_distkey == NULL || strcmp(req->distkey, old_distkey) != 0))
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("stream \"%s\" already has its distribution key", name)));
}

/* Redefinition: only additions, which both sides get (in SPI, as owner). */
static void
redefine_stream(StreamRequest *req, StreamField *old, int nold)
{
	const char *name = req->name;
	SpiArgs		args = {0};

	for (int i = 0; i < req->nfields; i++)
	{
		StreamField *f = &req->fields[i];

		if (stream_find_field(old, nold, f->name) != NULL)
			continue;
		if (f->not_null && !f->has_default)
			ereport(ERROR,
					(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
					 errmsg("new field \"%s\" of stream \"%s\" is not null without a default",
							f->name, name),
					 errhint("Events already written have no value for it: give it a default.")));
		spi_run(psprintf("ALTER TABLE %s ADD COLUMN %s", stream_queue_table(name),
						 queue_column_sql(f)), NULL, false);
	}
	spi_arg_text(&args, name);
	spi_arg_text(&args, req->definition);
	spi_arg_bool(&args, req->lenient);
	/* The next drain adds the new fields to the Redshift table. */
	spi_run("UPDATE redtrack.streams SET columns = $2::jsonb, lenient = $3, "
			"updated_at = pg_catalog.now() WHERE name = $1", &args, false);

	/*
	 * Sessions cache a stream's definition until its queue table's relcache
	 * entry is invalidated.  Added columns do that; a change of lenient or
	 * of a default alone must do it too, or other sessions keep validating
	 * against the old definition.
	 */
	CacheInvalidateRelcacheByRelid(get_relname_relid(name, get_namespace_oid(STREAMS_SCHEMA, false)));
}

/*
 * An enricher takes the event and returns it: (jsonb) -> jsonb, a plain
 * function, which the role defining the stream may have run with its
 * rights (stream_check_enricher; the drain asks again before every event).
 */
static void
check_enricher(const char *stream, Oid fn)
{
	HeapTuple	tuple = SearchSysCache1(PROCOID, ObjectIdGetDatum(fn));
	Form_pg_proc proc;
	bool		fits;

	if (!HeapTupleIsValid(tuple))
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_FUNCTION),
				 errmsg("function with OID %u does not exist", fn)));
	proc = (Form_pg_proc) GETSTRUCT(tuple);
	fits = proc->prokind == PROKIND_FUNCTION && !proc->proretset && proc->pronargs == 1 &&
		proc->proargtypes.values[0] == JSONBOID && proc->prorettype == JSONBOID;
	ReleaseSysCache(tuple);
	if (!fits)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_FUNCTION_DEFINITION),
				 errmsg("enricher %s of stream \"%s\" is not a function (jsonb) -> jsonb",
						format_procedure(fn), stream),
				 errhint("An enricher takes the event as jsonb and returns it, enriched, as jsonb.")));
	stream_check_enricher(stream, fn, GetUserId());
}

/*
 * The enricher, and the role it runs as: the one defining the stream now,
 * by OID, so that renaming the role changes nothing and a new role of the
 * same name is not it (in SPI, as owner).  A definition states its
 * enricher: none, none.
 */
static void
store_enricher(StreamRequest *req)
{
	SpiArgs		args = {0};

	if (!stream_catalog_has_enrichment())
	{
		if (OidIsValid(req->enrich))
			ereport(ERROR,
					(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
					 errmsg("enrichment needs redtrack 0.6"),
					 errhint("Run ALTER EXTENSION redtrack UPDATE.")));
		return;
	}
	spi_arg_text(&args, req->name);
	spi_arg_oid(&args, req->enrich);
	args.nulls[1] = OidIsValid(req->enrich) ? ' ' : 'n';
	spi_arg_oid(&args, req->registrant_id);
	spi_run("UPDATE redtrack.streams SET enrich = $2::pg_catalog.regprocedure::pg_catalog.text, "
			"enrich_role = CASE WHEN $2 IS NOT NULL THEN $3::pg_catalog.regrole END "
			"WHERE name = $1", &args, false);
}

Datum
rrr_define_stream(PG_FUNCTION_ARGS)
{
	StreamRequest req = {0};
	StreamField *old;
	int			nold = 0;
	char	   *old_sortkey = NULL;
	char	   *old_distkey = NULL;
	OwnerScope	scope;

	redtrack_require_admin("define a stream");
	if (PG_ARGISNULL(0) || PG_ARGISNULL(1))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("stream name and columns must not be NULL")));
	req.name = text_to_cstring(PG_GETARG_TEXT_PP(0));
	req.sortkey = PG_ARGISNULL(2) ? NULL : text_to_cstring(PG_GETARG_TEXT_PP(2));
	req.distkey = PG_ARGISNULL(3) ? NULL : text_to_cstring(PG_GETARG_TEXT_PP(3));
	req.lenient = PG_ARGISNULL(4) ? false : PG_GETARG_BOOL(4);
	req.enrich = (PG_NARGS() > 5 && !PG_ARGISNULL(5)) ? PG_GETARG_OID(5) : InvalidOid;
	if (req.name[0] == '\0' || strlen(req.name) >= NAMEDATALEN)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_NAME),
				 errmsg("stream name must be 1 to %d bytes", NAMEDATALEN - 1)));
	req.columns = PG_GETARG_JSONB_P(1);
	req.fields = stream_parse_definition(req.name, req.columns, &req.nfields);
	if (req.sortkey)
		req.sortkeys = stream_parse_sortkey(req.name, req.sortkey, req.fields, req.nfields);
	if (req.distkey)
		stream_check_distkey(req.name, req.distkey, req.fields, req.nfields);
	req.definition = stream_normalized_definition(req.columns, req.fields, req.nfields);
	if (OidIsValid(req.enrich))
		check_enricher(req.name, req.enrich);
	req.registrant_id = GetUserId();
	req.registrant = GetUserNameFromId(req.registrant_id, false);

	SPI_connect();
	redtrack_enter_owner_scope(&scope);
	old = stream_read_definition(req.name, &nold, &old_sortkey, &old_distkey);
	stream_check_case_collisions(req.name, req.fields, req.nfields, old, nold);
	if (old == NULL)
		create_stream(&req);
	else
	{
		check_only_additions(&req, old, nold, old_sortkey, old_distkey);
		redefine_stream(&req, old, nold);
	}
	store_enricher(&req);
	redtrack_leave_owner_scope(&scope);
	SPI_finish();
	PG_RETURN_VOID();
}

/* ----------------------------------------------------------------
 * DDL, drop, backlog
 * ----------------------------------------------------------------
 */

Datum
rrr_stream_ddl(PG_FUNCTION_ARGS)
{
	OwnerScope	scope;
	char	   *ddl;

	redtrack_require_admin("read a stream's DDL");
	if (PG_ARGISNULL(0))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("stream name must not be NULL")));
	redtrack_enter_owner_scope(&scope);
	ddl = redtrack_stream_ddl(text_to_cstring(PG_GETARG_TEXT_PP(0)));
	redtrack_leave_owner_scope(&scope);
	PG_RETURN_TEXT_P(cstring_to_text(ddl));
}

Datum
rrr_drop_stream(PG_FUNCTION_ARGS)
{
	char	   *name;
	bool		force = PG_ARGISNULL(1) ? false : PG_GETARG_BOOL(1);
	OwnerScope	scope;
	SpiArgs		args = {0};
	int64		waiting;

	redtrack_require_admin("drop a stream");
	if (PG_ARGISNULL(0))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("stream name must not be NULL")));
	name = text_to_cstring(PG_GETARG_TEXT_PP(0));
	SPI_connect();
	redtrack_enter_owner_scope(&scope);
	spi_arg_text(&args, name);
	if (spi_run("SELECT 1 FROM redtrack.streams WHERE name = $1", &args, true) == 0)
		stream_not_found(name);
	spi_run(psprintf("SELECT pg_catalog.count(*) FROM %s", stream_queue_table(name)), NULL, true);
	waiting = spi_get_int8(0, 1, NULL);
	if (waiting > 0 && !force)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("stream \"%s\" has " INT64_FORMAT " events not yet loaded", name, waiting),
				 errhint("Replicate them first, or call rrr_drop_stream('%s', force => true) to discard them.",
						 name)));
	/* Set-aside events are not loaded either: they wait to be re-queued. */
	waiting = 0;
	if (stream_catalog_has_enrichment())
	{
		spi_run("SELECT pg_catalog.count(*) FROM redtrack.rejected_events WHERE stream = $1", &args, true);
		waiting = spi_get_int8(0, 1, NULL);
	}
	if (waiting > 0 && !force)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("stream \"%s\" has " INT64_FORMAT " rejected events", name, waiting),
				 errhint("Re-queue them with rrr_requeue_rejected('%s') once its enricher is fixed, "
						 "or call rrr_drop_stream('%s', force => true) to discard them.", name, name)));
	/* The registration, history, set-aside events and queue table go; the Redshift table stays. */
	spi_run("DELETE FROM redtrack.streams WHERE name = $1", &args, false);
	spi_run(psprintf("DROP TABLE %s", stream_queue_table(name)), NULL, false);
	redtrack_leave_owner_scope(&scope);
	SPI_finish();
	PG_RETURN_VOID();
}

/* redtrack.stream_backlog(queue regclass): events waiting, oldest's age. */
Datum
redtrack_stream_backlog(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	Oid			relid = PG_GETARG_OID(0);
	Datum		values[2];
	bool		nulls[2] = {false, false};
	char	   *relname = get_rel_name(relid);

	InitMaterializedSRF(fcinfo, 0);
	/* Only queue tables have a backlog. */
	if (relname == NULL || get_rel_namespace(relid) != get_namespace_oid(STREAMS_SCHEMA, true))
		return (Datum) 0;
	SPI_connect();
	spi_run(psprintf("SELECT pg_catalog.count(*), "
					 "pg_catalog.now() OPERATOR(pg_catalog.-) pg_catalog.min(redtrack_enqueued_at) "
					 "FROM %s", stream_queue_table(relname)), NULL, true);
	values[0] = Int64GetDatum(spi_get_int8(0, 1, NULL));
	values[1] = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 2, &nulls[1]);
	tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	SPI_finish();
	return (Datum) 0;
}
