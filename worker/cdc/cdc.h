/*-------------------------------------------------------------------------
 *
 * cdc.h
 *	  The cdc strategy: changes read from the WAL through one logical
 *	  replication slot per database, loaded exactly once into the warehouse.
 *
 * cdc_decoder.c is the output plugin (redtrack.so is the slot's plugin): it
 * encodes each decoded change of a captured table straight into the
 * export's CSV encoding and appends it to that table's spool file.
 * cdc_run.c is the per-database run: peek up to a chosen LSN, upload the
 * spool files, load every table in one warehouse transaction with a load
 * marker naming the LSN range, and only then advance the slot.
 *
 *-------------------------------------------------------------------------
 */
#ifndef REDTRACK_CDC_H
#define REDTRACK_CDC_H

#include "access/attnum.h"
#include "nodes/pg_list.h"
#include "utils/hsearch.h"

#include "bytebuf.h"
#include "engine.h"
#include "typemap.h"

/*
 * One captured table during a run: the columns its rows carry (the target's,
 * in target order), where its changes are spooled, and what was seen.
 */
typedef struct CdcTable
{
	Oid			relid;			/* hash key */
	char	   *source_name;
	Oid			reader;			/* the registering role: values are encoded
								 * (type output functions run) with its rights */
	ColumnMap **columns;
	int			ncolumns;
	bool	   *is_key;			/* per column */
	char	   *spool_path;
	FILE	   *spool;
	int64		changes;		/* records spooled */
	int64		truncate_seq;	/* last TRUNCATE's sequence number, 0: none */
	bool	   *unchanged_seen; /* per column: an unchanged TOAST value came */
	EncodeCounters counters;
} CdcTable;

/* What the decoder writes to while a run peeks. */
typedef struct CdcCapture
{
	HTAB	   *tables;			/* Oid -> CdcTable */
	bool		postgres_dialect;
	int64		next_seq;		/* order of changes in the stream */
	int64		changes;		/* all records spooled */
	ByteBuf		record;
	MemoryContext change_cxt;
} CdcCapture;

/* Set by the run around its peek; the decoder writes only while it is set. */
extern CdcCapture *cdc_capture;

/* The output plugin's name: the extension's library. */
#define CDC_PLUGIN "redtrack"

/*
 * Record layout in the spool files and in the staged rows: the change's
 * sequence number, its kind, the unchanged-columns mask, then the target's
 * columns.
 */
#define CDC_OP_INSERT 'I'
#define CDC_OP_UPDATE 'U'
#define CDC_OP_DELETE 'D'
#define CDC_OP_TRUNCATE 'T'
#define CDC_OP_KEY_CHANGE 'K'		/* an UPDATE's new row under a new key */
#define CDC_MASK_UNCHANGED 'u'
#define CDC_MASK_PRESENT '-'

/* The slot of this database (cdc_slot.c). */
extern char *cdc_slot_name(void);

/*
 * A run of every cdc table of the database (engine_run_table of any cdc
 * table comes here); outcome describes the table asked for.
 */
extern void cdc_run_database(Oid relid, bool wait_for_lock, TableOutcome *outcome);

/*
 * True while a cdc run takes a table's initial snapshot through the
 * engine: the engine then replicates the table as 'full'.
 */
extern bool cdc_taking_snapshot(void);

/*
 * Drop the slot if no cdc table is registered (in a transaction, SPI
 * connected); with wait, wait while a run holds it, else leave it.
 */
extern void cdc_drop_slot_if_unused(bool wait);

/*
 * Drop this database's slot if it exists; with wait, wait while a run holds
 * it, else leave a slot in use for the worker's next run to drop.
 */
extern void cdc_drop_slot(bool wait);

/* Registration checks for 'cdc' (rrr_register). */
extern void cdc_check_registration(Oid relid, List *keys, bool track_deletes);

#endif							/* REDTRACK_CDC_H */
