/*-------------------------------------------------------------------------
 *
 * ownership.h
 *	  Where redtrack's own objects live, who owns them, and how code that
 *	  runs on behalf of an ordinary user writes to them.
 *
 * redtrack's state tables belong to the extension owner and are closed to
 * everybody else.  Code that must write them while running as someone
 * else (the delete trigger fires as whoever deletes; rrr_register runs as
 * a member of redtrack_admin) enters an OwnerScope: the user id becomes
 * the extension owner and search_path is pinned to pg_catalog, as a
 * SECURITY DEFINER function with SET search_path would do.
 *
 *-------------------------------------------------------------------------
 */
#ifndef REDTRACK_OWNERSHIP_H
#define REDTRACK_OWNERSHIP_H

#define REDTRACK_SCHEMA "redtrack"
#define REDTRACK_ADMIN_ROLE "redtrack_admin"
/* Where streams' queue tables live: only the extension owner creates there. */
#define REDTRACK_STREAMS_SCHEMA "redtrack_streams"

typedef struct OwnerScope
{
	Oid			saved_userid;
	int			saved_sec_context;
	int			saved_nestlevel;
} OwnerScope;

extern Oid	redtrack_schema_oid(void);
extern Oid	redtrack_owner_oid(void);
extern void redtrack_require_admin(const char *action);
extern bool redtrack_is_admin(Oid roleid);

/*
 * Whether a registered table is redtrack's own (a stream's queue): read as
 * the extension owner, with no registrant's privileges to check.
 */
extern bool redtrack_is_own_table(Oid relid);

extern void redtrack_enter_owner_scope(OwnerScope *scope);
extern void redtrack_leave_owner_scope(OwnerScope *scope);

extern char *redtrack_relation_display_name(Oid relid);

#endif							/* REDTRACK_OWNERSHIP_H */
