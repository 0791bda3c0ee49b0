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
