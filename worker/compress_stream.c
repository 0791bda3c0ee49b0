/*-------------------------------------------------------------------------
 *
 * compress_stream.c
 *	  Chunked compression with exact output accounting (zstd, gzip, none),
 *	  and streaming decompression.
 *
 *-------------------------------------------------------------------------
 */
#include <string.h>

#include "compress_stream.h"

/* windowBits 15 + 16: a gzip header and trailer instead of zlib's. */
#define GZIP_WINDOW_BITS (15 + 16)
#define MEM_LEVEL 8

/* Output room reserved per compression call. */
#define OUT_STEP (64 * 1024)

/* ----------------------------------------------------------------
 * Codec names
 * ----------------------------------------------------------------
 */

const char *
compress_codec_name(CompressCodec codec)
{
	switch (codec)
	{
		case COMPRESS_ZSTD:
			return "zstd";
		case COMPRESS_GZIP:
			return "gzip";
		case COMPRESS_NONE:
			break;
	}
	return "none";
}

const char *
compress_codec_suffix(CompressCodec codec)
{
	switch (codec)
	{
		case COMPRESS_ZSTD:
			return ".zst";
		case COMPRESS_GZIP:
			return ".gz";
		case COMPRESS_NONE:
			break;
	}
	return "";
}

const char *
compress_codec_copy_option(CompressCodec codec)
{
	switch (codec)
	{
		case COMPRESS_ZSTD:
			return "ZSTD";
		case COMPRESS_GZIP:
			return "GZIP";
		case COMPRESS_NONE:
			break;
	}
	return "";
}

const char *
compress_codec_content_type(CompressCodec codec)
{
	switch (codec)
	{
		case COMPRESS_ZSTD:
			return "application/zstd";
		case COMPRESS_GZIP:
			return "application/gzip";
		case COMPRESS_NONE:
			break;
	}
	return "text/csv";
}

static bool
ends_with(const char *s, const char *suffix)
{
	size_t		n = strlen(s);
	size_t		m = strlen(suffix);

	return n >= m && memcmp(s + n - m, suffix, m) == 0;
}

bool
compress_codec_of_key(const char *key, CompressCodec *codec)
{
	/* rrr_load also reads files others wrote: data.json.gz is gzip too */
	if (ends_with(key, ".zst"))
		*codec = COMPRESS_ZSTD;
	else if (ends_with(key, ".gz"))
		*codec = COMPRESS_GZIP;
	else if (ends_with(key, ".csv") || ends_with(key, ".json") || ends_with(key, ".jsonl"))
		*codec = COMPRESS_NONE;
	else
		return false;
	return true;
}

/* ----------------------------------------------------------------
 * Compression
 * ----------------------------------------------------------------
 */

bool
compress_stream_open(CompressStream *s, CompressCodec codec, int level)
{
	memset(s, 0, sizeof(*s));
	s->codec = codec;
	switch (codec)
	{
		case COMPRESS_GZIP:
			if (deflateInit2(&s->z, level, Z_DEFLATED, GZIP_WINDOW_BITS, MEM_LEVEL,
							 Z_DEFAULT_STRATEGY) != Z_OK)
				return false;
			break;
		case COMPRESS_ZSTD:
			s->zc = ZSTD_createCCtx();
			if (s->zc == NULL)
				return false;

			/*
			 * A checksum, so that a damaged file fails its load instead of
			 * loading wrong rows (4 bytes a file).  One thread: every chunk
			 * is flushed for exact accounting, and a flush waits for the
			 * workers, so ZSTD_c_nbWorkers would only add hand-offs (see
			 * bench/RESULTS.md, "Compression").
			 */
			if (ZSTD_isError(ZSTD_CCtx_setParameter(s->zc, ZSTD_c_compressionLevel, level)) ||
				ZSTD_isError(ZSTD_CCtx_setParameter(s->zc, ZSTD_c_checksumFlag, 1)))
			{
				ZSTD_freeCCtx(s->zc);
				s->zc = NULL;
				return false;
			}
			break;
		case COMPRESS_NONE:
			break;
	}
	s->open = true;
	return true;
}

static bool
run_deflate(CompressStream *s, int flush, ByteBuf *out)
{
	for (;;)
	{
		size_t		room;
		int			rc;

		if (!bytebuf_reserve(out, OUT_STEP))
			return false;
		room = out->cap - out->len - 1;
		s->z.next_out = (Bytef *) (out->data + out->len);
		s->z.avail_out = (uInt) room;
		rc = deflate(&s->z, flush);
		out->len += room - s->z.avail_out;
		s->total_out += room - s->z.avail_out;
		if (rc == Z_STREAM_END)
			return true;
		if (rc != Z_OK && rc != Z_BUF_ERROR)
			return false;
		/* Done when all input is consumed and the flush left room to spare. */
		if (s->z.avail_in == 0 && s->z.avail_out > 0)
			return true;
	}
}

/* Compress and flush (ZSTD_e_flush) or end the frame (ZSTD_e_end). */
static bool
run_zstd(CompressStream *s, const char *data, size_t len, ZSTD_EndDirective mode, ByteBuf *out)
{
	ZSTD_inBuffer in = {data, len, 0};

	for (;;)
	{
		ZSTD_outBuffer o;
		size_t		remaining;

		if (!bytebuf_reserve(out, OUT_STEP))
			return false;
		o.dst = out->data + out->len;
		o.size = out->cap - out->len - 1;
		o.pos = 0;
		remaining = ZSTD_compressStream2(s->zc, &o, &in, mode);
		out->len += o.pos;
		s->total_out += o.pos;
		if (ZSTD_isError(remaining))
			return false;
		/* 0: all input consumed and everything flushed (or the frame ended). */
		if (remaining == 0)
			return true;
	}
}

bool
compress_stream_write(CompressStream *s, const char *data, size_t len, ByteBuf *out)
{
	if (!s->open)
		return false;
	s->total_in += len;
	switch (s->codec)
	{
		case COMPRESS_GZIP:
			s->z.next_in = (Bytef *) data;
			s->z.avail_in = (uInt) len;
			return run_deflate(s, Z_SYNC_FLUSH, out);
		case COMPRESS_ZSTD:
			return run_zstd(s, data, len, ZSTD_e_flush, out);
		case COMPRESS_NONE:
			break;
	}
	bytebuf_append(out, data, len);
	s->total_out += len;
	return !out->oom;
}

bool
compress_stream_finish(CompressStream *s, ByteBuf *out)
{
	if (!s->open)
		return false;
	switch (s->codec)
	{
		case COMPRESS_GZIP:
			s->z.next_in = NULL;
			s->z.avail_in = 0;
			return run_deflate(s, Z_FINISH, out);
		case COMPRESS_ZSTD:
			return run_zstd(s, NULL, 0, ZSTD_e_end, out);
		case COMPRESS_NONE:
			break;
	}
	return true;
}

void
compress_stream_close(CompressStream *s)
{
	if (s->open && s->codec == COMPRESS_GZIP)
		deflateEnd(&s->z);
	if (s->zc != NULL)
		ZSTD_freeCCtx(s->zc);
	s->zc = NULL;
	s->open = false;
}

size_t
compress_stream_bound(CompressStream *s, size_t len)
{
	switch (s->codec)
	{
		case COMPRESS_GZIP:
			/* deflateBound covers one deflate call; add the sync flush marker. */
			return deflateBound(&s->z, (uLong) len) + 8;
		case COMPRESS_ZSTD:

			/*
			 * ZSTD_compressBound covers a whole frame of len bytes, header
			 * included; a flushed chunk is a run of blocks of such a frame.
			 * The margin covers the block header of the flush's last block.
			 */
			return ZSTD_compressBound(len) + 32;
		case COMPRESS_NONE:
			break;
	}
	return len;
}

/* ----------------------------------------------------------------
 * Decompression
 * ----------------------------------------------------------------
 */

bool
decompress_stream_open(DecompressStream *d, CompressCodec codec)
{
	memset(d, 0, sizeof(*d));
	d->codec = codec;
	switch (codec)
	{
		case COMPRESS_GZIP:
			if (inflateInit2(&d->z, GZIP_WINDOW_BITS) != Z_OK)
				return false;
			break;
		case COMPRESS_ZSTD:
			d->zd = ZSTD_createDCtx();
			if (d->zd == NULL)
				return false;
			break;
		case COMPRESS_NONE:
			break;
	}
	d->open = true;
	return true;
}

static bool
emit(DecompressStream *d, const char *data, size_t len, DecompressEmit fn, void *arg)
{
	if (len == 0 || fn(data, len, arg))
		return true;
	d->emit_failed = true;
	return false;
}

static bool
inflate_some(DecompressStream *d, const char *data, size_t len, DecompressEmit fn, void *arg)
{
	d->z.next_in = (Bytef *) data;
	d->z.avail_in = (uInt) len;
	while (d->z.avail_in > 0)
	{
		int			rc;
		size_t		produced;

		d->mid_member = true;
		d->z.next_out = (Bytef *) d->out;
		d->z.avail_out = sizeof(d->out);
		rc = inflate(&d->z, Z_NO_FLUSH);
		produced = sizeof(d->out) - d->z.avail_out;
		if (!emit(d, d->out, produced, fn, arg))
			return false;
		if (rc == Z_STREAM_END)
		{
			/* Concatenated gzip members are still one file. */
			d->mid_member = false;
			if (inflateReset(&d->z) != Z_OK)
				return false;
		}
		else if (rc != Z_OK && rc != Z_BUF_ERROR)
			return false;
		else if (rc == Z_BUF_ERROR && produced == 0)
			break;
	}
	return true;
}

static bool
zstd_decompress_some(DecompressStream *d, const char *data, size_t len, DecompressEmit fn, void *arg)
{
	ZSTD_inBuffer in = {data, len, 0};

	for (;;)
	{
		ZSTD_outBuffer o = {d->out, sizeof(d->out), 0};
		size_t		before = in.pos;
		size_t		rc = ZSTD_decompressStream(d->zd, &o, &in);

		if (ZSTD_isError(rc))
			return false;

		/*
		 * 0: a frame ended; the next bytes, if any, start another one.  A
		 * call that neither read nor wrote (the output buffer had filled
		 * exactly at the frame's end) answers for the next frame, which
		 * has not begun: it says nothing about this one.
		 */
		if (in.pos != before || o.pos > 0)
			d->mid_member = (rc != 0);
		if (!emit(d, d->out, o.pos, fn, arg))
			return false;
		/* A full output buffer may hide more output: call again. */
		if (in.pos == in.size && o.pos < o.size)
			return true;
	}
}

bool
decompress_stream_write(DecompressStream *d, const char *data, size_t len,
						DecompressEmit fn, void *arg)
{
	if (!d->open)
		return false;
	switch (d->codec)
	{
		case COMPRESS_GZIP:
			return inflate_some(d, data, len, fn, arg);
		case COMPRESS_ZSTD:
			return zstd_decompress_some(d, data, len, fn, arg);
		case COMPRESS_NONE:
			break;
	}
	return emit(d, data, len, fn, arg);
}

bool
decompress_stream_finish(DecompressStream *d)
{
	return d->open && !d->mid_member;
}

bool
decompress_stream_reset(DecompressStream *d)
{
	d->mid_member = false;
	d->emit_failed = false;
	switch (d->codec)
	{
		case COMPRESS_GZIP:
			return inflateReset(&d->z) == Z_OK;
		case COMPRESS_ZSTD:
			return !ZSTD_isError(ZSTD_DCtx_reset(d->zd, ZSTD_reset_session_only));
		case COMPRESS_NONE:
			break;
	}
	return true;
}

void
decompress_stream_close(DecompressStream *d)
{
	if (d->open && d->codec == COMPRESS_GZIP)
		inflateEnd(&d->z);
	if (d->zd != NULL)
		ZSTD_freeDCtx(d->zd);
	d->zd = NULL;
	d->open = false;
}
