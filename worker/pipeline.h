/*-------------------------------------------------------------------------
 *
 * pipeline.h
 *	  The export stream: CSV chunks -> gzip -> S3 multipart parts.
 *
 * The backend's main thread encodes rows and appends them to one chunk
 * buffer per slice (rows are dealt to slices round-robin, so slices grow
 * at the same rate).  A compressor thread gzips each slice's chunks into
 * that slice's current file; uploader threads send the compressed parts
 * to S3 as they fill.  When any file would grow past max_file_size, all
 * slices move to new files together, so an export always writes a
 * multiple of `slices` files of about equal size.
 *
 * Memory is flat whatever the table size: slices chunk buffers, a few
 * queued chunks, and a pool of slices + 2 part buffers allocated once at
 * part_size (plus headroom) and reused; when all are filling, queued or
 * uploading, the compressor waits for an uploader to return one.
 * Nothing is written to local disk.
 *
 * Pure C and pthreads: no thread here calls PostgreSQL.  The main thread
 * learns about failures from the return values and pipeline_error(), and
 * stays interruptible while it waits through the wait_check callback.
 *
 *-------------------------------------------------------------------------
 */
#ifndef REDTRACK_PIPELINE_H
#define REDTRACK_PIPELINE_H

#include "bytebuf.h"
#include "s3_client.h"

typedef struct Pipeline Pipeline;

typedef struct PipelineConfig
{
	S3Config	s3;				/* callbacks are replaced for the threads */
	const char *key_prefix;		/* "prefix/target/42/" */
	const char *file_stem;		/* "part" -> part-0001.csv.gz */
	int			slices;
	size_t		max_file_size;	/* compressed bytes per file */
	size_t		part_size;		/* multipart part size, >= 5 MiB */
	size_t		chunk_size;		/* CSV bytes per compression job */
	int			compression_level;
	int			uploaders;		/* upload threads */

	/*
	 * Called by the main thread every ~100 ms while it waits for the
	 * threads; returning true abandons the wait (the caller then reports
	 * the interrupt).
	 */
	bool		(*wait_check) (void *arg);
	void	   *wait_arg;
} PipelineConfig;

typedef struct PipelineFile
{
	char	   *key;
	long long	bytes;			/* compressed size */
	long long	raw_bytes;		/* CSV size */
} PipelineFile;

typedef struct PipelineStats
{
	long long	raw_bytes;
	long long	uploaded_bytes;
	int			files_done;
} PipelineStats;

/* NULL with a message in errbuf when the threads could not start. */
extern Pipeline *pipeline_start(const PipelineConfig *config, char *errbuf, size_t errlen);

/* The buffer to append slice's next rows to. */
extern ByteBuf *pipeline_buffer(Pipeline *p, int slice);

/*
 * Hand the slice's buffer to the compressor if it is full.  False when the
 * pipeline failed or the wait was interrupted (see pipeline_error).
 */
extern bool pipeline_commit(Pipeline *p, int slice);

/* Flush everything, close the files, wait for every upload. */
extern bool pipeline_finish(Pipeline *p);

extern const char *pipeline_error(Pipeline *p);
extern void pipeline_stats(Pipeline *p, PipelineStats *stats);

/* After a successful finish: the files written, in order. */
extern int	pipeline_file_count(Pipeline *p);
extern const PipelineFile *pipeline_file(Pipeline *p, int i);

/*
 * Stop the threads, abort unfinished multipart uploads (best effort), free
 * everything.  Safe at any point, also after a failure.
 */
extern void pipeline_destroy(Pipeline *p);

#endif							/* REDTRACK_PIPELINE_H */
