/*-------------------------------------------------------------------------
 *
 * compress_stream.h
 *	  The compression of exported files, fed in chunks: zstd (RFC 8878,
 *	  libzstd), gzip (RFC 1952, zlib) or none; and the matching
 *	  decompression, for loads that read the files themselves.
 *
 * Each chunk is flushed (ZSTD_e_flush, Z_SYNC_FLUSH), so after every write
 * the output length is exact: the exporter can decide before a chunk
 * whether it still fits under redtrack.max_file_size
 * (compress_stream_bound), and the concatenated output of one stream is a
 * complete, valid file after compress_stream_finish.  The flush costs a
 * few bytes per chunk.
 *
 * Pure C: the export's compressor thread uses it, so nothing here may call
 * PostgreSQL (no palloc, no elog).
 *
 *-------------------------------------------------------------------------
 */
#ifndef REDTRACK_COMPRESS_STREAM_H
#define REDTRACK_COMPRESS_STREAM_H

#include <zlib.h>
#include <zstd.h>

#include "bytebuf.h"

/*
 * The values of redtrack.compression.  A replication's files keep the
 * codec they were written with in their names (compress_codec_of_key), so
 * a load never depends on the current setting.
 */
typedef enum CompressCodec
{
	COMPRESS_ZSTD,
	COMPRESS_GZIP,
	COMPRESS_NONE
} CompressCodec;

typedef struct CompressStream
{
	CompressCodec codec;
	bool		open;
	z_stream	z;				/* gzip */
	ZSTD_CCtx  *zc;				/* zstd */
	size_t		total_in;
	size_t		total_out;
} CompressStream;

/*
 * Most bytes compress_stream_finish adds: gzip's trailer and empty final
 * block; zstd's last empty block and its checksum.
 */
#define COMPRESS_FINISH_OVERHEAD 16

extern bool compress_stream_open(CompressStream *s, CompressCodec codec, int level);
extern bool compress_stream_write(CompressStream *s, const char *data, size_t len, ByteBuf *out);
extern bool compress_stream_finish(CompressStream *s, ByteBuf *out);
extern void compress_stream_close(CompressStream *s);

/* Most bytes a write of len bytes can add to the output. */
extern size_t compress_stream_bound(CompressStream *s, size_t len);

/* "zstd", "gzip", "none" */
extern const char *compress_codec_name(CompressCodec codec);

/* What a file name ends with after ".csv": ".zst", ".gz" or "". */
extern const char *compress_codec_suffix(CompressCodec codec);

/* The codec's Redshift COPY option: "ZSTD", "GZIP" or "". */
extern const char *compress_codec_copy_option(CompressCodec codec);

extern const char *compress_codec_content_type(CompressCodec codec);

/* The codec a file was written with, from its name; false if unknown. */
extern bool compress_codec_of_key(const char *key, CompressCodec *codec);

/*
 * Decompression, pushed: bytes in, decompressed bytes to the emit callback
 * (which returns false to stop).  Several concatenated members (gzip) or
 * frames (zstd) are one file, as Redshift reads them.
 */
typedef bool (*DecompressEmit) (const char *data, size_t len, void *arg);

typedef struct DecompressStream
{
	CompressCodec codec;
	bool		open;
	bool		mid_member;		/* inside an unfinished member or frame */
	bool		emit_failed;	/* the callback said stop */
	z_stream	z;
	ZSTD_DCtx  *zd;
	char		out[64 * 1024];
} DecompressStream;

extern bool decompress_stream_open(DecompressStream *d, CompressCodec codec);

/* False on corrupt input or when emit returned false (see emit_failed). */
extern bool decompress_stream_write(DecompressStream *d, const char *data, size_t len,
									DecompressEmit emit, void *arg);

/* False when the input ended inside a member or frame (a truncated file). */
extern bool decompress_stream_finish(DecompressStream *d);

/* Ready for the next file. */
extern bool decompress_stream_reset(DecompressStream *d);
extern void decompress_stream_close(DecompressStream *d);

#endif							/* REDTRACK_COMPRESS_STREAM_H */
