'use strict';
// COPY ... ZSTD through the Redshift stand-in [copy-parameters-file-compression]:
// zstd files load exactly (several frames in a row are one file), and the
// option must match the files, as on Redshift: a zstd file without ZSTD, a
// gzip file with ZSTD, a truncated zstd file, and GZIP with ZSTD all fail.
// Needs the stack (stack.sh start).

const test = require('node:test');
const assert = require('node:assert/strict');
const kit = require('../redshift/testkit');

const PREFIX = kit.unique('rs-zstd');
const SCHEMA = kit.unique('rs_zstd');
const url = (key) => `s3://${kit.config.bucket}/${PREFIX}/${key}`;
const put = (key, body) => kit.putObject(`${PREFIX}/${key}`, body);

let rs;
let wh;

// Rows as the loader writes them, with what is hard for a decoder: a long
// field (many blocks), quotes, CR/LF, 4-byte UTF-8.
const long = 'x'.repeat(65000);
const ROWS = [
  [1, 'plain'],
  [2, 'comma, "quotes" and\r\nCRLF'],
  [3, 'emoji 😀 𝄞 日本語'],
  [4, long],
  ...Array.from({ length: 2000 }, (_, i) => [100 + i, `row ${i} ${'abc'.repeat(i % 50)}`]),
];
const csv = (rows) => rows.map(([id, v]) => `${id},"${v.replace(/"/g, '""')}"`).join('\n') + '\n';
const copy = (table, manifestKey, options) => `COPY ${table} (id, v) FROM '${url(manifestKey)}' ${kit.auth.keys}
  MANIFEST ${options} CSV QUOTE AS '"' DELIMITER AS ',' REGION '${kit.config.region}' MAXERROR 0 COMPUPDATE OFF STATUPDATE OFF`;

async function freshTable(name) {
  await rs.query(`CREATE TABLE ${name} (id BIGINT NOT NULL, v VARCHAR(65535))`);
}

test.before(async () => {
  rs = await kit.redshift();
  wh = await kit.warehouse();
  await rs.query(`CREATE SCHEMA "${SCHEMA}"`);
  await rs.query(`SET search_path TO "${SCHEMA}", public`);
  // Part 1: one frame. Part 2: two frames in a row (the stand-in must read on).
  await put('part-0001.csv.zst', kit.zstd(csv(ROWS.slice(0, 3))));
  await put('part-0002.csv.zst', Buffer.concat([kit.zstd(csv(ROWS.slice(3, 1000))), kit.zstd(csv(ROWS.slice(1000)))]));
  await put('zstd.json', kit.manifest([url('part-0001.csv.zst'), url('part-0002.csv.zst')]));
  await put('part-0001.csv.gz', kit.gzip(csv(ROWS.slice(0, 3))));
  await put('gzip.json', kit.manifest([url('part-0001.csv.gz')]));
  const whole = kit.zstd(csv(ROWS.slice(0, 3)));
  await put('cut.csv.zst', whole.subarray(0, whole.length - 6));
  await put('cut.json', kit.manifest([url('cut.csv.zst')]));
});

test.after(async () => {
  await rs.end().catch(() => {});
  await wh.query(`DROP SCHEMA IF EXISTS "${SCHEMA}" CASCADE`);
  await wh.end();
  await kit.deletePrefix(PREFIX);
});

test('COPY ... ZSTD loads zstd files exactly, frames in a row as one file', async () => {
  await freshTable('z');
  await rs.query(copy('z', 'zstd.json', 'ZSTD'));
  assert.equal((await rs.query('SELECT pg_last_copy_count()')).rows[0].pg_last_copy_count, String(ROWS.length));
  const got = (await wh.query(`SELECT id::int AS id, v FROM "${SCHEMA}".z ORDER BY id`)).rows.map((r) => [r.id, r.v]);
  assert.deepEqual(got, ROWS);
});

test('a zstd file loaded without ZSTD fails: its bytes are read as text', async () => {
  await freshTable('no_option');
  const e = await kit.failure(rs.query(copy('no_option', 'zstd.json', '')));
  assert.ok(e, 'COPY must fail');
  assert.equal((await wh.query(`SELECT count(*)::int AS n FROM "${SCHEMA}".no_option`)).rows[0].n, 0);
});

test('a gzip file loaded with ZSTD fails with a zstd error', async () => {
  await freshTable('wrong');
  const e = await kit.failure(rs.query(copy('wrong', 'gzip.json', 'ZSTD')));
  assert.ok(e, 'COPY must fail');
  assert.equal(e.code, 'XX000');
  assert.match(e.message, /^zstd: error reading s3:\/\/.*part-0001\.csv\.gz/);
});

test('a truncated zstd file fails', async () => {
  await freshTable('cut');
  const e = await kit.failure(rs.query(copy('cut', 'cut.json', 'ZSTD')));
  assert.ok(e, 'COPY must fail');
  assert.match(e.message, /^zstd: error reading s3:\/\/.*cut\.csv\.zst/);
});

test('GZIP and ZSTD together are refused before any file is read', async () => {
  await freshTable('two_codecs');
  const e = await kit.failure(rs.query(copy('two_codecs', 'zstd.json', 'GZIP ZSTD')));
  assert.ok(e, 'COPY must fail');
  assert.equal(e.code, '42601');
  assert.match(e.message, /GZIP and ZSTD/);
});
