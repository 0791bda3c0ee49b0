/*-------------------------------------------------------------------------
 *
 * sql_list.c
 *	  Lists of identifiers in SQL text (sql_list.h).
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "lib/stringinfo.h"
#include "utils/builtins.h"

#include "rs_ident.h"
#include "sql_list.h"

static const char *
quote_name(const char *name, SqlQuoting quoting)
{
	if (quoting == SQL_QUOTE_POSTGRES)
		return quote_identifier(name);
	return rs_quote_identifier(name);
}

static bool
is_exact_key(List *exact_keys, const char *key)
{
	ListCell   *lc;

	foreach(lc, exact_keys)
	{
		if (strcmp(lfirst(lc), key) == 0)
			return true;
	}
	return false;
}

char *
sql_name_list(List *names, const char *qualifier, SqlQuoting quoting)
{
	StringInfoData buf;
	ListCell   *lc;

	initStringInfo(&buf);
	foreach(lc, names)
	{
		if (buf.len > 0)
			appendStringInfoString(&buf, ", ");
		if (qualifier)
			appendStringInfo(&buf, "%s.", qualifier);
		appendStringInfoString(&buf, quote_name(lfirst(lc), quoting));
	}
	return buf.data;
}

/*
 * Each key as a term, joined by sep: left.k = right.k (or k alone when left
 * is NULL), with the length in bytes compared (or listed) too for exact
 * keys.
 */
static char *
key_terms(List *keys, List *exact_keys, const char *sep, const char *left,
		  const char *right)
{
	StringInfoData buf;
	ListCell   *lc;

	initStringInfo(&buf);
	foreach(lc, keys)
	{
		const char *k = rs_quote_identifier(lfirst(lc));
		bool		exact = is_exact_key(exact_keys, lfirst(lc));

		if (buf.len > 0)
			appendStringInfoString(&buf, sep);
		if (left == NULL)
		{
			appendStringInfoString(&buf, k);
			if (exact)
				appendStringInfo(&buf, ", OCTET_LENGTH(%s)", k);
		}
		else
		{
			appendStringInfo(&buf, "%s.%s = %s.%s", left, k, right, k);
			if (exact)
				appendStringInfo(&buf,
								 " AND OCTET_LENGTH(%s.%s) = OCTET_LENGTH(%s.%s)",
								 left, k, right, k);
		}
	}
	return buf.data;
}

char *
sql_key_join(List *keys, List *exact_keys, const char *left, const char *right)
{
	Assert(left != NULL && right != NULL);
	return key_terms(keys, exact_keys, " AND ", left, right);
}

char *
sql_key_partition(List *keys, List *exact_keys)
{
	return key_terms(keys, exact_keys, ", ", NULL, NULL);
}
