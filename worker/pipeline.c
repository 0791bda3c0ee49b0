/*-------------------------------------------------------------------------
 *
 * pipeline.c
 *	  Threads that compress and upload an export while the backend reads.
 *
 * Synchronization is one mutex and one condition variable (broadcast):
 * events happen per chunk (hundreds of kB) or per part (MBs), never per
 * row, so contention does not matter and one lock keeps the invariants in
 * one place.  Compression and network transfers run outside the lock.
 *
 *-------------------------------------------------------------------------
 */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "compress_stream.h"
#include "guc.h"
#include "pipeline.h"

#define CHUNK_QUEUE 4			/* chunks waiting for the compressor */
#define PARTS_IN_FLIGHT 2		/* part buffers beyond one per slice */
#define WAIT_SLICE_MS 100

/*
 * Room above part_size in a part buffer: a part is queued once it reaches
 * part_size, so it can overshoot by one chunk's compressed output (at most
 * deflateBound of a chunk) plus the 64 kB run_deflate reserves per call.
 */
#define PART_HEADROOM(chunk) ((chunk) + (chunk) / 8 + 256 * 1024)

typedef struct UploadFile
{
	char	   *key;
	char	   *upload_id;		/* multipart upload, once created */
	bool		creating;		/* an uploader is creating it */
	bool		single_put;		/* the whole file is one part: plain PUT */
	int			parts_total;	/* known once the last part is queued */
	int			parts_done;
	char	  **etags;
	int			etags_cap;
	bool		completed;
	long long	bytes;
	long long	raw_bytes;
} UploadFile;

typedef struct Slice
{
	ByteBuf		chunk;			/* main thread fills this */
	CompressStream cs;			/* compressor thread only */
	UploadFile *file;
	ByteBuf		part;
	int			parts_queued;
} Slice;

typedef struct ChunkJob
{
	int			slice;
	ByteBuf		data;
} ChunkJob;

typedef struct UploadJob
{
	UploadFile *file;
	int			part_number;
	ByteBuf		data;
} UploadJob;

struct Pipeline
{
	PipelineConfig cfg;
	char	   *key_prefix;
	char	   *file_stem;

	pthread_mutex_t mu;
	pthread_cond_t cv;

	ChunkJob	chunks[CHUNK_QUEUE];
	int			chunk_head;
	int			chunk_count;
	bool		finishing;		/* main thread has queued its last chunk */

	UploadJob  *uploads;
	int			upload_cap;
	int			upload_head;
	int			upload_count;
	bool		compress_done;	/* no more upload jobs will come */

	ByteBuf    *free_chunks;	/* recycled chunk buffers */
	int			free_count;
	int			free_cap;

	/*
	 * Part buffers: a fixed pool of slices + PARTS_IN_FLIGHT, each allocated
	 * once at full size and reused, so what an export holds is the same for
	 * any table large enough to fill one part per slice.
	 */
	ByteBuf    *free_parts;
	int			free_part_count;
	int			parts_allocated;
	int			part_pool_size;
	size_t		part_capacity;

	Slice	   *slices;
	UploadFile **files;
	int			nfiles;
	int			files_cap;
	PipelineFile *results;

	/*
	 * redtrack.compression, read once by the main thread in pipeline_start
	 * (export.c fills PipelineConfig and knows nothing of codecs): every
	 * file of one export has the same format, named by its suffix.
	 */
	CompressCodec codec;

	bool		failed;
	bool		aborting;
	bool		interrupted;
	char		error[1024];

	long long	raw_bytes;
	long long	uploaded_bytes;
	int			files_done;

	pthread_t	compressor;
	bool		compressor_started;
	pthread_t  *uploaders;
	int			uploaders_started;
};

/* ----------------------------------------------------------------
 * Helpers (call with the mutex held unless said otherwise)
 * ----------------------------------------------------------------
 */

static void fail_locked(Pipeline *p, const char *fmt,...) __attribute__((format(printf, 2, 3)));

static void
fail_locked(Pipeline *p, const char *fmt,...)
{
	if (!p->failed)
	{
		va_list		ap;

		va_start(ap, fmt);
		vsnprintf(p->error, sizeof(p->error), fmt, ap);
		va_end(ap);
		p->failed = true;
	}
	p->aborting = true;
	pthread_cond_broadcast(&p->cv);
}

static void
fail(Pipeline *p, const char *message)
{
	pthread_mutex_lock(&p->mu);
	fail_locked(p, "%s", message);
	pthread_mutex_unlock(&p->mu);
}

/* Wait at most WAIT_SLICE_MS on the condition variable. */
static void
timed_wait(Pipeline *p)
{
	struct timespec deadline;

	clock_gettime(CLOCK_REALTIME, &deadline);
	deadline.tv_nsec += WAIT_SLICE_MS * 1000000L;
	if (deadline.tv_nsec >= 1000000000L)
	{
		deadline.tv_sec++;
		deadline.tv_nsec -= 1000000000L;
	}
	pthread_cond_timedwait(&p->cv, &p->mu, &deadline);
}

/*
 * Main thread waits: every slice of the wait, let the backend check for
 * interrupts (without the lock held: the check may not return).
 */
static bool
main_wait(Pipeline *p)
{
	bool		stop = false;

	timed_wait(p);
	if (p->cfg.wait_check)
	{
		pthread_mutex_unlock(&p->mu);
		stop = p->cfg.wait_check(p->cfg.wait_arg);
		pthread_mutex_lock(&p->mu);
	}
	if (stop)
		p->interrupted = true;
	return !stop;
}

static bool
thread_should_abort(void *arg)
{
	Pipeline   *p = arg;
	bool		aborting;

	pthread_mutex_lock(&p->mu);
	aborting = p->aborting;
	pthread_mutex_unlock(&p->mu);
	return aborting;
}

static void
thread_sleep(void *arg, int ms)
{
	Pipeline   *p = arg;

	pthread_mutex_lock(&p->mu);
	for (int waited = 0; waited < ms && !p->aborting; waited += WAIT_SLICE_MS)
		timed_wait(p);
	pthread_mutex_unlock(&p->mu);
}

/*
 * Compressor only: give the slice a part buffer to compress into, waiting
 * for an uploader to hand one back when the whole pool is in use.
 */
static bool
acquire_part(Pipeline *p, Slice *s)
{
	if (s->part.data != NULL)
		return true;
	pthread_mutex_lock(&p->mu);
	while (p->free_part_count == 0 && p->parts_allocated == p->part_pool_size && !p->aborting)
		timed_wait(p);
	if (p->aborting)
	{
		pthread_mutex_unlock(&p->mu);
		return false;
	}
	if (p->free_part_count > 0)
	{
		s->part = p->free_parts[--p->free_part_count];
		pthread_mutex_unlock(&p->mu);
		return true;
	}
	p->parts_allocated++;
	pthread_mutex_unlock(&p->mu);

	/* Untouched pages cost nothing: a small export stays small. */
	memset(&s->part, 0, sizeof(s->part));
	s->part.data = malloc(p->part_capacity);
	if (s->part.data == NULL)
	{
		fail(p, "out of memory allocating an upload part");
		return false;
	}
	s->part.cap = p->part_capacity;
	return true;
}

/* Uploaders: a sent part's buffer goes back to the pool (takes the lock). */
static void
release_part(Pipeline *p, ByteBuf *buf)
{
	pthread_mutex_lock(&p->mu);
	if (buf->data != NULL && !buf->oom && buf->cap == p->part_capacity &&
		p->free_part_count < p->part_pool_size)
	{
		bytebuf_reset(buf);
		p->free_parts[p->free_part_count++] = *buf;
		memset(buf, 0, sizeof(*buf));
	}
	else
	{
		/* grown past its size (cannot happen) or broken: drop it */
		bytebuf_free(buf);
		p->parts_allocated--;
	}
	pthread_cond_broadcast(&p->cv);
	pthread_mutex_unlock(&p->mu);
}

/* Compressor only: a new file for a slice (takes the lock). */
static bool
open_file(Pipeline *p, Slice *s)
{
	UploadFile *f = calloc(1, sizeof(UploadFile));
	char		name[64];
	size_t		keylen;

	if (f == NULL || !compress_stream_open(&s->cs, p->codec, p->cfg.compression_level))
	{
		free(f);
		fail(p, "out of memory starting a compressed file");
		return false;
	}
	pthread_mutex_lock(&p->mu);
	if (p->nfiles == p->files_cap)
	{
		int			cap = p->files_cap ? p->files_cap * 2 : 16;
		UploadFile **grown = realloc(p->files, cap * sizeof(UploadFile *));

		if (grown == NULL)
		{
			fail_locked(p, "out of memory");
			pthread_mutex_unlock(&p->mu);
			compress_stream_close(&s->cs);
			free(f);
			return false;
		}
		p->files = grown;
		p->files_cap = cap;
	}
	snprintf(name, sizeof(name), "%s-%04d.csv%s", p->file_stem, p->nfiles + 1,
			 compress_codec_suffix(p->codec));
	keylen = strlen(p->key_prefix) + strlen(name) + 1;
	f->key = malloc(keylen);
	if (f->key)
		snprintf(f->key, keylen, "%s%s", p->key_prefix, name);
	p->files[p->nfiles++] = f;
	pthread_mutex_unlock(&p->mu);

	s->file = f;
	s->parts_queued = 0;
	return f->key != NULL;
}

/* Compressor only: queue the slice's compressed bytes as the next part. */
static bool
queue_part(Pipeline *p, Slice *s, bool last)
{
	UploadJob	job;

	job.file = s->file;
	job.part_number = ++s->parts_queued;
	job.data = s->part;
	memset(&s->part, 0, sizeof(s->part));

	/*
	 * No wait for room: every queued part holds one of the pool's buffers
	 * and the queue has a slot for each, so it cannot be full here.
	 */
	pthread_mutex_lock(&p->mu);
	if (p->aborting)
	{
		pthread_mutex_unlock(&p->mu);
		bytebuf_free(&job.data);
		return false;
	}
	if (last)
	{
		job.file->parts_total = job.part_number;
		job.file->single_put = (job.part_number == 1);
	}
	p->uploads[(p->upload_head + p->upload_count) % p->upload_cap] = job;
	p->upload_count++;
	pthread_cond_broadcast(&p->cv);
	pthread_mutex_unlock(&p->mu);
	return true;
}

static bool
finish_file(Pipeline *p, Slice *s)
{
	if (!acquire_part(p, s))
		return false;
	if (!compress_stream_finish(&s->cs, &s->part) || s->part.oom)
	{
		fail(p, "compression failed");
		return false;
	}
	compress_stream_close(&s->cs);
	return queue_part(p, s, true);
}

/* All slices move to new files together: the count stays a multiple. */
static bool
rotate_files(Pipeline *p)
{
	for (int i = 0; i < p->cfg.slices; i++)
	{
		if (!finish_file(p, &p->slices[i]))
			return false;
	}
	for (int i = 0; i < p->cfg.slices; i++)
	{
		if (!open_file(p, &p->slices[i]))
			return false;
	}
	return true;
}

static bool
compress_chunk(Pipeline *p, ChunkJob *job)
{
	Slice	   *s = &p->slices[job->slice];
	size_t		worst = compress_stream_bound(&s->cs, job->data.len) + COMPRESS_FINISH_OVERHEAD;

	if (s->cs.total_out > 0 && s->cs.total_out + worst > p->cfg.max_file_size)
	{
		if (!rotate_files(p))
			return false;
	}
	if (!acquire_part(p, s))
		return false;
	if (!compress_stream_write(&s->cs, job->data.data, job->data.len, &s->part) || s->part.oom)
	{
		fail(p, "compression failed");
		return false;
	}
	s->file->raw_bytes += job->data.len;
	if (s->part.len >= p->cfg.part_size)
		return queue_part(p, s, false);
	return true;
}

/* ----------------------------------------------------------------
 * Threads
 * ----------------------------------------------------------------
 */

static void *
compressor_main(void *arg)
{
	Pipeline   *p = arg;
	bool		ok = true;

	for (int i = 0; i < p->cfg.slices && ok; i++)
		ok = open_file(p, &p->slices[i]);

	pthread_mutex_lock(&p->mu);
	while (ok)
	{
		ChunkJob	job;

		while (p->chunk_count == 0 && !p->finishing && !p->aborting)
			pthread_cond_wait(&p->cv, &p->mu);
		if (p->aborting)
			break;
		if (p->chunk_count == 0)
		{
			/* finishing: close every slice's file */
			pthread_mutex_unlock(&p->mu);
			for (int i = 0; i < p->cfg.slices && ok; i++)
				ok = finish_file(p, &p->slices[i]);
			pthread_mutex_lock(&p->mu);
			break;
		}
		job = p->chunks[p->chunk_head];
		p->chunk_head = (p->chunk_head + 1) % CHUNK_QUEUE;
		p->chunk_count--;
		pthread_cond_broadcast(&p->cv);
		pthread_mutex_unlock(&p->mu);

		ok = compress_chunk(p, &job);

		pthread_mutex_lock(&p->mu);
		p->raw_bytes += job.data.len;
		bytebuf_reset(&job.data);
		if (p->free_count < p->free_cap)
			p->free_chunks[p->free_count++] = job.data;
		else
			bytebuf_free(&job.data);
	}
	p->compress_done = true;
	pthread_cond_broadcast(&p->cv);
	pthread_mutex_unlock(&p->mu);
	return NULL;
}

static void
describe_failure(Pipeline *p, const S3Error *err)
{
	char		description[900];

	s3_error_describe(err, description, sizeof(description));
	pthread_mutex_lock(&p->mu);
	if (err->aborted)
		p->aborting = true;		/* not the cause: whoever aborted reported it */
	else
		fail_locked(p, "S3 request failed: %s", description);
	pthread_cond_broadcast(&p->cv);
	pthread_mutex_unlock(&p->mu);
}

/* Make sure the file has a multipart upload; one uploader creates it. */
static bool
ensure_upload_id(Pipeline *p, S3Client *client, UploadFile *f)
{
	char	   *upload_id = NULL;
	S3Error		err;
	bool		ok;

	pthread_mutex_lock(&p->mu);
	while (f->creating && !p->aborting)
		pthread_cond_wait(&p->cv, &p->mu);
	if (f->upload_id || p->aborting)
	{
		ok = (f->upload_id != NULL);
		pthread_mutex_unlock(&p->mu);
		return ok;
	}
	f->creating = true;
	pthread_mutex_unlock(&p->mu);

	ok = s3_multipart_create(client, f->key, compress_codec_content_type(p->codec), &upload_id, &err);

	pthread_mutex_lock(&p->mu);
	f->creating = false;
	f->upload_id = upload_id;
	pthread_cond_broadcast(&p->cv);
	pthread_mutex_unlock(&p->mu);
	if (!ok)
		describe_failure(p, &err);
	return ok;
}

static bool
upload_part(Pipeline *p, S3Client *client, UploadJob *job)
{
	UploadFile *f = job->file;
	S3Error		err;
	char		etag[128];
	bool		complete_now;

	if (f->single_put)
	{
		if (!s3_put_object(client, f->key, job->data.data, job->data.len,
						   compress_codec_content_type(p->codec), &err))
		{
			describe_failure(p, &err);
			return false;
		}
		pthread_mutex_lock(&p->mu);
		f->bytes = (long long) job->data.len;
		f->completed = true;
		p->uploaded_bytes += (long long) job->data.len;
		p->files_done++;
		pthread_cond_broadcast(&p->cv);
		pthread_mutex_unlock(&p->mu);
		return true;
	}

	if (!ensure_upload_id(p, client, f))
		return false;
	if (!s3_multipart_upload_part(client, f->key, f->upload_id, job->part_number,
								  job->data.data, job->data.len, etag, sizeof(etag), &err))
	{
		describe_failure(p, &err);
		return false;
	}

	pthread_mutex_lock(&p->mu);
	if (job->part_number > f->etags_cap)
	{
		int			cap = f->etags_cap ? f->etags_cap * 2 : 8;
		char	  **grown;

		while (cap < job->part_number)
			cap *= 2;
		grown = realloc(f->etags, cap * sizeof(char *));
		if (grown == NULL)
		{
			fail_locked(p, "out of memory");
			pthread_mutex_unlock(&p->mu);
			return false;
		}
		memset(grown + f->etags_cap, 0, (cap - f->etags_cap) * sizeof(char *));
		f->etags = grown;
		f->etags_cap = cap;
	}
	f->etags[job->part_number - 1] = strdup(etag);
	f->parts_done++;
	f->bytes += (long long) job->data.len;
	p->uploaded_bytes += (long long) job->data.len;
	complete_now = (f->parts_total > 0 && f->parts_done == f->parts_total);
	pthread_mutex_unlock(&p->mu);

	if (complete_now)
	{
		if (!s3_multipart_complete(client, f->key, f->upload_id, f->etags,
								   f->parts_total, &err))
		{
			describe_failure(p, &err);
			return false;
		}
		pthread_mutex_lock(&p->mu);
		f->completed = true;
		p->files_done++;
		pthread_cond_broadcast(&p->cv);
		pthread_mutex_unlock(&p->mu);
	}
	return true;
}

static void *
uploader_main(void *arg)
{
	Pipeline   *p = arg;
	S3Config	config = p->cfg.s3;
	S3Client   *client;

	config.should_abort = thread_should_abort;
	config.sleep_ms = thread_sleep;
	config.callback_arg = p;
	client = s3_client_new(&config);
	if (client == NULL)
	{
		fail(p, "could not create an S3 client");
		return NULL;
	}

	pthread_mutex_lock(&p->mu);
	for (;;)
	{
		UploadJob	job;
		bool		ok;

		while (p->upload_count == 0 && !p->compress_done && !p->aborting)
			pthread_cond_wait(&p->cv, &p->mu);
		if (p->aborting || (p->upload_count == 0 && p->compress_done))
			break;
		job = p->uploads[p->upload_head];
		p->upload_head = (p->upload_head + 1) % p->upload_cap;
		p->upload_count--;
		pthread_cond_broadcast(&p->cv);
		pthread_mutex_unlock(&p->mu);

		ok = upload_part(p, client, &job);
		release_part(p, &job.data);

		pthread_mutex_lock(&p->mu);
		if (!ok)
			break;
	}
	pthread_cond_broadcast(&p->cv);
	pthread_mutex_unlock(&p->mu);
	s3_client_free(client);
	return NULL;
}

/* ----------------------------------------------------------------
 * Main thread API
 * ----------------------------------------------------------------
 */

Pipeline *
pipeline_start(const PipelineConfig *config, char *errbuf, size_t errlen)
{
	Pipeline   *p = calloc(1, sizeof(Pipeline));
	sigset_t	all,
				saved;
	int			rc = 0;

	if (p == NULL)
	{
		snprintf(errbuf, errlen, "out of memory");
		return NULL;
	}
	p->cfg = *config;
	p->codec = (CompressCodec) redtrack_compression;
	p->key_prefix = strdup(config->key_prefix);
	p->file_stem = strdup(config->file_stem);
	p->slices = calloc(config->slices, sizeof(Slice));
	p->part_pool_size = config->slices + PARTS_IN_FLIGHT;
	p->part_capacity = config->part_size + PART_HEADROOM(config->chunk_size);
	p->free_parts = calloc(p->part_pool_size, sizeof(ByteBuf));
	/* a slot for every pool buffer: queue_part never waits for room */
	p->upload_cap = p->part_pool_size;
	p->uploads = calloc(p->upload_cap, sizeof(UploadJob));
	p->free_cap = CHUNK_QUEUE + 1;
	p->free_chunks = calloc(p->free_cap, sizeof(ByteBuf));
	p->uploaders = calloc(config->uploaders, sizeof(pthread_t));
	if (!p->key_prefix || !p->file_stem || !p->slices || !p->uploads ||
		!p->free_chunks || !p->free_parts || !p->uploaders)
	{
		snprintf(errbuf, errlen, "out of memory");
		pipeline_destroy(p);
		return NULL;
	}
	pthread_mutex_init(&p->mu, NULL);
	pthread_cond_init(&p->cv, NULL);

	/*
	 * Threads start with every signal blocked: PostgreSQL's handlers must
	 * only ever run in the backend's main thread.
	 */
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &saved);
	rc = pthread_create(&p->compressor, NULL, compressor_main, p);
	if (rc == 0)
	{
		p->compressor_started = true;
		for (int i = 0; i < config->uploaders && rc == 0; i++)
		{
			rc = pthread_create(&p->uploaders[i], NULL, uploader_main, p);
			if (rc == 0)
				p->uploaders_started++;
		}
	}
	pthread_sigmask(SIG_SETMASK, &saved, NULL);

	if (rc != 0)
	{
		snprintf(errbuf, errlen, "could not start export threads: %s", strerror(rc));
		pipeline_destroy(p);
		return NULL;
	}
	return p;
}

ByteBuf *
pipeline_buffer(Pipeline *p, int slice)
{
	return &p->slices[slice].chunk;
}

/* Queue a slice's chunk for compression (mutex held by caller). */
static bool
queue_chunk_locked(Pipeline *p, int slice)
{
	Slice	   *s = &p->slices[slice];

	while (p->chunk_count == CHUNK_QUEUE && !p->failed)
	{
		if (!main_wait(p))
			return false;
	}
	if (p->failed)
		return false;
	if (s->chunk.oom)
	{
		fail_locked(p, "out of memory encoding rows");
		return false;
	}
	p->chunks[(p->chunk_head + p->chunk_count) % CHUNK_QUEUE] = (ChunkJob)
	{
		slice, s->chunk
	};
	p->chunk_count++;
	if (p->free_count > 0)
		s->chunk = p->free_chunks[--p->free_count];
	else
		memset(&s->chunk, 0, sizeof(s->chunk));
	pthread_cond_broadcast(&p->cv);
	return true;
}

bool
pipeline_commit(Pipeline *p, int slice)
{
	bool		ok;

	if (p->slices[slice].chunk.len < p->cfg.chunk_size)
		return !p->failed;
	pthread_mutex_lock(&p->mu);
	ok = queue_chunk_locked(p, slice);
	pthread_mutex_unlock(&p->mu);
	return ok;
}

bool
pipeline_finish(Pipeline *p)
{
	bool		ok = true;

	pthread_mutex_lock(&p->mu);
	for (int i = 0; i < p->cfg.slices && ok; i++)
	{
		if (p->slices[i].chunk.len > 0)
			ok = queue_chunk_locked(p, i);
	}
	if (ok)
	{
		p->finishing = true;
		pthread_cond_broadcast(&p->cv);
		while (!p->failed && !(p->compress_done && p->upload_count == 0 &&
							   p->files_done == p->nfiles))
		{
			if (!main_wait(p))
			{
				ok = false;
				break;
			}
		}
	}
	ok = ok && !p->failed;
	pthread_mutex_unlock(&p->mu);
	if (!ok)
		return false;

	/* Results, in file order. */
	p->results = calloc(p->nfiles > 0 ? p->nfiles : 1, sizeof(PipelineFile));
	if (p->results == NULL)
	{
		fail(p, "out of memory");
		return false;
	}
	for (int i = 0; i < p->nfiles; i++)
	{
		p->results[i].key = p->files[i]->key;
		p->results[i].bytes = p->files[i]->bytes;
		p->results[i].raw_bytes = p->files[i]->raw_bytes;
	}
	return true;
}

const char *
pipeline_error(Pipeline *p)
{
	return p->error;
}

void
pipeline_stats(Pipeline *p, PipelineStats *stats)
{
	pthread_mutex_lock(&p->mu);
	stats->raw_bytes = p->raw_bytes;
	stats->uploaded_bytes = p->uploaded_bytes;
	stats->files_done = p->files_done;
	pthread_mutex_unlock(&p->mu);
}

/* NULL is a pipeline that never started: no row came. */
int
pipeline_file_count(Pipeline *p)
{
	return (p && p->results) ? p->nfiles : 0;
}

const PipelineFile *
pipeline_file(Pipeline *p, int i)
{
	return &p->results[i];
}

/* Abort what was started and not completed: no orphaned uploads. */
static void
abort_unfinished_uploads(Pipeline *p)
{
	S3Client   *client = NULL;

	for (int i = 0; i < p->nfiles; i++)
	{
		UploadFile *f = p->files[i];
		S3Error		err;

		if (f->upload_id == NULL || f->completed)
			continue;
		if (client == NULL)
		{
			S3Config	config = p->cfg.s3;

			config.should_abort = NULL;
			config.sleep_ms = NULL;
			config.max_attempts = 2;
			client = s3_client_new(&config);
			if (client == NULL)
				return;
		}
		(void) s3_multipart_abort(client, f->key, f->upload_id, &err);
	}
	s3_client_free(client);
}

void
pipeline_destroy(Pipeline *p)
{
	if (p == NULL)
		return;
	if (p->compressor_started || p->uploaders_started > 0)
	{
		pthread_mutex_lock(&p->mu);
		if (!(p->compress_done && p->upload_count == 0 && p->files_done == p->nfiles))
			p->aborting = true;
		pthread_cond_broadcast(&p->cv);
		pthread_mutex_unlock(&p->mu);
		if (p->compressor_started)
			pthread_join(p->compressor, NULL);
		for (int i = 0; i < p->uploaders_started; i++)
			pthread_join(p->uploaders[i], NULL);
		pthread_mutex_destroy(&p->mu);
		pthread_cond_destroy(&p->cv);
	}
	abort_unfinished_uploads(p);

	for (int i = 0; p->slices && i < p->cfg.slices; i++)
	{
		compress_stream_close(&p->slices[i].cs);
		bytebuf_free(&p->slices[i].chunk);
		bytebuf_free(&p->slices[i].part);
	}
	for (int i = 0; i < p->chunk_count; i++)
		bytebuf_free(&p->chunks[(p->chunk_head + i) % CHUNK_QUEUE].data);
	for (int i = 0; p->uploads && i < p->upload_count; i++)
		bytebuf_free(&p->uploads[(p->upload_head + i) % p->upload_cap].data);
	for (int i = 0; i < p->free_count; i++)
		bytebuf_free(&p->free_chunks[i]);
	for (int i = 0; i < p->free_part_count; i++)
		bytebuf_free(&p->free_parts[i]);
	for (int i = 0; i < p->nfiles; i++)
	{
		UploadFile *f = p->files[i];

		for (int j = 0; j < f->etags_cap; j++)
			free(f->etags[j]);
		free(f->etags);
		free(f->upload_id);
		free(f->key);
		free(f);
	}
	free(p->files);
	free(p->results);
	free(p->slices);
	free(p->uploads);
	free(p->free_chunks);
	free(p->free_parts);
	free(p->uploaders);
	free(p->key_prefix);
	free(p->file_stem);
	free(p);
}
