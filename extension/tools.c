/*-------------------------------------------------------------------------
 *
 * tools.c
 *	  The standalone tools as SQL functions: rrr_export_query and rrr_load
 *	  (the work is in worker/tools/).
 *
 * Both are SECURITY INVOKER and run in the caller's backend (tools.h says
 * why): rrr_export_query's query is planned and run with the caller's own
 * privileges, so a caller who may not read a table cannot export it.  Both
 * require superuser or redtrack_admin, as they write with the server's S3
 * and warehouse credentials, which stay inside the C code.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "fmgr.h"
#include "funcapi.h"
#include "utils/builtins.h"
#include "utils/jsonb.h"

#include "guc.h"
#include "ownership.h"
#include "registry.h"
#include "target_name.h"
#include "tools.h"

PG_FUNCTION_INFO_V1(rrr_export_query);
PG_FUNCTION_INFO_V1(rrr_load);

/* Neither tool runs inside rrr_export_query's query, which must only read. */
static void
refuse_inside_export(void)
{
	if (tools_export_running())
		ereport(ERROR,
				(errcode(ERRCODE_READ_ONLY_SQL_TRANSACTION),
				 errmsg("rrr_export_query runs only a read-only query: it calls a function of redtrack"),
				 errhint("Pass one SELECT (or VALUES, or TABLE) that reads what to export.")));
}

static char *
required_text(FunctionCallInfo fcinfo, int arg, const char *what)
{
	char	   *value;

	if (PG_ARGISNULL(arg))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("%s must not be NULL", what)));
	value = text_to_cstring(PG_GETARG_TEXT_PP(arg));
	if (value[0] == '\0')
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("%s must not be empty", what)));
	return value;
}

static char *
optional_text(FunctionCallInfo fcinfo, int arg, const char *what)
{
	if (PG_ARGISNULL(arg))
		return NULL;
	return required_text(fcinfo, arg, what);
}

/*
 * Tables rrr_load must never write: the schema of the load markers
 * (forged or deleted markers would make replication skip a load or load
 * one twice), and every table a registration or a stream loads (a load,
 * a truncate or an added column there would corrupt what replication
 * keeps equal to the source).  Names are compared as rrr_register
 * compares them, by redtrack_target_identity.
 */
static void
refuse_reserved_target(const char *target)
{
	List	   *parts = redtrack_split_name(target);
	char	   *identity = redtrack_target_identity(target);
	char	   *in_loads;
	Oid			owner;

	in_loads = psprintf("%s.%s", quote_identifier(redtrack_loads_schema),
						quote_identifier(llast(parts)));
	if (strcmp(redtrack_target_identity(in_loads), identity) == 0)
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("target table %s is in redtrack.loads_schema", target),
				 errdetail("Schema \"%s\" holds redtrack_loads, the markers that keep replication's loads exactly once.",
						   redtrack_loads_schema),
				 errhint("Load into a table in another schema.")));
	if (redtrack_target_is_taken(target, InvalidOid, &owner))
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("target table %s is the target of \"%s\"",
						target, redtrack_relation_display_name(owner)),
				 errdetail("Only replication writes a registered table or a stream's table (both name table %s).",
						   identity),
				 errhint("Load into another table.")));
}

Datum
rrr_export_query(PG_FUNCTION_ARGS)
{
	char	   *query;
	char	   *destination;
	ToolsFormat format;
	char	   *manifest;
	ExportQueryResult result;
	TupleDesc	desc;
	Datum		values[4];
	bool		nulls[4] = {false, false, false, false};

	redtrack_require_admin("export a query");
	refuse_inside_export();
	query = required_text(fcinfo, 0, "query");
	destination = required_text(fcinfo, 1, "destination");
	format = tools_parse_format(PG_ARGISNULL(2) ? "csv" : text_to_cstring(PG_GETARG_TEXT_PP(2)));
	manifest = optional_text(fcinfo, 3, "manifest");
	if (get_call_result_type(fcinfo, NULL, &desc) != TYPEFUNC_COMPOSITE)
		elog(ERROR, "rrr_export_query must return a record");

	memset(&result, 0, sizeof(result));
	tools_export_query(query, destination, format, manifest, &result);

	values[0] = CStringGetTextDatum(result.manifest_url);
	values[1] = Int32GetDatum(result.files);
	values[2] = Int64GetDatum(result.rows);
	values[3] = Int64GetDatum(result.bytes);
	PG_RETURN_DATUM(HeapTupleGetDatum(heap_form_tuple(BlessTupleDesc(desc), values, nulls)));
}

Datum
rrr_load(PG_FUNCTION_ARGS)
{
	LoadRequest req;
	List	   *parts;
	ListCell   *lc;

	redtrack_require_admin("load data into the warehouse");
	refuse_inside_export();
	memset(&req, 0, sizeof(req));
	req.target = required_text(fcinfo, 0, "target");
	req.source = required_text(fcinfo, 1, "source");
	req.format = tools_parse_format(PG_ARGISNULL(2) ? "csv" : text_to_cstring(PG_GETARG_TEXT_PP(2)));
	req.columns = PG_ARGISNULL(3) ? NULL : PG_GETARG_JSONB_P(3);
	req.sortkey = optional_text(fcinfo, 4, "sortkey");
	req.distkey = optional_text(fcinfo, 5, "distkey");
	req.truncate = PG_ARGISNULL(6) ? false : PG_GETARG_BOOL(6);
	req.force = PG_ARGISNULL(7) ? false : PG_GETARG_BOOL(7);

	/* The same names rrr_register accepts for target_table. */
	parts = redtrack_split_name(req.target);
	if (parts == NIL || list_length(parts) > 2)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_NAME),
				 errmsg("invalid target table name \"%s\"", req.target),
				 errhint("Give a table name in identifier syntax, optionally schema-qualified: 'analytics.orders' or '\"Odd Name\"'.")));
	foreach(lc, parts)
	{
		if (strlen(lfirst(lc)) > REDSHIFT_MAX_IDENTIFIER)
			ereport(ERROR,
					(errcode(ERRCODE_NAME_TOO_LONG),
					 errmsg("target table name \"%s\" has a part longer than %d bytes",
							req.target, REDSHIFT_MAX_IDENTIFIER)));
	}
	refuse_reserved_target(req.target);
	if ((req.sortkey || req.distkey) && req.columns == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("sortkey and distkey need columns"),
				 errdetail("They shape the target table rrr_load creates from columns.")));

	PG_RETURN_INT64(tools_load(&req));
}
