/*-------------------------------------------------------------------------
 *
 * events.c
 *	  rrr_define_stream, rrr_write, rrr_write_batch, rrr_stream_ddl,
 *	  rrr_drop_stream.
 *
 * A stream's columns are declared once, with Redshift's types.  Its queue
 * table lives in schema redtrack_streams: an internal event id and enqueue
 * time, then the declared columns (sorted by name: jsonb does not keep the
 * order of keys).  rrr_write checks an event against the declaration and
 * inserts it; the checks are done in C, with a per-backend cache of each
 * stream's columns and a prepared INSERT, so a write costs about what a
 * plain INSERT does.  The cache is dropped when the queue table changes
 * (relcache invalidation), which is what redefining a stream does.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#if PG_VERSION_NUM >= 160000
#include "varatt.h"
#endif

#include <ctype.h>

#include "access/xact.h"
#include "catalog/namespace.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "funcapi.h"
#include "lib/stringinfo.h"
#include "mb/pg_wchar.h"
#include "miscadmin.h"
#include "utils/acl.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/date.h"
#include "utils/datetime.h"
#include "utils/float.h"
#include "utils/fmgrprotos.h"
#include "utils/guc.h"
#include "utils/hsearch.h"
#include "utils/inval.h"
#include "utils/json.h"
#include "utils/jsonb.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/numeric.h"
#include "utils/timestamp.h"

#include "csv.h"
#include "events.h"
#include "guc.h"
#include "ownership.h"
#include "redshift.h"
#include "registry.h"
#include "rs_ident.h"
#include "spi_util.h"
#include "typemap.h"

PG_FUNCTION_INFO_V1(rrr_define_stream);
PG_FUNCTION_INFO_V1(rrr_write);
PG_FUNCTION_INFO_V1(rrr_write_batch);
PG_FUNCTION_INFO_V1(rrr_stream_ddl);
PG_FUNCTION_INFO_V1(rrr_drop_stream);
PG_FUNCTION_INFO_V1(redtrack_stream_backlog);

#define WRITER_ROLE "redtrack_writer"
#define MAX_VARCHAR 65535
#define INTERNAL_PREFIX "redtrack_"

typedef enum FieldType
{
	FT_VARCHAR,
	FT_SMALLINT,
	FT_INTEGER,
	FT_BIGINT,
	FT_BOOLEAN,
	FT_DOUBLE,
	FT_DECIMAL,
	FT_TIMESTAMP,
	FT_TIMESTAMPTZ,
	FT_DATE,
	FT_SUPER
} FieldType;

typedef struct Field
{
	char		name[NAMEDATALEN];
	FieldType	type;
	int			length;			/* varchar: bytes */
	int			precision;		/* decimal */
	int			scale;
	bool		not_null;
	bool		has_default;
	Datum		default_value;	/* typed, in the cache's memory */
	bool		default_is_null;
} Field;

/* ----------------------------------------------------------------
 * Types
 * ----------------------------------------------------------------
 */

static const char *const type_names[] = {
	"varchar(n)", "smallint", "integer", "bigint", "boolean", "double precision",
	"decimal(p,s)", "timestamp", "timestamptz", "date", "super"
};

static char *
normalize_spaces(const char *s)
{
	StringInfoData out;
	bool		space = false;

	initStringInfo(&out);
	for (; *s; s++)
	{
		if (*s == ' ' || *s == '\t' || *s == '\n')
		{
			space = true;
			continue;
		}
		if (space && out.len > 0 && isalpha((unsigned char) *s) &&
			isalpha((unsigned char) out.data[out.len - 1]))
			appendStringInfoChar(&out, ' ');
		space = false;
		appendStringInfoChar(&out, pg_ascii_tolower((unsigned char) *s));
	}
	return out.data;
}

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
parse_type(const char *stream, Field *f, const char *spec)
{
	char	   *t = normalize_spaces(spec);
	int			a,
				b;
	char		tail;

	if (sscanf(t, "varchar(%d)%c", &a, &tail) == 1 ||
		sscanf(t, "character varying(%d)%c", &a, &tail) == 1)
	{
		if (a < 1 || a > MAX_VARCHAR)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("field \"%s\" of stream \"%s\": varchar length must be between 1 and %d bytes",
							f->name, stream, MAX_VARCHAR)));
		f->type = FT_VARCHAR;
		f->length = a;
	}
	else if (sscanf(t, "decimal(%d,%d)%c", &a, &b, &tail) == 2 ||
			 sscanf(t, "numeric(%d,%d)%c", &a, &b, &tail) == 2)
	{
		if (a < 1 || a > 38 || b < 0 || b > a || b > 37)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("field \"%s\" of stream \"%s\": decimal(%d,%d) is not a Redshift decimal",
							f->name, stream, a, b),
					 errhint("Precision is 1 to 38 digits, scale 0 to 37 and at most the precision.")));
		f->type = FT_DECIMAL;
		f->precision = a;
		f->scale = b;
	}
	else if (strcmp(t, "smallint") == 0 || strcmp(t, "int2") == 0)
		f->type = FT_SMALLINT;
	else if (strcmp(t, "integer") == 0 || strcmp(t, "int") == 0 || strcmp(t, "int4") == 0)
		f->type = FT_INTEGER;
	else if (strcmp(t, "bigint") == 0 || strcmp(t, "int8") == 0)
		f->type = FT_BIGINT;
	else if (strcmp(t, "boolean") == 0 || strcmp(t, "bool") == 0)
		f->type = FT_BOOLEAN;
	else if (strcmp(t, "double precision") == 0 || strcmp(t, "float8") == 0)
		f->type = FT_DOUBLE;
	else if (strcmp(t, "timestamp") == 0 || strcmp(t, "timestamp without time zone") == 0)
		f->type = FT_TIMESTAMP;
	else if (strcmp(t, "timestamptz") == 0 || strcmp(t, "timestamp with time zone") == 0)
		f->type = FT_TIMESTAMPTZ;
	else if (strcmp(t, "date") == 0)
		f->type = FT_DATE;
	else if (strcmp(t, "super") == 0)
		f->type = FT_SUPER;
	else
		unknown_type(stream, f->name, spec);
}

/* The canonical spelling, as stored in redtrack.streams. */
static char *
type_spelling(Field *f)
{
	switch (f->type)
	{
		case FT_VARCHAR:
			return psprintf("varchar(%d)", f->length);
		case FT_DECIMAL:
			return psprintf("decimal(%d,%d)", f->precision, f->scale);
		default:
			return pstrdup(type_names[f->type]);
	}
}

/* The queue table's column type. */
static char *
queue_type(Field *f)
{
	switch (f->type)
	{
		case FT_VARCHAR:
			return "text";		/* the length is in bytes: rrr_write enforces it */
		case FT_SMALLINT:
			return "smallint";
		case FT_INTEGER:
			return "integer";
		case FT_BIGINT:
			return "bigint";
		case FT_BOOLEAN:
			return "boolean";
		case FT_DOUBLE:
			return "double precision";
		case FT_DECIMAL:
			return psprintf("numeric(%d,%d)", f->precision, f->scale);
		case FT_TIMESTAMP:
			return "timestamp";
		case FT_TIMESTAMPTZ:
			return "timestamptz";
		case FT_DATE:
			return "date";
		case FT_SUPER:
			return "jsonb";
	}
	return "text";
}

static Oid
queue_type_oid(Field *f, int32 *typmod)
{
	*typmod = -1;
	switch (f->type)
	{
		case FT_VARCHAR:
			return TEXTOID;
		case FT_SMALLINT:
			return INT2OID;
		case FT_INTEGER:
			return INT4OID;
		case FT_BIGINT:
			return INT8OID;
		case FT_BOOLEAN:
			return BOOLOID;
		case FT_DOUBLE:
			return FLOAT8OID;
		case FT_DECIMAL:
			*typmod = ((f->precision << 16) | f->scale) + VARHDRSZ;
			return NUMERICOID;
		case FT_TIMESTAMP:
			return TIMESTAMPOID;
		case FT_TIMESTAMPTZ:
			return TIMESTAMPTZOID;
		case FT_DATE:
			return DATEOID;
		case FT_SUPER:
			return JSONBOID;
	}
	return TEXTOID;
}

/* The warehouse column type. */
static char *
warehouse_type(Field *f, bool postgres_dialect)
{
	switch (f->type)
	{
		case FT_VARCHAR:
			return psprintf("VARCHAR(%d)", f->length);
		case FT_DECIMAL:
			return psprintf("DECIMAL(%d,%d)", f->precision, f->scale);
		case FT_SUPER:
			return postgres_dialect ? "JSONB" : "SUPER";
		case FT_DOUBLE:
			return "DOUBLE PRECISION";
		default:
			{
				char	   *upper = pstrdup(type_names[f->type]);

				for (char *p = upper; *p; p++)
					*p = pg_ascii_toupper((unsigned char) *p);
				return upper;
			}
	}
}

/* ----------------------------------------------------------------
 * Values: JSON -> typed Datum
 * ----------------------------------------------------------------
 */

typedef struct FieldContext
{
	const char *stream;
	const char *field;
} FieldContext;

static void
field_error_context(void *arg)
{
	FieldContext *fc = arg;

	errcontext("field \"%s\" of stream \"%s\"", fc->field, fc->stream);
}

static const char *
json_kind(JsonbValue *v)
{
	switch (v->type)
	{
		case jbvString:
			return "a string";
		case jbvNumeric:
			return "a number";
		case jbvBool:
			return "a boolean";
		case jbvNull:
			return "null";
		default:
			return "an object or array";
	}
}

static void
wrong_type(const char *stream, Field *f, JsonbValue *v, const char *want)
{
	ereport(ERROR,
			(errcode(ERRCODE_DATATYPE_MISMATCH),
			 errmsg("field \"%s\" of stream \"%s\" must be %s, not %s",
					f->name, stream, want, json_kind(v)),
			 errdetail("The field is declared %s.", type_spelling(f))));
}

static int64
integer_value(const char *stream, Field *f, JsonbValue *v, int64 min, int64 max)
{
	char	   *text;
	char	   *dot;
	char	   *end;
	int64		n;

	if (v->type != jbvNumeric)
		wrong_type(stream, f, v, "an integer");
	text = DatumGetCString(DirectFunctionCall1(numeric_out, NumericGetDatum(v->val.numeric)));
	dot = strchr(text, '.');
	if (dot)
	{
		for (char *p = dot + 1; *p; p++)
			if (*p != '0')
				ereport(ERROR,
						(errcode(ERRCODE_DATATYPE_MISMATCH),
						 errmsg("field \"%s\" of stream \"%s\" must be an integer, not %s",
								f->name, stream, text)));
		*dot = '\0';
	}
	errno = 0;
	n = strtoll(text, &end, 10);
	if (errno == ERANGE || *end != '\0' || n < min || n > max)
		ereport(ERROR,
				(errcode(ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE),
				 errmsg("value %s of field \"%s\" of stream \"%s\" is out of range for type %s",
						text, f->name, stream, type_names[f->type])));
	return n;
}

/* ----------------------------------------------------------------
 * ISO 8601 dates and times
 * ----------------------------------------------------------------
 */

typedef enum IsoResult
{
	ISO_OK,
	ISO_SYNTAX,
	ISO_RANGE
} IsoResult;

/* Exactly n decimal digits at *p. */
static bool
read_digits(const char **p, const char *end, int n, int *value)
{
	int			v = 0;

	if (end - *p < n)
		return false;
	for (int i = 0; i < n; i++)
	{
		char		c = (*p)[i];

		if (c < '0' || c > '9')
			return false;
		v = v * 10 + (c - '0');
	}
	*p += n;
	*value = v;
	return true;
}

/*
 * An event's date or timestamp, read without the writer's DateStyle or
 * TimeZone, so that the same text is the same value in every session
 * (timestamp_in reads "01/02/2024" by DateStyle, an unzoned timestamptz in
 * TimeZone, and takes "now", "epoch" and "infinity").  Accepted:
 *
 *	 YYYY-MM-DD
 *	 YYYY-MM-DD(T| )HH:MM[:SS[(.|,)fraction]][Z | (+|-)HH[[:]MM[:SS]]]
 *
 * the second for timestamps only.  A timestamptz without an offset is UTC;
 * a timestamp keeps its wall-clock time and ignores an offset, as
 * PostgreSQL and Redshift do.  Years are 0001 to 9999, also once converted
 * to UTC: the export writes no others (it would clamp them).  Fractions
 * are rounded to microseconds.  Offsets may have seconds because
 * PostgreSQL's own JSON writes them for historical local times.
 */
static IsoResult
parse_iso8601(const char *s, size_t len, FieldType type, Datum *result)
{
	const char *p = s;
	const char *end = s + len;
	struct pg_tm tm;
	fsec_t		fsec = 0;
	int			tz = 0;			/* seconds west of UTC, as PostgreSQL counts */
	Timestamp	ts;

	memset(&tm, 0, sizeof(tm));
	if (!read_digits(&p, end, 4, &tm.tm_year) || p == end || *p++ != '-' ||
		!read_digits(&p, end, 2, &tm.tm_mon) || p == end || *p++ != '-' ||
		!read_digits(&p, end, 2, &tm.tm_mday))
		return ISO_SYNTAX;
	if (p < end)
	{
		if (type == FT_DATE || (*p != 'T' && *p != 't' && *p != ' '))
			return ISO_SYNTAX;
		p++;
		if (!read_digits(&p, end, 2, &tm.tm_hour) || p == end || *p++ != ':' ||
			!read_digits(&p, end, 2, &tm.tm_min))
			return ISO_SYNTAX;
		if (p < end && *p == ':')
		{
			p++;
			if (!read_digits(&p, end, 2, &tm.tm_sec))
				return ISO_SYNTAX;
			if (p < end && (*p == '.' || *p == ','))
			{
				int			digits = 0;
				bool		round_up = false;

				for (p++; p < end && *p >= '0' && *p <= '9'; p++, digits++)
				{
					if (digits < 6)
						fsec = fsec * 10 + (*p - '0');
					else if (digits == 6)
						round_up = (*p >= '5');
				}
				if (digits == 0)
					return ISO_SYNTAX;
				for (int i = digits; i < 6; i++)
					fsec *= 10;
				if (round_up)
					fsec++;
			}
		}
		if (p < end)
		{
			if ((*p == 'Z' || *p == 'z') && p + 1 == end)
				p++;
			else if (*p == '+' || *p == '-')
			{
				int			sign = (*p++ == '+') ? 1 : -1;
				int			hours;
				int			minutes = 0;
				int			seconds = 0;

				if (!read_digits(&p, end, 2, &hours))
					return ISO_SYNTAX;
				if (p < end && *p == ':')
				{
					p++;
					if (!read_digits(&p, end, 2, &minutes))
						return ISO_SYNTAX;
					if (p < end && *p == ':')
					{
						p++;
						if (!read_digits(&p, end, 2, &seconds))
							return ISO_SYNTAX;
					}
				}
				else if (p < end && !read_digits(&p, end, 2, &minutes))
					return ISO_SYNTAX;
				if (p != end)
					return ISO_SYNTAX;
				/* PostgreSQL's limit; real offsets go to 14 hours */
				if (hours > 15 || minutes > 59 || seconds > 59)
					return ISO_RANGE;
				tz = -sign * (hours * SECS_PER_HOUR + minutes * SECS_PER_MINUTE + seconds);
			}
			else
				return ISO_SYNTAX;
		}
		if (tm.tm_hour > 23 || tm.tm_min > 59 || tm.tm_sec > 59)
			return ISO_RANGE;
	}
	if (tm.tm_year < 1 || tm.tm_mon < 1 || tm.tm_mon > MONTHS_PER_YEAR || tm.tm_mday < 1 ||
		tm.tm_mday > day_tab[isleap(tm.tm_year)][tm.tm_mon - 1])
		return ISO_RANGE;

	if (type == FT_DATE)
	{
		*result = DateADTGetDatum(date2j(tm.tm_year, tm.tm_mon, tm.tm_mday) - POSTGRES_EPOCH_JDATE);
		return ISO_OK;
	}
	if (tm2timestamp(&tm, fsec, type == FT_TIMESTAMPTZ ? &tz : NULL, &ts) != 0 ||
		ts < (Timestamp) (date2j(1, 1, 1) - POSTGRES_EPOCH_JDATE) * USECS_PER_DAY ||
		ts >= (Timestamp) (date2j(10000, 1, 1) - POSTGRES_EPOCH_JDATE) * USECS_PER_DAY)
		return ISO_RANGE;
	*result = TimestampGetDatum(ts);
	return ISO_OK;
}

/* A date or time field's value, or a clear error. */
static Datum
datetime_value(const char *stream, Field *f, JsonbValue *v)
{
	const char *text = v->val.string.val;
	int			len = v->val.string.len;
	int			shown = pg_mbcliplen(text, len, 64);
	Datum		result;

	switch (parse_iso8601(text, (size_t) len, f->type, &result))
	{
		case ISO_OK:
			break;
		case ISO_SYNTAX:
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_DATETIME_FORMAT),
					 errmsg("field \"%s\" of stream \"%s\" must be a string in ISO 8601 form, not \"%.*s\"%s",
							f->name, stream, shown, text, shown < len ? "..." : ""),
					 errdetail("The field is declared %s.", type_spelling(f)),
					 f->type == FT_DATE
					 ? errhint("Write a date as \"2024-05-01\".")
					 : f->type == FT_TIMESTAMPTZ
					 ? errhint("Write \"2024-05-01T12:00:00Z\" or \"2024-05-01T14:00:00+02:00\"; a time without an offset is UTC.")
					 : errhint("Write \"2024-05-01T12:00:00\"; an offset is ignored.")));
			break;
		case ISO_RANGE:
			ereport(ERROR,
					(errcode(ERRCODE_DATETIME_FIELD_OVERFLOW),
					 errmsg("value \"%.*s\"%s of field \"%s\" of stream \"%s\" is out of range for type %s",
							shown, text, shown < len ? "..." : "", f->name, stream, type_names[f->type]),
					 errhint("Years are 0001 to 9999 (also in UTC), hours 00 to 23, minutes and "
							 "seconds 00 to 59, offsets at most 15:59.")));
			break;
	}
	return result;
}

/*
 * A field's value from JSON.  Strings longer than the declared length are
 * cut on a character boundary and counted in *truncated.
 */
static Datum
field_value(const char *stream, Field *f, JsonbValue *v, int *truncated)
{
	FieldContext fc = {stream, f->name};
	ErrorContextCallback callback;
	Datum		result = (Datum) 0;

	callback.callback = field_error_context;
	callback.arg = &fc;
	callback.previous = error_context_stack;
	error_context_stack = &callback;

	switch (f->type)
	{
		case FT_VARCHAR:
			{
				size_t		len;
				size_t		keep;

				if (v->type != jbvString)
					wrong_type(stream, f, v, "a string");
				len = v->val.string.len;
				/* Redshift counts bytes of UTF-8. */
				keep = utf8_prefix_bytes(v->val.string.val, len, (size_t) f->length);
				if (keep < len)
					(*truncated)++;
				result = PointerGetDatum(cstring_to_text_with_len(v->val.string.val, (int) keep));
				break;
			}
		case FT_SMALLINT:
			result = Int16GetDatum((int16) integer_value(stream, f, v, PG_INT16_MIN, PG_INT16_MAX));
			break;
		case FT_INTEGER:
			result = Int32GetDatum((int32) integer_value(stream, f, v, PG_INT32_MIN, PG_INT32_MAX));
			break;
		case FT_BIGINT:
			result = Int64GetDatum(integer_value(stream, f, v, PG_INT64_MIN, PG_INT64_MAX));
			break;
		case FT_BOOLEAN:
			if (v->type != jbvBool)
				wrong_type(stream, f, v, "a boolean");
			result = BoolGetDatum(v->val.boolean);
			break;
		case FT_DOUBLE:
			if (v->type != jbvNumeric)
				wrong_type(stream, f, v, "a number");
			result = DirectFunctionCall1(numeric_float8, NumericGetDatum(v->val.numeric));
			break;
		case FT_DECIMAL:
			if (v->type != jbvNumeric)
				wrong_type(stream, f, v, "a number");
			result = DirectFunctionCall2(numeric, NumericGetDatum(v->val.numeric),
										 Int32GetDatum(((f->precision << 16) | f->scale) + VARHDRSZ));
			break;
		case FT_TIMESTAMP:
		case FT_TIMESTAMPTZ:
		case FT_DATE:
			{
				if (v->type != jbvString)
					wrong_type(stream, f, v, "a string in ISO 8601 form");
				result = datetime_value(stream, f, v);
				break;
			}
		case FT_SUPER:
			result = JsonbPGetDatum(JsonbValueToJsonb(v));
			break;
	}

	error_context_stack = callback.previous;
	return result;
}

/* ----------------------------------------------------------------
 * Definitions
 * ----------------------------------------------------------------
 */

static int
compare_fields(const void *a, const void *b)
{
	return strcmp(((const Field *) a)->name, ((const Field *) b)->name);
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

/*
 * Parse a columns definition (or its stored normalized form) into fields
 * sorted by name.  With check, every rule is enforced with a clear error.
 */
static Field *
parse_definition(const char *stream, Jsonb *columns, int *nfields)
{
	JsonbIterator *it;
	JsonbValue	v;
	JsonbIteratorToken tok;
	Field	   *fields;
	int			n = 0;
	int			cap;

	if (!JB_ROOT_IS_OBJECT(columns) || JB_ROOT_IS_SCALAR(columns))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("columns of stream \"%s\" must be a JSON object", stream),
				 errhint("For example '{\"user_id\": {\"type\": \"bigint\", \"constraint\": \"not null\"}}'.")));
	cap = Max(JB_ROOT_COUNT(columns), 1);
	fields = palloc0(sizeof(Field) * cap);

	it = JsonbIteratorInit(&columns->root);
	while ((tok = JsonbIteratorNext(&it, &v, true)) != WJB_DONE)
	{
		Field	   *f;
		char	   *name;
		Jsonb	   *spec;
		JsonbValue *type;
		JsonbValue *constraint;
		JsonbValue *def;
		JsonbIterator *sit;
		JsonbValue	sv;
		JsonbIteratorToken stok;

		if (tok != WJB_KEY)
			continue;
		name = pnstrdup(v.val.string.val, v.val.string.len);
		tok = JsonbIteratorNext(&it, &v, true);
		f = &fields[n++];
		if (strlen(name) == 0 || strlen(name) >= NAMEDATALEN)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_NAME),
					 errmsg("stream \"%s\" has a field name of %zu bytes", stream, strlen(name)),
					 errhint("Field names are 1 to %d bytes.", NAMEDATALEN - 1)));
		if (pg_strncasecmp(name, INTERNAL_PREFIX, strlen(INTERNAL_PREFIX)) == 0)
			ereport(ERROR,
					(errcode(ERRCODE_RESERVED_NAME),
					 errmsg("field name \"%s\" of stream \"%s\" is reserved", name, stream),
					 errhint("Names starting with \"%s\" are redtrack's own columns.", INTERNAL_PREFIX)));
		strlcpy(f->name, name, NAMEDATALEN);

		if (v.type != jbvBinary)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("field \"%s\" of stream \"%s\" must be declared as a JSON object", name, stream),
					 errhint("For example {\"type\": \"varchar(32)\", \"constraint\": \"not null\"}.")));
		spec = JsonbValueToJsonb(&v);
		if (!JB_ROOT_IS_OBJECT(spec))
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("field \"%s\" of stream \"%s\" must be declared as a JSON object", name, stream)));

		/* Unknown keys are mistakes, not silent extras. */
		sit = JsonbIteratorInit(&spec->root);
		while ((stok = JsonbIteratorNext(&sit, &sv, true)) != WJB_DONE)
		{
			if (stok == WJB_KEY)
			{
				char	   *key = pnstrdup(sv.val.string.val, sv.val.string.len);

				if (strcmp(key, "type") != 0 && strcmp(key, "constraint") != 0 &&
					strcmp(key, "default") != 0)
					ereport(ERROR,
							(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
							 errmsg("field \"%s\" of stream \"%s\" has unknown property \"%s\"",
									name, stream, key),
							 errhint("A field takes \"type\", \"constraint\" and \"default\".")));
			}
		}

		type = object_get(spec, "type");
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
				? normalize_spaces(pnstrdup(constraint->val.string.val, constraint->val.string.len))
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
				f->default_value = field_value(stream, f, def, &truncated);
			if (truncated)
				ereport(ERROR,
						(errcode(ERRCODE_STRING_DATA_RIGHT_TRUNCATION),
						 errmsg("default of field \"%s\" of stream \"%s\" is longer than %d bytes",
								name, stream, f->length)));
			if (f->default_is_null && f->not_null)
				ereport(ERROR,
						(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
						 errmsg("field \"%s\" of stream \"%s\" is not null but defaults to null", name, stream)));
		}
	}
	if (n == 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("stream \"%s\" declares no field", stream)));
	qsort(fields, n, sizeof(Field), compare_fields);
	*nfields = n;
	return fields;
}

static Field *
find_field(Field *fields, int n, const char *name)
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
static void
check_case_collisions(const char *stream, Field *fields, int n, Field *old, int nold)
{
	for (int i = 0; i < n; i++)
	{
		bool		i_is_old = old != NULL && find_field(old, nold, fields[i].name) != NULL;

		for (int j = i + 1; j < n; j++)
		{
			if (pg_strcasecmp(fields[i].name, fields[j].name) != 0)
				continue;
			if (i_is_old && find_field(old, nold, fields[j].name) != NULL)
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
static List *
parse_sortkey(const char *stream, const char *sortkey, Field *fields, int n)
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
		if (find_field(fields, n, name) == NULL)
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

static void
check_distkey(const char *stream, const char *distkey, Field *fields, int n)
{
	if (strchr(distkey, ',') != NULL)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("stream \"%s\" names more than one distribution key", stream),
				 errhint("A Redshift table has at most one DISTKEY column.")));
	if (find_field(fields, n, distkey) == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_COLUMN),
				 errmsg("distribution key \"%s\" is not a field of stream \"%s\"", distkey, stream)));
}

static char *
join_names(List *names)
{
	StringInfoData out;
	ListCell   *lc;

	initStringInfo(&out);
	foreach(lc, names)
		appendStringInfo(&out, "%s%s", out.len > 0 ? "," : "", (char *) lfirst(lc));
	return out.data;
}

static Datum
names_array(List *names)
{
	Datum	   *elems = palloc(sizeof(Datum) * list_length(names));
	int			i = 0;
	ListCell   *lc;

	foreach(lc, names)
		elems[i++] = CStringGetTextDatum(lfirst(lc));
	return PointerGetDatum(construct_array(elems, i, TEXTOID, -1, false, TYPALIGN_INT));
}

/* The stored, normalized definition: {"field": {"type": ..., ...}}. */
static char *
normalized_definition(Jsonb *columns, Field *fields, int n)
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
		escape_json(&out, type_spelling(&fields[i]));
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
 * The per-backend stream cache
 * ----------------------------------------------------------------
 */

typedef struct StreamEntry
{
	char		name[NAMEDATALEN];	/* hash key */
	bool		valid;
	Oid			relid;
	Oid			owner;
	bool		lenient;
	int			nfields;
	Field	   *fields;
	SPIPlanPtr	insert;
	MemoryContext cxt;
	bool		has_double;		/* a field whose text depends on a setting */
	/* the export's encoding of each field, for one dialect (or none yet) */
	ColumnMap **encoders;
	bool		encoders_ready;
	bool		encoders_postgres;
} StreamEntry;

static HTAB *streams = NULL;

static void
invalidate_streams(Datum arg, Oid relid)
{
	HASH_SEQ_STATUS status;
	StreamEntry *entry;

	if (streams == NULL)
		return;
	hash_seq_init(&status, streams);
	while ((entry = hash_seq_search(&status)) != NULL)
	{
		if (relid == InvalidOid || entry->relid == relid)
			entry->valid = false;
	}
}

static void
release_entry(StreamEntry *entry)
{
	if (entry->insert)
		SPI_freeplan(entry->insert);
	entry->insert = NULL;
	if (entry->cxt)
		MemoryContextDelete(entry->cxt);
	entry->cxt = NULL;
	entry->fields = NULL;
	entry->encoders = NULL;
	entry->encoders_ready = false;
}

static void
stream_not_found(const char *name)
{
	ereport(ERROR,
			(errcode(ERRCODE_UNDEFINED_OBJECT),
			 errmsg("stream \"%s\" does not exist", name),
			 errhint("Declare it with rrr_define_stream('%s', '{...}').", name)));
}

/* Read a stream's definition and prepare its INSERT (in SPI). */
static void
load_entry(StreamEntry *entry)
{
	SpiArgs		args = {0};
	OwnerScope	scope;
	MemoryContext old;
	Jsonb	   *columns;
	StringInfoData sql;
	Oid		   *argtypes;
	bool		isnull;

	release_entry(entry);
	entry->cxt = AllocSetContextCreate(CacheMemoryContext, "redtrack stream",
									   ALLOCSET_SMALL_SIZES);

	SPI_connect();
	redtrack_enter_owner_scope(&scope);
	spi_arg_text(&args, entry->name);
	if (spi_run("SELECT queue_table::pg_catalog.oid, columns, lenient FROM redtrack.streams "
				"WHERE name OPERATOR(pg_catalog.=) $1", &args, true) == 0)
	{
		redtrack_leave_owner_scope(&scope);
		SPI_finish();
		stream_not_found(entry->name);
	}
	entry->relid = DatumGetObjectId(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
	entry->lenient = spi_get_bool(0, 3);
	entry->owner = redtrack_owner_oid();
	old = MemoryContextSwitchTo(entry->cxt);
	columns = DatumGetJsonbPCopy(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 2, &isnull));
	entry->fields = parse_definition(entry->name, columns, &entry->nfields);
	MemoryContextSwitchTo(old);
	entry->has_double = false;
	for (int i = 0; i < entry->nfields; i++)
		if (entry->fields[i].type == FT_DOUBLE)
			entry->has_double = true;

	initStringInfo(&sql);
	appendStringInfo(&sql, "INSERT INTO %s.%s (", STREAMS_SCHEMA, quote_identifier(entry->name));
	argtypes = palloc(sizeof(Oid) * entry->nfields);
	for (int i = 0; i < entry->nfields; i++)
	{
		int32		typmod;

		appendStringInfo(&sql, "%s%s", i > 0 ? ", " : "", quote_identifier(entry->fields[i].name));
		argtypes[i] = queue_type_oid(&entry->fields[i], &typmod);
	}
	appendStringInfoString(&sql, ") VALUES (");
	for (int i = 0; i < entry->nfields; i++)
		appendStringInfo(&sql, "%s$%d", i > 0 ? ", " : "", i + 1);
	appendStringInfoString(&sql, ") RETURNING redtrack_event_id");
	entry->insert = SPI_prepare(sql.data, entry->nfields, argtypes);
	if (entry->insert == NULL)
		elog(ERROR, "SPI_prepare failed: %s", SPI_result_code_string(SPI_result));
	SPI_keepplan(entry->insert);
	redtrack_leave_owner_scope(&scope);
	SPI_finish();
	entry->valid = true;
}

static StreamEntry *
lookup_stream(const char *name)
{
	StreamEntry *entry;
	bool		found;
	char		key[NAMEDATALEN] = {0};

	if (strlen(name) >= NAMEDATALEN)
		stream_not_found(name);
	if (streams == NULL)
	{
		HASHCTL		ctl;

		ctl.keysize = NAMEDATALEN;
		ctl.entrysize = sizeof(StreamEntry);
		streams = hash_create("redtrack streams", 16, &ctl, HASH_ELEM | HASH_STRINGS);
		CacheRegisterRelcacheCallback(invalidate_streams, (Datum) 0);
	}
	strlcpy(key, name, NAMEDATALEN);
	entry = hash_search(streams, key, HASH_ENTER, &found);
	if (!found)
	{
		memset((char *) entry + NAMEDATALEN, 0, sizeof(StreamEntry) - NAMEDATALEN);
		entry->valid = false;
	}
	if (!entry->valid)
	{
		PG_TRY();
		{
			load_entry(entry);
		}
		PG_CATCH();
		{
			release_entry(entry);
			hash_search(streams, key, HASH_REMOVE, NULL);
			PG_RE_THROW();
		}
		PG_END_TRY();
	}
	return entry;
}

/* ----------------------------------------------------------------
 * rrr_write
 * ----------------------------------------------------------------
 */

static void
require_writer(void)
{
	Oid			writer = get_role_oid(WRITER_ROLE, true);

	if (!redtrack_is_admin(GetUserId()) &&
		!(OidIsValid(writer) && has_privs_of_role(GetUserId(), writer)))
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("permission denied to write events"),
				 errhint("GRANT %s TO the role that writes events.", WRITER_ROLE)));
}

/*
 * The export's encoding of the stream's fields (worker/typemap.c), so that
 * an event is measured by the code that will write it.  The export maps
 * the queue table's columns and then adapts them to the target, whose
 * columns have the declared types: varchar fields are limited to their
 * declared length, no other field is (export_layout, adapt_to_target).
 */
static void
prepare_encoders(StreamEntry *s, bool postgres_dialect)
{
	MemoryContext old;

	if (s->encoders_ready && s->encoders_postgres == postgres_dialect)
		return;
	s->encoders_ready = false;
	old = MemoryContextSwitchTo(s->cxt);
	if (s->encoders == NULL)
		s->encoders = palloc0(sizeof(ColumnMap *) * s->nfields);
	for (int i = 0; i < s->nfields; i++)
	{
		AttrNumber	attnum = get_attnum(s->relid, s->fields[i].name);

		if (attnum == InvalidAttrNumber)
			elog(ERROR, "queue table of stream \"%s\" has no column \"%s\"",
				 s->name, s->fields[i].name);
		s->encoders[i] = redtrack_map_source_column(s->relid, attnum, postgres_dialect);
		s->encoders[i]->max_length = s->fields[i].type == FT_VARCHAR ? s->fields[i].length : 0;
	}
	MemoryContextSwitchTo(old);
	s->encoders_postgres = postgres_dialect;
	s->encoders_ready = true;
}

/* Reused between events; malloc'd, as the encoder's buffers are. */
static ByteBuf event_row;

/*
 * Redshift refuses an input record over 4 MB, and a refused record fails
 * the whole load: one such event would stop its stream for good.  What
 * counts is the event's row in the load file, which can be far larger
 * than its jsonb (jsonb's text form writes a control character as six
 * bytes, CSV doubles quotes), or far smaller (unknown fields of a lenient
 * stream, strings cut to their declared length).  So the row is encoded
 * here as the export will encode it, and measured; the newline that ends
 * it is not part of the record.
 */
static void
check_event_size(StreamEntry *s, Datum *values, char *nulls)
{
	bool		postgres_dialect = (redtrack_target_dialect == REDTRACK_DIALECT_POSTGRES);
	EncodeCounters counters = {.no_record_limit = true};
	int			nestlevel = -1;
	size_t		size;
	bool		oom;

	prepare_encoders(s, postgres_dialect);

	/* float8's text depends on extra_float_digits: the engine's is 1 */
	if (s->has_double && extra_float_digits <= 0)
	{
		nestlevel = NewGUCNestLevel();
		(void) set_config_option("extra_float_digits", "1", PGC_USERSET, PGC_S_SESSION,
								 GUC_ACTION_SAVE, true, 0, false);
	}
	bytebuf_reset(&event_row);
	for (int i = 0; i < s->nfields; i++)
	{
		if (i > 0)
			bytebuf_append_char(&event_row, ',');
		redtrack_encode_value(&event_row, s->encoders[i], values[i], nulls[i] == 'n',
							  postgres_dialect, &counters);
	}
	if (nestlevel >= 0)
		AtEOXact_GUC(true, nestlevel);

	size = event_row.len;
	oom = event_row.oom;
	/* Keep a small buffer only: one large event must not stay in memory. */
	if (oom || event_row.cap > 64 * 1024)
		bytebuf_free(&event_row);
	if (oom)
		ereport(ERROR,
				(errcode(ERRCODE_OUT_OF_MEMORY),
				 errmsg("out of memory"),
				 errdetail("Could not measure an event of stream \"%s\".", s->name)));
	/* The drain would cut a longer row to fit: refuse it here instead. */
	if (size > redtrack_record_limit(s->nfields))
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("event of stream \"%s\" is too large for Redshift", s->name),
				 errdetail("Its row in the load file would be %zu bytes; Redshift loads at most 4 MB in a row, and redtrack keeps the rows of this stream under %zu bytes.",
						   size, redtrack_record_limit(s->nfields)),
				 errhint("Keep large values out of events, or split them.")));
}

/* Validate one event and insert it; returns its event id. */
static int64
write_event(StreamEntry *s, Jsonb *event, int *truncated)
{
	Datum	   *values = palloc(sizeof(Datum) * s->nfields);
	char	   *nulls = palloc(sizeof(char) * s->nfields);
	bool	   *given = palloc0(sizeof(bool) * s->nfields);
	JsonbIterator *it;
	JsonbValue	v;
	JsonbIteratorToken tok;
	Oid			saved_userid;
	int			saved_context;
	int			rc;
	int64		id;
	bool		isnull;

	if (!JB_ROOT_IS_OBJECT(event) || JB_ROOT_IS_SCALAR(event))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("an event of stream \"%s\" must be a JSON object", s->name)));

	it = JsonbIteratorInit(&event->root);
	while ((tok = JsonbIteratorNext(&it, &v, true)) != WJB_DONE)
	{
		char		key[NAMEDATALEN];
		int			i;

		if (tok != WJB_KEY)
			continue;
		if (v.val.string.len >= NAMEDATALEN)
			i = -1;
		else
		{
			memcpy(key, v.val.string.val, v.val.string.len);
			key[v.val.string.len] = '\0';
			for (i = 0; i < s->nfields && strcmp(s->fields[i].name, key) != 0; i++)
				;
			if (i == s->nfields)
				i = -1;
		}
		tok = JsonbIteratorNext(&it, &v, true);
		if (i < 0)
		{
			if (s->lenient)
				continue;
			ereport(ERROR,
					(errcode(ERRCODE_UNDEFINED_COLUMN),
					 errmsg("stream \"%s\" has no field \"%s\"", s->name,
							pnstrdup(key, Min(strlen(key), 63))),
					 errhint("Add the field with rrr_define_stream, or declare the stream lenient "
							 "to ignore unknown fields.")));
		}
		given[i] = true;
		if (v.type == jbvNull)
		{
			nulls[i] = 'n';
			values[i] = (Datum) 0;
		}
		else
		{
			nulls[i] = ' ';
			values[i] = field_value(s->name, &s->fields[i], &v, truncated);
		}
	}

	for (int i = 0; i < s->nfields; i++)
	{
		Field	   *f = &s->fields[i];

		if (!given[i])
		{
			nulls[i] = (!f->has_default || f->default_is_null) ? 'n' : ' ';
			values[i] = f->has_default ? f->default_value : (Datum) 0;
		}
		if (nulls[i] == 'n' && f->not_null)
			ereport(ERROR,
					(errcode(ERRCODE_NOT_NULL_VIOLATION),
					 errmsg("field \"%s\" of stream \"%s\" is required", f->name, s->name),
					 errdetail("It is declared not null and has no default.")));
	}
	check_event_size(s, values, nulls);

	/* The queue table belongs to the extension owner. */
	SPI_connect();
	GetUserIdAndSecContext(&saved_userid, &saved_context);
	SetUserIdAndSecContext(s->owner, saved_context | SECURITY_LOCAL_USERID_CHANGE);
	rc = SPI_execute_plan(s->insert, values, nulls, false, 1);
	SetUserIdAndSecContext(saved_userid, saved_context);
	if (rc != SPI_OK_INSERT_RETURNING)
		elog(ERROR, "SPI_execute_plan failed: %s", SPI_result_code_string(rc));
	id = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
	SPI_finish();
	return id;
}

static void
report_truncation(const char *stream, int truncated)
{
	if (truncated > 0)
		ereport(WARNING,
				(errcode(ERRCODE_STRING_DATA_RIGHT_TRUNCATION),
				 errmsg("%d value%s of stream \"%s\" cut to the declared length",
						truncated, truncated == 1 ? "" : "s", stream),
				 errdetail("varchar lengths are bytes, as on Redshift; values are cut on a character boundary.")));
}

Datum
rrr_write(PG_FUNCTION_ARGS)
{
	char	   *name;
	StreamEntry *s;
	int			truncated = 0;
	int64		id;

	require_writer();
	if (PG_ARGISNULL(0))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("stream name must not be NULL")));
	if (PG_ARGISNULL(1))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("event must not be NULL")));
	name = text_to_cstring(PG_GETARG_TEXT_PP(0));
	s = lookup_stream(name);
	id = write_event(s, PG_GETARG_JSONB_P(1), &truncated);
	report_truncation(name, truncated);
	PG_RETURN_INT64(id);
}

static void
batch_error_context(void *arg)
{
	errcontext("event %d of the batch", *(int *) arg);
}

/* rrr_write_batch(stream, events jsonb[]): many events, one call. */
Datum
rrr_write_batch(PG_FUNCTION_ARGS)
{
	char	   *name;
	StreamEntry *s;
	Datum	   *events;
	bool	   *nulls;
	int			n;
	int			truncated = 0;
	int			position = 0;
	ErrorContextCallback callback;
	MemoryContext per_event;
	MemoryContext old;

	require_writer();
	if (PG_ARGISNULL(0) || PG_ARGISNULL(1))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("stream name and events must not be NULL")));
	name = text_to_cstring(PG_GETARG_TEXT_PP(0));
	s = lookup_stream(name);
	deconstruct_array(PG_GETARG_ARRAYTYPE_P(1), JSONBOID, -1, false, TYPALIGN_INT,
					  &events, &nulls, &n);
	per_event = AllocSetContextCreate(CurrentMemoryContext, "redtrack event", ALLOCSET_DEFAULT_SIZES);
	for (int i = 0; i < n; i++)
	{
		if (nulls[i])
			ereport(ERROR,
					(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
					 errmsg("event %d of the batch is NULL", i + 1)));
		/* which of many events an error is about */
		position = i + 1;
		callback.callback = batch_error_context;
		callback.arg = &position;
		callback.previous = error_context_stack;
		error_context_stack = &callback;
		old = MemoryContextSwitchTo(per_event);
		(void) write_event(s, DatumGetJsonbP(events[i]), &truncated);
		MemoryContextSwitchTo(old);
		error_context_stack = callback.previous;
		MemoryContextReset(per_event);
	}
	report_truncation(name, truncated);
	PG_RETURN_INT64(n);
}

/* ----------------------------------------------------------------
 * rrr_define_stream
 * ----------------------------------------------------------------
 */

static char *
queue_table(const char *name)
{
	return psprintf("%s.%s", STREAMS_SCHEMA, quote_identifier(name));
}

static char *
queue_column_sql(Field *f)
{
	StringInfoData sql;

	initStringInfo(&sql);
	appendStringInfo(&sql, "%s %s", quote_identifier(f->name), queue_type(f));
	if (f->not_null)
		appendStringInfoString(&sql, " NOT NULL");
	return sql.data;
}

/* The existing definition's fields, or NULL when the stream is new. */
static Field *
existing_fields(const char *name, int *n, char **sortkey, char **distkey)
{
	SpiArgs		args = {0};
	MemoryContext caller = CurrentMemoryContext;
	Field	   *fields = NULL;

	spi_arg_text(&args, name);
	if (spi_run("SELECT columns, array_to_string(sortkey, ','), distkey FROM redtrack.streams "
				"WHERE name OPERATOR(pg_catalog.=) $1", &args, true) > 0)
	{
		bool		isnull;
		Jsonb	   *columns = DatumGetJsonbPCopy(SPI_getbinval(SPI_tuptable->vals[0],
															   SPI_tuptable->tupdesc, 1, &isnull));

		*sortkey = spi_get_text(caller, 0, 2);
		*distkey = spi_get_text(caller, 0, 3);
		fields = parse_definition(name, columns, n);
	}
	return fields;
}

Datum
rrr_define_stream(PG_FUNCTION_ARGS)
{
	char	   *name;
	Jsonb	   *columns;
	Field	   *fields;
	int			nfields;
	Field	   *old;
	int			nold = 0;
	char	   *old_sortkey = NULL;
	char	   *old_distkey = NULL;
	char	   *sortkey = PG_ARGISNULL(2) ? NULL : text_to_cstring(PG_GETARG_TEXT_PP(2));
	char	   *distkey = PG_ARGISNULL(3) ? NULL : text_to_cstring(PG_GETARG_TEXT_PP(3));
	bool		lenient = PG_ARGISNULL(4) ? false : PG_GETARG_BOOL(4);
	List	   *sortkeys = NIL;
	OwnerScope	scope;
	SpiArgs		args = {0};
	StringInfoData sql;
	char	   *definition;
	char	   *registrant;

	redtrack_require_admin("define a stream");
	if (PG_ARGISNULL(0) || PG_ARGISNULL(1))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("stream name and columns must not be NULL")));
	name = text_to_cstring(PG_GETARG_TEXT_PP(0));
	if (name[0] == '\0' || strlen(name) >= NAMEDATALEN)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_NAME),
				 errmsg("stream name must be 1 to %d bytes", NAMEDATALEN - 1)));
	columns = PG_GETARG_JSONB_P(1);
	fields = parse_definition(name, columns, &nfields);
	if (sortkey)
		sortkeys = parse_sortkey(name, sortkey, fields, nfields);
	if (distkey)
		check_distkey(name, distkey, fields, nfields);
	definition = normalized_definition(columns, fields, nfields);

	registrant = GetUserNameFromId(GetUserId(), false);
	SPI_connect();
	redtrack_enter_owner_scope(&scope);
	old = existing_fields(name, &nold, &old_sortkey, &old_distkey);
	check_case_collisions(name, fields, nfields, old, nold);
	initStringInfo(&sql);
	if (old == NULL)
	{
		Oid			other;

		/* Not part of the extension: DROP EXTENSION must leave events be. */
		if (!OidIsValid(get_namespace_oid(STREAMS_SCHEMA, true)))
		{
			spi_run("CREATE SCHEMA " STREAMS_SCHEMA, NULL, false);
			spi_run("REVOKE ALL ON SCHEMA " STREAMS_SCHEMA " FROM PUBLIC", NULL, false);
			spi_run("GRANT USAGE ON SCHEMA " STREAMS_SCHEMA " TO redtrack_admin", NULL, false);
		}
		/* Compared as Redshift resolves names (see redtrack_target_identity). */
		if (redtrack_target_is_taken(quote_identifier(name), InvalidOid, &other))
			ereport(ERROR,
					(errcode(ERRCODE_DUPLICATE_OBJECT),
					 errmsg("the Redshift table %s of stream \"%s\" is already a replication target",
							quote_identifier(name), name),
					 errhint("Name the stream differently, or unregister the table that loads %s.",
							 quote_identifier(name))));

		/* A new stream: its queue table, registered as a queue. */
		appendStringInfo(&sql, "CREATE TABLE %s (redtrack_event_id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, "
						 "redtrack_enqueued_at timestamptz NOT NULL DEFAULT pg_catalog.now()",
						 queue_table(name));
		for (int i = 0; i < nfields; i++)
			appendStringInfo(&sql, ", %s", queue_column_sql(&fields[i]));
		/* Drained in bulk: vacuum after a fixed number of deleted rows. */
		appendStringInfoString(&sql, ") WITH (autovacuum_vacuum_scale_factor = 0, "
							   "autovacuum_vacuum_threshold = 10000, "
							   "autovacuum_vacuum_insert_scale_factor = 0, "
							   "autovacuum_vacuum_insert_threshold = 100000)");
		spi_run(sql.data, NULL, false);
		spi_run(psprintf("GRANT SELECT ON %s TO redtrack_admin", queue_table(name)), NULL, false);

		spi_arg_text(&args, name);
		spi_arg_text(&args, definition);
		args.types[args.n] = TEXTARRAYOID;
		args.values[args.n] = sortkeys ? names_array(sortkeys) : (Datum) 0;
		args.nulls[args.n++] = sortkeys ? ' ' : 'n';
		spi_arg_text(&args, distkey);
		spi_arg_bool(&args, lenient);
		spi_arg_text(&args, queue_table(name));
		spi_arg_text(&args, quote_identifier(name));
		spi_arg_text(&args, registrant);
		spi_run("INSERT INTO redtrack.replicables (source, strategy, target_table, registered_by) "
				"VALUES ($6::pg_catalog.regclass, 'queue', $7, $8)", &args, false);
		spi_run("INSERT INTO redtrack.streams (name, queue_table, columns, sortkey, distkey, lenient) "
				"VALUES ($1, $6::pg_catalog.regclass, $2::jsonb, $3::name[], $4, $5)", &args, false);
	}
	else
	{
		/* Redefinition: only additions, which both sides get. */
		for (int i = 0; i < nold; i++)
		{
			Field	   *now = find_field(fields, nfields, old[i].name);

			if (now == NULL)
				ereport(ERROR,
						(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
						 errmsg("redefining stream \"%s\" would remove field \"%s\"", name, old[i].name),
						 errhint("A stream's fields can only be added to.")));
			if (now->type != old[i].type || now->length != old[i].length ||
				now->precision != old[i].precision || now->scale != old[i].scale ||
				now->not_null != old[i].not_null)
				ereport(ERROR,
						(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
						 errmsg("redefining stream \"%s\" would change field \"%s\"", name, old[i].name),
						 errdetail("It is %s%s; the new definition says %s%s.",
								   type_spelling(&old[i]), old[i].not_null ? " not null" : "",
								   type_spelling(now), now->not_null ? " not null" : ""),
						 errhint("A stream's fields can only be added to.")));
		}
		if (sortkey && (old_sortkey == NULL || strcmp(join_names(sortkeys), old_sortkey) != 0))
			ereport(ERROR,
					(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
					 errmsg("stream \"%s\" already has its sort key", name),
					 errhint("Sort and distribution keys are fixed when a stream is first defined.")));
		if (distkey && (old_distkey == NULL || strcmp(distkey, old_distkey) != 0))
			ereport(ERROR,
					(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
					 errmsg("stream \"%s\" already has its distribution key", name)));
		for (int i = 0; i < nfields; i++)
		{
			if (find_field(old, nold, fields[i].name) != NULL)
				continue;
			if (fields[i].not_null && !fields[i].has_default)
				ereport(ERROR,
						(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
						 errmsg("new field \"%s\" of stream \"%s\" is not null without a default",
								fields[i].name, name),
						 errhint("Events already written have no value for it: give it a default.")));
			spi_run(psprintf("ALTER TABLE %s ADD COLUMN %s", queue_table(name),
							 queue_column_sql(&fields[i])), NULL, false);
		}
		spi_arg_text(&args, name);
		spi_arg_text(&args, definition);
		spi_arg_bool(&args, lenient);
		/* The next drain adds the new fields to the Redshift table. */
		spi_run("UPDATE redtrack.streams SET columns = $2::jsonb, lenient = $3, "
				"updated_at = pg_catalog.now() WHERE name = $1", &args, false);

		/*
		 * Sessions cache a stream's definition until its queue table's
		 * relcache entry is invalidated.  Added columns do that; a change
		 * of lenient or of a default alone must do it too, or other
		 * sessions keep validating against the old definition.
		 */
		CacheInvalidateRelcacheByRelid(get_relname_relid(name, get_namespace_oid(STREAMS_SCHEMA, false)));
	}
	redtrack_leave_owner_scope(&scope);
	SPI_finish();
	PG_RETURN_VOID();
}

/* ----------------------------------------------------------------
 * DDL, drop, backlog
 * ----------------------------------------------------------------
 */

/* A declared field's warehouse type, or NULL (call inside SPI). */
char *
redtrack_stream_field_type(const char *stream, const char *field)
{
	Field	   *fields;
	int			n;
	char	   *sortkey;
	char	   *distkey;
	Field	   *f;
	MemoryContext caller = CurrentMemoryContext;
	char	   *type = NULL;

	SPI_connect();
	fields = existing_fields(stream, &n, &sortkey, &distkey);
	f = fields ? find_field(fields, n, field) : NULL;
	/* the fields live in SPI's procedure context, which SPI_finish frees */
	if (f != NULL)
		type = MemoryContextStrdup(caller,
								   warehouse_type(f, redtrack_target_dialect == REDTRACK_DIALECT_POSTGRES));
	SPI_finish();
	return type;
}

/* CREATE TABLE on the warehouse for these fields. */
static char *
fields_ddl(const char *stream, const char *table_sql, Field *fields, int n,
		   const char *sortkey, const char *distkey, bool postgres_dialect)
{
	StringInfoData ddl;

	initStringInfo(&ddl);
	appendStringInfo(&ddl, "CREATE TABLE %s (\n", table_sql);
	for (int i = 0; i < n; i++)
		appendStringInfo(&ddl, "    %s %s%s%s\n", rs_quote_identifier(fields[i].name),
						 warehouse_type(&fields[i], postgres_dialect),
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
			List	   *keys = parse_sortkey(stream, sortkey, fields, n);
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
	Field	   *fields;
	int			n;
	char	   *sortkey = NULL;
	char	   *distkey = NULL;
	bool		postgres_dialect = (redtrack_target_dialect == REDTRACK_DIALECT_POSTGRES);
	char	   *result;

	SPI_connect();
	fields = existing_fields(stream, &n, &sortkey, &distkey);
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
	Field	   *fields = parse_definition(table, columns, &n);

	check_case_collisions(table, fields, n, NULL, 0);
	if (distkey)
		check_distkey(table, distkey, fields, n);
	*names = NIL;
	*types = NIL;
	for (int i = 0; i < n; i++)
	{
		*names = lappend(*names, pstrdup(fields[i].name));
		*types = lappend(*types, warehouse_type(&fields[i], postgres_dialect));
	}
	return fields_ddl(table, table_sql, fields, n, sortkey, distkey, postgres_dialect);
}

Datum
rrr_stream_ddl(PG_FUNCTION_ARGS)
{
	OwnerScope	scope;
	char	   *ddl;

	redtrack_require_admin("read a stream's DDL");
	if (PG_ARGISNULL(0))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("stream name must not be NULL")));
	redtrack_enter_owner_scope(&scope);
	ddl = redtrack_stream_ddl(text_to_cstring(PG_GETARG_TEXT_PP(0)));
	redtrack_leave_owner_scope(&scope);
	PG_RETURN_TEXT_P(cstring_to_text(ddl));
}

Datum
rrr_drop_stream(PG_FUNCTION_ARGS)
{
	char	   *name;
	bool		force = PG_ARGISNULL(1) ? false : PG_GETARG_BOOL(1);
	OwnerScope	scope;
	SpiArgs		args = {0};
	int64		waiting;

	redtrack_require_admin("drop a stream");
	if (PG_ARGISNULL(0))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("stream name must not be NULL")));
	name = text_to_cstring(PG_GETARG_TEXT_PP(0));
	SPI_connect();
	redtrack_enter_owner_scope(&scope);
	spi_arg_text(&args, name);
	if (spi_run("SELECT 1 FROM redtrack.streams WHERE name = $1", &args, true) == 0)
		stream_not_found(name);
	spi_run(psprintf("SELECT pg_catalog.count(*) FROM %s", queue_table(name)), NULL, true);
	waiting = spi_get_int8(0, 1, NULL);
	if (waiting > 0 && !force)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("stream \"%s\" has " INT64_FORMAT " events not yet loaded", name, waiting),
				 errhint("Replicate them first, or call rrr_drop_stream('%s', force => true) to discard them.",
						 name)));
	/* The registration, history and queue table go; the Redshift table stays. */
	spi_run("DELETE FROM redtrack.streams WHERE name = $1", &args, false);
	spi_run(psprintf("DROP TABLE %s", queue_table(name)), NULL, false);
	redtrack_leave_owner_scope(&scope);
	SPI_finish();
	PG_RETURN_VOID();
}

/* redtrack.stream_backlog(queue regclass): events waiting, oldest's age. */
Datum
redtrack_stream_backlog(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	Oid			relid = PG_GETARG_OID(0);
	Datum		values[2];
	bool		nulls[2] = {false, false};
	char	   *relname = get_rel_name(relid);

	InitMaterializedSRF(fcinfo, 0);
	/* Only queue tables have a backlog. */
	if (relname == NULL || get_rel_namespace(relid) != get_namespace_oid(STREAMS_SCHEMA, true))
		return (Datum) 0;
	SPI_connect();
	spi_run(psprintf("SELECT pg_catalog.count(*), "
					 "pg_catalog.now() OPERATOR(pg_catalog.-) pg_catalog.min(redtrack_enqueued_at) "
					 "FROM %s", queue_table(relname)), NULL, true);
	values[0] = Int64GetDatum(spi_get_int8(0, 1, NULL));
	values[1] = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 2, &nulls[1]);
	tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	SPI_finish();
	return (Datum) 0;
}
