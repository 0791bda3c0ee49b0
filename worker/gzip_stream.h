/*-------------------------------------------------------------------------
 *
 * gzip_stream.h
 *	  A gzip (RFC 1952) stream on zlib, fed in chunks.
 *
 * Each chunk is compressed with Z_SYNC_FLUSH, so after every write the
 * output length is exact: the exporter can decide before a chunk whether
 * it still fits under redtrack.max_file_size (gzip_stream_bound), and the
 * concatenated output of one stream is a complete, valid .gz file after
 * gzip_stream_finish.  The flush costs a few bytes per chunk.
 *
 *-------------------------------------------------------------------------
 */
#ifndef REDTRACK_GZIP_STREAM_H
#define REDTRACK_GZIP_STREAM_H

#include <zlib.h>

#include "bytebuf.h"

typedef struct GzipStream
{
	z_stream	z;
	bool		open;
	size_t		total_in;
	size_t		total_out;
} GzipStream;

/* The gzip trailer plus the empty final block. */
#define GZIP_FINISH_OVERHEAD 16

extern bool gzip_stream_open(GzipStream *g, int level);
extern bool gzip_stream_write(GzipStream *g, const char *data, size_t len, ByteBuf *out);
extern bool gzip_stream_finish(GzipStream *g, ByteBuf *out);
extern void gzip_stream_close(GzipStream *g);

/* Most bytes a write of len bytes can add to the output. */
extern size_t gzip_stream_bound(GzipStream *g, size_t len);

#endif							/* REDTRACK_GZIP_STREAM_H */
