/*-------------------------------------------------------------------------
 *
 * log_guard.c
 *	  Keeps redtrack's secrets out of the server log.
 *
 * redtrack's own messages are redacted where they are made, but the server
 * logs setting values by itself: on reload the postmaster reports
 * 'parameter "redtrack.aws_secret_access_key" changed to "..."' at LOG.
 * An emit_log_hook sees every message before it is written, so it hides
 * the values of the secret settings there, masks any known secret that
 * another message quotes, and keeps the statement of such a message out
 * of the log.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "tcop/tcopprot.h"
#include "utils/elog.h"

#include "log_guard.h"
#include "redact.h"

/* The message the server logs when a reload changes a setting. */
#define SETTING_CHANGED_FORMAT "parameter \"%s\" changed to \"%s\""

/* Settings whose whole value is a secret. */
static const char *const secret_settings[] = {
	"redtrack.aws_secret_access_key",
	"redtrack.aws_session_token",
	NULL
};

static emit_log_hook_type prev_emit_log_hook = NULL;

/* The secret setting a "changed to" message names, or NULL. */
static const char *
changed_secret_setting(const ErrorData *edata)
{
	if (edata->message_id == NULL || edata->message == NULL ||
		strcmp(edata->message_id, SETTING_CHANGED_FORMAT) != 0)
		return NULL;
	for (int i = 0; secret_settings[i]; i++)
	{
		char		quoted[NAMEDATALEN + 2];

		snprintf(quoted, sizeof(quoted), "\"%s\"", secret_settings[i]);
		if (strstr(edata->message, quoted) != NULL)
			return secret_settings[i];
	}
	return NULL;
}

static void
redact_field(char **field)
{
	if (*field && (redtrack_mentions_secret(*field) ||
				   strstr(*field, "redtrack.redshift_conninfo") != NULL))
		*field = redtrack_redact(*field);
}

static void
redtrack_emit_log(ErrorData *edata)
{
	const char *setting = changed_secret_setting(edata);

	/* The value may be too short to find by searching: drop it whole. */
	if (setting)
		edata->message = psprintf("parameter \"%s\" changed", setting);

	redact_field(&edata->message);
	redact_field(&edata->detail);
	redact_field(&edata->detail_log);
	redact_field(&edata->hint);
	redact_field(&edata->context);
	redact_field(&edata->internalquery);
	if (debug_query_string && redtrack_mentions_secret(debug_query_string))
		edata->hide_stmt = true;

	if (prev_emit_log_hook)
		prev_emit_log_hook(edata);
}

void
redtrack_install_log_guard(void)
{
	prev_emit_log_hook = emit_log_hook;
	emit_log_hook = redtrack_emit_log;
}
