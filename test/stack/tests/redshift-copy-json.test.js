'use strict';
// The Redshift stand-in's COPY ... FORMAT JSON 'auto' | 'auto ignorecase':
// objects matched to columns by name, whatever their order or layout;
// missing names and null as NULL; nested values as JSON text; options that
// only delimited text takes refused; bad objects in stl_load_errors.
// Needs the stack (stack.sh start).

const test = require('node:test');
const assert = require('node:assert/strict');
const kit = require('../redshift/testkit');

const PREFIX = kit.unique('rs-json');
const url = (key) => `s3://${kit.config.bucket}/${PREFIX}/${key}`;
const put = (key, body) => kit.putObject(`${PREFIX}/${key}`, body);
const SCHEMA = kit.unique('rs_json');

let rs;
let wh;

const DDL = (name) => `CREATE TABLE ${name} (id BIGINT NOT NULL, name VARCHAR(16), price DECIMAL(12,2),
  flag BOOLEAN, at TIMESTAMPTZ, doc SUPER, note VARCHAR(64))`;

// Names in any order and case, spread over lines, with escapes, nesting,
// missing names, extra names and null.
const DATA = [
  '{"id": 1, "name": "plain", "price": 12.50, "flag": true, "at": "2024-05-01 12:00:00+00", "doc": {"a": [1, 2]}, "note": "x"}',
  '{"note": "quote \\" and \\\\ and \\n newline", "id": 2, "flag": false, "extra": "ignored"}',
  '  {"id": 3,\n   "name": null,\n   "price": "9999999999.99",\n   "doc": [1, "two"], "note": {"nested": true}}',
  '{"id": 9007199254740993, "name": "ünï😀", "doc": "just a string"}',
].join('\n');

const copy = (table, option, extra = '') => `COPY ${table} FROM '${url('data/manifest.json')}' ${kit.auth.keys} MANIFEST GZIP
  FORMAT AS JSON '${option}' TIMEFORMAT 'auto' REGION '${kit.config.region}' ${extra}`;

test.before(async () => {
  rs = await kit.redshift();
  wh = await kit.warehouse();
  await rs.query(`CREATE SCHEMA "${SCHEMA}"`);
  await rs.query(`SET search_path TO "${SCHEMA}", public`);
  await put('data/part-0001.json.gz', kit.gzip(DATA));
  await put('data/manifest.json', kit.manifest([url('data/part-0001.json.gz')]));
  await put('upper/part.json', '{"ID": 1, "Name": "upper"}\n');
});

test.after(async () => {
  await rs.end().catch(() => {});
  await wh.query(`DROP SCHEMA IF EXISTS "${SCHEMA}" CASCADE`);
  await wh.end();
  await kit.deletePrefix(PREFIX);
});

test("JSON 'auto' loads objects by name: order, lines, escapes, nesting, missing and extra names", async () => {
  await rs.query(DDL('t_auto'));
  await rs.query(copy('t_auto', 'auto'));
  const count = await rs.query('SELECT pg_last_copy_count()');
  assert.equal(count.rows[0].pg_last_copy_count, '4');
  const { rows } = await wh.query(`SELECT id::text, name, price::text, flag, at::text, doc::text, note
    FROM "${SCHEMA}".t_auto ORDER BY id`);
  assert.deepEqual(rows, [
    { id: '1', name: 'plain', price: '12.50', flag: true, at: '2024-05-01 12:00:00+00', doc: '{"a": [1, 2]}', note: 'x' },
    { id: '2', name: null, price: null, flag: false, at: null, doc: null, note: 'quote " and \\ and \n newline' },
    { id: '3', name: null, price: '9999999999.99', flag: null, at: null, doc: '[1, "two"]', note: '{"nested": true}' },
    { id: '9007199254740993', name: 'ünï😀', price: null, flag: null, at: null, doc: '"just a string"', note: null },
  ]);
});

test("'auto' matches names exactly, 'auto ignorecase' ignoring case", async () => {
  await rs.query('CREATE TABLE t_case (id BIGINT, name VARCHAR(16))');
  await rs.query(`COPY t_case FROM '${url('upper/part.json')}' ${kit.auth.keys} JSON 'auto'`);
  let { rows } = await wh.query(`SELECT id, name FROM "${SCHEMA}".t_case`);
  assert.deepEqual(rows, [{ id: null, name: null }], "'auto': ID and Name match no column");
  await rs.query('TRUNCATE t_case');
  await rs.query(`COPY t_case FROM '${url('upper/part.json')}' ${kit.auth.keys} JSON AS 'auto ignorecase'`);
  ({ rows } = await wh.query(`SELECT id::text, name FROM "${SCHEMA}".t_case`));
  assert.deepEqual(rows, [{ id: '1', name: 'upper' }]);
});

test('options of delimited text are refused with JSON, and JSONPaths files are not emulated', async () => {
  await rs.query('CREATE TABLE t_opts (id BIGINT)');
  for (const extra of ['CSV', "DELIMITER ','", "NULL AS '\\0'", 'IGNOREHEADER 1', 'FILLRECORD']) {
    const e = await kit.failure(rs.query(copy('t_opts', 'auto', extra)));
    assert.ok(e, `JSON with ${extra} must fail`);
    assert.match(e.message, /^JSON is not compatible with /);
  }
  const e = await kit.failure(rs.query(copy('t_opts', 's3://bucket/jsonpaths.json')));
  assert.equal(e.code, '0A000');
});

test('a malformed object and a NULL in a NOT NULL column go to stl_load_errors with their line', async () => {
  await rs.query('CREATE TABLE t_bad (id BIGINT NOT NULL, name VARCHAR(4))');
  await put('bad/a.json', '{"id": 1, "name": "ok"}\n{"id": 2, "name": }\n');
  let e = await kit.failure(rs.query(`COPY t_bad FROM '${url('bad/a.json')}' ${kit.auth.keys} JSON 'auto'`));
  assert.ok(e, 'COPY must fail');
  assert.equal(e.message, "Load into table 't_bad' failed.  Check 'stl_load_errors' system table for details.");
  let { rows } = await rs.query(`SELECT line_number, err_code FROM stl_load_errors
    WHERE query = (SELECT max(query) FROM stl_load_errors WHERE session = pg_backend_pid())`);
  assert.deepEqual(rows.map((r) => [r.line_number, r.err_code]), [['2', 1216]]);

  await put('bad/b.json', '{"id": 1}\n\n{"name": "no id"}\n');
  e = await kit.failure(rs.query(`COPY t_bad FROM '${url('bad/b.json')}' ${kit.auth.keys} JSON 'auto'`));
  assert.ok(e, 'COPY must fail');
  ({ rows } = await rs.query(`SELECT line_number, err_code, trim(colname) AS colname FROM stl_load_errors
    WHERE query = (SELECT max(query) FROM stl_load_errors WHERE session = pg_backend_pid())`));
  assert.deepEqual(rows.map((r) => [r.line_number, r.err_code, r.colname]), [['3', 1213, 'id']]);

  await put('bad/c.json', '{"id": 1, "name": "much too long"}\n');
  e = await kit.failure(rs.query(`COPY t_bad FROM '${url('bad/c.json')}' ${kit.auth.keys} JSON 'auto'`));
  assert.ok(e, 'COPY must fail');
  ({ rows } = await rs.query(`SELECT err_code FROM stl_load_errors
    WHERE query = (SELECT max(query) FROM stl_load_errors WHERE session = pg_backend_pid())`));
  assert.deepEqual(rows.map((r) => r.err_code), [1204]);
});
