'use strict';
// The Redshift system objects in the warehouse, and the bookkeeping the
// stand-in writes on its own connections (outside the clients' transactions,
// so that load errors survive a rollback as they do on Redshift).
//
// Redshift's system tables live in pg_catalog, which every search_path
// includes implicitly; the views and functions are created there (with
// allow_system_table_mods), their data in schema redtrack_standin:
//   stl_load_errors, sys_load_error_detail   [r_STL_LOAD_ERRORS, SYS_LOAD_ERROR_DETAIL]
//   pg_table_def     (only tables visible through the search_path) [r_PG_TABLE_DEF]
//   svv_table_info   (user tables with at least one row)          [r_SVV_TABLE_INFO]
//   pg_last_copy_count(), pg_last_copy_id()                       [PG_LAST_COPY_COUNT, PG_LAST_COPY_ID]
//   varbyte, super   (domains over bytea and jsonb for Redshift's VARBYTE and SUPER)
//   rs_varchar       (domain over bpchar for VARCHAR: trailing spaces do not count in comparisons)
//   getdate()        (common in Redshift DEFAULT clauses)
//   redtrack_raise() (the stand-in raises its errors inside the client's
//                     session through it, so that they abort the transaction
//                     exactly like a server-side error)
//   redtrack_analyze_compression(regclass) (ANALYZE COMPRESSION's report)

const pg = require('pg');

const INSTALL = `
SET LOCAL allow_system_table_mods = on;
SELECT pg_advisory_xact_lock(7243117);
CREATE SCHEMA IF NOT EXISTS redtrack_standin;
CREATE SEQUENCE IF NOT EXISTS redtrack_standin.query_ids START 1000;
-- SYS_* views number queries differently from STL ones [c_intro_system_views].
CREATE SEQUENCE IF NOT EXISTS redtrack_standin.sys_query_ids START 5000000;
CREATE TABLE IF NOT EXISTS redtrack_standin.load_errors (
  userid integer, slice integer, tbl integer, starttime timestamp, session integer, query integer,
  filename character(256), line_number bigint, colname character(127), type character(10),
  col_length character(10), position integer, raw_line character(1024), raw_field_value character(1024),
  err_code integer, err_reason character(100), database_name character(64), error_message character(512)
);
ALTER TABLE redtrack_standin.load_errors ADD COLUMN IF NOT EXISTS sys_query bigint;
CREATE TABLE IF NOT EXISTS redtrack_standin.copy_sessions (
  pid integer PRIMARY KEY, last_copy_id integer NOT NULL DEFAULT -1, last_copy_count bigint NOT NULL DEFAULT 0
);
-- Sessions that ended without the stand-in seeing it (a crash) leave rows behind.
DELETE FROM redtrack_standin.copy_sessions WHERE pid NOT IN (SELECT pid FROM pg_stat_activity);
CREATE TABLE IF NOT EXISTS redtrack_standin.table_meta (
  reloid oid PRIMARY KEY, diststyle text NOT NULL, sort_style text NOT NULL, backup boolean NOT NULL
);
CREATE TABLE IF NOT EXISTS redtrack_standin.column_meta (
  reloid oid, attnum smallint, rs_type text, byte_length integer, encoding text, distkey boolean, sortkey integer,
  PRIMARY KEY (reloid, attnum)
);
-- The design rows of tables dropped since the last start (DROP TABLE leaves them).
DELETE FROM redtrack_standin.column_meta WHERE NOT EXISTS (SELECT 1 FROM pg_class WHERE oid = reloid);
DELETE FROM redtrack_standin.table_meta WHERE NOT EXISTS (SELECT 1 FROM pg_class WHERE oid = reloid);
DO $$ BEGIN
  IF to_regtype('pg_catalog.varbyte') IS NULL THEN CREATE DOMAIN pg_catalog.varbyte AS bytea; END IF;
  IF to_regtype('pg_catalog.super') IS NULL THEN CREATE DOMAIN pg_catalog.super AS jsonb; END IF;
  -- VARCHAR: compared ignoring trailing spaces, stored with them (types.js).
  IF to_regtype('pg_catalog.rs_varchar') IS NULL THEN CREATE DOMAIN pg_catalog.rs_varchar AS bpchar; END IF;
END $$;

-- A VARCHAR keeps its trailing spaces in || and LENGTH on Redshift [r_Character_types];
-- PostgreSQL's bpchar -> text cast drops them, so rs_varchar gets its own || and length().
-- The value as stored: bpchar's output function, not the trimming cast.
CREATE OR REPLACE FUNCTION pg_catalog.rs_varchar_text(pg_catalog.rs_varchar) RETURNS text
  LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE AS $f$ SELECT pg_catalog.textin(pg_catalog.bpcharout($1)) $f$;
CREATE OR REPLACE FUNCTION pg_catalog.rs_varchar_cat(pg_catalog.rs_varchar, pg_catalog.rs_varchar) RETURNS text
  LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE AS $f$ SELECT pg_catalog.rs_varchar_text($1) || pg_catalog.rs_varchar_text($2) $f$;
CREATE OR REPLACE FUNCTION pg_catalog.rs_varchar_cat(pg_catalog.rs_varchar, text) RETURNS text
  LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE AS $f$ SELECT pg_catalog.rs_varchar_text($1) || $2 $f$;
CREATE OR REPLACE FUNCTION pg_catalog.rs_varchar_cat(text, pg_catalog.rs_varchar) RETURNS text
  LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE AS $f$ SELECT $1 || pg_catalog.rs_varchar_text($2) $f$;
CREATE OR REPLACE FUNCTION pg_catalog.length(pg_catalog.rs_varchar) RETURNS integer
  LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE AS $f$ SELECT pg_catalog.length(pg_catalog.rs_varchar_text($1)) $f$;
DO $$ BEGIN
  IF to_regoperator('pg_catalog.||(pg_catalog.rs_varchar,pg_catalog.rs_varchar)') IS NULL THEN
    CREATE OPERATOR pg_catalog.|| (LEFTARG = pg_catalog.rs_varchar, RIGHTARG = pg_catalog.rs_varchar, FUNCTION = pg_catalog.rs_varchar_cat);
    CREATE OPERATOR pg_catalog.|| (LEFTARG = pg_catalog.rs_varchar, RIGHTARG = text, FUNCTION = pg_catalog.rs_varchar_cat);
    CREATE OPERATOR pg_catalog.|| (LEFTARG = text, RIGHTARG = pg_catalog.rs_varchar, FUNCTION = pg_catalog.rs_varchar_cat);
  END IF;
END $$;

DROP VIEW IF EXISTS pg_catalog.stl_load_errors, pg_catalog.sys_load_error_detail, pg_catalog.pg_table_def, pg_catalog.svv_table_info;

CREATE VIEW pg_catalog.stl_load_errors AS
  SELECT userid, slice, tbl, starttime, session, query, filename, line_number, colname, type, col_length,
         position, raw_line, raw_field_value, err_code, err_reason
  FROM redtrack_standin.load_errors;

CREATE VIEW pg_catalog.sys_load_error_detail AS
  SELECT userid AS user_id, COALESCE(sys_query, query::bigint) AS query_id, 0::bigint AS transaction_id, session AS session_id,
         database_name, tbl AS table_id, starttime AS start_time, filename AS file_name, line_number,
         colname AS column_name, type AS column_type, col_length AS column_length, position,
         err_code AS error_code, error_message
  FROM redtrack_standin.load_errors;

CREATE VIEW pg_catalog.pg_table_def AS
  SELECT n.nspname AS schemaname, c.relname AS tablename, a.attname AS "column",
         COALESCE(m.rs_type, CASE WHEN a.atttypid = 'pg_catalog.rs_varchar'::regtype THEN 'character varying'
                                  ELSE pg_catalog.format_type(a.atttypid, a.atttypmod) END) AS type,
         COALESCE(m.encoding, 'none')::character(32) AS encoding,
         COALESCE(m.distkey, false) AS distkey,
         COALESCE(m.sortkey, 0) AS sortkey,
         a.attnotnull AS "notnull"
  FROM pg_catalog.pg_class c
  JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
  JOIN pg_catalog.pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
  LEFT JOIN redtrack_standin.column_meta m ON m.reloid = c.oid AND m.attnum = a.attnum
  WHERE c.relkind IN ('r', 'p') AND pg_catalog.pg_table_is_visible(c.oid)
    AND n.nspname NOT IN ('pg_catalog', 'information_schema', 'redtrack_standin');

-- information_schema.columns as Redshift shows VARCHAR columns (their storage
-- type, rs_varchar, is a domain over bpchar): the stand-in sends queries of
-- information_schema.columns here.
DO $do$
DECLARE cols text;
BEGIN
  SELECT string_agg(CASE a.attname
      WHEN 'data_type' THEN $q$CASE WHEN c.domain_name = 'rs_varchar' THEN 'character varying'::information_schema.character_data ELSE c.data_type END$q$
      WHEN 'character_maximum_length' THEN $q$CASE WHEN c.domain_name = 'rs_varchar' THEN m.byte_length::information_schema.cardinal_number ELSE c.character_maximum_length END$q$
      WHEN 'character_octet_length' THEN $q$CASE WHEN c.domain_name = 'rs_varchar' THEN m.byte_length::information_schema.cardinal_number ELSE c.character_octet_length END$q$
      WHEN 'udt_name' THEN $q$CASE WHEN c.domain_name = 'rs_varchar' THEN 'varchar'::information_schema.sql_identifier ELSE c.udt_name END$q$
      WHEN 'domain_catalog' THEN $q$CASE WHEN c.domain_name = 'rs_varchar' THEN NULL ELSE c.domain_catalog END$q$
      WHEN 'domain_schema' THEN $q$CASE WHEN c.domain_name = 'rs_varchar' THEN NULL ELSE c.domain_schema END$q$
      WHEN 'domain_name' THEN $q$CASE WHEN c.domain_name = 'rs_varchar' THEN NULL ELSE c.domain_name END$q$
      ELSE 'c.' || quote_ident(a.attname) END || ' AS ' || quote_ident(a.attname), ', ' ORDER BY a.attnum)
    INTO cols
    FROM pg_attribute a WHERE a.attrelid = 'information_schema.columns'::regclass AND a.attnum > 0;
  EXECUTE 'CREATE OR REPLACE VIEW redtrack_standin.columns AS SELECT ' || cols
    || ' FROM information_schema.columns c LEFT JOIN redtrack_standin.column_meta m'
    || ' ON m.reloid = to_regclass(quote_ident(c.table_schema) || ''.'' || quote_ident(c.table_name)) AND m.attnum = c.ordinal_position';
END $do$;
GRANT USAGE ON SCHEMA redtrack_standin TO PUBLIC;
GRANT SELECT ON redtrack_standin.columns, redtrack_standin.column_meta TO PUBLIC;

CREATE OR REPLACE FUNCTION redtrack_standin.row_count(rel regclass) RETURNS bigint LANGUAGE plpgsql STABLE AS $f$
DECLARE n bigint;
BEGIN
  EXECUTE format('SELECT count(*) FROM %s', rel) INTO n;
  RETURN n;
END $f$;

CREATE VIEW pg_catalog.svv_table_info AS
  SELECT * FROM (
    SELECT current_database()::text AS database, n.nspname::text AS schema, c.oid AS table_id, c.relname::text AS "table",
      CASE WHEN bool_or(m.encoding IS NOT NULL AND m.encoding <> 'none') THEN 'Y' ELSE 'N' END AS encoded,
      CASE WHEN t.diststyle = 'KEY' THEN 'KEY(' || max(a.attname) FILTER (WHERE m.distkey) || ')'
           WHEN t.diststyle = 'AUTO' OR t.diststyle IS NULL THEN 'AUTO(ALL)'
           ELSE t.diststyle END AS diststyle,
      CASE WHEN t.sort_style = 'interleaved' THEN 'INTERLEAVED'
           ELSE max(a.attname) FILTER (WHERE m.sortkey = 1) END::text AS sortkey1,
      max(CASE WHEN m.rs_type LIKE 'character varying%' THEN m.byte_length END) AS max_varchar,
      max(m.encoding) FILTER (WHERE abs(m.sortkey) = 1)::character(32) AS sortkey1_enc,
      count(*) FILTER (WHERE m.sortkey <> 0)::integer AS sortkey_num,
      ceil(pg_total_relation_size(c.oid) / 1048576.0)::bigint AS size,
      0::numeric(10,4) AS pct_used, 0::bigint AS empty, 0::numeric(5,2) AS unsorted, 0::numeric(5,2) AS stats_off,
      redtrack_standin.row_count(c.oid)::numeric(38,0) AS tbl_rows,
      NULL::numeric(19,2) AS skew_sortkey1, NULL::numeric(19,2) AS skew_rows, NULL::numeric(19,2) AS estimated_visible_rows
    FROM pg_catalog.pg_class c
    JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
    JOIN pg_catalog.pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
    LEFT JOIN redtrack_standin.table_meta t ON t.reloid = c.oid
    LEFT JOIN redtrack_standin.column_meta m ON m.reloid = c.oid AND m.attnum = a.attnum
    WHERE c.relkind = 'r' AND c.relpersistence = 'p'
      AND n.nspname NOT IN ('pg_catalog', 'information_schema', 'redtrack_standin', 'pg_toast')
    GROUP BY n.nspname, c.oid, c.relname, t.diststyle, t.sort_style
  ) info
  WHERE tbl_rows > 0;

CREATE OR REPLACE FUNCTION pg_catalog.pg_last_copy_id() RETURNS integer LANGUAGE sql VOLATILE AS $f$
  SELECT COALESCE((SELECT last_copy_id FROM redtrack_standin.copy_sessions WHERE pid = pg_backend_pid()), -1)
$f$;
CREATE OR REPLACE FUNCTION pg_catalog.pg_last_copy_count() RETURNS bigint LANGUAGE sql VOLATILE AS $f$
  SELECT COALESCE((SELECT last_copy_count FROM redtrack_standin.copy_sessions WHERE pid = pg_backend_pid()), 0)
$f$;
-- The stand-in replaces pg_last_copy_id() in a statement by pg_last_copy_id(<the session's value>):
-- the same column name, and no snapshot in the way.
CREATE OR REPLACE FUNCTION pg_catalog.pg_last_copy_id(v integer) RETURNS integer LANGUAGE sql IMMUTABLE AS 'SELECT v';
CREATE OR REPLACE FUNCTION pg_catalog.pg_last_copy_count(v bigint) RETURNS bigint LANGUAGE sql IMMUTABLE AS 'SELECT v';
CREATE OR REPLACE FUNCTION pg_catalog.getdate() RETURNS timestamp without time zone LANGUAGE sql STABLE AS $f$
  SELECT date_trunc('second', statement_timestamp() AT TIME ZONE 'UTC')
$f$;
CREATE OR REPLACE PROCEDURE pg_catalog.redtrack_raise(code text, message text, detail text, pos integer, params text[])
LANGUAGE plpgsql AS $f$
BEGIN
  RAISE EXCEPTION USING ERRCODE = code, MESSAGE = message, DETAIL = COALESCE(detail, ''),
    CONSTRAINT = 'redtrack_raise:' || pos;
END $f$;
CREATE OR REPLACE FUNCTION pg_catalog.redtrack_analyze_compression(rel regclass)
RETURNS TABLE ("Table" text, "Column" text, "Encoding" text, "Est_reduction_pct" numeric(5,2)) LANGUAGE sql STABLE AS $f$
  SELECT c.relname::text, a.attname::text, COALESCE(m.encoding, 'raw'), 0.00::numeric(5,2)
  FROM pg_class c JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
  LEFT JOIN redtrack_standin.column_meta m ON m.reloid = c.oid AND m.attnum = a.attnum
  WHERE c.oid = rel ORDER BY a.attnum
$f$;
`;

class Catalog {
  // config: {host, port, user}
  constructor(config, log) {
    this.config = config;
    this.log = log;
    this.pools = new Map();
    this.installed = new Map();
  }

  pool(database) {
    let p = this.pools.get(database);
    if (!p) {
      p = new pg.Pool({
        host: this.config.host, port: this.config.port, user: this.config.user, database, max: 4,
        idleTimeoutMillis: 10000, application_name: 'redtrack-redshift-standin',
      });
      p.on('error', (e) => this.log(`catalog connection error (${database}): ${e.message}`));
      this.pools.set(database, p);
    }
    return p;
  }

  // Installs (once per process and database) the system objects.
  ensure(database) {
    let done = this.installed.get(database);
    if (!done) {
      done = (async () => {
        const client = await this.pool(database).connect();
        try {
          await client.query('BEGIN');
          await client.query(INSTALL);
          await client.query('COMMIT');
        } catch (e) {
          await client.query('ROLLBACK').catch(() => {});
          throw e;
        } finally {
          client.release();
        }
      })();
      this.installed.set(database, done);
      done.catch(() => this.installed.delete(database));
    }
    return done;
  }

  query(database, sql, params) {
    return this.pool(database).query(sql, params);
  }

  // A COPY's query ids: {id} in STL views, {sysId} in SYS views.
  async nextQueryIds(database) {
    const r = await this.query(database, "SELECT nextval('redtrack_standin.query_ids')::integer AS id, nextval('redtrack_standin.sys_query_ids')::integer AS sys_id");
    return { id: r.rows[0].id, sysId: r.rows[0].sys_id };
  }

  // A session starts with no COPY (pg_last_copy_id() = -1); the backend pid may be reused.
  resetSession(database, pid) {
    return this.query(database, 'DELETE FROM redtrack_standin.copy_sessions WHERE pid = $1', [pid]);
  }

  setLastCopy(database, pid, id, count) {
    return this.query(database, `INSERT INTO redtrack_standin.copy_sessions (pid, last_copy_id, last_copy_count) VALUES ($1, $2, $3)
      ON CONFLICT (pid) DO UPDATE SET last_copy_id = EXCLUDED.last_copy_id, last_copy_count = EXCLUDED.last_copy_count`, [pid, id, count]);
  }

  // rows: [{userid, tbl, starttime, session, query, filename, line_number, colname, type, col_length,
  //         position, raw_line, raw_field_value, err_code, err_reason}]
  async recordLoadErrors(database, rows) {
    if (!rows.length) return;
    const cols = ['userid', 'slice', 'tbl', 'starttime', 'session', 'query', 'filename', 'line_number', 'colname', 'type',
      'col_length', 'position', 'raw_line', 'raw_field_value', 'err_code', 'err_reason', 'database_name', 'error_message', 'sys_query'];
    // Explicit casts to char(n) truncate like Redshift's fixed-width columns.
    const casts = ['integer', 'integer', 'integer', 'timestamp', 'integer', 'integer', 'character(256)', 'bigint',
      'character(127)', 'character(10)', 'character(10)', 'integer', 'character(1024)', 'character(1024)', 'integer',
      'character(100)', 'character(64)', 'character(512)', 'bigint'];
    const values = [];
    const tuples = rows.map((r) => {
      const row = { ...r, slice: 0, database_name: database, error_message: r.err_reason };
      return `(${cols.map((c, i) => {
        values.push(row[c] === undefined ? null : row[c]);
        return `$${values.length}::${casts[i]}`;
      }).join(', ')})`;
    });
    await this.query(database, `INSERT INTO redtrack_standin.load_errors (${cols.join(', ')}) VALUES ${tuples.join(', ')}`, values);
  }

  async end() {
    await Promise.all([...this.pools.values()].map((p) => p.end().catch(() => {})));
  }
}

module.exports = { Catalog };
