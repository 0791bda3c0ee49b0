'use strict';
// Every statement the redtrack loader sends (see its usage notes), in the
// loader's order, through the Redshift stand-in: the simple protocol for
// statements without parameters and the extended protocol with $n
// parameters, as libpq's PQsendQuery / PQsendQueryParams do. Includes the
// failure path (ROLLBACK, then stl_load_errors by pg_last_copy_id()).

const test = require('node:test');
const assert = require('node:assert/strict');
const kit = require('../redshift/testkit');

const SCHEMA = kit.unique('Rs Loader').replace(/_/g, ' ');
const PREFIX = kit.unique('rs-loader');
const q = (name) => `"${name.replace(/"/g, '""')}"`;
const S = q(SCHEMA); // a schema name with spaces and upper case, always quoted
const OTHER = kit.unique('rs_loader_other');
let rs;
let wh;

test.before(async () => {
  rs = await kit.redshift();
  wh = await kit.warehouse();
});

test.after(async () => {
  await rs.end().catch(() => {});
  await wh.query(`DROP SCHEMA IF EXISTS ${q(SCHEMA.toLowerCase())} CASCADE`);
  await wh.query(`DROP SCHEMA IF EXISTS ${q(OTHER)} CASCADE`);
  await wh.end();
  await kit.deletePrefix(PREFIX);
});

const gz = (lines) => kit.gzip(`${lines.join('\n')}\n`);
const NUL = '\u0000';

test('the loader\'s statements work in its order, and a failed load leaves its errors behind', async () => {
  // Redshift folds quoted identifiers: the schema is stored in lower case.
  const folded = SCHEMA.toLowerCase();
  assert.deepEqual((await rs.query('SELECT current_schema()')).rows, [{ current_schema: 'public' }]);
  await rs.query(`CREATE SCHEMA IF NOT EXISTS ${S}`);
  await rs.query(`CREATE TABLE IF NOT EXISTS ${S}."redtrack_loads" (replication_id BIGINT NOT NULL, source VARCHAR(1024) NOT NULL,
    target VARCHAR(1024) NOT NULL, strategy VARCHAR(16) NOT NULL, window_first VARCHAR(64), window_last VARCHAR(64),
    rows_loaded BIGINT, deletes_loaded BIGINT, loaded_at TIMESTAMP NOT NULL)`);
  await rs.query(`CREATE TABLE IF NOT EXISTS ${S}."redtrack_loads" (replication_id BIGINT NOT NULL)`); // exists: a notice, no change
  await rs.query(`CREATE TABLE ${S}."Users" ("id" BIGINT NOT NULL ENCODE az64, "name" VARCHAR(65535), "email" VARCHAR(1020),
    "payload" VARCHAR(65535), "avatar" VARBYTE(1024000), "created_at" TIMESTAMPTZ, "price" DECIMAL(12,2),
    "flag" BOOLEAN, "ratio" DOUBLE PRECISION, "birthday" DATE, "tiny" SMALLINT, "uid" CHAR(36), "updated_at" TIMESTAMP, PRIMARY KEY ("id"))
    DISTSTYLE KEY DISTKEY ("id") COMPOUND SORTKEY ("updated_at")`);
  await rs.query(`ALTER TABLE ${S}."Users" ADD COLUMN "nickname" VARCHAR(256)`);

  const cols = await rs.query(`SELECT column_name, data_type, character_maximum_length, numeric_precision, numeric_scale, is_nullable
    FROM information_schema.columns WHERE table_schema = $1 AND table_name = $2 ORDER BY ordinal_position`, [folded, 'users']);
  assert.deepEqual(cols.rows.map((c) => c.column_name), ['id', 'name', 'email', 'payload', 'avatar', 'created_at', 'price', 'flag', 'ratio', 'birthday', 'tiny', 'uid', 'updated_at', 'nickname']);
  assert.equal(cols.rows.find((c) => c.column_name === 'email').character_maximum_length, 1020);
  assert.equal(cols.rows.find((c) => c.column_name === 'id').is_nullable, 'NO');

  const columns = ['id', 'name', 'email', 'payload', 'avatar', 'created_at', 'price', 'flag', 'ratio', 'birthday', 'tiny', 'uid', 'updated_at', 'nickname'];
  const collist = columns.map(q).join(', ');
  const parts = [
    ['1', '"Ann"', '"ann@example.com"', '""', 'cafe', '2024-05-01 12:34:56.123456+00', '1.00', 't', '0.5', '2024-05-01', '1', '"u1"', '2024-05-01 12:00:00', NUL],
    ['1', '"Ann B"', '"ann@example.com"', '"a,b"', NUL, '2024-05-02 00:00:00+00', '2.00', 'f', '1', '2024-05-01', '1', '"u1"', '2024-05-02 12:00:00', '"annie"'],
    ['2', '"Bob ""the"" builder"', NUL, '"x\ny"', '00', '2024-05-03 00:00:00+00', NUL, NUL, NUL, NUL, NUL, NUL, '2024-05-03 12:00:00', NUL],
  ];
  await kit.putObject(`${PREFIX}/42/part-0001.csv.gz`, gz(parts.slice(0, 2).map((r) => r.join(','))));
  await kit.putObject(`${PREFIX}/42/part-0002.csv.gz`, gz(parts.slice(2).map((r) => r.join(','))));
  await kit.putObject(`${PREFIX}/42/manifest.json`, kit.manifest([
    `s3://${kit.config.bucket}/${PREFIX}/42/part-0001.csv.gz`, `s3://${kit.config.bucket}/${PREFIX}/42/part-0002.csv.gz`]));
  const copy = (manifestKey, auth) => `COPY "redtrack_stage_42" (${collist}) FROM 's3://${kit.config.bucket}/${PREFIX}/${manifestKey}'
    ${auth} MANIFEST GZIP CSV QUOTE AS '"' DELIMITER AS ',' NULL AS '\\0' TIMEFORMAT 'auto' DATEFORMAT 'auto'
    REGION '${kit.config.region}' MAXERROR 0 COMPUPDATE OFF STATUPDATE OFF`;
  const target = `${S}."Users"`;

  await rs.query('BEGIN');
  assert.equal((await rs.query(`SELECT 1 FROM ${S}."redtrack_loads" WHERE replication_id = $1 AND source = $2`, [42, 'public.users'])).rowCount, 0);
  await rs.query(`CREATE TEMP TABLE "redtrack_stage_42" (LIKE ${target})`);
  await rs.query(`CREATE TEMP TABLE "redtrack_deletes_42" AS SELECT "id" FROM ${target} WHERE 1 = 0`);
  await rs.query(copy('42/manifest.json', kit.auth.keys));
  assert.deepEqual((await rs.query('SELECT pg_last_copy_count()')).rows, [{ pg_last_copy_count: '3' }]);
  const copyId = (await rs.query('SELECT pg_last_copy_id()')).rows[0].pg_last_copy_id;
  assert.ok(copyId > 0);
  await rs.query(`DELETE FROM ${target} USING "redtrack_deletes_42" WHERE ${target}."id" = "redtrack_deletes_42"."id"`);
  await rs.query(`DELETE FROM ${target} USING "redtrack_stage_42" WHERE ${target}."id" = "redtrack_stage_42"."id"`);
  await rs.query(`INSERT INTO ${target} (${collist}) SELECT ${collist} FROM (SELECT *, ROW_NUMBER() OVER (PARTITION BY "id"
    ORDER BY "updated_at" DESC) AS redtrack_rn FROM "redtrack_stage_42") AS s WHERE redtrack_rn = 1`);
  await rs.query(`INSERT INTO ${S}."redtrack_loads" VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)`,
    [42, 'public.users', 'public.users', 'timed', '2024-05-01', '2024-05-03', 3, 0, '2024-05-04 00:00:00']);
  await rs.query('COMMIT');

  const loaded = await wh.query(`SELECT id, name, payload, encode(avatar, 'hex') AS avatar, nickname FROM "${folded}".users ORDER BY id`);
  assert.deepEqual(loaded.rows, [
    { id: '1', name: 'Ann B', payload: 'a,b', avatar: null, nickname: 'annie' },
    { id: '2', name: 'Bob "the" builder', payload: 'x\ny', avatar: '00', nickname: null },
  ]);

  // Identity-style append, then a full replacement, with IAM_ROLE (temp tables live until the session ends).
  await rs.query('DROP TABLE "redtrack_stage_42", "redtrack_deletes_42"');
  await rs.query('BEGIN');
  await rs.query(`CREATE TEMP TABLE "redtrack_stage_42" (LIKE ${target})`);
  await rs.query(copy('42/manifest.json', kit.auth.role));
  await rs.query(`INSERT INTO ${target} (${collist}) SELECT ${collist} FROM "redtrack_stage_42" AS s
    WHERE NOT EXISTS (SELECT 1 FROM ${target} AS t WHERE t."id" = s."id")`);
  await rs.query(`DELETE FROM ${target}`);
  await rs.query('END');
  await rs.query('DROP TABLE "redtrack_stage_42"');
  assert.equal((await wh.query(`SELECT count(*)::int AS n FROM "${folded}".users`)).rows[0].n, 0);

  // A failed load: the transaction aborts, the loader rolls back and reads the errors.
  await kit.putObject(`${PREFIX}/43/part-0001.csv.gz`, gz(['3,"ok"', 'x,"bad id"'].map((l) => `${l}${',\u0000'.repeat(12)}`)));
  await kit.putObject(`${PREFIX}/43/manifest.json`, kit.manifest([`s3://${kit.config.bucket}/${PREFIX}/43/part-0001.csv.gz`]));
  await rs.query('BEGIN');
  await rs.query(`CREATE TEMP TABLE "redtrack_stage_42" (LIKE ${target})`);
  const e = await kit.failure(rs.query(copy('43/manifest.json', kit.auth.keys)));
  assert.equal(e.message, "Load into table 'redtrack_stage_42' failed.  Check 'stl_load_errors' system table for details.");
  await rs.query('ROLLBACK');
  const errs = await rs.query(`SELECT query, filename, line_number, colname, type, col_length, position, raw_field_value, err_code, err_reason
    FROM stl_load_errors WHERE query = pg_last_copy_id() ORDER BY line_number`);
  assert.equal(errs.rows.length, 1);
  const [err] = errs.rows;
  assert.equal(err.filename.trim(), `s3://${kit.config.bucket}/${PREFIX}/43/part-0001.csv.gz`);
  assert.equal(err.line_number, '2');
  assert.equal(err.colname.trim(), 'id');
  assert.equal(err.type.trim(), 'int8');
  assert.equal(err.raw_field_value.trim(), 'x');
  assert.equal(err.err_code, 1207);
  assert.equal(err.err_reason.trim(), "Invalid digit, Value 'x', Pos 0, Type: Long");
  assert.ok(err.query > copyId);

  // Maintenance, with another schema first on the search_path.
  await rs.query(`CREATE SCHEMA IF NOT EXISTS ${q(OTHER)}`);
  await rs.query(`SET search_path TO ${q(OTHER)}, ${S}, public`);
  const min = await rs.query('SELECT min(sortkey) FROM pg_table_def WHERE schemaname = $1 AND tablename = $2', [folded, 'users']);
  assert.deepEqual(min.rows, [{ min: 0 }]);
  for (const v of ['VACUUM FULL', 'VACUUM REINDEX', 'VACUUM SORT ONLY', 'VACUUM DELETE ONLY']) {
    await rs.query(`${v} ${target}`);
    await rs.query(`${v} ${target} TO 75 PERCENT BOOST`).catch((x) => assert.match(v, /REINDEX/, x.message));
  }
  await rs.query(`ANALYZE ${target}`);
  await rs.query(`ANALYZE ${target} ("id", "updated_at")`);
  await rs.query('SET search_path TO public');
});
