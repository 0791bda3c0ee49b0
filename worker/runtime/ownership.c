/*-------------------------------------------------------------------------
 *
 * ownership.c
 *	  Lookups of redtrack's schema, owner and admin role, and the owner
 *	  scope used to write state tables on behalf of other users.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "catalog/namespace.h"
#include "catalog/pg_class.h"
#include "catalog/pg_namespace.h"
#include "commands/dbcommands.h"
#include "miscadmin.h"
#include "utils/acl.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/lsyscache.h"
#include "utils/syscache.h"

#include "ownership.h"

Oid
redtrack_schema_oid(void)
{
	Oid			nspid = get_namespace_oid(REDTRACK_SCHEMA, true);

	if (!OidIsValid(nspid))
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("extension \"redtrack\" is not installed in database \"%s\"",
						get_database_name(MyDatabaseId)),
				 errhint("Run CREATE EXTENSION redtrack.")));
	return nspid;
}

/*
 * The owner of schema redtrack, which is the role that created the
 * extension and owns every state table.
 */
Oid
redtrack_owner_oid(void)
{
	Oid			nspid = redtrack_schema_oid();
	HeapTuple	tuple;
	Oid			owner;

	tuple = SearchSysCache1(NAMESPACEOID, ObjectIdGetDatum(nspid));
	if (!HeapTupleIsValid(tuple))
		elog(ERROR, "cache lookup failed for namespace %u", nspid);
	owner = ((Form_pg_namespace) GETSTRUCT(tuple))->nspowner;
	ReleaseSysCache(tuple);
	return owner;
}

bool
redtrack_is_own_table(Oid relid)
{
	Oid			streams = get_namespace_oid(REDTRACK_STREAMS_SCHEMA, true);
	HeapTuple	tuple;
	bool		own;

	if (!OidIsValid(streams) || get_rel_namespace(relid) != streams)
		return false;
	tuple = SearchSysCache1(RELOID, ObjectIdGetDatum(relid));
	if (!HeapTupleIsValid(tuple))
		return false;
	own = ((Form_pg_class) GETSTRUCT(tuple))->relowner == redtrack_owner_oid();
	ReleaseSysCache(tuple);
	return own;
}

bool
redtrack_is_admin(Oid roleid)
{
	Oid			admin;

	if (superuser_arg(roleid))
		return true;
	admin = get_role_oid(REDTRACK_ADMIN_ROLE, true);
	return OidIsValid(admin) && has_privs_of_role(roleid, admin);
}

/*
 * EXECUTE on redtrack's functions is granted to redtrack_admin only; this
 * second check keeps that true even if someone grants EXECUTE wider.
 */
void
redtrack_require_admin(const char *action)
{
	if (!redtrack_is_admin(GetUserId()))
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("permission denied to %s", action),
				 errdetail("Only superusers and members of role \"%s\" may use redtrack.",
						   REDTRACK_ADMIN_ROLE),
				 errhint("GRANT %s TO the role that needs it.", REDTRACK_ADMIN_ROLE)));
}

void
redtrack_enter_owner_scope(OwnerScope *scope)
{
	Oid			owner = redtrack_owner_oid();

	GetUserIdAndSecContext(&scope->saved_userid, &scope->saved_sec_context);
	SetUserIdAndSecContext(owner,
						   scope->saved_sec_context | SECURITY_LOCAL_USERID_CHANGE);
	scope->saved_nestlevel = NewGUCNestLevel();
	(void) set_config_option("search_path", "pg_catalog, pg_temp",
							 PGC_USERSET, PGC_S_SESSION,
							 GUC_ACTION_SAVE, true, 0, false);
}

/*
 * Leave an owner scope.  On error there is no need to call this: aborting
 * the (sub)transaction restores the user id and the GUC nesting level.
 */
void
redtrack_leave_owner_scope(OwnerScope *scope)
{
	AtEOXact_GUC(true, scope->saved_nestlevel);
	SetUserIdAndSecContext(scope->saved_userid, scope->saved_sec_context);
}

/* "schema.table", quoted where needed, for messages. */
char *
redtrack_relation_display_name(Oid relid)
{
	char	   *relname = get_rel_name(relid);
	char	   *nspname;

	if (relname == NULL)
		return psprintf("%u", relid);
	nspname = get_namespace_name(get_rel_namespace(relid));
	return quote_qualified_identifier(nspname, relname);
}
