/* redtrack--0.1--0.2.sql: the replication engine */

\echo Use "ALTER EXTENSION redtrack UPDATE TO '0.2'" to load this file. \quit

-- What the export wrote, so a later run can load it without looking again.
ALTER TABLE redtrack.replications
	ADD COLUMN clamped_values bigint,
	ADD COLUMN target_columns text[],
	ADD COLUMN target_keys text[],
	ADD COLUMN target_order text;

COMMENT ON COLUMN redtrack.replications.truncated_values IS
	'strings cut to the target column''s length';
COMMENT ON COLUMN redtrack.replications.clamped_values IS
	'dates outside years 1-9999 clamped, NaN or infinite decimals sent as NULL';

CREATE FUNCTION @extschema@.rrr_replicate(VARIADIC tables regclass[])
RETURNS TABLE (source regclass, replication_id bigint, state text, rows bigint, error text)
AS 'MODULE_PATHNAME', 'rrr_replicate'
LANGUAGE C VOLATILE;

CREATE FUNCTION @extschema@.rrr_replicate_all()
RETURNS TABLE (source regclass, replication_id bigint, state text, rows bigint, error text)
AS 'MODULE_PATHNAME', 'rrr_replicate_all'
LANGUAGE C VOLATILE;

CREATE FUNCTION @extschema@.rrr_export(VARIADIC tables regclass[])
RETURNS TABLE (source regclass, replication_id bigint, state text, rows bigint, error text)
AS 'MODULE_PATHNAME', 'rrr_export'
LANGUAGE C VOLATILE;

CREATE FUNCTION @extschema@.rrr_import(VARIADIC tables regclass[])
RETURNS TABLE (source regclass, replication_id bigint, state text, rows bigint, error text)
AS 'MODULE_PATHNAME', 'rrr_import'
LANGUAGE C VOLATILE;

CREATE FUNCTION @extschema@.rrr_reset(source regclass)
RETURNS void
AS 'MODULE_PATHNAME', 'rrr_reset'
LANGUAGE C VOLATILE;

CREATE FUNCTION @extschema@.rrr_target_ddl(source regclass)
RETURNS text
AS 'MODULE_PATHNAME', 'rrr_target_ddl'
LANGUAGE C STABLE;

CREATE FUNCTION @extschema@.rrr_create_target(source regclass)
RETURNS text
AS 'MODULE_PATHNAME', 'rrr_create_target'
LANGUAGE C VOLATILE;

CREATE FUNCTION @extschema@.rrr_vacuum(source regclass, options text DEFAULT 'auto')
RETURNS text
AS 'MODULE_PATHNAME', 'rrr_vacuum'
LANGUAGE C VOLATILE;

CREATE FUNCTION @extschema@.rrr_analyze(source regclass)
RETURNS text
AS 'MODULE_PATHNAME', 'rrr_analyze'
LANGUAGE C VOLATILE;

DO $$
DECLARE
	f text;
BEGIN
	FOREACH f IN ARRAY ARRAY[
		'rrr_replicate(regclass[])', 'rrr_replicate_all()', 'rrr_export(regclass[])',
		'rrr_import(regclass[])', 'rrr_reset(regclass)', 'rrr_target_ddl(regclass)',
		'rrr_create_target(regclass)', 'rrr_vacuum(regclass, text)', 'rrr_analyze(regclass)']
	LOOP
		EXECUTE format('REVOKE ALL ON FUNCTION %s.%s FROM PUBLIC', '@extschema@', f);
		EXECUTE format('GRANT EXECUTE ON FUNCTION %s.%s TO redtrack_admin', '@extschema@', f);
	END LOOP;
END
$$;
