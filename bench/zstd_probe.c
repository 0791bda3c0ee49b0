/*
 * bench/zstd_probe.c: what the export's compressor thread costs at each
 * zstd level and worker count, on a real CSV, chunk by chunk as the
 * pipeline feeds it (every chunk flushed, so that the exporter knows each
 * file's exact size), with gzip -1 for comparison.
 *
 *   cc -O2 -o zstd_probe bench/zstd_probe.c -lzstd -lz
 *   zstd_probe FILE.csv [CHUNK_BYTES]
 *
 * One line per setting: codec, level, workers, wall seconds, CPU seconds
 * (this process, all threads), compressed bytes, CSV bytes.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <zlib.h>
#include <zstd.h>

static double
clock_s(clockid_t id)
{
	struct timespec ts;

	clock_gettime(id, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static char *out;
static size_t out_cap;

static size_t
run_zstd(const char *in, size_t len, size_t chunk, int level, int workers)
{
	ZSTD_CCtx  *c = ZSTD_createCCtx();
	size_t		total = 0;

	ZSTD_CCtx_setParameter(c, ZSTD_c_compressionLevel, level);
	ZSTD_CCtx_setParameter(c, ZSTD_c_checksumFlag, 1);
	if (workers > 0 && ZSTD_isError(ZSTD_CCtx_setParameter(c, ZSTD_c_nbWorkers, workers)))
	{
		fprintf(stderr, "this libzstd has no threads\n");
		exit(2);
	}
	for (size_t off = 0; off <= len; off += chunk)
	{
		size_t		n = len - off < chunk ? len - off : chunk;
		ZSTD_inBuffer ib = {in + off, n, 0};
		ZSTD_EndDirective mode = off + chunk >= len ? ZSTD_e_end : ZSTD_e_flush;
		size_t		rc;

		do
		{
			ZSTD_outBuffer ob = {out, out_cap, 0};

			rc = ZSTD_compressStream2(c, &ob, &ib, mode);
			if (ZSTD_isError(rc))
			{
				fprintf(stderr, "zstd: %s\n", ZSTD_getErrorName(rc));
				exit(2);
			}
			total += ob.pos;
		} while (rc != 0);
		if (mode == ZSTD_e_end)
			break;
	}
	ZSTD_freeCCtx(c);
	return total;
}

static size_t
run_gzip(const char *in, size_t len, size_t chunk, int level)
{
	z_stream	z = {0};
	size_t		total = 0;

	deflateInit2(&z, level, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY);
	for (size_t off = 0; off <= len; off += chunk)
	{
		size_t		n = len - off < chunk ? len - off : chunk;
		int			flush = off + chunk >= len ? Z_FINISH : Z_SYNC_FLUSH;
		int			rc;

		z.next_in = (Bytef *) in + off;
		z.avail_in = n;
		do
		{
			z.next_out = (Bytef *) out;
			z.avail_out = out_cap;
			rc = deflate(&z, flush);
			total += out_cap - z.avail_out;
		} while (z.avail_out == 0 || (flush == Z_FINISH && rc != Z_STREAM_END));
		if (flush == Z_FINISH)
			break;
	}
	deflateEnd(&z);
	return total;
}

int
main(int argc, char **argv)
{
	FILE	   *f;
	char	   *in;
	size_t		len,
				cap = 1 << 20;
	size_t		chunk = argc > 2 ? (size_t) atol(argv[2]) : 256 * 1024;
	static const int settings[][3] = {
		/* codec (0 zstd, 1 gzip), level, workers */
		{0, 1, 0}, {0, 1, 1}, {0, 1, 2}, {0, 2, 0}, {0, 3, 0}, {0, -1, 0}, {1, 1, 0},
	};

	if (argc < 2 || (f = fopen(argv[1], "rb")) == NULL)
	{
		fprintf(stderr, "usage: zstd_probe FILE.csv [CHUNK_BYTES]\n");
		return 2;
	}
	in = malloc(cap);
	len = 0;
	for (;;)
	{
		size_t		n;

		if (len == cap)
			in = realloc(in, cap *= 2);
		n = fread(in + len, 1, cap - len, f);
		if (n == 0)
			break;
		len += n;
	}
	fclose(f);
	out_cap = ZSTD_compressBound(chunk) + 1024;
	out = malloc(out_cap);

	for (size_t i = 0; i < sizeof(settings) / sizeof(settings[0]); i++)
	{
		double		w0 = clock_s(CLOCK_MONOTONIC),
					c0 = clock_s(CLOCK_PROCESS_CPUTIME_ID);
		size_t		bytes = settings[i][0] == 0
			? run_zstd(in, len, chunk, settings[i][1], settings[i][2])
			: run_gzip(in, len, chunk, settings[i][1]);

		printf("%s\t%d\t%d\t%.4f\t%.4f\t%zu\t%zu\n", settings[i][0] == 0 ? "zstd" : "gzip",
			   settings[i][1], settings[i][2], clock_s(CLOCK_MONOTONIC) - w0,
			   clock_s(CLOCK_PROCESS_CPUTIME_ID) - c0, bytes, len);
	}
	return 0;
}
