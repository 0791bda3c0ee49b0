/*-------------------------------------------------------------------------
 *
 * functions.c
 *	  The SQL functions people call: rrr_replicate, rrr_replicate_all,
 *	  rrr_export, rrr_import, rrr_reset, rrr_target_ddl,
 *	  rrr_create_target, rrr_vacuum, rrr_analyze.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "access/table.h"
#include "access/xact.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "storage/lmgr.h"
#include "utils/acl.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/fmgrprotos.h"
#include "utils/lsyscache.h"
#include "utils/rel.h"

#include "engine.h"
#include "guc.h"
#include "launcher.h"
#include "loader.h"
#include "ownership.h"
#include "redshift.h"
#include "registry.h"
#include "spi_util.h"
#include "state.h"
#include "strategy.h"
#include "target.h"
#include "tools.h"

PG_FUNCTION_INFO_V1(rrr_replicate);
PG_FUNCTION_INFO_V1(rrr_replicate_all);
PG_FUNCTION_INFO_V1(rrr_export);
PG_FUNCTION_INFO_V1(rrr_import);
PG_FUNCTION_INFO_V1(rrr_reset);
PG_FUNCTION_INFO_V1(rrr_target_ddl);
PG_FUNCTION_INFO_V1(rrr_create_target);
PG_FUNCTION_INFO_V1(rrr_vacuum);
PG_FUNCTION_INFO_V1(rrr_analyze);

static Oid
required_table(FunctionCallInfo fcinfo, int arg)
{
	if (PG_ARGISNULL(arg))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("source table must not be NULL")));
	return PG_GETARG_OID(arg);
}

/* The caller may read the table it asks to copy out of the database. */
static void
check_table_access(Oid relid)
{
	AclResult	aclresult = pg_class_aclcheck(relid, GetUserId(), ACL_SELECT);

	if (aclresult != ACLCHECK_OK)
	{
		char	   *name = get_rel_name(relid);

		if (name == NULL)
			ereport(ERROR,
					(errcode(ERRCODE_UNDEFINED_TABLE),
					 errmsg("relation with OID %u does not exist", relid)));
		aclcheck_error(aclresult, OBJECT_TABLE, name);
	}
}

/* The registration as this session sees it, or an error. */
static Replicable *
registered(Oid relid)
{
	Replicable *r = redtrack_load_replicable(relid, true);

	if (r == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("table \"%s\" is not registered", redtrack_relation_display_name(relid)),
				 errhint("Register it with rrr_register('%s', strategy). %s",
						 redtrack_relation_display_name(relid), redtrack_strategy_hint())));
	return r;
}

/*
 * Whether this backend holds the advisory lock a run takes on the table
 * (rrr_reset takes it until commit).  The engine is another process that
 * would wait for it, and the deadlock detector cannot see that this
 * backend in turn waits for the engine.
 */
static bool
holds_run_lock(Oid relid)
{
	LOCKTAG		tag;

	SET_LOCKTAG_ADVISORY(tag, MyDatabaseId, (uint32) REDTRACK_LOCK_CLASS, (uint32) relid, 2);
#if PG_VERSION_NUM >= 170000
	return LockHeldByMe(&tag, ExclusiveLock, false) || LockHeldByMe(&tag, ShareLock, false);
#else
	return LockHeldByMe(&tag, ExclusiveLock) || LockHeldByMe(&tag, ShareLock);
#endif
}

/*
 * The engine worker runs in its own transactions: it cannot see what this
 * transaction has not committed, nor take a lock this transaction holds.
 */
static void
check_engine_can_see(Oid relid)
{
	Relation	rel = RelationIdGetRelation(relid);
	bool		locked;

	if (!RelationIsValid(rel))
		return;
	locked = CheckRelationLockedByMe(rel, AccessExclusiveLock, false);
	RelationClose(rel);
	if (holds_run_lock(relid))
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("the current transaction holds the replication lock of \"%s\"",
						redtrack_relation_display_name(relid)),
				 errdetail("rrr_reset (or pg_advisory_lock(%d, %u)) took it; the engine would wait for it forever.",
						   REDTRACK_LOCK_CLASS, relid),
				 errhint("Commit first, then replicate.")));
	if (locked)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("table \"%s\" is locked by the current transaction",
						redtrack_relation_display_name(relid)),
				 errdetail("Replication runs in its own transactions and would wait for this one."),
				 errhint("Commit first, then replicate.")));
}

static Oid *
relids_from_array(ArrayType *array, int *n)
{
	Datum	   *elems;
	bool	   *nulls;
	Oid		   *relids;

	deconstruct_array(array, REGCLASSOID, sizeof(Oid), true, TYPALIGN_INT,
					  &elems, &nulls, n);
	relids = palloc(sizeof(Oid) * Max(*n, 1));
	for (int i = 0; i < *n; i++)
	{
		if (nulls[i])
			ereport(ERROR,
					(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
					 errmsg("table list must not contain NULL")));
		relids[i] = DatumGetObjectId(elems[i]);
	}
	return relids;
}

/* Run the engine and return one row per table. */
static Datum
run_and_report(FunctionCallInfo fcinfo, Oid *relids, int n, EngineMode mode)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	TableOutcome *outcomes;

	InitMaterializedSRF(fcinfo, 0);
	for (int i = 0; i < n; i++)
	{
		check_table_access(relids[i]);
		(void) registered(relids[i]);
		check_engine_can_see(relids[i]);
	}
	if (n == 0)
		return (Datum) 0;

	outcomes = redtrack_run_engine(relids, n, mode);
	for (int i = 0; i < n; i++)
	{
		TableOutcome *o = &outcomes[i];
		Datum		values[5];
		bool		nulls[5] = {false, false, false, false, false};

		if (o->not_registered)
			ereport(ERROR,
					(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
					 errmsg("the registration of \"%s\" is not committed yet",
							redtrack_relation_display_name(o->relid)),
					 errhint("Commit the transaction that registered it, then replicate.")));
		if (o->error[0])
			ereport(WARNING,
					(errcode(o->sqlstate ? o->sqlstate : ERRCODE_WARNING),
					 errmsg("replication of \"%s\" failed: %s",
							redtrack_relation_display_name(o->relid), o->error),
					 errhint("redtrack.replications has the details; the next run retries it.")));

		/* The engine's WARNINGs went to the server log; the caller hears them too. */
		if (o->warning[0])
			ereport(WARNING,
					(errmsg("redtrack: %s: %s", redtrack_relation_display_name(o->relid), o->warning)));
		if (o->truncated_values > 0 || o->clamped_values > 0)
			ereport(WARNING,
					(errmsg("redtrack: %s: " INT64_FORMAT " values cut or rounded to fit the target, "
							INT64_FORMAT " values the target cannot hold replaced",
							redtrack_relation_display_name(o->relid),
							o->truncated_values, o->clamped_values),
					 errdetail("Replication " INT64_FORMAT " records both counts.", o->replication_id)));

		values[0] = ObjectIdGetDatum(o->relid);
		values[1] = Int64GetDatum(o->replication_id);
		nulls[1] = (o->replication_id == 0);
		/* an engine that died before recording a state still failed */
		values[2] = CStringGetTextDatum(o->skipped ? "busy" : o->state[0] ? o->state : state_name(RS_FAILED));
		nulls[2] = (!o->skipped && o->state[0] == '\0' && o->error[0] == '\0');
		values[3] = Int64GetDatum(o->rows);
		values[4] = CStringGetTextDatum(o->error);
		nulls[4] = (o->error[0] == '\0');
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}
	return (Datum) 0;
}

/*
 * A replication started from inside rrr_export_query's query (through a
 * function it calls) would write although the query must only read.
 */
static void
refuse_inside_export_query(void)
{
	if (tools_export_running())
		ereport(ERROR,
				(errcode(ERRCODE_READ_ONLY_SQL_TRANSACTION),
				 errmsg("rrr_export_query runs only a read-only query: it calls a function of redtrack"),
				 errhint("Pass one SELECT (or VALUES, or TABLE) that reads what to export.")));
}

static Datum
run_variadic(FunctionCallInfo fcinfo, EngineMode mode, const char *action)
{
	Oid		   *relids;
	int			n;

	redtrack_require_admin(action);
	refuse_inside_export_query();
	if (PG_ARGISNULL(0))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("table list must not be NULL")));
	/* events: the text overload's names may be streams (worker/stream/stream_resolve.c) */
	if (ARR_ELEMTYPE(PG_GETARG_ARRAYTYPE_P(0)) == TEXTOID)
		relids = stream_resolve_tables(PG_GETARG_ARRAYTYPE_P(0), &n);
	else
		relids = relids_from_array(PG_GETARG_ARRAYTYPE_P(0), &n);
	return run_and_report(fcinfo, relids, n, mode);
}

Datum
rrr_replicate(PG_FUNCTION_ARGS)
{
	return run_variadic(fcinfo, ENGINE_REPLICATE, "replicate");
}

Datum
rrr_export(PG_FUNCTION_ARGS)
{
	return run_variadic(fcinfo, ENGINE_EXPORT, "export");
}

Datum
rrr_import(PG_FUNCTION_ARGS)
{
	return run_variadic(fcinfo, ENGINE_IMPORT, "import");
}

Datum
rrr_replicate_all(PG_FUNCTION_ARGS)
{
	List	   *all;
	Oid		   *relids;
	int			n = 0;
	ListCell   *lc;

	redtrack_require_admin("replicate");
	refuse_inside_export_query();
	all = redtrack_load_replicables();
	relids = palloc(sizeof(Oid) * Max(list_length(all), 1));
	foreach(lc, all)
		relids[n++] = ((Replicable *) lfirst(lc))->relid;
	return run_and_report(fcinfo, relids, n, ENGINE_REPLICATE);
}

/* ----------------------------------------------------------------
 * rrr_reset
 * ----------------------------------------------------------------
 */

Datum
rrr_reset(PG_FUNCTION_ARGS)
{
	Oid			relid = required_table(fcinfo, 0);
	OwnerScope	scope;
	uint64		canceled;

	redtrack_require_admin("reset a replication");
	check_table_access(relid);
	(void) registered(relid);

	/* Wait for a run in progress, and keep others out until commit. */
	DirectFunctionCall2(pg_advisory_xact_lock_int4, Int32GetDatum(REDTRACK_LOCK_CLASS),
						Int32GetDatum((int32) relid));

	redtrack_enter_owner_scope(&scope);
	canceled = state_reset(relid, "canceled by rrr_reset");
	redtrack_leave_owner_scope(&scope);

	ereport(NOTICE,
			(errmsg("the next replication of \"%s\" sends every row again%s",
					redtrack_relation_display_name(relid),
					canceled > 0 ? "; the unfinished replication was canceled" : "")));
	PG_RETURN_VOID();
}

/* ----------------------------------------------------------------
 * Target tables
 * ----------------------------------------------------------------
 */

/* A registration, or for an unregistered table the defaults it would get. */
static Replicable *
registration_or_defaults(Oid relid)
{
	Replicable *r = redtrack_load_replicable(relid, true);
	Relation	rel;

	if (r)
		return r;
	rel = table_open(relid, AccessShareLock);
	r = palloc0(sizeof(Replicable));
	r->relid = relid;
	r->source_name = redtrack_relation_display_name(relid);
	r->strategy = STRATEGY_FULL;
	r->target_table = pstrdup(quote_identifier(RelationGetRelationName(rel)));
	r->key_columns = redtrack_primary_key_columns(rel);
	table_close(rel, AccessShareLock);
	return r;
}

Datum
rrr_target_ddl(PG_FUNCTION_ARGS)
{
	Oid			relid = required_table(fcinfo, 0);
	Replicable *r;

	redtrack_require_admin("generate target DDL");
	check_table_access(relid);
	r = registration_or_defaults(relid);
	PG_RETURN_TEXT_P(cstring_to_text(strategy_of(r)->target_ddl(r, redtrack_target_dialect ==
																REDTRACK_DIALECT_POSTGRES)));
}

Datum
rrr_create_target(PG_FUNCTION_ARGS)
{
	Oid			relid = required_table(fcinfo, 0);
	Replicable *r;
	RedshiftConn *conn;
	TargetTable *target;
	char	   *ddl;

	redtrack_require_admin("create a target table");
	check_table_access(relid);
	r = registration_or_defaults(relid);
	conn = redshift_connect();
	target = target_describe(conn, r);
	if (target->exists)
	{
		redshift_disconnect(conn);
		ereport(NOTICE,
				(errmsg("target table %s already exists, skipping", target->qualified)));
		PG_RETURN_NULL();
	}
	ddl = target_ddl(r, redtrack_target_dialect == REDTRACK_DIALECT_POSTGRES);
	target_create(conn, r, target, ddl);
	redshift_disconnect(conn);
	PG_RETURN_TEXT_P(cstring_to_text(ddl));
}

/* ----------------------------------------------------------------
 * Maintenance
 * ----------------------------------------------------------------
 */

Datum
rrr_vacuum(PG_FUNCTION_ARGS)
{
	Oid			relid = required_table(fcinfo, 0);
	const char *options = PG_ARGISNULL(1) ? "auto" : text_to_cstring(PG_GETARG_TEXT_PP(1));

	redtrack_require_admin("vacuum a target table");
	check_table_access(relid);
	PG_RETURN_TEXT_P(cstring_to_text(load_vacuum(registered(relid), options)));
}

Datum
rrr_analyze(PG_FUNCTION_ARGS)
{
	Oid			relid = required_table(fcinfo, 0);

	redtrack_require_admin("analyze a target table");
	check_table_access(relid);
	PG_RETURN_TEXT_P(cstring_to_text(load_analyze(registered(relid))));
}
