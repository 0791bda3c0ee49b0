/*-------------------------------------------------------------------------
 *
 * delete_tracking.h
 *	  The triggers that record deletes, key changes and TRUNCATE of a
 *	  tracked table, on the table and on every partition below it.
 *
 *-------------------------------------------------------------------------
 */
#ifndef REDTRACK_DELETE_TRACKING_H
#define REDTRACK_DELETE_TRACKING_H

/*
 * Trigger names.  rrr_register installs the first three on the table;
 * every partition gets the first two of its own (the third is cloned).  A
 * partitioned table also gets the last three, which record the old key of
 * a row an UPDATE moves to another partition.
 */
#define REDTRACK_TRIGGER_DELETES "redtrack_deletes"
#define REDTRACK_TRIGGER_TRUNCATE "redtrack_truncate"
#define REDTRACK_TRIGGER_KEY_CHANGES "redtrack_key_changes"
#define REDTRACK_TRIGGER_MOVES_BEGIN "redtrack_moves_begin"
#define REDTRACK_TRIGGER_MOVES_END "redtrack_moves_end"
#define REDTRACK_TRIGGER_MOVED_ROWS "redtrack_moved_rows"

/* Callers are connected to SPI and in an OwnerScope. */
extern void redtrack_tie_trigger_to_extension(Oid relid, const char *trigger_name);
extern void redtrack_track_partitions(Oid source);
extern void redtrack_untrack_partitions(Oid source);

#endif							/* REDTRACK_DELETE_TRACKING_H */
