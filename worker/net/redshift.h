/*-------------------------------------------------------------------------
 *
 * redshift.h
 *	  A libpq connection to the warehouse (redtrack.redshift_conninfo),
 *	  used from inside the server.
 *
 * Every wait is on the process latch and the socket together, so query
 * cancel, pg_terminate_backend and postmaster death are noticed while
 * Redshift works; an interrupt also cancels the remote statement.  The
 * connection and its file descriptor belong to the memory context that
 * was current at connect time and go with it, so an ERROR leaks nothing.
 * It knows SQL and libpq, nothing of S3 or of replications.
 *
 *-------------------------------------------------------------------------
 */
#ifndef REDTRACK_REDSHIFT_H
#define REDTRACK_REDSHIFT_H

#include "libpq-fe.h"

typedef struct RedshiftConn RedshiftConn;

/* Rows of a query result, copied out of libpq (palloc'd). */
typedef struct RedshiftResult
{
	int			nrows;
	int			ncols;
	char	  **values;			/* nrows * ncols, NULL for SQL NULL */
	char	   *command_tuples; /* PQcmdTuples */
} RedshiftResult;

/* A failed statement, for callers that handle failure themselves. */
typedef struct RedshiftError
{
	char	   *sqlstate;
	char	   *message;		/* redacted */
	char	   *detail;
	char	   *hint;
	bool		connection_lost;
} RedshiftError;

/*
 * An error unless redtrack.redshift_conninfo is set: the one check of it,
 * for every place that must refuse to start without a warehouse.
 */
extern void redshift_require_conninfo(void);

extern RedshiftConn *redshift_connect(void);
extern void redshift_disconnect(RedshiftConn *conn);

/*
 * Run one statement, with $n text parameters.  On failure: ERROR, unless
 * error is not NULL, in which case it is filled and NULL returned.
 */
extern RedshiftResult *redshift_exec(RedshiftConn *conn, const char *sql,
									 int nparams, const char *const *params,
									 RedshiftError *error);

extern const char *redshift_value(RedshiftResult *res, int row, int col);

/* COPY ... FROM STDIN: start, send data, end (PostgreSQL dialect). */
extern void redshift_copy_begin(RedshiftConn *conn, const char *sql);

/*
 * Sent without ereport or CHECK_FOR_INTERRUPTS, for libcurl callbacks
 * (which must not be left by longjmp): false when interrupted or failed;
 * the caller reports after the callback returned.
 */
extern bool redshift_copy_send_quietly(RedshiftConn *conn, const char *data, size_t len);
extern RedshiftResult *redshift_copy_end(RedshiftConn *conn, RedshiftError *error);

/* ereport(ERROR) for a statement's failure. */
extern void redshift_report(const RedshiftError *error, const char *what) pg_attribute_noreturn();

#endif							/* REDTRACK_REDSHIFT_H */
