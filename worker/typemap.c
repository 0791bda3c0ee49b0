/*-------------------------------------------------------------------------
 *
 * typemap.c
 *	  Column types on the warehouse, and CSV encoding of values.
 *
 * The Redshift types redtrack names (RedshiftType) have one vocabulary
 * here: a stream's declared fields are parsed and spelled by it, and a
 * table's columns are mapped onto it.
 *
 * Redshift mapping (docs/REDSHIFT.md): integers, DECIMAL(p<=38, s<=37), REAL,
 * DOUBLE PRECISION, BOOLEAN, DATE, TIME[TZ], TIMESTAMP[TZ] map directly;
 * strings become VARCHAR sized in bytes (a UTF-8 character takes up to 4);
 * uuid CHAR(36); json, arrays and anything else VARCHAR(65535); bytea
 * VARBYTE written as hex; interval BIGINT microseconds; money DECIMAL.
 * Unconstrained numeric has no Redshift equivalent and becomes
 * DECIMAL(38,10): 28 digits before the point, 10 after.
 *
 * Values Redshift cannot represent are never allowed to fail a load:
 * strings longer than the target are cut on a character boundary, dates
 * outside years 1..9999 (including infinity) are clamped, decimals are
 * rounded to the target's scale and become NULL when their integer digits do
 * not fit, NaN and infinite numbers (decimal and floating point) become NULL,
 * bytes are cut to VARBYTE's limit, an empty bytea becomes NULL, (on 17)
 * infinite intervals are clamped to BIGINT's bounds, and a record that would
 * pass COPY's 4 MB limit has its strings and bytes cut; each is counted and
 * reported.  In a NOT NULL column, which would refuse NULL, a value that
 * has no equivalent becomes the nearest one the column holds instead.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <ctype.h>
#include <math.h>

#if PG_VERSION_NUM >= 160000
#include "varatt.h"
#endif

#include "access/htup_details.h"
#include "catalog/pg_attribute.h"
#include "catalog/pg_type.h"
#include "common/int.h"
#include "lib/stringinfo.h"
#include "mb/pg_wchar.h"
#include "utils/builtins.h"
#include "utils/cash.h"
#include "utils/date.h"
#include "utils/datetime.h"
#include "utils/fmgroids.h"
#include "utils/lsyscache.h"
#include "utils/numeric.h"
#include "utils/rel.h"
#include "utils/relcache.h"
#include "utils/syscache.h"
#include "utils/timestamp.h"

#include "csv.h"
#include "typemap.h"

#define REDSHIFT_MAX_CHAR 4096
#define REDSHIFT_MAX_VARBYTE 1024000
#define UNCONSTRAINED_PRECISION 38
#define UNCONSTRAINED_SCALE 10

/*
 * Every field keeps RECORD_FIELD_RESERVE bytes of a record (at most
 * REDSHIFT_MAX_RECORD, typemap.h) for itself: more than any value that is
 * never cut takes (a decimal, a timestamp, a float), with its separator.
 */
#define RECORD_FIELD_RESERVE 48

/*
 * Floats of largest magnitude, for infinities in NOT NULL columns: FLT_MAX
 * rounded down (so that a reader rounding to float4 does not overflow), and
 * DBL_MAX exactly.
 */
#define FLOAT4_MAX_TEXT "3.4028234e+38"
#define FLOAT8_MAX_TEXT "1.7976931348623157e+308"

/* Years Redshift's default date parsing surely reads. */
#define CLAMP_MIN_DATE "0001-01-01"
#define CLAMP_MAX_DATE "9999-12-31"
#define CLAMP_MIN_TIMESTAMP "0001-01-01 00:00:00"
#define CLAMP_MAX_TIMESTAMP "9999-12-31 23:59:59.999999"

static inline void
append_clamped_text(ByteBuf *out, const char *text)
{
	bytebuf_append(out, text, strlen(text));
}

static bool
server_is_utf8(void)
{
	return GetDatabaseEncoding() == PG_UTF8;
}

/* Bytes per character of the database encoding, at most. */
static int
max_char_bytes(void)
{
	return pg_database_encoding_max_length() > 1 ? 4 : 1;
}

/* ----------------------------------------------------------------
 * The Redshift types redtrack names
 * ----------------------------------------------------------------
 */

static const char *const redshift_type_names[] = {
	[RS_VARCHAR] = "varchar(n)",
	[RS_SMALLINT] = "smallint",
	[RS_INTEGER] = "integer",
	[RS_BIGINT] = "bigint",
	[RS_BOOLEAN] = "boolean",
	[RS_DOUBLE] = "double precision",
	[RS_DECIMAL] = "decimal(p,s)",
	[RS_TIMESTAMP] = "timestamp",
	[RS_TIMESTAMPTZ] = "timestamptz",
	[RS_DATE] = "date",
	[RS_SUPER] = "super"
};

/* Other names of the types without modifiers, as PostgreSQL spells them. */
static const struct
{
	const char *name;
	RedshiftTypeKind kind;
}			redshift_type_aliases[] = {
	{"smallint", RS_SMALLINT}, {"int2", RS_SMALLINT},
	{"integer", RS_INTEGER}, {"int", RS_INTEGER}, {"int4", RS_INTEGER},
	{"bigint", RS_BIGINT}, {"int8", RS_BIGINT},
	{"boolean", RS_BOOLEAN}, {"bool", RS_BOOLEAN},
	{"double precision", RS_DOUBLE}, {"float8", RS_DOUBLE},
	{"timestamp", RS_TIMESTAMP}, {"timestamp without time zone", RS_TIMESTAMP},
	{"timestamptz", RS_TIMESTAMPTZ}, {"timestamp with time zone", RS_TIMESTAMPTZ},
	{"date", RS_DATE},
	{"super", RS_SUPER}
};

char *
redshift_normalize_spelling(const char *s)
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

RedshiftTypeParse
redshift_type_parse(const char *spec, RedshiftType *type)
{
	char	   *t = redshift_normalize_spelling(spec);
	int			a,
				b;
	char		tail;

	memset(type, 0, sizeof(*type));
	if (sscanf(t, "varchar(%d)%c", &a, &tail) == 1 ||
		sscanf(t, "character varying(%d)%c", &a, &tail) == 1)
	{
		type->kind = RS_VARCHAR;
		type->length = a;
		return (a < 1 || a > REDSHIFT_MAX_VARCHAR) ? RS_PARSE_BAD_LENGTH : RS_PARSE_OK;
	}
	if (sscanf(t, "decimal(%d,%d)%c", &a, &b, &tail) == 2 ||
		sscanf(t, "numeric(%d,%d)%c", &a, &b, &tail) == 2)
	{
		type->kind = RS_DECIMAL;
		type->precision = a;
		type->scale = b;
		return (a < 1 || a > REDSHIFT_MAX_PRECISION || b < 0 || b > a || b > REDSHIFT_MAX_SCALE)
			? RS_PARSE_BAD_DECIMAL : RS_PARSE_OK;
	}
	for (int i = 0; i < lengthof(redshift_type_aliases); i++)
	{
		if (strcmp(t, redshift_type_aliases[i].name) == 0)
		{
			type->kind = redshift_type_aliases[i].kind;
			return RS_PARSE_OK;
		}
	}
	return RS_PARSE_UNKNOWN;
}

const char *
redshift_type_name(RedshiftTypeKind kind)
{
	return redshift_type_names[kind];
}

char *
redshift_type_spelling(const RedshiftType *type)
{
	switch (type->kind)
	{
		case RS_VARCHAR:
			return psprintf("varchar(%d)", type->length);
		case RS_DECIMAL:
			return psprintf("decimal(%d,%d)", type->precision, type->scale);
		default:
			return pstrdup(redshift_type_names[type->kind]);
	}
}

char *
redshift_type_sql(const RedshiftType *type, bool postgres_dialect)
{
	char	   *upper;

	switch (type->kind)
	{
		case RS_VARCHAR:
			return psprintf("VARCHAR(%d)", type->length);
		case RS_DECIMAL:
			return psprintf("DECIMAL(%d,%d)", type->precision, type->scale);
		case RS_SUPER:
			return postgres_dialect ? "JSONB" : "SUPER";
		default:
			upper = pstrdup(redshift_type_names[type->kind]);
			for (char *p = upper; *p; p++)
				*p = pg_ascii_toupper((unsigned char) *p);
			return upper;
	}
}

Oid
redshift_type_local(const RedshiftType *type, int32 *typmod)
{
	*typmod = -1;
	switch (type->kind)
	{
		case RS_VARCHAR:
			return TEXTOID;
		case RS_SMALLINT:
			return INT2OID;
		case RS_INTEGER:
			return INT4OID;
		case RS_BIGINT:
			return INT8OID;
		case RS_BOOLEAN:
			return BOOLOID;
		case RS_DOUBLE:
			return FLOAT8OID;
		case RS_DECIMAL:
			*typmod = ((type->precision << 16) | type->scale) + VARHDRSZ;
			return NUMERICOID;
		case RS_TIMESTAMP:
			return TIMESTAMPOID;
		case RS_TIMESTAMPTZ:
			return TIMESTAMPTZOID;
		case RS_DATE:
			return DATEOID;
		case RS_SUPER:
			return JSONBOID;
	}
	return TEXTOID;
}

/* The warehouse type of a kind without modifiers, for the table mapping. */
static char *
simple_type(RedshiftTypeKind kind)
{
	RedshiftType type = {.kind = kind};

	return redshift_type_sql(&type, false);
}

/* ----------------------------------------------------------------
 * Type mapping
 * ----------------------------------------------------------------
 */

static char *
varchar_type(int bytes, int *max_length)
{
	RedshiftType type = {.kind = RS_VARCHAR};

	if (bytes <= 0 || bytes > REDSHIFT_MAX_VARCHAR)
		bytes = REDSHIFT_MAX_VARCHAR;
	*max_length = bytes;
	type.length = bytes;
	return redshift_type_sql(&type, false);
}

/*
 * The DECIMAL(precision, scale) holding a numeric(p,s) (typmod) or, for -1,
 * an unconstrained numeric.  PostgreSQL 15 allows a negative scale (digits
 * rounded before the point) and a scale above the precision (a fraction
 * with leading zeros): give those what their values need.
 */
static void
redshift_decimal(int32 typmod, int *precision, int *scale)
{
	int			p,
				s;

	if (typmod < (int32) VARHDRSZ)
	{
		*precision = UNCONSTRAINED_PRECISION;
		*scale = UNCONSTRAINED_SCALE;
		return;
	}
	p = ((typmod - VARHDRSZ) >> 16) & 0xffff;
	/* NUMERIC_TYPMOD_SCALE: an 11-bit signed field */
	s = ((((typmod - VARHDRSZ) & 0x7ff) ^ 1024) - 1024);
	if (s < 0)
	{
		p -= s;
		s = 0;
	}
	else if (s > p)
		p = s;
	*scale = Min(s, REDSHIFT_MAX_SCALE);
	*precision = Max(Min(p, REDSHIFT_MAX_PRECISION), *scale);
	if (*precision < 1)
		*precision = 1;
}

static char *
redshift_type(Oid typid, int32 typmod, ValueEncoding *encoding, int *max_length,
			  int *decimal_precision, int *decimal_scale)
{
	*max_length = 0;
	switch (typid)
	{
		case INT2OID:
			*encoding = ENC_INTEGER;
			return simple_type(RS_SMALLINT);
		case INT4OID:
			*encoding = ENC_INTEGER;
			return simple_type(RS_INTEGER);
		case INT8OID:
		case OIDOID:
			*encoding = ENC_INTEGER;
			return simple_type(RS_BIGINT);
		case BOOLOID:
			*encoding = ENC_BOOL;
			return simple_type(RS_BOOLEAN);
		case FLOAT4OID:
			*encoding = ENC_FLOAT;
			return "REAL";
		case FLOAT8OID:
			*encoding = ENC_FLOAT;
			return simple_type(RS_DOUBLE);
		case NUMERICOID:
			*encoding = ENC_NUMERIC;
			{
				RedshiftType type = {.kind = RS_DECIMAL};

				redshift_decimal(typmod, decimal_precision, decimal_scale);
				type.precision = *decimal_precision;
				type.scale = *decimal_scale;
				return redshift_type_sql(&type, false);
			}
		case CASHOID:
			*encoding = ENC_MONEY_NUMERIC;
			return "DECIMAL(19,2)";
		case DATEOID:
			*encoding = ENC_DATE;
			return simple_type(RS_DATE);
		case TIMESTAMPOID:
			*encoding = ENC_TIMESTAMP;
			return simple_type(RS_TIMESTAMP);
		case TIMESTAMPTZOID:
			*encoding = ENC_TIMESTAMPTZ;
			return simple_type(RS_TIMESTAMPTZ);
		case TIMEOID:
			*encoding = ENC_GENERIC;
			return "TIME";
		case TIMETZOID:
			*encoding = ENC_GENERIC;
			return "TIMETZ";
		case INTERVALOID:
			*encoding = ENC_INTERVAL_MICROS;
			return simple_type(RS_BIGINT);
		case BYTEAOID:
			*encoding = ENC_BYTEA_HEX;
			*max_length = REDSHIFT_MAX_VARBYTE;
			return psprintf("VARBYTE(%d)", REDSHIFT_MAX_VARBYTE);
		case UUIDOID:
			*encoding = ENC_GENERIC;
			*max_length = 36;
			return "CHAR(36)";
		case CHAROID:
			*encoding = ENC_GENERIC;
			*max_length = 1;
			return "CHAR(1)";
		case NAMEOID:
			*encoding = ENC_GENERIC;
			return varchar_type(NAMEDATALEN, max_length);
		case TEXTOID:
			*encoding = ENC_TEXT;
			return varchar_type(REDSHIFT_MAX_VARCHAR, max_length);
		case VARCHAROID:
			*encoding = ENC_TEXT;
			if (typmod >= (int32) VARHDRSZ)
				return varchar_type((typmod - VARHDRSZ) * max_char_bytes(), max_length);
			return varchar_type(REDSHIFT_MAX_VARCHAR, max_length);
		case BPCHAROID:
			*encoding = ENC_TEXT;
			if (typmod >= (int32) VARHDRSZ)
			{
				int			chars = typmod - VARHDRSZ;

				/* CHAR(n) holds n bytes: only right for single-byte text. */
				if (max_char_bytes() == 1 && chars <= REDSHIFT_MAX_CHAR)
				{
					*max_length = chars;
					return psprintf("CHAR(%d)", chars);
				}
				return varchar_type(chars * max_char_bytes(), max_length);
			}
			*max_length = max_char_bytes();
			return max_char_bytes() == 1 ? "CHAR(1)" : psprintf("VARCHAR(%d)", max_char_bytes());
		case INETOID:
		case CIDROID:
			*encoding = ENC_GENERIC;
			return varchar_type(50, max_length);
		case MACADDROID:
		case MACADDR8OID:
			*encoding = ENC_GENERIC;
			return varchar_type(23, max_length);
		default:
			/* json, jsonb, arrays, enums, geometric, xml, ranges ... */
			*encoding = ENC_GENERIC;
			return varchar_type(type_is_enum(typid) ? NAMEDATALEN : REDSHIFT_MAX_VARCHAR,
								max_length);
	}
}

/*
 * A PostgreSQL warehouse keeps built-in types as they are; types that only
 * exist in the source database (enums, composites, extension types) travel
 * as text.
 */
static char *
postgres_type(Oid typid, int32 typmod, ValueEncoding *encoding, int *max_length)
{
	*max_length = 0;
	switch (typid)
	{
		case INT2OID:
		case INT4OID:
		case INT8OID:
		case OIDOID:
			*encoding = ENC_INTEGER;
			break;
		case BOOLOID:
			*encoding = ENC_BOOL;
			break;
		case FLOAT4OID:
		case FLOAT8OID:
			*encoding = ENC_FLOAT;
			break;
		case NUMERICOID:
			*encoding = ENC_NUMERIC;
			break;
		case CASHOID:
			/* money's text form depends on lc_monetary: send the amount */
			*encoding = ENC_MONEY_NUMERIC;
			return "numeric(19,2)";
		case DATEOID:
			*encoding = ENC_DATE;
			break;
		case TIMESTAMPOID:
			*encoding = ENC_TIMESTAMP;
			break;
		case TIMESTAMPTZOID:
			*encoding = ENC_TIMESTAMPTZ;
			break;
		case TEXTOID:
		case VARCHAROID:
		case BPCHAROID:
			*encoding = ENC_TEXT;
			if (typid != TEXTOID && typmod >= (int32) VARHDRSZ)
				*max_length = typmod - VARHDRSZ;
			break;
		default:
			*encoding = ENC_GENERIC;
			if (typid >= FirstNormalObjectId)
				return "text";
			break;
	}
	return format_type_with_typemod(typid, typmod);
}

ColumnMap *
redtrack_map_source_column(Oid relid, AttrNumber attnum, bool postgres_dialect)
{
	HeapTuple	tuple;
	Form_pg_attribute att;
	ColumnMap  *col;

	tuple = SearchSysCache2(ATTNUM, ObjectIdGetDatum(relid), Int16GetDatum(attnum));
	if (!HeapTupleIsValid(tuple))
		elog(ERROR, "cache lookup failed for attribute %d of relation %u", attnum, relid);
	att = (Form_pg_attribute) GETSTRUCT(tuple);
	col = redtrack_map_column(NameStr(att->attname), att->atttypid, att->atttypmod,
							  att->attnotnull, postgres_dialect);
	col->attnum = attnum;
	ReleaseSysCache(tuple);
	return col;
}

ColumnMap *
redtrack_map_column(const char *name, Oid typid, int32 typmod, bool not_null,
					bool postgres_dialect)
{
	ColumnMap  *col = palloc0(sizeof(ColumnMap));
	Oid			outfunc;
	bool		isvarlena;

	col->source_name = pstrdup(name);
	col->target_name = col->source_name;
	col->not_null = not_null;
	col->typid = getBaseTypeAndTypmod(typid, &typmod);
	col->typmod = typmod;
	getTypeOutputInfo(typid, &outfunc, &isvarlena);
	fmgr_info(outfunc, &col->output);

	if (postgres_dialect)
	{
		col->target_type = postgres_type(col->typid, col->typmod, &col->encoding, &col->max_length);
		col->length_in_chars = true;
	}
	else
		col->target_type = redshift_type(col->typid, col->typmod, &col->encoding, &col->max_length,
										 &col->decimal_precision, &col->decimal_scale);
	return col;
}

static bool
is_character_type(const char *data_type)
{
	return strcmp(data_type, "character varying") == 0 ||
		strcmp(data_type, "character") == 0 ||
		strcmp(data_type, "text") == 0;
}

/* Let the target's actual column type refine how a value is written. */
static void
adapt_to_target(ColumnMap *col, TargetColumn *target, bool postgres_dialect)
{
	col->target_name = target->name;
	if (is_character_type(target->data_type))
	{
		col->max_length = target->max_length;
		/* Into a string column these go as their text form. */
		if (col->encoding == ENC_INTERVAL_MICROS || col->encoding == ENC_BYTEA_HEX ||
			col->encoding == ENC_MONEY_NUMERIC || col->encoding == ENC_NUMERIC)
			col->encoding = ENC_GENERIC;
	}
	else if (col->encoding == ENC_BYTEA_HEX)
	{
		/*
		 * VARBYTE's limit is redtrack's own, whatever the catalog says (the
		 * stand-in, for one, shows VARBYTE as bytea without a length).
		 */
		col->max_length = (target->max_length > 0 && target->max_length < REDSHIFT_MAX_VARBYTE)
			? target->max_length : REDSHIFT_MAX_VARBYTE;
	}
	else
		col->max_length = 0;
	if (col->encoding == ENC_INTERVAL_MICROS && postgres_dialect &&
		strcmp(target->data_type, "interval") == 0)
		col->encoding = ENC_GENERIC;
}

List *
redtrack_column_map(Oid relid, List *target_columns, bool postgres_dialect, List **missing)
{
	Relation	rel = RelationIdGetRelation(relid);
	TupleDesc	desc;
	List	   *result = NIL;
	bool	   *used;
	ListCell   *lc;

	if (!RelationIsValid(rel))
		elog(ERROR, "could not open relation %u", relid);
	desc = RelationGetDescr(rel);
	used = palloc0(sizeof(bool) * (desc->natts + 1));

	if (target_columns == NIL)
	{
		for (int i = 0; i < desc->natts; i++)
		{
			if (TupleDescAttr(desc, i)->attisdropped)
				continue;
			result = lappend(result, redtrack_map_source_column(relid, i + 1, postgres_dialect));
			used[i + 1] = true;
		}
	}
	else
	{
		foreach(lc, target_columns)
		{
			TargetColumn *target = lfirst(lc);
			AttrNumber	found = InvalidAttrNumber;

			for (int pass = 0; pass < 2 && found == InvalidAttrNumber; pass++)
			{
				for (int i = 0; i < desc->natts; i++)
				{
					Form_pg_attribute att = TupleDescAttr(desc, i);

					if (att->attisdropped || used[i + 1])
						continue;
					if (pass == 0 ? strcmp(NameStr(att->attname), target->name) == 0
						: pg_strcasecmp(NameStr(att->attname), target->name) == 0)
					{
						found = i + 1;
						break;
					}
				}
			}
			if (found != InvalidAttrNumber)
			{
				ColumnMap  *col = redtrack_map_source_column(relid, found, postgres_dialect);

				adapt_to_target(col, target, postgres_dialect);
				result = lappend(result, col);
				used[found] = true;
			}
		}
	}

	/* Each field's share of a record that redtrack keeps off the cuts */
	foreach(lc, result)
		((ColumnMap *) lfirst(lc))->record_reserve = RECORD_FIELD_RESERVE * (list_length(result) + 1);

	if (missing)
	{
		*missing = NIL;
		for (int i = 0; i < desc->natts; i++)
		{
			if (!TupleDescAttr(desc, i)->attisdropped && !used[i + 1])
				*missing = lappend(*missing, pstrdup(NameStr(TupleDescAttr(desc, i)->attname)));
		}
	}
	RelationClose(rel);
	return result;
}

/* ----------------------------------------------------------------
 * Encoding values
 * ----------------------------------------------------------------
 */

static void
append_digits(ByteBuf *out, int value, int width)
{
	char		buf[16];
	int			n = 0;

	do
	{
		buf[n++] = (char) ('0' + value % 10);
		value /= 10;
	} while (value > 0 || n < width);
	while (n > 0)
		bytebuf_append_char(out, buf[--n]);
}

/* YYYY-MM-DD for a Julian day of a year in 1..9999. */
static void
append_date(ByteBuf *out, int julian)
{
	int			year,
				month,
				day;

	j2date(julian, &year, &month, &day);
	append_digits(out, year, 4);
	bytebuf_append_char(out, '-');
	append_digits(out, month, 2);
	bytebuf_append_char(out, '-');
	append_digits(out, day, 2);
}

/* Whether a Julian day falls in years 1..9999. */
static bool
julian_in_range(int julian)
{
	int			year,
				month,
				day;

	j2date(julian, &year, &month, &day);
	return year >= 1 && year <= 9999;
}

/* "YYYY-MM-DD HH:MI:SS[.ffffff]" of a timestamp, read as UTC wall clock. */
static bool
append_timestamp(ByteBuf *out, Timestamp ts)
{
	int64		days = ts / USECS_PER_DAY;
	int64		time = ts % USECS_PER_DAY;
	int			julian;
	int			hour,
				minute,
				second,
				fraction;

	if (time < 0)
	{
		time += USECS_PER_DAY;
		days -= 1;
	}
	julian = (int) (days + POSTGRES_EPOCH_JDATE);
	if (!julian_in_range(julian))
		return false;
	append_date(out, julian);
	hour = (int) (time / USECS_PER_HOUR);
	time -= (int64) hour * USECS_PER_HOUR;
	minute = (int) (time / USECS_PER_MINUTE);
	time -= (int64) minute * USECS_PER_MINUTE;
	second = (int) (time / USECS_PER_SEC);
	fraction = (int) (time - (int64) second * USECS_PER_SEC);

	bytebuf_append_char(out, ' ');
	append_digits(out, hour, 2);
	bytebuf_append_char(out, ':');
	append_digits(out, minute, 2);
	bytebuf_append_char(out, ':');
	append_digits(out, second, 2);
	if (fraction > 0)
	{
		int			width = 6;

		while (fraction % 10 == 0)
		{
			fraction /= 10;
			width--;
		}
		bytebuf_append_char(out, '.');
		append_digits(out, fraction, width);
	}
	return true;
}

/*
 * The most bytes a record of ncolumns fields may take before the encoder
 * starts cutting its values: the record limit less the small fields'
 * reserve (the same arithmetic as record_room's).
 */
size_t
redtrack_record_limit(int ncolumns)
{
	return REDSHIFT_MAX_RECORD - Min((size_t) RECORD_FIELD_RESERVE * (ncolumns + 1),
									 REDSHIFT_MAX_RECORD / 2);
}

/*
 * How many bytes the current record may still take for this field, on
 * Redshift; SIZE_MAX where records have no limit (a PostgreSQL warehouse).
 */
static size_t
record_room(ByteBuf *out, ColumnMap *col, bool postgres_dialect, EncodeCounters *counters)
{
	size_t		used = out->len - counters->record_start;
	size_t		limit = REDSHIFT_MAX_RECORD - Min(col->record_reserve, REDSHIFT_MAX_RECORD / 2);

	if (postgres_dialect || counters->no_record_limit)
		return SIZE_MAX;
	return used < limit ? limit - used : 0;
}

/*
 * A string value, converted to UTF-8, cut to the target's limit and to the
 * room left in the record, quoted.
 */
static void
append_string(ByteBuf *out, ColumnMap *col, const char *s, size_t len,
			  size_t room, EncodeCounters *counters)
{
	char	   *converted = NULL;
	size_t		keep;

	if (!server_is_utf8() && GetDatabaseEncoding() != PG_SQL_ASCII)
	{
		converted = pg_server_to_any(s, (int) len, PG_UTF8);
		if (converted != s)
		{
			s = converted;
			len = strlen(converted);
		}
	}
	keep = len;
	if (col->max_length > 0)
	{
		keep = col->length_in_chars
			? utf8_prefix_chars(s, len, (size_t) col->max_length)
			: utf8_prefix_bytes(s, len, (size_t) col->max_length);
	}
	/* (Quoted, a string takes at most twice its bytes and two quotes.) */
	if (keep * 2 + 2 > room && csv_quoted_prefix(s, keep, room) < keep)
	{
		/*
		 * The record would pass COPY's limit.  A string column takes what
		 * fits.  A value of another type (a time, or anything into a target
		 * column that is not a string) cannot be cut: a small one still
		 * fits in its field's reserve, a larger one is left out: NULL.
		 */
		if (col->encoding == ENC_TEXT || col->max_length > 0)
			keep = csv_quoted_prefix(s, keep, room);
		else if (keep > (RECORD_FIELD_RESERVE - 3) / 2)
		{
			counters->clamped++;
			bytebuf_append_char(out, CSV_NULL_MARKER);
			return;
		}
	}
	if (keep < len)
		counters->truncated++;
	csv_append_quoted(out, s, keep);
}

static void
append_generic(ByteBuf *out, ColumnMap *col, Datum value, size_t room,
			   EncodeCounters *counters)
{
	char	   *text = OutputFunctionCall(&col->output, value);

	append_string(out, col, text, strlen(text), room, counters);
}

static void
append_clamped(ByteBuf *out, const char *text, EncodeCounters *counters)
{
	counters->clamped++;
	bytebuf_append(out, text, strlen(text));
}

/*
 * A number the target cannot hold (NaN, an infinity, a decimal too large):
 * NULL, or in a NOT NULL column (which would refuse NULL and fail the load)
 * the nearest value it holds, 0 for NaN; counted either way.
 */
static void
append_unrepresentable(ByteBuf *out, ColumnMap *col, bool nan, bool negative,
					   EncodeCounters *counters)
{
	counters->clamped++;
	if (!col->not_null)
		bytebuf_append_char(out, CSV_NULL_MARKER);
	else if (nan)
		bytebuf_append_char(out, '0');
	else if (col->encoding == ENC_NUMERIC)
		csv_append_decimal_limit(out, negative, col->decimal_precision, col->decimal_scale);
	else if (col->typid == FLOAT4OID)
		append_clamped_text(out, negative ? "-" FLOAT4_MAX_TEXT : FLOAT4_MAX_TEXT);
	else
		append_clamped_text(out, negative ? "-" FLOAT8_MAX_TEXT : FLOAT8_MAX_TEXT);
}

static void
encode_numeric(ByteBuf *out, ColumnMap *col, Datum value, bool postgres_dialect,
	       EncodeCounters *counters)
{
	Numeric		n = DatumGetNumeric(value);
	char	   *text;

	if (postgres_dialect)
	{
		text = OutputFunctionCall(&col->output, value);
		bytebuf_append(out, text, strlen(text));
		return;
	}
	text = OutputFunctionCall(&col->output, value);
	if (numeric_is_nan(n) || numeric_is_inf(n))
	{
		/* DECIMAL has neither */
		append_unrepresentable(out, col, numeric_is_nan(n), text[0] == '-', counters);
		return;
	}

	/*
	 * Round the fraction to the column's scale (as Redshift would,
	 * but counted), and never let a value whose integer digits the
	 * column cannot hold fail the COPY.
	 */
	switch (csv_append_decimal(out, text, strlen(text),
							   col->decimal_precision, col->decimal_scale))
	{
		case DECIMAL_EXACT:
			break;
		case DECIMAL_ROUNDED:
			counters->truncated++;
			break;
		case DECIMAL_OVERFLOW:
			append_unrepresentable(out, col, false, text[0] == '-', counters);
			break;
	}
}

static void
encode_float(ByteBuf *out, ColumnMap *col, Datum value, bool postgres_dialect,
	     EncodeCounters *counters)
{
	char	   *text;

	/*
	 * Redshift's COPY reads a floating-point field only in standard
	 * (12.123) or exponential (1.0E4) form ("Preparing your input
	 * data", docs.aws.amazon.com/redshift/latest/dg/
	 * t_preparing-input-data.html), and REAL and DOUBLE PRECISION
	 * list no special values (r_Numeric_types201.html): NaN and
	 * infinities become NULL, counted.
	 */
	if (!postgres_dialect)
	{
		double		d = (col->typid == FLOAT4OID)
			? (double) DatumGetFloat4(value) : DatumGetFloat8(value);

		if (isnan(d) || isinf(d))
		{
			append_unrepresentable(out, col, isnan(d), d < 0, counters);
			return;
		}
	}
	text = OutputFunctionCall(&col->output, value);
	bytebuf_append(out, text, strlen(text));
}

static void
encode_date(ByteBuf *out, ColumnMap *col, Datum value, bool postgres_dialect,
	    EncodeCounters *counters)
{
	DateADT		d = DatumGetDateADT(value);

	if (DATE_NOT_FINITE(d) || !julian_in_range(d + POSTGRES_EPOCH_JDATE))
	{
		if (postgres_dialect)
			append_generic(out, col, value, SIZE_MAX, counters);
		else
			append_clamped(out, (DATE_IS_NOBEGIN(d) || d < 0) ? CLAMP_MIN_DATE
						   : CLAMP_MAX_DATE, counters);
	}
	else
		append_date(out, d + POSTGRES_EPOCH_JDATE);
}

static void
encode_interval(ByteBuf *out, ColumnMap *col, Datum value, bool postgres_dialect,
		EncodeCounters *counters)
{
	Interval   *iv = DatumGetIntervalP(value);
	int64		years = iv->month / MONTHS_PER_YEAR;
	int64		months = iv->month % MONTHS_PER_YEAR;
	int64		micros;
	int64		part;
	bool		overflow;
	char		buf[MAXINT8LEN + 1];

#if PG_VERSION_NUM >= 170000
	/* 17's infinite intervals: BIGINT has none, so clamp as dates do */
	if (INTERVAL_NOT_FINITE(iv))
	{
		counters->clamped++;
		bytebuf_append(out, buf,
					   pg_lltoa(INTERVAL_IS_NOEND(iv) ? PG_INT64_MAX : PG_INT64_MIN, buf));
		return;
	}
#endif
	/* EXTRACT(EPOCH FROM interval): a year is 365.25 days */
	overflow = pg_mul_s64_overflow(years, (int64) 31557600 * USECS_PER_SEC, &micros);
	overflow |= pg_mul_s64_overflow(months, (int64) DAYS_PER_MONTH * USECS_PER_DAY, &part) ||
		pg_add_s64_overflow(micros, part, &micros);
	overflow |= pg_mul_s64_overflow(iv->day, USECS_PER_DAY, &part) ||
		pg_add_s64_overflow(micros, part, &micros);
	overflow |= pg_add_s64_overflow(micros, iv->time, &micros);
	if (overflow && col->not_null)
	{
		/*
		 * NULL would fail the load: BIGINT's bound, with the sign
		 * of the largest unit
		 */
		bool		negative = iv->month != 0 ? iv->month < 0
			: iv->day != 0 ? iv->day < 0 : iv->time < 0;

		counters->clamped++;
		bytebuf_append(out, buf, pg_lltoa(negative ? PG_INT64_MIN : PG_INT64_MAX, buf));
	}
	else if (overflow)
	{
		counters->clamped++;
		bytebuf_append_char(out, CSV_NULL_MARKER);
	}
	else
		bytebuf_append(out, buf, pg_lltoa(micros, buf));
}

static void
encode_bytea(ByteBuf *out, ColumnMap *col, Datum value, bool postgres_dialect,
	     EncodeCounters *counters)
{
	bytea	   *b = DatumGetByteaPP(value);
	size_t		len = VARSIZE_ANY_EXHDR(b);
	size_t		limit = REDSHIFT_MAX_VARBYTE;
	size_t		room = record_room(out, col, postgres_dialect, counters) / 2;

	/*
	 * COPY loads an empty field of any type but CHAR and VARCHAR
	 * as NULL (EMPTYASNULL in copy-parameters-data-conversion):
	 * an empty VARBYTE cannot arrive as such.  Say so: NULL, or
	 * in a NOT NULL column (which would refuse NULL) the shortest
	 * value it loads, one zero byte; counted.
	 */
	if (len == 0)
	{
		counters->clamped++;
		if (col->not_null)
			bytebuf_append(out, "00", 2);
		else
			bytebuf_append_char(out, CSV_NULL_MARKER);
		return;
	}
	if (col->max_length > 0)
		limit = Min(limit, (size_t) col->max_length);
	if (len > Min(limit, room))
	{
		len = Min(limit, room);
		counters->truncated++;
	}
	if (len > 0)
		csv_append_hex(out, (const unsigned char *) VARDATA_ANY(b), len);
	else if (col->not_null)
		bytebuf_append(out, "00", 2);	/* within the field's reserve */
	else
		bytebuf_append_char(out, CSV_NULL_MARKER);
}

static void
encode_timestamp(ByteBuf *out, ColumnMap *col, Datum value, bool postgres_dialect,
		 EncodeCounters *counters)
{
	Timestamp	ts = DatumGetTimestamp(value);
	size_t		start = out->len;

	if (!TIMESTAMP_NOT_FINITE(ts) && append_timestamp(out, ts))
	{
		if (col->encoding == ENC_TIMESTAMPTZ)
			bytebuf_append(out, "+00", 3);
	}
	else if (postgres_dialect)
	{
		out->len = start;
		/* the worker's TimeZone is UTC: this is the UTC text */
		append_generic(out, col, value, SIZE_MAX, counters);
	}
	else
	{
		out->len = start;
		append_clamped(out, (TIMESTAMP_IS_NOBEGIN(ts) || ts < 0)
					   ? CLAMP_MIN_TIMESTAMP : CLAMP_MAX_TIMESTAMP, counters);
		if (col->encoding == ENC_TIMESTAMPTZ)
			bytebuf_append(out, "+00", 3);
	}
}

void
redtrack_encode_value(ByteBuf *out, ColumnMap *col, Datum value, bool isnull,
					  bool postgres_dialect, EncodeCounters *counters)
{
	char		buf[MAXINT8LEN + 1];

	/* The first field of a record is the one not preceded by a ',' */
	if (out->len == 0 || out->data[out->len - 1] != ',')
		counters->record_start = out->len;

	if (isnull)
	{
		/* A PostgreSQL warehouse reads an empty unquoted field as NULL. */
		if (!postgres_dialect)
			bytebuf_append_char(out, CSV_NULL_MARKER);
		return;
	}

	switch (col->encoding)
	{
		case ENC_INTEGER:
			{
				int64		v;

				if (col->typid == INT2OID)
					v = DatumGetInt16(value);
				else if (col->typid == INT4OID)
					v = DatumGetInt32(value);
				else if (col->typid == OIDOID)
					v = DatumGetObjectId(value);
				else
					v = DatumGetInt64(value);
				bytebuf_append(out, buf, pg_lltoa(v, buf));
				break;
			}
		case ENC_BOOL:
			bytebuf_append_char(out, DatumGetBool(value) ? 't' : 'f');
			break;
		case ENC_NUMERIC:
			encode_numeric(out, col, value, postgres_dialect, counters);
			break;
		case ENC_FLOAT:
			encode_float(out, col, value, postgres_dialect, counters);
			break;
		case ENC_MONEY_NUMERIC:
			{
				char	   *text = DatumGetCString(DirectFunctionCall1(numeric_out,
																	   DirectFunctionCall1(cash_numeric, value)));

				bytebuf_append(out, text, strlen(text));
				break;
			}
		case ENC_DATE:
			encode_date(out, col, value, postgres_dialect, counters);
			break;
		case ENC_TIMESTAMP:
		case ENC_TIMESTAMPTZ:
			encode_timestamp(out, col, value, postgres_dialect, counters);
			break;
		case ENC_INTERVAL_MICROS:
			encode_interval(out, col, value, postgres_dialect, counters);
			break;
		case ENC_BYTEA_HEX:
			encode_bytea(out, col, value, postgres_dialect, counters);
			break;
		case ENC_TEXT:
			{
				text	   *t = DatumGetTextPP(value);

				append_string(out, col, VARDATA_ANY(t), VARSIZE_ANY_EXHDR(t),
							  record_room(out, col, postgres_dialect, counters), counters);
				break;
			}
		case ENC_GENERIC:
			append_generic(out, col, value, record_room(out, col, postgres_dialect, counters),
						   counters);
			break;
	}
}

void
redtrack_encode_text_value(ByteBuf *out, ColumnMap *col, const char *text,
						   bool postgres_dialect, EncodeCounters *counters)
{
	Oid			infunc;
	Oid			ioparam;
	Datum		value;

	getTypeInputInfo(col->typid, &infunc, &ioparam);
	value = OidInputFunctionCall(infunc, (char *) text, ioparam, col->typmod);
	redtrack_encode_value(out, col, value, false, postgres_dialect, counters);
}
