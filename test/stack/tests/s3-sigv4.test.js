'use strict';
// The S3 front's SigV4 verifier and fault decisions, without the stack:
// AWS's documented signature examples must verify, and each way of getting
// a request wrong must give S3's error.

const test = require('node:test');
const assert = require('node:assert/strict');
const { SigV4Verifier } = require('../s3/sigv4');
const { Faults, ConfigError } = require('../s3/faults');

// From the S3 API reference, "Signature Calculations for the Authorization
// Header" and "Query String Authentication" (example bucket, 2013-05-24).
const AKID = 'AKIAIOSFODNN7EXAMPLE';
const EMPTY = 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855';
const HOST = 'examplebucket.s3.amazonaws.com';
const verifier = (now = Date.UTC(2013, 4, 24, 0, 5)) => new SigV4Verifier({
  region: 'us-east-1',
  credentials: new Map([
    [AKID, { secretAccessKey: 'wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY' }],
    ['ASIATEMP', { secretAccessKey: 'temp-secret', sessionToken: 'the-token' }],
  ]),
  now: () => now,
});
const distinct = (headers) => Object.fromEntries(Object.entries(headers).map(([k, v]) => [k, [v]]));
const authorization = (signedHeaders, signature, scope = `${AKID}/20130524/us-east-1/s3/aws4_request`) =>
  `AWS4-HMAC-SHA256 Credential=${scope},SignedHeaders=${signedHeaders},Signature=${signature}`;

const examples = {
  getObject: {
    method: 'GET',
    url: '/test.txt',
    headers: distinct({
      host: HOST, range: 'bytes=0-9', 'x-amz-content-sha256': EMPTY, 'x-amz-date': '20130524T000000Z',
      authorization: authorization('host;range;x-amz-content-sha256;x-amz-date', 'f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41'),
    }),
  },
  putObject: {
    method: 'PUT',
    url: '/test%24file.text',
    headers: distinct({
      host: HOST, date: 'Fri, 24 May 2013 00:00:00 GMT', 'x-amz-storage-class': 'REDUCED_REDUNDANCY',
      'x-amz-content-sha256': '44ce7dd67c959e0d3524ffac1771dfbba87d2b6b4b4e99e42034a8b803f8b072', 'x-amz-date': '20130524T000000Z',
      authorization: authorization('date;host;x-amz-content-sha256;x-amz-date;x-amz-storage-class', '98ad721746da40c64f1a55b78f14c238d841ea1380cd77a1b5971af0ece108bd'),
    }),
  },
  getLifecycle: {
    method: 'GET',
    url: '/?lifecycle',
    headers: distinct({
      host: HOST, 'x-amz-content-sha256': EMPTY, 'x-amz-date': '20130524T000000Z',
      authorization: authorization('host;x-amz-content-sha256;x-amz-date', 'fea454ca298b7da1c68078a5d1bdbfbbe0d65c699e0f91ac7a200a0136783543'),
    }),
  },
  listObjects: {
    method: 'GET',
    url: '/?max-keys=2&prefix=J',
    headers: distinct({
      host: HOST, 'x-amz-content-sha256': EMPTY, 'x-amz-date': '20130524T000000Z',
      authorization: authorization('host;x-amz-content-sha256;x-amz-date', '34b48302e7b5fa45bde8084f4b7868a86f0a534bc59db6670ed5711ef69dc6f7'),
    }),
  },
  presignedGet: {
    method: 'GET',
    url: '/test.txt?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AKIAIOSFODNN7EXAMPLE%2F20130524%2Fus-east-1%2Fs3%2Faws4_request'
      + '&X-Amz-Date=20130524T000000Z&X-Amz-Expires=86400&X-Amz-SignedHeaders=host'
      + '&X-Amz-Signature=aeeed9bbccd4d02ee5c0109b86d86835f995330da4c265957d157751f604d404',
    headers: distinct({ host: HOST }),
  },
};

// The example with some fields replaced; header values are given as plain strings.
function variant(example, changes) {
  const headers = { ...example.headers };
  for (const [name, value] of Object.entries(changes.headers || {})) headers[name] = value === undefined ? undefined : [].concat(value);
  return { ...example, ...changes, headers };
}

async function rejects(request, code, v = verifier()) {
  await assert.rejects(v.verify(request), (err) => {
    assert.equal(err.code, code, `expected ${code}, got ${err.code}: ${err.message}`);
    return true;
  });
}

test('AWS documentation examples verify', async () => {
  for (const [name, example] of Object.entries(examples)) {
    const result = await verifier().verify(example);
    assert.equal(result.accessKeyId, AKID, name);
  }
  const put = await verifier().verify(examples.putObject);
  assert.equal(put.payloadHash, '44ce7dd67c959e0d3524ffac1771dfbba87d2b6b4b4e99e42034a8b803f8b072');
  assert.equal((await verifier().verify(examples.presignedGet)).payloadHash, 'UNSIGNED-PAYLOAD');
});

test('any change to a signed part breaks the signature, and the error shows the canonical request', async () => {
  await rejects(variant(examples.listObjects, { url: '/?max-keys=3&prefix=J' }), 'SignatureDoesNotMatch');
  await rejects(variant(examples.getObject, { method: 'HEAD' }), 'SignatureDoesNotMatch');
  await rejects(variant(examples.getObject, { headers: { range: 'bytes=0-10' } }), 'SignatureDoesNotMatch');
  await rejects(variant(examples.putObject, { url: '/test$file.text' }), 'SignatureDoesNotMatch');
  try {
    await verifier().verify(variant(examples.getObject, { url: '/test2.txt' }));
    assert.fail('expected SignatureDoesNotMatch');
  } catch (err) {
    assert.equal(err.code, 'SignatureDoesNotMatch');
    assert.match(err.details.CanonicalRequest, /^GET\n\/test2\.txt\n\nhost:examplebucket/);
    assert.match(err.toXML('r', 'h'), /<StringToSign>AWS4-HMAC-SHA256\n20130524T000000Z\n/);
  }
});

test('the scope and the header are checked like S3 does', async () => {
  const scoped = (scope) => variant(examples.getLifecycle, {
    headers: { authorization: [authorization('host;x-amz-content-sha256;x-amz-date', 'fea454ca298b7da1c68078a5d1bdbfbbe0d65c699e0f91ac7a200a0136783543', scope)] },
  });
  await rejects(scoped('AKIDUNKNOWN/20130524/us-east-1/s3/aws4_request'), 'InvalidAccessKeyId');
  await rejects(scoped(`${AKID}/20130524/eu-west-1/s3/aws4_request`), 'AuthorizationHeaderMalformed');
  await rejects(scoped(`${AKID}/20130523/us-east-1/s3/aws4_request`), 'AuthorizationHeaderMalformed');
  await rejects(scoped(`${AKID}/20130524/us-east-1/ec2/aws4_request`), 'AuthorizationHeaderMalformed');
  await rejects(scoped(`${AKID}/20130524/us-east-1`), 'AuthorizationHeaderMalformed');
  await rejects(variant(examples.getObject, { headers: { authorization: 'AWS4-HMAC-SHA256 Credential=x' } }), 'AuthorizationHeaderMalformed');
  await rejects(variant(examples.getObject, { headers: { authorization: `AWS ${AKID}:abc=` } }), 'InvalidRequest');
  await rejects(variant(examples.getObject, { headers: { authorization: undefined } }), 'AccessDenied');
  await rejects(variant(examples.getObject, { headers: { 'x-amz-content-sha256': undefined } }), 'InvalidRequest');
  await rejects(variant(examples.getObject, { headers: { 'x-amz-content-sha256': 'junk' } }), 'InvalidArgument');
  await rejects(variant(examples.getObject, { headers: { 'x-amz-meta-extra': 'not signed' } }), 'AccessDenied');
});

test('the request time must be within 15 minutes, a presigned URL within its expiry', async () => {
  const minutes = (n) => Date.UTC(2013, 4, 24) + n * 60000;
  await verifier(minutes(14)).verify(examples.getObject);
  await verifier(minutes(-14)).verify(examples.getObject);
  await rejects(examples.getObject, 'RequestTimeTooSkewed', verifier(minutes(16)));
  await rejects(examples.getObject, 'RequestTimeTooSkewed', verifier(minutes(-16)));
  await verifier(minutes(24 * 60 - 1)).verify(examples.presignedGet);
  await rejects(examples.presignedGet, 'AccessDenied', verifier(minutes(24 * 60 + 1)));
});

test('a temporary key needs its session token', async () => {
  const request = (token) => ({
    method: 'GET',
    url: '/',
    headers: distinct({
      host: HOST, 'x-amz-content-sha256': EMPTY, 'x-amz-date': '20130524T000000Z',
      ...(token ? { 'x-amz-security-token': token } : {}),
      authorization: authorization(`host;x-amz-content-sha256;x-amz-date${token ? ';x-amz-security-token' : ''}`, '0'.repeat(64), 'ASIATEMP/20130524/us-east-1/s3/aws4_request'),
    }),
  });
  await rejects(request(undefined), 'InvalidAccessKeyId');
  await rejects(request('wrong-token'), 'InvalidToken');
  await rejects(request('the-token'), 'SignatureDoesNotMatch'); // token accepted; the made-up signature is not
  await rejects(variant(examples.getObject, { headers: { 'x-amz-security-token': 't' } }), 'InvalidToken');
});

test('fault decisions replay with the same seed and follow the documented precedence', () => {
  const run = (config, n = 40) => {
    const faults = new Faults();
    faults.configure(config);
    return Array.from({ length: n }, (_, i) => faults.decide('GET', `/b/k${i}`)).map((d) => d.kinds.join('+') || 'none');
  };
  const first = run({ seed: 42, error_rate: 0.3, reset_rate: 0.1 });
  assert.deepEqual(run({ seed: 42, error_rate: 0.3, reset_rate: 0.1 }), first);
  assert.notDeepEqual(run({ seed: 43, error_rate: 0.3, reset_rate: 0.1 }), first);
  assert.ok(first.includes('none') && first.some((k) => k.startsWith('status:')) && first.includes('reset'));

  const faults = new Faults();
  faults.configure({ error_rate: 1, error_statuses: [500], rules: [{ method: 'PUT', path: 'x', count: 1, action: 'reset' }] });
  assert.deepEqual(faults.decide('PUT', '/b/x').kinds, ['rule', 'reset']); // rules before rates
  assert.deepEqual(faults.decide('PUT', '/b/x').kinds, ['status:500']); // the rule is used up
  faults.configure({ refuse_writes: true, outage_ms: 60000, latency_ms: 5 });
  assert.deepEqual(faults.decide('PUT', '/b/x').kinds, ['outage', 'status:503', 'latency']);
  faults.configure({ refuse_writes: true, scope: '^/b/in/' });
  assert.deepEqual(faults.decide('POST', '/b/in/x').kinds, ['refuse_writes', 'status:500']);
  assert.deepEqual(faults.decide('GET', '/b/in/x').kinds, []);
  assert.deepEqual(faults.decide('PUT', '/b/out/x').kinds, []);
  assert.equal(faults.stats.faults.refuse_writes, 1);
  assert.equal(faults.stats.faults.outage, 1);
  assert.equal(faults.stats.faults.status['500'], 2);
});

test('fault configuration is validated', () => {
  const faults = new Faults();
  for (const bad of [
    { error_rate: 2 }, { error_statuses: [404] }, { latency_ms: -1 }, { refuse_writes: 'yes' }, { surprise: 1 },
    { rules: [{ action: 'explode' }] }, { rules: [{ path: '(', action: '500' }] }, { rules: [{ count: 0, action: '500' }] },
    { scope: '[' }, [],
  ]) {
    assert.throws(() => faults.configure(bad), ConfigError, JSON.stringify(bad));
  }
  faults.configure({ rules: [{ path: 'part-0002', action: 'latency:1500' }] });
  assert.deepEqual(faults.view().rules, [{ method: '*', path: 'part-0002', count: 1, remaining: 1, action: 'latency:1500', fired: 0 }]);
});
