/*-------------------------------------------------------------------------
 *
 * spi_util.c
 *	  SPI helpers.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xact.h"
#include "catalog/pg_type.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/snapmgr.h"
#include "utils/timestamp.h"

#include "spi_util.h"

static void
push(SpiArgs *args, Oid type, Datum value, bool isnull)
{
	if (args->n >= lengthof(args->types))
		elog(ERROR, "too many SPI arguments");
	args->types[args->n] = type;
	args->values[args->n] = value;
	args->nulls[args->n] = isnull ? 'n' : ' ';
	args->n++;
}

void
spi_arg_text(SpiArgs *args, const char *value)
{
	push(args, TEXTOID, value ? CStringGetTextDatum(value) : (Datum) 0, value == NULL);
}

void
spi_arg_int8(SpiArgs *args, int64 value)
{
	push(args, INT8OID, Int64GetDatum(value), false);
}

void
spi_arg_int4(SpiArgs *args, int32 value)
{
	push(args, INT4OID, Int32GetDatum(value), false);
}

void
spi_arg_oid(SpiArgs *args, Oid value)
{
	push(args, OIDOID, ObjectIdGetDatum(value), false);
}

void
spi_arg_bool(SpiArgs *args, bool value)
{
	push(args, BOOLOID, BoolGetDatum(value), false);
}

void
spi_arg_timestamptz(SpiArgs *args, TimestampTz value)
{
	push(args, TIMESTAMPTZOID, TimestampTzGetDatum(value), value == 0);
}

void
spi_arg_float8(SpiArgs *args, double value)
{
	push(args, FLOAT8OID, Float8GetDatum(value), false);
}

void
engine_begin_transaction(MemoryContext cxt)
{
	SetCurrentStatementStartTimestamp();
	StartTransactionCommand();
	PushActiveSnapshot(GetTransactionSnapshot());
	MemoryContextSwitchTo(cxt);
}

void
engine_commit_transaction(MemoryContext cxt)
{
	PopActiveSnapshot();
	CommitTransactionCommand();
	MemoryContextSwitchTo(cxt);
}

/*
 * SPI leaves CurrentMemoryContext in its procedure context after every
 * call; put the caller's back, so what the caller allocates next does not
 * vanish at SPI_finish.
 */
SPIPlanPtr
spi_kept_plan(SPIPlanPtr *plan, const char *sql, int nargs, Oid *argtypes)
{
	if (*plan == NULL)
	{
		SPIPlanPtr	prepared = SPI_prepare(sql, nargs, argtypes);

		if (prepared == NULL)
			elog(ERROR, "SPI_prepare failed: %s", SPI_result_code_string(SPI_result));
		SPI_keepplan(prepared);
		*plan = prepared;
	}
	return *plan;
}

uint64
spi_run(const char *sql, SpiArgs *args, bool read_only)
{
	MemoryContext cxt = CurrentMemoryContext;
	int			rc;

	if (args && args->n > 0)
		rc = SPI_execute_with_args(sql, args->n, args->types, args->values,
								   args->nulls, read_only, 0);
	else
		rc = SPI_execute(sql, read_only, 0);
	MemoryContextSwitchTo(cxt);
	if (rc < 0)
		elog(ERROR, "SPI failed (%s) on: %s", SPI_result_code_string(rc), sql);
	return SPI_processed;
}

char *
spi_get_text(MemoryContext cxt, uint64 row, int col)
{
	char	   *value = SPI_getvalue(SPI_tuptable->vals[row], SPI_tuptable->tupdesc, col);

	return value ? MemoryContextStrdup(cxt, value) : NULL;
}

int64
spi_get_int8(uint64 row, int col, bool *isnull)
{
	bool		null;
	Datum		d = SPI_getbinval(SPI_tuptable->vals[row], SPI_tuptable->tupdesc, col, &null);

	if (isnull)
		*isnull = null;
	if (null)
		return 0;
	switch (SPI_gettypeid(SPI_tuptable->tupdesc, col))
	{
		case INT2OID:
			return DatumGetInt16(d);
		case INT4OID:
			return DatumGetInt32(d);
		default:
			return DatumGetInt64(d);
	}
}

bool
spi_get_bool(uint64 row, int col)
{
	bool		null;
	Datum		d = SPI_getbinval(SPI_tuptable->vals[row], SPI_tuptable->tupdesc, col, &null);

	return !null && DatumGetBool(d);
}

TimestampTz
spi_get_timestamptz(uint64 row, int col)
{
	bool		null;
	Datum		d = SPI_getbinval(SPI_tuptable->vals[row], SPI_tuptable->tupdesc, col, &null);

	return null ? 0 : DatumGetTimestampTz(d);
}

double
spi_get_float8(uint64 row, int col)
{
	bool		null;
	Datum		d = SPI_getbinval(SPI_tuptable->vals[row], SPI_tuptable->tupdesc, col, &null);

	return null ? 0 : DatumGetFloat8(d);
}

void
role_scope_enter(RoleScope *scope, Oid roleid)
{
	GetUserIdAndSecContext(&scope->saved_userid, &scope->saved_sec_context);
	SetUserIdAndSecContext(roleid, scope->saved_sec_context | SECURITY_LOCAL_USERID_CHANGE |
						   SECURITY_RESTRICTED_OPERATION);
}

void
role_scope_leave(RoleScope *scope)
{
	SetUserIdAndSecContext(scope->saved_userid, scope->saved_sec_context);
}
