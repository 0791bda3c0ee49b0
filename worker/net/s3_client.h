/*-------------------------------------------------------------------------
 *
 * s3_client.h
 *	  A small S3 client on libcurl and SigV4.
 *
 * Pure C: it allocates with malloc, reports failures in an S3Error, and
 * learns about interrupts only through the should_abort callback, so it
 * runs both in a backend's main thread (see s3.h for the PostgreSQL face)
 * and in the export pipeline's uploader threads.  It knows nothing of
 * Redshift, CSV or replications.
 *
 * Every request is retried on connection errors, timeouts, 500, 502, 503
 * and 504 with exponential backoff and jitter, on a fresh connection, up to
 * max_attempts; a download that breaks resumes with a Range request.
 *
 *-------------------------------------------------------------------------
 */
#ifndef REDTRACK_S3_CLIENT_H
#define REDTRACK_S3_CLIENT_H

#include <stdbool.h>
#include <stddef.h>

typedef struct S3Client S3Client;

typedef struct S3Config
{
	const char *scheme;			/* "https" or "http" */
	const char *host;			/* host[:port] requests go to */
	bool		path_style;		/* /bucket/key rather than bucket.host/key */
	const char *bucket;
	const char *region;
	const char *access_key;
	const char *secret_key;
	const char *session_token;	/* NULL or "" when not used */
	int			max_attempts;	/* per request, >= 1 */
	long		connect_timeout_ms;

	/* Polled during transfers and before retries: true aborts. */
	bool		(*should_abort) (void *arg);
	/* Sleeps between retries; must return early when aborting. */
	void		(*sleep_ms) (void *arg, int ms);
	void	   *callback_arg;
} S3Config;

typedef struct S3Error
{
	int			http_status;	/* 0 when no HTTP answer came */
	char		code[64];		/* S3 error code, e.g. SlowDown */
	char		message[512];
	char		operation[256]; /* "PUT key", for messages */
	int			curl_code;
	int			attempts;
	bool		aborted;		/* stopped by should_abort */
} S3Error;

typedef struct S3Buffer
{
	char	   *data;
	size_t		len;
	size_t		cap;
} S3Buffer;

typedef struct S3Object
{
	char	   *key;
	long long	size;
	char	   *etag;			/* as listed, quotes included; may be NULL */
} S3Object;

typedef struct S3ObjectList
{
	S3Object   *items;
	int			count;
	int			cap;
} S3ObjectList;

typedef struct S3Upload
{
	char	   *key;
	char	   *upload_id;
} S3Upload;

typedef struct S3UploadList
{
	S3Upload   *items;
	int			count;
	int			cap;
} S3UploadList;

/* Receives downloaded bytes; returns false to stop the transfer. */
typedef bool (*S3Sink) (const char *data, size_t len, void *arg);

/* Once per process, before any thread uses libcurl. */
extern bool s3_global_init(void);

extern S3Client *s3_client_new(const S3Config *config);
extern void s3_client_free(S3Client *client);

extern bool s3_put_object(S3Client *client, const char *key, const void *body,
						  size_t len, const char *content_type, S3Error *err);
extern bool s3_get_object(S3Client *client, const char *key, S3Sink sink,
						  void *sink_arg, S3Error *err);
extern bool s3_head_object(S3Client *client, const char *key, bool *exists,
						   long long *size, S3Error *err);
extern bool s3_delete_object(S3Client *client, const char *key, S3Error *err);
extern bool s3_delete_objects(S3Client *client, char **keys, int nkeys, S3Error *err);
extern bool s3_list_objects(S3Client *client, const char *prefix,
							S3ObjectList *out, S3Error *err);

extern bool s3_multipart_create(S3Client *client, const char *key,
								const char *content_type, char **upload_id,
								S3Error *err);
extern bool s3_multipart_upload_part(S3Client *client, const char *key,
									 const char *upload_id, int part_number,
									 const void *data, size_t len,
									 char *etag, size_t etag_len, S3Error *err);
extern bool s3_multipart_complete(S3Client *client, const char *key,
								  const char *upload_id, char **etags,
								  int nparts, S3Error *err);
extern bool s3_multipart_abort(S3Client *client, const char *key,
							   const char *upload_id, S3Error *err);
extern bool s3_list_multipart_uploads(S3Client *client, const char *prefix,
									  S3UploadList *out, S3Error *err);

extern void s3_object_list_free(S3ObjectList *list);
extern void s3_upload_list_free(S3UploadList *list);

/* A one-line description of an error, without any credential. */
extern void s3_error_describe(const S3Error *err, char *out, size_t outlen);

#endif							/* REDTRACK_S3_CLIENT_H */
