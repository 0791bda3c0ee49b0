'use strict';
// Helpers for the Redshift stand-in's tests (test/stack/tests/redshift*.test.js):
// clients for the stand-in (node-postgres and psql) and for the warehouse
// behind it, S3 fixtures signed with AWS's signer, the admin API.
// Everything talks to 127.0.0.1 only; ports come from the environment.

const crypto = require('node:crypto');
const http = require('node:http');
const net = require('node:net');
const zlib = require('node:zlib');
const { execFile, spawn } = require('node:child_process');
const { Client } = require('pg');
const { Hash } = require('@smithy/hash-node');
const { HttpRequest } = require('@smithy/protocol-http');
const { SignatureV4 } = require('@smithy/signature-v4');
const config = require('./config');
const { S3Reader } = require('./s3');

const KEYS = { accessKeyId: config.accessKeyId, secretAccessKey: config.secretAccessKey };
const s3 = new S3Reader({ endpoint: config.s3Endpoint, region: config.region });
const s3Url = new URL(config.s3Endpoint);

// A name no other test (or earlier run) uses.
function unique(prefix) {
  return `${prefix}_${process.pid}_${crypto.randomBytes(3).toString('hex')}`;
}

function redshiftOptions(extra = {}) {
  return {
    host: config.host, port: config.port, user: config.user, password: config.password, database: config.database, ...extra,
  };
}

// A node-postgres client of the stand-in (TLS unless ssl: false).
async function redshift(extra = {}) {
  const client = new Client(redshiftOptions({ ssl: { rejectUnauthorized: false }, ...extra }));
  client.on('error', () => {}); // dropped connections are what fault tests expect
  await client.connect();
  return client;
}

// A node-postgres client of the warehouse itself (to check what really happened).
async function warehouse() {
  const client = new Client({ host: config.host, port: config.warehousePort, user: config.user, database: config.database });
  await client.connect();
  return client;
}

function conninfo(extra = '') {
  return `host=${config.host} port=${config.port} dbname=${config.database} user=${config.user} ${extra}`.trim();
}

// Runs psql against the stand-in: resolves {code, stdout, stderr}.
function psql(sql, { extra = 'sslmode=require', args = [] } = {}) {
  return new Promise((resolve) => {
    execFile('psql', [conninfo(extra), '-X', '-q', '-A', '-t', '-v', 'ON_ERROR_STOP=1', ...args, '-c', sql], {
      env: { PATH: process.env.PATH, PGPASSWORD: config.password, PGCONNECT_TIMEOUT: '10' },
      timeout: 60000,
    }, (err, stdout, stderr) => resolve({ code: err ? (typeof err.code === 'number' ? err.code : 1) : 0, stdout, stderr }));
  });
}

// psql that can be interrupted (SIGINT makes psql send a CancelRequest).
function psqlProcess(sql, extra = 'sslmode=require') {
  const child = spawn('psql', [conninfo(extra), '-X', '-c', sql], { env: { PATH: process.env.PATH, PGPASSWORD: config.password } });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d) => { stdout += d; });
  child.stderr.on('data', (d) => { stderr += d; });
  const done = new Promise((resolve) => child.on('close', (code) => resolve({ code, stdout, stderr })));
  return { child, done };
}

function uriEncode(text) {
  return encodeURIComponent(text).replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);
}

// Signed PUT/DELETE on the S3 stand-in.
async function s3Send(method, key, body = Buffer.alloc(0), bucket = config.bucket) {
  const path = `/${bucket}/${key.split('/').map(uriEncode).join('/')}`;
  const port = Number(s3Url.port || 80);
  const headers = {
    host: `${s3Url.hostname}:${port}`,
    'x-amz-content-sha256': crypto.createHash('sha256').update(body).digest('hex'),
    'content-length': String(body.length),
  };
  const signer = new SignatureV4({ credentials: KEYS, region: config.region, service: 's3', sha256: Hash.bind(null, 'sha256'), uriEscapePath: false });
  const signed = await signer.sign(new HttpRequest({ method, protocol: 'http:', hostname: s3Url.hostname, port, path, headers }));
  for (let attempt = 1; ; attempt++) {
    const status = await new Promise((resolve, reject) => {
      const req = http.request({ host: s3Url.hostname, port, method, path, headers: signed.headers, agent: false }, (res) => {
        res.resume();
        res.on('end', () => resolve(res.statusCode));
      });
      req.on('error', reject);
      req.end(body);
    }).catch(() => 0);
    if (status >= 200 && status < 300) return;
    // The S3 stand-in may be injecting transient errors for another test.
    if (attempt >= 5 || (status !== 0 && status < 500)) throw new Error(`S3 ${method} ${key} failed: HTTP ${status}`);
    await new Promise((resolve) => setTimeout(resolve, 100 * attempt));
  }
}

const putObject = (key, body, bucket) => s3Send('PUT', key, Buffer.from(body), bucket);

async function deletePrefix(prefix) {
  const objects = await s3.listObjects(KEYS, config.bucket, prefix);
  for (const o of objects) await s3Send('DELETE', o.key);
}

const gzip = (data) => zlib.gzipSync(Buffer.from(data));

// Node has no zstd compressor (fzstd only decodes): the zstd CLI
// (scripts/deps.sh installs it) writes real compressed frames.
const zstd = (data) => require('node:child_process').execFileSync('zstd', ['-q', '-c', '-1'], { input: Buffer.from(data) });

function manifest(urls) {
  return JSON.stringify({ entries: urls.map((u) => (typeof u === 'string' ? { url: u, mandatory: true } : u)) });
}

// The admin API: resolves {status, json}.
function admin(method, path, value) {
  const body = value === undefined ? Buffer.alloc(0) : Buffer.from(JSON.stringify(value));
  return new Promise((resolve, reject) => {
    const req = http.request({
      host: config.host, port: config.adminPort, method, path, agent: false,
      headers: { 'content-type': 'application/json', 'content-length': body.length },
    }, (res) => {
      const chunks = [];
      res.on('data', (c) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode, json: JSON.parse(Buffer.concat(chunks).toString('utf8')) }));
    });
    req.on('error', reject);
    req.end(body);
  });
}

// Resolves true if the port refuses a TCP connection.
function refuses(port) {
  return new Promise((resolve) => {
    const socket = net.connect({ host: config.host, port });
    socket.on('connect', () => { socket.destroy(); resolve(false); });
    socket.on('error', () => resolve(true));
  });
}

// The query that fails, with its error (or null if it succeeds).
async function failure(promise) {
  try {
    await promise;
    return null;
  } catch (e) {
    return e;
  }
}

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

// COPY authorization clauses.
const auth = {
  keys: `ACCESS_KEY_ID '${config.accessKeyId}' SECRET_ACCESS_KEY '${config.secretAccessKey}'`,
  role: `IAM_ROLE '${config.iamRole}'`,
};

module.exports = {
  config, unique, redshift, warehouse, psql, psqlProcess, putObject, deletePrefix, gzip, zstd, manifest,
  admin, refuses, failure, sleep, auth,
};
