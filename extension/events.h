/*-------------------------------------------------------------------------
 *
 * events.h
 *	  Event streams: declared schemas, validated writes into a local queue
 *	  table, and the Redshift table each stream loads.
 *
 * PostgreSQL is the broker: rrr_write inserts the event into the stream's
 * queue table inside the caller's transaction, so an event written by a
 * committed transaction is never lost and one written by a rolled-back
 * transaction never arrives.  The engine drains a queue with the `queue`
 * strategy: rows of one snapshot go out, are loaded once (load marker),
 * and exactly those rows are then deleted.
 *
 *-------------------------------------------------------------------------
 */
#ifndef REDTRACK_EVENTS_H
#define REDTRACK_EVENTS_H

#include "nodes/pg_list.h"
#include "utils/jsonb.h"

#define STREAMS_SCHEMA "redtrack_streams"

/* The Redshift CREATE TABLE of a stream (also used by the engine). */
extern char *redtrack_stream_ddl(const char *stream);

/*
 * A table declared in rrr_define_stream's columns form (rrr_load): its
 * CREATE TABLE, and its columns' names and warehouse types (of char *).
 */
extern char *redtrack_columns_ddl(const char *table, const char *table_sql, Jsonb *columns,
								  const char *sortkey, const char *distkey,
								  bool postgres_dialect, List **names, List **types);

/* A declared field's warehouse type, or NULL; for adding new fields. */
extern char *redtrack_stream_field_type(const char *stream, const char *field);

/* Columns of a queue table that are redtrack's, never loaded. */
#define STREAM_INTERNAL_PREFIX "redtrack_"

#endif							/* REDTRACK_EVENTS_H */
