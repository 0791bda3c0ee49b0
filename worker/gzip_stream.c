/*-------------------------------------------------------------------------
 *
 * gzip_stream.c
 *	  Chunked gzip compression with exact output accounting.
 *
 *-------------------------------------------------------------------------
 */
#include "gzip_stream.h"

/* windowBits 15 + 16: a gzip header and trailer instead of zlib's. */
#define GZIP_WINDOW_BITS (15 + 16)
#define MEM_LEVEL 8

bool
gzip_stream_open(GzipStream *g, int level)
{
	memset(g, 0, sizeof(*g));
	if (deflateInit2(&g->z, level, Z_DEFLATED, GZIP_WINDOW_BITS, MEM_LEVEL,
					 Z_DEFAULT_STRATEGY) != Z_OK)
		return false;
	g->open = true;
	return true;
}

static bool
run_deflate(GzipStream *g, int flush, ByteBuf *out)
{
	for (;;)
	{
		size_t		room;
		int			rc;

		if (!bytebuf_reserve(out, 64 * 1024))
			return false;
		room = out->cap - out->len - 1;
		g->z.next_out = (Bytef *) (out->data + out->len);
		g->z.avail_out = (uInt) room;
		rc = deflate(&g->z, flush);
		out->len += room - g->z.avail_out;
		g->total_out += room - g->z.avail_out;
		if (rc == Z_STREAM_END)
			return true;
		if (rc != Z_OK && rc != Z_BUF_ERROR)
			return false;
		/* Done when all input is consumed and the flush left room to spare. */
		if (g->z.avail_in == 0 && g->z.avail_out > 0)
			return true;
	}
}

bool
gzip_stream_write(GzipStream *g, const char *data, size_t len, ByteBuf *out)
{
	if (!g->open)
		return false;
	g->z.next_in = (Bytef *) data;
	g->z.avail_in = (uInt) len;
	g->total_in += len;
	return run_deflate(g, Z_SYNC_FLUSH, out);
}

bool
gzip_stream_finish(GzipStream *g, ByteBuf *out)
{
	if (!g->open)
		return false;
	g->z.next_in = NULL;
	g->z.avail_in = 0;
	return run_deflate(g, Z_FINISH, out);
}

void
gzip_stream_close(GzipStream *g)
{
	if (g->open)
		deflateEnd(&g->z);
	g->open = false;
}

size_t
gzip_stream_bound(GzipStream *g, size_t len)
{
	/* deflateBound covers one deflate call; add the sync flush marker. */
	return deflateBound(&g->z, (uLong) len) + 8;
}
