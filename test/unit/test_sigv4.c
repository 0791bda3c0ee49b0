/*
 * SigV4 against the worked examples of the S3 API reference page
 * "Signature Calculations for the Authorization Header: Transferring
 * Payload in a Single Chunk (AWS Signature Version 4)": same credentials,
 * same requests, and the signatures AWS publishes there.
 */
#include <stdio.h>
#include <string.h>

#include "sigv4.h"
#include "tap.h"

#define ACCESS_KEY "AKIAIOSFODNN7EXAMPLE"
#define SECRET_KEY "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
#define AMZ_DATE "20130524T000000Z"

static void
check_signature(const char *what, const char *method, const char *uri, const char *query,
				const SigV4Header *headers, int nheaders, const char *payload_hash,
				const char *expected_signature)
{
	SigV4Request req = {
		.method = method,
		.canonical_uri = uri,
		.canonical_query = query,
		.headers = headers,
		.nheaders = nheaders,
		.payload_hash = payload_hash,
		.amz_date = AMZ_DATE,
		.region = "us-east-1",
		.service = "s3",
		.access_key = ACCESS_KEY,
		.secret_key = SECRET_KEY,
	};
	char		auth[1024];
	const char *sig;

	if (!sigv4_authorization(&req, auth, sizeof(auth)))
	{
		check(0, what);
		return;
	}
	sig = strstr(auth, "Signature=");
	check(sig != NULL && strcmp(sig + strlen("Signature="), expected_signature) == 0, what);
	if (!sig || strcmp(sig + strlen("Signature="), expected_signature) != 0)
		printf("# got: %s\n", auth);
}

int
main(void)
{
	char		hash[SIGV4_HEX_SHA256_LEN + 1];
	char		enc[256];

	/* Payload hashes used by the examples. */
	sigv4_sha256_hex("", 0, hash);
	check(strcmp(hash, SIGV4_EMPTY_PAYLOAD_SHA256) == 0, "SHA-256 of the empty payload");
	sigv4_sha256_hex("Welcome to Amazon S3.", 21, hash);
	check(strcmp(hash, "44ce7dd67c959e0d3524ffac1771dfbba87d2b6b4b4e99e42034a8b803f8b072") == 0,
		  "SHA-256 of the PUT example's payload");

	{
		SigV4Header h[] = {
			{"Host", "examplebucket.s3.amazonaws.com"},
			{"Range", "bytes=0-9"},
			{"x-amz-content-sha256", SIGV4_EMPTY_PAYLOAD_SHA256},
			{"x-amz-date", AMZ_DATE},
		};

		check_signature("AWS example: GET Object", "GET", "/test.txt", "", h, 4,
						SIGV4_EMPTY_PAYLOAD_SHA256,
						"f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41");
	}
	{
		SigV4Header h[] = {
			{"Date", "Fri, 24 May 2013 00:00:00 GMT"},
			{"Host", "examplebucket.s3.amazonaws.com"},
			{"x-amz-content-sha256", "44ce7dd67c959e0d3524ffac1771dfbba87d2b6b4b4e99e42034a8b803f8b072"},
			{"x-amz-date", AMZ_DATE},
			{"x-amz-storage-class", "REDUCED_REDUNDANCY"},
		};

		sigv4_uri_encode("/test$file.text", 15, true, enc, sizeof(enc));
		check(strcmp(enc, "/test%24file.text") == 0, "URI encoding keeps '/' and escapes '$'");
		check_signature("AWS example: PUT Object", "PUT", enc, "", h, 5,
						"44ce7dd67c959e0d3524ffac1771dfbba87d2b6b4b4e99e42034a8b803f8b072",
						"98ad721746da40c64f1a55b78f14c238d841ea1380cd77a1b5971af0ece108bd");
	}
	{
		SigV4Header h[] = {
			{"Host", "examplebucket.s3.amazonaws.com"},
			{"x-amz-content-sha256", SIGV4_EMPTY_PAYLOAD_SHA256},
			{"x-amz-date", AMZ_DATE},
		};

		check_signature("AWS example: GET Bucket Lifecycle (valueless parameter)", "GET", "/",
						"lifecycle=", h, 3, SIGV4_EMPTY_PAYLOAD_SHA256,
						"fea454ca298b7da1c68078a5d1bdbfbbe0d65c699e0f91ac7a200a0136783543");
		check_signature("AWS example: GET Bucket (List Objects)", "GET", "/",
						"max-keys=2&prefix=J", h, 3, SIGV4_EMPTY_PAYLOAD_SHA256,
						"34b48302e7b5fa45bde8084f4b7868a86f0a534bc59db6670ed5711ef69dc6f7");
	}

	/* Header values are trimmed and inner spaces folded before signing. */
	{
		SigV4Header a[] = {{"Host", "h"}, {"X-Amz-Meta-A", "  a   b "}, {"x-amz-date", AMZ_DATE}};
		SigV4Header b[] = {{"host", "h"}, {"x-amz-meta-a", "a b"}, {"X-AMZ-DATE", AMZ_DATE}};
		SigV4Request r = {"GET", "/", "", a, 3, SIGV4_EMPTY_PAYLOAD_SHA256, AMZ_DATE,
		"us-east-1", "s3", ACCESS_KEY, SECRET_KEY};
		char		x[1024],
					y[1024];

		sigv4_authorization(&r, x, sizeof(x));
		r.headers = b;
		sigv4_authorization(&r, y, sizeof(y));
		check(strcmp(x, y) == 0, "header names lower-cased, values trimmed and folded");
		check(strstr(x, "SignedHeaders=host;x-amz-date;x-amz-meta-a") != NULL,
			  "signed headers sorted");
	}

	/* RFC 3986 encoding of keys and query values. */
	sigv4_uri_encode("a b/ü+=&~", strlen("a b/ü+=&~"), false, enc, sizeof(enc));
	check(strcmp(enc, "a%20b%2F%C3%BC%2B%3D%26~") == 0, "query value encoding");
	check(sigv4_uri_encode("abcdef", 6, true, enc, 4) == (size_t) -1, "encoding reports a short buffer");

	sigv4_amz_date(1369353600L, enc, sizeof(enc));
	check(strcmp(enc, AMZ_DATE) == 0, "x-amz-date formatting");

	return tap_done();
}
