/*-------------------------------------------------------------------------
 *
 * field_type.h
 *	  The types a replication field may have.
 *
 * A timed field is a date, a timestamp (with or without zone) or an
 * integer; an identity field an integer.  Registration checks the field
 * by these rules and the watermark reads and compares it by them, so they
 * are stated here once.  The field's type is its base type (a domain over
 * bigint is a bigint).
 *
 *-------------------------------------------------------------------------
 */
#ifndef REDTRACK_FIELD_TYPE_H
#define REDTRACK_FIELD_TYPE_H

#include "catalog/pg_type.h"

static inline bool
redtrack_is_integer_type(Oid typid)
{
	return typid == INT2OID || typid == INT4OID || typid == INT8OID;
}

static inline bool
redtrack_is_time_type(Oid typid)
{
	return typid == DATEOID || typid == TIMESTAMPOID ||
		typid == TIMESTAMPTZOID;
}

#endif							/* REDTRACK_FIELD_TYPE_H */
