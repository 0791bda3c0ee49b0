/*-------------------------------------------------------------------------
 *
 * redact.c
 *	  Credential masking.
 *
 * Two passes: the values of the secrets redtrack knows (the AWS secret and
 * session token, from the settings or the environment, and the Redshift
 * password in the conninfo) are masked wherever they appear; then the
 * value after every credential keyword (SECRET_ACCESS_KEY '...',
 * CREDENTIALS '...', password=..., token=...) is masked, whatever it is.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <ctype.h>
#include <stdlib.h>

#include "lib/stringinfo.h"
#include "libpq-fe.h"

#include "guc.h"
#include "redact.h"

#define MASK "********"

/* Shorter values are not real secrets, and masking them would shred text. */
#define MIN_SECRET_LENGTH 6
#define MAX_SECRETS 8

static void
mask_value(StringInfo buf, const char *secret)
{
	size_t		n;
	char	   *hit;

	n = strlen(secret);
	while ((hit = strstr(buf->data, secret)) != NULL)
	{
		StringInfoData out;
		size_t		before = hit - buf->data;

		initStringInfo(&out);
		appendBinaryStringInfo(&out, buf->data, before);
		appendStringInfoString(&out, MASK);
		appendStringInfoString(&out, hit + n);
		pfree(buf->data);
		*buf = out;
	}
}

/*
 * The password in redtrack.redshift_conninfo, parsed again only when the
 * setting changes: the log hook asks for it on every message.
 */
static const char *
conninfo_password(void)
{
	static char *parsed_conninfo = NULL;
	static char *password = NULL;
	PQconninfoOption *options;

	if (redtrack_redshift_conninfo == NULL || redtrack_redshift_conninfo[0] == '\0')
		return NULL;
	if (parsed_conninfo && strcmp(parsed_conninfo, redtrack_redshift_conninfo) == 0)
		return password;

	free(parsed_conninfo);
	free(password);
	parsed_conninfo = strdup(redtrack_redshift_conninfo);
	password = NULL;
	options = PQconninfoParse(redtrack_redshift_conninfo, NULL);
	if (options == NULL)
		return NULL;
	for (PQconninfoOption *o = options; o->keyword; o++)
	{
		if (strcmp(o->keyword, "password") == 0 && o->val)
			password = strdup(o->val);
	}
	PQconninfoFree(options);
	return password;
}

/* The secret values currently known; returns how many were stored. */
static int
known_secrets(const char *secrets[], int max)
{
	const char *candidates[] = {
		redtrack_aws_secret_access_key,
		redtrack_aws_session_token,
		getenv("AWS_SECRET_ACCESS_KEY"),
		getenv("AWS_SESSION_TOKEN"),
		conninfo_password(),
	};
	int			n = 0;

	for (int i = 0; i < lengthof(candidates) && n < max; i++)
	{
		if (candidates[i] && strlen(candidates[i]) >= MIN_SECRET_LENGTH)
			secrets[n++] = candidates[i];
	}
	return n;
}

/* Keywords after which a credential follows. */
static const char *const keywords[] = {
	"secret_access_key", "session_token", "access_key_id", "credentials",
	"aws_secret_access_key", "aws_session_token", "token", "password",
	"x-amz-security-token", NULL
};

static bool
is_word_char(char c)
{
	return isalnum((unsigned char) c) || c == '_' || c == '-';
}

/*
 * After a keyword: skip blanks, an optional AS, '=' or ':', then mask a
 * quoted value (up to the closing quote, doubled quotes included), or a
 * bare one after '=' or ':' (up to a blank, ';', ',' or a quote), so that
 * prose such as "password authentication failed" stays readable.
 */
static void
mask_after_keywords(StringInfo buf)
{
	for (int k = 0; keywords[k]; k++)
	{
		size_t		klen = strlen(keywords[k]);
		size_t		pos = 0;

		while (pos + klen <= (size_t) buf->len)
		{
			size_t		i;
			size_t		start,
						end;
			char		quote = 0;
			bool		assigned = false;

			if (pg_strncasecmp(buf->data + pos, keywords[k], klen) != 0 ||
				(pos > 0 && is_word_char(buf->data[pos - 1])) ||
				is_word_char(buf->data[pos + klen]))
			{
				pos++;
				continue;
			}
			i = pos + klen;
			while (buf->data[i] == ' ' || buf->data[i] == '\t')
				i++;
			if (pg_strncasecmp(buf->data + i, "as", 2) == 0 && !is_word_char(buf->data[i + 2]))
			{
				i += 2;
				while (buf->data[i] == ' ' || buf->data[i] == '\t')
					i++;
			}
			if (buf->data[i] == '=' || buf->data[i] == ':')
			{
				assigned = true;
				i++;
				while (buf->data[i] == ' ' || buf->data[i] == '\t')
					i++;
			}
			if (buf->data[i] == '\'' || buf->data[i] == '"')
				quote = buf->data[i++];
			else if (!assigned)
			{
				pos = i;
				continue;
			}
			start = i;
			end = start;
			while (end < (size_t) buf->len)
			{
				char		c = buf->data[end];

				if (quote)
				{
					if (c == quote && buf->data[end + 1] == quote)
					{
						end += 2;
						continue;
					}
					if (c == quote)
						break;
				}
				else if (c == ' ' || c == '\t' || c == '\n' || c == ';' || c == ',' ||
						 c == '\'' || c == '"' || c == ')')
					break;
				end++;
			}
			if (end > start && strncmp(buf->data + start, MASK, strlen(MASK)) != 0)
			{
				StringInfoData out;

				initStringInfo(&out);
				appendBinaryStringInfo(&out, buf->data, start);
				appendStringInfoString(&out, MASK);
				appendStringInfoString(&out, buf->data + end);
				pfree(buf->data);
				*buf = out;
				end = start + strlen(MASK);
			}
			pos = end;
		}
	}
}

char *
redtrack_redact(const char *text)
{
	StringInfoData buf;
	const char *secrets[MAX_SECRETS];
	int			nsecrets;

	if (text == NULL)
		return NULL;
	initStringInfo(&buf);
	appendStringInfoString(&buf, text);

	nsecrets = known_secrets(secrets, MAX_SECRETS);
	for (int i = 0; i < nsecrets; i++)
		mask_value(&buf, secrets[i]);
	mask_after_keywords(&buf);
	return buf.data;
}

bool
redtrack_mentions_secret(const char *text)
{
	const char *secrets[MAX_SECRETS];
	int			nsecrets;

	if (text == NULL)
		return false;
	nsecrets = known_secrets(secrets, MAX_SECRETS);
	for (int i = 0; i < nsecrets; i++)
	{
		if (strstr(text, secrets[i]) != NULL)
			return true;
	}
	return false;
}
