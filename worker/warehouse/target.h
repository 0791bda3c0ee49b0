/*-------------------------------------------------------------------------
 *
 * target.h
 *	  The table a registration loads on the warehouse: its name, whether
 *	  it exists, its columns, and the DDL that creates or evolves it.
 *
 *-------------------------------------------------------------------------
 */
#ifndef REDTRACK_TARGET_H
#define REDTRACK_TARGET_H

#include "redshift.h"
#include "registry.h"

typedef struct TargetTable
{
	char	   *schema;			/* as stored on the warehouse; resolved */
	char	   *name;
	char	   *qualified;		/* quoted "schema"."name" for SQL */
	bool		exists;
	List	   *columns;		/* of TargetColumn *, in table order */
} TargetTable;

/* Look the target up (case-insensitively, as Redshift folds names). */
extern TargetTable *target_describe(RedshiftConn *conn, Replicable *r);

/* CREATE TABLE for the registration, in the configured dialect. */
extern char *target_ddl(Replicable *r, bool postgres_dialect);

/* Create the target (and its schema) with this DDL if it does not exist. */
extern void target_create(RedshiftConn *conn, Replicable *r, TargetTable *t, const char *ddl);

/* ALTER TABLE ... ADD COLUMN for source columns the target lacks. */
extern void target_add_columns(RedshiftConn *conn, Replicable *r, TargetTable *t,
							   List *missing, bool postgres_dialect);

#endif							/* REDTRACK_TARGET_H */
