/*-------------------------------------------------------------------------
 *
 * typemap.h
 *	  PostgreSQL types on the warehouse side: the column type a target
 *	  table gets, and how each value is written into the CSV that COPY
 *	  reads (docs/REDSHIFT.md, "Type mapping").
 *
 * The exporter, rrr_target_ddl and the loader share these decisions, so a
 * target created by redtrack always accepts what redtrack exports.
 *
 *-------------------------------------------------------------------------
 */
#ifndef REDTRACK_TYPEMAP_H
#define REDTRACK_TYPEMAP_H

#include "access/attnum.h"
#include "fmgr.h"
#include "nodes/pg_list.h"

#include "bytebuf.h"

/*
 * Redshift's limits on the types redtrack writes (docs/REDSHIFT.md): VARCHAR
 * lengths are bytes, DECIMAL has at most 38 digits and a scale of 37.
 */
#define REDSHIFT_MAX_VARCHAR 65535
#define REDSHIFT_MAX_PRECISION 38
#define REDSHIFT_MAX_SCALE 37

/*
 * The Redshift column types redtrack names itself: the ones a stream's
 * fields are declared with, and the ones a table's columns map to.  Both
 * spell them through redshift_type_sql, so a stream's target and a table's
 * target say the same type the same way.
 */
typedef enum RedshiftTypeKind
{
	RS_VARCHAR,
	RS_SMALLINT,
	RS_INTEGER,
	RS_BIGINT,
	RS_BOOLEAN,
	RS_DOUBLE,
	RS_DECIMAL,
	RS_TIMESTAMP,
	RS_TIMESTAMPTZ,
	RS_DATE,
	RS_SUPER
} RedshiftTypeKind;

typedef struct RedshiftType
{
	RedshiftTypeKind kind;
	int			length;			/* RS_VARCHAR: bytes */
	int			precision;		/* RS_DECIMAL */
	int			scale;
} RedshiftType;

/* What redshift_type_parse made of a declared type. */
typedef enum RedshiftTypeParse
{
	RS_PARSE_OK,
	RS_PARSE_UNKNOWN,			/* no type of that name */
	RS_PARSE_BAD_LENGTH,		/* varchar(n) outside 1..REDSHIFT_MAX_VARCHAR */
	RS_PARSE_BAD_DECIMAL		/* decimal(p,s) Redshift does not have */
} RedshiftTypeParse;

/* Lower case, runs of white space as one space between words, none elsewhere. */
extern char *redshift_normalize_spelling(const char *s);

/*
 * Read a declared type ("varchar(32)", "decimal(10, 2)", "bigint", "int8",
 * "timestamp with time zone", ...), case and spacing aside.  On
 * RS_PARSE_BAD_* the numbers read are left in *type for the message.
 */
extern RedshiftTypeParse redshift_type_parse(const char *spec, RedshiftType *type);

/* The type's name without modifiers, lower case: "varchar(n)", "bigint". */
extern const char *redshift_type_name(RedshiftTypeKind kind);

/* The canonical spelling, lower case: "varchar(32)", "decimal(10,2)". */
extern char *redshift_type_spelling(const RedshiftType *type);

/* The warehouse column type: "VARCHAR(32)"; SUPER is JSONB on PostgreSQL. */
extern char *redshift_type_sql(const RedshiftType *type, bool postgres_dialect);

/*
 * The local PostgreSQL type that holds the type's values (a stream's queue
 * column): VARCHAR is text, since its length is in bytes and checked on
 * write; SUPER is jsonb.
 */
extern Oid	redshift_type_local(const RedshiftType *type, int32 *typmod);

/* How a value is written into the CSV. */
typedef enum ValueEncoding
{
	ENC_INTEGER,				/* int2/4/8, oid: digits */
	ENC_BOOL,					/* t / f */
	ENC_NUMERIC,				/* exact decimal text; NaN/Inf become NULL */
	ENC_FLOAT,					/* shortest exact text */
	ENC_MONEY_NUMERIC,			/* money as its decimal amount */
	ENC_DATE,					/* YYYY-MM-DD */
	ENC_TIMESTAMP,				/* YYYY-MM-DD HH:MI:SS[.ffffff] */
	ENC_TIMESTAMPTZ,			/* the same in UTC, with +00 */
	ENC_INTERVAL_MICROS,		/* interval as a number of microseconds */
	ENC_BYTEA_HEX,				/* plain hex digits (Redshift VARBYTE) */
	ENC_TEXT,					/* text-like varlena: the bytes, quoted */
	ENC_GENERIC					/* the type's output function, quoted */
} ValueEncoding;

/* One column as it travels from the source to the target. */
typedef struct ColumnMap
{
	char	   *source_name;
	char	   *target_name;	/* the name the target table uses */
	AttrNumber	attnum;			/* in the source table */
	Oid			typid;			/* base type of the source column */
	int32		typmod;
	bool		not_null;
	ValueEncoding encoding;
	FmgrInfo	output;			/* for ENC_GENERIC and fallbacks */
	int			max_length;		/* target length limit, 0 = none */
	bool		length_in_chars;	/* PostgreSQL targets count characters */
	char	   *target_type;	/* type for CREATE TABLE / ALTER TABLE */
	int			decimal_precision;	/* ENC_NUMERIC on Redshift: the DECIMAL(p,s) */
	int			decimal_scale;	/* values are fitted to */
	int			record_reserve; /* bytes a record keeps for its small fields */
} ColumnMap;

/*
 * Counters of values changed on the way (reported, never silent), and the
 * encoder's note of where the current record began.  Zero it before the
 * first record.
 */
typedef struct EncodeCounters
{
	int64		truncated;		/* strings and bytes cut (to the target length
								 * or to fit a record), decimals rounded to
								 * the target's scale */
	int64		clamped;		/* values replaced: dates and timestamps out of
								 * range, NULL for NaN and infinite numbers,
								 * decimals too large for the target, empty
								 * bytea */
	size_t		record_start;	/* offset of the current record in its buffer */
	bool		no_record_limit;	/* measure a record whole: never cut it to
									 * fit REDSHIFT_MAX_RECORD */
} EncodeCounters;

/*
 * COPY fails on an input record over 4 MB (docs/REDSHIFT.md): redtrack keeps
 * records under 4,000,000 bytes, whether Redshift's MB is 10^6 or 2^20
 * bytes.
 */
#define REDSHIFT_MAX_RECORD 4000000

/* The bytes a record of ncolumns fields may take before values are cut. */
extern size_t redtrack_record_limit(int ncolumns);

/* A target column as the warehouse describes it. */
typedef struct TargetColumn
{
	char	   *name;
	char	   *data_type;		/* information_schema.columns.data_type */
	int			max_length;		/* character_maximum_length, 0 if none */
} TargetColumn;

/*
 * The column map of a source table against a target: target columns in
 * target order, each matched to the source column of the same name (exact,
 * else case-insensitive, as Redshift folds names to lower case).  With
 * target_columns NIL (no target yet), every source column, mapped.
 * Source columns missing on the target are left out, and listed in
 * *missing (of char *) when missing is not NULL.
 */
extern List *redtrack_column_map(Oid relid, List *target_columns, bool postgres_dialect,
								 List **missing);

/* The ColumnMap of one source column as a new target column. */
extern ColumnMap *redtrack_map_source_column(Oid relid, AttrNumber attnum,
											 bool postgres_dialect);

/* The same for a value of this type and name (a query's result column). */
extern ColumnMap *redtrack_map_column(const char *name, Oid typid, int32 typmod,
									  bool not_null, bool postgres_dialect);

/*
 * Append one value to a CSV row (NULL included).  The caller writes the
 * fields of a record in order, a ',' before each but the first and a '\n'
 * after the last, into one buffer: on Redshift the encoder keeps the whole
 * record under COPY's 4 MB limit by cutting the strings and bytes that would
 * cross it (the first field of a record is the one not preceded by ',').
 */
extern void redtrack_encode_value(ByteBuf *out, ColumnMap *col, Datum value, bool isnull,
								  bool postgres_dialect, EncodeCounters *counters);

/* Append a key value given in canonical text (see delete tracking). */
extern void redtrack_encode_text_value(ByteBuf *out, ColumnMap *col, const char *text,
									   bool postgres_dialect, EncodeCounters *counters);

#endif							/* REDTRACK_TYPEMAP_H */
