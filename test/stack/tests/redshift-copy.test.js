'use strict';
// The Redshift stand-in's COPY from S3: exact loads through manifests, NULL
// handling, file selection, authorization, load errors and MAXERROR.
// Needs the stack (stack.sh start). Fixtures live under a unique S3 prefix.

const test = require('node:test');
const assert = require('node:assert/strict');
const kit = require('../redshift/testkit');

const PREFIX = kit.unique('rs-copy');
const url = (key) => `s3://${kit.config.bucket}/${PREFIX}/${key}`;
const put = (key, body) => kit.putObject(`${PREFIX}/${key}`, body);
const SCHEMA = kit.unique('rs_copy');

let rs;
let wh;

// The loader's table (rs_usage.md) and its COPY.
const USERS_DDL = (name) => `CREATE TABLE ${name} ("id" BIGINT NOT NULL ENCODE az64, "name" VARCHAR(65535), "email" VARCHAR(1020),
  "payload" VARCHAR(65535), "avatar" VARBYTE(1024000), "created_at" TIMESTAMPTZ, "price" DECIMAL(12,2),
  "flag" BOOLEAN, "ratio" DOUBLE PRECISION, "birthday" DATE, "tiny" SMALLINT, "uid" CHAR(36), PRIMARY KEY ("id"))
  DISTSTYLE KEY DISTKEY ("id") COMPOUND SORTKEY ("id")`;
const COLUMNS = ['id', 'name', 'email', 'payload', 'avatar', 'created_at', 'price', 'flag', 'ratio', 'birthday', 'tiny', 'uid'];
const loaderCopy = (table, manifestUrl, auth = kit.auth.keys) => `COPY ${table} (${COLUMNS.map((c) => `"${c}"`).join(', ')})
  FROM '${manifestUrl}' ${auth} MANIFEST GZIP CSV QUOTE AS '"' DELIMITER AS ',' NULL AS '\\0'
  TIMEFORMAT 'auto' DATEFORMAT 'auto' REGION '${kit.config.region}' MAXERROR 0 COMPUPDATE OFF STATUPDATE OFF`;

// Rows as the loader writes them: strings quoted (quotes doubled), NULL as a
// bare NUL byte, "" for the empty string, hex for VARBYTE.
const NUL = '\u0000';
const ROWS = [
  [1, 'plain', 'a@example.com', 'x', 'deadbeef', '2024-05-01 12:34:56.123456+00', '12.50', 't', '0.25', '2024-05-01', '7', '0f8fad5b-d9cb-469f-a165-70867728950e'],
  [2, '', '', 'comma, "quotes" and ""double""', '', '1999-12-31 23:59:59+00', '-0.01', 'f', '-1e-05', '1970-01-01', '-32768', 'abc'],
  [3, NUL, NUL, NUL, NUL, NUL, NUL, NUL, NUL, NUL, NUL, NUL],
  [4, 'line\nfeed and\r\ncrlf and \r alone', 'ünïcödé@例え.jp', 'emoji 😀 4-byte 𝄞 and 日本語', '00ff10', '2024-02-29 00:00:00+00', '9999999999.99', 't', '1.5', '2000-02-29', '32767', ''],
  [5, '\\N', 'back\\slash', 'tab\there', '', '2024-05-01 12:34:56.5+00', '0.00', 'f', '0', '2024-12-31', '0', 'z'],
];

function csvField(v, i) {
  if (v === NUL) return NUL;
  if (i === 0 || [5, 6, 7, 8, 9, 10].includes(i)) return String(v); // numbers, dates, booleans unquoted
  return `"${String(v).replace(/"/g, '""')}"`;
}
const csv = (rows) => rows.map((r) => r.map(csvField).join(',')).join('\n') + '\n';

test.before(async () => {
  rs = await kit.redshift();
  wh = await kit.warehouse();
  await rs.query(`CREATE SCHEMA "${SCHEMA}"`);
  await rs.query(`SET search_path TO "${SCHEMA}", public`);
  await put('users/part-0001.csv.gz', kit.gzip(csv(ROWS.slice(0, 3))));
  await put('users/part-0002.csv.gz', kit.gzip(csv(ROWS.slice(3))));
  await put('users/manifest.json', kit.manifest([url('users/part-0001.csv.gz'), url('users/part-0002.csv.gz')]));
});

test.after(async () => {
  await rs.end().catch(() => {});
  await wh.query(`DROP SCHEMA IF EXISTS "${SCHEMA}" CASCADE`);
  await wh.end();
  await kit.deletePrefix(PREFIX);
});

test('a gzip CSV with NULs, empty strings, quotes, commas, CR/LF and 4-byte UTF-8 loads exactly through a manifest', async () => {
  await rs.query(USERS_DDL('"Users"'));
  await rs.query('BEGIN');
  const res = await rs.query(loaderCopy('"Users"', url('users/manifest.json')));
  assert.equal(res.command, 'COPY');
  assert.equal(res.rowCount, null, 'the COPY tag carries no row count');
  const count = await rs.query('SELECT pg_last_copy_count()');
  assert.equal(count.rows[0].pg_last_copy_count, '5');
  await rs.query('COMMIT');

  // Quoted identifiers fold to lower case as on Redshift: "Users" is users.
  const { rows } = await wh.query(`SELECT id::text, name, email, payload, encode(avatar, 'hex') AS avatar, created_at::text AS created_at,
      price::text, flag::text, ratio::text, birthday::text, tiny::text, uid
    FROM "${SCHEMA}".users ORDER BY id`);
  assert.equal(rows.length, ROWS.length);
  const expected = ROWS.map((r) => r.map((v, i) => {
    if (v === NUL) return null;
    if (i === 4) return v === '' ? null : v; // an empty VARBYTE field is NULL (not CHAR/VARCHAR)
    if (i === 5) return v.replace(/\+00$/, '+00').replace(/\.5\+/, '.5+');
    if (i === 7) return v === 't' ? 'true' : 'false';
    if (i === 11) return v.padEnd(36, ' ');
    return String(v);
  }));
  for (let k = 0; k < rows.length; k++) {
    const got = COLUMNS.map((c) => rows[k][c]);
    assert.deepEqual(got, expected[k], `row ${k + 1}`);
  }
});

test('a URL listed twice in a manifest loads twice', async () => {
  await rs.query('CREATE TABLE twice (LIKE "Users")');
  await put('twice.json', kit.manifest([url('users/part-0001.csv.gz'), url('users/part-0001.csv.gz')]));
  await rs.query(loaderCopy('twice', url('twice.json')));
  assert.equal((await rs.query('SELECT pg_last_copy_count()')).rows[0].pg_last_copy_count, '6');
  const { rows } = await wh.query(`SELECT id, count(*)::int AS n FROM "${SCHEMA}".twice GROUP BY id ORDER BY id`);
  assert.deepEqual(rows.map((r) => [r.id, r.n]), [['1', 2], ['2', 2], ['3', 2]]);
});

test('a missing mandatory file fails the COPY; a missing optional one is skipped', async () => {
  await rs.query('CREATE TABLE opt (LIKE "Users")');
  await put('missing.json', kit.manifest([url('users/part-0001.csv.gz'), url('users/nope.csv.gz')]));
  const e = await kit.failure(rs.query(loaderCopy('opt', url('missing.json'))));
  assert.ok(e, 'COPY must fail');
  assert.equal(e.code, 'XX000');
  assert.match(e.message, /S3ServiceException:The specified key does not exist\.,Status 404,Error NoSuchKey/);
  await put('optional.json', kit.manifest([url('users/part-0001.csv.gz'), { url: url('users/nope.csv.gz'), mandatory: false }]));
  await rs.query(loaderCopy('opt', url('optional.json')));
  assert.equal((await rs.query('SELECT count(*)::int AS n FROM opt')).rows[0].n, 3);
  await put('none.json', kit.manifest([{ url: url('users/nope.csv.gz'), mandatory: false }]));
  assert.ok(await kit.failure(rs.query(loaderCopy('opt', url('none.json')))), 'zero files found must fail');
  await put('empty.json', JSON.stringify({ entries: [] }));
  assert.ok(await kit.failure(rs.query(loaderCopy('opt', url('empty.json')))), 'a manifest without entries must fail');
  await put('gz.json', kit.gzip(kit.manifest([url('users/part-0001.csv.gz')])));
  const gz = await kit.failure(rs.query(loaderCopy('opt', url('gz.json'))));
  assert.match(gz.message, /Manifest file is not in correct json format/);
});

test('without MANIFEST the path is a key prefix: t.csv also loads t.csv.1', async () => {
  await rs.query('CREATE TABLE pre (a INT, b VARCHAR(10))');
  await put('prefix/t.csv', '1,one\n');
  await put('prefix/t.csv.1', '2,two\n');
  await put('prefix/u.csv', '3,three\n');
  await rs.query(`COPY pre FROM '${url('prefix/t.csv')}' ${kit.auth.keys} CSV`);
  assert.equal((await rs.query('SELECT pg_last_copy_count()')).rows[0].pg_last_copy_count, '2');
  assert.deepEqual((await wh.query(`SELECT a FROM "${SCHEMA}".pre ORDER BY a`)).rows.map((r) => r.a), [1, 2]);
  const e = await kit.failure(rs.query(`COPY pre FROM '${url('prefix/none')}' ${kit.auth.keys} CSV`));
  assert.match(e.message, /The specified S3 prefix '.*prefix\/none' does not exist/);
});

test('credentials are checked for real at S3', async () => {
  await rs.query('CREATE TABLE creds (a INT, b VARCHAR(10))');
  await put('creds/d.csv', '1,x\n');
  const src = url('creds/d.csv');
  const bad = await kit.failure(rs.query(`COPY creds FROM '${src}' ACCESS_KEY_ID 'AKIDWRONG' SECRET_ACCESS_KEY '${kit.config.secretAccessKey}' CSV`));
  assert.equal(bad.code, 'XX000');
  assert.match(bad.message, /^S3ServiceException:The AWS Access Key Id you provided does not exist in our records\.,Status 403,Error InvalidAccessKeyId/);
  assert.doesNotMatch(`${bad.message} ${bad.detail}`, /redtrack-test-secret|AKIDWRONG/, 'no credentials in errors');
  const wrongSecret = await kit.failure(rs.query(`COPY creds FROM '${src}' ACCESS_KEY_ID '${kit.config.accessKeyId}' SECRET_ACCESS_KEY 'nope' CSV`));
  assert.match(wrongSecret.message, /Error SignatureDoesNotMatch/);
  // Temporary keys need their session token.
  const temp = `ACCESS_KEY_ID '${kit.config.tempAccessKeyId}' SECRET_ACCESS_KEY '${kit.config.tempSecretAccessKey}'`;
  assert.ok(await kit.failure(rs.query(`COPY creds FROM '${src}' ${temp} CSV`)));
  await rs.query(`COPY creds FROM '${src}' ${temp} SESSION_TOKEN '${kit.config.sessionToken}' CSV`);
  await rs.query(`COPY creds FROM '${src}' CREDENTIALS 'aws_access_key_id=${kit.config.tempAccessKeyId};aws_secret_access_key=${kit.config.tempSecretAccessKey};token=${kit.config.sessionToken}' CSV`);
  await rs.query(`COPY creds FROM '${src}' ${kit.auth.role} CSV`);
  await rs.query(`COPY creds FROM '${src}' CREDENTIALS 'aws_iam_role=${kit.config.iamRole}' CSV`);
  assert.equal((await rs.query('SELECT count(*)::int AS n FROM creds')).rows[0].n, 4);
  const role = await kit.failure(rs.query(`COPY creds FROM '${src}' IAM_ROLE 'arn:aws:iam::123456789012:role/someone-else' CSV`));
  assert.match(role.message, /is not authorized to assume IAM Role arn:aws:iam::123456789012:role\/someone-else/);
  const both = await kit.failure(rs.query(`COPY creds FROM '${src}' ${kit.auth.role} ${kit.auth.keys} CSV`));
  assert.equal(both.code, '42601');
  const none = await kit.failure(rs.query(`COPY creds FROM '${src}' CSV`));
  assert.equal(none.code, '42601');
  const region = await kit.failure(rs.query(`COPY creds FROM '${src}' ${kit.auth.role} CSV REGION 'eu-west-1'`));
  assert.match(region.message, /PermanentRedirect/);
});

test('option grammar: any order and case, optional AS; CSV refuses ESCAPE, REMOVEQUOTES and FIXEDWIDTH', async () => {
  await rs.query('CREATE TABLE opts (a INT, b VARCHAR(10))');
  await put('opts/d.csv', 'a|b\n1|"x|y"\n');
  await rs.query(`copy opts from '${url('opts/d.csv')}' ignoreheader as 1 delimiter '|' Csv quote '"' ${kit.auth.role} maxerror as 0 region as '${kit.config.region}' compupdate statupdate off`);
  assert.deepEqual((await rs.query('SELECT b FROM opts')).rows, [{ b: 'x|y' }]);
  for (const opt of ['ESCAPE', 'REMOVEQUOTES', "FIXEDWIDTH 'a:1,b:1'"]) {
    const e = await kit.failure(rs.query(`COPY opts FROM '${url('opts/d.csv')}' ${kit.auth.role} CSV ${opt}`));
    assert.ok(e, `CSV ${opt} must be refused`);
    assert.equal(e.code, '42601', opt);
  }
  const eq = await kit.failure(rs.query(`COPY opts FROM '${url('opts/d.csv')}' ${kit.auth.role} CSV DELIMITER = '|'`));
  assert.equal(eq.code, '42601');
});

test('default NULL is \\N; empty fields; EMPTYASNULL and BLANKSASNULL', async () => {
  await rs.query('CREATE TABLE nullish (a INT, b VARCHAR(10), c VARCHAR(10))');
  await put('nulls/d.csv', '1,\\N,""\n2,,  \n\\N,x,\n');
  await rs.query(`COPY nullish FROM '${url('nulls/d.csv')}' ${kit.auth.role} CSV`);
  let { rows } = await wh.query(`SELECT a, b, c FROM "${SCHEMA}".nullish ORDER BY a NULLS LAST`);
  assert.deepEqual(rows, [{ a: 1, b: null, c: '' }, { a: 2, b: '', c: '  ' }, { a: null, b: 'x', c: '' }]);
  await rs.query('TRUNCATE nullish');
  await rs.query(`COPY nullish FROM '${url('nulls/d.csv')}' ${kit.auth.role} CSV EMPTYASNULL BLANKSASNULL`);
  ({ rows } = await wh.query(`SELECT a, b, c FROM "${SCHEMA}".nullish ORDER BY a NULLS LAST`));
  assert.deepEqual(rows, [{ a: 1, b: null, c: null }, { a: 2, b: null, c: null }, { a: null, b: 'x', c: null }]);
  // NULL AS '\000' is the NUL byte too; then \N is just text.
  await rs.query('TRUNCATE nullish');
  await put('nulls/nul.csv', Buffer.from('1,\u0000,"\\N"\n'));
  await rs.query(`COPY nullish FROM '${url('nulls/nul.csv')}' ${kit.auth.role} CSV NULL AS '\\000'`);
  ({ rows } = await wh.query(`SELECT a, b, c FROM "${SCHEMA}".nullish`));
  assert.deepEqual(rows, [{ a: 1, b: null, c: '\\N' }]);
});

test('TRUNCATECOLUMNS cuts VARCHAR and CHAR on bytes, at a character boundary', async () => {
  await rs.query('CREATE TABLE cut (v VARCHAR(5), c CHAR(3))');
  await put('cut/d.csv', '"ééé","abcdef"\n"abcdefgh","x"\n');
  const e = await kit.failure(rs.query(`COPY cut FROM '${url('cut/d.csv')}' ${kit.auth.role} CSV`));
  assert.match(e.message, /Load into table 'cut' failed/);
  await rs.query(`COPY cut FROM '${url('cut/d.csv')}' ${kit.auth.role} CSV TRUNCATECOLUMNS`);
  const { rows } = await wh.query(`SELECT v, octet_length(v) AS n, c FROM "${SCHEMA}".cut ORDER BY v`);
  assert.deepEqual(rows, [{ v: 'abcde', n: 5, c: 'x  ' }, { v: 'éé', n: 4, c: 'abc' }]);
});

// One bad row per case (after a good one): the error code Redshift records.
const BAD = [
  ['extra column', 'a INT, b VARCHAR(5)', '0,ok', '1,x,extra', 1202, ''],
  ['missing column', 'a INT, b VARCHAR(5)', '0,ok', '1', 1203, ''],
  ['VARCHAR longer than its byte length', 'a INT, b VARCHAR(5)', '0,ok', '1,"ééé"', 1204, 'b'],
  ['integer out of range', 'a SMALLINT, b VARCHAR(5)', '0,ok', '40000,x', 1204, 'a'],
  ['not a number', 'a INT, b VARCHAR(5)', '0,ok', '12x,x', 1207, 'a'],
  ['bad timestamp', 'a INT, t TIMESTAMP', '0,2024-01-01 00:00:00', '1,2024-13-01 00:00:00', 1206, 't'],
  ['bad date', 'a INT, d DATE', '0,2024-01-01', '1,2024-02-30', 1205, 'd'],
  ['invalid UTF-8', 'a INT, b VARCHAR(5)', '0,ok', Buffer.concat([Buffer.from('1,"a'), Buffer.from([0xff]), Buffer.from('b"')]), 1220, 'b'],
  ['multibyte into CHAR', 'a INT, c CHAR(4)', '0,ok', '1,"é"', 1220, 'c'],
  ['NULL into NOT NULL', 'a INT NOT NULL, b VARCHAR(5)', '0,ok', '\\N,x', 1213, 'a'],
  ['empty into NOT NULL', 'a INT NOT NULL, b VARCHAR(5)', '0,ok', ',x', 1213, 'a'],
];

for (const [what, columns, good, bad, code, colname] of BAD) {
  test(`load error ${code} (${what}) goes to stl_load_errors outside the transaction and rolls the load back`, async () => {
    const table = kit.unique('bad').toLowerCase();
    await rs.query(`CREATE TABLE ${table} (${columns})`);
    await put(`bad/${table}.csv`, Buffer.concat([Buffer.from(`${good}\n`), Buffer.from(bad), Buffer.from('\n')]));
    await rs.query('BEGIN');
    const e = await kit.failure(rs.query(`COPY ${table} FROM '${url(`bad/${table}.csv`)}' ${kit.auth.role} CSV`));
    assert.ok(e, 'COPY must fail');
    assert.equal(e.code, 'XX000');
    assert.equal(e.message, `Load into table '${table}' failed.  Check 'stl_load_errors' system table for details.`);
    const aborted = await kit.failure(rs.query('SELECT 1'));
    assert.equal(aborted.code, '25P02', 'the failed COPY aborted the transaction');
    await rs.query('ROLLBACK');
    const { rows } = await rs.query(`SELECT query, trim(filename) AS filename, line_number, trim(colname) AS colname, err_code, trim(err_reason) AS err_reason
      FROM stl_load_errors WHERE query = pg_last_copy_id() ORDER BY line_number`);
    assert.equal(rows.length, 1);
    assert.equal(rows[0].err_code, code);
    assert.equal(rows[0].line_number, '2');
    assert.equal(rows[0].colname, colname);
    assert.equal(rows[0].filename, url(`bad/${table}.csv`));
    // SYS_LOAD_ERROR_DETAIL numbers queries differently from STL views: find the COPY by session.
    const detail = await rs.query(`SELECT query_id, error_code FROM sys_load_error_detail
      WHERE query_id = (SELECT max(query_id) FROM sys_load_error_detail WHERE session_id = pg_backend_pid())`);
    assert.deepEqual(detail.rows.map((r) => r.error_code), [code]);
    assert.notEqual(String(detail.rows[0].query_id), String(rows[0].query), 'SYS query ids differ from STL ones');
    assert.equal((await wh.query(`SELECT count(*)::int AS n FROM "${SCHEMA}".${table}`)).rows[0].n, 0, 'nothing was loaded');
  });
}

test('ACCEPTINVCHARS replaces invalid UTF-8 byte for byte', async () => {
  await rs.query('CREATE TABLE inv (b VARCHAR(10))');
  await put('inv/d.csv', Buffer.concat([Buffer.from('"a'), Buffer.from([0xe2, 0x82]), Buffer.from('z"\n')]));
  await rs.query(`COPY inv FROM '${url('inv/d.csv')}' ${kit.auth.role} CSV ACCEPTINVCHARS AS '^'`);
  assert.deepEqual((await wh.query(`SELECT b FROM "${SCHEMA}".inv`)).rows, [{ b: 'a^^z' }]);
});

test('MAXERROR n skips up to n-1 bad rows and fails at the nth; pg_last_copy_count and pg_last_copy_id', async () => {
  await rs.query('CREATE TABLE maxerr (a INT, b VARCHAR(3))');
  await put('maxerr/d.csv', '1,a\nx,b\n3,c\n4,toolong\n5,e\n');
  const before = (await rs.query('SELECT pg_last_copy_id() AS id')).rows[0].id;
  // The load fails when the error count reaches MAXERROR [copy-parameters-data-load]: 3 tolerates 2.
  await rs.query(`COPY maxerr FROM '${url('maxerr/d.csv')}' ${kit.auth.role} CSV MAXERROR 3`);
  const { rows: [last] } = await rs.query('SELECT pg_last_copy_count() AS n, pg_last_copy_id() AS id');
  assert.equal(last.n, '3');
  assert.ok(last.id > before);
  const errs = await rs.query('SELECT line_number, err_code FROM stl_load_errors WHERE query = $1 ORDER BY line_number', [last.id]);
  assert.deepEqual(errs.rows, [{ line_number: '2', err_code: 1207 }, { line_number: '4', err_code: 1204 }]);
  const e = await kit.failure(rs.query(`COPY maxerr FROM '${url('maxerr/d.csv')}' ${kit.auth.role} CSV MAXERROR 2`));
  assert.ok(e);
  const failed = (await rs.query('SELECT pg_last_copy_count() AS n, pg_last_copy_id() AS id')).rows[0];
  assert.equal(failed.n, '0', 'a failed COPY loaded nothing');
  assert.ok(failed.id > last.id, 'the failed COPY still has an id');
  assert.equal((await wh.query(`SELECT count(*)::int AS n FROM "${SCHEMA}".maxerr`)).rows[0].n, 3);
  // A COPY that fails before loading (bad credentials) keeps the previous id.
  await kit.failure(rs.query(`COPY maxerr FROM '${url('maxerr/d.csv')}' ACCESS_KEY_ID 'x' SECRET_ACCESS_KEY 'y' CSV`));
  assert.equal((await rs.query('SELECT pg_last_copy_id() AS id')).rows[0].id, failed.id);
  // Another session has its own last COPY.
  const other = await kit.redshift({ ssl: false });
  assert.deepEqual((await other.query('SELECT pg_last_copy_id() AS id, pg_last_copy_count() AS n')).rows, [{ id: -1, n: '0' }]);
  await other.end();
});

test('bookkeeping resolves whatever the search_path', async () => {
  await rs.query('SET search_path TO nonexistent_schema');
  const { rows } = await rs.query('SELECT pg_last_copy_id() >= -1 AS ok, (SELECT count(*) >= 0 FROM stl_load_errors) AS ok2');
  assert.deepEqual(rows, [{ ok: true, ok2: true }]);
  await rs.query(`SET search_path TO "${SCHEMA}", public`);
});

test('psql loads through the simple protocol and sees Redshift\'s INFO', async () => {
  const table = `"${SCHEMA}".psqlload`;
  const r = await kit.psql(`CREATE TABLE ${table} (a INT, b VARCHAR(10)); COPY ${table} FROM '${url('creds/d.csv')}' ${kit.auth.role} CSV; SELECT pg_last_copy_count()`);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stdout.trim(), '1');
  assert.match(r.stderr, /INFO: {2}Load into table 'psqlload' completed, 1 record\(s\) loaded successfully\./);
});
