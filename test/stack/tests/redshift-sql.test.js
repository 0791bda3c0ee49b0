'use strict';
// The Redshift stand-in's SQL rules: transactions (TRUNCATE, VACUUM), DDL
// and its metadata (pg_table_def, svv_table_info), what Redshift refuses
// (and tricky statements it accepts), identifiers, statement splitting.

const test = require('node:test');
const assert = require('node:assert/strict');
const kit = require('../redshift/testkit');

const SCHEMA = kit.unique('rs_sql');
let rs;
let wh;

test.before(async () => {
  rs = await kit.redshift();
  wh = await kit.warehouse();
  await rs.query(`CREATE SCHEMA ${SCHEMA}`);
  await rs.query(`SET search_path TO ${SCHEMA}, public`);
});

test.after(async () => {
  await rs.end().catch(() => {});
  await wh.query(`DROP SCHEMA IF EXISTS ${SCHEMA} CASCADE`);
  await wh.end();
});

const whCount = async (table) => (await wh.query(`SELECT count(*)::int AS n FROM ${SCHEMA}.${table}`)).rows[0].n;

test('TRUNCATE commits the open transaction', async () => {
  await rs.query('CREATE TABLE tr (a INT)');
  await rs.query('CREATE TABLE other (a INT)');
  await rs.query('INSERT INTO tr VALUES (1), (2)');
  await rs.query('BEGIN');
  await rs.query('INSERT INTO other VALUES (42)');
  const res = await rs.query('TRUNCATE tr');
  assert.equal(res.command, 'TRUNCATE');
  await rs.query('ROLLBACK'); // nothing left to roll back
  assert.equal(await whCount('tr'), 0);
  assert.equal(await whCount('other'), 1, 'the insert before TRUNCATE was committed');
  const r = await kit.psql(`BEGIN; INSERT INTO ${SCHEMA}.other VALUES (43); TRUNCATE TABLE ${SCHEMA}.tr; ROLLBACK;`);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stderr, /there is no transaction in progress/, 'the client is outside a transaction after TRUNCATE');
  assert.equal(await whCount('other'), 2);
});

test('VACUUM fails inside a transaction block and is validated like Redshift outside', async () => {
  await rs.query('CREATE TABLE vac (a INT) INTERLEAVED SORTKEY (a)');
  await rs.query('BEGIN');
  const e = await kit.failure(rs.query('VACUUM vac'));
  assert.equal(e.code, '25001');
  assert.equal(e.message, 'VACUUM cannot run inside a transaction block');
  await rs.query('ROLLBACK');
  for (const ok of ['VACUUM', 'VACUUM vac', 'VACUUM FULL vac', 'VACUUM SORT ONLY vac TO 75 PERCENT', 'VACUUM DELETE ONLY vac TO 75 PERCENT BOOST',
    'VACUUM REINDEX vac', 'vacuum recluster vac', 'VACUUM vac TO 100 PERCENT', 'ANALYZE vac', 'ANALYZE vac (a)', 'ANALYZE VERBOSE vac PREDICATE COLUMNS', 'ANALYZE']) {
    const r = await rs.query(ok);
    assert.ok(['VACUUM', 'ANALYZE'].includes(r.command), ok);
  }
  for (const bad of ['VACUUM TO 75 PERCENT', 'VACUUM REINDEX', 'VACUUM REINDEX vac TO 50 PERCENT', 'VACUUM vac TO 101 PERCENT', 'VACUUM BOOST', 'VACUUM REINDEX vac BOOST', 'VACUUM ANALYZE vac']) {
    assert.ok(await kit.failure(rs.query(bad)), `${bad} must fail`);
  }
  const comp = await rs.query('ANALYZE COMPRESSION vac');
  assert.deepEqual(comp.rows.map((r) => [r.Table, r.Column]), [['vac', 'a']]);
  const r = await kit.psql('BEGIN; VACUUM; COMMIT;');
  assert.notEqual(r.code, 0);
  assert.match(r.stderr, /VACUUM cannot run inside a transaction block/);
});

const REFUSED = [
  ['COPY FROM STDIN', 'COPY t FROM STDIN', '0A000'],
  ['COPY TO STDOUT', 'COPY t TO STDOUT', '0A000'],
  ['COPY (query)', 'COPY (SELECT 1) TO STDOUT', '42601'],
  ['COPY to a file', "COPY t TO '/tmp/out.csv'", '0A000'],
  ['COPY from a file', "COPY t FROM '/tmp/in.csv'", '0A000'],
  ['INSERT ... ON CONFLICT', 'INSERT INTO t VALUES (1) ON CONFLICT DO NOTHING', '42601'],
  ['INSERT ... ON CONFLICT (col)', 'INSERT INTO t VALUES (1) ON CONFLICT (a) DO UPDATE SET a = 2', '42601'],
  ['RETURNING', 'INSERT INTO t VALUES (1) RETURNING a', '42601'],
  ['DELETE ... RETURNING', 'DELETE FROM t RETURNING *', '42601'],
  ['CREATE INDEX', 'CREATE INDEX t_a ON t (a)', '0A000'],
  ['CREATE UNIQUE INDEX', 'CREATE UNIQUE INDEX t_a ON t (a)', '0A000'],
  ['CREATE TRIGGER', 'CREATE TRIGGER tg AFTER INSERT ON t FOR EACH ROW EXECUTE FUNCTION f()', '0A000'],
  ['CREATE SEQUENCE', 'CREATE SEQUENCE s', '0A000'],
  ['SERIAL', 'CREATE TABLE x (id SERIAL)', '0A000'],
  ['BIGSERIAL', 'CREATE TABLE x (id BIGSERIAL)', '0A000'],
  ['GENERATED ALWAYS AS IDENTITY', 'CREATE TABLE x (id INT GENERATED ALWAYS AS IDENTITY)', '42601'],
  ['uuid', 'CREATE TABLE x (u UUID)', '0A000'],
  ['json', 'CREATE TABLE x (j JSON)', '0A000'],
  ['jsonb', 'CREATE TABLE x (j JSONB)', '0A000'],
  ['arrays', 'CREATE TABLE x (a INT[])', '0A000'],
  ['bytea', 'CREATE TABLE x (b BYTEA)', '0A000'],
  ['enums', "CREATE TYPE mood AS ENUM ('sad', 'ok')", '0A000'],
  ['money', 'CREATE TABLE x (m MONEY)', '0A000'],
  ['inet', 'CREATE TABLE x (i INET)', '0A000'],
  ['cidr', 'CREATE TABLE x (c CIDR)', '0A000'],
  ['LIKE INCLUDING ALL', 'CREATE TABLE x (LIKE t INCLUDING ALL)', '42601'],
  ['LIKE INCLUDING CONSTRAINTS', 'CREATE TEMP TABLE x (LIKE t INCLUDING CONSTRAINTS)', '42601'],
  ['a cast to uuid', "SELECT 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11'::uuid", '0A000'],
  ['a cast to jsonb', "SELECT CAST('{}' AS jsonb)", '0A000'],
  ['array constructors', 'SELECT ARRAY[1, 2]', '0A000'],
  ['CHECK constraints', 'CREATE TABLE x (a INT CHECK (a > 0))', '0A000'],
];

test('what Redshift refuses is refused, with an error that aborts the transaction', async () => {
  await rs.query('CREATE TABLE t (a INT)');
  for (const [what, sql, code] of REFUSED) {
    const e = await kit.failure(rs.query(sql));
    assert.ok(e, `${what} must be refused`);
    assert.equal(e.code, code, `${what}: ${e.message}`);
    assert.doesNotMatch(e.message, /redtrack_raise|PL\/pgSQL/, what);
    assert.equal(e.where, undefined, `${what}: no PL/pgSQL context`);
  }
  // Through the extended protocol with parameters too.
  const p = await kit.failure(rs.query('INSERT INTO t VALUES ($1) RETURNING a', [5]));
  assert.equal(p.code, '42601');
  assert.equal(p.position, '27');
  await rs.query('BEGIN');
  assert.ok(await kit.failure(rs.query('CREATE INDEX t_a ON t (a)')));
  assert.equal((await kit.failure(rs.query('SELECT 1'))).code, '25P02');
  await rs.query('ROLLBACK');
  const r = await kit.psql(`INSERT INTO ${SCHEMA}.t VALUES (1) RETURNING a`);
  assert.match(r.stderr, /ERROR: {2}syntax error at or near "RETURNING"\nLINE 1: .*\n\s+\^/);
});

test('tricky legitimate statements are not refused', async () => {
  const ok = [
    'CREATE TABLE tricky ("uuid" VARCHAR(36), "returning" INT, "json" VARCHAR, conflict INT, "interval" INT)',
    "INSERT INTO tricky VALUES ('RETURNING', 1, 'ON CONFLICT DO NOTHING', 2, 3)",
    "INSERT INTO tricky SELECT 'x', 2, $$ RETURNING ; ON CONFLICT $$, 3, 4 -- RETURNING\n",
    'SELECT "uuid", "returning", conflict FROM tricky AS t /* ON CONFLICT DO NOTHING; RETURNING */ WHERE t.conflict > 0',
    "SELECT now() - interval '1 day' AS yesterday",
    'SELECT 1 FROM tricky AS conflict JOIN tricky AS o ON conflict.conflict = o.conflict',
    "SELECT 'it''s; here' AS a, E'back\\\\slash; x' AS b, U&'\\0041' AS c",
  ];
  for (const sql of ok) await rs.query(sql);
  assert.deepEqual((await rs.query('SELECT "uuid" AS u FROM tricky ORDER BY 1')).rows, [{ u: 'RETURNING' }, { u: 'x' }]);
});

test('multi-statement queries split on quotes, dollar quotes and comments (psql, simple protocol)', async () => {
  const r = await kit.psql(`SELECT 'a;b'; SELECT $x$c;d$x$; /* ; */ SELECT "semi;colon" FROM (SELECT 1 AS "semi;colon") s; -- ; trailing
    SELECT 'e' || $$;$$`);
  assert.equal(r.code, 0, r.stderr);
  assert.deepEqual(r.stdout.trim().split('\n'), ['a;b', 'c;d', '1', 'e;']);
  const mixed = await kit.psql(`CREATE TABLE ${SCHEMA}.ms (a INT); INSERT INTO ${SCHEMA}.ms VALUES (1); TRUNCATE ${SCHEMA}.ms; INSERT INTO ${SCHEMA}.ms VALUES (2); SELECT count(*) FROM ${SCHEMA}.ms`);
  assert.equal(mixed.code, 0, mixed.stderr);
  assert.equal(mixed.stdout.trim(), '1');
});

test('distribution and sort keys show in pg_table_def and svv_table_info', async () => {
  await rs.query(`CREATE TABLE "Keyed" ("Id" BIGINT NOT NULL ENCODE az64, name VARCHAR(100) ENCODE zstd, ts TIMESTAMP, flag BOOLEAN,
    note TEXT, code VARCHAR, uid CHAR(36), PRIMARY KEY ("Id")) DISTSTYLE KEY DISTKEY ("Id") COMPOUND SORTKEY (ts, "Id") BACKUP NO`);
  await rs.query(`CREATE TABLE inter (a INT SORTKEY DISTKEY, b INT, c INT)`);
  await rs.query('CREATE TABLE inter2 (a INT, b INT, c INT, d DATE) DISTSTYLE ALL INTERLEAVED SORTKEY (b, a, d)');
  await rs.query('CREATE TABLE plain (a INT, b VARCHAR(10)) DISTSTYLE EVEN');
  const def = await rs.query(`SELECT tablename, "column", type, trim(encoding) AS encoding, distkey, sortkey, "notnull"
    FROM pg_table_def WHERE schemaname = $1 ORDER BY tablename, "column"`, [SCHEMA]);
  const get = (t, c) => def.rows.find((r) => r.tablename === t && r.column === c);
  assert.deepEqual(get('keyed', 'id'), { tablename: 'keyed', column: 'id', type: 'bigint', encoding: 'az64', distkey: true, sortkey: 2, notnull: true });
  assert.deepEqual(get('keyed', 'ts'), { tablename: 'keyed', column: 'ts', type: 'timestamp without time zone', encoding: 'none', distkey: false, sortkey: 1, notnull: false });
  assert.equal(get('keyed', 'name').encoding, 'zstd');
  assert.equal(get('keyed', 'note').type, 'character varying(256)', 'TEXT is VARCHAR(256)');
  assert.equal(get('keyed', 'code').type, 'character varying(256)', 'bare VARCHAR is VARCHAR(256)');
  assert.equal(get('keyed', 'uid').type, 'character(36)');
  assert.deepEqual(['b', 'a', 'd', 'c'].map((c) => get('inter2', c).sortkey), [-1, 2, -3, 0], 'interleaved positions alternate in sign');
  assert.equal(get('inter', 'a').distkey, true);
  assert.equal(get('inter', 'a').sortkey, 1);
  const min = await rs.query('SELECT min(sortkey) AS m FROM pg_table_def WHERE schemaname = $1 AND tablename = $2', [SCHEMA, 'inter2']);
  assert.equal(min.rows[0].m, -3);

  // pg_table_def only shows schemas on the search_path.
  await rs.query('SET search_path TO public');
  assert.equal((await rs.query('SELECT count(*)::int AS n FROM pg_table_def WHERE schemaname = $1', [SCHEMA])).rows[0].n, 0);
  await rs.query(`SET search_path TO ${SCHEMA}, public`);

  // svv_table_info shows tables with rows only.
  await rs.query("INSERT INTO keyed VALUES (1, 'x', '2024-01-01', true, 'n', 'c', 'u')");
  await rs.query('INSERT INTO inter2 VALUES (1, 2, 3, current_date)');
  await rs.query('INSERT INTO plain VALUES (1, 2)');
  const info = await rs.query(`SELECT "table", diststyle, sortkey1, sortkey_num, tbl_rows::int AS tbl_rows, table_id > 0 AS has_id, database, size >= 1 AS sized
    FROM svv_table_info WHERE schema = $1 AND "table" IN ('inter2', 'keyed', 'plain', 'inter') ORDER BY "table"`, [SCHEMA]);
  assert.deepEqual(info.rows, [
    { table: 'inter2', diststyle: 'ALL', sortkey1: 'INTERLEAVED', sortkey_num: 3, tbl_rows: 1, has_id: true, database: kit.config.database, sized: true },
    { table: 'keyed', diststyle: 'KEY(id)', sortkey1: 'ts', sortkey_num: 2, tbl_rows: 1, has_id: true, database: kit.config.database, sized: true },
    { table: 'plain', diststyle: 'EVEN', sortkey1: null, sortkey_num: 0, tbl_rows: 1, has_id: true, database: kit.config.database, sized: true },
  ]);
});

test('invalid table designs are refused', async () => {
  for (const bad of [
    'CREATE TABLE bad1 (a INT) DISTSTYLE KEY',
    'CREATE TABLE bad2 (a INT, b INT) DISTSTYLE EVEN DISTKEY (a)',
    'CREATE TABLE bad3 (a INT DISTKEY, b INT DISTKEY)',
    'CREATE TABLE bad4 (a INT) SORTKEY (nope)',
    'CREATE TABLE bad5 (a INT, b INT, c INT, d INT, e INT, f INT, g INT, h INT, i INT) INTERLEAVED SORTKEY (a, b, c, d, e, f, g, h, i)',
    'CREATE TABLE bad6 (a VARCHAR(65536))',
    'CREATE TABLE bad7 (a CHAR(4097))',
    'CREATE TABLE bad8 (a DECIMAL(39, 2))',
    'CREATE TABLE bad9 (a INT ENCODE nonsense)',
    'CREATE TABLE bad10 (a VARCHAR(10) IDENTITY(1, 1))',
    'CREATE TABLE bad11 (LIKE t) DISTSTYLE EVEN',
  ]) {
    assert.ok(await kit.failure(rs.query(bad)), `${bad} must fail`);
  }
  const { rows } = await wh.query("SELECT count(*)::int AS n FROM pg_class WHERE relname LIKE 'bad%' AND relnamespace = $1::regnamespace", [SCHEMA]);
  assert.equal(rows[0].n, 0);
});

test('LIKE copies columns, NOT NULL and keys (defaults only with INCLUDING DEFAULTS); IDENTITY; ALTER TABLE ADD COLUMN; DROP forgets', async () => {
  await rs.query(`CREATE TABLE parent (id BIGINT NOT NULL, name VARCHAR(8) DEFAULT 'anon', seq INT IDENTITY(1, 1), added TIMESTAMP DEFAULT getdate())
    DISTKEY (id) INTERLEAVED SORTKEY (id, name)`);
  await rs.query('BEGIN');
  await rs.query('CREATE TEMP TABLE stage (LIKE parent)');
  await rs.query('CREATE TEMP TABLE stage2 (LIKE parent INCLUDING DEFAULTS)');
  const def = await rs.query(`SELECT tablename, "column", type, distkey, sortkey, "notnull", trim(encoding) AS encoding FROM pg_table_def
    WHERE tablename IN ('stage', 'stage2') ORDER BY tablename, "column"`);
  const stage = def.rows.filter((r) => r.tablename === 'stage');
  assert.deepEqual(stage.map((r) => [r.column, r.type, r.distkey, r.sortkey, r.notnull, r.encoding]), [
    ['added', 'timestamp without time zone', false, 0, false, 'none'],
    ['id', 'bigint', true, -1, true, 'none'],
    ['name', 'character varying(8)', false, 2, false, 'none'],
    ['seq', 'integer', false, 0, true, 'none'],
  ]);
  await rs.query('INSERT INTO stage (id, seq) VALUES (1, 1)');
  await rs.query('INSERT INTO stage2 (id, seq) VALUES (1, 1)');
  assert.deepEqual((await rs.query('SELECT name FROM stage')).rows, [{ name: null }]);
  assert.deepEqual((await rs.query('SELECT name FROM stage2')).rows, [{ name: 'anon' }]);
  // Byte lengths hold on INSERT too: 'ééééé' is 10 bytes.
  const long = await kit.failure(rs.query("INSERT INTO stage (id, seq, name) VALUES (2, 2, 'ééééé')"));
  assert.equal(long.code, '22001');
  assert.equal(long.message, 'value too long for type character varying(8)');
  await rs.query('ROLLBACK');

  await rs.query("INSERT INTO parent (id) VALUES (10), (11)");
  assert.deepEqual((await rs.query('SELECT seq FROM parent ORDER BY id')).rows, [{ seq: 1 }, { seq: 2 }]);
  assert.ok(await kit.failure(rs.query('INSERT INTO parent (id, seq) VALUES (12, 99)')), 'IDENTITY values are generated');

  const add = await rs.query('ALTER TABLE parent ADD COLUMN nickname VARCHAR(256)');
  assert.equal(add.command, 'ALTER');
  await rs.query('ALTER TABLE parent ADD note TEXT ENCODE zstd');
  const cols = await rs.query(`SELECT "column", type, trim(encoding) AS encoding FROM pg_table_def WHERE tablename = 'parent' AND "column" IN ('nickname', 'note') ORDER BY 1`);
  assert.deepEqual(cols.rows, [
    { column: 'nickname', type: 'character varying(256)', encoding: 'lzo' },
    { column: 'note', type: 'character varying(256)', encoding: 'zstd' },
  ]);
  assert.ok(await kit.failure(rs.query('ALTER TABLE parent ADD COLUMN j JSONB')));

  // A table created again under the same name has its own design, never
  // the dropped one's (DROP leaves its rows; a table that reuses the oid
  // replaces them, and nothing joins them to a live table).
  await rs.query('DROP TABLE parent');
  await rs.query('CREATE TABLE parent (id INTEGER ENCODE az64, nickname VARCHAR(10) ENCODE raw)');
  const again = await rs.query(`SELECT "column", type, trim(encoding) AS encoding FROM pg_table_def WHERE tablename = 'parent' ORDER BY 1`);
  assert.deepEqual(again.rows, [
    { column: 'id', type: 'integer', encoding: 'az64' },
    { column: 'nickname', type: 'character varying(10)', encoding: 'none' },
  ]);
  await rs.query('DROP TABLE parent');
});

test('quoted identifiers fold to lower case unless enable_case_sensitive_identifier is on', async () => {
  await rs.query('CREATE TABLE "MiXed" ("ColA" INT)');
  await rs.query('INSERT INTO mixed (cola) VALUES (1)');
  assert.deepEqual((await rs.query('SELECT "COLA" AS "Out" FROM "MIXED"')).rows, [{ out: 1 }]);
  const cols = await rs.query('SELECT column_name FROM information_schema.columns WHERE table_schema = $1 AND table_name = $2', [SCHEMA, 'MiXed']);
  assert.equal(cols.rows.length, 0, 'the catalog holds the folded name, as on Redshift');
  await rs.query('SET enable_case_sensitive_identifier TO true');
  assert.deepEqual((await rs.query('SHOW enable_case_sensitive_identifier')).rows, [{ enable_case_sensitive_identifier: 'on' }]);
  await rs.query('CREATE TABLE "CaseKept" ("X" INT)');
  assert.ok(await kit.failure(rs.query('SELECT * FROM casekept')));
  await rs.query('RESET enable_case_sensitive_identifier');
  assert.equal((await wh.query(`SELECT count(*)::int AS n FROM pg_class WHERE relname = 'CaseKept' AND relnamespace = '${SCHEMA}'::regnamespace`)).rows[0].n, 1);
});
