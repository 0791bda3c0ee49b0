'use strict';
// Multipart uploads through the running S3 stand-in: awscli's automatic
// multipart cp, the s3api calls one by one, S3's checks on completion, the
// multipart ETag, and aborts that leave nothing behind.

const test = require('node:test');
const assert = require('node:assert/strict');
const crypto = require('node:crypto');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const env = require('../lib/env');
const s3 = require('../lib/s3client');
const xml = require('../lib/xml');

const MiB = 1024 * 1024;
const prefix = `s3-multipart-${process.pid}-${Date.now()}/`;
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 's3-multipart-'));
const api = (args) => s3.awsJson(['s3api', ...args, '--bucket', env.bucket]);

test.after(async () => {
  fs.rmSync(tmp, { recursive: true, force: true });
  await s3.cleanPrefix(prefix);
});

// S3's multipart ETag for the given part bodies: md5 of the binary part md5s, then "-N".
function multipartEtag(parts) {
  const md5s = Buffer.concat(parts.map((p) => crypto.createHash('md5').update(p).digest()));
  return `"${crypto.createHash('md5').update(md5s).digest('hex')}-${parts.length}"`;
}

async function adminUploadIds() {
  const { json } = await s3.admin('GET', 'uploads');
  return json.uploads.filter((u) => u.key.startsWith(prefix)).map((u) => u.uploadId);
}

async function listedUploadIds() {
  const res = await api(['list-multipart-uploads', '--prefix', prefix]);
  return (res.Uploads || []).map((u) => u.UploadId);
}

test('awscli cp of a 20 MB file goes multipart; bytes and the multipart ETag check out everywhere', async () => {
  const data = crypto.randomBytes(20 * 1000 * 1000);
  const file = path.join(tmp, 'big.bin');
  fs.writeFileSync(file, data);
  const key = `${prefix}big.bin`;
  const before = (await s3.admin('GET', 'stats')).json.requests.by_operation.UploadPart || 0;
  const up = await s3.aws(['s3', 'cp', '--only-show-errors', file, `s3://${env.bucket}/${key}`]);
  assert.equal(up.code, 0, up.stderr);
  const parts = (await s3.admin('GET', 'stats')).json.requests.by_operation.UploadPart - before;
  assert.ok(parts >= 3, `expected at least 3 UploadPart calls, saw ${parts}`);

  // awscli's default: 8 MiB parts.
  const expected = multipartEtag([data.subarray(0, 8 * MiB), data.subarray(8 * MiB, 16 * MiB), data.subarray(16 * MiB)]);
  const head = await api(['head-object', '--key', key]);
  assert.equal(head.ETag, expected);
  assert.equal(head.ContentLength, data.length);
  const got = await s3.request({ path: s3.objectPath(key) });
  assert.equal(got.headers.etag, expected);
  assert.ok(got.body.equals(data));
  const listed = await api(['list-objects-v2', '--prefix', key]);
  assert.equal(listed.Contents[0].ETag, expected);
  assert.equal(listed.Contents[0].Size, data.length);

  const back = path.join(tmp, 'big.back');
  const down = await s3.aws(['s3', 'cp', '--only-show-errors', `s3://${env.bucket}/${key}`, back]);
  assert.equal(down.code, 0, down.stderr);
  assert.ok(fs.readFileSync(back).equals(data));
  assert.deepEqual(await adminUploadIds(), []);
});

test('s3api create / upload-part / list-parts / complete, step by step', async () => {
  const key = `${prefix}steps.csv`;
  const bodies = [crypto.randomBytes(5 * MiB), Buffer.from('the small last part\n')];
  const files = bodies.map((b, i) => {
    const f = path.join(tmp, `part${i + 1}`);
    fs.writeFileSync(f, b);
    return f;
  });
  const created = await api(['create-multipart-upload', '--key', key, '--content-type', 'text/csv']);
  const uploadId = created.UploadId;
  assert.ok(uploadId);
  assert.deepEqual(await listedUploadIds(), [uploadId]);
  assert.deepEqual(await adminUploadIds(), [uploadId]);

  const etags = [];
  for (const [i, file] of files.entries()) {
    const part = await api(['upload-part', '--key', key, `--upload-id=${uploadId}`, '--part-number', String(i + 1), '--body', file]);
    assert.equal(part.ETag, `"${s3.md5(bodies[i])}"`);
    etags.push(part.ETag);
  }
  const parts = await api(['list-parts', '--key', key, `--upload-id=${uploadId}`]);
  assert.deepEqual(parts.Parts.map((p) => [p.PartNumber, p.ETag, p.Size]), [[1, etags[0], 5 * MiB], [2, etags[1], bodies[1].length]]);
  const { json } = await s3.admin('GET', 'uploads');
  assert.equal(json.uploads.find((u) => u.uploadId === uploadId).parts, 2);

  const done = await api(['complete-multipart-upload', '--key', key, `--upload-id=${uploadId}`, '--multipart-upload',
    JSON.stringify({ Parts: etags.map((ETag, i) => ({ ETag, PartNumber: i + 1 })) })]);
  assert.equal(done.ETag, multipartEtag(bodies));
  assert.equal(done.Key, key);
  const head = await api(['head-object', '--key', key]);
  assert.equal(head.ETag, multipartEtag(bodies));
  assert.equal(head.ContentType, 'text/csv');
  assert.ok((await s3.request({ path: s3.objectPath(key) })).body.equals(Buffer.concat(bodies)));
  assert.deepEqual(await listedUploadIds(), []);
  assert.deepEqual(await adminUploadIds(), []);
});

// Our own signed requests, for the error cases.
async function create(key) {
  const res = await s3.request({ method: 'POST', path: s3.objectPath(key), query: { uploads: '' } });
  assert.equal(res.status, 200);
  return xml.text(res.text, 'UploadId');
}

async function uploadPart(key, uploadId, partNumber, body) {
  return s3.request({ method: 'PUT', path: s3.objectPath(key), query: { partNumber: String(partNumber), uploadId }, body });
}

function complete(key, uploadId, parts) {
  const body = xml.document('CompleteMultipartUpload', { Part: parts.map(([PartNumber, ETag]) => ({ PartNumber, ETag })) });
  return s3.request({ method: 'POST', path: s3.objectPath(key), query: { uploadId }, body });
}

test('completion is checked like S3: EntityTooSmall, InvalidPart, InvalidPartOrder, NoSuchUpload', async () => {
  const key = `${prefix}checked.bin`;
  const uploadId = await create(key);
  const small1 = await uploadPart(key, uploadId, 1, 'small part one');
  const small2 = await uploadPart(key, uploadId, 2, 'small part two');
  assert.equal(small1.status, 200);

  const tooSmall = await complete(key, uploadId, [[1, small1.headers.etag], [2, small2.headers.etag]]);
  assert.equal(tooSmall.status, 400);
  assert.equal(tooSmall.code, 'EntityTooSmall');
  assert.match(tooSmall.text, /<MinSizeAllowed>5242880<\/MinSizeAllowed>/);

  const wrongEtag = await complete(key, uploadId, [[1, '"00000000000000000000000000000000"']]);
  assert.equal(wrongEtag.code, 'InvalidPart');
  const missingPart = await complete(key, uploadId, [[3, small1.headers.etag]]);
  assert.equal(missingPart.code, 'InvalidPart');
  const disorder = await complete(key, uploadId, [[2, small2.headers.etag], [1, small1.headers.etag]]);
  assert.equal(disorder.code, 'InvalidPartOrder');
  const malformed = await s3.request({ method: 'POST', path: s3.objectPath(key), query: { uploadId }, body: '<Nope/>' });
  assert.equal(malformed.code, 'MalformedXML');

  // A failed completion leaves the upload in place; one small part alone is a valid object.
  const single = await complete(key, uploadId, [[2, small2.headers.etag]]);
  assert.equal(single.status, 200);
  assert.equal((await s3.request({ path: s3.objectPath(key) })).text, 'small part two');
  assert.equal(xml.text(single.text, 'ETag'), multipartEtag([Buffer.from('small part two')]));

  const gone = await complete(key, uploadId, [[2, small2.headers.etag]]);
  assert.equal(gone.status, 404);
  assert.equal(gone.code, 'NoSuchUpload');
  const bogus = await uploadPart(key, 'no-such-upload', 1, 'x');
  assert.equal(bogus.code, 'NoSuchUpload');
});

test('part numbers must be 1..10000', async () => {
  const key = `${prefix}numbers.bin`;
  const uploadId = await create(key);
  for (const n of [0, 10001, 'x']) {
    const res = await uploadPart(key, uploadId, n, 'x');
    assert.equal(res.status, 400, String(n));
    assert.equal(res.code, 'InvalidArgument', String(n));
  }
  assert.equal((await uploadPart(key, uploadId, 10000, 'x')).status, 200);
  const abort = await s3.request({ method: 'DELETE', path: s3.objectPath(key), query: { uploadId } });
  assert.equal(abort.status, 204);
});

test('abort removes the upload and its parts from ListMultipartUploads and /_admin/uploads', async () => {
  const key = `${prefix}aborted.bin`;
  const file = path.join(tmp, 'abort-part');
  fs.writeFileSync(file, crypto.randomBytes(1000));
  const { UploadId: uploadId } = await api(['create-multipart-upload', '--key', key]);
  await api(['upload-part', '--key', key, `--upload-id=${uploadId}`, '--part-number', '1', '--body', file]);
  assert.ok((await listedUploadIds()).includes(uploadId));
  assert.ok((await adminUploadIds()).includes(uploadId));

  const abort = await s3.aws(['s3api', 'abort-multipart-upload', '--bucket', env.bucket, '--key', key, `--upload-id=${uploadId}`]);
  assert.equal(abort.code, 0, abort.stderr);
  assert.ok(!(await listedUploadIds()).includes(uploadId));
  assert.ok(!(await adminUploadIds()).includes(uploadId));
  assert.ok(!fs.existsSync(path.join(env.stackDir, 's3-multipart', uploadId)), 'the parts are removed from disk');
  const late = await uploadPart(key, uploadId, 2, 'too late');
  assert.equal(late.code, 'NoSuchUpload');
  const again = await s3.request({ method: 'DELETE', path: s3.objectPath(key), query: { uploadId } });
  assert.equal(again.status, 404);
  assert.equal(again.code, 'NoSuchUpload');
  assert.equal((await s3.request({ method: 'HEAD', path: s3.objectPath(key) })).status, 404);
});

test('ListMultipartUploads filters by prefix and pages with max-uploads', async () => {
  const keys = [`${prefix}lmu/b`, `${prefix}lmu/a`, `${prefix}lmu/c`];
  const ids = [];
  for (const key of keys) ids.push(await create(key));
  const page1 = await s3.request({ path: `/${env.bucket}`, query: { uploads: '', prefix: `${prefix}lmu/`, 'max-uploads': '2' } });
  assert.deepEqual(xml.children(page1.text, 'Upload').map((u) => xml.text(u, 'Key')), [`${prefix}lmu/a`, `${prefix}lmu/b`]);
  assert.equal(xml.text(page1.text, 'IsTruncated'), 'true');
  const page2 = await s3.request({
    path: `/${env.bucket}`,
    query: { uploads: '', prefix: `${prefix}lmu/`, 'key-marker': xml.text(page1.text, 'NextKeyMarker'), 'upload-id-marker': xml.text(page1.text, 'NextUploadIdMarker') },
  });
  assert.deepEqual(xml.children(page2.text, 'Upload').map((u) => xml.text(u, 'Key')), [`${prefix}lmu/c`]);
  for (const [i, key] of keys.entries()) {
    assert.equal((await s3.request({ method: 'DELETE', path: s3.objectPath(key), query: { uploadId: ids[i] } })).status, 204);
  }
  assert.deepEqual(await adminUploadIds(), []);
});
