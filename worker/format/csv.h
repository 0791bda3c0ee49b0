/*-------------------------------------------------------------------------
 *
 * csv.h
 *	  CSV fields as Redshift's COPY ... CSV reads them (docs/REDSHIFT.md):
 *	  fields separated by ',', rows by '\n', strings always quoted with '"'
 *	  and inner quotes doubled (a quoted field may hold ',', CR and LF),
 *	  NULL as a field made of the single byte 0x00 (COPY ... NULL AS '\0').
 *
 * PostgreSQL text can never contain a 0x00 byte, so the NULL marker cannot
 * collide with any value, quoted or not, and NULL and '' stay distinct.
 *
 *-------------------------------------------------------------------------
 */
#ifndef REDTRACK_CSV_H
#define REDTRACK_CSV_H

#include "bytebuf.h"

#define CSV_NULL_MARKER '\0'

/* "value" with inner quotes doubled. */
extern void csv_append_quoted(ByteBuf *out, const char *s, size_t len);

/* Plain hex digits of a byte string (Redshift VARBYTE in CSV). */
extern void csv_append_hex(ByteBuf *out, const unsigned char *bytes, size_t len);

/* The longest prefix of a UTF-8 string of at most max_bytes bytes that
 * ends on a character boundary. */
extern size_t utf8_prefix_bytes(const char *s, size_t len, size_t max_bytes);

/* The byte length of the first max_chars characters of a UTF-8 string. */
extern size_t utf8_prefix_chars(const char *s, size_t len, size_t max_chars);

/*
 * The byte length of the longest prefix of a UTF-8 string, ending on a
 * character boundary, whose quoted form (csv_append_quoted: two quotes, inner
 * quotes doubled) takes at most max_encoded bytes; 0 when max_encoded < 2.
 */
extern size_t csv_quoted_prefix(const char *s, size_t len, size_t max_encoded);

/* What csv_append_decimal did with a value. */
typedef enum DecimalFit
{
	DECIMAL_EXACT,				/* written with the same value */
	DECIMAL_ROUNDED,			/* fraction rounded to the scale: value changed */
	DECIMAL_OVERFLOW			/* does not fit DECIMAL(p,s): nothing written */
} DecimalFit;

/*
 * A plain decimal text ([-]digits[.digits], as numeric_out writes it) as a
 * Redshift DECIMAL(precision, scale) column holds it: the fraction rounded
 * half away from zero to the scale, as Redshift rounds [r_Numeric_types201];
 * at most precision - scale integer digits; and, for precision <= 19 (stored
 * in 64 bits), at most 9223372036854775807 as an unscaled integer.  Anything
 * else (also text that is not a plain decimal) is DECIMAL_OVERFLOW.
 */
extern DecimalFit csv_append_decimal(ByteBuf *out, const char *s, size_t len,
									 int precision, int scale);

/*
 * The value of largest magnitude a DECIMAL(precision, scale) holds, with a
 * sign: all nines, or for precision 19 (64 bits) 2^63 - 1 unscaled.
 */
extern void csv_append_decimal_limit(ByteBuf *out, bool negative, int precision, int scale);

#endif							/* REDTRACK_CSV_H */
