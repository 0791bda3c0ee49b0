'use strict';
// stack.sh itself, against the running stack: idempotent start, status,
// env, logs, the files it writes, the warehouse it sets up, and the source
// service being skipped with a clear message when the extension is missing.

const test = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { spawnSync } = require('node:child_process');
const { Client } = require('pg');
const env = require('../lib/env');

const STACK_SH = path.join(__dirname, '..', 'stack.sh');

function stack(args, extraEnv = {}) {
  const res = spawnSync('bash', [STACK_SH, ...args], { env: { ...process.env, ...extraEnv }, encoding: 'utf8', timeout: 120000 });
  return { code: res.status, stdout: res.stdout, stderr: res.stderr };
}

async function query(port, database, user, sql) {
  const client = new Client({ host: env.host, port, database, user });
  await client.connect();
  try {
    return (await client.query(sql)).rows;
  } finally {
    await client.end();
  }
}

function extensionInstalled() {
  const res = spawnSync(process.env.PG_CONFIG || 'pg_config', ['--pkglibdir'], { encoding: 'utf8' });
  return res.status === 0 && fs.existsSync(path.join(res.stdout.trim(), 'redtrack.so'));
}

test('status: one line per service, exit 0 while everything selected is up', () => {
  const res = stack(['status']);
  assert.equal(res.code, 0, res.stdout + res.stderr);
  const lines = res.stdout.trim().split('\n');
  assert.deepEqual(lines.map((l) => l.split(/\s+/)[0]), ['s3', 'redshift', 'source']);
  assert.match(lines[0], /^s3\s+running\s+pid \d+/);
});

test('status exits non-zero when a selected service is down', () => {
  const res = stack(['status'], { STACK_SERVICES: 's3', REDTRACK_S3_PORT: '1' });
  assert.equal(res.code, 1);
  assert.match(res.stdout, /^s3\s+down/m);
  const unknown = stack(['status'], { STACK_SERVICES: 's3 kafka' });
  assert.equal(unknown.code, 1);
  assert.match(unknown.stderr, /unknown service 'kafka'/);
});

test('start again is idempotent: running services are left alone', () => {
  const pid = fs.readFileSync(path.join(env.stackDir, 'run', 's3.pid'), 'utf8').trim();
  const started = Date.now();
  const res = stack(['start'], { STACK_SERVICES: 's3 redshift' });
  assert.equal(res.code, 0, res.stdout + res.stderr);
  assert.match(res.stdout, new RegExp(`^s3\\s+already running \\(pid ${pid}\\)`, 'm'));
  assert.match(res.stdout, /^warehouse\s+already running/m);
  assert.ok(Date.now() - started < 10000);
  assert.equal(fs.readFileSync(path.join(env.stackDir, 'run', 's3.pid'), 'utf8').trim(), pid);
});

test('the source service is skipped with a clear message when the extension is not installed', (t) => {
  // A pg_config whose library directory has no redtrack.so.
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'stack-test-'));
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  const fake = path.join(dir, 'pg_config');
  fs.writeFileSync(fake, `#!/bin/sh\necho ${dir}\n`, { mode: 0o755 });
  const res = stack(['start'], { STACK_SERVICES: 'source', PG_CONFIG: fake });
  assert.equal(res.code, 0, res.stderr);
  assert.match(res.stdout, new RegExp(`^source\\s+skipped: the redtrack extension is not installed \\(${dir}/redtrack.so is missing; run make install\\)`, 'm'));
  const status = stack(['status'], { STACK_SERVICES: 'source', PG_CONFIG: fake });
  assert.equal(status.code, 0);
  assert.match(status.stdout, /^source\s+skipped\s+\(redtrack extension not installed\)/m);
});

test('env prints every setting as an export line that a shell can eval', () => {
  const res = stack(['env']);
  assert.equal(res.code, 0);
  const names = [...res.stdout.matchAll(/^export (REDTRACK_\w+)=/gm)].map((m) => m[1]);
  for (const name of ['REDTRACK_STACK_DIR', 'REDTRACK_S3_PORT', 'REDTRACK_S3RVER_PORT', 'REDTRACK_REDSHIFT_PORT',
    'REDTRACK_REDSHIFT_ADMIN_PORT', 'REDTRACK_WAREHOUSE_PORT', 'REDTRACK_SOURCE_PORT', 'REDTRACK_S3_ENDPOINT',
    'REDTRACK_S3_BUCKET', 'REDTRACK_AWS_ACCESS_KEY_ID', 'REDTRACK_AWS_SECRET_ACCESS_KEY', 'REDTRACK_AWS_SESSION_TOKEN',
    'REDTRACK_IAM_ROLE', 'REDTRACK_REDSHIFT_CONNINFO', 'REDTRACK_WAREHOUSE_CONNINFO', 'REDTRACK_SOURCE_CONNINFO']) {
    assert.ok(names.includes(name), name);
  }
  const evaluated = spawnSync('bash', ['-c', `${res.stdout}\necho "$REDTRACK_REDSHIFT_CONNINFO|$REDTRACK_S3_ENDPOINT"`], { encoding: 'utf8', env: {} });
  assert.equal(evaluated.stdout.trim(),
    `host=127.0.0.1 port=${env.redshiftPort} dbname=dev user=awsuser passfile=${env.stackDir}/pgpass sslmode=require|${env.s3Endpoint}`);
  // the endpoint follows the port unless given itself (undefined: unset here)
  const moved = stack(['env'], { REDTRACK_S3_PORT: '59999', REDTRACK_S3_ENDPOINT: undefined });
  assert.match(moved.stdout, /^export REDTRACK_S3_ENDPOINT='http:\/\/127\.0\.0\.1:59999'$/m);
});

test('pgpass, redtrack.conf and the TLS material are written as the contract says', () => {
  const pgpass = path.join(env.stackDir, 'pgpass');
  assert.equal(fs.statSync(pgpass).mode & 0o777, 0o600);
  assert.equal(fs.readFileSync(pgpass, 'utf8'), `127.0.0.1:${env.redshiftPort}:dev:awsuser:Redtrack-test-1\n`);
  const conf = fs.readFileSync(path.join(env.stackDir, 'redtrack.conf'), 'utf8');
  for (const line of [
    "redtrack.s3_bucket = 'redtrack-test'", "redtrack.s3_prefix = 'redtrack'", "redtrack.s3_region = 'us-east-1'",
    `redtrack.s3_endpoint = '${env.s3Endpoint}'`, "redtrack.aws_access_key_id = 'AKIDREDTRACKTEST'",
    "redtrack.aws_secret_access_key = 'redtrack-test-secret'", "redtrack.target_dialect = 'redshift'",
    `redtrack.redshift_conninfo = 'host=127.0.0.1 port=${env.redshiftPort} dbname=dev user=awsuser passfile=${env.stackDir}/pgpass sslmode=require'`,
  ]) {
    assert.ok(conf.split('\n').includes(line), line);
  }
  const key = path.join(env.stackDir, 'tls', 'server.key');
  assert.equal(fs.statSync(key).mode & 0o777, 0o600);
  const cert = spawnSync('openssl', ['x509', '-noout', '-ext', 'subjectAltName', '-in', path.join(env.stackDir, 'tls', 'server.crt')], { encoding: 'utf8' });
  assert.equal(cert.status, 0, cert.stderr);
  assert.match(cert.stdout, /IP Address:127\.0\.0\.1/);
  if (process.getuid() === 0) {
    const owner = spawnSync('stat', ['-c', '%U', env.stackDir, pgpass, key], { encoding: 'utf8' }).stdout.trim().split('\n');
    assert.deepEqual(owner, ['redtrack', 'redtrack', 'redtrack']);
  }
});

test('the warehouse: awsuser superuser, database dev, UTC, loopback only, fast settings', async () => {
  const [row] = await query(env.warehousePort, 'dev', 'awsuser', `
    SELECT current_user AS "user", current_database() AS db, r.rolsuper,
           current_setting('TimeZone') AS tz, current_setting('listen_addresses') AS listen,
           current_setting('fsync') AS fsync, current_setting('unix_socket_directories') AS sock,
           (SELECT pg_get_userbyid(datdba) FROM pg_database WHERE datname = 'dev') AS owner
      FROM pg_roles r WHERE r.rolname = current_user`);
  assert.deepEqual(row, {
    user: 'awsuser', db: 'dev', rolsuper: true, tz: 'UTC', listen: '127.0.0.1', fsync: 'off',
    sock: `${env.stackDir}/sock`, owner: 'awsuser',
  });
});

test('the source server preloads redtrack and includes redtrack.conf', async (t) => {
  if (!extensionInstalled()) {
    t.skip('the redtrack extension is not installed');
    return;
  }
  const [row] = await query(env.sourcePort, 'postgres', 'postgres', `
    SELECT current_setting('shared_preload_libraries') AS preload, current_setting('redtrack.database') AS db,
           current_setting('redtrack.s3_endpoint') AS endpoint, current_setting('listen_addresses') AS listen`);
  assert.deepEqual(row, { preload: 'redtrack', db: 'postgres', endpoint: env.s3Endpoint, listen: '127.0.0.1' });
});

test('logs shows the end of each selected service log', () => {
  const res = stack(['logs'], { STACK_SERVICES: 's3' });
  assert.equal(res.code, 0);
  assert.match(res.stdout, new RegExp(`^==> ${env.stackDir}/logs/s3\\.log <==$`, 'm'));
  assert.match(res.stdout, /^\S+Z [0-9A-F]{16} (GET|PUT|HEAD|POST|DELETE) \/\S* (\d{3}|-) \d+ms/m);
});
