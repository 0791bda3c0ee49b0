'use strict';
// Fault injection and the admin API of the running S3 stand-in. Every fault
// here is scoped to this file's key prefix, so other tests' requests are
// never hit; each kind must happen, be seen by the client and be counted.

const test = require('node:test');
const assert = require('node:assert/strict');
const crypto = require('node:crypto');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const env = require('../lib/env');
const s3 = require('../lib/s3client');

const prefix = `s3-faults-${process.pid}-${Date.now()}/`;
const scope = `^/${env.bucket}/${prefix}`;
const keyPath = (name) => s3.objectPath(prefix + name);
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 's3-faults-'));

async function configure(faults) {
  const res = await s3.admin('PUT', 'faults', { scope, ...faults });
  assert.equal(res.status, 200, JSON.stringify(res.json));
  return res.json;
}

async function faultCounts() {
  return (await s3.admin('GET', 'stats')).json.faults;
}

async function timed(promise) {
  const started = performance.now();
  const result = await promise;
  return { result, ms: performance.now() - started };
}

const connectionError = (err) => ['ECONNRESET', 'EPIPE'].includes(err.code) || /socket hang up|aborted/.test(err.message);

test.before(async () => {
  await s3.admin('DELETE', 'faults');
  await s3.request({ method: 'PUT', path: keyPath('object.bin'), body: crypto.randomBytes(100 * 1024) });
});
test.afterEach(() => s3.admin('DELETE', 'faults'));
test.after(async () => {
  await s3.admin('DELETE', 'faults');
  fs.rmSync(tmp, { recursive: true, force: true });
  await s3.cleanPrefix(prefix);
});

test('admin API: show, replace, validate and clear the fault configuration', async () => {
  const cleared = await s3.admin('GET', 'faults');
  assert.equal(cleared.status, 200);
  assert.equal(cleared.json.error_rate, 0);
  assert.deepEqual(cleared.json.rules, []);

  const set = await configure({ seed: 42, error_rate: 0.2, error_statuses: [500, 503], reset_rate: 0.1, latency_ms: 5, rules: [{ method: 'PUT', path: 'part-0002', count: 2, action: '503' }] });
  assert.equal(set.seed, 42);
  assert.equal(set.scope, scope);
  assert.deepEqual(set.rules, [{ method: 'PUT', path: 'part-0002', count: 2, remaining: 2, action: '503', fired: 0 }]);
  assert.deepEqual((await s3.admin('GET', 'faults')).json, set);

  const bad = await s3.admin('PUT', 'faults', { error_rate: 7 });
  assert.equal(bad.status, 400);
  assert.match(bad.json.error, /error_rate/);
  assert.equal((await s3.admin('GET', 'faults')).json.error_rate, 0.2, 'a refused configuration changes nothing');

  const deleted = await s3.admin('DELETE', 'faults');
  assert.equal(deleted.json.error_rate, 0);
  assert.equal((await s3.admin('GET', 'nowhere')).status, 404);
  assert.equal((await s3.admin('POST', 'stats')).status, 405);
});

test('error_rate 1 with 503: every request in scope gets SlowDown; signature failures and other keys do not', async () => {
  await configure({ error_rate: 1, error_statuses: [503] });
  const before = await faultCounts();
  for (let i = 0; i < 3; i++) {
    const res = await s3.request({ path: keyPath('object.bin') });
    assert.equal(res.status, 503);
    assert.equal(res.code, 'SlowDown');
    assert.equal(res.message, 'Please reduce your request rate.');
  }
  const after = await faultCounts();
  assert.equal(after.status['503'] - (before.status['503'] || 0), 3);

  const badSignature = await s3.request({ path: keyPath('object.bin'), credentials: { ...s3.KEYS, secretAccessKey: 'wrong' } });
  assert.equal(badSignature.code, 'SignatureDoesNotMatch');
  const outside = await s3.request({ method: 'PUT', path: s3.objectPath(`${prefix.slice(0, -1)}-outside/x`), body: 'x' });
  assert.equal(outside.status, 200);
  await s3.request({ method: 'DELETE', path: s3.objectPath(`${prefix.slice(0, -1)}-outside/x`) });
  assert.equal((await s3.admin('GET', 'faults')).status, 200, 'the admin API is never faulted');
});

test('error_statuses [500]: InternalError with S3\'s message; awscli gives up after its retries', async () => {
  await configure({ error_rate: 1, error_statuses: [500] });
  const res = await s3.request({ path: keyPath('object.bin') });
  assert.equal(res.status, 500);
  assert.equal(res.code, 'InternalError');
  assert.equal(res.message, 'We encountered an internal error. Please try again.');
  const cli = await s3.aws(['s3', 'cp', '--only-show-errors', `s3://${env.bucket}/${prefix}object.bin`, path.join(tmp, 'never')], { AWS_MAX_ATTEMPTS: '2' });
  assert.notEqual(cli.code, 0);
  assert.match(cli.stderr, /500|InternalError/);
});

test('a rule fails the next N matching requests, then lets them through', async () => {
  await configure({ rules: [{ method: 'PUT', path: 'part-0002', count: 2, action: '503' }] });
  const before = await faultCounts();
  const putPart = (n) => s3.request({ method: 'PUT', path: keyPath(`part-000${n}.csv.gz`), body: `part ${n}` });
  assert.equal((await putPart(2)).status, 503);
  assert.equal((await putPart(1)).status, 200, 'another path is not matched');
  assert.equal((await s3.request({ path: keyPath('part-0002.csv.gz') })).status, 404, 'another method is not matched');
  assert.equal((await putPart(2)).status, 503);
  assert.equal((await putPart(2)).status, 200);
  const view = await s3.admin('GET', 'faults');
  assert.deepEqual(view.json.rules.map((r) => [r.remaining, r.fired]), [[0, 2]]);
  const after = await faultCounts();
  assert.equal(after.rule - before.rule, 2);
});

test('awscli retries through a rule failure and succeeds', async () => {
  await configure({ rules: [{ method: 'PUT', path: 'retried', count: 1, action: '500' }] });
  const file = path.join(tmp, 'retried');
  fs.writeFileSync(file, 'retried body');
  const cli = await s3.aws(['s3', 'cp', '--only-show-errors', file, `s3://${env.bucket}/${prefix}retried`]);
  assert.equal(cli.code, 0, cli.stderr);
  assert.equal((await s3.request({ path: keyPath('retried') })).text, 'retried body');
  assert.equal((await s3.admin('GET', 'faults')).json.rules[0].fired, 1);
});

test('reset mid-upload: the client sees a connection error and nothing is stored', async () => {
  await configure({ rules: [{ method: 'PUT', path: 'reset-upload', count: 2, action: 'reset' }] });
  const before = await faultCounts();
  await assert.rejects(s3.request({ method: 'PUT', path: keyPath('reset-upload'), body: crypto.randomBytes(4 * 1024 * 1024) }), connectionError);
  assert.equal((await s3.request({ method: 'HEAD', path: keyPath('reset-upload') })).status, 404);
  const file = path.join(tmp, 'reset-upload');
  fs.writeFileSync(file, crypto.randomBytes(1024 * 1024));
  const cli = await s3.aws(['s3', 'cp', '--only-show-errors', file, `s3://${env.bucket}/${prefix}reset-upload`], { AWS_MAX_ATTEMPTS: '1' });
  assert.notEqual(cli.code, 0);
  assert.match(cli.stderr, /Connection|reset|Broken pipe|aborted/i);
  assert.equal((await s3.request({ method: 'HEAD', path: keyPath('reset-upload') })).status, 404);
  assert.equal((await faultCounts()).reset - before.reset, 2);
});

test('reset mid-download: headers and part of the body arrive, then the connection drops', async () => {
  await configure({ rules: [{ method: 'GET', path: 'object\\.bin', count: 1, action: 'reset' }] });
  await assert.rejects(s3.request({ path: keyPath('object.bin') }), connectionError);
  const whole = await s3.request({ path: keyPath('object.bin') });
  assert.equal(whole.body.length, 100 * 1024);
});

test('reset_rate 1: every request in scope loses its connection', async () => {
  await configure({ reset_rate: 1 });
  await assert.rejects(s3.request({ method: 'HEAD', path: keyPath('object.bin') }), connectionError);
  await assert.rejects(s3.request({ method: 'DELETE', path: keyPath('nothing') }), connectionError);
});

test('latency: latency_ms and a latency rule delay the answer by at least that much', async () => {
  const before = await faultCounts();
  await configure({ latency_ms: 400 });
  const slow = await timed(s3.request({ path: keyPath('object.bin') }));
  assert.equal(slow.result.status, 200);
  assert.ok(slow.ms >= 400, `took ${slow.ms} ms`);
  await configure({ rules: [{ path: 'object', count: 1, action: 'latency:700' }] });
  const ruled = await timed(s3.request({ method: 'HEAD', path: keyPath('object.bin') }));
  assert.equal(ruled.result.status, 200);
  assert.ok(ruled.ms >= 700, `took ${ruled.ms} ms`);
  await configure({ latency_ms: 100, latency_jitter_ms: 200 });
  const jittered = await timed(s3.request({ method: 'HEAD', path: keyPath('object.bin') }));
  assert.ok(jittered.ms >= 100, `took ${jittered.ms} ms`);
  await s3.admin('DELETE', 'faults');
  const fast = await timed(s3.request({ method: 'HEAD', path: keyPath('object.bin') }));
  assert.ok(fast.ms < 300, `took ${fast.ms} ms without latency`);
  assert.equal((await faultCounts()).latency - before.latency, 3);
});

test('outage: 503 ServiceUnavailable for every request until it is over, then normal again', async () => {
  const before = await faultCounts();
  const set = await configure({ outage_ms: 1500 });
  assert.ok(set.outage_remaining_ms > 1000);
  for (const method of ['GET', 'HEAD', 'PUT']) {
    const res = await s3.request({ method, path: keyPath('object.bin'), body: method === 'PUT' ? 'during outage' : undefined });
    assert.equal(res.status, 503, method);
  }
  assert.equal((await s3.request({ path: keyPath('object.bin') })).code, 'ServiceUnavailable');
  let remaining = (await s3.admin('GET', 'faults')).json.outage_remaining_ms;
  while (remaining > 0) {
    await new Promise((resolve) => setTimeout(resolve, Math.min(remaining + 20, 200)));
    remaining = (await s3.admin('GET', 'faults')).json.outage_remaining_ms;
  }
  const recovered = await s3.request({ path: keyPath('object.bin') });
  assert.equal(recovered.status, 200);
  assert.equal(recovered.body.length, 100 * 1024, 'the PUT during the outage changed nothing');
  assert.equal((await faultCounts()).outage - before.outage, 4);
});

test('refuse_writes: PUT and POST get 500 InternalError (a full disk), reads work', async () => {
  const before = await faultCounts();
  await configure({ refuse_writes: true });
  const putRes = await s3.request({ method: 'PUT', path: keyPath('refused'), body: 'x' });
  assert.equal(putRes.status, 500);
  assert.equal(putRes.code, 'InternalError');
  const post = await s3.request({ method: 'POST', path: keyPath('refused'), query: { uploads: '' } });
  assert.equal(post.status, 500);
  assert.equal((await s3.request({ path: keyPath('object.bin') })).status, 200);
  assert.equal((await s3.request({ method: 'HEAD', path: keyPath('refused') })).status, 404);
  assert.equal((await faultCounts()).refuse_writes - before.refuse_writes, 2);
});

test('expired_token: the temporary key gets 400 ExpiredToken, the permanent key still works', async () => {
  await configure({ expired_token: true });
  const temp = await s3.request({ path: keyPath('object.bin'), credentials: s3.TEMP_KEYS });
  assert.equal(temp.status, 400);
  assert.equal(temp.code, 'ExpiredToken');
  assert.equal((await s3.request({ path: keyPath('object.bin') })).status, 200);
});

test('the same seed replays the same faults', async () => {
  const run = async () => {
    await configure({ seed: 7, error_rate: 0.5, error_statuses: [500, 503] });
    const statuses = [];
    for (let i = 0; i < 16; i++) statuses.push((await s3.request({ method: 'HEAD', path: keyPath('object.bin') })).status);
    return statuses;
  };
  const first = await run();
  assert.ok(first.includes(200) && first.some((s) => s >= 500), first.join(','));
  assert.deepEqual(await run(), first);
});

test('stats count requests by method and operation, and DELETE resets them', async () => {
  const before = (await s3.admin('GET', 'stats')).json;
  await s3.request({ path: keyPath('object.bin') });
  const after = (await s3.admin('GET', 'stats')).json;
  assert.ok(after.requests.total > before.requests.total);
  assert.ok(after.requests.by_method.GET > (before.requests.by_method.GET || 0));
  assert.ok(after.requests.by_operation.GetObject > (before.requests.by_operation.GetObject || 0));
  assert.ok(after.responses.by_status['200'] > 0);
  const reset = (await s3.admin('DELETE', 'stats')).json;
  assert.equal(reset.faults.total, 0);
  assert.ok(reset.since >= after.since);
});
