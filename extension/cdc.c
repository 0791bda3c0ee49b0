/*-------------------------------------------------------------------------
 *
 * cdc.c
 *	  The SQL-facing half of the cdc strategy: its settings, the checks
 *	  rrr_register makes for 'cdc', and dropping the database's slot when
 *	  the last cdc table is unregistered or the extension is dropped.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/genam.h"
#include "access/table.h"
#include "access/xlog.h"
#include "catalog/pg_class.h"
#include "catalog/pg_index.h"
#include "commands/event_trigger.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "miscadmin.h"
#include "nodes/parsenodes.h"
#include "replication/slot.h"
#include "storage/spin.h"
#include "utils/builtins.h"
#include "utils/varlena.h"
#include "utils/guc.h"
#include "utils/lsyscache.h"
#include "utils/rel.h"
#include "utils/relcache.h"
#include "utils/syscache.h"

#include "cdc.h"

int			redtrack_cdc_max_retained_wal = 1024;
char	   *redtrack_cdc_fault = NULL;

void
redtrack_cdc_define_gucs(void)
{
	DefineCustomIntVariable("redtrack.cdc_max_retained_wal",
							"WAL the cdc slot may retain before each run warns.",
							"0 turns the warning off.",
							&redtrack_cdc_max_retained_wal,
							1024, 0, INT_MAX, PGC_SIGHUP, GUC_UNIT_MB,
							NULL, NULL, NULL);
	DefineCustomStringVariable("redtrack.cdc_fault",
							   "Test hook: where a cdc run kills its own process.",
							   "kill_after_commit: between the warehouse's COMMIT and the slot's advance; "
							   "kill_while_decoding: after 50 decoded changes.",
							   &redtrack_cdc_fault,
							   "", PGC_SUSET, GUC_NO_SHOW_ALL | GUC_NOT_IN_SAMPLE,
							   NULL, NULL, NULL);
}

char *
cdc_slot_name(void)
{
	return psprintf("redtrack_%u", MyDatabaseId);
}

/* ----------------------------------------------------------------
 * Registration
 * ----------------------------------------------------------------
 */

static bool
name_in(List *names, const char *name)
{
	ListCell   *lc;

	foreach(lc, names)
	{
		if (strcmp(lfirst(lc), name) == 0)
			return true;
	}
	return false;
}

void
cdc_check_registration(Oid relid, List *keys, bool track_deletes)
{
	Relation	rel;
	char		identity;
	const char *relname;

	if (wal_level < WAL_LEVEL_LOGICAL)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("strategy \"cdc\" needs wal_level = logical"),
				 errdetail("The server runs with wal_level = %s: its write-ahead log cannot be decoded.",
						   GetConfigOption("wal_level", false, false)),
				 errhint("Set wal_level = logical (and max_replication_slots to at least 1) in postgresql.conf "
						 "and restart the server.")));
	if (max_replication_slots < 1)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("strategy \"cdc\" needs a replication slot, and max_replication_slots is 0"),
				 errhint("Set max_replication_slots to at least 1 in postgresql.conf and restart the server.")));
	{
		/*
		 * PostgreSQL minors since 15.19 load only the output plugins that
		 * output_plugin_libraries names (older ones have no such setting).
		 */
		const char *allowed = GetConfigOption("output_plugin_libraries", true, false);

		if (allowed != NULL)
		{
			char	   *copy = pstrdup(allowed);
			List	   *names = NIL;

			if (!SplitDirectoriesString(copy, ',', &names) || !name_in(names, CDC_PLUGIN))
				ereport(ERROR,
						(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
						 errmsg("strategy \"cdc\" needs \"%s\" in output_plugin_libraries", CDC_PLUGIN),
						 errdetail("redtrack decodes its replication slot itself, and the server loads only the "
								   "output plugins output_plugin_libraries (currently '%s') names.", allowed),
						 errhint("Add %s to output_plugin_libraries in postgresql.conf and reload the configuration.",
								 CDC_PLUGIN)));
		}
	}
	if (track_deletes)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("strategy \"cdc\" takes no track_deletes"),
				 errdetail("Deletes are read from the write-ahead log; no trigger is installed.")));

	rel = table_open(relid, AccessShareLock);
	relname = RelationGetRelationName(rel);
	if (rel->rd_rel->relkind != RELKIND_RELATION)
		ereport(ERROR,
				(errcode(ERRCODE_WRONG_OBJECT_TYPE),
				 errmsg("strategy \"cdc\" replicates ordinary tables only; \"%s\" is partitioned", relname),
				 errhint("Register its partitions, or use strategy \"timed\".")));
	if (keys == NIL)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("table \"%s\" has no key for a cdc replication", relname),
				 errdetail("Changes are applied on the warehouse by key."),
				 errhint("Add a primary key, or set REPLICA IDENTITY FULL and pass key_columns => ARRAY['col'].")));

	/*
	 * A delete carries in the WAL only the replica identity's columns: the
	 * keys must be among them.
	 */
	identity = rel->rd_rel->relreplident;
	if (identity == REPLICA_IDENTITY_NOTHING)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("table \"%s\" has REPLICA IDENTITY NOTHING: its deletes carry no key", relname),
				 errhint("ALTER TABLE %s REPLICA IDENTITY DEFAULT (with a primary key) or FULL.",
						 quote_identifier(relname))));
	if (identity != REPLICA_IDENTITY_FULL)
	{
		Oid			index = RelationGetReplicaIndex(rel);
		List	   *index_columns = NIL;
		ListCell   *lc;

		if (OidIsValid(index))
		{
			Relation	irel = index_open(index, AccessShareLock);

			for (int i = 0; i < irel->rd_index->indnkeyatts; i++)
			{
				AttrNumber	attnum = irel->rd_index->indkey.values[i];

				if (attnum > 0)
					index_columns = lappend(index_columns, get_attname(relid, attnum, false));
			}
			index_close(irel, AccessShareLock);
		}
		foreach(lc, keys)
		{
			if (!name_in(index_columns, lfirst(lc)))
				ereport(ERROR,
						(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
						 errmsg("key column \"%s\" of table \"%s\" is not part of its replica identity",
								(char *) lfirst(lc), relname),
						 errdetail("A delete carries in the write-ahead log only the replica identity's columns."),
						 errhint("Use the primary key, ALTER TABLE %s REPLICA IDENTITY USING INDEX ..., "
								 "or REPLICA IDENTITY FULL.", quote_identifier(relname))));
		}
	}
	table_close(rel, AccessShareLock);
}

/* ----------------------------------------------------------------
 * Dropping the slot
 * ----------------------------------------------------------------
 */

/*
 * Drop this database's slot if it exists.  With wait, while a run holds it;
 * without, a slot in use is left for the worker, whose next run finds no
 * cdc table and drops it.
 */
static void
drop_slot(bool wait)
{
	char	   *name = cdc_slot_name();
	ReplicationSlot *slot = SearchNamedReplicationSlot(name, true);

	if (slot == NULL)
		return;
	if (!wait)
	{
		int			active_pid;

		SpinLockAcquire(&slot->mutex);
		active_pid = slot->active_pid;
		SpinLockRelease(&slot->mutex);
		if (active_pid != 0)
			return;
	}
	ReplicationSlotDrop(name, !wait);
	ereport(NOTICE,
			(errmsg("dropped replication slot \"%s\"", name)));
}

void
cdc_drop_slot_if_unused(bool wait)
{
	int			rc;

	/* Not read-only: it must see the caller's DELETE of the registration. */
	rc = SPI_execute("SELECT 1 FROM redtrack.replicables WHERE strategy OPERATOR(pg_catalog.=) 'cdc'",
					 false, 1);
	if (rc != SPI_OK_SELECT)
		elog(ERROR, "SPI_execute failed: %s", SPI_result_code_string(rc));
	if (SPI_processed > 0)
		return;
	rc = SPI_execute("DELETE FROM redtrack.cdc_state", false, 0);
	if (rc != SPI_OK_DELETE)
		elog(ERROR, "SPI_execute failed: %s", SPI_result_code_string(rc));
	drop_slot(wait);
}

PG_FUNCTION_INFO_V1(redtrack_cdc_on_drop_extension);

/*
 * ddl_command_start event trigger: DROP EXTENSION redtrack drops the
 * database's slot first, which would otherwise keep WAL forever.
 */
Datum
redtrack_cdc_on_drop_extension(PG_FUNCTION_ARGS)
{
	EventTriggerData *trigdata;
	DropStmt   *stmt;
	ListCell   *lc;

	if (!CALLED_AS_EVENT_TRIGGER(fcinfo))
		elog(ERROR, "redtrack_cdc_on_drop_extension: not fired by an event trigger");
	trigdata = (EventTriggerData *) fcinfo->context;
	if (!IsA(trigdata->parsetree, DropStmt))
		PG_RETURN_VOID();
	stmt = (DropStmt *) trigdata->parsetree;
	if (stmt->removeType != OBJECT_EXTENSION)
		PG_RETURN_VOID();
	foreach(lc, stmt->objects)
	{
		Node	   *object = lfirst(lc);

		if (IsA(object, String) && strcmp(strVal(object), "redtrack") == 0)
			drop_slot(true);
	}
	PG_RETURN_VOID();
}

PG_FUNCTION_INFO_V1(redtrack_cdc_on_sql_drop);

/*
 * sql_drop event trigger, after redtrack_sql_drop removed the registrations
 * of dropped tables: the last cdc table dropped takes the slot with it.
 * Never waits: a table's DROP must not queue behind a run.
 */
Datum
redtrack_cdc_on_sql_drop(PG_FUNCTION_ARGS)
{
	int			rc;

	if (!CALLED_AS_EVENT_TRIGGER(fcinfo))
		elog(ERROR, "redtrack_cdc_on_sql_drop: not fired by an event trigger");
	if (SearchNamedReplicationSlot(cdc_slot_name(), true) == NULL)
		PG_RETURN_VOID();
	SPI_connect();
	rc = SPI_execute("SELECT 1 FROM redtrack.cdc_state", false, 1);
	if (rc != SPI_OK_SELECT)
		elog(ERROR, "SPI_execute failed: %s", SPI_result_code_string(rc));
	if (SPI_processed > 0)
		cdc_drop_slot_if_unused(false);
	SPI_finish();
	PG_RETURN_VOID();
}
