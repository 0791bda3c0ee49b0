/*-------------------------------------------------------------------------
 *
 * s3.c
 *	  S3 settings, main-thread clients and error reporting.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <stdlib.h>

#include "miscadmin.h"
#include "storage/latch.h"
#include "utils/memutils.h"
#include "utils/wait_event.h"

#include "guc.h"
#include "interrupts.h"
#include "s3.h"

#define S3_MAX_ATTEMPTS 6
#define S3_CONNECT_TIMEOUT_MS 10000

static char *
trim_slashes(const char *s)
{
	char	   *copy = pstrdup(s);
	char	   *start = copy;
	size_t		len;

	while (*start == '/')
		start++;
	len = strlen(start);
	while (len > 0 && start[len - 1] == '/')
		start[--len] = '\0';
	return start;
}

S3Settings *
redtrack_s3_settings(void)
{
	S3Settings *s = palloc0(sizeof(S3Settings));
	const char *endpoint = redtrack_s3_endpoint ? redtrack_s3_endpoint : "";

	if (redtrack_s3_bucket == NULL || redtrack_s3_bucket[0] == '\0')
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("redtrack.s3_bucket is not set"),
				 errhint("Set redtrack.s3_bucket in postgresql.conf to the bucket that receives exports.")));
	s->bucket = pstrdup(redtrack_s3_bucket);
	s->region = pstrdup(redtrack_s3_region && redtrack_s3_region[0] ? redtrack_s3_region : "us-east-1");
	s->prefix = trim_slashes(redtrack_s3_prefix ? redtrack_s3_prefix : "");

	if (endpoint[0] == '\0')
	{
		/*
		 * AWS: virtual-hosted addressing, except for bucket names with dots,
		 * which a wildcard TLS certificate does not cover.
		 */
		s->scheme = "https";
		s->host = psprintf("s3.%s.amazonaws.com", s->region);
		s->path_style = (strchr(s->bucket, '.') != NULL);
	}
	else
	{
		const char *rest = endpoint;

		if (strncmp(endpoint, "http://", 7) == 0)
		{
			s->scheme = "http";
			rest = endpoint + 7;
		}
		else if (strncmp(endpoint, "https://", 8) == 0)
		{
			s->scheme = "https";
			rest = endpoint + 8;
		}
		else if (strstr(endpoint, "://") != NULL)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("redtrack.s3_endpoint \"%s\" has an unsupported scheme", endpoint),
					 errhint("Use https://host[:port], or http://host[:port] to turn encryption off.")));
		else
			s->scheme = "https";
		s->host = trim_slashes(rest);
		if (s->host[0] == '\0' || strchr(s->host, '/') != NULL)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("redtrack.s3_endpoint \"%s\" is not a host[:port]", endpoint),
					 errhint("Give the endpoint without a path, e.g. https://s3.example.com:9000.")));
		/* S3-compatible stores are addressed path-style. */
		s->path_style = true;
	}

	/* Credentials: the settings, else the server's standard environment. */
	if (redtrack_aws_access_key_id && redtrack_aws_access_key_id[0])
	{
		s->access_key = pstrdup(redtrack_aws_access_key_id);
		s->secret_key = pstrdup(redtrack_aws_secret_access_key ? redtrack_aws_secret_access_key : "");
		s->session_token = pstrdup(redtrack_aws_session_token ? redtrack_aws_session_token : "");
	}
	else
	{
		const char *key = getenv("AWS_ACCESS_KEY_ID");
		const char *secret = getenv("AWS_SECRET_ACCESS_KEY");
		const char *token = getenv("AWS_SESSION_TOKEN");

		s->access_key = pstrdup(key ? key : "");
		s->secret_key = pstrdup(secret ? secret : "");
		s->session_token = pstrdup(redtrack_aws_session_token && redtrack_aws_session_token[0]
								   ? redtrack_aws_session_token : (token ? token : ""));
	}
	if (s->access_key[0] == '\0' || s->secret_key[0] == '\0')
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_AUTHORIZATION_SPECIFICATION),
				 errmsg("no AWS credentials for S3"),
				 errhint("Set redtrack.aws_access_key_id and redtrack.aws_secret_access_key in "
						 "postgresql.conf, or AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY in the "
						 "server's environment.")));
	return s;
}

void
redtrack_s3_config(const S3Settings *settings, S3Config *config)
{
	memset(config, 0, sizeof(*config));
	config->scheme = settings->scheme;
	config->host = settings->host;
	config->path_style = settings->path_style;
	config->bucket = settings->bucket;
	config->region = settings->region;
	config->access_key = settings->access_key;
	config->secret_key = settings->secret_key;
	config->session_token = settings->session_token;
	config->max_attempts = S3_MAX_ATTEMPTS;
	config->connect_timeout_ms = S3_CONNECT_TIMEOUT_MS;
}

/* Main thread: a pending cancel or termination stops the transfer. */
static bool
backend_should_abort(void *arg)
{
	return redtrack_interrupt_pending();
}

static void
backend_sleep(void *arg, int ms)
{
	(void) WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH,
					 ms, PG_WAIT_EXTENSION);
	ResetLatch(MyLatch);
}

typedef struct ClientHolder
{
	S3Client   *client;
	MemoryContextCallback callback;
} ClientHolder;

static void
free_client(void *arg)
{
	ClientHolder *holder = arg;

	s3_client_free(holder->client);
	holder->client = NULL;
}

S3Client *
redtrack_s3_open(const S3Settings *settings)
{
	ClientHolder *holder = palloc0(sizeof(ClientHolder));
	S3Config	config;

	if (!s3_global_init())
		ereport(ERROR,
				(errcode(ERRCODE_SYSTEM_ERROR),
				 errmsg("could not initialize libcurl")));
	redtrack_s3_config(settings, &config);
	config.should_abort = backend_should_abort;
	config.sleep_ms = backend_sleep;
	holder->client = s3_client_new(&config);
	if (holder->client == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_OUT_OF_MEMORY),
				 errmsg("could not create an S3 client")));
	holder->callback.func = free_client;
	holder->callback.arg = holder;
	MemoryContextRegisterResetCallback(CurrentMemoryContext, &holder->callback);
	return holder->client;
}

void
redtrack_s3_report(const S3Error *err)
{
	char		description[1024];
	int			sqlstate = ERRCODE_EXTERNAL_ROUTINE_EXCEPTION;
	const char *hint = NULL;

	/* An interrupted transfer ends the way the interrupt says. */
	if (err->aborted)
		CHECK_FOR_INTERRUPTS();

	s3_error_describe(err, description, sizeof(description));
	if (err->aborted)
		sqlstate = ERRCODE_QUERY_CANCELED;
	else if (err->http_status == 0)
	{
		sqlstate = ERRCODE_CONNECTION_FAILURE;
		hint = "Check redtrack.s3_endpoint and that S3 is reachable from the database server.";
	}
	else if (strcmp(err->code, "RequestTimeTooSkewed") == 0)
	{
		sqlstate = ERRCODE_INVALID_AUTHORIZATION_SPECIFICATION;
		hint = "The database server's clock differs from S3's by more than 15 minutes.";
	}
	else if (err->http_status == 403 || strcmp(err->code, "InvalidAccessKeyId") == 0 ||
			 strcmp(err->code, "SignatureDoesNotMatch") == 0 ||
			 strcmp(err->code, "InvalidToken") == 0 || strcmp(err->code, "ExpiredToken") == 0)
	{
		sqlstate = ERRCODE_INVALID_AUTHORIZATION_SPECIFICATION;
		hint = "Check redtrack.aws_access_key_id, redtrack.aws_secret_access_key and "
			"redtrack.aws_session_token, and the bucket's policy.";
	}
	else if (strcmp(err->code, "NoSuchBucket") == 0)
	{
		sqlstate = ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE;
		hint = "Check redtrack.s3_bucket and redtrack.s3_region.";
	}

	ereport(ERROR,
			(errcode(sqlstate),
			 errmsg("S3 request failed: %s", description),
			 hint ? errhint("%s", hint) : 0));
	pg_unreachable();
}

char *
redtrack_s3_url(const S3Settings *settings, const char *key)
{
	return psprintf("s3://%s/%s", settings->bucket, key);
}
