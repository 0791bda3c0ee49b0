/*-------------------------------------------------------------------------
 *
 * cdc.c
 *	  The SQL-facing half of the cdc strategy: the event triggers that
 *	  drop the database's slot when the last cdc table is dropped or the
 *	  extension is dropped (the slot itself: worker/cdc/cdc_slot.c).
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "commands/event_trigger.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "nodes/parsenodes.h"
#include "replication/slot.h"

#include "cdc.h"

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
			cdc_drop_slot(true);
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
