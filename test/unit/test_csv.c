/* CSV field encoding and UTF-8 truncation. */
#include <stdio.h>
#include <string.h>

#include "csv.h"
#include "tap.h"

static int
encodes_to(const char *in, size_t len, const char *expected, size_t expected_len)
{
	ByteBuf		b = {0};
	int			ok;

	csv_append_quoted(&b, in, len);
	ok = b.len == expected_len && memcmp(b.data, expected, expected_len) == 0;
	bytebuf_free(&b);
	return ok;
}

int
main(void)
{
	ByteBuf		b = {0};
	const char *emoji = "a\xF0\x9F\x98\x80" "b";	/* a😀b: 6 bytes */
	const char *e_acute = "caf\xC3\xA9";	/* café: 5 bytes */

	check(encodes_to("plain", 5, "\"plain\"", 7), "a plain string is quoted");
	check(encodes_to("", 0, "\"\"", 2), "the empty string is \"\" (never NULL)");
	check(encodes_to("say \"hi\"", 8, "\"say \"\"hi\"\"\"", 12), "inner quotes are doubled");
	check(encodes_to("\"", 1, "\"\"\"\"", 4), "a lone quote");
	check(encodes_to("a,b\r\nc", 6, "\"a,b\r\nc\"", 8), "commas, CR and LF stay inside quotes");
	check(encodes_to("\\N", 2, "\"\\N\"", 4), "a literal \\N is just a quoted string");
	check(encodes_to("back\\slash", 10, "\"back\\slash\"", 12), "backslashes are not escapes in CSV");

	csv_append_hex(&b, (const unsigned char *) "\x00\xff\x10", 3);
	check(b.len == 6 && memcmp(b.data, "00ff10", 6) == 0, "bytes as plain hex");
	bytebuf_free(&b);

	check(utf8_prefix_bytes(emoji, 6, 10) == 6, "no truncation under the limit");
	check(utf8_prefix_bytes(emoji, 6, 5) == 5, "cut after a whole 4-byte character");
	check(utf8_prefix_bytes(emoji, 6, 4) == 1, "never cut inside a 4-byte character");
	check(utf8_prefix_bytes(emoji, 6, 2) == 1, "never cut inside (2)");
	check(utf8_prefix_bytes(e_acute, 5, 4) == 3, "never cut inside a 2-byte character");
	check(utf8_prefix_bytes(e_acute, 5, 0) == 0, "limit zero");
	check(utf8_prefix_chars(emoji, 6, 2) == 5, "two characters of a😀b are 5 bytes");
	check(utf8_prefix_chars(e_acute, 5, 10) == 5, "fewer characters than the limit");

	/* Quoted prefixes: the encoded size counts the quotes and doubled ones. */
	check(csv_quoted_prefix("abc", 3, 5) == 3, "\"abc\" fits in 5 bytes");
	check(csv_quoted_prefix("abc", 3, 4) == 2, "\"ab\" in 4 bytes");
	check(csv_quoted_prefix("abc", 3, 2) == 0, "\"\" in 2 bytes");
	check(csv_quoted_prefix("abc", 3, 1) == 0, "nothing fits in 1 byte");
	check(csv_quoted_prefix("a\"b", 3, 4) == 1, "a doubled quote takes two bytes");
	check(csv_quoted_prefix("a\"b", 3, 5) == 2, "\"a\"\"\" in 5 bytes");
	check(csv_quoted_prefix("a\"b", 3, 6) == 3, "a doubled quote, whole");
	check(csv_quoted_prefix(emoji, 6, 6) == 1, "never cut inside a character when quoted");
	check(csv_quoted_prefix(emoji, 6, 7) == 5, "a whole 4-byte character when quoted");

	/* Decimals as DECIMAL(p,s) holds them. */
	{
		struct
		{
			const char *in;
			int			p;
			int			s;
			const char *out;	/* NULL: overflow */
			DecimalFit	fit;
		}			cases[] = {
			{"123.45", 5, 2, "123.45", DECIMAL_EXACT},
			{"-123.45", 5, 2, "-123.45", DECIMAL_EXACT},
			{"123.4", 5, 2, "123.4", DECIMAL_EXACT},
			{"1.2300", 5, 2, "1.23", DECIMAL_EXACT},
			{"0", 5, 2, "0", DECIMAL_EXACT},
			{"0.125", 5, 2, "0.13", DECIMAL_ROUNDED},
			{"-0.125", 5, 2, "-0.13", DECIMAL_ROUNDED},
			{"0.124999", 5, 2, "0.12", DECIMAL_ROUNDED},
			{"-0.001", 5, 2, "0.00", DECIMAL_ROUNDED},
			{"0.995", 5, 2, "1.00", DECIMAL_ROUNDED},
			{"-999.994", 5, 2, "-999.99", DECIMAL_ROUNDED},
			{"999.995", 5, 2, NULL, DECIMAL_OVERFLOW},
			{"1000", 5, 2, NULL, DECIMAL_OVERFLOW},
			{"0001000.5", 6, 2, "1000.5", DECIMAL_EXACT},
			{"2.5", 3, 0, "3", DECIMAL_ROUNDED},
			{"-2.5", 3, 0, "-3", DECIMAL_ROUNDED},
			{"0.4", 3, 0, "0", DECIMAL_ROUNDED},
			/* unconstrained numeric as DECIMAL(38,10): 28 integer digits */
			{"1234567890123456789012345678.12345678905", 38, 10,
			"1234567890123456789012345678.1234567891", DECIMAL_ROUNDED},
			{"12345678901234567890123456789", 38, 10, NULL, DECIMAL_OVERFLOW},
			{"9999999999999999999999999999.99999999995", 38, 10, NULL, DECIMAL_OVERFLOW},
			{"99999999999999999999999999999999999999", 38, 0,
			"99999999999999999999999999999999999999", DECIMAL_EXACT},
			/* 64-bit DECIMALs hold at most 2^63 - 1 unscaled */
			{"9223372036854775807", 19, 0, "9223372036854775807", DECIMAL_EXACT},
			{"-9223372036854775807", 19, 0, "-9223372036854775807", DECIMAL_EXACT},
			{"9223372036854775808", 19, 0, NULL, DECIMAL_OVERFLOW},
			{"9999999999999999999", 19, 0, NULL, DECIMAL_OVERFLOW},
			{"9.223372036854775807", 19, 18, "9.223372036854775807", DECIMAL_EXACT},
			{"9.3", 19, 18, NULL, DECIMAL_OVERFLOW},
			{"99999999999999999.99", 20, 2, "99999999999999999.99", DECIMAL_EXACT},
			{"NaN", 10, 2, NULL, DECIMAL_OVERFLOW},
			{"", 10, 2, NULL, DECIMAL_OVERFLOW},
			{"-", 10, 2, NULL, DECIMAL_OVERFLOW},
			{"1e5", 10, 2, NULL, DECIMAL_OVERFLOW},
		};

		for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		{
			char		what[200];
			DecimalFit	fit;
			int			ok;

			fit = csv_append_decimal(&b, cases[i].in, strlen(cases[i].in), cases[i].p, cases[i].s);
			ok = fit == cases[i].fit &&
				(cases[i].out ? (b.len == strlen(cases[i].out) &&
								 memcmp(b.data, cases[i].out, b.len) == 0)
				 : b.len == 0);
			snprintf(what, sizeof(what), "decimal %s as DECIMAL(%d,%d) is %s", cases[i].in,
					 cases[i].p, cases[i].s, cases[i].out ? cases[i].out : "an overflow");
			check(ok, what);
			if (!ok)
				printf("# got %.*s (fit %d)\n", (int) b.len, b.data ? b.data : "", (int) fit);
			bytebuf_free(&b);
		}
	}

	/* The largest values a DECIMAL holds. */
	csv_append_decimal_limit(&b, false, 5, 2);
	check(b.len == 6 && memcmp(b.data, "999.99", 6) == 0, "DECIMAL(5,2) holds at most 999.99");
	bytebuf_free(&b);
	csv_append_decimal_limit(&b, true, 3, 3);
	check(b.len == 6 && memcmp(b.data, "-0.999", 6) == 0, "DECIMAL(3,3) holds at least -0.999");
	bytebuf_free(&b);
	csv_append_decimal_limit(&b, false, 19, 2);
	check(b.len == 20 && memcmp(b.data, "92233720368547758.07", 20) == 0,
		  "DECIMAL(19,2) holds at most 92233720368547758.07 (64 bits)");
	bytebuf_free(&b);
	csv_append_decimal_limit(&b, true, 38, 0);
	{
		size_t		nines = 0;

		for (size_t i = 1; i < b.len; i++)
			nines += b.data[i] == '9';
		check(b.len == 39 && b.data[0] == '-' && nines == 38, "DECIMAL(38,0) holds at least -(38 nines)");
	}
	bytebuf_free(&b);

	/* Large values grow the buffer correctly. */
	{
		char		big[100000];

		memset(big, 'x', sizeof(big));
		big[50000] = '"';
		csv_append_quoted(&b, big, sizeof(big));
		check(b.len == sizeof(big) + 3 && !b.oom && b.data[0] == '"' && b.data[b.len - 1] == '"',
			  "a 100 kB value with one quote");
		bytebuf_free(&b);
	}

	return tap_done();
}
