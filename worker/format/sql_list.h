/*-------------------------------------------------------------------------
 *
 * sql_list.h
 *	  Lists of identifiers in SQL text: column lists, key joins and
 *	  PARTITION BY lists.
 *
 * The one place that writes "a", "b" or t."a" = s."a" AND ...: every
 * identifier goes through the quoting the caller names, never pasted.
 * SQL_QUOTE_WAREHOUSE quotes always (rs_ident.h explains why); it is for
 * SQL sent to the warehouse.  SQL_QUOTE_POSTGRES quotes as PostgreSQL
 * needs it (quote_identifier), for local SQL and for messages.
 *
 *-------------------------------------------------------------------------
 */
#ifndef REDTRACK_SQL_LIST_H
#define REDTRACK_SQL_LIST_H

#include "nodes/pg_list.h"

typedef enum SqlQuoting
{
	SQL_QUOTE_WAREHOUSE,		/* always quoted: rs_quote_identifier */
	SQL_QUOTE_POSTGRES			/* quoted when needed: quote_identifier */
} SqlQuoting;

/* "a", "b", ... (each prefixed with "qualifier." unless it is NULL). */
extern char *sql_name_list(List *names, const char *qualifier,
						   SqlQuoting quoting);

/*
 * left."k1" = right."k1" AND ... for SQL sent to the warehouse.  Keys in
 * exact_keys are compared with their length in bytes too, for Redshift,
 * which compares VARCHAR ignoring trailing blanks.
 */
extern char *sql_key_join(List *keys, List *exact_keys, const char *left,
						  const char *right);

/* The keys as a PARTITION BY list, with the same rule for exact_keys. */
extern char *sql_key_partition(List *keys, List *exact_keys);

#endif							/* REDTRACK_SQL_LIST_H */
