/*-------------------------------------------------------------------------
 *
 * stream_event.c
 *	  The rules an event meets: JSON values read as the declared types,
 *	  known fields, required fields, and a row Redshift can load.
 *
 * rrr_write checks each event here before it is queued, and the drain
 * checks an event again here after its stream's enricher changed it, so
 * the two never disagree.  The checks are done in C on the jsonb, without
 * the writer's DateStyle or TimeZone, so that a write costs about what a
 * plain INSERT does and the same event is the same row in every session.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#if PG_VERSION_NUM >= 160000
#include "varatt.h"
#endif

#include "lib/stringinfo.h"
#include "mb/pg_wchar.h"
#include "utils/builtins.h"
#include "utils/date.h"
#include "utils/datetime.h"
#include "utils/float.h"
#include "utils/fmgrprotos.h"
#include "utils/guc.h"
#include "utils/jsonb.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/numeric.h"
#include "utils/timestamp.h"

#include "csv.h"
#include "guc.h"
#include "stream.h"

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
wrong_type(const char *stream, StreamField *f, JsonbValue *v, const char *want)
{
	ereport(ERROR,
			(errcode(ERRCODE_DATATYPE_MISMATCH),
			 errmsg("field \"%s\" of stream \"%s\" must be %s, not %s",
					f->name, stream, want, json_kind(v)),
			 errdetail("The field is declared %s.", redshift_type_spelling(&f->type))));
}

static int64
integer_value(const char *stream, StreamField *f, JsonbValue *v, int64 min, int64 max)
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
						text, f->name, stream, redshift_type_name(f->type.kind))));
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
parse_iso8601(const char *s, size_t len, RedshiftTypeKind type, Datum *result)
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
		if (type == RS_DATE || (*p != 'T' && *p != 't' && *p != ' '))
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

	if (type == RS_DATE)
	{
		*result = DateADTGetDatum(date2j(tm.tm_year, tm.tm_mon, tm.tm_mday) - POSTGRES_EPOCH_JDATE);
		return ISO_OK;
	}
	if (tm2timestamp(&tm, fsec, type == RS_TIMESTAMPTZ ? &tz : NULL, &ts) != 0 ||
		ts < (Timestamp) (date2j(1, 1, 1) - POSTGRES_EPOCH_JDATE) * USECS_PER_DAY ||
		ts >= (Timestamp) (date2j(10000, 1, 1) - POSTGRES_EPOCH_JDATE) * USECS_PER_DAY)
		return ISO_RANGE;
	*result = TimestampGetDatum(ts);
	return ISO_OK;
}

/* A date or time field's value, or a clear error. */
static Datum
datetime_value(const char *stream, StreamField *f, JsonbValue *v)
{
	const char *text = v->val.string.val;
	int			len = v->val.string.len;
	int			shown = pg_mbcliplen(text, len, 64);
	Datum		result;

	switch (parse_iso8601(text, (size_t) len, f->type.kind, &result))
	{
		case ISO_OK:
			break;
		case ISO_SYNTAX:
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_DATETIME_FORMAT),
					 errmsg("field \"%s\" of stream \"%s\" must be a string in ISO 8601 form, not \"%.*s\"%s",
							f->name, stream, shown, text, shown < len ? "..." : ""),
					 errdetail("The field is declared %s.", redshift_type_spelling(&f->type)),
					 f->type.kind == RS_DATE
					 ? errhint("Write a date as \"2024-05-01\".")
					 : f->type.kind == RS_TIMESTAMPTZ
					 ? errhint("Write \"2024-05-01T12:00:00Z\" or \"2024-05-01T14:00:00+02:00\"; a time without an offset is UTC.")
					 : errhint("Write \"2024-05-01T12:00:00\"; an offset is ignored.")));
			break;
		case ISO_RANGE:
			ereport(ERROR,
					(errcode(ERRCODE_DATETIME_FIELD_OVERFLOW),
					 errmsg("value \"%.*s\"%s of field \"%s\" of stream \"%s\" is out of range for type %s",
							shown, text, shown < len ? "..." : "", f->name, stream, redshift_type_name(f->type.kind)),
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
Datum
stream_field_value(const char *stream, StreamField *f, JsonbValue *v, int *truncated)
{
	FieldContext fc = {stream, f->name};
	ErrorContextCallback callback;
	Datum		result = (Datum) 0;

	callback.callback = field_error_context;
	callback.arg = &fc;
	callback.previous = error_context_stack;
	error_context_stack = &callback;

	switch (f->type.kind)
	{
		case RS_VARCHAR:
			{
				size_t		len;
				size_t		keep;

				if (v->type != jbvString)
					wrong_type(stream, f, v, "a string");
				len = v->val.string.len;
				/* Redshift counts bytes of UTF-8. */
				keep = utf8_prefix_bytes(v->val.string.val, len, (size_t) f->type.length);
				if (keep < len)
					(*truncated)++;
				result = PointerGetDatum(cstring_to_text_with_len(v->val.string.val, (int) keep));
				break;
			}
		case RS_SMALLINT:
			result = Int16GetDatum((int16) integer_value(stream, f, v, PG_INT16_MIN, PG_INT16_MAX));
			break;
		case RS_INTEGER:
			result = Int32GetDatum((int32) integer_value(stream, f, v, PG_INT32_MIN, PG_INT32_MAX));
			break;
		case RS_BIGINT:
			result = Int64GetDatum(integer_value(stream, f, v, PG_INT64_MIN, PG_INT64_MAX));
			break;
		case RS_BOOLEAN:
			if (v->type != jbvBool)
				wrong_type(stream, f, v, "a boolean");
			result = BoolGetDatum(v->val.boolean);
			break;
		case RS_DOUBLE:
			if (v->type != jbvNumeric)
				wrong_type(stream, f, v, "a number");
			result = DirectFunctionCall1(numeric_float8, NumericGetDatum(v->val.numeric));
			break;
		case RS_DECIMAL:
			if (v->type != jbvNumeric)
				wrong_type(stream, f, v, "a number");
			result = DirectFunctionCall2(numeric, NumericGetDatum(v->val.numeric),
										 Int32GetDatum(((f->type.precision << 16) | f->type.scale) + VARHDRSZ));
			break;
		case RS_TIMESTAMP:
		case RS_TIMESTAMPTZ:
		case RS_DATE:
			{
				if (v->type != jbvString)
					wrong_type(stream, f, v, "a string in ISO 8601 form");
				result = datetime_value(stream, f, v);
				break;
			}
		case RS_SUPER:
			result = JsonbPGetDatum(JsonbValueToJsonb(v));
			break;
	}

	error_context_stack = callback.previous;
	return result;
}

/* ----------------------------------------------------------------
 * The size of an event's row
 * ----------------------------------------------------------------
 */

/*
 * The export's encoding of the stream's fields (worker/typemap.c), so that
 * an event is measured by the code that will write it.  The export maps
 * the queue table's columns and then adapts them to the target, whose
 * columns have the declared types: varchar fields are limited to their
 * declared length, no other field is (export_layout, adapt_to_target).
 */
static void
prepare_encoders(StreamDef *s, bool postgres_dialect)
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
		s->encoders[i]->max_length = s->fields[i].type.kind == RS_VARCHAR ? s->fields[i].type.length : 0;
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
check_event_size(StreamDef *s, Datum *values, char *nulls)
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

/* ----------------------------------------------------------------
 * Events
 * ----------------------------------------------------------------
 */

/* Which declared field a key of an event names: its index, or -1. */
static int
field_index(StreamDef *s, JsonbValue *key)
{
	char		name[NAMEDATALEN];

	if (key->val.string.len >= NAMEDATALEN)
		return -1;
	memcpy(name, key->val.string.val, key->val.string.len);
	name[key->val.string.len] = '\0';
	for (int i = 0; i < s->nfields; i++)
		if (strcmp(s->fields[i].name, name) == 0)
			return i;
	return -1;
}

void
stream_event_values(StreamDef *s, Jsonb *event, Datum *values, char *nulls, int *truncated)
{
	bool	   *given = palloc0(sizeof(bool) * s->nfields);
	JsonbIterator *it;
	JsonbValue	v;
	JsonbIteratorToken tok;

	if (!JB_ROOT_IS_OBJECT(event) || JB_ROOT_IS_SCALAR(event))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("an event of stream \"%s\" must be a JSON object", s->name)));

	it = JsonbIteratorInit(&event->root);
	while ((tok = JsonbIteratorNext(&it, &v, true)) != WJB_DONE)
	{
		int			i;

		if (tok != WJB_KEY)
			continue;
		i = field_index(s, &v);
		if (i < 0 && !s->lenient)
			ereport(ERROR,
					(errcode(ERRCODE_UNDEFINED_COLUMN),
					 errmsg("stream \"%s\" has no field \"%s\"", s->name,
							pnstrdup(v.val.string.val,
									  pg_mbcliplen(v.val.string.val, v.val.string.len, 63))),
					 errhint("Add the field with rrr_define_stream, or declare the stream lenient "
							 "to ignore unknown fields.")));
		tok = JsonbIteratorNext(&it, &v, true);
		if (i < 0)
			continue;
		given[i] = true;
		if (v.type == jbvNull)
		{
			nulls[i] = 'n';
			values[i] = (Datum) 0;
		}
		else
		{
			nulls[i] = ' ';
			values[i] = stream_field_value(s->name, &s->fields[i], &v, truncated);
		}
	}

	for (int i = 0; i < s->nfields; i++)
	{
		StreamField *f = &s->fields[i];

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
}
