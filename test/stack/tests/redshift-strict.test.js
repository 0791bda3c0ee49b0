'use strict';
// The stand-in is as strict as a real cluster where PostgreSQL is lenient:
// Redshift's reserved words [r_pg_keywords], SERIALIZABLE isolation and its
// error 1023 [c_serial_isolation], LOCK [r_LOCK], VARCHAR comparisons that
// ignore trailing spaces [r_Character_types], INTERVAL columns
// [r_interval_data_types]. Needs the stack (stack.sh start).

const test = require('node:test');
const assert = require('node:assert/strict');
const kit = require('../redshift/testkit');

const SCHEMA = kit.unique('rs_strict');
const APP = kit.unique('strict_app'); // connections with this application_name may get other settings
let rs;
let wh;

async function client(extra = {}) {
  const c = await kit.redshift(extra);
  await c.query(`SET search_path TO ${SCHEMA}, public`);
  return c;
}

test.before(async () => {
  rs = await kit.redshift();
  wh = await kit.warehouse();
  await rs.query(`CREATE SCHEMA ${SCHEMA}`);
  await rs.query(`SET search_path TO ${SCHEMA}, public`);
});

test.after(async () => {
  await kit.admin('PUT', '/settings', { application_name: APP, isolation: 'serializable', serverless: false });
  await rs.end().catch(() => {});
  await wh.query(`DROP SCHEMA IF EXISTS ${SCHEMA} CASCADE`);
  await wh.end();
});

// --- reserved words ---

const REFUSED_WORDS = [
  // [statement, the word as written (the first occurrence is the one refused)]
  ['CREATE TABLE rw1 (id INT, tag VARCHAR(10))', 'tag'],
  ['CREATE TABLE rw1 (id INT, "Open" INT, TIMESTAMP TIMESTAMP)', 'TIMESTAMP'],
  ['CREATE TABLE system (a INT)', 'system'],
  ['ALTER TABLE kw ADD COLUMN partition INT', 'partition'],
  ['SELECT tag FROM kw', 'tag'],
  ['SELECT a, open FROM kw', 'open'],
  ['SELECT a AS percent FROM kw', 'percent'],
  ['SELECT new.a FROM kw new', 'new'],
  ['SELECT a FROM kw WHERE old = 1', 'old'],
  ['SELECT a FROM kw GROUP BY snapshot', 'snapshot'],
  ['INSERT INTO kw (a, delta) VALUES (1, 2)', 'delta'],
  ['SELECT a, row_number() OVER (PARTITION BY raw ORDER BY a) FROM kw', 'raw'],
  ['DELETE FROM kw USING kw AS top WHERE kw.a = top.a', 'top'],
  ["COPY kw (a, wallet) FROM 's3://b/k' IAM_ROLE 'arn:aws:iam::1:role/r' CSV", 'wallet'],
];

test('a Redshift reserved word used unquoted as an identifier is a syntax error at its position', async () => {
  await rs.query('CREATE TABLE kw (a INT, "tag" VARCHAR(10), "open" INT, "timestamp" TIMESTAMP)');
  for (const [sql, word] of REFUSED_WORDS) {
    const position = sql.indexOf(word) + 1;
    const e = await kit.failure(rs.query(sql));
    assert.ok(e, `${sql} must be refused`);
    assert.equal(e.code, '42601', sql);
    assert.equal(e.message, `syntax error at or near "${word}"`, sql);
    assert.equal(e.position, String(position), sql);
  }
  // In a transaction the refusal aborts it, like any error.
  await rs.query('BEGIN');
  assert.ok(await kit.failure(rs.query('SELECT tag FROM kw')));
  assert.equal((await kit.failure(rs.query('SELECT 1'))).code, '25P02');
  await rs.query('ROLLBACK');
  // psql shows the caret under the word.
  const r = await kit.psql(`SELECT a, tag FROM ${SCHEMA}.kw`);
  assert.match(r.stderr, /ERROR: {2}syntax error at or near "tag"\nLINE 1: SELECT a, tag FROM .*\n {18}\^/);
});

test('quoted reserved words, and the words where Redshift syntax uses them, are accepted', async () => {
  const ok = [
    'CREATE TABLE rw_ok ("tag" VARCHAR(10) ENCODE raw, "open" INT ENCODE delta, "timestamp" TIMESTAMP WITHOUT TIME ZONE, "Partition" INT) BACKUP NO',
    `INSERT INTO rw_ok ("tag", "open", "timestamp", "partition") VALUES ('x', 1, timestamp '2024-01-01 00:00:00', 2)`,
    'SELECT rw_ok."tag", rw_ok."timestamp", t.tag, t.open FROM rw_ok JOIN rw_ok AS t ON t."open" = rw_ok."open"',
    'SELECT row_number() OVER (PARTITION BY "open" ORDER BY "tag" DESC NULLS LAST) AS n FROM rw_ok',
    "SELECT CAST('2024-01-01' AS timestamp), '1 day'::interval, \"timestamp\" + interval '1 hour' FROM rw_ok",
    "SELECT EXTRACT(epoch FROM timestamp '2024-01-01')",
  ];
  for (const sql of ok) await rs.query(sql);
  assert.deepEqual((await wh.query(`SELECT tag, open, partition FROM ${SCHEMA}.rw_ok`)).rows, [{ tag: 'x', open: 1, partition: 2 }]);
});

test('Redshift-only syntax that uses reserved words is not taken for identifiers', () => {
  // The warehouse (PostgreSQL) has no TOP, MINUS or IGNORE NULLS: the rule is checked on its own.
  const { reservedIdentifier } = require('../redshift/reserved');
  const { tokenize } = require('../redshift/sql');
  for (const sql of ['SELECT TOP 10 a FROM t', 'SELECT a FROM t MINUS SELECT a FROM u', 'SELECT lag(a) IGNORE NULLS OVER (ORDER BY b) FROM t',
    'SELECT x FROM t PIVOT (sum(a) FOR b IN (1, 2))', 'SET TRANSACTION ISOLATION LEVEL SNAPSHOT', 'SELECT a FROM t WHERE d > sysdate - interval \'1 day\'']) {
    assert.equal(reservedIdentifier(tokenize(sql)), null, sql);
  }
  assert.equal(reservedIdentifier(tokenize('SELECT a FROM t MINUS SELECT tag FROM u')).text, 'tag');
});

// --- isolation ---

// Two transactions that each read what the other writes: no serial order
// gives their results, so SERIALIZABLE aborts one [c_serial_isolation].
async function writeSkew(app) {
  await rs.query('CREATE TABLE IF NOT EXISTS skew1 (a INT)');
  await rs.query('CREATE TABLE IF NOT EXISTS skew2 (a INT)');
  const one = await client({ application_name: app });
  const two = await client({ application_name: app });
  try {
    await one.query('BEGIN');
    await two.query('BEGIN');
    await one.query('SELECT count(*) FROM skew1');
    await two.query('SELECT count(*) FROM skew2');
    await one.query('INSERT INTO skew2 VALUES (1)');
    await two.query('INSERT INTO skew1 VALUES (1)');
    const errors = [];
    for (const c of [one, two]) {
      const e = await kit.failure(c.query('COMMIT'));
      if (e) errors.push(e);
      await c.query('ROLLBACK').catch(() => {});
    }
    return errors;
  } finally {
    await one.end();
    await two.end();
  }
}

test('the warehouse is SERIALIZABLE by default and a conflict is Redshift\'s error 1023', async () => {
  const { json } = await kit.admin('GET', '/settings');
  assert.equal(json.defaults.isolation, process.env.REDTRACK_REDSHIFT_ISOLATION || 'serializable');
  await kit.admin('PUT', '/settings', { application_name: APP, isolation: 'serializable' });
  const errors = await writeSkew(APP);
  assert.equal(errors.length, 1, 'one of the two transactions is aborted');
  const [e] = errors;
  assert.equal(e.code, 'XX000');
  assert.equal(e.message, '1023');
  assert.match(e.detail, /^Serializable isolation violation on table - \d+, transactions forming the cycle are: /);
});

test('SNAPSHOT isolation (a setting) lets both transactions commit', async () => {
  const bad = await kit.admin('PUT', '/settings', { application_name: APP, isolation: 'read committed' });
  assert.equal(bad.status, 400);
  const set = await kit.admin('PUT', '/settings', { application_name: APP, isolation: 'snapshot' });
  assert.equal(set.status, 200);
  assert.equal(set.json.by_application[APP].isolation, 'snapshot');
  try {
    assert.deepEqual(await writeSkew(APP), []);
  } finally {
    await kit.admin('PUT', '/settings', { application_name: APP, isolation: 'serializable' });
  }
});

test('LOCK table blocks the other transactions until commit; LOCK ... IN ... MODE is refused', async () => {
  await rs.query('CREATE TABLE locked (a INT)');
  await rs.query('CREATE TABLE locked2 (a INT)');
  const other = await client();
  try {
    await rs.query('BEGIN');
    await rs.query('LOCK locked, locked2');
    let done = false;
    const insert = other.query('INSERT INTO locked VALUES (2)').then(() => { done = true; });
    await kit.sleep(500);
    assert.equal(done, false, 'the other session waits for the lock');
    await rs.query('INSERT INTO locked VALUES (1)');
    await rs.query('COMMIT');
    await insert;
    assert.deepEqual((await wh.query(`SELECT a FROM ${SCHEMA}.locked ORDER BY a`)).rows, [{ a: 1 }, { a: 2 }]);
    // LOCK first, then the snapshot: writers serialise instead of failing with 1023.
    await rs.query('BEGIN');
    await rs.query('LOCK TABLE locked');
    await other.query('BEGIN');
    const second = other.query('LOCK locked').then(() => other.query('SELECT count(*)::int AS n FROM locked'));
    await rs.query('INSERT INTO locked SELECT count(*) + 10 FROM locked');
    await rs.query('COMMIT');
    assert.deepEqual((await second).rows, [{ n: 3 }], 'the second transaction sees the first one\'s row');
    await other.query('INSERT INTO locked SELECT count(*) + 10 FROM locked');
    await other.query('COMMIT');
  } finally {
    await other.end();
  }
  for (const sql of ['LOCK locked IN ACCESS EXCLUSIVE MODE', 'LOCK TABLE locked IN SHARE MODE', 'LOCK locked NOWAIT']) {
    const e = await kit.failure(rs.query(sql));
    assert.ok(e, `${sql} must be refused`);
    assert.equal(e.code, '42601', sql);
    assert.match(e.message, /^syntax error at or near "(IN|NOWAIT)"$/, sql);
  }
});

// --- trailing spaces ---

test('VARCHAR comparisons, grouping, joins and partitions ignore trailing spaces; the values keep them', async () => {
  await rs.query('CREATE TABLE ts_t (k VARCHAR(8), v INT)');
  await rs.query('CREATE TABLE ts_s (k VARCHAR(8), v INT)');
  await rs.query("INSERT INTO ts_t VALUES ('a', 1), ('a ', 2), ('a  ', 3), ('b', 4), (' a', 5)");
  await rs.query("INSERT INTO ts_s VALUES ('a   ', 10)");
  const q = async (sql) => (await rs.query(sql)).rows;
  assert.deepEqual(await q("SELECT v FROM ts_t WHERE k = 'a' ORDER BY v"), [{ v: 1 }, { v: 2 }, { v: 3 }]);
  assert.deepEqual(await q("SELECT v FROM ts_t WHERE k = 'a    ' ORDER BY v"), [{ v: 1 }, { v: 2 }, { v: 3 }]);
  assert.deepEqual(await q('SELECT count(*)::int AS n FROM (SELECT DISTINCT k FROM ts_t) d'), [{ n: 3 }]);
  assert.deepEqual(await q('SELECT count(*)::int AS n FROM ts_t GROUP BY k ORDER BY 1'), [{ n: 1 }, { n: 1 }, { n: 3 }]);
  assert.deepEqual(await q('SELECT ts_t.v FROM ts_t JOIN ts_s ON ts_t.k = ts_s.k ORDER BY 1'), [{ v: 1 }, { v: 2 }, { v: 3 }]);
  assert.deepEqual(await q("SELECT v, row_number() OVER (PARTITION BY k ORDER BY v) AS n FROM ts_t WHERE trim(k) = 'a' ORDER BY v"),
    [{ v: 1, n: '1' }, { v: 2, n: '2' }, { v: 3, n: '3' }, { v: 5, n: '1' }]);
  // The values themselves keep their spaces: OCTET_LENGTH tells them apart.
  assert.deepEqual(await q("SELECT octet_length(k) AS n FROM ts_t WHERE k = 'a' ORDER BY v"), [{ n: 1 }, { n: 2 }, { n: 3 }]);
  assert.deepEqual((await wh.query(`SELECT k FROM ${SCHEMA}.ts_t ORDER BY v`)).rows.map((r) => r.k), ['a', 'a ', 'a  ', 'b', ' a']);
  // || and LENGTH keep them, as Redshift's do.
  assert.deepEqual(await q("SELECT '[' || k || ']' AS b, k || '|' || v AS c, length(k) AS n FROM ts_t WHERE k = 'a' ORDER BY v"),
    [{ b: '[a]', c: 'a|1', n: 1 }, { b: '[a ]', c: 'a |2', n: 2 }, { b: '[a  ]', c: 'a  |3', n: 3 }]);
  // The loader's upsert: DELETE ... USING matches all three.
  await rs.query('DELETE FROM ts_t USING ts_s WHERE ts_t.k = ts_s.k');
  assert.deepEqual(await q('SELECT v FROM ts_t ORDER BY v'), [{ v: 4 }, { v: 5 }]);
  // The byte length still holds, and information_schema shows VARCHAR(8).
  const e = await kit.failure(rs.query("INSERT INTO ts_t VALUES ('abcdefgh ', 1)"));
  assert.equal(e && e.code, '22001');
  const cols = await rs.query(`SELECT data_type, character_maximum_length FROM information_schema.columns
    WHERE table_schema = $1 AND table_name = 'ts_t' AND column_name = 'k'`, [SCHEMA]);
  assert.deepEqual(cols.rows, [{ data_type: 'character varying', character_maximum_length: 8 }]);
  assert.deepEqual((await rs.query("SELECT type FROM pg_table_def WHERE tablename = 'ts_t' AND \"column\" = 'k'")).rows,
    [{ type: 'character varying(8)' }]);
});

// --- INTERVAL ---

test('INTERVAL is a Redshift column type, with its qualifiers', async () => {
  await rs.query('CREATE TABLE iv (a INTERVAL, b INTERVAL YEAR TO MONTH, c INTERVAL DAY TO SECOND)');
  await rs.query("INSERT INTO iv VALUES (interval '1 day 2 hours', interval '1 year 2 months', interval '3 days 4 seconds')");
  const { rows } = await wh.query(`SELECT a::text, b::text, c::text FROM ${SCHEMA}.iv`);
  assert.deepEqual(rows, [{ a: '1 day 02:00:00', b: '1 year 2 mons', c: '3 days 00:00:04' }]);
});
