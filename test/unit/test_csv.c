/* CSV field encoding and UTF-8 truncation. */
#include <stdio.h>
#include <string.h>

#include "csv.h"

static int	test_no = 0;
static int	failures = 0;

static void
check(int ok, const char *what)
{
	test_no++;
	printf("%sok %d - %s\n", ok ? "" : "not ", test_no, what);
	if (!ok)
		failures++;
}

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

	printf("1..%d\n", test_no);
	return failures ? 1 : 0;
}
