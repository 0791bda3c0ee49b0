/*-------------------------------------------------------------------------
 *
 * sigv4.c
 *	  AWS Signature Version 4, following the S3 API reference
 *	  ("Signature Calculations for the Authorization Header").
 *
 *	  signing key = HMAC(HMAC(HMAC(HMAC("AWS4" + secret, date), region),
 *						 service), "aws4_request")
 *	  signature	  = hex(HMAC(signing key, string to sign))
 *
 *-------------------------------------------------------------------------
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/sha.h>

#include "sigv4.h"

#define MAX_HEADERS 64

/* A growing malloc'd string; any allocation failure poisons it. */
typedef struct Buffer
{
	char	   *data;
	size_t		len;
	size_t		cap;
	bool		failed;
} Buffer;

static void
buf_append(Buffer *b, const char *s, size_t n)
{
	if (b->failed)
		return;
	if (b->len + n + 1 > b->cap)
	{
		size_t		cap = b->cap ? b->cap : 256;
		char	   *grown;

		while (b->len + n + 1 > cap)
			cap *= 2;
		grown = realloc(b->data, cap);
		if (grown == NULL)
		{
			b->failed = true;
			return;
		}
		b->data = grown;
		b->cap = cap;
	}
	memcpy(b->data + b->len, s, n);
	b->len += n;
	b->data[b->len] = '\0';
}

static void
buf_puts(Buffer *b, const char *s)
{
	buf_append(b, s, strlen(s));
}

static void
to_hex(const unsigned char *bytes, size_t n, char *out)
{
	static const char digits[] = "0123456789abcdef";

	for (size_t i = 0; i < n; i++)
	{
		out[2 * i] = digits[bytes[i] >> 4];
		out[2 * i + 1] = digits[bytes[i] & 0x0f];
	}
	out[2 * n] = '\0';
}

void
sigv4_sha256_hex(const void *data, size_t len, char *out)
{
	unsigned char digest[SHA256_DIGEST_LENGTH];

	SHA256(data, len, digest);
	to_hex(digest, sizeof(digest), out);
}

static void
hmac_sha256(const void *key, size_t keylen, const char *msg, unsigned char *out)
{
	unsigned int outlen = SHA256_DIGEST_LENGTH;

	HMAC(EVP_sha256(), key, (int) keylen, (const unsigned char *) msg,
		 strlen(msg), out, &outlen);
}

size_t
sigv4_uri_encode(const char *in, size_t len, bool keep_slash, char *out, size_t outlen)
{
	static const char digits[] = "0123456789ABCDEF";
	size_t		o = 0;

	for (size_t i = 0; i < len; i++)
	{
		unsigned char c = (unsigned char) in[i];
		bool		plain = isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~' ||
			(keep_slash && c == '/');

		if (c >= 0x80)
			plain = false;
		if (o + (plain ? 1 : 3) + 1 > outlen)
		{
			if (outlen > 0)
				out[o < outlen ? o : outlen - 1] = '\0';
			return (size_t) -1;
		}
		if (plain)
			out[o++] = (char) c;
		else
		{
			out[o++] = '%';
			out[o++] = digits[c >> 4];
			out[o++] = digits[c & 0x0f];
		}
	}
	if (outlen > 0)
		out[o] = '\0';
	return o;
}

void
sigv4_amz_date(long unix_seconds, char *out, size_t outlen)
{
	time_t		t = (time_t) unix_seconds;
	struct tm	tm;

	gmtime_r(&t, &tm);
	strftime(out, outlen, "%Y%m%dT%H%M%SZ", &tm);
}

/* One header prepared for signing: lower-case name, normalized value. */
typedef struct CanonicalHeader
{
	char	   *name;
	char	   *value;
} CanonicalHeader;

static int
compare_headers(const void *a, const void *b)
{
	return strcmp(((const CanonicalHeader *) a)->name,
				  ((const CanonicalHeader *) b)->name);
}

/* Trim, and fold runs of spaces inside the value into one. */
static char *
normalize_value(const char *value)
{
	size_t		n = strlen(value);
	char	   *out = malloc(n + 1);
	size_t		o = 0;
	bool		space = false;

	if (out == NULL)
		return NULL;
	while (*value == ' ' || *value == '\t')
		value++;
	for (; *value; value++)
	{
		if (*value == ' ' || *value == '\t')
		{
			space = true;
			continue;
		}
		if (space && o > 0)
			out[o++] = ' ';
		space = false;
		out[o++] = *value;
	}
	out[o] = '\0';
	return out;
}

bool
sigv4_authorization(const SigV4Request *req, char *out, size_t outlen)
{
	CanonicalHeader headers[MAX_HEADERS];
	Buffer		creq = {0};
	Buffer		signed_headers = {0};
	Buffer		sts = {0};
	char		creq_hash[SIGV4_HEX_SHA256_LEN + 1];
	char		date[9];
	char		scope[128];
	unsigned char key[SHA256_DIGEST_LENGTH];
	unsigned char sig[SHA256_DIGEST_LENGTH];
	char		sig_hex[SIGV4_HEX_SHA256_LEN + 1];
	Buffer		secret = {0};
	int			n;
	bool		ok = false;

	if (req->nheaders > MAX_HEADERS || strlen(req->amz_date) < 8)
		return false;

	for (int i = 0; i < req->nheaders; i++)
	{
		char	   *name = strdup(req->headers[i].name);

		for (char *p = name; p && *p; p++)
			*p = (char) tolower((unsigned char) *p);
		headers[i].name = name;
		headers[i].value = normalize_value(req->headers[i].value);
	}
	qsort(headers, req->nheaders, sizeof(CanonicalHeader), compare_headers);

	/* Canonical request. */
	buf_puts(&creq, req->method);
	buf_puts(&creq, "\n");
	buf_puts(&creq, req->canonical_uri);
	buf_puts(&creq, "\n");
	buf_puts(&creq, req->canonical_query ? req->canonical_query : "");
	buf_puts(&creq, "\n");
	for (int i = 0; i < req->nheaders; i++)
	{
		if (headers[i].name == NULL || headers[i].value == NULL)
			creq.failed = true;
		else
		{
			buf_puts(&creq, headers[i].name);
			buf_puts(&creq, ":");
			buf_puts(&creq, headers[i].value);
			buf_puts(&creq, "\n");
			if (i > 0)
				buf_puts(&signed_headers, ";");
			buf_puts(&signed_headers, headers[i].name);
		}
	}
	buf_puts(&creq, "\n");
	buf_puts(&creq, signed_headers.data ? signed_headers.data : "");
	buf_puts(&creq, "\n");
	buf_puts(&creq, req->payload_hash);
	if (creq.failed || signed_headers.failed)
		goto done;
	sigv4_sha256_hex(creq.data, creq.len, creq_hash);

	/* String to sign. */
	memcpy(date, req->amz_date, 8);
	date[8] = '\0';
	snprintf(scope, sizeof(scope), "%s/%s/%s/aws4_request", date, req->region, req->service);
	buf_puts(&sts, "AWS4-HMAC-SHA256\n");
	buf_puts(&sts, req->amz_date);
	buf_puts(&sts, "\n");
	buf_puts(&sts, scope);
	buf_puts(&sts, "\n");
	buf_puts(&sts, creq_hash);
	if (sts.failed)
		goto done;

	/* Signing key and signature. */
	buf_puts(&secret, "AWS4");
	buf_puts(&secret, req->secret_key);
	if (secret.failed)
		goto done;
	hmac_sha256(secret.data, secret.len, date, key);
	hmac_sha256(key, sizeof(key), req->region, key);
	hmac_sha256(key, sizeof(key), req->service, key);
	hmac_sha256(key, sizeof(key), "aws4_request", key);
	hmac_sha256(key, sizeof(key), sts.data, sig);
	to_hex(sig, sizeof(sig), sig_hex);

	n = snprintf(out, outlen,
				 "AWS4-HMAC-SHA256 Credential=%s/%s, SignedHeaders=%s, Signature=%s",
				 req->access_key, scope, signed_headers.data, sig_hex);
	ok = (n > 0 && (size_t) n < outlen);

done:
	/* Do not leave key material behind in freed memory. */
	if (secret.data)
		OPENSSL_cleanse(secret.data, secret.cap);
	OPENSSL_cleanse(key, sizeof(key));
	for (int i = 0; i < req->nheaders; i++)
	{
		free(headers[i].name);
		free(headers[i].value);
	}
	free(creq.data);
	free(signed_headers.data);
	free(sts.data);
	free(secret.data);
	return ok;
}
