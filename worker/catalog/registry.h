/*-------------------------------------------------------------------------
 *
 * registry.h
 *	  Registered tables (redtrack.replicables): the in-memory form the
 *	  engine works from, and the checks registration and every run share.
 *
 *-------------------------------------------------------------------------
 */
#ifndef REDTRACK_REGISTRY_H
#define REDTRACK_REGISTRY_H

#include "nodes/pg_list.h"
#include "utils/relcache.h"

#include "target_name.h"

/*
 * Every strategy, once: its enum value, its name (as registered, and its
 * module: strategy_<name> in worker/strategy/<name>.c) and what it does,
 * for the hint that lists them.  A new strategy is its module and a line
 * here.
 */
#define REDTRACK_STRATEGIES(X) \
	X(STRATEGY_TIMED, timed, "merge changed rows by key") \
	X(STRATEGY_IDENTITY, identity, "append rows with a growing key") \
	X(STRATEGY_FULL, full, "replace the whole table") \
	X(STRATEGY_QUEUE, queue, "drain an event stream's queue") \
	X(STRATEGY_CDC, cdc, "changes read from the WAL")

#define REDTRACK_STRATEGY_ENUM(kind, name, what) kind,
typedef enum ReplicationStrategy
{
	REDTRACK_STRATEGIES(REDTRACK_STRATEGY_ENUM)
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

/* A strategy by its name; "queue" only where allow_queue (streams). */
extern char *redtrack_strategy_hint(void);
extern ReplicationStrategy redtrack_parse_strategy(const char *name, bool allow_queue);

/* Reads a registration (must be in a transaction with SPI available). */
extern Replicable *redtrack_load_replicable(Oid relid, bool missing_ok);

/* The primary key's column names, or NIL. */
extern List *redtrack_primary_key_columns(Relation rel);

/* All registrations, in a deterministic order (registration time, oid). */
extern List *redtrack_load_replicables(void);

/*
 * Whether redtrack.replicables has a column: a new library runs against
 * an older schema between a package upgrade and ALTER EXTENSION UPDATE.
 */
extern bool redtrack_replicables_has_column(const char *column);

/* Whether the table is registered (the caller is connected to SPI). */
extern bool redtrack_is_registered(Oid relid);

/* What registration checked, checked again before every run. */
extern void redtrack_check_registration(Replicable *r);

/* The role whose rights read the source. */
extern Oid	redtrack_source_reader(Replicable *r);

/* SELECT (and TRIGGER, for tracked deletes) on the table for a role. */
extern void redtrack_check_table_privileges(Oid relid, Oid roleid, bool track_deletes);

/* Refuse a table whose rows a policy filters for the reading role. */
extern void redtrack_refuse_row_level_security(Oid relid, Oid reader, const char *relname);

/*
 * Whether another registration (not of relation "self") loads the same
 * warehouse table (redtrack_target_identity); its source goes to
 * *owner_relid.
 */
extern bool redtrack_target_is_taken(const char *target, Oid self, Oid *owner_relid);

#endif							/* REDTRACK_REGISTRY_H */
