/*-------------------------------------------------------------------------
 *
 * target_name.h
 *	  The name of a registration's target table: how it is written when
 *	  registered, how it splits into schema and table, and which table on
 *	  the warehouse it denotes.
 *
 * This is the one home of these rules: registration normalizes with
 * them, the loader and the DDL quote what they split, and the check that
 * two registrations do not load one table compares their identities.
 *
 *-------------------------------------------------------------------------
 */
#ifndef REDTRACK_TARGET_NAME_H
#define REDTRACK_TARGET_NAME_H

#include "nodes/pg_list.h"

/* Redshift identifiers are at most 127 bytes. */
#define REDSHIFT_MAX_IDENTIFIER 127

/*
 * Split a name in identifier syntax ("a"."b", a.b) into its parts, folding
 * unquoted parts to lower case as PostgreSQL does, but without truncating
 * to NAMEDATALEN: Redshift names may be up to 127 bytes.  NIL when the
 * syntax is invalid.
 */
extern List *redtrack_split_name(const char *name);

/*
 * A stored target's schema (NULL when unqualified) and table name.  Stored
 * targets were normalized at registration, so they always split; anything
 * else is an internal error.
 */
extern void redtrack_split_target(const char *target, char **schema,
								  char **name);

/*
 * A target name as the user wrote it, checked and normalized with
 * quote_identifier, as it is stored in redtrack.replicables.
 */
extern char *redtrack_normalize_target(const char *raw);

/* The warehouse table a target denotes: "schema.table", folded. */
extern char *redtrack_target_identity(const char *target);

#endif							/* REDTRACK_TARGET_NAME_H */
