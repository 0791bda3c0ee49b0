/*-------------------------------------------------------------------------
 *
 * target_name.c
 *	  Target table names: syntax, normalization and identity
 *	  (target_name.h).
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "catalog/pg_collation.h"
#include "lib/stringinfo.h"
#include "parser/scansup.h"
#include "utils/builtins.h"
#include "utils/formatting.h"

#include "target_name.h"

/* One part of a name, from *p on; NULL when its syntax is invalid. */
static char *
name_part(const char **pp)
{
	const char *p = *pp;
	StringInfoData part;

	initStringInfo(&part);
	if (*p == '"')
	{
		/* quoted: anything up to the closing quote, "" is a quote */
		p++;
		for (;;)
		{
			if (*p == '\0')
				return NULL;
			if (*p == '"' && p[1] == '"')
			{
				appendStringInfoChar(&part, '"');
				p += 2;
				continue;
			}
			if (*p == '"')
			{
				p++;
				break;
			}
			appendStringInfoChar(&part, *p++);
		}
		if (part.len == 0)
			return NULL;
	}
	else
	{
		/* unquoted: up to a dot or a blank, folded to lower case */
		while (*p && *p != '.' && !scanner_isspace(*p))
		{
			if (*p == '"')
				return NULL;
			appendStringInfoChar(&part, *p++);
		}
		if (part.len == 0)
			return NULL;
		part.data = downcase_identifier(part.data, part.len, false, false);
	}
	*pp = p;
	return part.data;
}

List *
redtrack_split_name(const char *name)
{
	List	   *parts = NIL;
	const char *p = name;

	for (;;)
	{
		char	   *part;

		while (scanner_isspace(*p))
			p++;
		part = name_part(&p);
		if (part == NULL)
			return NIL;
		parts = lappend(parts, part);
		while (scanner_isspace(*p))
			p++;
		if (*p == '\0')
			return parts;
		if (*p != '.')
			return NIL;
		p++;
	}
}

void
redtrack_split_target(const char *target, char **schema, char **name)
{
	List	   *parts = redtrack_split_name(target);

	if (list_length(parts) == 2)
	{
		*schema = linitial(parts);
		*name = lsecond(parts);
	}
	else if (list_length(parts) == 1)
	{
		*schema = NULL;
		*name = linitial(parts);
	}
	else
		elog(ERROR, "invalid target table name \"%s\"", target);
}

/*
 * Parse a target table name in identifier syntax ("table", "schema.table",
 * "\"Odd Name\"") and return it normalized with quote_identifier, so that
 * it can be pasted into Redshift SQL as it is.
 */
char *
redtrack_normalize_target(const char *raw)
{
	List	   *parts;
	StringInfoData buf;
	ListCell   *lc;

	if (raw[0] == '\0')
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_NAME),
				 errmsg("target table name must not be empty")));

	parts = redtrack_split_name(raw);
	if (parts == NIL)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_NAME),
				 errmsg("invalid target table name \"%s\"", raw),
				 errhint("Use \"table\" or \"schema.table\"; double-quote names with capitals, "
						 "spaces or dots.")));
	if (list_length(parts) > 2)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_NAME),
				 errmsg("target table name \"%s\" has too many dotted parts", raw),
				 errhint("Use \"table\" or \"schema.table\"; quote a name that contains a dot.")));

	initStringInfo(&buf);
	foreach(lc, parts)
	{
		const char *part = lfirst(lc);

		if (strlen(part) > REDSHIFT_MAX_IDENTIFIER)
			ereport(ERROR,
					(errcode(ERRCODE_NAME_TOO_LONG),
					 errmsg("target name part \"%s\" is longer than Redshift's limit of %d bytes",
							part, REDSHIFT_MAX_IDENTIFIER)));
		if (buf.len > 0)
			appendStringInfoChar(&buf, '.');
		appendStringInfoString(&buf, quote_identifier(part));
	}
	return buf.data;
}

/*
 * A target as Redshift resolves it: an unqualified name lands in the
 * default schema "public", and Redshift folds identifiers to lower case,
 * quoted ones too (unless enable_case_sensitive_identifier is on, which
 * redtrack does not assume).  Two registrations whose targets have the
 * same identity would load one table, and a full load of one would wipe
 * the other's rows.  Folding more than Redshift does (non-ASCII letters)
 * can only refuse a registration, never merge two tables.
 */
char *
redtrack_target_identity(const char *target)
{
	List	   *parts = redtrack_split_name(target);
	const char *schema;
	const char *name;

	if (parts == NIL)
		return pstrdup(target);
	schema = list_length(parts) == 2 ? linitial(parts) : "public";
	name = llast(parts);
	return psprintf("%s.%s",
					str_tolower(schema, strlen(schema), DEFAULT_COLLATION_OID),
					str_tolower(name, strlen(name), DEFAULT_COLLATION_OID));
}
