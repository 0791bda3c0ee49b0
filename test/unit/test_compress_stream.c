/*
 * The compression stream, for each codec: chunks in, one valid file out,
 * the size bound holds for every chunk, and the output decompresses to
 * exactly the input, both with the reference decoders (zlib's inflate,
 * libzstd's one-shot ZSTD_decompress) and with the streaming decoder the
 * loader uses, fed in pieces that cut members and frames anywhere.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>
#include <zstd.h>

#include "compress_stream.h"
#include "tap.h"

#define INPUT_SIZE (4 * 1024 * 1024)


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

/* The reference decoder of each codec; -1 on any error. */
static long
reference_decode(CompressCodec codec, const char *in, size_t len, char *out, size_t cap)
{
	size_t		n;

	switch (codec)
	{
		case COMPRESS_GZIP:
			return gunzip(in, len, out, cap);
		case COMPRESS_ZSTD:
			n = ZSTD_decompress(out, cap, in, len);
			return ZSTD_isError(n) ? -1 : (long) n;
		case COMPRESS_NONE:
			if (len > cap)
				return -1;
			memcpy(out, in, len);
			return (long) len;
	}
	return -1;
}

typedef struct Sink
{
	char	   *data;
	size_t		len;
	size_t		cap;
	size_t		stop_after;		/* refuse once this much came (0: never) */
} Sink;

static bool
collect(const char *data, size_t len, void *arg)
{
	Sink	   *sink = arg;

	if (sink->stop_after > 0 && sink->len + len > sink->stop_after)
		return false;
	if (sink->len + len > sink->cap)
		return false;
	memcpy(sink->data + sink->len, data, len);
	sink->len += len;
	return true;
}

/* The loader's decoder, fed in pieces of step bytes; -1 on any error. */
static long
stream_decode(CompressCodec codec, const char *in, size_t len, size_t step, char *out, size_t cap)
{
	DecompressStream *d = malloc(sizeof(DecompressStream));
	Sink		sink = {out, 0, cap, 0};
	bool		ok;

	if (d == NULL || !decompress_stream_open(d, codec))
	{
		free(d);
		return -1;
	}
	ok = true;
	for (size_t off = 0; ok && off < len; off += step)
		ok = decompress_stream_write(d, in + off, len - off < step ? len - off : step, collect, &sink);
	ok = ok && decompress_stream_finish(d);
	decompress_stream_close(d);
	free(d);
	return ok ? (long) sink.len : -1;
}

/* Compress input in chunks of chunk bytes; whether every bound held. */
static bool
compress_all(CompressCodec codec, int level, const char *input, size_t len, size_t chunk,
			 ByteBuf *out, bool *bound_ok, bool *totals_ok)
{
	CompressStream s;
	size_t		offset = 0;
	bool		ok = true;

	*bound_ok = true;
	if (!compress_stream_open(&s, codec, level))
		return false;
	while (offset < len && ok)
	{
		size_t		n = len - offset < chunk ? len - offset : chunk;
		size_t		before = out->len;
		size_t		bound = compress_stream_bound(&s, n);

		ok = compress_stream_write(&s, input + offset, n, out);
		if (out->len - before > bound)
			*bound_ok = false;
		offset += n;
	}
	{
		size_t		before = out->len;

		ok = ok && compress_stream_finish(&s, out);
		if (out->len - before > COMPRESS_FINISH_OVERHEAD)
			*bound_ok = false;
	}
	*totals_ok = (s.total_in == len && s.total_out == out->len);
	compress_stream_close(&s);
	return ok && !out->oom;
}

int
main(void)
{
	static char input[INPUT_SIZE];
	static char back[INPUT_SIZE + 1];
	static const CompressCodec codecs[] = {COMPRESS_ZSTD, COMPRESS_GZIP, COMPRESS_NONE};
	unsigned int seed = 12345;
	char		what[200];

	/* Half compressible text, half noise. */
	for (size_t i = 0; i < sizeof(input); i++)
	{
		seed = seed * 1103515245 + 12345;
		input[i] = (i / 65536) % 2 ? (char) (seed >> 16) : "redtrack,\"csv\"\n"[i % 15];
	}

	for (int c = 0; c < 3; c++)
	{
		CompressCodec codec = codecs[c];
		const char *name = compress_codec_name(codec);
		ByteBuf		out = {0};
		bool		bound_ok,
					totals_ok;

		snprintf(what, sizeof(what), "%s: compress 4 MB in 300 kB chunks", name);
		check(compress_all(codec, 1, input, sizeof(input), 300000, &out, &bound_ok, &totals_ok), what);
		snprintf(what, sizeof(what), "%s: every chunk stays within compress_stream_bound, the finish within COMPRESS_FINISH_OVERHEAD", name);
		check(bound_ok, what);
		snprintf(what, sizeof(what), "%s: totals are kept", name);
		check(totals_ok, what);
		if (codec == COMPRESS_GZIP)
			check(out.data[0] == (char) 0x1f && out.data[1] == (char) 0x8b, "gzip: magic");
		if (codec == COMPRESS_ZSTD)
			check(out.len >= 4 && (unsigned char) out.data[0] == 0x28 &&
				  (unsigned char) out.data[1] == 0xb5 && (unsigned char) out.data[2] == 0x2f &&
				  (unsigned char) out.data[3] == 0xfd, "zstd: frame magic");
		if (codec != COMPRESS_NONE)
		{
			snprintf(what, sizeof(what), "%s: compresses the text (%zu bytes from %d)", name, out.len, INPUT_SIZE);
			check(out.len < sizeof(input) * 3 / 4, what);
		}
		snprintf(what, sizeof(what), "%s: the reference decoder returns exactly the input", name);
		check(reference_decode(codec, out.data, out.len, back, sizeof(back)) == (long) sizeof(input) &&
			  memcmp(back, input, sizeof(input)) == 0, what);

		/*
		 * Multi-part boundaries: the loader receives a file in pieces of any
		 * size (curl's buffers), cut inside headers, blocks and trailers.
		 */
		{
			static const size_t steps[] = {1, 7, 4096, 65537, 5 * 1024 * 1024};
			bool		all = true;

			for (int i = 0; i < 5; i++)
			{
				/* byte by byte only over the first 64 kB: it is slow */
				size_t		len = steps[i] == 1 ? (out.len < 65536 ? out.len : 65536) : out.len;
				long		n = stream_decode(codec, out.data, out.len, steps[i], back, sizeof(back));

				if (steps[i] == 1)
				{
					/* a prefix: the stream is unfinished unless it is all there */
					DecompressStream *d = malloc(sizeof(DecompressStream));
					Sink		sink = {back, 0, sizeof(back), 0};
					bool		ok = decompress_stream_open(d, codec);

					for (size_t off = 0; ok && off < len; off++)
						ok = decompress_stream_write(d, out.data + off, 1, collect, &sink);
					all = all && ok && memcmp(back, input, sink.len) == 0;
					decompress_stream_close(d);
					free(d);
					continue;
				}
				all = all && n == (long) sizeof(input) && memcmp(back, input, sizeof(input)) == 0;
			}
			snprintf(what, sizeof(what), "%s: the streaming decoder returns exactly the input, fed in pieces of 1, 7, 4096, 65537 and 5 M bytes", name);
			check(all, what);
		}

		/* Two files back to back are one file: members or frames in a row. */
		{
			ByteBuf		two = {0};

			bytebuf_append(&two, out.data, out.len);
			bytebuf_append(&two, out.data, out.len);
			memset(back, 0, sizeof(back));
			{
				static char twice[2 * INPUT_SIZE];
				long		n = stream_decode(codec, two.data, two.len, 100000, twice, sizeof(twice));

				snprintf(what, sizeof(what), "%s: concatenated files decode to the concatenated inputs", name);
				check(n == 2 * INPUT_SIZE && memcmp(twice, input, INPUT_SIZE) == 0 &&
					  memcmp(twice + INPUT_SIZE, input, INPUT_SIZE) == 0, what);
			}
			bytebuf_free(&two);
		}

		if (codec != COMPRESS_NONE)
		{
			/* A truncated file fails: the end of the frame or member is missing. */
			snprintf(what, sizeof(what), "%s: a truncated file is refused", name);
			check(stream_decode(codec, out.data, out.len - 5, 4096, back, sizeof(back)) == -1, what);

			/* A damaged byte fails (zstd: the checksum; gzip: the CRC). */
			out.data[out.len / 2] ^= 0x55;
			snprintf(what, sizeof(what), "%s: a damaged file is refused", name);
			check(stream_decode(codec, out.data, out.len, 4096, back, sizeof(back)) == -1, what);
			out.data[out.len / 2] ^= 0x55;
		}

		/* The callback stops the decoder. */
		{
			DecompressStream *d = malloc(sizeof(DecompressStream));
			Sink		sink = {back, 0, sizeof(back), 100000};
			bool		ok;

			decompress_stream_open(d, codec);
			ok = decompress_stream_write(d, out.data, out.len, collect, &sink);
			snprintf(what, sizeof(what), "%s: a callback that returns false stops the decoder", name);
			check(!ok && d->emit_failed && sink.len < sizeof(input), what);
			/* and after a reset the decoder reads the next file from its start */
			sink.len = 0;
			sink.stop_after = 0;
			ok = decompress_stream_reset(d) &&
				decompress_stream_write(d, out.data, out.len, collect, &sink) &&
				decompress_stream_finish(d);
			snprintf(what, sizeof(what), "%s: after a reset the next file decodes whole", name);
			check(ok && sink.len == sizeof(input) && memcmp(back, input, sizeof(input)) == 0, what);
			decompress_stream_close(d);
			free(d);
		}
		bytebuf_free(&out);

		/* An empty stream is still a valid (empty) file. */
		{
			bool		b,
						t;

			compress_all(codec, 6, input, 0, 1, &out, &b, &t);
			snprintf(what, sizeof(what), "%s: an empty stream is a valid empty file", name);
			check(reference_decode(codec, out.data ? out.data : "", out.len, back, sizeof(back)) == 0 &&
				  stream_decode(codec, out.data ? out.data : "", out.len, 4096, back, sizeof(back)) == 0, what);
			bytebuf_free(&out);
		}
	}

	/* A file of another format is refused by each compressed codec. */
	{
		ByteBuf		gz = {0};
		ByteBuf		zs = {0};
		bool		b,
					t;

		compress_all(COMPRESS_GZIP, 1, input, 100000, 100000, &gz, &b, &t);
		compress_all(COMPRESS_ZSTD, 1, input, 100000, 100000, &zs, &b, &t);
		check(stream_decode(COMPRESS_ZSTD, gz.data, gz.len, 4096, back, sizeof(back)) == -1,
			  "zstd: a gzip file is refused");
		check(stream_decode(COMPRESS_GZIP, zs.data, zs.len, 4096, back, sizeof(back)) == -1,
			  "gzip: a zstd file is refused");
		check(stream_decode(COMPRESS_ZSTD, input, 100000, 4096, back, sizeof(back)) == -1,
			  "zstd: plain CSV is refused");
		bytebuf_free(&gz);
		bytebuf_free(&zs);
	}

	/* File names say the format, and the format is read back from them. */
	{
		CompressCodec c = COMPRESS_NONE;
		bool		names_ok = true;

		for (int i = 0; i < 3; i++)
		{
			char		key[100];
			CompressCodec back_codec;

			snprintf(key, sizeof(key), "p/t/42/part-0001.csv%s", compress_codec_suffix(codecs[i]));
			names_ok = names_ok && compress_codec_of_key(key, &back_codec) && back_codec == codecs[i];
		}
		check(names_ok, "each codec's file name maps back to the codec");
		check(!compress_codec_of_key("p/t/42/manifest", &c) &&
			  !compress_codec_of_key("p/t/42/part-0001.csv.bz2", &c), "other names have no codec");
		check(compress_codec_of_key("in/data.json.gz", &c) && c == COMPRESS_GZIP &&
			  compress_codec_of_key("in/data.jsonl", &c) && c == COMPRESS_NONE,
			  "files others wrote are named by their last suffix");
		check(strcmp(compress_codec_copy_option(COMPRESS_ZSTD), "ZSTD") == 0 &&
			  strcmp(compress_codec_copy_option(COMPRESS_GZIP), "GZIP") == 0 &&
			  strcmp(compress_codec_copy_option(COMPRESS_NONE), "") == 0, "COPY options");
	}

	return tap_done();
}
