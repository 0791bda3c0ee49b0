/*-------------------------------------------------------------------------
 *
 * redshift.c
 *	  The warehouse connection: interruptible libpq from a backend.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "miscadmin.h"
#include "pgstat.h"
#include "storage/fd.h"
#include "storage/latch.h"
#include "utils/memutils.h"
#include "utils/timestamp.h"
#include "utils/wait_event.h"

#include "guc.h"
#include "interrupts.h"
#include "redact.h"
#include "redshift.h"

#define DEFAULT_CONNECT_TIMEOUT_S 10

struct RedshiftConn
{
	PGconn	   *conn;
	bool		fd_reserved;
	MemoryContextCallback callback;
};

static void
notice_receiver(void *arg, const PGresult *res)
{
	char	   *message = redtrack_redact(PQresultErrorMessage(res));
	size_t		len = strlen(message);

	if (len > 0 && message[len - 1] == '\n')
		message[len - 1] = '\0';
	elog(DEBUG1, "redshift: %s", message);
}

static void
release_connection(void *arg)
{
	RedshiftConn *c = arg;

	if (c->conn)
	{
		PQfinish(c->conn);
		c->conn = NULL;
	}
	if (c->fd_reserved)
	{
		ReleaseExternalFD();
		c->fd_reserved = false;
	}
}

void
redshift_disconnect(RedshiftConn *conn)
{
	if (conn)
		release_connection(conn);
}

/* Wait for the socket or the latch; an interrupt cancels and raises. */
static void
wait_socket(RedshiftConn *c, int events, long timeout_ms)
{
	int			rc;

	rc = WaitLatchOrSocket(MyLatch,
						   WL_LATCH_SET | WL_EXIT_ON_PM_DEATH | events |
						   (timeout_ms >= 0 ? WL_TIMEOUT : 0),
						   PQsocket(c->conn), timeout_ms, PG_WAIT_EXTENSION);
	(void) rc;
	ResetLatch(MyLatch);
	if (redtrack_interrupt_pending())
	{
		/* Stop the warehouse working for nobody; then let the interrupt in. */
		PGcancel   *cancel = PQgetCancel(c->conn);

		if (cancel)
		{
			char		errbuf[256];

			(void) PQcancel(cancel, errbuf, sizeof(errbuf));
			PQfreeCancel(cancel);
		}
	}
	CHECK_FOR_INTERRUPTS();
}

void
redshift_require_conninfo(void)
{
	if (redtrack_redshift_conninfo == NULL || redtrack_redshift_conninfo[0] == '\0')
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("redtrack.redshift_conninfo is not set"),
				 errhint("Set it in postgresql.conf, e.g. 'host=cluster.abc.us-east-1.redshift.amazonaws.com "
						 "port=5439 dbname=dev user=loader'; the password may come from a password file.")));
}

RedshiftConn *
redshift_connect(void)
{
	RedshiftConn *c = palloc0(sizeof(RedshiftConn));
	PQconninfoOption *options;
	char	   *parse_error = NULL;
	const char **keywords;
	const char **values;
	int			n = 0;
	bool		has_sslmode = false;
	int			timeout_s = DEFAULT_CONNECT_TIMEOUT_S;
	TimestampTz deadline;

	redshift_require_conninfo();

	options = PQconninfoParse(redtrack_redshift_conninfo, &parse_error);
	if (options == NULL)
	{
		char	   *message = redtrack_redact(parse_error ? parse_error : "out of memory");

		if (parse_error)
			PQfreemem(parse_error);
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("invalid redtrack.redshift_conninfo: %s", message)));
	}

	keywords = palloc0(sizeof(char *) * 64);
	values = palloc0(sizeof(char *) * 64);
	for (PQconninfoOption *o = options; o->keyword; o++)
	{
		if (o->val == NULL || n >= 56)
			continue;
		if (strcmp(o->keyword, "sslmode") == 0)
			has_sslmode = true;
		if (strcmp(o->keyword, "connect_timeout") == 0)
			timeout_s = Max(atoi(o->val), 1);
		keywords[n] = pstrdup(o->keyword);
		values[n] = pstrdup(o->val);
		n++;
	}
	PQconninfoFree(options);

	keywords[n] = "fallback_application_name";
	values[n++] = "redtrack";
	keywords[n] = "client_encoding";
	values[n++] = "UTF8";
	/* A cloud warehouse: encrypt unless told otherwise. */
	if (!has_sslmode && getenv("PGSSLMODE") == NULL)
	{
		keywords[n] = "sslmode";
		values[n++] = "require";
	}
	keywords[n] = NULL;
	values[n] = NULL;

	if (!AcquireExternalFD())
		ereport(ERROR,
				(errcode(ERRCODE_SQLCLIENT_UNABLE_TO_ESTABLISH_SQLCONNECTION),
				 errmsg("could not connect to Redshift: too many open files"),
				 errhint("Raise max_files_per_process or the server's open file limit.")));
	c->fd_reserved = true;
	c->callback.func = release_connection;
	c->callback.arg = c;
	MemoryContextRegisterResetCallback(CurrentMemoryContext, &c->callback);

	c->conn = PQconnectStartParams(keywords, values, false);
	if (c->conn == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_OUT_OF_MEMORY),
				 errmsg("could not connect to Redshift: out of memory")));

	/* libpq ignores connect_timeout in non-blocking mode: keep our own. */
	deadline = TimestampTzPlusMilliseconds(GetCurrentTimestamp(), timeout_s * 1000);
	for (;;)
	{
		PostgresPollingStatusType status = PQconnectPoll(c->conn);
		long		remaining;

		if (status == PGRES_POLLING_OK)
			break;
		if (status == PGRES_POLLING_FAILED)
		{
			char	   *message = redtrack_redact(PQerrorMessage(c->conn));

			ereport(ERROR,
					(errcode(ERRCODE_SQLCLIENT_UNABLE_TO_ESTABLISH_SQLCONNECTION),
					 errmsg("could not connect to Redshift: %s", message),
					 errhint("Check redtrack.redshift_conninfo, the password (or password file), "
							 "and that the cluster accepts connections from this server.")));
		}
		remaining = TimestampDifferenceMilliseconds(GetCurrentTimestamp(), deadline);
		if (remaining <= 0)
			ereport(ERROR,
					(errcode(ERRCODE_SQLCLIENT_UNABLE_TO_ESTABLISH_SQLCONNECTION),
					 errmsg("could not connect to Redshift: timed out after %d seconds", timeout_s),
					 errhint("Check the host and port in redtrack.redshift_conninfo and the network path to the cluster.")));
		wait_socket(c, status == PGRES_POLLING_READING ? WL_SOCKET_READABLE : WL_SOCKET_WRITEABLE,
					remaining);
	}
	PQsetNoticeReceiver(c->conn, notice_receiver, NULL);
	if (PQsetnonblocking(c->conn, 1) != 0)
		elog(ERROR, "could not make the Redshift connection non-blocking");
	return c;
}

static void
flush_output(RedshiftConn *c)
{
	int			rc;

	while ((rc = PQflush(c->conn)) == 1)
		wait_socket(c, WL_SOCKET_WRITEABLE, -1);
	if (rc < 0)
		ereport(ERROR,
				(errcode(ERRCODE_CONNECTION_FAILURE),
				 errmsg("lost the connection to Redshift: %s",
						redtrack_redact(PQerrorMessage(c->conn)))));
}

static void
fill_error(RedshiftConn *c, PGresult *res, RedshiftError *error)
{
	const char *sqlstate = res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;
	const char *primary = res ? PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY) : NULL;
	const char *detail = res ? PQresultErrorField(res, PG_DIAG_MESSAGE_DETAIL) : NULL;
	const char *hint = res ? PQresultErrorField(res, PG_DIAG_MESSAGE_HINT) : NULL;

	memset(error, 0, sizeof(*error));
	error->connection_lost = (PQstatus(c->conn) == CONNECTION_BAD);
	error->sqlstate = pstrdup(sqlstate ? sqlstate : (error->connection_lost ? "08006" : "XX000"));
	if (primary)
		error->message = redtrack_redact(primary);
	else
	{
		char	   *message = redtrack_redact(PQerrorMessage(c->conn));
		size_t		len = strlen(message);

		while (len > 0 && (message[len - 1] == '\n' || message[len - 1] == ' '))
			message[--len] = '\0';
		error->message = len > 0 ? message : pstrdup("connection lost");
	}
	error->detail = detail ? redtrack_redact(detail) : NULL;
	error->hint = hint ? redtrack_redact(hint) : NULL;
}

static RedshiftResult *
copy_result(PGresult *res)
{
	RedshiftResult *r = palloc0(sizeof(RedshiftResult));

	r->nrows = PQntuples(res);
	r->ncols = PQnfields(res);
	r->values = palloc0(sizeof(char *) * Max(r->nrows * r->ncols, 1));
	for (int i = 0; i < r->nrows; i++)
		for (int j = 0; j < r->ncols; j++)
			if (!PQgetisnull(res, i, j))
				r->values[i * r->ncols + j] = pstrdup(PQgetvalue(res, i, j));
	r->command_tuples = pstrdup(PQcmdTuples(res));
	return r;
}

/*
 * Collect the results of the statement in flight; the last one wins, the
 * first error is kept.  Stops at PGRES_COPY_IN when copy_in is true.
 */
static RedshiftResult *
collect(RedshiftConn *c, RedshiftError *error, bool copy_in)
{
	RedshiftResult *result = NULL;
	RedshiftError failure;
	bool		failed = false;

	for (;;)
	{
		PGresult   *res;

		while (PQisBusy(c->conn))
		{
			wait_socket(c, WL_SOCKET_READABLE, -1);
			if (!PQconsumeInput(c->conn))
			{
				fill_error(c, NULL, &failure);
				failed = true;
				goto done;
			}
		}
		res = PQgetResult(c->conn);
		if (res == NULL)
			break;
		switch (PQresultStatus(res))
		{
			case PGRES_COMMAND_OK:
			case PGRES_TUPLES_OK:
				if (!failed)
					result = copy_result(res);
				break;
			case PGRES_COPY_IN:
				PQclear(res);
				if (copy_in)
					return palloc0(sizeof(RedshiftResult));
				continue;
			default:
				if (!failed)
				{
					fill_error(c, res, &failure);
					failed = true;
				}
				break;
		}
		PQclear(res);
		if (PQstatus(c->conn) == CONNECTION_BAD)
			break;
	}
	if (!failed && PQstatus(c->conn) == CONNECTION_BAD)
	{
		fill_error(c, NULL, &failure);
		failed = true;
	}

done:
	if (failed)
	{
		if (error == NULL)
			redshift_report(&failure, NULL);
		*error = failure;
		return NULL;
	}
	if (result == NULL)
		result = palloc0(sizeof(RedshiftResult));
	return result;
}

RedshiftResult *
redshift_exec(RedshiftConn *c, const char *sql, int nparams, const char *const *params,
			  RedshiftError *error)
{
	int			ok;

	if (nparams > 0)
		ok = PQsendQueryParams(c->conn, sql, nparams, NULL, params, NULL, NULL, 0);
	else
		ok = PQsendQuery(c->conn, sql);
	if (!ok)
	{
		RedshiftError failure;

		fill_error(c, NULL, &failure);
		if (error == NULL)
			redshift_report(&failure, NULL);
		*error = failure;
		return NULL;
	}
	flush_output(c);
	return collect(c, error, false);
}

const char *
redshift_value(RedshiftResult *res, int row, int col)
{
	if (res == NULL || row >= res->nrows || col >= res->ncols)
		return NULL;
	return res->values[row * res->ncols + col];
}

void
redshift_copy_begin(RedshiftConn *c, const char *sql)
{
	if (!PQsendQuery(c->conn, sql))
	{
		RedshiftError failure;

		fill_error(c, NULL, &failure);
		redshift_report(&failure, NULL);
	}
	flush_output(c);
	(void) collect(c, NULL, true);
}

bool
redshift_copy_send_quietly(RedshiftConn *c, const char *data, size_t len)
{
	int			rc;

	while ((rc = PQputCopyData(c->conn, data, (int) len)) == 0)
	{
		(void) WaitLatchOrSocket(MyLatch,
								 WL_LATCH_SET | WL_EXIT_ON_PM_DEATH | WL_SOCKET_WRITEABLE,
								 PQsocket(c->conn), -1L, PG_WAIT_EXTENSION);
		ResetLatch(MyLatch);
		if (redtrack_interrupt_pending())
			return false;
	}
	return rc > 0;
}

RedshiftResult *
redshift_copy_end(RedshiftConn *c, RedshiftError *error)
{
	int			rc;

	while ((rc = PQputCopyEnd(c->conn, NULL)) == 0)
		wait_socket(c, WL_SOCKET_WRITEABLE, -1);
	if (rc < 0)
		ereport(ERROR,
				(errcode(ERRCODE_CONNECTION_FAILURE),
				 errmsg("lost the connection to the warehouse during COPY: %s",
						redtrack_redact(PQerrorMessage(c->conn)))));
	flush_output(c);
	return collect(c, error, false);
}

void
redshift_report(const RedshiftError *error, const char *what)
{
	ereport(ERROR,
			(errcode(MAKE_SQLSTATE(error->sqlstate[0], error->sqlstate[1], error->sqlstate[2],
								   error->sqlstate[3], error->sqlstate[4])),
			 errmsg("%s%s%s", what ? what : "", what ? ": " : "Redshift: ", error->message),
			 error->detail ? errdetail("%s", error->detail) : 0,
			 error->hint ? errhint("%s", error->hint) : 0));
	pg_unreachable();
}
