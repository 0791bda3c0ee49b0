/*-------------------------------------------------------------------------
 *
 * canonical_output.h
 *	  The settings under which redtrack turns values into text.
 *
 * Values reach the warehouse as text, and delete records store keys as
 * text that the engine later compares with the keys it exported: both
 * must come from the same settings, whatever the session that wrote or
 * deleted the row had set (DateStyle, TimeZone, ...).  This is the one
 * list of them; the engine imposes it for its whole session, the delete
 * trigger for the moment it writes keys.
 *
 *-------------------------------------------------------------------------
 */
#ifndef REDTRACK_CANONICAL_OUTPUT_H
#define REDTRACK_CANONICAL_OUTPUT_H

typedef struct CanonicalSetting
{
	const char *name;
	const char *value;
} CanonicalSetting;

/* UTC, ISO dates, exact floats, hex bytea; ends with {NULL, NULL}. */
extern const CanonicalSetting redtrack_canonical_output[];

/* For the engine's whole session (PGC_S_OVERRIDE). */
extern void redtrack_impose_canonical_output(void);

/*
 * For a while: returns the GUC nest level to pass to
 * AtEOXact_GUC(true, nestlevel) when done.
 */
extern int	redtrack_push_canonical_output(void);

#endif							/* REDTRACK_CANONICAL_OUTPUT_H */
