/*-------------------------------------------------------------------------
 *
 * stream.h
 *	  Event streams, as the engine and the SQL functions both see them:
 *	  a stream's declared fields, the rules an event must meet, and the
 *	  Redshift table the stream loads.
 *
 * PostgreSQL is the broker: rrr_write inserts the event into the stream's
 * queue table inside the caller's transaction, so an event written by a
 * committed transaction is never lost and one written by a rolled-back
 * transaction never arrives.  The engine drains a queue with the `queue`
 * strategy: rows of one snapshot go out, are loaded once (load marker),
 * and exactly those rows are then deleted.
 *
 * A stream's fields are declared once, with Redshift's types (typemap.h).
 * Its queue table lives in schema redtrack_streams: an internal event id
 * and enqueue time, then the declared fields as columns.  Fields are kept
 * sorted by name: jsonb does not keep the order of keys.
 *
 *-------------------------------------------------------------------------
 */
#ifndef REDTRACK_STREAM_H
#define REDTRACK_STREAM_H

#include "nodes/pg_list.h"
#include "utils/array.h"
#include "utils/jsonb.h"

#include "ownership.h"
#include "typemap.h"

#define STREAMS_SCHEMA REDTRACK_STREAMS_SCHEMA

/* Columns of a queue table that are redtrack's, never loaded. */
#define STREAM_INTERNAL_PREFIX "redtrack_"

/* One declared field. */
typedef struct StreamField
{
	char		name[NAMEDATALEN];
	RedshiftType type;
	bool		not_null;
	bool		has_default;
	Datum		default_value;	/* typed, in the definition's memory */
	bool		default_is_null;
} StreamField;

/*
 * A stream's definition as the rules of an event need it, with the export's
 * encoders of its fields (for measuring an event's row), all in cxt.
 */
typedef struct StreamDef
{
	char		name[NAMEDATALEN];
	Oid			relid;			/* the queue table */
	bool		lenient;		/* unknown fields are dropped, not refused */
	int			nfields;
	StreamField *fields;		/* sorted by name */
	bool		has_double;		/* a field whose text depends on a setting */
	MemoryContext cxt;
	/* the export's encoding of each field, for one dialect (or none yet) */
	ColumnMap **encoders;
	bool		encoders_ready;
	bool		encoders_postgres;
} StreamDef;

/* ---- definitions (stream_def.c) ---- */

/*
 * Parse a columns definition (or its stored normalized form) into fields
 * sorted by name, enforcing every rule of a declaration with a clear error.
 */
extern StreamField *stream_parse_definition(const char *stream, Jsonb *columns, int *nfields);
extern StreamField *stream_find_field(StreamField *fields, int n, const char *name);
extern void stream_check_case_collisions(const char *stream, StreamField *fields, int n,
										 StreamField *old, int nold);
extern List *stream_parse_sortkey(const char *stream, const char *sortkey,
								  StreamField *fields, int n);
extern void stream_check_distkey(const char *stream, const char *distkey,
								 StreamField *fields, int n);

/* The stored, normalized definition: {"field": {"type": ..., ...}}. */
extern char *stream_normalized_definition(Jsonb *columns, StreamField *fields, int n);

/* "redtrack_streams.<name>", quoted as needed. */
extern char *stream_queue_table(const char *name);

extern void stream_not_found(const char *name) pg_attribute_noreturn();

/*
 * The stored definition of a stream (call inside SPI, as a role that may
 * read redtrack.streams), or NULL when there is no such stream.  sortkey
 * and distkey are NULL when the stream has none.
 */
extern StreamField *stream_read_definition(const char *name, int *nfields,
										   char **sortkey, char **distkey);

/*
 * Fill def (its name set, everything else zero or from an earlier load)
 * from redtrack.streams, in a new context under parent.  Connects to SPI
 * itself; reads as the extension owner.
 */
extern void stream_load_def(StreamDef *def, MemoryContext parent);
extern void stream_release_def(StreamDef *def);

/*
 * Whether the installed catalog has enrichment (redtrack 0.6:
 * redtrack.streams.enrich, redtrack.rejected_events).  The library can be
 * newer than the extension's installed version until ALTER EXTENSION
 * UPDATE runs; streams work there as they did, without enrichment.
 */
extern bool stream_catalog_has_enrichment(void);

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

/* ---- events (stream_event.c) ---- */

/*
 * A field's value from JSON, typed as the queue column.  Strings longer
 * than the declared length are cut on a character boundary and counted in
 * *truncated; anything else that breaks the declaration is an ERROR.
 */
extern Datum stream_field_value(const char *stream, StreamField *f, JsonbValue *v,
								int *truncated);

/*
 * An event checked against the stream's rules (a JSON object, known fields
 * unless lenient, declared types, not-null fields present, the row small
 * enough for Redshift) as the values of the queue table's declared
 * columns, in field order; nulls as SPI wants them ('n' or ' ').
 */
extern void stream_event_values(StreamDef *s, Jsonb *event, Datum *values, char *nulls,
								int *truncated);

/* ---- enrichment in the drain (stream_enrich.c) ---- */

/*
 * A stream may name an enricher, a function (jsonb) -> jsonb that the drain
 * applies to each event before loading it.  It runs with the rights of the
 * role that defined the stream, in a security-restricted operation, each
 * event in a subtransaction of its own: an event whose enrichment fails,
 * or whose enriched form breaks the stream's rules, is set aside in
 * redtrack.rejected_events with the error, and the drain goes on.
 */
typedef struct StreamEnricher StreamEnricher;

/*
 * Whether the role definer may have fn run as the enricher of stream: fn
 * exists, definer exists and may execute it, fn's owner has every
 * privilege of definer (it could replace fn's body), and a SECURITY
 * DEFINER fn's owner has no privilege definer lacks.  ERROR otherwise
 * (42501 for privileges).  At definition and before every drained event.
 */
extern void stream_check_enricher(const char *stream, Oid fn, Oid definer);

/*
 * The enricher of the stream whose queue table is queue_relid, for a drain
 * whose rows carry columns (of ColumnMap *, named as the queue's columns)
 * in that order; NULL when the stream has none.  Call inside SPI; the
 * enricher lives in CurrentMemoryContext.
 */
extern StreamEnricher *stream_enricher_open(Oid queue_relid, List *columns);

/*
 * One row of the drain (values and isnull in the columns' order) through
 * the enricher.  Returns false when the event was set aside; otherwise
 * *out_values and *out_isnull are the enriched row, valid until the next
 * call, and values cut to their declared length are added to *truncated.
 */
extern bool stream_enrich_row(StreamEnricher *e, Datum *values, bool *isnull, int64 event_id,
							  Datum **out_values, bool **out_isnull, int64 *truncated);

/* ---- names (stream_resolve.c) ---- */

/*
 * rrr_replicate, rrr_export and rrr_import name tables as text: each name
 * is a table, read in the caller's search_path as regclass would, or a
 * stream's name, which stands for its queue table.  A name that means
 * both a table and a stream is an error.  Afterwards search_path is pinned
 * to pg_catalog, pg_temp until the calling function returns (its own SET
 * clause's level), as every other function of the extension has it.
 */
extern Oid *stream_resolve_tables(ArrayType *names, int *n);

#endif							/* REDTRACK_STREAM_H */
