/*-------------------------------------------------------------------------
 *
 * registry.c
 *	  redtrack.replicables, read: registrations as the engine works from
 *	  them, and the checks that registering made, made again before every
 *	  run.
 *
 * Registering and unregistering (the SQL functions) are in
 * extension/register.c; they share the checks below, so a rule that
 * registration enforces is the rule every run enforces.  Identifiers only
 * ever reach SQL text through quote_identifier; values only as parameters.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "access/genam.h"
#include "access/relation.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "utils/acl.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"
#include "utils/rel.h"
#include "utils/rls.h"
#include "utils/relcache.h"

#include "array_list.h"
#include "ownership.h"
#include "registry.h"
#include "sql_list.h"
#include "target_name.h"

typedef struct StrategyName
{
	ReplicationStrategy kind;
	const char *name;
	const char *what;
} StrategyName;

#define REDTRACK_STRATEGY_NAME(kind, name, what) {kind, #name, what},
static const StrategyName strategy_names[] = {
	REDTRACK_STRATEGIES(REDTRACK_STRATEGY_NAME)
};

const char *
redtrack_strategy_name(ReplicationStrategy strategy)
{
	for (int i = 0; i < lengthof(strategy_names); i++)
		if (strategy_names[i].kind == strategy)
			return strategy_names[i].name;
	return "unknown";
}

/* "The strategy is one of ...": what registering accepts, for hints. */
char *
redtrack_strategy_hint(void)
{
	StringInfoData hint;

	initStringInfo(&hint);
	for (int i = 0, last = lengthof(strategy_names) - 1; i <= last; i++)
	{
		if (strategy_names[i].kind == STRATEGY_QUEUE)
			continue;
		appendStringInfo(&hint, "%s\"%s\" (%s)",
						 hint.len == 0 ? "The strategy is one of " : i == last ? " or " : ", ",
						 strategy_names[i].name, strategy_names[i].what);
	}
	appendStringInfoChar(&hint, '.');
	return hint.data;
}

/*
 * A strategy by its registered name.  Only a stream registers a queue
 * (allow_queue: reading registrations back).
 */
ReplicationStrategy
redtrack_parse_strategy(const char *name, bool allow_queue)
{
	for (int i = 0; i < lengthof(strategy_names); i++)
	{
		if (strcmp(strategy_names[i].name, name) != 0)
			continue;
		if (strategy_names[i].kind == STRATEGY_QUEUE && !allow_queue)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("strategy \"queue\" is for event streams"),
					 errhint("Declare a stream with rrr_define_stream; it registers its queue itself.")));
		return strategy_names[i].kind;
	}
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
			 errmsg("unknown replication strategy \"%s\"", name),
			 errhint("%s", redtrack_strategy_hint())));
	pg_unreachable();
}

/* ----------------------------------------------------------------
 * The source table
 * ----------------------------------------------------------------
 */

/* The primary key's column names, or NIL. */
List *
redtrack_primary_key_columns(Relation rel)
{
	List	   *indexes = RelationGetIndexList(rel);
	List	   *columns = NIL;
	ListCell   *lc;

	foreach(lc, indexes)
	{
		Relation	index = index_open(lfirst_oid(lc), AccessShareLock);

		if (index->rd_index->indisprimary)
		{
			for (int i = 0; i < index->rd_index->indnkeyatts; i++)
			{
				AttrNumber	attnum = index->rd_index->indkey.values[i];

				columns = lappend(columns,
								  pstrdup(get_attname(RelationGetRelid(rel), attnum, false)));
			}
		}
		index_close(index, AccessShareLock);
		if (columns != NIL)
			break;
	}
	list_free(indexes);
	return columns;
}

/*
 * Whether redtrack.replicables has a column: a new library runs against
 * an older schema between a package upgrade and ALTER EXTENSION UPDATE.
 */
bool
redtrack_replicables_has_column(const char *column)
{
	Oid			relid = get_relname_relid("replicables", redtrack_schema_oid());

	return OidIsValid(relid) && get_attnum(relid, column) != InvalidAttrNumber;
}

/* Whether the table is registered (the caller is connected to SPI). */
bool
redtrack_is_registered(Oid relid)
{
	Datum		arg = ObjectIdGetDatum(relid);
	Oid			argtype = REGCLASSOID;
	int			rc;

	rc = SPI_execute_with_args("SELECT 1 FROM redtrack.replicables WHERE source OPERATOR(pg_catalog.=) $1",
							   1, &argtype, &arg, NULL, true, 1);
	if (rc != SPI_OK_SELECT)
		elog(ERROR, "SPI_execute_with_args failed: %s", SPI_result_code_string(rc));
	return SPI_processed > 0;
}

/* ----------------------------------------------------------------
 * Targets
 * ----------------------------------------------------------------
 */

/*
 * Whether another registration (not of relation "self") loads the same
 * Redshift table; its source goes to *owner_relid.
 */
bool
redtrack_target_is_taken(const char *target, Oid self, Oid *owner_relid)
{
	char	   *identity = redtrack_target_identity(target);
	bool		taken = false;
	int			rc;

	SPI_connect();
	rc = SPI_execute("SELECT source::pg_catalog.oid, target_table FROM redtrack.replicables",
					 true, 0);
	if (rc != SPI_OK_SELECT)
		elog(ERROR, "SPI_execute failed: %s", SPI_result_code_string(rc));
	for (uint64 i = 0; i < SPI_processed && !taken; i++)
	{
		bool		isnull;
		Oid			relid = DatumGetObjectId(SPI_getbinval(SPI_tuptable->vals[i],
														   SPI_tuptable->tupdesc, 1, &isnull));
		char	   *other = SPI_getvalue(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 2);

		if (relid != self && strcmp(redtrack_target_identity(other), identity) == 0)
		{
			*owner_relid = relid;
			taken = true;
		}
	}
	SPI_finish();
	return taken;
}

/* ----------------------------------------------------------------
 * Rights of the role that reads the source
 * ----------------------------------------------------------------
 */

/*
 * Row-level security that would hide rows from the role reading the
 * source.  redtrack refuses such tables rather than replicate a filtered
 * view of them: a warehouse that silently holds a subset (or, read with
 * more rights, a superset) of what the registering role may see is wrong
 * either way.
 */
void
redtrack_refuse_row_level_security(Oid relid, Oid reader, const char *relname)
{
	if (check_enable_rls(relid, reader, true) == RLS_ENABLED)
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("row-level security applies to \"%s\" for role \"%s\"",
						relname, GetUserNameFromId(reader, false)),
				 errdetail("redtrack replicates whole tables; it does not replicate what a policy lets one role see."),
				 errhint("Register the table as its owner (without FORCE ROW LEVEL SECURITY) or as a role with BYPASSRLS.")));
}

/* SELECT (and TRIGGER, for tracked deletes) on the table, before any lock. */
void
redtrack_check_table_privileges(Oid relid, Oid roleid, bool track_deletes)
{
	AclResult	aclresult;
	char	   *relname = get_rel_name(relid);

	if (relname == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_TABLE),
				 errmsg("relation with OID %u does not exist", relid)));
	aclresult = pg_class_aclcheck(relid, roleid, ACL_SELECT);
	if (aclresult == ACLCHECK_OK && track_deletes)
		aclresult = pg_class_aclcheck(relid, roleid, ACL_TRIGGER);
	if (aclresult != ACLCHECK_OK)
		aclcheck_error(aclresult, get_relkind_objtype(get_rel_relkind(relid)), relname);
}

/* ----------------------------------------------------------------
 * Loading registrations for the engine
 * ----------------------------------------------------------------
 */

static Replicable *
replicable_from_tuple(HeapTuple tuple, TupleDesc desc)
{
	Replicable *r = palloc0(sizeof(Replicable));
	bool		isnull;
	Datum		d;

	r->relid = DatumGetObjectId(SPI_getbinval(tuple, desc, 1, &isnull));
	r->source_name = redtrack_relation_display_name(r->relid);
	r->strategy = redtrack_parse_strategy(TextDatumGetCString(SPI_getbinval(tuple, desc, 2, &isnull)), true);
	r->target_table = TextDatumGetCString(SPI_getbinval(tuple, desc, 3, &isnull));
	d = SPI_getbinval(tuple, desc, 4, &isnull);
	r->replication_field = isnull ? NULL : pstrdup(NameStr(*DatumGetName(d)));
	if (r->replication_field)
	{
		/*
		 * A field renamed or dropped since registration is reported by
		 * redtrack_check_registration, as that table's failure: loading a
		 * registration must not fail a call that covers other tables.
		 */
		AttrNumber	attnum = get_attnum(r->relid, r->replication_field);

		if (attnum > 0)
			r->field_type = getBaseType(get_atttype(r->relid, attnum));
	}
	r->track_deletes = DatumGetBool(SPI_getbinval(tuple, desc, 5, &isnull));
	d = SPI_getbinval(tuple, desc, 6, &isnull);
	r->key_columns = isnull ? NIL : redtrack_name_array_to_list(DatumGetArrayTypeP(d), "key_columns");
	d = SPI_getbinval(tuple, desc, 7, &isnull);
	r->distkey = isnull ? NULL : pstrdup(NameStr(*DatumGetName(d)));
	d = SPI_getbinval(tuple, desc, 8, &isnull);
	r->sortkey = isnull ? NIL : redtrack_name_array_to_list(DatumGetArrayTypeP(d), "sortkey");
	r->evolve = DatumGetBool(SPI_getbinval(tuple, desc, 9, &isnull));
	r->watermark_epoch = DatumGetInt64(SPI_getbinval(tuple, desc, 10, &isnull));
	r->registered_by = pstrdup(NameStr(*DatumGetName(SPI_getbinval(tuple, desc, 11, &isnull))));
	r->key_from_primary_key = DatumGetBool(SPI_getbinval(tuple, desc, 12, &isnull));
	return r;
}

#define REPLICABLE_COLUMNS \
	"source::pg_catalog.oid, strategy, target_table, replication_field, track_deletes, " \
	"key_columns, distkey, sortkey, evolve, watermark_epoch, registered_by, %s"

/* The columns to read, with what 0.4's schema lacks filled in. */
static char *
replicable_columns(void)
{
	return psprintf(REPLICABLE_COLUMNS,
					redtrack_replicables_has_column("key_from_primary_key")
					? "key_from_primary_key" : "false AS key_from_primary_key");
}

Replicable *
redtrack_load_replicable(Oid relid, bool missing_ok)
{
	Datum		arg = ObjectIdGetDatum(relid);
	Oid			argtype = REGCLASSOID;
	MemoryContext caller = CurrentMemoryContext;
	Replicable *result = NULL;
	int			rc;

	SPI_connect();
	rc = SPI_execute_with_args(psprintf("SELECT %s FROM redtrack.replicables "
										"WHERE source OPERATOR(pg_catalog.=) $1",
										replicable_columns()),
							   1, &argtype, &arg, NULL, true, 1);
	if (rc != SPI_OK_SELECT)
		elog(ERROR, "SPI_execute_with_args failed: %s", SPI_result_code_string(rc));
	if (SPI_processed == 1)
	{
		MemoryContext spi = MemoryContextSwitchTo(caller);

		result = replicable_from_tuple(SPI_tuptable->vals[0], SPI_tuptable->tupdesc);
		MemoryContextSwitchTo(spi);
	}
	SPI_finish();

	if (result == NULL && !missing_ok)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("table \"%s\" is not registered", redtrack_relation_display_name(relid)),
				 errhint("Register it with rrr_register first.")));
	return result;
}

List *
redtrack_load_replicables(void)
{
	MemoryContext caller = CurrentMemoryContext;
	List	   *result = NIL;
	int			rc;

	SPI_connect();
	rc = SPI_execute(psprintf("SELECT %s FROM redtrack.replicables "
							  "ORDER BY registered_at, source::pg_catalog.oid", replicable_columns()),
					 true, 0);
	if (rc != SPI_OK_SELECT)
		elog(ERROR, "SPI_execute failed: %s", SPI_result_code_string(rc));
	for (uint64 i = 0; i < SPI_processed; i++)
	{
		MemoryContext spi = MemoryContextSwitchTo(caller);

		result = lappend(result, replicable_from_tuple(SPI_tuptable->vals[i],
													   SPI_tuptable->tupdesc));
		MemoryContextSwitchTo(spi);
	}
	SPI_finish();
	return result;
}

/* ----------------------------------------------------------------
 * Checks at every run
 * ----------------------------------------------------------------
 */

/*
 * The role whose rights read the source: the one that registered it.
 * A stream's queue is redtrack's own table and is read as its owner.
 */
Oid
redtrack_source_reader(Replicable *r)
{
	Oid			reader;

	if (redtrack_is_own_table(r->relid))
		return redtrack_owner_oid();
	reader = get_role_oid(r->registered_by, true);
	if (!OidIsValid(reader))
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("role \"%s\", which registered %s, no longer exists",
						r->registered_by, r->source_name),
				 errdetail("The source is read with the rights of the role that registered it."),
				 errhint("Unregister the table and register it again as a role that may read it.")));
	return reader;
}

static void
require_column(Replicable *r, const char *column, const char *role)
{
	AttrNumber	attnum = get_attnum(r->relid, column);

	if (attnum <= 0)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_COLUMN),
				 errmsg("%s \"%s\" of %s no longer exists", role, column, r->source_name),
				 errdetail("It was renamed or dropped after the table was registered."),
				 errhint("Rename it back, or unregister the table and register it again "
						 "(the target may need the same change on Redshift).")));
}

static bool
same_names(List *a, List *b)
{
	ListCell   *la;
	ListCell   *lb;

	if (list_length(a) != list_length(b))
		return false;
	forboth(la, a, lb, b)
	{
		if (strcmp(lfirst(la), lfirst(lb)) != 0)
			return false;
	}
	return true;
}

/*
 * What registration checked, checked again before every run: DDL since
 * then (a table turned into a view, a renamed column, a new primary key,
 * a revoked GRANT, a new policy) must stop the table with an error that
 * says what changed, never run with more rights than the registering role
 * has or load rows under the wrong key.  Runs in a transaction.
 */
void
redtrack_check_registration(Replicable *r)
{
	Relation	rel;
	Oid			reader = redtrack_source_reader(r);
	ListCell   *lc;
	List	   *primary_key;

	rel = try_relation_open(r->relid, AccessShareLock);
	if (rel == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_TABLE),
				 errmsg("relation with OID %u does not exist", r->relid)));
	if (rel->rd_rel->relkind != RELKIND_RELATION &&
		rel->rd_rel->relkind != RELKIND_PARTITIONED_TABLE)
		ereport(ERROR,
				(errcode(ERRCODE_WRONG_OBJECT_TYPE),
				 errmsg("%s is no longer a table", r->source_name),
				 errdetail("Only ordinary and partitioned tables are replicated; it became something else after registration."),
				 errhint("Unregister it with rrr_unregister.")));

	if (!redtrack_is_own_table(r->relid))
	{
		redtrack_check_table_privileges(r->relid, reader, false);
		redtrack_refuse_row_level_security(r->relid, reader, RelationGetRelationName(rel));
	}

	if (r->replication_field)
		require_column(r, r->replication_field, "replication field");
	foreach(lc, r->key_columns)
		require_column(r, lfirst(lc), "key column");

	primary_key = redtrack_primary_key_columns(rel);
	if (r->key_from_primary_key && !same_names(primary_key, r->key_columns))
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("the primary key of %s changed from (%s) to (%s)",
						r->source_name, sql_name_list(r->key_columns, NULL, SQL_QUOTE_POSTGRES),
						primary_key ? sql_name_list(primary_key, NULL, SQL_QUOTE_POSTGRES) : "none"),
				 errdetail("Rows are matched on the target by the key they were registered with; "
						   "under another key, rows would be merged or left behind."),
				 errhint("Unregister the table, drop its target on Redshift, and register it again: "
						 "the first run then loads every row under the new key.")));
	relation_close(rel, AccessShareLock);
}
