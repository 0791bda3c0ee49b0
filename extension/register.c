/*-------------------------------------------------------------------------
 *
 * register.c
 *	  rrr_register and rrr_unregister: validate a table for replication,
 *	  record it, and install or remove its delete-tracking triggers.
 *
 * Everything is checked before anything is written, and what is written
 * (the registration row and the triggers) is written in the caller's
 * transaction, so a failed registration leaves nothing behind.
 * Identifiers only ever reach SQL text through quote_identifier; values
 * only as parameters.  The checks that every run makes again live with
 * the registrations in worker/catalog/registry.c.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "access/genam.h"
#include "access/relation.h"
#include "access/table.h"
#include "catalog/catalog.h"
#include "catalog/pg_type.h"
#include "commands/trigger.h"
#include "datatype/timestamp.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "lib/stringinfo.h"
#include "miscadmin.h"
#include "utils/acl.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"
#include "utils/rel.h"
#include "utils/timestamp.h"

#include "array_list.h"
#include "delete_tracking.h"
#include "field_type.h"
#include "ownership.h"
#include "registry.h"
#include "state.h"
#include "strategy.h"
#include "target_name.h"

PG_FUNCTION_INFO_V1(rrr_register);
PG_FUNCTION_INFO_V1(rrr_unregister);

/* rrr_register's arguments, checked. */
typedef struct Registration
{
	ReplicationStrategy strategy;
	char	   *target;
	char	   *field;			/* NULL for full */
	bool		track_deletes;
	List	   *keys;			/* of char * */
	bool		key_from_primary_key;
	Interval   *every;			/* NULL: on demand only */
	char	   *distkey;
	List	   *sortkey;
	bool		evolve;
} Registration;

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

/* ----------------------------------------------------------------
 * Triggers
 * ----------------------------------------------------------------
 */

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
					 REDTRACK_TRIGGER_DELETES, table, args.data);
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
					 REDTRACK_TRIGGER_KEY_CHANGES, columns.data, table, changed.data, args.data);
	execute_ddl(sql.data);

	resetStringInfo(&sql);
	appendStringInfo(&sql,
					 "CREATE TRIGGER %s AFTER TRUNCATE ON %s "
					 "FOR EACH STATEMENT EXECUTE FUNCTION redtrack.track_deletes(%s)",
					 REDTRACK_TRIGGER_TRUNCATE, table, args.data);
	execute_ddl(sql.data);

	/* Make DROP EXTENSION take redtrack's triggers with it, not the tables. */
	CommandCounterIncrement();
	redtrack_tie_trigger_to_extension(relid, REDTRACK_TRIGGER_DELETES);
	redtrack_tie_trigger_to_extension(relid, REDTRACK_TRIGGER_KEY_CHANGES);
	redtrack_tie_trigger_to_extension(relid, REDTRACK_TRIGGER_TRUNCATE);

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
		REDTRACK_TRIGGER_DELETES, REDTRACK_TRIGGER_KEY_CHANGES, REDTRACK_TRIGGER_TRUNCATE,
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


/* The replication field (NULL for full), checked against the strategy. */
static char *
check_replication_field(Relation rel, ReplicationStrategy strategy, Name given)
{
	char	   *field;
	AttrNumber	attnum;
	Oid			typid;

	const Strategy *s = strategy_for(strategy);

	if (s->field == STRATEGY_FIELD_NONE)
	{
		if (given != NULL)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("strategy \"%s\" takes no replication field", s->name),
					 errdetail("%s", s->no_field_detail)));
		return NULL;
	}

	field = given == NULL ? pstrdup(s->default_field) : pstrdup(NameStr(*given));
	attnum = user_column(rel, field, "replication field", "replication_field");
	typid = column_base_type(rel, attnum);
	if (s->field == STRATEGY_FIELD_TIME_OR_INTEGER && !redtrack_is_time_type(typid) &&
		!redtrack_is_integer_type(typid))
		ereport(ERROR,
				(errcode(ERRCODE_DATATYPE_MISMATCH),
				 errmsg("replication field \"%s\" of table \"%s\" has type %s",
						field, RelationGetRelationName(rel), format_type_be(typid)),
				 errdetail("A timed replication field must be a date, timestamp, timestamptz or integer column."),
				 errhint("Pass replication_field => 'col' naming a column stamped on every change.")));
	if (s->field == STRATEGY_FIELD_INTEGER && !redtrack_is_integer_type(typid))
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
	return field;
}

/* Each key a NOT NULL user column, named once. */
static void
check_key_columns(Relation rel, List *keys)
{
	ListCell   *lc;

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
}

/* Keys: given (key_columns, may be NULL), else the primary key. */
static void
choose_keys(Relation rel, ArrayType *given, Registration *reg)
{
	if (given != NULL)
	{
		reg->keys = redtrack_name_array_to_list(given, "key_columns");
		if (reg->keys == NIL)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("key_columns must name at least one column"),
					 errhint("Pass NULL to use the primary key.")));
	}
	else
	{
		reg->keys = redtrack_primary_key_columns(rel);
		reg->key_from_primary_key = (reg->keys != NIL);
	}
	check_key_columns(rel, reg->keys);

	if (reg->keys == NIL && strategy_for(reg->strategy)->needs_key)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("table \"%s\" has no key for a %s replication",
						RelationGetRelationName(rel), strategy_for(reg->strategy)->name),
				 errdetail("A %s replication replaces changed rows on Redshift by their key.",
						   strategy_for(reg->strategy)->name),
				 errhint("Add a primary key, or pass key_columns => ARRAY['col'].")));
	if (reg->keys == NIL && reg->track_deletes)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("cannot track deletes of table \"%s\": it has no key",
						RelationGetRelationName(rel)),
				 errhint("Add a primary key, or pass key_columns => ARRAY['col'].")));
	if (reg->keys == NIL && strategy_for(reg->strategy)->field_is_default_key)
		reg->keys = list_make1(reg->field);
	if (strategy_for(reg->strategy)->check_registration)
		strategy_for(reg->strategy)->check_registration(RelationGetRelid(rel), reg->keys,
														 reg->track_deletes);
}

/* every => a positive, finite interval. */
static void
check_schedule(Interval *every)
{
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

/*
 * The arguments after the lock is held: field, keys, schedule, Redshift
 * table options and the target name.
 */
static void
read_registration(FunctionCallInfo fcinfo, Relation rel, Registration *reg)
{
	ListCell   *lc;

	reg->field = check_replication_field(rel, reg->strategy,
										 PG_ARGISNULL(3) ? NULL : PG_GETARG_NAME(3));
	choose_keys(rel, PG_ARGISNULL(5) ? NULL : PG_GETARG_ARRAYTYPE_P(5), reg);

	/* Schedule and Redshift table options. */
	if (!PG_ARGISNULL(6))
	{
		reg->every = PG_GETARG_INTERVAL_P(6);
		check_schedule(reg->every);
	}
	if (!PG_ARGISNULL(7))
	{
		reg->distkey = pstrdup(NameStr(*PG_GETARG_NAME(7)));
		(void) user_column(rel, reg->distkey, "distribution key", "distkey");
	}
	if (!PG_ARGISNULL(8))
	{
		reg->sortkey = redtrack_name_array_to_list(PG_GETARG_ARRAYTYPE_P(8), "sortkey");
		foreach(lc, reg->sortkey)
			(void) user_column(rel, lfirst(lc), "sort key column", "sortkey");
	}

	reg->target = redtrack_normalize_target(PG_ARGISNULL(2)
											? quote_identifier(RelationGetRelationName(rel))
											: text_to_cstring(PG_GETARG_TEXT_PP(2)));
}

static Datum
name_datum(const char *name)
{
	Name		n = palloc0(NAMEDATALEN);

	namestrcpy(n, name);
	return NameGetDatum(n);
}

/* The registration row (the caller is connected to SPI, as the owner). */
static void
insert_registration(Oid relid, Registration *reg, const char *registrant)
{
	Oid			argtypes[12] = {REGCLASSOID, TEXTOID, TEXTOID, NAMEOID, BOOLOID,
	NAMEARRAYOID, INTERVALOID, NAMEOID, NAMEARRAYOID, BOOLOID, NAMEOID, BOOLOID};
	Datum		values[12];
	char		nulls[12];
	int			rc;

	/* With a 0.4 schema the keys' origin is not recorded (nor checked). */
	bool		with_origin = redtrack_replicables_has_column("key_from_primary_key");

	memset(nulls, ' ', sizeof(nulls));
	memset(values, 0, sizeof(values));
	values[0] = ObjectIdGetDatum(relid);
	values[1] = CStringGetTextDatum(redtrack_strategy_name(reg->strategy));
	values[2] = CStringGetTextDatum(reg->target);
	if (reg->field)
		values[3] = name_datum(reg->field);
	else
		nulls[3] = 'n';
	values[4] = BoolGetDatum(reg->track_deletes);
	if (reg->keys != NIL)
		values[5] = redtrack_list_to_name_array(reg->keys);
	else
		nulls[5] = 'n';
	if (reg->every)
		values[6] = IntervalPGetDatum(reg->every);
	else
		nulls[6] = 'n';
	if (reg->distkey)
		values[7] = name_datum(reg->distkey);
	else
		nulls[7] = 'n';
	if (reg->sortkey != NIL)
		values[8] = redtrack_list_to_name_array(reg->sortkey);
	else
		nulls[8] = 'n';
	values[9] = BoolGetDatum(reg->evolve);
	values[10] = DirectFunctionCall1(namein, CStringGetDatum(registrant));
	values[11] = BoolGetDatum(reg->key_from_primary_key);

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

Datum
rrr_register(PG_FUNCTION_ARGS)
{
	Oid			relid;
	Relation	rel;
	Registration reg;
	OwnerScope	scope;
	Oid			other;
	char	   *registrant;

	redtrack_require_admin("register a table");

	if (PG_ARGISNULL(0))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("source table must not be NULL")));
	if (PG_ARGISNULL(1))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("strategy must not be NULL"),
				 errhint("%s", redtrack_strategy_hint())));
	memset(&reg, 0, sizeof(reg));
	relid = PG_GETARG_OID(0);
	reg.strategy = redtrack_parse_strategy(text_to_cstring(PG_GETARG_TEXT_PP(1)), false);
	reg.track_deletes = PG_ARGISNULL(4) ? false : PG_GETARG_BOOL(4);
	reg.evolve = PG_ARGISNULL(9) ? false : PG_GETARG_BOOL(9);

	/*
	 * Privileges first: a role without them must not even queue for the
	 * lock (and so block the table's writers while it waits).
	 */
	redtrack_check_table_privileges(relid, GetUserId(), reg.track_deletes);

	/*
	 * The same lock CREATE TRIGGER takes: no concurrent DDL or second
	 * registration can slip between the checks and the writes.
	 */
	rel = table_open(relid, ShareRowExclusiveLock);
	check_source_relation(rel);
	redtrack_refuse_row_level_security(relid, GetUserId(), RelationGetRelationName(rel));

	SPI_connect();
	if (redtrack_is_registered(relid))
		ereport(ERROR,
				(errcode(ERRCODE_DUPLICATE_OBJECT),
				 errmsg("table \"%s\" is already registered", RelationGetRelationName(rel)),
				 errhint("Call rrr_unregister('%s') first to register it differently.",
						 redtrack_relation_display_name(relid))));

	/* Again under the lock: a GRANT may have been revoked meanwhile. */
	redtrack_check_table_privileges(relid, GetUserId(), reg.track_deletes);

	read_registration(fcinfo, rel, &reg);

	registrant = GetUserNameFromId(GetUserId(), false);
	redtrack_enter_owner_scope(&scope);

	if (redtrack_target_is_taken(reg.target, relid, &other))
		ereport(ERROR,
				(errcode(ERRCODE_DUPLICATE_OBJECT),
				 errmsg("target table %s is already the target of \"%s\"",
						reg.target, redtrack_relation_display_name(other)),
				 errdetail("Redshift folds names to lower case and puts unqualified names in schema \"public\": both name table %s.",
						   redtrack_target_identity(reg.target)),
				 errhint("Pass target_table => 'other_name' to rrr_register.")));

	insert_registration(relid, &reg, registrant);
	if (reg.track_deletes)
		create_tracking_triggers(rel, reg.keys);

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
	Replicable *registration;

	redtrack_require_admin("unregister a table");
	if (PG_ARGISNULL(0))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("source table must not be NULL")));
	relid = PG_GETARG_OID(0);

	/*
	 * The rule that registering follows, checked before any lock: dropping
	 * a table's triggers and its pending deletes takes the rights that
	 * installing them took.
	 */
	registration = redtrack_load_replicable(relid, true);
	redtrack_check_table_privileges(relid, GetUserId(), registration && registration->track_deletes);

	rel = table_open(relid, ShareRowExclusiveLock);

	SPI_connect();
	redtrack_enter_owner_scope(&scope);

	if (!redtrack_is_registered(relid))
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("table \"%s\" is not registered", RelationGetRelationName(rel)),
				 errhint("SELECT source FROM redtrack.replicables lists the registered tables.")));

	{
		int64		records = state_pending_delete_records(relid);

		if (records > 0)
			ereport(NOTICE,
					(errmsg("discarding %lld delete records of \"%s\" not yet replicated",
							(long long) records, RelationGetRelationName(rel))));
	}

	drop_tracking_triggers(rel);

	state_delete_registration(relid);
	if (registration && strategy_of(registration)->after_unregister)
		strategy_of(registration)->after_unregister();

	redtrack_leave_owner_scope(&scope);
	SPI_finish();

	table_close(rel, NoLock);
	PG_RETURN_VOID();
}
