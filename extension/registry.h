/*-------------------------------------------------------------------------
 *
 * registry.h
 *	  Registered tables: validation at registration time, and the
 *	  in-memory form the engine works from.
 *
 *-------------------------------------------------------------------------
 */
#ifndef REDTRACK_REGISTRY_H
#define REDTRACK_REGISTRY_H

#include "nodes/pg_list.h"
#include "utils/relcache.h"

typedef enum ReplicationStrategy
{
	STRATEGY_TIMED,				/* merge changed rows by key */
	STRATEGY_IDENTITY,			/* append rows with a growing key */
	STRATEGY_FULL,				/* replace the whole table */
	STRATEGY_QUEUE,				/* drain an event stream's queue (rrr_define_stream) */
	STRATEGY_CDC				/* cdc (issue 13): changes from the WAL, worker/cdc/ */
} ReplicationStrategy;

typedef struct Replicable
{
	Oid			relid;
	char	   *source_name;	/* "schema"."table", for messages */
	ReplicationStrategy strategy;
	char	   *target_table;	/* identifier syntax: "table" or "schema"."table" */
	char	   *replication_field;	/* NULL for full */
	Oid			field_type;		/* its base type, InvalidOid for full */
	bool		track_deletes;
	List	   *key_columns;	/* of char *, may be NIL for full/identity */
	char	   *distkey;		/* NULL: default */
	List	   *sortkey;		/* of char *, NIL: default */
	bool		evolve;
	int64		watermark_epoch;
	char	   *registered_by;	/* the registering role, whose rights read the source */
	bool		key_from_primary_key;	/* keys defaulted to the primary key */
} Replicable;

extern const char *redtrack_strategy_name(ReplicationStrategy strategy);

/* Reads a registration (must be in a transaction with SPI available). */
extern Replicable *redtrack_load_replicable(Oid relid, bool missing_ok);

/* Redshift identifiers are at most 127 bytes. */
#define REDSHIFT_MAX_IDENTIFIER 127

/*
 * Split a name in identifier syntax ("a"."b", a.b) into its parts, folding
 * unquoted parts to lower case as PostgreSQL does, but without truncating
 * to NAMEDATALEN: Redshift names may be up to 127 bytes.  NIL when the
 * syntax is invalid.
 */
extern List *redtrack_split_name(const char *name);

/* The primary key's column names, or NIL. */
extern List *redtrack_primary_key_columns(Relation rel);

/* All registrations, in a deterministic order (registration time, oid). */
extern List *redtrack_load_replicables(void);

extern void redtrack_check_registration(Replicable *r);
extern Oid	redtrack_source_reader(Replicable *r);
extern char *redtrack_target_identity(const char *target);
extern bool redtrack_target_is_taken(const char *target, Oid self, Oid *owner_relid);

#endif							/* REDTRACK_REGISTRY_H */
