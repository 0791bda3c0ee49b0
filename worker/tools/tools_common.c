/*-------------------------------------------------------------------------
 *
 * tools_common.c
 *	  What rrr_export_query and rrr_load share: formats, S3 locations and
 *	  the compression of files.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "compress_stream.h"
#include "tools.h"

ToolsFormat
tools_parse_format(const char *format)
{
	if (pg_strcasecmp(format, "csv") == 0)
		return TOOLS_CSV;
	if (pg_strcasecmp(format, "json") == 0)
		return TOOLS_JSON;
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
			 errmsg("unknown format \"%s\"", format),
			 errhint("The format is 'csv' or 'json'.")));
	pg_unreachable();
}

void
tools_require_prefix(S3Settings *s3)
{
	/*
	 * Replications keep their files under redtrack.s3_prefix, which the
	 * tools refuse to read or write: with no prefix they would lie at the
	 * top of the bucket, among whatever a tool names, and that guard would
	 * have nothing to compare with.
	 */
	if (s3->prefix[0] == '\0')
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("redtrack.s3_prefix is empty"),
				 errdetail("rrr_export_query and rrr_load keep away from replication's files, which need a prefix of their own."),
				 errhint("Set redtrack.s3_prefix (the default is 'redtrack').")));
}

bool
tools_in_own_prefix(S3Settings *s3, const char *key)
{
	size_t		len = strlen(s3->prefix);

	return len > 0 && strncmp(key, s3->prefix, len) == 0 && key[len] == '/';
}

void
tools_refuse_own_prefix(S3Settings *s3, const char *key, const char *what, const char *given,
						bool reading)
{
	if (tools_in_own_prefix(s3, key))
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("%s \"%s\" is inside redtrack.s3_prefix", what, given),
				 reading ?
				 errdetail("Replications keep their files under \"%s/\"; they hold tables the caller may not be allowed to read.",
						   s3->prefix) :
				 errdetail("Replications keep their files under \"%s/\"; an export must not overwrite them.",
						   s3->prefix),
				 errhint("Choose a key outside \"%s/\".", s3->prefix)));
}

/* S3's limit on a key's length. */
#define S3_MAX_KEY 1024

char *
tools_s3_key(S3Settings *s3, const char *location, bool prefix, const char *what)
{
	const char *key = location;
	char	   *result;
	const char *seg;

	if (strncmp(location, "s3://", 5) == 0)
	{
		const char *bucket = location + 5;
		const char *slash = strchr(bucket, '/');
		size_t		len = slash ? (size_t) (slash - bucket) : strlen(bucket);

		if (len != strlen(s3->bucket) || strncmp(bucket, s3->bucket, len) != 0)
			ereport(ERROR,
					(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
					 errmsg("%s \"%s\" is outside the bucket redtrack.s3_bucket names", what, location),
					 errdetail("redtrack reads and writes S3 with the server's credentials, in bucket \"%s\" only.",
							   s3->bucket),
					 errhint("Give a key inside that bucket, as s3://%s/key or as the key alone.", s3->bucket)));
		key = slash ? slash + 1 : "";
	}
	else if (strstr(location, "://") != NULL)
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("%s \"%s\" is not an S3 location in the configured bucket", what, location),
				 errhint("Give s3://%s/key, or the key alone.", s3->bucket)));

	if (key[0] == '\0')
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("%s \"%s\" names no key", what, location),
				 errhint("Give a key prefix such as 'exports/orders/'.")));
	if (key[0] == '/')
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("%s \"%s\" begins with '/'", what, location),
				 errdetail("Keys are relative to the bucket.")));
	if (strlen(key) + (prefix ? 1 : 0) > S3_MAX_KEY - 32)
		ereport(ERROR,
				(errcode(ERRCODE_NAME_TOO_LONG),
				 errmsg("%s \"%s\" is too long", what, location),
				 errdetail("S3 keys are at most %d bytes, and the file names added to it need room.",
						   S3_MAX_KEY)));
	for (const char *p = key; *p; p++)
	{
		if ((unsigned char) *p < 0x20 || *p == 0x7f || *p == '\\')
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("%s \"%s\" contains a control character or a backslash", what, location)));
	}

	/*
	 * Dot segments: S3 keeps "a/../b" as a key of its own, but clients and
	 * proxies that normalize paths do not, so a key with them may name
	 * something else on the way; and an empty segment ("a//b") is almost
	 * always a mistake.
	 */
	seg = key;
	for (;;)
	{
		const char *end = strchr(seg, '/');
		size_t		len = end ? (size_t) (end - seg) : strlen(seg);

		if ((len == 0 && end != NULL) || (len == 1 && seg[0] == '.') ||
			(len == 2 && seg[0] == '.' && seg[1] == '.'))
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("%s \"%s\" has an empty, \".\" or \"..\" segment", what, location),
					 errhint("Give the key as S3 stores it, without relative segments.")));
		if (end == NULL)
			break;
		seg = end + 1;
	}

	if (prefix && key[strlen(key) - 1] != '/')
		result = psprintf("%s/", key);
	else
		result = pstrdup(key);
	return result;
}

/*
 * The codec of a file, from its name (compress_stream.c is the one place
 * that knows the suffixes), as COPY's option: "GZIP", "ZSTD" or "" for
 * files named otherwise, read as plain text.
 */
const char *
tools_codec_copy_option(const char *key)
{
	CompressCodec codec;

	if (!compress_codec_of_key(key, &codec))
		return "";
	return compress_codec_copy_option(codec);
}

bool
tools_is_manifest_name(const char *key)
{
	size_t		len = strlen(key);

	return (len >= 8 && strcmp(key + len - 8, "manifest") == 0) ||
		(len >= 13 && strcmp(key + len - 13, "manifest.json") == 0);
}
