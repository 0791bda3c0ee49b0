/*-------------------------------------------------------------------------
 *
 * cdc_slot.c
 *	  The cdc strategy's replication slot and registration: the slot's
 *	  name, the checks a table must pass to be replicated by 'cdc', and
 *	  dropping the database's slot once no cdc table is left.
 *
 * Both rrr_register (extension/) and a cdc run (which re-checks its
 * tables before capturing) use these, so they live with the worker.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/genam.h"
#include "access/table.h"
#include "access/xlog.h"
#include "catalog/pg_class.h"
#include "catalog/pg_index.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "replication/slot.h"
#include "storage/spin.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/lsyscache.h"
#include "utils/rel.h"
#include "utils/relcache.h"
#include "utils/varlena.h"

#include "cdc.h"

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
void
cdc_drop_slot(bool wait)
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
	cdc_drop_slot(wait);
}
