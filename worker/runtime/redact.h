/*-------------------------------------------------------------------------
 *
 * redact.h
 *	  Masking of credentials in any text redtrack logs, stores or shows:
 *	  error messages, statements reported in pg_stat_activity, NOTIFY
 *	  payloads.
 *
 *-------------------------------------------------------------------------
 */
#ifndef REDTRACK_REDACT_H
#define REDTRACK_REDACT_H

/* A palloc'd copy of text with every known secret replaced by ********. */
extern char *redtrack_redact(const char *text);

/* Whether text holds the value of a known secret (no allocation). */
extern bool redtrack_mentions_secret(const char *text);

#endif							/* REDTRACK_REDACT_H */
