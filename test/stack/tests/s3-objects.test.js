'use strict';
// Object calls through the running S3 stand-in, checked against S3's
// semantics: PUT/GET/HEAD/DELETE, ranges, listings and their paging order,
// DeleteObjects; with awscli and with our own signed requests.

const test = require('node:test');
const assert = require('node:assert/strict');
const crypto = require('node:crypto');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const env = require('../lib/env');
const s3 = require('../lib/s3client');
const xml = require('../lib/xml');

const prefix = `s3-objects-${process.pid}-${Date.now()}/`;
const bucketPath = `/${env.bucket}`;
const put = (key, body, headers) => s3.request({ method: 'PUT', path: s3.objectPath(prefix + key), body, headers });
const get = (key, headers) => s3.request({ path: s3.objectPath(prefix + key), headers });
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 's3-objects-'));

test.after(async () => {
  fs.rmSync(tmp, { recursive: true, force: true });
  await s3.cleanPrefix(prefix);
});

test('awscli cp and ls: the bytes come back exactly', async () => {
  const file = path.join(tmp, 'up.bin');
  const back = path.join(tmp, 'down.bin');
  const data = crypto.randomBytes(300 * 1024);
  fs.writeFileSync(file, data);
  const up = await s3.aws(['s3', 'cp', '--only-show-errors', file, `s3://${env.bucket}/${prefix}cli/up.bin`]);
  assert.equal(up.code, 0, up.stderr);
  const ls = await s3.aws(['s3', 'ls', `s3://${env.bucket}/${prefix}cli/`]);
  assert.equal(ls.code, 0, ls.stderr);
  assert.match(ls.stdout, new RegExp(`\\s${data.length} up\\.bin\\n`));
  const down = await s3.aws(['s3', 'cp', '--only-show-errors', `s3://${env.bucket}/${prefix}cli/up.bin`, back]);
  assert.equal(down.code, 0, down.stderr);
  assert.ok(fs.readFileSync(back).equals(data));
  const head = await s3.awsJson(['s3api', 'head-object', '--bucket', env.bucket, '--key', `${prefix}cli/up.bin`]);
  assert.equal(head.ContentLength, data.length);
  assert.equal(head.ETag, `"${s3.md5(data)}"`);
});

test('PUT then GET and HEAD keep content type and user metadata; odd keys survive', async () => {
  const key = 'odd keys/ümlaut + 100% (copy)!.csv';
  const body = 'a,b\n1,"x\ny"\n';
  const res = await put(key, body, { 'content-type': 'text/csv', 'x-amz-meta-origin': 'redtrack' });
  assert.equal(res.status, 200);
  const got = await get(key);
  assert.equal(got.status, 200);
  assert.equal(got.text, body);
  assert.equal(got.headers['content-type'], 'text/csv');
  assert.equal(got.headers['x-amz-meta-origin'], 'redtrack');
  assert.equal(got.headers.etag, `"${s3.md5(body)}"`);
  const head = await s3.request({ method: 'HEAD', path: s3.objectPath(prefix + key) });
  assert.equal(head.status, 200);
  assert.equal(head.headers['content-length'], String(Buffer.byteLength(body)));
  assert.equal(head.body.length, 0);

  const empty = await put('empty', '');
  assert.equal(empty.status, 200);
  assert.equal(empty.headers.etag, '"d41d8cd98f00b204e9800998ecf8427e"');
  const gotEmpty = await get('empty');
  assert.equal(gotEmpty.status, 200);
  assert.equal(gotEmpty.body.length, 0);
});

test('GET with Range returns exactly the asked bytes, 416 InvalidRange past the end', async () => {
  const body = Buffer.from('0123456789abcdefghij');
  await put('range.txt', body);
  const cases = [
    ['bytes=0-0', '0', 'bytes 0-0/20'],
    ['bytes=10-13', 'abcd', 'bytes 10-13/20'],
    ['bytes=15-', 'fghij', 'bytes 15-19/20'],
    ['bytes=-3', 'hij', 'bytes 17-19/20'],
    ['bytes=18-99', 'ij', 'bytes 18-19/20'],
  ];
  for (const [range, text, contentRange] of cases) {
    const res = await get('range.txt', { range });
    assert.equal(res.status, 206, range);
    assert.equal(res.text, text, range);
    assert.equal(res.headers['content-range'], contentRange, range);
    assert.equal(res.headers['content-length'], String(text.length), range);
  }
  const past = await get('range.txt', { range: 'bytes=20-30' });
  assert.equal(past.status, 416);
  assert.equal(past.code, 'InvalidRange');
  const ignored = await get('range.txt', { range: 'bytes=5-2' }); // not a valid range: S3 sends everything
  assert.equal(ignored.status, 200);
  assert.equal(ignored.text, body.toString());
});

test('keys s3rver cannot store as files (empty, "." or ".." segments) are refused, not mangled', async () => {
  for (const key of ['a/../b', 'a//b', './c']) {
    const res = await s3.request({ method: 'PUT', path: `/${env.bucket}/${prefix}${key.split('/').map(s3.uriEncode).join('/')}`, body: 'x' });
    assert.equal(res.status, 501, key);
    assert.equal(res.code, 'NotImplemented', key);
  }
  const copy = await s3.request({ method: 'PUT', path: s3.objectPath(`${prefix}copy`), headers: { 'x-amz-copy-source': `/${env.bucket}/${prefix}../x` } });
  assert.equal(copy.status, 501);
  assert.equal((await put('folder/', '')).status, 200, 'a trailing slash is a normal S3 "folder" key');
  assert.deepEqual(await s3.listKeys(`${prefix}folder`), [`${prefix}folder/`]);
});

test('missing objects and buckets: 404 NoSuchKey / NoSuchBucket; DELETE is idempotent', async () => {
  const missing = await get('nope');
  assert.equal(missing.status, 404);
  assert.equal(missing.code, 'NoSuchKey');
  assert.match(missing.text, /<RequestId>[0-9A-F]{16}<\/RequestId>/);
  const head = await s3.request({ method: 'HEAD', path: s3.objectPath(`${prefix}nope`) });
  assert.equal(head.status, 404);
  const noBucket = await s3.request({ path: '/no-such-bucket-redtrack', query: { 'list-type': '2' } });
  assert.equal(noBucket.status, 404);
  assert.equal(noBucket.code, 'NoSuchBucket');

  await put('doomed', 'x');
  const del = await s3.request({ method: 'DELETE', path: s3.objectPath(`${prefix}doomed`) });
  assert.equal(del.status, 204);
  assert.equal((await get('doomed')).status, 404);
  const again = await s3.request({ method: 'DELETE', path: s3.objectPath(`${prefix}doomed`) });
  assert.equal(again.status, 204);
});

test('ListObjectsV2 lists in UTF-8 byte order and pages with continuation tokens without loss', async () => {
  const sub = `${prefix}list/`;
  // Orders where a directory walk and S3 disagree (s3rver lists "t.csv.1" before "t.csv").
  const names = ['t.csv', 't.csv.1', 't.csv.bak', 'a-c', 'a/b', 'a/c/d', 'abc', 'abc-x', 'Zeta', 'é'];
  for (const name of names) await s3.request({ method: 'PUT', path: s3.objectPath(sub + name), body: name });
  const expected = names.map((n) => sub + n).sort((a, b) => Buffer.compare(Buffer.from(a), Buffer.from(b)));

  const all = await s3.request({ path: bucketPath, query: { 'list-type': '2', prefix: sub } });
  assert.equal(all.status, 200);
  assert.deepEqual(xml.children(all.text, 'Contents').map((c) => xml.text(c, 'Key')), expected);
  assert.equal(xml.text(all.text, 'KeyCount'), String(names.length));
  assert.equal(xml.text(all.text, 'IsTruncated'), 'false');
  const first = xml.children(all.text, 'Contents')[0];
  assert.equal(xml.text(first, 'Size'), String(Buffer.byteLength(expected[0].slice(sub.length))));
  assert.match(xml.text(first, 'LastModified'), /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);

  const paged = [];
  let token;
  let pages = 0;
  do {
    const query = { 'list-type': '2', prefix: sub, 'max-keys': '3' };
    if (token) query['continuation-token'] = token;
    const res = await s3.request({ path: bucketPath, query });
    assert.equal(res.status, 200);
    const keys = xml.children(res.text, 'Contents').map((c) => xml.text(c, 'Key'));
    token = xml.text(res.text, 'NextContinuationToken');
    assert.equal(xml.text(res.text, 'IsTruncated'), token ? 'true' : 'false');
    assert.ok(keys.length <= 3);
    paged.push(...keys);
    pages += 1;
  } while (token);
  assert.deepEqual(paged, expected);
  assert.equal(pages, Math.ceil(names.length / 3));

  const after = await s3.request({ path: bucketPath, query: { 'list-type': '2', prefix: sub, 'start-after': `${sub}t.csv` } });
  assert.deepEqual(xml.children(after.text, 'Contents').map((c) => xml.text(c, 'Key')), [`${sub}t.csv.1`, `${sub}t.csv.bak`, `${sub}é`]);

  const bad = await s3.request({ path: bucketPath, query: { 'list-type': '2', 'continuation-token': 'garbage' } });
  assert.equal(bad.status, 400);
  assert.equal(bad.code, 'InvalidArgument');
});

test('ListObjectsV2 with a delimiter rolls keys up into CommonPrefixes, which count towards max-keys', async () => {
  const sub = `${prefix}tree/`;
  for (const name of ['x/1', 'x/2', 'y/1', 'z', 'z2']) await s3.request({ method: 'PUT', path: s3.objectPath(sub + name), body: '.' });
  const res = await s3.request({ path: bucketPath, query: { 'list-type': '2', prefix: sub, delimiter: '/' } });
  assert.deepEqual(xml.children(res.text, 'CommonPrefixes').map((c) => xml.text(c, 'Prefix')), [`${sub}x/`, `${sub}y/`]);
  assert.deepEqual(xml.children(res.text, 'Contents').map((c) => xml.text(c, 'Key')), [`${sub}z`, `${sub}z2`]);
  assert.equal(xml.text(res.text, 'KeyCount'), '4');

  const seen = [];
  let token;
  do {
    const query = { 'list-type': '2', prefix: sub, delimiter: '/', 'max-keys': '1' };
    if (token) query['continuation-token'] = token;
    const page = await s3.request({ path: bucketPath, query });
    seen.push(...xml.children(page.text, 'CommonPrefixes').map((c) => xml.text(c, 'Prefix')),
      ...xml.children(page.text, 'Contents').map((c) => xml.text(c, 'Key')));
    token = xml.text(page.text, 'NextContinuationToken');
  } while (token);
  assert.deepEqual(seen, [`${sub}x/`, `${sub}y/`, `${sub}z`, `${sub}z2`]);
});

test('encoding-type=url encodes keys, and awscli pages through list-objects-v2', async () => {
  const sub = `${prefix}enc/`;
  await s3.request({ method: 'PUT', path: s3.objectPath(`${sub}a b+c`), body: '.' });
  const res = await s3.request({ path: bucketPath, query: { 'list-type': '2', prefix: sub, 'encoding-type': 'url' } });
  assert.deepEqual(xml.children(res.text, 'Contents').map((c) => xml.text(c, 'Key')), [`${sub}a+b%2Bc`]);
  assert.equal(xml.text(res.text, 'EncodingType'), 'url');

  const listed = await s3.awsJson(['s3api', 'list-objects-v2', '--bucket', env.bucket, '--prefix', `${prefix}list/`, '--page-size', '2']);
  assert.equal(listed.Contents.length, 10);
  const decoded = await s3.awsJson(['s3api', 'list-objects-v2', '--bucket', env.bucket, '--prefix', sub]);
  assert.deepEqual(decoded.Contents.map((c) => c.Key), [`${sub}a b+c`]);
});

test('DeleteObjects: awscli delete-objects, Quiet mode, and Content-MD5 required', async () => {
  const sub = `${prefix}bulk/`;
  for (const name of ['1', '2', '0003']) await s3.request({ method: 'PUT', path: s3.objectPath(sub + name), body: name });
  const result = await s3.awsJson(['s3api', 'delete-objects', '--bucket', env.bucket, '--delete',
    JSON.stringify({ Objects: [{ Key: `${sub}1` }, { Key: `${sub}0003` }, { Key: `${sub}never-existed` }] })]);
  assert.deepEqual(result.Deleted.map((d) => d.Key).sort(), [`${sub}0003`, `${sub}1`, `${sub}never-existed`]);
  assert.deepEqual(await s3.listKeys(sub), [`${sub}2`]);

  const body = xml.document('Delete', { Quiet: true, Object: [{ Key: `${sub}2` }] });
  const noMd5 = await s3.request({ method: 'POST', path: bucketPath, query: { delete: '' }, body });
  assert.equal(noMd5.status, 400);
  assert.equal(noMd5.code, 'InvalidRequest');
  const quiet = await s3.request({ method: 'POST', path: bucketPath, query: { delete: '' }, body, headers: { 'content-md5': s3.md5(body, 'base64') } });
  assert.equal(quiet.status, 200);
  assert.equal(xml.children(quiet.text, 'Deleted').length, 0);
  assert.deepEqual(await s3.listKeys(sub), []);
});
