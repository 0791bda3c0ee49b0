'use strict';
// COPY as strictly as a real cluster: pg_last_copy_id() and rollbacks
// [PG_LAST_COPY_ID], Serverless's system views [c_intro_system_views,
// SYS_LOAD_ERROR_DETAIL], the 4 MB record limit [r_COPY], MAXERROR reached
// [copy-parameters-data-load], TIME '24:00:00' [r_Datetime_types].
// Needs the stack (stack.sh start).

const test = require('node:test');
const assert = require('node:assert/strict');
const kit = require('../redshift/testkit');

const PREFIX = kit.unique('rs-strict-copy');
const url = (key) => `s3://${kit.config.bucket}/${PREFIX}/${key}`;
const put = (key, body) => kit.putObject(`${PREFIX}/${key}`, body);
const SCHEMA = kit.unique('rs_strict_copy');
const SERVERLESS_APP = kit.unique('serverless_app');
let rs;
let wh;

const copy = (table, key, extra = '') => `COPY ${table} FROM '${url(key)}' ${kit.auth.role} CSV ${extra}`;
const lastId = async (c = rs) => (await c.query('SELECT pg_last_copy_id() AS id')).rows[0].id;

test.before(async () => {
  rs = await kit.redshift();
  wh = await kit.warehouse();
  await rs.query(`CREATE SCHEMA ${SCHEMA}`);
  await rs.query(`SET search_path TO ${SCHEMA}, public`);
  await rs.query('CREATE TABLE pairs (a INT, b VARCHAR(8))');
  await put('good.csv', '1,x\n2,y\n');
  await put('bad.csv', '3,z\nnot-a-number,w\n');
});

test.after(async () => {
  await kit.admin('PUT', '/settings', { application_name: SERVERLESS_APP, serverless: false });
  await rs.end().catch(() => {});
  await wh.query(`DROP SCHEMA IF EXISTS ${SCHEMA} CASCADE`);
  await wh.end();
  await kit.deletePrefix(PREFIX);
});

test('pg_last_copy_id() goes back when the COPY\'s transaction rolls back; a failed COPY\'s id stays', async () => {
  await rs.query(copy('pairs', 'good.csv'));
  const committed = await lastId();
  assert.ok(committed > 0);
  // Rolled back: the id is not updated (it is seen inside the transaction).
  await rs.query('BEGIN');
  await rs.query(copy('pairs', 'good.csv'));
  const inside = (await rs.query('SELECT pg_last_copy_id() AS id, pg_last_copy_count() AS n')).rows[0];
  assert.ok(inside.id > committed);
  assert.equal(inside.n, '2', 'the count is right inside a SERIALIZABLE transaction');
  await rs.query('ROLLBACK');
  assert.equal(await lastId(), committed);
  assert.equal((await rs.query('SELECT pg_last_copy_count() AS n')).rows[0].n, '2');
  // Committed: it is.
  await rs.query('BEGIN');
  await rs.query(copy('pairs', 'good.csv'));
  const kept = await lastId();
  await rs.query('COMMIT');
  assert.equal(await lastId(), kept);
  assert.ok(kept > committed);
  // Several statements in one query string, psql-style.
  const r = await kit.psql(`SET search_path TO ${SCHEMA}; BEGIN; ${copy('pairs', 'good.csv')}; ROLLBACK; SELECT pg_last_copy_id();`);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stdout.trim().split('\n').pop(), '-1', 'a new session: nothing but a rolled-back COPY');
  const both = await kit.psql(`SET search_path TO ${SCHEMA}; BEGIN; ${copy('pairs', 'good.csv')}; COMMIT; BEGIN; ${copy('pairs', 'good.csv')}; SELECT pg_last_copy_id(); ROLLBACK; SELECT pg_last_copy_id();`);
  const [seen, after] = both.stdout.trim().split('\n').slice(-2).map(Number);
  assert.ok(seen > after && after > 0, `inside ${seen}, after the rollback ${after}`);
  // ROLLBACK and the call in one query string (no COPY in it).
  await rs.query('BEGIN');
  await rs.query(copy('pairs', 'good.csv'));
  const one = await rs.query('ROLLBACK; SELECT pg_last_copy_id() AS id');
  assert.equal(one[1].rows[0].id, kept);
  // A COPY that fails on its data: its id stays after the rollback, and its load errors survive it.
  await rs.query('BEGIN');
  assert.ok(await kit.failure(rs.query(copy('pairs', 'bad.csv'))));
  await rs.query('ROLLBACK');
  const failed = await lastId();
  assert.ok(failed > kept);
  const errs = await rs.query('SELECT line_number, err_code FROM stl_load_errors WHERE query = pg_last_copy_id()');
  assert.deepEqual(errs.rows, [{ line_number: '2', err_code: 1207 }]);
  assert.equal((await wh.query(`SELECT count(*)::int AS n FROM ${SCHEMA}.pairs`)).rows[0].n, 6);
});

test('Serverless (a setting): no STL/STV views, load errors in SYS_LOAD_ERROR_DETAIL', async () => {
  const set = await kit.admin('PUT', '/settings', { application_name: SERVERLESS_APP, serverless: true });
  assert.equal(set.status, 200);
  assert.equal((await kit.admin('PUT', '/settings', { serverless: 'yes' })).status, 400);
  const sl = await kit.redshift({ application_name: SERVERLESS_APP });
  try {
    await sl.query(`SET search_path TO ${SCHEMA}, public`);
    for (const view of ['stl_load_errors', 'pg_catalog.stl_load_errors', 'STV_TBL_PERM', 'svl_qlog']) {
      const e = await kit.failure(sl.query(`SELECT count(*) FROM ${view}`));
      assert.ok(e, `${view} must be refused`);
      assert.equal(e.code, '42501');
      assert.equal(e.message, `permission denied for relation ${view.replace(/^pg_catalog\./, '').toLowerCase()}`);
    }
    const e = await kit.failure(sl.query(copy('pairs', 'bad.csv')));
    assert.equal(e.message, "Load into table 'pairs' failed.  Check 'sys_load_error_detail' system table for details.");
    const { rows } = await sl.query(`SELECT query_id, trim(file_name) AS file_name, line_number, trim(column_name) AS column_name,
        error_code, trim(error_message) AS error_message, session_id
      FROM sys_load_error_detail WHERE query_id = pg_last_copy_id()`);
    assert.equal(rows.length, 1);
    assert.equal(rows[0].file_name, url('bad.csv'));
    assert.equal(rows[0].line_number, '2');
    assert.equal(rows[0].column_name, 'a');
    assert.equal(rows[0].error_code, 1207);
    assert.equal(rows[0].session_id, (await sl.query('SELECT pg_backend_pid() AS p')).rows[0].p);
  } finally {
    await sl.end();
  }
  // A provisioned cluster still has them; the SYS view numbers queries its own way.
  const { rows } = await rs.query('SELECT count(*)::int AS n FROM stl_load_errors WHERE query = pg_last_copy_id()');
  assert.equal(rows[0].n, 1);
});

test('a record over 4 MB fails the COPY whatever MAXERROR says', async () => {
  await rs.query('CREATE TABLE wide (a INT, b VARCHAR(65535))');
  const big = 'x'.repeat(4 * 1024 * 1024);
  await put('wide.csv', `1,short\n2,${big}\n3,short\n`);
  const e = await kit.failure(rs.query(copy('wide', 'wide.csv', 'MAXERROR 100')));
  assert.ok(e, 'the COPY must fail');
  assert.equal(e.message, "Load into table 'wide' failed.  Check 'stl_load_errors' system table for details.");
  const errs = await rs.query('SELECT line_number, err_code FROM stl_load_errors WHERE query = pg_last_copy_id()');
  assert.deepEqual(errs.rows, [{ line_number: '2', err_code: 1216 }]);
  assert.equal((await wh.query(`SELECT count(*)::int AS n FROM ${SCHEMA}.wide`)).rows[0].n, 0);
  // Just under the limit loads (the field is longer than VARCHAR's maximum: 1204 under MAXERROR).
  await put('wide-ok.csv', `1,short\n2,${'y'.repeat(4 * 1024 * 1024 - 10)}\n`);
  await rs.query(copy('wide', 'wide-ok.csv', 'MAXERROR 100'));
  assert.equal((await rs.query('SELECT err_code FROM stl_load_errors WHERE query = pg_last_copy_id()')).rows[0].err_code, 1204);
});

test('MAXERROR fails the load when the error count reaches it', async () => {
  await rs.query('CREATE TABLE maxe (a INT)');
  await put('maxe.csv', '1\nx\n2\ny\n3\n');
  for (const [max, ok] of [[0, false], [1, false], [2, false], [3, true]]) {
    const e = await kit.failure(rs.query(copy('maxe', 'maxe.csv', `MAXERROR ${max}`)));
    assert.equal(!e, ok, `MAXERROR ${max} with two bad rows`);
  }
  assert.equal((await wh.query(`SELECT count(*)::int AS n FROM ${SCHEMA}.maxe`)).rows[0].n, 3);
});

test('TIME \'24:00:00\' loads; later times do not', async () => {
  await rs.query('CREATE TABLE tm (t TIME)');
  await put('tm.csv', '24:00:00\n23:59:59.5\n');
  await rs.query(copy('tm', 'tm.csv'));
  assert.deepEqual((await wh.query(`SELECT t::text FROM ${SCHEMA}.tm ORDER BY t`)).rows.map((r) => r.t), ['23:59:59.5', '24:00:00']);
  await put('tm-bad.csv', '24:00:01\n');
  assert.ok(await kit.failure(rs.query(copy('tm', 'tm-bad.csv'))));
  assert.equal((await rs.query('SELECT err_code FROM stl_load_errors WHERE query = pg_last_copy_id()')).rows[0].err_code, 1206);
});
