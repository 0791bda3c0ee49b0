'use strict';
// The Redshift stand-in as a server: startup (TLS, md5 password), what it
// reports, cancel requests, the extended protocol and the admin API's
// fault controls, seen through real clients (psql and node-postgres) and
// checked against the warehouse behind it.

const test = require('node:test');
const assert = require('node:assert/strict');
const net = require('node:net');
const kit = require('../redshift/testkit');

const SCHEMA = kit.unique('rs_proto');
const PREFIX = kit.unique('rs-proto');
let wh;

test.before(async () => {
  wh = await kit.warehouse();
  await wh.query(`CREATE SCHEMA ${SCHEMA}`);
  await kit.admin('DELETE', '/faults');
});

test.after(async () => {
  await kit.admin('DELETE', '/faults');
  await wh.query(`DROP SCHEMA ${SCHEMA} CASCADE`);
  await wh.end();
  await kit.deletePrefix(PREFIX);
});

// A fresh table in the test schema (created in the warehouse directly).
async function table(name, columns = 'a INT') {
  await wh.query(`CREATE TABLE ${SCHEMA}.${name} (${columns})`);
  return `${SCHEMA}.${name}`;
}

const count = async (t) => (await wh.query(`SELECT count(*)::int AS n FROM ${t}`)).rows[0].n;

test('password authentication: md5, wrong password is FATAL 28P01', async () => {
  const e = await kit.failure(kit.redshift({ password: 'wrong' }));
  assert.equal(e.code, '28P01');
  assert.equal(e.message, 'password authentication failed for user "awsuser"');
  const other = await kit.failure(kit.redshift({ user: 'someone' }));
  assert.equal(other.code, '28P01');
  const r = await kit.psql('SELECT 1', { extra: 'password=nope sslmode=disable' });
  assert.notEqual(r.code, 0);
  assert.match(r.stderr, /FATAL: {2}password authentication failed for user "awsuser"/);
});

test('TLS with sslmode=require, plain connections too; server_version is 8.0.2 as on Redshift', async () => {
  const tls = await kit.psql('\\conninfo', { extra: 'sslmode=require' });
  assert.equal(tls.code, 0, tls.stderr);
  assert.match(tls.stdout, /SSL connection \(protocol: TLS/);
  const plain = await kit.psql('\\conninfo', { extra: 'sslmode=disable' });
  assert.equal(plain.code, 0, plain.stderr);
  assert.doesNotMatch(plain.stdout, /SSL connection/);
  const version = await kit.psql('\\echo :SERVER_VERSION_NAME');
  assert.equal(version.stdout.trim(), '8.0.2');
  const rs = await kit.redshift();
  assert.equal(rs.connection.stream.encrypted, true);
  assert.deepEqual((await rs.query('SELECT current_database() AS db, current_user AS u')).rows, [{ db: 'dev', u: 'awsuser' }]);
  await rs.end();
});

test('GSSENCRequest is answered N', async () => {
  const answer = await new Promise((resolve, reject) => {
    const socket = net.connect({ host: kit.config.host, port: kit.config.port }, () => {
      const pkt = Buffer.alloc(8);
      pkt.writeInt32BE(8, 0);
      pkt.writeInt32BE(80877104, 4);
      socket.write(pkt);
    });
    socket.once('data', (d) => { resolve(d.toString('latin1')); socket.destroy(); });
    socket.on('error', reject);
  });
  assert.equal(answer, 'N');
});

test('cancel reaches the client\'s warehouse backend (psql ^C and a CancelRequest)', async () => {
  const started = Date.now();
  const p = kit.psqlProcess('SELECT pg_sleep(30)');
  await kit.sleep(1000);
  p.child.kill('SIGINT');
  const r = await p.done;
  assert.match(r.stderr, /canceling statement due to user request/);
  assert.ok(Date.now() - started < 10000);

  const rs = await kit.redshift({ ssl: false });
  const running = kit.failure(rs.query('SELECT pg_sleep(30)'));
  await kit.sleep(500);
  await new Promise((resolve, reject) => {
    const socket = net.connect({ host: kit.config.host, port: kit.config.port }, () => {
      const pkt = Buffer.alloc(16);
      pkt.writeInt32BE(16, 0);
      pkt.writeInt32BE(80877102, 4);
      pkt.writeInt32BE(rs.processID, 8);
      pkt.writeInt32BE(rs.secretKey, 12);
      socket.end(pkt);
    });
    socket.on('close', resolve);
    socket.on('error', reject);
  });
  const e = await running;
  assert.equal(e.code, '57014');
  assert.deepEqual((await rs.query('SELECT 1 AS one')).rows, [{ one: 1 }], 'the session goes on');
  await rs.end();
});

test('extended protocol: named prepared statements, parameters, errors in the middle', async () => {
  const t = await table('ext', 'id BIGINT, name VARCHAR(20)');
  const rs = await kit.redshift();
  const insert = { name: 'ins', text: `INSERT INTO ${t} VALUES ($1, $2)` };
  await rs.query({ ...insert, values: [1, 'one'] });
  await rs.query({ ...insert, values: [2, 'two'] });
  const bad = await kit.failure(rs.query({ name: 'bad', text: `INSERT INTO ${t} VALUES ($1, $2) RETURNING id`, values: [3, 'x'] }));
  assert.equal(bad.code, '42601');
  await rs.query({ ...insert, values: [3, 'three'] });
  const { rows } = await rs.query({ name: 'sel', text: `SELECT name FROM ${t} WHERE id >= $1 ORDER BY id`, values: [2] });
  assert.deepEqual(rows, [{ name: 'two' }, { name: 'three' }]);
  // Emulated statements in the extended protocol.
  assert.equal((await rs.query({ text: `TRUNCATE ${t}` })).command, 'TRUNCATE');
  assert.deepEqual((await rs.query('SHOW query_group')).rows, [{ query_group: 'default' }]);
  await rs.end();
  assert.equal(await count(t), 0);
});

test('fault: kill after COMMIT — committed in the warehouse, the client sees a dropped connection', async () => {
  const t = await table('after_commit');
  const rs = await kit.redshift();
  await kit.admin('PUT', '/faults', { rules: [{ match: '^COMMIT', when: 'after', action: 'kill', count: 1 }] });
  await rs.query('BEGIN');
  await rs.query(`INSERT INTO ${t} VALUES (1)`);
  const e = await kit.failure(rs.query('COMMIT'));
  assert.ok(e, 'the client must see an error');
  assert.match(e.message, /Connection terminated|ECONNRESET|connection/i);
  assert.equal(await count(t), 1, 'the commit happened');
  const { json } = await kit.admin('GET', '/faults');
  assert.deepEqual(json.rules, [], 'the rule fired once and disappeared');
});

test('fault: kill before COPY — nothing reaches the warehouse', async () => {
  const t = await table('before_copy', 'a INT, b VARCHAR(5)');
  await kit.putObject(`${PREFIX}/d.csv`, '1,x\n2,y\n');
  const rs = await kit.redshift();
  await kit.admin('PUT', '/faults', { rules: [{ match: '^COPY', action: 'kill' }] });
  const e = await kit.failure(rs.query(`COPY ${t} FROM 's3://${kit.config.bucket}/${PREFIX}/d.csv' ${kit.auth.role} CSV`));
  assert.ok(e);
  assert.equal(await count(t), 0);
  // The next connection works.
  const again = await kit.redshift();
  await again.query(`COPY ${t} FROM 's3://${kit.config.bucket}/${PREFIX}/d.csv' ${kit.auth.role} CSV`);
  assert.equal(await count(t), 2);
  await again.end();
});

test('fault: error before (aborts the transaction) and after (done, but the client sees an error); count', async () => {
  const t = await table('errors');
  const rs = await kit.redshift();
  await kit.admin('PUT', '/faults', { rules: [{ match: 'INSERT INTO .*errors', when: 'before', action: 'error', count: 2 }] });
  await rs.query('BEGIN');
  const e = await kit.failure(rs.query(`INSERT INTO ${t} VALUES (1)`));
  assert.equal(e.code, 'XX000');
  assert.equal(e.message, 'injected fault');
  assert.equal((await kit.failure(rs.query('SELECT 1'))).code, '25P02');
  await rs.query('ROLLBACK');
  assert.ok(await kit.failure(rs.query(`INSERT INTO ${t} VALUES (2)`)), 'count 2: fires again');
  await rs.query(`INSERT INTO ${t} VALUES (3)`);
  assert.equal(await count(t), 1);
  await kit.admin('PUT', '/faults', { rules: [{ match: 'INSERT INTO .*errors', when: 'after', action: 'error' }] });
  const after = await kit.failure(rs.query(`INSERT INTO ${t} VALUES (4)`));
  assert.equal(after.message, 'injected fault');
  assert.equal(await count(t), 2, 'the statement ran');
  await rs.end();
});

test('fault: delay before and after', async () => {
  const rs = await kit.redshift();
  await kit.admin('PUT', '/faults', { rules: [{ match: 'SELECT 11', action: 'delay:400' }, { match: 'SELECT 12', when: 'after', action: 'delay:400' }] });
  for (const sql of ['SELECT 11 AS n', 'SELECT 12 AS n']) {
    const started = Date.now();
    await rs.query(sql);
    assert.ok(Date.now() - started >= 380, sql);
  }
  await rs.end();
});

test('fault: during COPY — killed after rows reached the warehouse, which rolls back', async () => {
  const t = await table('during', 'a INT, b VARCHAR(100)');
  const rows = Array.from({ length: 5000 }, (_, i) => `${i},"${'x'.repeat(40)}"`).join('\n');
  await kit.putObject(`${PREFIX}/big.csv.gz`, kit.gzip(`${rows}\n`));
  const rs = await kit.redshift();
  const before = (await kit.admin('GET', '/stats')).json.rowsLoaded;
  await kit.admin('PUT', '/faults', { rules: [{ match: '^COPY', when: 'during', action: 'kill' }] });
  await rs.query('BEGIN');
  const e = await kit.failure(rs.query(`COPY ${t} FROM 's3://${kit.config.bucket}/${PREFIX}/big.csv.gz' ${kit.auth.role} GZIP CSV`));
  assert.ok(e);
  await kit.sleep(300);
  assert.equal(await count(t), 0);
  const { json } = await kit.admin('GET', '/stats');
  // The counter is the server's, shared with any other client: this COPY's
  // 5000 rows must not be in it.
  assert.ok(json.rowsLoaded - before < 5000, 'the COPY never completed');
  assert.ok(json.faultsFired['during:kill'] >= 1);
  const lingering = await wh.query("SELECT count(*)::int AS n FROM pg_stat_activity WHERE query LIKE 'COPY%during%FROM STDIN'");
  assert.equal(lingering.rows[0].n, 0, 'the warehouse session is gone');
});

test('outage: down_ms refuses connections, kill_existing drops current ones', async () => {
  const rs = await kit.redshift();
  await kit.admin('PUT', '/faults', { down_ms: 1500, kill_existing: true });
  const dropped = await kit.failure(rs.query('SELECT 1'));
  assert.ok(dropped, 'the existing connection was dropped');
  assert.equal(await kit.refuses(kit.config.port), true);
  const e = await kit.failure(kit.redshift());
  assert.match(e.code || e.message, /ECONNREFUSED/);
  await kit.sleep(1800);
  const back = await kit.redshift();
  await back.query('SELECT 1');
  await back.end();
  // DELETE /faults ends an outage early.
  await kit.admin('PUT', '/faults', { down_ms: 60000 });
  assert.equal(await kit.refuses(kit.config.port), true);
  await kit.admin('DELETE', '/faults');
  assert.equal(await kit.refuses(kit.config.port), false);
});

test('admin API: statement log with credentials redacted, stats, bad input', async () => {
  await kit.admin('DELETE', '/statements');
  const rs = await kit.redshift();
  await kit.failure(rs.query(`COPY nowhere FROM 's3://${kit.config.bucket}/x' ACCESS_KEY_ID 'AKIDSECRETLOOKING' SECRET_ACCESS_KEY 'very-secret-value' SESSION_TOKEN 'tok-123' CSV`));
  await kit.failure(rs.query("COPY nowhere FROM 's3://b/x' CREDENTIALS 'aws_access_key_id=AKIDX;aws_secret_access_key=very-secret-value;token=tok-123' CSV"));
  const unterminated = await kit.failure(rs.query("COPY nowhere FROM 's3://b/x' ACCESS_KEY_ID 'AKIDX' SECRET_ACCESS_KEY 'very-secret-value"));
  assert.equal(unterminated.code, '42601');
  await rs.end();
  const { json } = await kit.admin('GET', '/statements');
  const texts = json.statements.map((s) => s.text).join('\n');
  assert.match(texts, /COPY nowhere FROM/);
  assert.doesNotMatch(texts, /very-secret-value|tok-123|AKIDSECRETLOOKING|AKIDX/);
  assert.ok(json.statements.every((s) => Number.isInteger(s.connection) && !Number.isNaN(Date.parse(s.time))));
  const stats = (await kit.admin('GET', '/stats')).json;
  for (const k of ['connections', 'statements', 'copies', 'rowsLoaded', 'loadErrors', 'faultsFired']) assert.ok(k in stats, k);
  assert.equal((await kit.admin('PUT', '/faults', { rules: [{ match: '(', action: 'kill' }] })).status, 400);
  assert.equal((await kit.admin('PUT', '/faults', { rules: [{ match: 'x', action: 'explode' }] })).status, 400);
  assert.equal((await kit.admin('PUT', '/faults', { rules: [{ match: 'x', when: 'later', action: 'kill' }] })).status, 400);
  assert.equal((await kit.admin('GET', '/nope')).status, 404);
  const fs = require('node:fs');
  for (const name of ['redshift.log', 'warehouse.log']) {
    const log = fs.readFileSync(`${kit.config.stackDir}/logs/${name}`, 'utf8');
    assert.doesNotMatch(log, /very-secret-value|tok-123/, `${name} has no credentials`);
  }
});
