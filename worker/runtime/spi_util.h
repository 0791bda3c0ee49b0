/*-------------------------------------------------------------------------
 *
 * spi_util.h
 *	  Small helpers for running parameterized SQL through SPI and copying
 *	  results out of SPI's memory.
 *
 *-------------------------------------------------------------------------
 */
#ifndef REDTRACK_SPI_UTIL_H
#define REDTRACK_SPI_UTIL_H

#include "executor/spi.h"

/* Arguments of a statement, built up one by one (at most 32). */
typedef struct SpiArgs
{
	int			n;
	Oid			types[32];
	Datum		values[32];
	char		nulls[32];
} SpiArgs;

extern void spi_arg_text(SpiArgs *args, const char *value);	/* NULL -> SQL NULL */
extern void spi_arg_int8(SpiArgs *args, int64 value);
extern void spi_arg_int4(SpiArgs *args, int32 value);
extern void spi_arg_oid(SpiArgs *args, Oid value);
extern void spi_arg_bool(SpiArgs *args, bool value);
extern void spi_arg_timestamptz(SpiArgs *args, TimestampTz value);	/* 0 -> NULL */
extern void spi_arg_float8(SpiArgs *args, double value);

/*
 * A short transaction of the engine's own, with a snapshot for SPI; commit
 * returns to cxt (committing resets CurrentMemoryContext).
 */
extern void engine_begin_transaction(MemoryContext cxt);
extern void engine_commit_transaction(MemoryContext cxt);

/*
 * A statement prepared once per backend: *plan is prepared and kept
 * (SPI_keepplan) on first use, and returned as it is afterwards.
 */
extern SPIPlanPtr spi_kept_plan(SPIPlanPtr *plan, const char *sql, int nargs, Oid *argtypes);

/* Execute; errors on SPI failure; returns SPI_processed. */
extern uint64 spi_run(const char *sql, SpiArgs *args, bool read_only);

/*
 * Run what follows as another role, in a security-restricted operation
 * (as VACUUM and REFRESH MATERIALIZED VIEW run a table owner's code): the
 * source is read with the rights of the role that registered it, so a
 * function, rule or type it planted runs with that role's rights, never
 * the extension owner's.  An error in between needs no leave: aborting
 * the transaction restores the user id.
 */
typedef struct RoleScope
{
	Oid			saved_userid;
	int			saved_sec_context;
} RoleScope;

extern void role_scope_enter(RoleScope *scope, Oid roleid);
extern void role_scope_leave(RoleScope *scope);

/* Column col (1-based) of row as text, copied into cxt; NULL for NULL. */
extern char *spi_get_text(MemoryContext cxt, uint64 row, int col);
extern int64 spi_get_int8(uint64 row, int col, bool *isnull);
extern bool spi_get_bool(uint64 row, int col);
extern TimestampTz spi_get_timestamptz(uint64 row, int col);	/* NULL -> 0 */
extern double spi_get_float8(uint64 row, int col);

#endif							/* REDTRACK_SPI_UTIL_H */
