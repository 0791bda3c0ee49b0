/*
 * The gzip stream: chunks in, one valid .gz out, the size bound holds for
 * every chunk, and the output inflates to exactly the input.
 */
#include <stdio.h>
#include <string.h>
#include <zlib.h>

#include "gzip_stream.h"
#include "tap.h"

/* Inflate a complete gzip member; returns the output length or -1. */
static long
gunzip(const char *in, size_t len, char *out, size_t cap)
{
	z_stream	z = {0};
	int			rc;
	long		n;

	if (inflateInit2(&z, 15 + 16) != Z_OK)
		return -1;
	z.next_in = (Bytef *) in;
	z.avail_in = (uInt) len;
	z.next_out = (Bytef *) out;
	z.avail_out = (uInt) cap;
	rc = inflate(&z, Z_FINISH);
	n = (rc == Z_STREAM_END && z.avail_in == 0) ? (long) z.total_out : -1;
	inflateEnd(&z);
	return n;
}

int
main(void)
{
	static char input[4 * 1024 * 1024];
	static char back[4 * 1024 * 1024 + 1];
	GzipStream	g;
	ByteBuf		out = {0};
	unsigned int seed = 12345;
	int			bound_ok = 1;
	size_t		offset = 0;

	/* Half compressible text, half noise. */
	for (size_t i = 0; i < sizeof(input); i++)
	{
		seed = seed * 1103515245 + 12345;
		input[i] = (i / 65536) % 2 ? (char) (seed >> 16) : "redtrack,\"csv\"\n"[i % 15];
	}

	check(gzip_stream_open(&g, 1), "open at level 1");
	while (offset < sizeof(input))
	{
		size_t		n = sizeof(input) - offset < 300000 ? sizeof(input) - offset : 300000;
		size_t		before = out.len;
		size_t		bound = gzip_stream_bound(&g, n);

		if (!gzip_stream_write(&g, input + offset, n, &out))
			bound_ok = 0;
		if (out.len - before > bound)
			bound_ok = 0;
		offset += n;
	}
	check(bound_ok, "every chunk stays within gzip_stream_bound");
	check(gzip_stream_finish(&g, &out), "finish");
	check(g.total_in == sizeof(input) && g.total_out == out.len, "totals are kept");
	gzip_stream_close(&g);

	check(out.data[0] == (char) 0x1f && out.data[1] == (char) 0x8b, "gzip magic");
	check(gunzip(out.data, out.len, back, sizeof(back)) == (long) sizeof(input) &&
		  memcmp(back, input, sizeof(input)) == 0, "inflates to exactly the input");
	bytebuf_free(&out);

	/* An empty stream is still a valid (empty) gzip file. */
	gzip_stream_open(&g, 6);
	gzip_stream_finish(&g, &out);
	gzip_stream_close(&g);
	check(gunzip(out.data, out.len, back, sizeof(back)) == 0, "an empty stream is a valid empty file");
	bytebuf_free(&out);

	return tap_done();
}
