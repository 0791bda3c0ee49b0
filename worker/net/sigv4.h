/*-------------------------------------------------------------------------
 *
 * sigv4.h
 *	  AWS Signature Version 4 for S3 requests (header-based auth).
 *
 * Pure C on OpenSSL's SHA-256 and HMAC: no PostgreSQL memory or error
 * handling, so the uploader threads can sign too, and so the published
 * AWS worked examples can be checked by a stand-alone unit test.
 *
 * The caller hands over an already canonical URI (RFC 3986 encoded, '/'
 * kept, S3 does not double-encode) and an already canonical query string
 * (sorted, encoded, "name=" for valueless parameters), and must send the
 * request with exactly that path and query.
 *
 *-------------------------------------------------------------------------
 */
#ifndef REDTRACK_SIGV4_H
#define REDTRACK_SIGV4_H

#include <stdbool.h>
#include <stddef.h>

#define SIGV4_HEX_SHA256_LEN 64
#define SIGV4_EMPTY_PAYLOAD_SHA256 \
	"e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
#define SIGV4_UNSIGNED_PAYLOAD "UNSIGNED-PAYLOAD"

typedef struct SigV4Header
{
	const char *name;			/* any case; lower-cased for signing */
	const char *value;			/* trimmed, inner runs of spaces folded */
} SigV4Header;

typedef struct SigV4Request
{
	const char *method;
	const char *canonical_uri;
	const char *canonical_query;	/* "" when there is none */
	const SigV4Header *headers;	/* every header to sign, host and x-amz-* included */
	int			nheaders;
	const char *payload_hash;	/* hex SHA-256 of the body, or UNSIGNED-PAYLOAD */
	const char *amz_date;		/* "YYYYMMDDTHHMMSSZ" */
	const char *region;
	const char *service;		/* "s3" */
	const char *access_key;
	const char *secret_key;
} SigV4Request;

/*
 * Compute the Authorization header value into out.  Returns false when out
 * is too small or the request is malformed (more than 64 headers).
 */
extern bool sigv4_authorization(const SigV4Request *req, char *out, size_t outlen);

/* Hex SHA-256 of a buffer; out holds SIGV4_HEX_SHA256_LEN + 1 bytes. */
extern void sigv4_sha256_hex(const void *data, size_t len, char *out);

/*
 * RFC 3986 percent-encoding (unreserved characters kept; '/' kept when
 * keep_slash).  Returns the length written, or (size_t) -1 if out is too
 * small; out is always NUL-terminated when outlen > 0.
 */
extern size_t sigv4_uri_encode(const char *in, size_t len, bool keep_slash,
							   char *out, size_t outlen);

/* "YYYYMMDDTHHMMSSZ" for a Unix time. */
extern void sigv4_amz_date(long unix_seconds, char *out, size_t outlen);

#endif							/* REDTRACK_SIGV4_H */
