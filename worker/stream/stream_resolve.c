/*-------------------------------------------------------------------------
 *
 * stream_resolve.c
 *	  Names that stand for a table or for a stream's queue table.
 *
 * A stream's queue table is redtrack_streams.<stream name>, which nobody
 * but redtrack creates tables in, so a stream is found by its name in the
 * catalog alone.  Tables are read as regclass reads them, in the caller's
 * search_path; only catalog lookups run before search_path is pinned, so
 * a hostile search_path reaches no code.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "catalog/namespace.h"
#include "catalog/pg_type.h"
#include "nodes/makefuncs.h"
#include "nodes/value.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/lsyscache.h"
#include "utils/regproc.h"
#include "utils/varlena.h"

#include "stream.h"

/* The table a qualified name means in the search_path, if it parses. */
static Oid
table_named(const char *name)
{
	char	   *copy = pstrdup(name);
	List	   *parts;
	List	   *names = NIL;
	ListCell   *lc;

	/* as stringToQualifiedNameList reads it, without its error */
	if (!SplitIdentifierString(copy, '.', &parts) || parts == NIL || list_length(parts) > 3)
		return InvalidOid;
	foreach(lc, parts)
		names = lappend(names, makeString(pstrdup(lfirst(lc))));
	return RangeVarGetRelid(makeRangeVarFromNameList(names), NoLock, true);
}

static Oid
resolve_one(const char *name)
{
	Oid			streams = get_namespace_oid(STREAMS_SCHEMA, true);
	Oid			queue = InvalidOid;
	Oid			table;

	if (OidIsValid(streams) && strlen(name) < NAMEDATALEN)
		queue = get_relname_relid(name, streams);
	if (!OidIsValid(queue))
	{
		/* a table, with regclass's errors */
#if PG_VERSION_NUM >= 160000
		List	   *names = stringToQualifiedNameList(name, NULL);
#else
		List	   *names = stringToQualifiedNameList(name);
#endif

		return RangeVarGetRelid(makeRangeVarFromNameList(names), NoLock, false);
	}
	table = table_named(name);
	if (OidIsValid(table) && table != queue)
		ereport(ERROR,
				(errcode(ERRCODE_AMBIGUOUS_PARAMETER),
				 errmsg("\"%s\" names both table %s and stream \"%s\"",
						name, quote_qualified_identifier(get_namespace_name(get_rel_namespace(table)),
														 get_rel_name(table)), name),
				 errhint("Write the table as '%s', or the stream as its queue table '%s'.",
						 quote_qualified_identifier(get_namespace_name(get_rel_namespace(table)),
													get_rel_name(table)),
						 stream_queue_table(name))));
	return queue;
}

Oid *
stream_resolve_tables(ArrayType *array, int *n)
{
	Datum	   *elems;
	bool	   *nulls;
	Oid		   *relids;

	deconstruct_array(array, TEXTOID, -1, false, TYPALIGN_INT, &elems, &nulls, n);
	relids = palloc(sizeof(Oid) * Max(*n, 1));
	for (int i = 0; i < *n; i++)
	{
		if (nulls[i])
			ereport(ERROR,
					(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
					 errmsg("table list must not contain NULL")));
		relids[i] = resolve_one(TextDatumGetCString(elems[i]));
	}

	/*
	 * The names are read: pin search_path from here on.  The level is the
	 * calling function's own SET clause's, which ends when it returns.
	 */
	(void) NewGUCNestLevel();
	(void) set_config_option("search_path", "pg_catalog, pg_temp", PGC_USERSET, PGC_S_SESSION,
							 GUC_ACTION_SAVE, true, 0, false);
	return relids;
}
