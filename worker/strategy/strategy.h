/*-------------------------------------------------------------------------
 *
 * strategy.h
 *	  What a replication strategy decides, as one interface: which rows a
 *	  run selects and how, how the export reads them, what the load does
 *	  on the warehouse, and what happens once a load committed.  One file
 *	  per strategy under worker/strategy/ (timed.c, identity.c, full.c,
 *	  queue.c) fills a Strategy; strategy.c registers them by name.
 *
 * The engine, the export and the loader ask the table's Strategy and never
 * test which strategy it is.  A new strategy is a new file and one line in
 * REDTRACK_STRATEGIES (catalog/registry.h), which gives its enum value,
 * the name rrr_register accepts and its module.
 *
 * The hooks run in the engine's process: select, target_ddl and
 * after_import inside a local transaction; prepare_target inside a local
 * transaction with the warehouse connected, but never inside the export's
 * snapshot; merge_sql builds text only.
 *
 *-------------------------------------------------------------------------
 */
#ifndef REDTRACK_STRATEGY_H
#define REDTRACK_STRATEGY_H

#include "engine.h"
#include "redshift.h"
#include "registry.h"
#include "state.h"
#include "stream.h"
#include "target.h"

/* The replication field a strategy takes at registration. */
typedef enum StrategyField
{
	STRATEGY_FIELD_NONE,		/* none: every row, or every change */
	STRATEGY_FIELD_TIME_OR_INTEGER, /* stamped on every change */
	STRATEGY_FIELD_INTEGER		/* growing with every new row */
} StrategyField;

/* What a run reads from the source, as the pieces of the export's SELECT. */
typedef struct StrategySelect
{
	const char *where;			/* " WHERE ..." or "" */
	int			nparams;		/* $1.. $nparams, passed as text */
	const char *params[2];

	/*
	 * A bigint column read after the exported columns (not exported) whose
	 * values, in ORDER BY order, the export collects as ranges and hands
	 * to rows_sent; NULL: none.
	 */
	const char *id_column;
	const char *order_by;		/* " ORDER BY ..." or "" */
} StrategySelect;

/* The names a merge is written with (all quoted where they need it). */
typedef struct StrategyMerge
{
	const char *target;			/* the target, qualified */
	const char *stage;			/* the staged rows of this replication */
	const char *columns;		/* the loaded columns, "a", "b", ... */
	/* the staged rows (newest per key when keyed), aliased s: a FROM item */
	const char *source;
	bool		source_has_where;	/* source ends in a WHERE clause */
	const char *target_stage_keys;	/* target.k = stage.k AND ..., or "" */
	const char *t_s_keys;		/* t.k = s.k AND ..., or "" */
} StrategyMerge;

typedef struct Strategy
{
	ReplicationStrategy kind;
	const char *name;			/* as registered and stored */

	/*
	 * Reads a window of the replication field from the watermark on.  Such
	 * a table's target must hold every row older than the window: when it
	 * is gone after a load, the next export sends every row.
	 */
	bool		windowed;

	/*
	 * The load empties the target first and inserts every row: it loads
	 * even when nothing changed, and sends no deletes file.
	 */
	bool		replaces_target;

	/* Target columns that no source column feeds are an error. */
	bool		refuses_unfed_columns;

	/* The rows of a run, given its window [first, last] (NULL: open). */
	void		(*select) (Replicable *r, const char *first, const char *last,
						   StrategySelect *out);

	/* CREATE TABLE for the target. */
	char	   *(*target_ddl) (Replicable *r, bool postgres_dialect);

	/*
	 * Before the export, with the warehouse connected: bring an existing
	 * (or missing) target to what the export will send, and return it as
	 * described now.
	 */
	TargetTable *(*prepare_target) (RedshiftConn *conn, Replicable *r, TargetTable *target,
									bool postgres_dialect);

	/*
	 * What each row read goes through before it is encoded (an event
	 * stream's enricher), or NULL for none; the hook itself may be NULL.
	 */
	StreamEnricher *(*row_enricher) (Replicable *r, List *columns);

	/* The ranges of id_column values the export sent; NULL: not needed. */
	void		(*rows_sent) (Replication *rep, const char *id_ranges);

	/* The warehouse statements that put the stage into the target. */
	List	   *(*merge_sql) (const StrategyMerge *m);

	/*
	 * After the load committed, in the local transaction that records the
	 * replication 'imported'; NULL: nothing.
	 */
	void		(*after_import) (Replicable *r, Replication *rep);

	/*
	 * Optional: a strategy whose runs cover all its tables of the database
	 * together (e.g. one WAL decoding and one warehouse transaction for
	 * all of them).  When set, the engine hands it every table of the
	 * strategy that a call asks for, at once, instead of running them one
	 * by one; it fills one outcome per table.  NULL: per table.
	 */
	void		(*run_group) (Oid *relids, int n, EngineMode mode, bool wait_for_lock,
							  TableOutcome *outcomes);

	/*
	 * With run_group: true while the group run has the engine run one of
	 * its tables on its own, as the per-table hooks describe (cdc's
	 * initial snapshot).  NULL: never.
	 */
	bool		(*in_group_run) (void);

	/*
	 * Registration (extension/register.c asks these): the replication
	 * field it takes and the one assumed when none is given, why it takes
	 * none, whether a table without a key is refused, whether the field
	 * is the key when there is none; and checks of its own (NULL: none).
	 */
	StrategyField field;
	const char *default_field;
	const char *no_field_detail;
	bool		needs_key;
	bool		field_is_default_key;
	void		(*check_registration) (Oid relid, List *keys, bool track_deletes);

	/* After a table of the strategy was unregistered; NULL: nothing. */
	void		(*after_unregister) (void);
} Strategy;

/* The module of a registration's strategy (never NULL). */
extern const Strategy *strategy_of(Replicable *r);
extern const Strategy *strategy_for(ReplicationStrategy kind);

/* By name as registered; NULL when there is none. */
extern const Strategy *strategy_by_name(const char *name);

/* Shared pieces the modules are made of. */
extern void strategy_window_select(Replicable *r, const char *first, const char *last,
								   StrategySelect *out);
extern void strategy_no_select(Replicable *r, const char *first, const char *last,
							   StrategySelect *out);
extern char *strategy_table_ddl(Replicable *r, bool postgres_dialect);
extern TargetTable *strategy_evolve_target(RedshiftConn *conn, Replicable *r, TargetTable *target,
										   bool postgres_dialect);
extern List *strategy_replace_merge(const StrategyMerge *m);
extern char *strategy_insert_all(const StrategyMerge *m);

#endif							/* REDTRACK_STRATEGY_H */
