/*-------------------------------------------------------------------------
 *
 * csv.h
 *	  CSV fields as Redshift's COPY ... CSV reads them (REDSHIFT.md):
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

#endif							/* REDTRACK_CSV_H */
