/*-------------------------------------------------------------------------
 *
 * s3.h
 *	  The S3 client as the rest of the backend sees it: settings from the
 *	  GUCs, interrupts from the latch, failures as ereport.
 *
 *-------------------------------------------------------------------------
 */
#ifndef REDTRACK_S3_H
#define REDTRACK_S3_H

#include "s3_client.h"

typedef struct S3Settings
{
	char	   *scheme;
	char	   *host;
	bool		path_style;
	char	   *bucket;
	char	   *region;
	char	   *prefix;			/* without leading or trailing '/' */
	char	   *access_key;
	char	   *secret_key;
	char	   *session_token;
} S3Settings;

/* Reads and checks the settings; errors name the setting to fix. */
extern S3Settings *redtrack_s3_settings(void);

/* S3Config for these settings, for clients made outside the main thread. */
extern void redtrack_s3_config(const S3Settings *settings, S3Config *config);

/*
 * A client for the main thread, freed when the current memory context is
 * reset or deleted (so an ERROR leaks nothing).
 */
extern S3Client *redtrack_s3_open(const S3Settings *settings);

/* ereport(ERROR) describing a failed request. */
extern void redtrack_s3_report(const S3Error *err) pg_attribute_noreturn();

/* s3://bucket/key */
extern char *redtrack_s3_url(const S3Settings *settings, const char *key);

#endif							/* REDTRACK_S3_H */
