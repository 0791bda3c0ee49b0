/*-------------------------------------------------------------------------
 *
 * registry.c
 *	  rrr_register and rrr_unregister: validate a table for replication,
 *	  record it, and install or remove its delete-tracking triggers.
 *
 * Everything is checked before anything is written, and what is written
 * (the registration row and the triggers) is written in the caller's
 * transaction, so a failed registration leaves nothing behind.
 * Identifiers only ever reach SQL text through quote_identifier; values
 * only as parameters.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "access/genam.h"
#include "access/relation.h"
#include "access/table.h"
#include "catalog/catalog.h"
#include "catalog/dependency.h"
#include "catalog/namespace.h"
#include "catalog/pg_extension.h"
#include "catalog/pg_trigger.h"
#include "catalog/pg_collation.h"
#include "catalog/pg_type.h"
#include "commands/extension.h"
#include "commands/trigger.h"
#include "datatype/timestamp.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "lib/stringinfo.h"
#include "miscadmin.h"
#include "storage/lmgr.h"
#include "utils/acl.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/formatting.h"
#include "utils/lsyscache.h"
#include "utils/rel.h"
#include "utils/regproc.h"
#include "utils/rls.h"
#include "utils/relcache.h"
#include "utils/syscache.h"
#include "parser/scansup.h"
#include "utils/timestamp.h"

#include "cdc.h"				/* cdc (issue 13) */
#include "delete_tracking.h"
#include "ownership.h"
#include "registry.h"

PG_FUNCTION_INFO_V1(rrr_register);
PG_FUNCTION_INFO_V1(rrr_unregister);

/* Triggers installed by track_deletes => true. */
#define TRIGGER_DELETES "redtrack_deletes"
#define TRIGGER_KEY_CHANGES "redtrack_key_changes"
#define TRIGGER_TRUNCATE "redtrack_truncate"

const char *
redtrack_strategy_name(ReplicationStrategy strategy)
{
	switch (strategy)
	{
		case STRATEGY_TIMED:
			return "timed";
		case STRATEGY_IDENTITY:
			return "identity";
		case STRATEGY_FULL:
			return "full";
		case STRATEGY_QUEUE:
			return "queue";
		case STRATEGY_CDC:		/* cdc (issue 13) */
			return "cdc";
	}
	return "unknown";
}

static ReplicationStrategy
parse_strategy(const char *name, bool allow_queue)
{
	if (strcmp(name, "queue") == 0 && allow_queue)
		return STRATEGY_QUEUE;
	if (strcmp(name, "queue") == 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("strategy \"queue\" is for event streams"),
				 errhint("Declare a stream with rrr_define_stream; it registers its queue itself.")));
	if (strcmp(name, "timed") == 0)
		return STRATEGY_TIMED;
	if (strcmp(name, "identity") == 0)
		return STRATEGY_IDENTITY;
	if (strcmp(name, "full") == 0)
		return STRATEGY_FULL;
	if (strcmp(name, "cdc") == 0)	/* cdc (issue 13) */
		return STRATEGY_CDC;
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
			 errmsg("unknown replication strategy \"%s\"", name),
			 errhint("The strategy is one of \"timed\" (merge changed rows by key), "
					 "\"identity\" (append rows with a growing key), "
					 "\"full\" (replace the whole table) or "
					 "\"cdc\" (changes read from the WAL).")));
	pg_unreachable();
}

/* ----------------------------------------------------------------
 * Column checks
 * ----------------------------------------------------------------
 */

/* The attribute number of a user column, or an error naming the table. */
static AttrNumber
user_column(Relation rel, const char *colname, const char *role,
			const char *hint_argument)
{
	AttrNumber	attnum = get_attnum(RelationGetRelid(rel), colname);

	if (attnum == InvalidAttrNumber)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_COLUMN),
				 errmsg("%s \"%s\" does not exist in table \"%s\"",
						role, colname, RelationGetRelationName(rel)),
				 hint_argument ?
				 errhint("Pass %s => '...' to rrr_register.", hint_argument) : 0));
	if (attnum < 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_COLUMN_REFERENCE),
				 errmsg("%s \"%s\" of table \"%s\" is a system column",
						role, colname, RelationGetRelationName(rel))));
	return attnum;
}

static bool
column_is_not_null(Relation rel, AttrNumber attnum)
{
	return TupleDescAttr(RelationGetDescr(rel), attnum - 1)->attnotnull;
}

static Oid
column_base_type(Relation rel, AttrNumber attnum)
{
	return getBaseType(TupleDescAttr(RelationGetDescr(rel), attnum - 1)->atttypid);
}

static bool
is_integer_type(Oid typid)
{
	return typid == INT2OID || typid == INT4OID || typid == INT8OID;
}

static bool
is_time_type(Oid typid)
{
	return typid == DATEOID || typid == TIMESTAMPOID || typid == TIMESTAMPTZOID;
}

/* Whether some index of the table starts with this column. */
static bool
column_is_indexed(Relation rel, AttrNumber attnum)
{
	List	   *indexes = RelationGetIndexList(rel);
	ListCell   *lc;
	bool		found = false;

	foreach(lc, indexes)
	{
		Relation	index = index_open(lfirst_oid(lc), AccessShareLock);

		if (index->rd_index->indnkeyatts > 0 &&
			index->rd_index->indkey.values[0] == attnum)
			found = true;
		index_close(index, AccessShareLock);
		if (found)
			break;
	}
	list_free(indexes);
	return found;
}

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

/* name[] argument to a list of C strings (NULL elements are an error). */
static List *
name_array_to_list(ArrayType *array, const char *argument)
{
	Datum	   *elems;
	bool	   *nulls;
	int			nelems;
	List	   *result = NIL;

	if (ARR_NDIM(array) > 1)
		ereport(ERROR,
				(errcode(ERRCODE_ARRAY_SUBSCRIPT_ERROR),
				 errmsg("%s must be a one-dimensional array", argument)));
	deconstruct_array(array, NAMEOID, NAMEDATALEN, false, TYPALIGN_CHAR,
					  &elems, &nulls, &nelems);
	for (int i = 0; i < nelems; i++)
	{
		if (nulls[i])
			ereport(ERROR,
					(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
					 errmsg("%s must not contain NULL", argument)));
		result = lappend(result, pstrdup(NameStr(*DatumGetName(elems[i]))));
	}
	return result;
}

static Datum
list_to_name_array(List *names)
{
	Datum	   *elems = palloc(sizeof(Datum) * Max(list_length(names), 1));
	int			i = 0;
	ListCell   *lc;

	foreach(lc, names)
	{
		Name		n = palloc0(NAMEDATALEN);

		namestrcpy(n, lfirst(lc));
		elems[i++] = NameGetDatum(n);
	}
	return PointerGetDatum(construct_array(elems, i, NAMEOID, NAMEDATALEN,
										   false, TYPALIGN_CHAR));
}

/* ----------------------------------------------------------------
 * Target name
 * ----------------------------------------------------------------
 */

List *
redtrack_split_name(const char *name)
{
	List	   *parts = NIL;
	const char *p = name;

	for (;;)
	{
		StringInfoData part;

		initStringInfo(&part);
		while (scanner_isspace(*p))
			p++;
		if (*p == '"')
		{
			/* quoted: anything up to the closing quote, "" is a quote */
			p++;
			for (;;)
			{
				if (*p == '\0')
					return NIL;
				if (*p == '"' && p[1] == '"')
				{
					appendStringInfoChar(&part, '"');
					p += 2;
					continue;
				}
				if (*p == '"')
				{
					p++;
					break;
				}
				appendStringInfoChar(&part, *p++);
			}
			if (part.len == 0)
				return NIL;
		}
		else
		{
			/* unquoted: up to a dot or a blank, folded to lower case */
			while (*p && *p != '.' && !scanner_isspace(*p))
			{
				if (*p == '"')
					return NIL;
				appendStringInfoChar(&part, *p++);
			}
			if (part.len == 0)
				return NIL;
			part.data = downcase_identifier(part.data, part.len, false, false);
		}
		parts = lappend(parts, part.data);
		while (scanner_isspace(*p))
			p++;
		if (*p == '\0')
			return parts;
		if (*p != '.')
			return NIL;
		p++;
	}
}

/*
 * Parse a target table name in identifier syntax ("table", "schema.table",
 * "\"Odd Name\"") and return it normalized with quote_identifier, so that
 * it can be pasted into Redshift SQL as it is.
 */
static char *
normalize_target_name(const char *raw)
{
	List	   *parts;
	StringInfoData buf;
	ListCell   *lc;

	if (raw[0] == '\0')
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_NAME),
				 errmsg("target table name must not be empty")));

	parts = redtrack_split_name(raw);
	if (parts == NIL)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_NAME),
				 errmsg("invalid target table name \"%s\"", raw),
				 errhint("Use \"table\" or \"schema.table\"; double-quote names with capitals, "
						 "spaces or dots.")));
	if (list_length(parts) > 2)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_NAME),
				 errmsg("target table name \"%s\" has too many dotted parts", raw),
				 errhint("Use \"table\" or \"schema.table\"; quote a name that contains a dot.")));

	initStringInfo(&buf);
	foreach(lc, parts)
	{
		const char *part = lfirst(lc);

		if (strlen(part) > REDSHIFT_MAX_IDENTIFIER)
			ereport(ERROR,
					(errcode(ERRCODE_NAME_TOO_LONG),
					 errmsg("target name part \"%s\" is longer than Redshift's limit of %d bytes",
							part, REDSHIFT_MAX_IDENTIFIER)));
		if (buf.len > 0)
			appendStringInfoChar(&buf, '.');
		appendStringInfoString(&buf, quote_identifier(part));
	}
	return buf.data;
}

/* ----------------------------------------------------------------
 * Triggers
 * ----------------------------------------------------------------
 */

/* Make DROP EXTENSION take redtrack's triggers with it, not the tables. */
static void
tie_trigger_to_extension(Oid relid, const char *trigger_name)
{
	redtrack_tie_trigger_to_extension(relid, trigger_name);
}

static void
execute_ddl(const char *sql)
{
	int			rc = SPI_execute(sql, false, 0);

	if (rc < 0)
		elog(ERROR, "SPI_execute failed: %s", SPI_result_code_string(rc));
}

static void
create_tracking_triggers(Relation rel, List *keys)
{
	Oid			relid = RelationGetRelid(rel);
	char	   *table = quote_qualified_identifier(get_namespace_name(RelationGetNamespace(rel)),
												   RelationGetRelationName(rel));
	StringInfoData args;
	StringInfoData columns;
	StringInfoData changed;
	StringInfoData sql;
	ListCell   *lc;

	initStringInfo(&args);
	initStringInfo(&columns);
	initStringInfo(&changed);
	foreach(lc, keys)
	{
		const char *key = lfirst(lc);

		if (args.len > 0)
		{
			appendStringInfoString(&args, ", ");
			appendStringInfoString(&columns, ", ");
			appendStringInfoString(&changed, " OR ");
		}
		appendStringInfoString(&args, quote_literal_cstr(key));
		appendStringInfoString(&columns, quote_identifier(key));
		appendStringInfo(&changed, "OLD.%s IS DISTINCT FROM NEW.%s",
						 quote_identifier(key), quote_identifier(key));
	}

	initStringInfo(&sql);

	/*
	 * A bulk DELETE costs an insert per few megabytes of keys: they come
	 * from a transition table.
	 */
	appendStringInfo(&sql,
					 "CREATE TRIGGER %s AFTER DELETE ON %s "
					 "REFERENCING OLD TABLE AS redtrack_old "
					 "FOR EACH STATEMENT EXECUTE FUNCTION redtrack.track_deletes(%s)",
					 TRIGGER_DELETES, table, args.data);
	execute_ddl(sql.data);

	/*
	 * A row whose key changes leaves its old key behind on Redshift: record
	 * the old key as deleted.  Row level with a WHEN clause, so ordinary
	 * updates pay only for the comparison.
	 */
	resetStringInfo(&sql);
	appendStringInfo(&sql,
					 "CREATE TRIGGER %s AFTER UPDATE OF %s ON %s "
					 "FOR EACH ROW WHEN (%s) EXECUTE FUNCTION redtrack.track_deletes(%s)",
					 TRIGGER_KEY_CHANGES, columns.data, table, changed.data, args.data);
	execute_ddl(sql.data);

	resetStringInfo(&sql);
	appendStringInfo(&sql,
					 "CREATE TRIGGER %s AFTER TRUNCATE ON %s "
					 "FOR EACH STATEMENT EXECUTE FUNCTION redtrack.track_deletes(%s)",
					 TRIGGER_TRUNCATE, table, args.data);
	execute_ddl(sql.data);

	CommandCounterIncrement();
	tie_trigger_to_extension(relid, TRIGGER_DELETES);
	tie_trigger_to_extension(relid, TRIGGER_KEY_CHANGES);
	tie_trigger_to_extension(relid, TRIGGER_TRUNCATE);

	/*
	 * Statement-level triggers fire only for the table a statement names:
	 * each partition gets its own (later ones from an event trigger), and a
	 * partitioned table those that see rows an UPDATE moves between
	 * partitions.
	 */
	redtrack_track_partitions(relid);
}

static void
drop_tracking_triggers(Relation rel)
{
	const char *names[] = {
		TRIGGER_DELETES, TRIGGER_KEY_CHANGES, TRIGGER_TRUNCATE,
		REDTRACK_TRIGGER_MOVES_BEGIN, REDTRACK_TRIGGER_MOVES_END,
		REDTRACK_TRIGGER_MOVED_ROWS
	};
	char	   *table = quote_qualified_identifier(get_namespace_name(RelationGetNamespace(rel)),
												   RelationGetRelationName(rel));

	redtrack_untrack_partitions(RelationGetRelid(rel));
	for (int i = 0; i < lengthof(names); i++)
	{
		if (!OidIsValid(get_trigger_oid(RelationGetRelid(rel), names[i], true)))
			continue;
		execute_ddl(psprintf("DROP TRIGGER %s ON %s", names[i], table));
	}
}

/* ----------------------------------------------------------------
 * rrr_register
 * ----------------------------------------------------------------
 */

static void
check_source_relation(Relation rel)
{
	const char *name = RelationGetRelationName(rel);
	char		relkind = rel->rd_rel->relkind;

	if (relkind != RELKIND_RELATION && relkind != RELKIND_PARTITIONED_TABLE)
	{
		const char *what;

		switch (relkind)
		{
			case RELKIND_VIEW:
				what = "a view";
				break;
			case RELKIND_MATVIEW:
				what = "a materialized view";
				break;
			case RELKIND_FOREIGN_TABLE:
				what = "a foreign table";
				break;
			case RELKIND_SEQUENCE:
				what = "a sequence";
				break;
			case RELKIND_INDEX:
			case RELKIND_PARTITIONED_INDEX:
				what = "an index";
				break;
			default:
				what = "not a table";
				break;
		}
		ereport(ERROR,
				(errcode(ERRCODE_WRONG_OBJECT_TYPE),
				 errmsg("cannot register \"%s\": it is %s", name, what),
				 errhint("Only ordinary and partitioned tables can be replicated.")));
	}
	if (rel->rd_rel->relpersistence == RELPERSISTENCE_TEMP)
		ereport(ERROR,
				(errcode(ERRCODE_WRONG_OBJECT_TYPE),
				 errmsg("cannot register temporary table \"%s\"", name),
				 errdetail("A temporary table is invisible to the replication worker.")));
	if (IsCatalogNamespace(RelationGetNamespace(rel)) ||
		RelationGetNamespace(rel) == redtrack_schema_oid())
		ereport(ERROR,
				(errcode(ERRCODE_WRONG_OBJECT_TYPE),
				 errmsg("cannot register \"%s\": system and redtrack tables are not replicated",
						name)));
}

/*
 * Whether redtrack.replicables has a column: a new library runs against
 * an older schema between a package upgrade and ALTER EXTENSION UPDATE.
 */
static bool
replicables_has_column(const char *column)
{
	Oid			relid = get_relname_relid("replicables", redtrack_schema_oid());

	return OidIsValid(relid) && get_attnum(relid, column) != InvalidAttrNumber;
}

static bool
is_registered(Oid relid)
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

/*
 * A target as Redshift resolves it: an unqualified name lands in the
 * default schema "public", and Redshift folds identifiers to lower case,
 * quoted ones too (unless enable_case_sensitive_identifier is on, which
 * redtrack does not assume).  Two registrations whose targets have the
 * same identity would load one table, and a full load of one would wipe
 * the other's rows.  Folding more than Redshift does (non-ASCII letters)
 * can only refuse a registration, never merge two tables.
 */
char *
redtrack_target_identity(const char *target)
{
	List	   *parts = redtrack_split_name(target);
	const char *schema = list_length(parts) == 2 ? linitial(parts) : "public";
	const char *name = llast(parts);

	if (parts == NIL)
		return pstrdup(target);
	return psprintf("%s.%s",
					str_tolower(schema, strlen(schema), DEFAULT_COLLATION_OID),
					str_tolower(name, strlen(name), DEFAULT_COLLATION_OID));
}

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

/*
 * Row-level security that would hide rows from the role reading the
 * source.  redtrack refuses such tables rather than replicate a filtered
 * view of them: a warehouse that silently holds a subset (or, read with
 * more rights, a superset) of what the registering role may see is wrong
 * either way.
 */
static void
refuse_row_level_security(Oid relid, Oid reader, const char *relname)
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
static void
check_table_privileges(Oid relid, Oid roleid, bool track_deletes)
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

Datum
rrr_register(PG_FUNCTION_ARGS)
{
	Oid			relid;
	Relation	rel;
	char	   *strategy_name;
	ReplicationStrategy strategy;
	char	   *target;
	char	   *field = NULL;
	bool		track_deletes;
	List	   *keys = NIL;
	Interval   *every = NULL;
	char	   *distkey = NULL;
	List	   *sortkey = NIL;
	bool		evolve;
	OwnerScope	scope;
	Oid			other;
	bool		key_from_primary_key = false;
	char	   *registrant;
	ListCell   *lc;

	redtrack_require_admin("register a table");

	if (PG_ARGISNULL(0))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("source table must not be NULL")));
	if (PG_ARGISNULL(1))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("strategy must not be NULL"),
				 errhint("The strategy is one of \"timed\", \"identity\" or \"full\".")));
	relid = PG_GETARG_OID(0);
	strategy_name = text_to_cstring(PG_GETARG_TEXT_PP(1));
	strategy = parse_strategy(strategy_name, false);
	track_deletes = PG_ARGISNULL(4) ? false : PG_GETARG_BOOL(4);
	evolve = PG_ARGISNULL(9) ? false : PG_GETARG_BOOL(9);

	/*
	 * Privileges first: a role without them must not even queue for the
	 * lock (and so block the table's writers while it waits).
	 */
	check_table_privileges(relid, GetUserId(), track_deletes);

	/*
	 * The same lock CREATE TRIGGER takes: no concurrent DDL or second
	 * registration can slip between the checks and the writes.
	 */
	rel = table_open(relid, ShareRowExclusiveLock);
	check_source_relation(rel);
	refuse_row_level_security(relid, GetUserId(), RelationGetRelationName(rel));

	SPI_connect();
	if (is_registered(relid))
		ereport(ERROR,
				(errcode(ERRCODE_DUPLICATE_OBJECT),
				 errmsg("table \"%s\" is already registered", RelationGetRelationName(rel)),
				 errhint("Call rrr_unregister('%s') first to register it differently.",
						 redtrack_relation_display_name(relid))));

	/* Again under the lock: a GRANT may have been revoked meanwhile. */
	check_table_privileges(relid, GetUserId(), track_deletes);

	/* Replication field. */
	if (strategy == STRATEGY_FULL || strategy == STRATEGY_CDC)	/* cdc: issue 13 */
	{
		if (!PG_ARGISNULL(3) && strategy == STRATEGY_CDC)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("strategy \"cdc\" takes no replication field"),
					 errdetail("Every change is read from the write-ahead log.")));
		if (!PG_ARGISNULL(3))
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("strategy \"full\" takes no replication field"),
					 errdetail("A full replication replaces the whole target table on every run.")));
	}
	else
	{
		AttrNumber	attnum;
		Oid			typid;

		field = PG_ARGISNULL(3) ? (strategy == STRATEGY_TIMED ? "updated_at" : "id")
			: pstrdup(NameStr(*PG_GETARG_NAME(3)));
		attnum = user_column(rel, field, "replication field", "replication_field");
		typid = column_base_type(rel, attnum);
		if (strategy == STRATEGY_TIMED && !is_time_type(typid) && !is_integer_type(typid))
			ereport(ERROR,
					(errcode(ERRCODE_DATATYPE_MISMATCH),
					 errmsg("replication field \"%s\" of table \"%s\" has type %s",
							field, RelationGetRelationName(rel), format_type_be(typid)),
					 errdetail("A timed replication field must be a date, timestamp, timestamptz or integer column."),
					 errhint("Pass replication_field => 'col' naming a column stamped on every change.")));
		if (strategy == STRATEGY_IDENTITY && !is_integer_type(typid))
			ereport(ERROR,
					(errcode(ERRCODE_DATATYPE_MISMATCH),
					 errmsg("replication field \"%s\" of table \"%s\" has type %s",
							field, RelationGetRelationName(rel), format_type_be(typid)),
					 errdetail("An identity replication field must be a smallint, integer or bigint column."),
					 errhint("Pass replication_field => 'col' naming a growing integer column.")));
		if (!column_is_not_null(rel, attnum))
			ereport(WARNING,
					(errmsg("rows of \"%s\" whose \"%s\" is NULL will never be replicated",
							RelationGetRelationName(rel), field),
					 errhint("Add a NOT NULL constraint to the column.")));
		if (!column_is_indexed(rel, attnum))
			ereport(NOTICE,
					(errmsg("no index on \"%s\" of \"%s\": every replication will scan the whole table",
							field, RelationGetRelationName(rel)),
					 errhint("CREATE INDEX ON %s (%s);",
							 quote_identifier(RelationGetRelationName(rel)),
							 quote_identifier(field))));
	}

	/* Keys: given, else the primary key. */
	if (!PG_ARGISNULL(5))
	{
		keys = name_array_to_list(PG_GETARG_ARRAYTYPE_P(5), "key_columns");
		if (keys == NIL)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("key_columns must name at least one column"),
					 errhint("Pass NULL to use the primary key.")));
	}
	else
	{
		keys = redtrack_primary_key_columns(rel);
		key_from_primary_key = (keys != NIL);
	}

	foreach(lc, keys)
	{
		const char *key = lfirst(lc);
		AttrNumber	attnum = user_column(rel, key, "key column", NULL);
		ListCell   *lc2;

		for_each_cell(lc2, keys, lnext(keys, lc))
		{
			if (strcmp(key, lfirst(lc2)) == 0)
				ereport(ERROR,
						(errcode(ERRCODE_DUPLICATE_COLUMN),
						 errmsg("key column \"%s\" is named twice", key)));
		}
		if (!column_is_not_null(rel, attnum))
			ereport(ERROR,
					(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
					 errmsg("key column \"%s\" of table \"%s\" can be NULL",
							key, RelationGetRelationName(rel)),
					 errdetail("Rows are matched on Redshift by their key; a NULL key matches nothing."),
					 errhint("ALTER TABLE %s ALTER COLUMN %s SET NOT NULL;",
							 quote_identifier(RelationGetRelationName(rel)),
							 quote_identifier(key))));
	}

	if (keys == NIL && strategy == STRATEGY_TIMED)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("table \"%s\" has no key for a timed replication",
						RelationGetRelationName(rel)),
				 errdetail("A timed replication replaces changed rows on Redshift by their key."),
				 errhint("Add a primary key, or pass key_columns => ARRAY['col'].")));
	if (keys == NIL && track_deletes)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("cannot track deletes of table \"%s\": it has no key",
						RelationGetRelationName(rel)),
				 errhint("Add a primary key, or pass key_columns => ARRAY['col'].")));
	if (keys == NIL && strategy == STRATEGY_IDENTITY)
		keys = list_make1(field);
	/* cdc (issue 13): wal_level, a key the WAL carries, no trigger. */
	if (strategy == STRATEGY_CDC)
		cdc_check_registration(relid, keys, track_deletes);

	/* Schedule and Redshift table options. */
	if (!PG_ARGISNULL(6))
	{
		every = PG_GETARG_INTERVAL_P(6);
#if PG_VERSION_NUM >= 170000
		/* 17 has infinite intervals; a table due "never" is not a schedule */
		if (INTERVAL_NOT_FINITE(every))
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("every must be a finite interval"),
					 errhint("Unregister the table, or call rrr_replicate() on demand.")));
#endif
		if (every->month < 0 || every->day < 0 || every->time < 0 ||
			(every->month == 0 && every->day == 0 && every->time == 0))
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("every must be a positive interval")));
	}
	if (!PG_ARGISNULL(7))
	{
		distkey = pstrdup(NameStr(*PG_GETARG_NAME(7)));
		(void) user_column(rel, distkey, "distribution key", "distkey");
	}
	if (!PG_ARGISNULL(8))
	{
		sortkey = name_array_to_list(PG_GETARG_ARRAYTYPE_P(8), "sortkey");
		foreach(lc, sortkey)
			(void) user_column(rel, lfirst(lc), "sort key column", "sortkey");
	}

	target = normalize_target_name(PG_ARGISNULL(2)
								   ? quote_identifier(RelationGetRelationName(rel))
								   : text_to_cstring(PG_GETARG_TEXT_PP(2)));

	registrant = GetUserNameFromId(GetUserId(), false);
	redtrack_enter_owner_scope(&scope);

	if (redtrack_target_is_taken(target, relid, &other))
		ereport(ERROR,
				(errcode(ERRCODE_DUPLICATE_OBJECT),
				 errmsg("target table %s is already the target of \"%s\"",
						target, redtrack_relation_display_name(other)),
				 errdetail("Redshift folds names to lower case and puts unqualified names in schema \"public\": both name table %s.",
						   redtrack_target_identity(target)),
				 errhint("Pass target_table => 'other_name' to rrr_register.")));

	{
		Oid			argtypes[12] = {REGCLASSOID, TEXTOID, TEXTOID, NAMEOID, BOOLOID,
		NAMEARRAYOID, INTERVALOID, NAMEOID, NAMEARRAYOID, BOOLOID, NAMEOID, BOOLOID};
		Datum		values[12];
		char		nulls[12];
		int			rc;

		/* With a 0.4 schema the keys' origin is not recorded (nor checked). */
		bool		with_origin = replicables_has_column("key_from_primary_key");

		memset(nulls, ' ', sizeof(nulls));
		values[0] = ObjectIdGetDatum(relid);
		values[1] = CStringGetTextDatum(redtrack_strategy_name(strategy));
		values[2] = CStringGetTextDatum(target);
		if (field)
		{
			Name		n = palloc0(NAMEDATALEN);

			namestrcpy(n, field);
			values[3] = NameGetDatum(n);
		}
		else
			nulls[3] = 'n';
		values[4] = BoolGetDatum(track_deletes);
		if (keys != NIL)
			values[5] = list_to_name_array(keys);
		else
			nulls[5] = 'n';
		if (every)
			values[6] = IntervalPGetDatum(every);
		else
			nulls[6] = 'n';
		if (distkey)
		{
			Name		n = palloc0(NAMEDATALEN);

			namestrcpy(n, distkey);
			values[7] = NameGetDatum(n);
		}
		else
			nulls[7] = 'n';
		if (sortkey != NIL)
			values[8] = list_to_name_array(sortkey);
		else
			nulls[8] = 'n';
		values[9] = BoolGetDatum(evolve);
		values[10] = DirectFunctionCall1(namein, CStringGetDatum(registrant));
		values[11] = BoolGetDatum(key_from_primary_key);

		rc = SPI_execute_with_args(psprintf("INSERT INTO redtrack.replicables "
											"(source, strategy, target_table, replication_field, "
											" track_deletes, key_columns, every, distkey, sortkey, "
											" evolve, registered_by%s) "
											"VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11%s)",
											with_origin ? ", key_from_primary_key" : "",
											with_origin ? ", $12" : ""),
								   with_origin ? 12 : 11, argtypes, values, nulls, false, 0);
		if (rc != SPI_OK_INSERT)
			elog(ERROR, "SPI_execute_with_args failed: %s", SPI_result_code_string(rc));
	}

	if (track_deletes)
		create_tracking_triggers(rel, keys);

	redtrack_leave_owner_scope(&scope);
	SPI_finish();

	table_close(rel, NoLock);
	PG_RETURN_VOID();
}

/* ----------------------------------------------------------------
 * rrr_unregister
 * ----------------------------------------------------------------
 */

Datum
rrr_unregister(PG_FUNCTION_ARGS)
{
	Oid			relid;
	Relation	rel;
	OwnerScope	scope;
	Datum		arg;
	Oid			argtype = REGCLASSOID;
	int			rc;
	Replicable *registration;

	redtrack_require_admin("unregister a table");
	if (PG_ARGISNULL(0))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("source table must not be NULL")));
	relid = PG_GETARG_OID(0);
	arg = ObjectIdGetDatum(relid);

	/*
	 * The rule that registering follows, checked before any lock: dropping
	 * a table's triggers and its pending deletes takes the rights that
	 * installing them took.
	 */
	registration = redtrack_load_replicable(relid, true);
	check_table_privileges(relid, GetUserId(), registration && registration->track_deletes);

	rel = table_open(relid, ShareRowExclusiveLock);

	SPI_connect();
	redtrack_enter_owner_scope(&scope);

	if (!is_registered(relid))
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("table \"%s\" is not registered", RelationGetRelationName(rel)),
				 errhint("SELECT source FROM redtrack.replicables lists the registered tables.")));

	rc = SPI_execute_with_args("SELECT pg_catalog.count(*), pg_catalog.sum(nkeys) "
							   "FROM redtrack.deleted_records "
							   "WHERE source OPERATOR(pg_catalog.=) $1",
							   1, &argtype, &arg, NULL, true, 0);
	if (rc == SPI_OK_SELECT && SPI_processed == 1)
	{
		bool		isnull;
		int64		records = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0],
														  SPI_tuptable->tupdesc, 1, &isnull));

		if (records > 0)
			ereport(NOTICE,
					(errmsg("discarding %lld delete records of \"%s\" not yet replicated",
							(long long) records, RelationGetRelationName(rel))));
	}

	drop_tracking_triggers(rel);

	/* History and pending deletes go with it (ON DELETE CASCADE). */
	rc = SPI_execute_with_args("DELETE FROM redtrack.replicables WHERE source OPERATOR(pg_catalog.=) $1",
							   1, &argtype, &arg, NULL, false, 0);
	if (rc != SPI_OK_DELETE)
		elog(ERROR, "SPI_execute_with_args failed: %s", SPI_result_code_string(rc));

	/* cdc (issue 13): the last cdc table takes the slot with it. */
	if (registration && registration->strategy == STRATEGY_CDC)
		cdc_drop_slot_if_unused(true);

	redtrack_leave_owner_scope(&scope);
	SPI_finish();

	table_close(rel, NoLock);
	PG_RETURN_VOID();
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
	r->strategy = parse_strategy(TextDatumGetCString(SPI_getbinval(tuple, desc, 2, &isnull)), true);
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
	r->key_columns = isnull ? NIL : name_array_to_list(DatumGetArrayTypeP(d), "key_columns");
	d = SPI_getbinval(tuple, desc, 7, &isnull);
	r->distkey = isnull ? NULL : pstrdup(NameStr(*DatumGetName(d)));
	d = SPI_getbinval(tuple, desc, 8, &isnull);
	r->sortkey = isnull ? NIL : name_array_to_list(DatumGetArrayTypeP(d), "sortkey");
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
					replicables_has_column("key_from_primary_key")
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

	if (r->strategy == STRATEGY_QUEUE)
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

static char *
column_list_text(List *names)
{
	StringInfoData buf;
	ListCell   *lc;

	initStringInfo(&buf);
	foreach(lc, names)
	{
		if (buf.len > 0)
			appendStringInfoString(&buf, ", ");
		appendStringInfoString(&buf, quote_identifier(lfirst(lc)));
	}
	return buf.data;
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

	if (r->strategy != STRATEGY_QUEUE)
	{
		check_table_privileges(r->relid, reader, false);
		refuse_row_level_security(r->relid, reader, RelationGetRelationName(rel));
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
						r->source_name, column_list_text(r->key_columns),
						primary_key ? column_list_text(primary_key) : "none"),
				 errdetail("Rows are matched on the target by the key they were registered with; "
						   "under another key, rows would be merged or left behind."),
				 errhint("Unregister the table, drop its target on Redshift, and register it again: "
						 "the first run then loads every row under the new key.")));
	relation_close(rel, AccessShareLock);
}
