/*-------------------------------------------------------------------------
 *
 * rs_ident.h
 *	  Identifiers in SQL sent to the warehouse.
 *
 * Redshift's reserved words are not PostgreSQL's (TAG, OPEN, SYSTEM,
 * PERCENT, PARTITION, SNAPSHOT, ... are reserved on Redshift and not in
 * PostgreSQL, see docs/REDSHIFT.md), so quote_identifier, which quotes by
 * PostgreSQL's keyword list, leaves names bare that Redshift refuses.  Every
 * identifier sent to the warehouse is therefore quoted, always.  Quoting
 * changes no name: Redshift folds quoted identifiers to lower case as it
 * does bare ones (unless enable_case_sensitive_identifier is on), and on a
 * PostgreSQL warehouse a quoted lower-case name is the same name.
 *
 *-------------------------------------------------------------------------
 */
#ifndef REDTRACK_RS_IDENT_H
#define REDTRACK_RS_IDENT_H

/* "name", with inner quotes doubled (palloc'd). */
extern char *rs_quote_identifier(const char *name);

/* "schema"."name", or "name" when schema is NULL. */
extern char *rs_quote_qualified(const char *schema, const char *name);

#endif							/* REDTRACK_RS_IDENT_H */
