/*-------------------------------------------------------------------------
 *
 * csv.c
 *	  CSV field encoding for Redshift's COPY.
 *
 *-------------------------------------------------------------------------
 */
#include "csv.h"

void
csv_append_quoted(ByteBuf *out, const char *s, size_t len)
{
	const char *quote = memchr(s, '"', len);

	/* One reservation covers the common case of no inner quote. */
	if (!bytebuf_reserve(out, len + 2))
		return;
	out->data[out->len++] = '"';
	if (quote == NULL)
	{
		memcpy(out->data + out->len, s, len);
		out->len += len;
	}
	else
	{
		const char *end = s + len;

		while (s < end)
		{
			const char *q = memchr(s, '"', end - s);
			size_t		n = q ? (size_t) (q - s) + 1 : (size_t) (end - s);

			bytebuf_append(out, s, n);
			if (q)
				bytebuf_append_char(out, '"');
			s += n;
		}
		if (!bytebuf_reserve(out, 1))
			return;
	}
	out->data[out->len++] = '"';
}

void
csv_append_hex(ByteBuf *out, const unsigned char *bytes, size_t len)
{
	static const char digits[] = "0123456789abcdef";

	if (!bytebuf_reserve(out, len * 2))
		return;
	for (size_t i = 0; i < len; i++)
	{
		out->data[out->len++] = digits[bytes[i] >> 4];
		out->data[out->len++] = digits[bytes[i] & 0x0f];
	}
}

size_t
utf8_prefix_bytes(const char *s, size_t len, size_t max_bytes)
{
	size_t		n;

	if (len <= max_bytes)
		return len;
	n = max_bytes;
	/* Back off continuation bytes (10xxxxxx) to the start of a character. */
	while (n > 0 && ((unsigned char) s[n] & 0xC0) == 0x80)
		n--;
	return n;
}

size_t
utf8_prefix_chars(const char *s, size_t len, size_t max_chars)
{
	size_t		chars = 0;

	for (size_t i = 0; i < len; i++)
	{
		if (((unsigned char) s[i] & 0xC0) != 0x80)
		{
			if (chars == max_chars)
				return i;
			chars++;
		}
	}
	return len;
}

size_t
csv_quoted_prefix(const char *s, size_t len, size_t max_encoded)
{
	size_t		size = 2;

	if (max_encoded < 2)
		return 0;
	for (size_t i = 0; i < len; i++)
	{
		size += (s[i] == '"') ? 2 : 1;
		if (size > max_encoded)
			return utf8_prefix_bytes(s, len, i);
	}
	return len;
}

#define MAX_DECIMAL_DIGITS 38
#define INT64_MAX_DIGITS "9223372036854775807"

DecimalFit
csv_append_decimal(ByteBuf *out, const char *s, size_t len, int precision, int scale)
{
	const char *end = s + len;
	const char *int_start;
	const char *int_end;
	const char *frac_start = NULL;
	size_t		nint;
	size_t		nfrac = 0;
	size_t		nkept;
	bool		negative = false;
	bool		changed = false;
	bool		zero = true;
	char		digits[MAX_DECIMAL_DIGITS + 2];	/* integer digits, then kept fraction */
	size_t		ndigits;

	if (precision < 1 || precision > MAX_DECIMAL_DIGITS || scale < 0 || scale > precision)
		return DECIMAL_OVERFLOW;
	if (s < end && (*s == '-' || *s == '+'))
		negative = (*s++ == '-');
	int_start = s;
	while (s < end && *s >= '0' && *s <= '9')
		s++;
	int_end = s;
	if (s < end && *s == '.')
	{
		frac_start = ++s;
		while (s < end && *s >= '0' && *s <= '9')
			s++;
		nfrac = s - frac_start;
	}
	if (s != end || (int_end == int_start && nfrac == 0))
		return DECIMAL_OVERFLOW;	/* not a plain decimal */

	while (int_start < int_end && *int_start == '0')
		int_start++;
	nint = int_end - int_start;
	/* Rounding can only add a digit: this bound holds before it too. */
	if (nint > (size_t) (precision - scale))
		return DECIMAL_OVERFLOW;

	nkept = nfrac < (size_t) scale ? nfrac : (size_t) scale;
	memcpy(digits, int_start, nint);
	if (nkept > 0)
		memcpy(digits + nint, frac_start, nkept);
	ndigits = nint + nkept;

	if (nfrac > nkept)
	{
		for (size_t i = nkept; i < nfrac; i++)
			if (frac_start[i] != '0')
				changed = true;
		if (frac_start[nkept] >= '5')
		{
			/* Half away from zero: add one unit in the last kept place. */
			size_t		i = ndigits;

			while (i > 0 && digits[i - 1] == '9')
				digits[--i] = '0';
			if (i > 0)
				digits[i - 1]++;
			else
			{
				memmove(digits + 1, digits, ndigits);
				digits[0] = '1';
				ndigits++;
				nint++;
				if (nint > (size_t) (precision - scale))
					return DECIMAL_OVERFLOW;
			}
		}
	}

	/* 64-bit DECIMAL: the unscaled value (fraction padded to the scale). */
	if (precision <= 19 && nint + scale >= 19)
	{
		char		unscaled[MAX_DECIMAL_DIGITS + 2];
		size_t		n = 0;
		size_t		from = 0;

		memcpy(unscaled, digits, ndigits);
		n = ndigits;
		while (n < nint + scale)
			unscaled[n++] = '0';
		while (from < n && unscaled[from] == '0')
			from++;
		if (n - from > 19 ||
			(n - from == 19 && memcmp(unscaled + from, INT64_MAX_DIGITS, 19) > 0))
			return DECIMAL_OVERFLOW;
	}

	for (size_t i = 0; i < ndigits; i++)
		if (digits[i] != '0')
			zero = false;
	if (negative && !zero)
		bytebuf_append_char(out, '-');
	if (nint == 0)
		bytebuf_append_char(out, '0');
	else
		bytebuf_append(out, digits, nint);
	if (ndigits > nint)
	{
		bytebuf_append_char(out, '.');
		bytebuf_append(out, digits + nint, ndigits - nint);
	}
	return changed ? DECIMAL_ROUNDED : DECIMAL_EXACT;
}

void
csv_append_decimal_limit(ByteBuf *out, bool negative, int precision, int scale)
{
	char		digits[MAX_DECIMAL_DIGITS + 1];

	if (precision < 1 || precision > MAX_DECIMAL_DIGITS || scale < 0 || scale > precision)
		return;
	if (precision == 19)
		memcpy(digits, INT64_MAX_DIGITS, 19);
	else
		memset(digits, '9', precision);
	if (negative)
		bytebuf_append_char(out, '-');
	if (precision == scale)
		bytebuf_append_char(out, '0');
	else
		bytebuf_append(out, digits, precision - scale);
	if (scale > 0)
	{
		bytebuf_append_char(out, '.');
		bytebuf_append(out, digits + precision - scale, scale);
	}
}
