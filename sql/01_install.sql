--
-- Installing the extension: objects, ownership and privileges.
--
CREATE EXTENSION redtrack;

-- Tables and views live in schema redtrack, functions in the extension's schema.
SELECT c.relname, c.relkind
FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE n.nspname = 'redtrack' AND c.relkind IN ('r', 'v')
ORDER BY 1;

SELECT p.proname, pg_get_function_identity_arguments(p.oid) AS args
FROM pg_proc p JOIN pg_depend d ON d.objid = p.oid AND d.classid = 'pg_proc'::regclass
JOIN pg_extension e ON e.oid = d.refobjid AND d.deptype = 'e'
WHERE e.extname = 'redtrack' AND p.pronamespace = 'public'::regnamespace
ORDER BY 1, 2;

-- None of them is open to PUBLIC; all are open to redtrack_admin.
SELECT p.proname
FROM pg_proc p JOIN pg_depend d ON d.objid = p.oid AND d.classid = 'pg_proc'::regclass
JOIN pg_extension e ON e.oid = d.refobjid AND d.deptype = 'e'
WHERE e.extname = 'redtrack' AND p.prorettype <> 'trigger'::regtype
  AND p.prorettype <> 'event_trigger'::regtype
  AND (has_function_privilege('public', p.oid, 'EXECUTE')
       OR (p.pronamespace = 'public'::regnamespace
           AND NOT has_function_privilege('redtrack_admin', p.oid, 'EXECUTE')));

-- The admin role exists and cannot log in.
SELECT rolname, rolcanlogin FROM pg_roles WHERE rolname = 'redtrack_admin';

-- State tables are kept by pg_dump.
SELECT c.relname
FROM pg_extension e, unnest(e.extconfig) AS cfg(oid) JOIN pg_class c ON c.oid = cfg.oid
WHERE e.extname = 'redtrack'
ORDER BY 1;

-- Nobody but redtrack_admin gets into the schema or its tables.
SELECT has_schema_privilege('public', 'redtrack', 'USAGE') AS public_usage,
       has_schema_privilege('redtrack_admin', 'redtrack', 'USAGE') AS admin_usage;
SELECT c.relname,
       has_table_privilege('redtrack_admin', c.oid, 'SELECT') AS admin_select,
       has_table_privilege('redtrack_admin', c.oid, 'UPDATE') AS admin_update
FROM pg_class c
WHERE c.relnamespace = 'redtrack'::regnamespace AND c.relkind IN ('r', 'v')
ORDER BY 1;

-- Configuration: every parameter is defined, the prefix is reserved.
SELECT name, setting, context
FROM pg_settings WHERE name LIKE 'redtrack.%'
  AND name NOT IN ('redtrack.aws_access_key_id', 'redtrack.aws_secret_access_key',
                   'redtrack.aws_session_token', 'redtrack.redshift_conninfo')
ORDER BY 1;
SET redtrack.no_such_setting = 1;
-- Secrets are left out of SHOW ALL and pg_settings, even for superusers.
SELECT count(*) AS secrets_listed FROM pg_settings
WHERE name IN ('redtrack.aws_access_key_id', 'redtrack.aws_secret_access_key',
               'redtrack.aws_session_token', 'redtrack.redshift_conninfo');

-- pg_upgrade refuses user tables with columns of these types (their OIDs
-- are not kept across an upgrade): redtrack's own tables have none.
SELECT c.relname, a.attname, a.atttypid::regtype
FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid
WHERE c.relnamespace = 'redtrack'::regnamespace AND c.relkind = 'r'
  AND a.attnum > 0 AND NOT a.attisdropped
  AND a.atttypid IN ('regproc'::regtype, 'regprocedure'::regtype, 'regoper'::regtype,
                     'regoperator'::regtype, 'regconfig'::regtype, 'regdictionary'::regtype,
                     'regnamespace'::regtype, 'regcollation'::regtype);
