/*-------------------------------------------------------------------------
 *
 * target.c
 *	  Target tables on the warehouse.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "catalog/namespace.h"
#include "lib/stringinfo.h"
#include "nodes/value.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"
#include "utils/regproc.h"

#include "guc.h"
#include "rs_ident.h"
#include "sql_list.h"
#include "target.h"
#include "target_name.h"
#include "typemap.h"

TargetTable *
target_describe(RedshiftConn *conn, Replicable *r)
{
	TargetTable *t = palloc0(sizeof(TargetTable));
	char	   *schema;
	char	   *name;
	RedshiftResult *res;
	const char *params[2];

	redtrack_split_target(r->target_table, &schema, &name);
	if (schema == NULL)
	{
		res = redshift_exec(conn, "SELECT current_schema()", 0, NULL, NULL);
		schema = pstrdup(redshift_value(res, 0, 0) ? redshift_value(res, 0, 0) : "public");
	}

	/* Exact names first; otherwise the lower-cased names Redshift keeps. */
	params[0] = schema;
	params[1] = name;
	res = redshift_exec(conn,
						"SELECT table_schema, table_name FROM information_schema.tables "
						"WHERE lower(table_schema) = lower($1) AND lower(table_name) = lower($2) "
						"ORDER BY (table_schema = $1 AND table_name = $2) DESC, "
						"(table_name = $2) DESC LIMIT 1",
						2, params, NULL);
	if (res->nrows == 0)
	{
		t->schema = schema;
		t->name = name;
		t->exists = false;
	}
	else
	{
		t->schema = pstrdup(redshift_value(res, 0, 0));
		t->name = pstrdup(redshift_value(res, 0, 1));
		t->exists = true;
	}
	t->qualified = rs_quote_qualified(t->schema, t->name);

	if (t->exists)
	{
		params[0] = t->schema;
		params[1] = t->name;
		res = redshift_exec(conn,
							"SELECT column_name, data_type, character_maximum_length "
							"FROM information_schema.columns "
							"WHERE table_schema = $1 AND table_name = $2 ORDER BY ordinal_position",
							2, params, NULL);
		for (int i = 0; i < res->nrows; i++)
		{
			TargetColumn *col = palloc0(sizeof(TargetColumn));
			const char *len = redshift_value(res, i, 2);

			col->name = pstrdup(redshift_value(res, i, 0));
			col->data_type = pstrdup(redshift_value(res, i, 1));
			col->max_length = len ? atoi(len) : 0;
			t->columns = lappend(t->columns, col);
		}
	}
	return t;
}

char *
target_ddl(Replicable *r, bool postgres_dialect)
{
	List	   *columns = redtrack_column_map(r->relid, NIL, postgres_dialect, NULL);
	StringInfoData ddl;
	ListCell   *lc;
	char	   *schema;
	char	   *name;

	initStringInfo(&ddl);
	redtrack_split_target(r->target_table, &schema, &name);
	appendStringInfo(&ddl, "CREATE TABLE %s (\n", rs_quote_qualified(schema, name));
	foreach(lc, columns)
	{
		ColumnMap  *col = lfirst(lc);

		appendStringInfo(&ddl, "    %s %s%s,\n", rs_quote_identifier(col->target_name),
						 col->target_type, col->not_null ? " NOT NULL" : "");
	}
	if (r->key_columns != NIL)
	{
		/* Informational on Redshift: it documents the merge key. */
		appendStringInfo(&ddl, "    PRIMARY KEY (%s)\n)",
						 sql_name_list(r->key_columns, NULL, SQL_QUOTE_WAREHOUSE));
	}
	else
	{
		ddl.len -= 2;			/* the last ",\n" */
		ddl.data[ddl.len] = '\0';
		appendStringInfoString(&ddl, "\n)");
	}

	if (!postgres_dialect)
	{
		const char *distkey = r->distkey ? r->distkey
			: (r->key_columns != NIL ? linitial(r->key_columns) : NULL);

		if (distkey)
			appendStringInfo(&ddl, "\nDISTSTYLE KEY DISTKEY (%s)", rs_quote_identifier(distkey));
		else
			appendStringInfoString(&ddl, "\nDISTSTYLE AUTO");
		if (r->sortkey != NIL)
		{
			appendStringInfo(&ddl, "\nCOMPOUND SORTKEY (%s)",
							 sql_name_list(r->sortkey, NULL, SQL_QUOTE_WAREHOUSE));
		}
		else if (r->replication_field)
			appendStringInfo(&ddl, "\nCOMPOUND SORTKEY (%s)", rs_quote_identifier(r->replication_field));
	}
	return ddl.data;
}

void
target_create(RedshiftConn *conn, Replicable *r, TargetTable *t, const char *ddl)
{
	char	   *schema;
	char	   *name;

	if (t && t->exists)
		return;
	redtrack_split_target(r->target_table, &schema, &name);
	if (schema)
		redshift_exec(conn, psprintf("CREATE SCHEMA IF NOT EXISTS %s", rs_quote_identifier(schema)),
					  0, NULL, NULL);
	redshift_exec(conn, ddl, 0, NULL, NULL);
	ereport(LOG,
			(errmsg("redtrack: created target table %s for %s", r->target_table, r->source_name)));
}

void
target_add_columns(RedshiftConn *conn, Replicable *r, TargetTable *t, List *missing,
				   bool postgres_dialect)
{
	ListCell   *lc;

	foreach(lc, missing)
	{
		const char *name = lfirst(lc);
		AttrNumber	attnum = get_attnum(r->relid, name);
		ColumnMap  *col = redtrack_map_source_column(r->relid, attnum, postgres_dialect);

		/* NOT NULL would fail for the rows already there. */
		redshift_exec(conn,
					  psprintf("ALTER TABLE %s ADD COLUMN %s %s", t->qualified,
							   rs_quote_identifier(col->target_name), col->target_type),
					  0, NULL, NULL);
		ereport(LOG,
				(errmsg("redtrack: added column %s to %s (evolve)",
						quote_identifier(name), t->qualified)));
	}
}
