/*-------------------------------------------------------------------------
 *
 * s3_client.c
 *	  S3 requests over libcurl, signed with SigV4, with retries.
 *
 * One easy handle per client keeps its connection alive between requests;
 * curl_easy_reset() before each request clears options but not the
 * connection cache.  A retry forces a fresh connection.
 *
 *-------------------------------------------------------------------------
 */
#include <ctype.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>
#include <openssl/evp.h>

#include "s3_client.h"
#include "s3_xml.h"
#include "sigv4.h"

#define USER_AGENT "redtrack/0.4"
#define BACKOFF_BASE_MS 200
#define BACKOFF_CAP_MS 10000
#define LOW_SPEED_SECONDS 60
#define MAX_ERROR_BODY (64 * 1024)

struct S3Client
{
	S3Config	cfg;			/* strings owned (strdup) */
	CURL	   *curl;
	uint64_t	rng;
	char		curl_error[CURL_ERROR_SIZE];
};

/* One HTTP exchange. */
typedef struct Request
{
	const char *method;
	const char *key;			/* NULL: the bucket itself */
	const char *query;			/* canonical query, "" for none */
	const char *body;
	size_t		body_len;
	const char *content_type;
	const char *content_md5;

	/* response */
	S3Sink		sink;			/* for object bodies */
	void	   *sink_arg;
	S3Buffer   *response;		/* else collected here */
	long		status;
	char		etag[128];
	long long	content_length;

	/* transfer state */
	size_t		sent;			/* request body bytes handed to curl */
	long long	delivered;		/* object bytes given to the sink */
	long long	skip;			/* bytes to drop when a Range was ignored */
	bool		sink_stopped;
	S3Buffer	error_body;
} Request;

/* ----------------------------------------------------------------
 * Small utilities
 * ----------------------------------------------------------------
 */

static bool
buffer_append(S3Buffer *b, const char *data, size_t len)
{
	if (b->len + len + 1 > b->cap)
	{
		size_t		cap = b->cap ? b->cap * 2 : 4096;
		char	   *grown;

		while (cap < b->len + len + 1)
			cap *= 2;
		grown = realloc(b->data, cap);
		if (grown == NULL)
			return false;
		b->data = grown;
		b->cap = cap;
	}
	memcpy(b->data + b->len, data, len);
	b->len += len;
	b->data[b->len] = '\0';
	return true;
}

static void
buffer_free(S3Buffer *b)
{
	free(b->data);
	b->data = NULL;
	b->len = b->cap = 0;
}

static char *
dup_or_empty(const char *s)
{
	return strdup(s ? s : "");
}

static uint64_t
next_random(S3Client *client)
{
	/* xorshift64*: jitter only, no need for quality. */
	uint64_t	x = client->rng;

	x ^= x >> 12;
	x ^= x << 25;
	x ^= x >> 27;
	client->rng = x;
	return x * 0x2545F4914F6CDD1DULL;
}

static void
set_error(S3Error *err, int status, const char *code, const char *message)
{
	err->http_status = status;
	snprintf(err->code, sizeof(err->code), "%s", code ? code : "");
	snprintf(err->message, sizeof(err->message), "%s", message ? message : "");
}

static void
xml_escape_append(S3Buffer *b, const char *s)
{
	for (; *s; s++)
	{
		switch (*s)
		{
			case '&':
				buffer_append(b, "&amp;", 5);
				break;
			case '<':
				buffer_append(b, "&lt;", 4);
				break;
			case '>':
				buffer_append(b, "&gt;", 4);
				break;
			default:
				buffer_append(b, s, 1);
		}
	}
}

/* ----------------------------------------------------------------
 * Canonical query strings
 * ----------------------------------------------------------------
 */

typedef struct QueryParam
{
	const char *name;
	const char *value;			/* NULL: valueless, signed as "name=" */
} QueryParam;

typedef struct EncodedParam
{
	char	   *name;
	char	   *value;
} EncodedParam;

static int
compare_params(const void *a, const void *b)
{
	const EncodedParam *x = a,
			   *y = b;
	int			c = strcmp(x->name, y->name);

	return c ? c : strcmp(x->value, y->value);
}

static char *
encode_component(const char *s)
{
	size_t		cap = strlen(s) * 3 + 1;
	char	   *out = malloc(cap);

	if (out)
		sigv4_uri_encode(s, strlen(s), false, out, cap);
	return out;
}

/*
 * Sorted, RFC 3986 encoded, "name=" for valueless parameters: the form
 * SigV4 signs and the form we send, so the two never differ.
 */
static char *
canonical_query(const QueryParam *params, int n)
{
	EncodedParam *enc = calloc(n > 0 ? n : 1, sizeof(EncodedParam));
	S3Buffer	out = {0};

	if (enc == NULL)
		return NULL;
	for (int i = 0; i < n; i++)
	{
		enc[i].name = encode_component(params[i].name);
		enc[i].value = encode_component(params[i].value ? params[i].value : "");
	}
	qsort(enc, n, sizeof(EncodedParam), compare_params);
	buffer_append(&out, "", 0);
	for (int i = 0; i < n; i++)
	{
		if (i > 0)
			buffer_append(&out, "&", 1);
		if (enc[i].name && enc[i].value)
		{
			buffer_append(&out, enc[i].name, strlen(enc[i].name));
			buffer_append(&out, "=", 1);
			buffer_append(&out, enc[i].value, strlen(enc[i].value));
		}
		free(enc[i].name);
		free(enc[i].value);
	}
	free(enc);
	return out.data;
}

/* ----------------------------------------------------------------
 * libcurl callbacks
 * ----------------------------------------------------------------
 */

static size_t
read_body(char *dest, size_t size, size_t nmemb, void *arg)
{
	Request    *req = arg;
	size_t		room = size * nmemb;
	size_t		left = req->body_len - req->sent;
	size_t		n = left < room ? left : room;

	memcpy(dest, req->body + req->sent, n);
	req->sent += n;
	return n;
}

/*
 * libcurl rewinds the body to send it again, e.g. when a reused connection
 * turns out to be closed; without this it fails the request.
 */
static int
seek_body(void *arg, curl_off_t offset, int origin)
{
	Request    *req = arg;

	if (origin != SEEK_SET || offset < 0 || (size_t) offset > req->body_len)
		return CURL_SEEKFUNC_CANTSEEK;
	req->sent = (size_t) offset;
	return CURL_SEEKFUNC_OK;
}

static size_t
write_body(char *data, size_t size, size_t nmemb, void *arg)
{
	Request    *req = arg;
	size_t		len = size * nmemb;

	if (req->status == 0)
		return 0;				/* no status line yet: cannot happen */
	if (req->status >= 300)
	{
		/* An error document: keep its start for the message. */
		if (req->error_body.len < MAX_ERROR_BODY)
			buffer_append(&req->error_body, data, len);
		return len;
	}
	if (req->sink)
	{
		/* A server that ignored our Range resends what we already have. */
		if (req->skip > 0)
		{
			size_t		drop = (long long) len < req->skip ? len : (size_t) req->skip;

			req->skip -= drop;
			data += drop;
			len -= drop;
			if (len == 0)
				return size * nmemb;
		}
		if (!req->sink(data, len, req->sink_arg))
		{
			req->sink_stopped = true;
			return 0;
		}
		req->delivered += len;
		return size * nmemb;
	}
	if (req->response && !buffer_append(req->response, data, len))
		return 0;
	return len;
}

static size_t
read_header(char *line, size_t size, size_t nmemb, void *arg)
{
	Request    *req = arg;
	size_t		len = size * nmemb;

	if (len > 5 && strncmp(line, "HTTP/", 5) == 0)
	{
		const char *sp = memchr(line, ' ', len);

		req->status = sp ? strtol(sp + 1, NULL, 10) : 0;
		/* A new response (after a redirect or 100 Continue) starts clean. */
		req->etag[0] = '\0';
	}
	else if (len > 5 && strncasecmp(line, "etag:", 5) == 0)
	{
		size_t		start = 5;
		size_t		end = len;

		while (start < end && isspace((unsigned char) line[start]))
			start++;
		while (end > start && isspace((unsigned char) line[end - 1]))
			end--;
		if (end - start < sizeof(req->etag))
		{
			memcpy(req->etag, line + start, end - start);
			req->etag[end - start] = '\0';
		}
	}
	else if (len > 15 && strncasecmp(line, "content-length:", 15) == 0)
		req->content_length = strtoll(line + 15, NULL, 10);
	return len;
}

static int
transfer_progress(void *arg, curl_off_t dltotal, curl_off_t dlnow,
				  curl_off_t ultotal, curl_off_t ulnow)
{
	S3Client   *client = arg;

	if (client->cfg.should_abort && client->cfg.should_abort(client->cfg.callback_arg))
		return 1;
	return 0;
}

/* ----------------------------------------------------------------
 * One request, one attempt
 * ----------------------------------------------------------------
 */

static char *
request_path(S3Client *client, const char *key)
{
	size_t		keylen = key ? strlen(key) : 0;
	size_t		cap = strlen(client->cfg.bucket) + keylen * 3 + 4;
	char	   *path = malloc(cap);
	size_t		o = 0;

	if (path == NULL)
		return NULL;
	if (client->cfg.path_style)
		o = snprintf(path, cap, "/%s", client->cfg.bucket);
	if (key)
	{
		path[o++] = '/';
		sigv4_uri_encode(key, keylen, true, path + o, cap - o);
	}
	else if (o == 0)
		strcpy(path, "/");
	else
		path[o] = '\0';
	return path;
}

static const char *
bucket_host(S3Client *client, char *buf, size_t buflen)
{
	if (client->cfg.path_style)
		return client->cfg.host;
	snprintf(buf, buflen, "%s.%s", client->cfg.bucket, client->cfg.host);
	return buf;
}

typedef enum AttemptResult
{
	ATTEMPT_OK,
	ATTEMPT_RETRY,
	ATTEMPT_FAIL
} AttemptResult;

static bool
status_is_retryable(long status, const char *code)
{
	return status == 500 || status == 502 || status == 503 || status == 504 ||
		status == 429 || (status == 400 && strcmp(code, "RequestTimeout") == 0);
}

static bool
curl_code_is_retryable(CURLcode rc)
{
	switch (rc)
	{
		case CURLE_COULDNT_CONNECT:
		case CURLE_COULDNT_RESOLVE_HOST:
		case CURLE_OPERATION_TIMEDOUT:
		case CURLE_SEND_ERROR:
		case CURLE_RECV_ERROR:
		case CURLE_GOT_NOTHING:
		case CURLE_PARTIAL_FILE:
		case CURLE_SEND_FAIL_REWIND:
		case CURLE_SSL_CONNECT_ERROR:
		case CURLE_HTTP2:
		case CURLE_HTTP2_STREAM:
			return true;
		default:
			return false;
	}
}

/* "Name: value" appended to a header list (NULL on out of memory). */
static struct curl_slist *
append_header(struct curl_slist *headers, const char *name, const char *value)
{
	size_t		len = strlen(name) + strlen(value) + 3;
	char	   *line = malloc(len);
	struct curl_slist *result;

	if (line == NULL)
		return headers;
	snprintf(line, len, "%s: %s", name, value);
	result = curl_slist_append(headers, line);
	free(line);
	return result ? result : headers;
}

/* Clear what a previous attempt left; a broken download resumes (Range). */
static void
reset_request(Request *req, char *range, size_t range_len)
{
	req->status = 0;
	req->sent = 0;
	req->etag[0] = '\0';
	req->content_length = -1;
	req->error_body.len = 0;
	if (req->response)
		req->response->len = 0;
	range[0] = '\0';
	if (req->sink && req->delivered > 0)
	{
		/* Resume a broken download where it stopped. */
		snprintf(range, range_len, "bytes=%lld-", req->delivered);
		req->skip = 0;
	}
}

/*
 * The request's headers, signed (SigV4), as a curl list in *headers;
 * false (with err set) when the signature cannot be computed.
 */
static bool
signed_header_list(S3Client *client, Request *req, const char *host, const char *path,
				   const char *range, struct curl_slist **headers, S3Error *err)
{
	char		payload_hash[SIGV4_HEX_SHA256_LEN + 1];
	char		amz_date[32];
	char		authorization[1024];
	SigV4Header signed_headers[8];
	int			nsigned = 0;
	SigV4Request sreq;

	sigv4_sha256_hex(req->body ? req->body : "", req->body_len, payload_hash);
	sigv4_amz_date((long) time(NULL), amz_date, sizeof(amz_date));

	signed_headers[nsigned++] = (SigV4Header) {"host", host};
	signed_headers[nsigned++] = (SigV4Header) {"x-amz-content-sha256", payload_hash};
	signed_headers[nsigned++] = (SigV4Header) {"x-amz-date", amz_date};
	if (client->cfg.session_token && client->cfg.session_token[0])
		signed_headers[nsigned++] = (SigV4Header) {"x-amz-security-token", client->cfg.session_token};
	if (req->content_type)
		signed_headers[nsigned++] = (SigV4Header) {"content-type", req->content_type};
	if (req->content_md5)
		signed_headers[nsigned++] = (SigV4Header) {"content-md5", req->content_md5};
	if (range[0])
		signed_headers[nsigned++] = (SigV4Header) {"range", range};

	sreq = (SigV4Request) {
		.method = req->method,
		.canonical_uri = path,
		.canonical_query = req->query,
		.headers = signed_headers,
		.nheaders = nsigned,
		.payload_hash = payload_hash,
		.amz_date = amz_date,
		.region = client->cfg.region,
		.service = "s3",
		.access_key = client->cfg.access_key,
		.secret_key = client->cfg.secret_key,
	};
	if (!sigv4_authorization(&sreq, authorization, sizeof(authorization)))
	{
		set_error(err, 0, "SigningFailed", "could not compute the request signature");
		return false;
	}

	/*
	 * Header lines are as long as their values: a session token has no
	 * published maximum (several KB are common), and a header cut short
	 * would no longer match what was signed.
	 */
	for (int i = 0; i < nsigned; i++)
		*headers = append_header(*headers, signed_headers[i].name, signed_headers[i].value);
	*headers = append_header(*headers, "Authorization", authorization);
	/* No "Expect: 100-continue" round trip, and no default form type. */
	*headers = curl_slist_append(*headers, "Expect:");
	if (req->content_type == NULL)
		*headers = curl_slist_append(*headers, "Content-Type:");
	return true;
}

/* scheme://host/path?query */
static void
request_url(S3Client *client, Request *req, const char *host, const char *path, S3Buffer *url)
{
	buffer_append(url, client->cfg.scheme, strlen(client->cfg.scheme));
	buffer_append(url, "://", 3);
	buffer_append(url, host, strlen(host));
	buffer_append(url, path, strlen(path));
	if (req->query && req->query[0])
	{
		buffer_append(url, "?", 1);
		buffer_append(url, req->query, strlen(req->query));
	}
}

/* The method and its body. */
static void
set_method(CURL *curl, Request *req)
{
	if (strcmp(req->method, "GET") == 0)
		curl_easy_setopt(curl, CURLOPT_HTTPGET, 1L);
	else if (strcmp(req->method, "HEAD") == 0)
		curl_easy_setopt(curl, CURLOPT_NOBODY, 1L);
	else if (strcmp(req->method, "PUT") == 0)
	{
		curl_easy_setopt(curl, CURLOPT_UPLOAD, 1L);
		curl_easy_setopt(curl, CURLOPT_READFUNCTION, read_body);
		curl_easy_setopt(curl, CURLOPT_READDATA, req);
		curl_easy_setopt(curl, CURLOPT_SEEKFUNCTION, seek_body);
		curl_easy_setopt(curl, CURLOPT_SEEKDATA, req);
		curl_easy_setopt(curl, CURLOPT_INFILESIZE_LARGE, (curl_off_t) req->body_len);
	}
	else if (strcmp(req->method, "POST") == 0)
	{
		curl_easy_setopt(curl, CURLOPT_POST, 1L);
		curl_easy_setopt(curl, CURLOPT_POSTFIELDS, req->body ? req->body : "");
		curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t) req->body_len);
	}
	else
		curl_easy_setopt(curl, CURLOPT_CUSTOMREQUEST, req->method);
}

static void
set_curl_options(S3Client *client, Request *req, const char *url,
				 struct curl_slist *headers, bool fresh_connection)
{
	CURL	   *curl = client->curl;

	curl_easy_reset(curl);
	curl_easy_setopt(curl, CURLOPT_URL, url);
	/* The path as signed: libcurl would otherwise drop "." and ".." segments. */
	curl_easy_setopt(curl, CURLOPT_PATH_AS_IS, 1L);
#if LIBCURL_VERSION_NUM >= 0x075500
	curl_easy_setopt(curl, CURLOPT_PROTOCOLS_STR, "http,https");
#else
	curl_easy_setopt(curl, CURLOPT_PROTOCOLS, (long) (CURLPROTO_HTTP | CURLPROTO_HTTPS));
#endif
	curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(curl, CURLOPT_USERAGENT, USER_AGENT);
	curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers);
	curl_easy_setopt(curl, CURLOPT_ERRORBUFFER, client->curl_error);
	curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT_MS, client->cfg.connect_timeout_ms);
	curl_easy_setopt(curl, CURLOPT_LOW_SPEED_LIMIT, 1L);
	curl_easy_setopt(curl, CURLOPT_LOW_SPEED_TIME, (long) LOW_SPEED_SECONDS);
	curl_easy_setopt(curl, CURLOPT_TCP_KEEPALIVE, 1L);
	curl_easy_setopt(curl, CURLOPT_NOPROGRESS, 0L);
	curl_easy_setopt(curl, CURLOPT_XFERINFOFUNCTION, transfer_progress);
	curl_easy_setopt(curl, CURLOPT_XFERINFODATA, client);
	curl_easy_setopt(curl, CURLOPT_HEADERFUNCTION, read_header);
	curl_easy_setopt(curl, CURLOPT_HEADERDATA, req);
	curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, write_body);
	curl_easy_setopt(curl, CURLOPT_WRITEDATA, req);
	if (fresh_connection)
		curl_easy_setopt(curl, CURLOPT_FRESH_CONNECT, 1L);
	set_method(curl, req);
}

/* What a performed transfer came to: done, worth another try, or not. */
static AttemptResult
attempt_outcome(S3Client *client, Request *req, CURLcode rc, S3Error *err)
{
	AttemptResult result;

	if (rc == CURLE_ABORTED_BY_CALLBACK || (rc == CURLE_WRITE_ERROR && req->sink_stopped))
	{
		err->aborted = (rc == CURLE_ABORTED_BY_CALLBACK);
		set_error(err, 0, err->aborted ? "Aborted" : "Stopped",
				  err->aborted ? "transfer interrupted" : "download stopped by its reader");
		result = ATTEMPT_FAIL;
	}
	else if (rc != CURLE_OK)
	{
		err->curl_code = rc;
		set_error(err, 0, "ConnectionError",
				  client->curl_error[0] ? client->curl_error : curl_easy_strerror(rc));
		result = curl_code_is_retryable(rc) ? ATTEMPT_RETRY : ATTEMPT_FAIL;
	}
	else if (req->status >= 200 && req->status < 300)
	{
		/*
		 * S3 may answer 200 and still report an error in the body, notably
		 * for CompleteMultipartUpload.
		 */
		const char *doc = req->response ? req->response->data : NULL;

		if (doc && strstr(doc, "<Error>") != NULL)
		{
			char	   *code = s3_xml_first(doc, "Code");
			char	   *message = s3_xml_first(doc, "Message");

			set_error(err, (int) req->status, code, message);
			result = (code && (strcmp(code, "InternalError") == 0 ||
							   strcmp(code, "SlowDown") == 0))
				? ATTEMPT_RETRY : ATTEMPT_FAIL;
			free(code);
			free(message);
		}
		else
			result = ATTEMPT_OK;
	}
	else
	{
		char	   *code = req->error_body.data ? s3_xml_first(req->error_body.data, "Code") : NULL;
		char	   *message = req->error_body.data ? s3_xml_first(req->error_body.data, "Message") : NULL;

		if (code == NULL && req->status == 404)
			code = strdup("NoSuchKey");
		set_error(err, (int) req->status, code ? code : "", message ? message : "");
		if (message == NULL)
			snprintf(err->message, sizeof(err->message), "HTTP status %ld", req->status);
		result = status_is_retryable(req->status, err->code) ? ATTEMPT_RETRY : ATTEMPT_FAIL;
		free(code);
		free(message);
	}
	return result;
}

static AttemptResult
attempt(S3Client *client, Request *req, bool fresh_connection, S3Error *err)
{
	char		host_buf[512];
	const char *host = bucket_host(client, host_buf, sizeof(host_buf));
	char	   *path = request_path(client, req->key);
	char		range[64];
	struct curl_slist *headers = NULL;
	S3Buffer	url = {0};
	CURLcode	rc;
	AttemptResult result;

	if (path == NULL)
	{
		set_error(err, 0, "OutOfMemory", "out of memory");
		return ATTEMPT_FAIL;
	}

	reset_request(req, range, sizeof(range));
	if (!signed_header_list(client, req, host, path, range, &headers, err))
	{
		curl_slist_free_all(headers);
		free(path);
		return ATTEMPT_FAIL;
	}
	request_url(client, req, host, path, &url);
	set_curl_options(client, req, url.data, headers, fresh_connection);

	client->curl_error[0] = '\0';
	rc = curl_easy_perform(client->curl);
	err->attempts++;
	result = attempt_outcome(client, req, rc, err);

	curl_slist_free_all(headers);
	buffer_free(&url);
	free(path);
	return result;
}

/* A request with retries. */
static bool
perform(S3Client *client, Request *req, S3Error *err)
{
	int			max_attempts = client->cfg.max_attempts > 0 ? client->cfg.max_attempts : 1;

	memset(err, 0, sizeof(*err));
	snprintf(err->operation, sizeof(err->operation), "%s %s%s%s", req->method,
			 req->key ? req->key : client->cfg.bucket,
			 req->query && req->query[0] ? "?" : "", req->query ? req->query : "");

	for (int n = 0; n < max_attempts; n++)
	{
		AttemptResult r;

		if (client->cfg.should_abort && client->cfg.should_abort(client->cfg.callback_arg))
		{
			err->aborted = true;
			set_error(err, 0, "Aborted", "transfer interrupted");
			break;
		}
		r = attempt(client, req, n > 0, err);
		if (r == ATTEMPT_OK)
		{
			buffer_free(&req->error_body);
			return true;
		}
		if (r == ATTEMPT_FAIL || n + 1 == max_attempts)
			break;

		/* Exponential backoff with jitter: a random wait in [d/2, d]. */
		{
			long		delay = BACKOFF_BASE_MS;

			for (int i = 0; i < n && delay < BACKOFF_CAP_MS; i++)
				delay *= 2;
			if (delay > BACKOFF_CAP_MS)
				delay = BACKOFF_CAP_MS;
			delay = delay / 2 + (long) (next_random(client) % (uint64_t) (delay / 2 + 1));
			if (client->cfg.sleep_ms)
				client->cfg.sleep_ms(client->cfg.callback_arg, (int) delay);
			else
				usleep((useconds_t) delay * 1000);
		}
	}
	buffer_free(&req->error_body);
	return false;
}

/* ----------------------------------------------------------------
 * Public API
 * ----------------------------------------------------------------
 */

static pthread_once_t global_init_once = PTHREAD_ONCE_INIT;
static bool global_init_ok = false;

static void
global_init(void)
{
	global_init_ok = (curl_global_init(CURL_GLOBAL_DEFAULT) == CURLE_OK);
	/* libxml2's global state, before any upload thread parses a response */
	s3_xml_init();
}

bool
s3_global_init(void)
{
	pthread_once(&global_init_once, global_init);
	return global_init_ok;
}

S3Client *
s3_client_new(const S3Config *config)
{
	S3Client   *client = calloc(1, sizeof(S3Client));

	if (client == NULL)
		return NULL;
	client->cfg = *config;
	client->cfg.scheme = dup_or_empty(config->scheme);
	client->cfg.host = dup_or_empty(config->host);
	client->cfg.bucket = dup_or_empty(config->bucket);
	client->cfg.region = dup_or_empty(config->region);
	client->cfg.access_key = dup_or_empty(config->access_key);
	client->cfg.secret_key = dup_or_empty(config->secret_key);
	client->cfg.session_token = dup_or_empty(config->session_token);
	client->curl = curl_easy_init();
	client->rng = (uint64_t) time(NULL) ^ ((uint64_t) getpid() << 32) ^ (uint64_t) (uintptr_t) client;
	if (client->rng == 0)
		client->rng = 0x9E3779B97F4A7C15ULL;
	if (client->curl == NULL)
	{
		s3_client_free(client);
		return NULL;
	}
	return client;
}

void
s3_client_free(S3Client *client)
{
	if (client == NULL)
		return;
	if (client->curl)
		curl_easy_cleanup(client->curl);
	free((char *) client->cfg.scheme);
	free((char *) client->cfg.host);
	free((char *) client->cfg.bucket);
	free((char *) client->cfg.region);
	free((char *) client->cfg.access_key);
	if (client->cfg.secret_key)
	{
		/* Wipe secrets before handing the memory back. */
		memset((char *) client->cfg.secret_key, 0, strlen(client->cfg.secret_key));
		free((char *) client->cfg.secret_key);
	}
	if (client->cfg.session_token)
	{
		memset((char *) client->cfg.session_token, 0, strlen(client->cfg.session_token));
		free((char *) client->cfg.session_token);
	}
	free(client);
}

bool
s3_put_object(S3Client *client, const char *key, const void *body, size_t len,
			  const char *content_type, S3Error *err)
{
	Request		req = {.method = "PUT", .key = key, .query = "", .body = body,
	.body_len = len, .content_type = content_type};

	return perform(client, &req, err);
}

bool
s3_get_object(S3Client *client, const char *key, S3Sink sink, void *sink_arg, S3Error *err)
{
	Request		req = {.method = "GET", .key = key, .query = "", .sink = sink,
	.sink_arg = sink_arg};

	return perform(client, &req, err);
}

/* Whether an object exists (a 404 is an answer, not an error). */
bool
s3_head_object(S3Client *client, const char *key, bool *exists, long long *size, S3Error *err)
{
	Request		req = {.method = "HEAD", .key = key, .query = ""};

	if (perform(client, &req, err))
	{
		*exists = true;
		if (size)
			*size = req.content_length;
		return true;
	}
	if (err->http_status == 404)
	{
		*exists = false;
		memset(err, 0, sizeof(*err));
		return true;
	}
	return false;
}

bool
s3_delete_object(S3Client *client, const char *key, S3Error *err)
{
	Request		req = {.method = "DELETE", .key = key, .query = ""};

	return perform(client, &req, err);
}

bool
s3_delete_objects(S3Client *client, char **keys, int nkeys, S3Error *err)
{
	/* DeleteObjects takes at most 1000 keys per request. */
	for (int start = 0; start < nkeys; start += 1000)
	{
		S3Buffer	body = {0};
		S3Buffer	response = {0};
		unsigned char md5[EVP_MAX_MD_SIZE];
		unsigned int md5len = 0;
		char		md5_b64[64];
		QueryParam	params[] = {{"delete", NULL}};
		char	   *query = canonical_query(params, 1);
		Request		req = {.method = "POST", .key = NULL, .query = query,
		.content_type = "application/xml", .content_md5 = md5_b64,
		.response = &response};
		bool		ok;
		char	   *failed_key;

		buffer_append(&body, "<Delete><Quiet>true</Quiet>", 27);
		for (int i = start; i < nkeys && i < start + 1000; i++)
		{
			buffer_append(&body, "<Object><Key>", 13);
			xml_escape_append(&body, keys[i]);
			buffer_append(&body, "</Key></Object>", 15);
		}
		buffer_append(&body, "</Delete>", 9);

		/* S3 requires Content-MD5 on DeleteObjects. */
		EVP_Digest(body.data, body.len, md5, &md5len, EVP_md5(), NULL);
		EVP_EncodeBlock((unsigned char *) md5_b64, md5, (int) md5len);

		req.body = body.data;
		req.body_len = body.len;
		ok = perform(client, &req, err);
		if (ok && response.data && (failed_key = s3_xml_first(response.data, "Key")) != NULL)
		{
			char	   *code = s3_xml_first(response.data, "Code");

			set_error(err, 200, code ? code : "DeleteFailed", failed_key);
			free(code);
			free(failed_key);
			ok = false;
		}
		free(query);
		buffer_free(&body);
		buffer_free(&response);
		if (!ok)
			return false;
	}
	return true;
}

/*
 * One page of a listing (GET on the bucket with these parameters): the
 * answer in *response, or false with err set and *response freed.
 */
static bool
get_listing_page(S3Client *client, QueryParam *params, int nparams, S3Buffer *response,
				 S3Error *err)
{
	char	   *query = canonical_query(params, nparams);
	Request		req = {.method = "GET", .key = NULL, .query = query, .response = response};
	bool		ok = perform(client, &req, err);

	free(query);
	if (!ok)
		buffer_free(response);
	return ok;
}

bool
s3_list_objects(S3Client *client, const char *prefix, S3ObjectList *out, S3Error *err)
{
	char	   *token = NULL;

	memset(out, 0, sizeof(*out));
	for (;;)
	{
		S3Buffer	response = {0};
		QueryParam	params[4];
		int			n = 0;
		S3Xml	   *xml;
		const void *contents = NULL;
		char	   *truncated;
		bool		more;

		params[n++] = (QueryParam) {"list-type", "2"};
		params[n++] = (QueryParam) {"prefix", prefix};
		if (token)
			params[n++] = (QueryParam) {"continuation-token", token};
		if (!get_listing_page(client, params, n, &response, err))
		{
			free(token);
			return false;
		}

		xml = s3_xml_parse(response.data, response.len);
		while (s3_xml_next_item(xml, "Contents", &contents))
		{
			char	   *key = s3_xml_item_text(contents, "Key");
			char	   *size = s3_xml_item_text(contents, "Size");

			if (out->count == out->cap)
			{
				out->cap = out->cap ? out->cap * 2 : 64;
				out->items = realloc(out->items, out->cap * sizeof(S3Object));
			}
			out->items[out->count].key = key;
			out->items[out->count].size = size ? strtoll(size, NULL, 10) : 0;
			out->items[out->count].etag = s3_xml_item_text(contents, "ETag");
			out->count++;
			free(size);
		}
		truncated = s3_xml_text(xml, "IsTruncated");
		more = truncated && strcmp(truncated, "true") == 0;
		free(truncated);
		free(token);
		token = more ? s3_xml_text(xml, "NextContinuationToken") : NULL;
		s3_xml_free(xml);
		buffer_free(&response);
		if (!more || token == NULL)
			break;
	}
	free(token);
	return true;
}

bool
s3_multipart_create(S3Client *client, const char *key, const char *content_type,
					char **upload_id, S3Error *err)
{
	S3Buffer	response = {0};
	QueryParam	params[] = {{"uploads", NULL}};
	char	   *query = canonical_query(params, 1);
	Request		req = {.method = "POST", .key = key, .query = query,
	.content_type = content_type, .response = &response};
	bool		ok = perform(client, &req, err);

	*upload_id = NULL;
	if (ok)
	{
		*upload_id = response.data ? s3_xml_first(response.data, "UploadId") : NULL;
		if (*upload_id == NULL)
		{
			set_error(err, 200, "MalformedResponse", "no UploadId in CreateMultipartUpload response");
			ok = false;
		}
	}
	free(query);
	buffer_free(&response);
	return ok;
}

bool
s3_multipart_upload_part(S3Client *client, const char *key, const char *upload_id,
						 int part_number, const void *data, size_t len,
						 char *etag, size_t etag_len, S3Error *err)
{
	char		number[16];
	QueryParam	params[2];
	char	   *query;
	Request		req = {.method = "PUT", .key = key, .body = data, .body_len = len};
	bool		ok;

	snprintf(number, sizeof(number), "%d", part_number);
	params[0] = (QueryParam) {"partNumber", number};
	params[1] = (QueryParam) {"uploadId", upload_id};
	query = canonical_query(params, 2);
	req.query = query;
	ok = perform(client, &req, err);
	if (ok)
	{
		if (req.etag[0] == '\0')
		{
			set_error(err, 200, "MalformedResponse", "no ETag in UploadPart response");
			ok = false;
		}
		else
			snprintf(etag, etag_len, "%s", req.etag);
	}
	free(query);
	return ok;
}

bool
s3_multipart_complete(S3Client *client, const char *key, const char *upload_id,
					  char **etags, int nparts, S3Error *err)
{
	S3Buffer	body = {0};
	S3Buffer	response = {0};
	QueryParam	params[] = {{"uploadId", upload_id}};
	char	   *query = canonical_query(params, 1);
	Request		req = {.method = "POST", .key = key, .query = query,
	.content_type = "application/xml", .response = &response};
	char		part[64];
	bool		ok;

	buffer_append(&body, "<CompleteMultipartUpload>", 25);
	for (int i = 0; i < nparts; i++)
	{
		snprintf(part, sizeof(part), "<Part><PartNumber>%d</PartNumber><ETag>", i + 1);
		buffer_append(&body, part, strlen(part));
		xml_escape_append(&body, etags[i]);
		buffer_append(&body, "</ETag></Part>", 14);
	}
	buffer_append(&body, "</CompleteMultipartUpload>", 26);
	req.body = body.data;
	req.body_len = body.len;
	ok = perform(client, &req, err);
	free(query);
	buffer_free(&body);
	buffer_free(&response);
	return ok;
}

bool
s3_multipart_abort(S3Client *client, const char *key, const char *upload_id, S3Error *err)
{
	QueryParam	params[] = {{"uploadId", upload_id}};
	char	   *query = canonical_query(params, 1);
	Request		req = {.method = "DELETE", .key = key, .query = query};
	bool		ok = perform(client, &req, err);

	/* An upload that is already gone is what we wanted. */
	if (!ok && err->http_status == 404)
	{
		memset(err, 0, sizeof(*err));
		ok = true;
	}
	free(query);
	return ok;
}

bool
s3_list_multipart_uploads(S3Client *client, const char *prefix, S3UploadList *out,
						  S3Error *err)
{
	char	   *key_marker = NULL;
	char	   *id_marker = NULL;

	memset(out, 0, sizeof(*out));
	for (;;)
	{
		S3Buffer	response = {0};
		QueryParam	params[4];
		int			n = 0;
		S3Xml	   *xml;
		const void *upload = NULL;
		char	   *truncated;
		bool		more;

		params[n++] = (QueryParam) {"uploads", NULL};
		params[n++] = (QueryParam) {"prefix", prefix};
		if (key_marker)
			params[n++] = (QueryParam) {"key-marker", key_marker};
		if (id_marker)
			params[n++] = (QueryParam) {"upload-id-marker", id_marker};
		if (!get_listing_page(client, params, n, &response, err))
		{
			free(key_marker);
			free(id_marker);
			return false;
		}

		xml = s3_xml_parse(response.data, response.len);
		while (s3_xml_next_item(xml, "Upload", &upload))
		{
			if (out->count == out->cap)
			{
				out->cap = out->cap ? out->cap * 2 : 16;
				out->items = realloc(out->items, out->cap * sizeof(S3Upload));
			}
			out->items[out->count].key = s3_xml_item_text(upload, "Key");
			out->items[out->count].upload_id = s3_xml_item_text(upload, "UploadId");
			out->count++;
		}
		truncated = s3_xml_text(xml, "IsTruncated");
		more = truncated && strcmp(truncated, "true") == 0;
		free(truncated);
		free(key_marker);
		free(id_marker);
		key_marker = more ? s3_xml_text(xml, "NextKeyMarker") : NULL;
		id_marker = more ? s3_xml_text(xml, "NextUploadIdMarker") : NULL;
		s3_xml_free(xml);
		buffer_free(&response);
		if (!more || key_marker == NULL)
			break;
	}
	free(key_marker);
	free(id_marker);
	return true;
}

void
s3_object_list_free(S3ObjectList *list)
{
	for (int i = 0; i < list->count; i++)
	{
		free(list->items[i].key);
		free(list->items[i].etag);
	}
	free(list->items);
	memset(list, 0, sizeof(*list));
}

void
s3_upload_list_free(S3UploadList *list)
{
	for (int i = 0; i < list->count; i++)
	{
		free(list->items[i].key);
		free(list->items[i].upload_id);
	}
	free(list->items);
	memset(list, 0, sizeof(*list));
}

void
s3_error_describe(const S3Error *err, char *out, size_t outlen)
{
	if (err->http_status > 0)
		snprintf(out, outlen, "%s: HTTP %d %s: %s", err->operation, err->http_status,
				 err->code[0] ? err->code : "Error", err->message);
	else
		snprintf(out, outlen, "%s: %s", err->operation, err->message);
	if (err->attempts > 1)
	{
		size_t		used = strlen(out);

		snprintf(out + used, outlen - used, " (after %d attempts)", err->attempts);
	}
}
