/*-------------------------------------------------------------------------
 *
 * rs_ident.c
 *	  Identifiers in SQL sent to the warehouse: always quoted (rs_ident.h).
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "lib/stringinfo.h"

#include "rs_ident.h"

char *
rs_quote_identifier(const char *name)
{
	StringInfoData buf;

	initStringInfo(&buf);
	appendStringInfoChar(&buf, '"');
	for (const char *p = name; *p; p++)
	{
		if (*p == '"')
			appendStringInfoChar(&buf, '"');
		appendStringInfoChar(&buf, *p);
	}
	appendStringInfoChar(&buf, '"');
	return buf.data;
}

char *
rs_quote_qualified(const char *schema, const char *name)
{
	if (schema == NULL)
		return rs_quote_identifier(name);
	return psprintf("%s.%s", rs_quote_identifier(schema), rs_quote_identifier(name));
}
