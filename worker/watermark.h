/*-------------------------------------------------------------------------
 *
 * watermark.h
 *	  Where the next replication of a timed or identity table starts, so
 *	  that no committed change is ever missed.
 *
 * The danger is the late commit: a transaction that was open while an
 * export took its snapshot, whose rows the export could not see, commits
 * afterwards with replication field values below the export's maximum.
 * The next lower bound must still include them.
 *
 * Before each export redtrack notes the start of the oldest transaction
 * still open in the database (the horizon; read from pg_stat_activity
 * before the export's snapshot, so nothing open at snapshot time escapes
 * it) and whether prepared transactions exist.
 *
 * - date/timestamp fields: a writer stamps its rows at or after the start
 *   of its transaction (now(), clock_timestamp(), or an application clock
 *   within redtrack.watermark_margin of the database's).  The next bound
 *   is the smaller of just-past-the-maximum and horizon - margin.
 *   timestamp without time zone is read in both UTC and the server's time
 *   zone (whichever is earlier); dates use the UTC date minus one day.
 * - integer fields (sequences, counters): a transaction that starts after
 *   a snapshot can only draw larger values than any committed before it.
 *   The next bound is one past the maximum seen by a snapshot taken no
 *   later than the horizon: a probe taken just before the horizon was
 *   read, else the latest earlier imported replication.
 *
 * When unsure (prepared transactions, no usable snapshot), the bound does
 * not move: rows are sent again, and the load absorbs repeats.
 *
 *-------------------------------------------------------------------------
 */
#ifndef REDTRACK_WATERMARK_H
#define REDTRACK_WATERMARK_H

#include "datatype/timestamp.h"

#include "registry.h"

typedef struct Horizon
{
	TimestampTz horizon;		/* oldest open transaction, or the read time */
	bool		prepared_xacts; /* two-phase transactions pending */
	char	   *probe_max;		/* max(field) just before; NULL if none */
	TimestampTz probe_at;		/* when that probe's snapshot was surely taken */
} Horizon;

/*
 * Read the horizon (and, for integer fields, the probe).  Run in a
 * transaction of its own that ends before the export's snapshot is taken.
 */
extern void watermark_read_horizon(Replicable *r, Oid field_type, Horizon *h);

/*
 * The lower bound of the next replication, given this export's window
 * [first, last] (last = max(field) in the export's snapshot).
 */
extern char *watermark_next_first(Replicable *r, Oid field_type, const char *first,
								  const char *last, bool carries_truncate, Horizon *h);

/* The server's own TimeZone setting (the engine runs in UTC). */
extern void watermark_remember_server_timezone(const char *tz);

#endif							/* REDTRACK_WATERMARK_H */
