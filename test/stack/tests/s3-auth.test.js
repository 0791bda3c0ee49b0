'use strict';
// Authentication through the running S3 stand-in: what a correct client
// gets, and S3's answer to each kind of broken request (needs `stack.sh start`).

const test = require('node:test');
const assert = require('node:assert/strict');
const crypto = require('node:crypto');
const fs = require('node:fs');
const os = require('node:os');
const pathModule = require('node:path');
const env = require('../lib/env');
const s3 = require('../lib/s3client');

const prefix = `s3-auth-${process.pid}-${Date.now()}/`;
const path = (name) => s3.objectPath(prefix + name);

test.after(() => s3.cleanPrefix(prefix));

test('a correctly signed upload and download round-trip the bytes exactly', async () => {
  const body = crypto.randomBytes(70000);
  const put = await s3.request({ method: 'PUT', path: path('exact.bin'), body });
  assert.equal(put.status, 200);
  assert.equal(put.headers.etag, `"${s3.md5(body)}"`);
  assert.match(put.headers['x-amz-request-id'], /^[0-9A-F]{16}$/);
  const get = await s3.request({ path: path('exact.bin') });
  assert.equal(get.status, 200);
  assert.ok(get.body.equals(body));
});

test('wrong secret: 403 SignatureDoesNotMatch with the canonical request S3 computed', async () => {
  const res = await s3.request({ path: path('exact.bin'), credentials: { accessKeyId: env.accessKeyId, secretAccessKey: 'not-the-secret' } });
  assert.equal(res.status, 403);
  assert.equal(res.code, 'SignatureDoesNotMatch');
  assert.match(res.text, /<CanonicalRequest>GET\n\/redtrack-test\/s3-auth-/);
  assert.match(res.text, /<RequestId>[0-9A-F]{16}<\/RequestId>/);
  const stats = await s3.admin('GET', 'stats');
  assert.ok(stats.json.auth_failures.SignatureDoesNotMatch >= 1);
});

test('unknown access key: 403 InvalidAccessKeyId', async () => {
  const res = await s3.request({ path: path('exact.bin'), credentials: { accessKeyId: 'AKIDNOBODY', secretAccessKey: 'x' } });
  assert.equal(res.status, 403);
  assert.equal(res.code, 'InvalidAccessKeyId');
  assert.match(res.text, /<AWSAccessKeyId>AKIDNOBODY<\/AWSAccessKeyId>/);
});

test('request time more than 15 minutes off: 403 RequestTimeTooSkewed; 10 minutes is fine', async () => {
  const skewed = await s3.request({ path: path('exact.bin'), signingDate: new Date(Date.now() - 16 * 60000) });
  assert.equal(skewed.status, 403);
  assert.equal(skewed.code, 'RequestTimeTooSkewed');
  const ahead = await s3.request({ path: path('exact.bin'), signingDate: new Date(Date.now() + 16 * 60000) });
  assert.equal(ahead.code, 'RequestTimeTooSkewed');
  const slightly = await s3.request({ path: path('exact.bin'), signingDate: new Date(Date.now() - 10 * 60000) });
  assert.equal(slightly.status, 200);
});

test('a body changed after signing: 400 XAmzContentSHA256Mismatch and nothing is stored', async () => {
  const signed = Buffer.from('the bytes that were signed');
  const sent = Buffer.from('the bytes that were sent!!');
  const res = await s3.request({ method: 'PUT', path: path('tampered.txt'), body: signed, sendBody: sent });
  assert.equal(res.status, 400);
  assert.equal(res.code, 'XAmzContentSHA256Mismatch');
  assert.match(res.text, new RegExp(`<ClientComputedContentSHA256>${s3.sha256hex(signed)}<`));
  assert.match(res.text, new RegExp(`<S3ComputedContentSHA256>${s3.sha256hex(sent)}<`));
  const get = await s3.request({ path: path('tampered.txt') });
  assert.equal(get.status, 404);
  assert.equal(get.code, 'NoSuchKey');
});

test('UNSIGNED-PAYLOAD is accepted and stores the bytes sent', async () => {
  const body = Buffer.from('unsigned payload\n');
  const put = await s3.request({ method: 'PUT', path: path('unsigned.txt'), body, payloadHash: 'UNSIGNED-PAYLOAD' });
  assert.equal(put.status, 200);
  assert.equal((await s3.request({ path: path('unsigned.txt') })).text, 'unsigned payload\n');
});

test('Content-MD5 and x-amz-checksum-* are verified: 400 BadDigest / InvalidDigest', async () => {
  const body = Buffer.from('digest me');
  const good = await s3.request({ method: 'PUT', path: path('md5.txt'), body, headers: { 'content-md5': s3.md5(body, 'base64') } });
  assert.equal(good.status, 200);
  const bad = await s3.request({ method: 'PUT', path: path('md5.txt'), body, headers: { 'content-md5': s3.md5('other', 'base64') } });
  assert.equal(bad.code, 'BadDigest');
  const junk = await s3.request({ method: 'PUT', path: path('md5.txt'), body, headers: { 'content-md5': 'abc' } });
  assert.equal(junk.code, 'InvalidDigest');
  const crc = await s3.request({ method: 'PUT', path: path('md5.txt'), body, headers: { 'x-amz-checksum-crc32': 'AAAAAA==' } });
  assert.equal(crc.status, 400);
  assert.equal(crc.code, 'BadDigest');
  assert.match(crc.message, /CRC32/);
  // CRC32('digest me') = 0xb1e3f81d (from Python's zlib, not from the code under test)
  const goodCrc = await s3.request({ method: 'PUT', path: path('md5.txt'), body, headers: { 'x-amz-checksum-crc32': 'seP4HQ==' } });
  assert.equal(goodCrc.status, 200, goodCrc.text);
});

test('the JavaScript CRC32 (Node < 20.15 has no zlib.crc32) matches the standard check values', () => {
  const { crc32js } = require('../s3/body');
  assert.equal(crc32js(Buffer.from('123456789')), 0xcbf43926);
  assert.equal(crc32js(Buffer.alloc(0)), 0);
  assert.equal(crc32js(Buffer.alloc(32)), 0x190a55ad);
  const data = crypto.randomBytes(100003);
  // continued over chunks as the upload stream feeds it
  assert.equal(crc32js(data.subarray(7), crc32js(data.subarray(0, 7))), crc32js(data));
  if (require('node:zlib').crc32) assert.equal(crc32js(data), require('node:zlib').crc32(data));
});

test('temporary keys work only with their session token', async () => {
  const ok = await s3.request({ path: path('exact.bin'), credentials: s3.TEMP_KEYS });
  assert.equal(ok.status, 200);
  const noToken = await s3.request({ path: path('exact.bin'), credentials: { ...s3.TEMP_KEYS, sessionToken: undefined } });
  assert.equal(noToken.status, 403);
  assert.equal(noToken.code, 'InvalidAccessKeyId');
  const wrongToken = await s3.request({ path: path('exact.bin'), credentials: { ...s3.TEMP_KEYS, sessionToken: 'stale-token' } });
  assert.equal(wrongToken.status, 400);
  assert.equal(wrongToken.code, 'InvalidToken');
  const tokenOnPermanentKey = await s3.request({ path: path('exact.bin'), credentials: { ...s3.KEYS, sessionToken: env.sessionToken } });
  assert.equal(tokenOnPermanentKey.code, 'InvalidToken');
});

test('no or malformed authentication: AccessDenied, AuthorizationHeaderMalformed, unsigned x-amz headers refused', async () => {
  const anonymous = await s3.request({ path: path('exact.bin'), credentials: null });
  assert.equal(anonymous.status, 403);
  assert.equal(anonymous.code, 'AccessDenied');
  const head = await s3.request({ method: 'HEAD', path: path('exact.bin'), credentials: null });
  assert.equal(head.status, 403);
  assert.equal(head.body.length, 0); // S3 sends no body with HEAD errors

  const signed = await s3.request({ path: path('exact.bin') }); // sanity: the same request signed works
  assert.equal(signed.status, 200);
  const malformed = await s3.request({
    path: path('exact.bin'), credentials: null,
    headers: { authorization: `AWS4-HMAC-SHA256 Credential=${env.accessKeyId}/20260101/us-east-1/s3/aws4_request`, 'x-amz-content-sha256': 'UNSIGNED-PAYLOAD', 'x-amz-date': '20260101T000000Z' },
  });
  assert.equal(malformed.status, 400);
  assert.equal(malformed.code, 'AuthorizationHeaderMalformed');

  // A header added after signing: S3 refuses x-amz-* headers the signature does not cover.
  const late = await s3.request({ method: 'PUT', path: path('meta.txt'), body: 'x', lateHeaders: { 'x-amz-meta-late': '1' } });
  assert.equal(late.status, 403);
  assert.equal(late.code, 'AccessDenied');
  assert.match(late.text, /<HeadersNotSigned>x-amz-meta-late<\/HeadersNotSigned>/);
  const covered = await s3.request({ method: 'PUT', path: path('meta.txt'), body: 'x', headers: { 'x-amz-meta-late': '1' } });
  assert.equal(covered.status, 200);
});

test('awscli: wrong secret fails with SignatureDoesNotMatch, temporary credentials work', async () => {
  const wrong = await s3.aws(['s3', 'ls', `s3://${env.bucket}/${prefix}`], { AWS_SECRET_ACCESS_KEY: 'wrong', AWS_MAX_ATTEMPTS: '1' });
  assert.notEqual(wrong.code, 0);
  assert.match(wrong.stderr, /SignatureDoesNotMatch/);
  const temp = await s3.aws(['s3', 'ls', `s3://${env.bucket}/${prefix}`], {
    AWS_ACCESS_KEY_ID: env.tempAccessKeyId, AWS_SECRET_ACCESS_KEY: env.tempSecretAccessKey, AWS_SESSION_TOKEN: env.sessionToken,
  });
  assert.equal(temp.code, 0, temp.stderr);
  assert.match(temp.stdout, /exact\.bin/);
  const tempNoToken = await s3.aws(['s3', 'ls', `s3://${env.bucket}/${prefix}`], {
    AWS_ACCESS_KEY_ID: env.tempAccessKeyId, AWS_SECRET_ACCESS_KEY: env.tempSecretAccessKey, AWS_MAX_ATTEMPTS: '1',
  });
  assert.match(tempNoToken.stderr, /InvalidAccessKeyId/);
});

test('presigned URLs from awscli work, a changed one is refused, SigV2 ones are refused', async (t) => {
  // awscli 1.x presigns with SigV2 unless told otherwise, awscli 2 with SigV4:
  // the configuration asks for SigV4 explicitly so that both give one.
  const config = pathModule.join(os.tmpdir(), `s3-auth-${process.pid}.config`);
  fs.writeFileSync(config, '[default]\ns3 =\n  signature_version = s3v4\n');
  t.after(() => fs.rmSync(config, { force: true }));
  const fetchUrl = (url) => s3.request({ path: url.pathname, credentials: null, query: Object.fromEntries(url.searchParams) });

  const presign = await s3.aws(['s3', 'presign', `s3://${env.bucket}/${prefix}exact.bin`, '--expires-in', '300'], { AWS_CONFIG_FILE: config });
  assert.equal(presign.code, 0, presign.stderr);
  const url = new URL(presign.stdout.trim());
  assert.equal(url.searchParams.get('X-Amz-Algorithm'), 'AWS4-HMAC-SHA256');
  const ok = await fetchUrl(url);
  assert.equal(ok.status, 200);
  assert.equal(ok.body.length, 70000);
  url.searchParams.set('X-Amz-Expires', '301');
  const changed = await fetchUrl(url);
  assert.equal(changed.status, 403);
  assert.equal(changed.code, 'SignatureDoesNotMatch');

  // A correctly signed SigV2 query string (what awscli 1.x makes by default),
  // built here: which signature a given AWS CLI uses depends on its version.
  const expires = String(Math.floor(Date.now() / 1000) + 300);
  const resource = `/${env.bucket}/${prefix}exact.bin`;
  const signature = crypto.createHmac('sha1', env.secretAccessKey).update(`GET\n\n\n${expires}\n${resource}`).digest('base64');
  const v2 = new URL(`${env.s3Endpoint}${resource}`);
  v2.searchParams.set('AWSAccessKeyId', env.accessKeyId);
  v2.searchParams.set('Expires', expires);
  v2.searchParams.set('Signature', signature);
  const refused = await fetchUrl(v2);
  assert.equal(refused.status, 400);
  assert.equal(refused.code, 'InvalidRequest');
});
