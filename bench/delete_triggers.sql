-- The PL/pgSQL delete-tracking triggers redtrack is compared with.
--
-- rrr_row: what Rails Redshift Replicator declares with HairTrigger
--   (trigger.after(:delete) { "INSERT INTO rails_redshift_replicator_deleted_ids(source_table,
--   object_id) VALUES('<table>', OLD.id);" }), i.e. a row-level AFTER DELETE
--   PL/pgSQL trigger into RRR's table (migration: source_table string,
--   object_id integer, no primary key, no index).
-- plpgsql_stmt: the second reference, a statement-level AFTER DELETE trigger
--   with a transition table, inserting one row per deleted key.

CREATE TABLE IF NOT EXISTS rails_redshift_replicator_deleted_ids (
    source_table varchar,
    object_id integer
);

CREATE OR REPLACE FUNCTION bench_rrr_row_delete() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO rails_redshift_replicator_deleted_ids (source_table, object_id)
    VALUES (TG_TABLE_NAME, OLD.id);
    RETURN NULL;
END
$$;

CREATE OR REPLACE FUNCTION bench_plpgsql_stmt_delete() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO rails_redshift_replicator_deleted_ids (source_table, object_id)
    SELECT TG_TABLE_NAME, id FROM old_rows;
    RETURN NULL;
END
$$;
