/*-------------------------------------------------------------------------
 *
 * stream_def.c
 *	  A stream's definition: the declared fields and keys, their stored
 *	  form in redtrack.streams, and the Redshift table they make.
 *
 * The rules of a declaration are checked here once, for rrr_define_stream
 * and for every later reader of the stored form: a field has a known
 * Redshift type (typemap.h), a name of 1 to 63 bytes that is not
 * redtrack's own, at most the properties type, constraint and default.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "catalog/namespace.h"
#include "executor/spi.h"
#include "lib/stringinfo.h"
#include "utils/builtins.h"
#include "utils/json.h"
#include "utils/jsonb.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"

#include "guc.h"
#include "rs_ident.h"
#include "spi_util.h"
#include "stream.h"

/* ----------------------------------------------------------------
 * Types
 * ----------------------------------------------------------------
 */

static void
unknown_type(const char *stream, const char *field, const char *spec)
{
	ereport(ERROR,
			(errcode(ERRCODE_UNDEFINED_OBJECT),
			 errmsg("field \"%s\" of stream \"%s\" has unknown type \"%s\"", field, stream, spec),
			 errhint("Types are varchar(n), smallint, integer, bigint, boolean, double precision, "
					 "decimal(p,s), timestamp, timestamptz, date and super.")));
}

static void
parse_type(const char *stream, StreamField *f, const char *spec)
{
	switch (redshift_type_parse(spec, &f->type))
	{
		case RS_PARSE_OK:
			break;
		case RS_PARSE_BAD_LENGTH:
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("field \"%s\" of stream \"%s\": varchar length must be between 1 and %d bytes",
							f->name, stream, REDSHIFT_MAX_VARCHAR)));
			break;
		case RS_PARSE_BAD_DECIMAL:
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("field \"%s\" of stream \"%s\": decimal(%d,%d) is not a Redshift decimal",
							f->name, stream, f->type.precision, f->type.scale),
					 errhint("Precision is 1 to 38 digits, scale 0 to 37 and at most the precision.")));
			break;
		case RS_PARSE_UNKNOWN:
			unknown_type(stream, f->name, spec);
			break;
	}
}

/* ----------------------------------------------------------------
 * Declarations
 * ----------------------------------------------------------------
 */

static int
compare_fields(const void *a, const void *b)
{
	return strcmp(((const StreamField *) a)->name, ((const StreamField *) b)->name);
}

/* One key of a jsonb object, or NULL. */
static JsonbValue *
object_get(Jsonb *object, const char *key)
{
	JsonbValue	k;

	k.type = jbvString;
	k.val.string.val = (char *) key;
	k.val.string.len = strlen(key);
	return findJsonbValueFromContainer(&object->root, JB_FOBJECT, &k);
}

static void
check_field_name(const char *stream, const char *name)
{
	if (strlen(name) == 0 || strlen(name) >= NAMEDATALEN)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_NAME),
				 errmsg("stream \"%s\" has a field name of %zu bytes", stream, strlen(name)),
				 errhint("Field names are 1 to %d bytes.", NAMEDATALEN - 1)));
	if (pg_strncasecmp(name, STREAM_INTERNAL_PREFIX, strlen(STREAM_INTERNAL_PREFIX)) == 0)
		ereport(ERROR,
				(errcode(ERRCODE_RESERVED_NAME),
				 errmsg("field name \"%s\" of stream \"%s\" is reserved", name, stream),
				 errhint("Names starting with \"%s\" are redtrack's own columns.", STREAM_INTERNAL_PREFIX)));
}

/* A field's declaration as a JSON object whose keys are all known. */
static Jsonb *
field_spec(const char *stream, const char *name, JsonbValue *v)
{
	Jsonb	   *spec;
	JsonbIterator *it;
	JsonbValue	kv;
	JsonbIteratorToken tok;

	if (v->type != jbvBinary)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("field \"%s\" of stream \"%s\" must be declared as a JSON object", name, stream),
				 errhint("For example {\"type\": \"varchar(32)\", \"constraint\": \"not null\"}.")));
	spec = JsonbValueToJsonb(v);
	if (!JB_ROOT_IS_OBJECT(spec))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("field \"%s\" of stream \"%s\" must be declared as a JSON object", name, stream)));

	/* Unknown keys are mistakes, not silent extras. */
	it = JsonbIteratorInit(&spec->root);
	while ((tok = JsonbIteratorNext(&it, &kv, true)) != WJB_DONE)
	{
		if (tok == WJB_KEY)
		{
			char	   *key = pnstrdup(kv.val.string.val, kv.val.string.len);

			if (strcmp(key, "type") != 0 && strcmp(key, "constraint") != 0 &&
				strcmp(key, "default") != 0)
				ereport(ERROR,
						(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
						 errmsg("field \"%s\" of stream \"%s\" has unknown property \"%s\"",
								name, stream, key),
						 errhint("A field takes \"type\", \"constraint\" and \"default\".")));
		}
	}
	return spec;
}

/* One field from its declaration (name already set). */
static void
parse_field(const char *stream, StreamField *f, Jsonb *spec)
{
	const char *name = f->name;
	JsonbValue *type = object_get(spec, "type");
	JsonbValue *constraint;
	JsonbValue *def;

	if (type == NULL || type->type != jbvString)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("field \"%s\" of stream \"%s\" has no type", name, stream),
				 errhint("Give it {\"type\": \"...\"}.")));
	parse_type(stream, f, pnstrdup(type->val.string.val, type->val.string.len));

	constraint = object_get(spec, "constraint");
	if (constraint)
	{
		char	   *c = constraint->type == jbvString
			? redshift_normalize_spelling(pnstrdup(constraint->val.string.val, constraint->val.string.len))
			: "";

		if (strcmp(c, "not null") == 0)
			f->not_null = true;
		else if (strcmp(c, "null") != 0)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("field \"%s\" of stream \"%s\" has unknown constraint", name, stream),
					 errhint("The constraint is \"not null\" or \"null\".")));
	}

	def = object_get(spec, "default");
	if (def)
	{
		int			truncated = 0;

		f->has_default = true;
		f->default_is_null = (def->type == jbvNull);
		if (!f->default_is_null)
			f->default_value = stream_field_value(stream, f, def, &truncated);
		if (truncated)
			ereport(ERROR,
					(errcode(ERRCODE_STRING_DATA_RIGHT_TRUNCATION),
					 errmsg("default of field \"%s\" of stream \"%s\" is longer than %d bytes",
							name, stream, f->type.length)));
		if (f->default_is_null && f->not_null)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("field \"%s\" of stream \"%s\" is not null but defaults to null", name, stream)));
	}
}

StreamField *
stream_parse_definition(const char *stream, Jsonb *columns, int *nfields)
{
	JsonbIterator *it;
	JsonbValue	v;
	JsonbIteratorToken tok;
	StreamField *fields;
	int			n = 0;

	if (!JB_ROOT_IS_OBJECT(columns) || JB_ROOT_IS_SCALAR(columns))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("columns of stream \"%s\" must be a JSON object", stream),
				 errhint("For example '{\"user_id\": {\"type\": \"bigint\", \"constraint\": \"not null\"}}'.")));
	fields = palloc0(sizeof(StreamField) * Max(JB_ROOT_COUNT(columns), 1));

	it = JsonbIteratorInit(&columns->root);
	while ((tok = JsonbIteratorNext(&it, &v, true)) != WJB_DONE)
	{
		StreamField *f;
		char	   *name;

		if (tok != WJB_KEY)
			continue;
		name = pnstrdup(v.val.string.val, v.val.string.len);
		tok = JsonbIteratorNext(&it, &v, true);
		f = &fields[n++];
		check_field_name(stream, name);
		strlcpy(f->name, name, NAMEDATALEN);
		parse_field(stream, f, field_spec(stream, name, &v));
	}
	if (n == 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("stream \"%s\" declares no field", stream)));
	qsort(fields, n, sizeof(StreamField), compare_fields);
	*nfields = n;
	return fields;
}

StreamField *
stream_find_field(StreamField *fields, int n, const char *name)
{
	for (int i = 0; i < n; i++)
		if (strcmp(fields[i].name, name) == 0)
			return &fields[i];
	return NULL;
}

/*
 * Redshift folds column names to lower case, quoted ones too: two fields
 * whose names differ only in case would be one column there, and every
 * load of the stream would fail.  A pair of fields an older definition
 * already has is left alone, since fields can never be removed.
 */
void
stream_check_case_collisions(const char *stream, StreamField *fields, int n,
							 StreamField *old, int nold)
{
	for (int i = 0; i < n; i++)
	{
		bool		i_is_old = old != NULL && stream_find_field(old, nold, fields[i].name) != NULL;

		for (int j = i + 1; j < n; j++)
		{
			if (pg_strcasecmp(fields[i].name, fields[j].name) != 0)
				continue;
			if (i_is_old && stream_find_field(old, nold, fields[j].name) != NULL)
				continue;
			ereport(ERROR,
					(errcode(ERRCODE_DUPLICATE_COLUMN),
					 errmsg("fields \"%s\" and \"%s\" of stream \"%s\" differ only in case",
							fields[i].name, fields[j].name, stream),
					 errdetail("Redshift folds column names to lower case, quoted ones too: both would be one column."),
					 errhint("Give the fields names that differ in more than case.")));
		}
	}
}

/* sortkey: a comma-separated list of fields. */
List *
stream_parse_sortkey(const char *stream, const char *sortkey, StreamField *fields, int n)
{
	List	   *result = NIL;
	char	   *copy = pstrdup(sortkey);

	for (char *tok = strtok(copy, ","); tok; tok = strtok(NULL, ","))
	{
		char	   *name = tok;
		size_t		len;

		while (*name == ' ')
			name++;
		len = strlen(name);
		while (len > 0 && name[len - 1] == ' ')
			name[--len] = '\0';
		if (stream_find_field(fields, n, name) == NULL)
			ereport(ERROR,
					(errcode(ERRCODE_UNDEFINED_COLUMN),
					 errmsg("sort key \"%s\" is not a field of stream \"%s\"", name, stream)));
		result = lappend(result, pstrdup(name));
	}
	if (result == NIL)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("sort key of stream \"%s\" names no field", stream)));
	return result;
}

void
stream_check_distkey(const char *stream, const char *distkey, StreamField *fields, int n)
{
	if (strchr(distkey, ',') != NULL)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("stream \"%s\" names more than one distribution key", stream),
				 errhint("A Redshift table has at most one DISTKEY column.")));
	if (stream_find_field(fields, n, distkey) == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_COLUMN),
				 errmsg("distribution key \"%s\" is not a field of stream \"%s\"", distkey, stream)));
}

char *
stream_normalized_definition(Jsonb *columns, StreamField *fields, int n)
{
	StringInfoData out;

	initStringInfo(&out);
	appendStringInfoChar(&out, '{');
	for (int i = 0; i < n; i++)
	{
		JsonbValue *spec;

		if (i > 0)
			appendStringInfoString(&out, ", ");
		escape_json(&out, fields[i].name);
		appendStringInfoString(&out, ": {\"type\": ");
		escape_json(&out, redshift_type_spelling(&fields[i].type));
		if (fields[i].not_null)
			appendStringInfoString(&out, ", \"constraint\": \"not null\"");
		if (fields[i].has_default)
		{
			/* the default as given, re-read from the original definition */
			Jsonb	   *original = JsonbValueToJsonb(object_get(columns, fields[i].name));

			spec = object_get(original, "default");
			appendStringInfoString(&out, ", \"default\": ");
			appendStringInfoString(&out, JsonbToCString(NULL, &JsonbValueToJsonb(spec)->root, -1));
		}
		appendStringInfoChar(&out, '}');
	}
	appendStringInfoChar(&out, '}');
	return out.data;
}

/* ----------------------------------------------------------------
 * The stored definition
 * ----------------------------------------------------------------
 */

char *
stream_queue_table(const char *name)
{
	return psprintf("%s.%s", STREAMS_SCHEMA, quote_identifier(name));
}

void
stream_not_found(const char *name)
{
	ereport(ERROR,
			(errcode(ERRCODE_UNDEFINED_OBJECT),
			 errmsg("stream \"%s\" does not exist", name),
			 errhint("Declare it with rrr_define_stream('%s', '{...}').", name)));
}

StreamField *
stream_read_definition(const char *name, int *n, char **sortkey, char **distkey)
{
	SpiArgs		args = {0};
	MemoryContext caller = CurrentMemoryContext;
	StreamField *fields = NULL;

	spi_arg_text(&args, name);
	if (spi_run("SELECT columns, array_to_string(sortkey, ','), distkey FROM redtrack.streams "
				"WHERE name OPERATOR(pg_catalog.=) $1", &args, true) > 0)
	{
		bool		isnull;
		Jsonb	   *columns = DatumGetJsonbPCopy(SPI_getbinval(SPI_tuptable->vals[0],
															   SPI_tuptable->tupdesc, 1, &isnull));

		*sortkey = spi_get_text(caller, 0, 2);
		*distkey = spi_get_text(caller, 0, 3);
		fields = stream_parse_definition(name, columns, n);
	}
	return fields;
}

void
stream_release_def(StreamDef *def)
{
	if (def->cxt)
		MemoryContextDelete(def->cxt);
	def->cxt = NULL;
	def->fields = NULL;
	def->encoders = NULL;
	def->encoders_ready = false;
}

void
stream_load_def(StreamDef *def, MemoryContext parent)
{
	SpiArgs		args = {0};
	MemoryContext old;
	Jsonb	   *columns;
	bool		isnull;

	stream_release_def(def);
	def->cxt = AllocSetContextCreate(parent, "redtrack stream", ALLOCSET_SMALL_SIZES);
	spi_arg_text(&args, def->name);
	if (spi_run("SELECT queue_table::pg_catalog.oid, columns, lenient FROM redtrack.streams "
				"WHERE name OPERATOR(pg_catalog.=) $1", &args, true) == 0)
		stream_not_found(def->name);
	def->relid = DatumGetObjectId(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
	def->lenient = spi_get_bool(0, 3);
	old = MemoryContextSwitchTo(def->cxt);
	columns = DatumGetJsonbPCopy(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 2, &isnull));
	def->fields = stream_parse_definition(def->name, columns, &def->nfields);
	MemoryContextSwitchTo(old);
	def->has_double = false;
	for (int i = 0; i < def->nfields; i++)
		if (def->fields[i].type.kind == RS_DOUBLE)
			def->has_double = true;
}

bool
stream_catalog_has_enrichment(void)
{
	Oid			schema = get_namespace_oid("redtrack", true);
	Oid			streams = OidIsValid(schema) ? get_relname_relid("streams", schema) : InvalidOid;

	return OidIsValid(streams) && get_attnum(streams, "enrich") != InvalidAttrNumber &&
		OidIsValid(get_relname_relid("rejected_events", schema));
}

/* ----------------------------------------------------------------
 * The Redshift table
 * ----------------------------------------------------------------
 */

/* A declared field's warehouse type, or NULL (call inside SPI). */
char *
redtrack_stream_field_type(const char *stream, const char *field)
{
	StreamField *fields;
	int			n;
	char	   *sortkey;
	char	   *distkey;
	StreamField *f;
	MemoryContext caller = CurrentMemoryContext;
	char	   *type = NULL;

	SPI_connect();
	fields = stream_read_definition(stream, &n, &sortkey, &distkey);
	f = fields ? stream_find_field(fields, n, field) : NULL;
	/* the fields live in SPI's procedure context, which SPI_finish frees */
	if (f != NULL)
		type = MemoryContextStrdup(caller,
								   redshift_type_sql(&f->type, redtrack_target_dialect == REDTRACK_DIALECT_POSTGRES));
	SPI_finish();
	return type;
}

/* CREATE TABLE on the warehouse for these fields. */
static char *
fields_ddl(const char *stream, const char *table_sql, StreamField *fields, int n,
		   const char *sortkey, const char *distkey, bool postgres_dialect)
{
	StringInfoData ddl;

	initStringInfo(&ddl);
	appendStringInfo(&ddl, "CREATE TABLE %s (\n", table_sql);
	for (int i = 0; i < n; i++)
		appendStringInfo(&ddl, "    %s %s%s%s\n", rs_quote_identifier(fields[i].name),
						 redshift_type_sql(&fields[i].type, postgres_dialect),
						 fields[i].not_null ? " NOT NULL" : "", i + 1 < n ? "," : "");
	appendStringInfoChar(&ddl, ')');
	if (!postgres_dialect)
	{
		if (distkey)
			appendStringInfo(&ddl, "\nDISTSTYLE KEY DISTKEY (%s)", rs_quote_identifier(distkey));
		else
			appendStringInfoString(&ddl, "\nDISTSTYLE AUTO");
		if (sortkey)
		{
			List	   *keys = stream_parse_sortkey(stream, sortkey, fields, n);
			ListCell   *lc;

			appendStringInfoString(&ddl, "\nCOMPOUND SORTKEY (");
			foreach(lc, keys)
				appendStringInfo(&ddl, "%s%s", lc == list_head(keys) ? "" : ", ",
								 rs_quote_identifier(lfirst(lc)));
			appendStringInfoChar(&ddl, ')');
		}
	}
	return ddl.data;
}

char *
redtrack_stream_ddl(const char *stream)
{
	MemoryContext caller = CurrentMemoryContext;
	StreamField *fields;
	int			n;
	char	   *sortkey = NULL;
	char	   *distkey = NULL;
	bool		postgres_dialect = (redtrack_target_dialect == REDTRACK_DIALECT_POSTGRES);
	char	   *result;

	SPI_connect();
	fields = stream_read_definition(stream, &n, &sortkey, &distkey);
	if (fields == NULL)
		stream_not_found(stream);
	result = MemoryContextStrdup(caller, fields_ddl(stream, rs_quote_identifier(stream), fields, n,
													sortkey, distkey, postgres_dialect));
	SPI_finish();
	return result;
}

/*
 * A table declared in rrr_define_stream's columns form, checked by the
 * same rules (rrr_load creates its target from it): the CREATE TABLE for
 * table_sql, and each column's name and warehouse type, in name order.
 */
char *
redtrack_columns_ddl(const char *table, const char *table_sql, Jsonb *columns,
					 const char *sortkey, const char *distkey, bool postgres_dialect,
					 List **names, List **types)
{
	int			n;
	StreamField *fields = stream_parse_definition(table, columns, &n);

	stream_check_case_collisions(table, fields, n, NULL, 0);
	if (distkey)
		stream_check_distkey(table, distkey, fields, n);
	*names = NIL;
	*types = NIL;
	for (int i = 0; i < n; i++)
	{
		*names = lappend(*names, pstrdup(fields[i].name));
		*types = lappend(*types, redshift_type_sql(&fields[i].type, postgres_dialect));
	}
	return fields_ddl(table, table_sql, fields, n, sortkey, distkey, postgres_dialect);
}
