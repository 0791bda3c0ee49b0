'use strict';
// A tiny S3 client for the stack's tests: signs with AWS's signer
// (@smithy/signature-v4) and lets a test break exactly one thing (the secret,
// the date, the body sent after signing, ...). Also the admin API and awscli
// with an environment that can only reach the local stand-in.

const crypto = require('node:crypto');
const http = require('node:http');
const { execFile } = require('node:child_process');
const { Hash } = require('@smithy/hash-node');
const { HttpRequest } = require('@smithy/protocol-http');
const { SignatureV4 } = require('@smithy/signature-v4');
const env = require('./env');
const { parseError } = require('./s3-errors');
const xml = require('./xml');

const KEYS = { accessKeyId: env.accessKeyId, secretAccessKey: env.secretAccessKey };
const TEMP_KEYS = { accessKeyId: env.tempAccessKeyId, secretAccessKey: env.tempSecretAccessKey, sessionToken: env.sessionToken };

function sha256hex(data) {
  return crypto.createHash('sha256').update(data).digest('hex');
}

function md5(data, encoding = 'hex') {
  return crypto.createHash('md5').update(data).digest(encoding);
}

// RFC 3986 encoding, as SigV4 wants it in paths and queries.
function uriEncode(text) {
  return encodeURIComponent(text).replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);
}

// "/bucket/encoded/key" for a key.
function objectPath(key, bucket = env.bucket) {
  return `/${bucket}/${key.split('/').map(uriEncode).join('/')}`;
}

// Sends a signed request. options:
//   method, path (raw, encoded), query ({name: value}, '' for ?uploads), headers, body,
//   credentials (default KEYS; null = anonymous), signingDate, payloadHash
//   ('UNSIGNED-PAYLOAD' or a hash to declare), sendBody (bytes sent instead of
//   the signed body), lateHeaders (added after signing), port.
// Resolves to {status, headers, body, text, code, message}; rejects on connection errors.
async function request(options) {
  const method = options.method || 'GET';
  const body = options.body === undefined ? Buffer.alloc(0) : Buffer.from(options.body);
  const query = options.query || {};
  const port = options.port || env.s3Port;
  const headers = { host: `${env.host}:${port}`, ...(options.headers || {}) };
  const credentials = options.credentials === undefined ? KEYS : options.credentials;
  if (credentials) {
    headers['x-amz-content-sha256'] = options.payloadHash || sha256hex(body);
    const signer = new SignatureV4({
      credentials, region: env.region, service: 's3', sha256: Hash.bind(null, 'sha256'), uriEscapePath: false,
    });
    const signed = await signer.sign(
      new HttpRequest({ method, protocol: 'http:', hostname: env.host, port, path: options.path, query, headers }),
      { signingDate: options.signingDate || new Date() },
    );
    Object.assign(headers, signed.headers);
  }
  Object.assign(headers, options.lateHeaders);
  const sent = options.sendBody === undefined ? body : Buffer.from(options.sendBody);
  if (sent.length || ['PUT', 'POST'].includes(method)) headers['content-length'] = String(sent.length);
  const search = Object.entries(query).map(([k, v]) => (v === '' ? uriEncode(k) : `${uriEncode(k)}=${uriEncode(v)}`)).join('&');
  return send({ method, port, path: search ? `${options.path}?${search}` : options.path, headers, body: sent });
}

function send({ method, port, path, headers, body }) {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: env.host, port, method, path, headers, agent: false }, (res) => {
      const chunks = [];
      res.on('data', (chunk) => chunks.push(chunk));
      res.on('error', reject);
      res.on('aborted', () => reject(Object.assign(new Error('response aborted'), { code: 'ECONNRESET' })));
      res.on('end', () => {
        if (!res.complete) return; // 'aborted' rejects
        const data = Buffer.concat(chunks);
        const text = data.toString('utf8');
        const { code, message } = res.statusCode >= 300 ? parseError(text) : {};
        resolve({ status: res.statusCode, headers: res.headers, body: data, text, code, message });
      });
    });
    req.on('error', reject);
    req.end(body);
  });
}

// The admin API: resolves to {status, json}.
async function admin(method, path, value) {
  const body = value === undefined ? Buffer.alloc(0) : Buffer.from(JSON.stringify(value));
  const res = await send({
    method, port: env.s3Port, path: `/_admin/${path}`,
    headers: { 'content-type': 'application/json', 'content-length': String(body.length) }, body,
  });
  return { status: res.status, json: JSON.parse(res.text) };
}

// Environment for awscli that can only reach the stand-in: no config files,
// no instance metadata, keys from the stack.
function awsEnv(extra = {}) {
  return {
    PATH: process.env.PATH,
    HOME: process.env.HOME || '/tmp',
    AWS_ACCESS_KEY_ID: env.accessKeyId,
    AWS_SECRET_ACCESS_KEY: env.secretAccessKey,
    AWS_DEFAULT_REGION: env.region,
    AWS_EC2_METADATA_DISABLED: 'true',
    AWS_CONFIG_FILE: '/dev/null',
    AWS_SHARED_CREDENTIALS_FILE: '/dev/null',
    ...extra,
  };
}

// Runs `aws --endpoint-url <stand-in> ...args`; resolves to {code, stdout, stderr}.
function aws(args, extraEnv = {}) {
  return new Promise((resolve) => {
    execFile('aws', ['--endpoint-url', env.s3Endpoint, ...args], { env: awsEnv(extraEnv), maxBuffer: 64 * 1024 * 1024 },
      (err, stdout, stderr) => resolve({ code: err ? (typeof err.code === 'number' ? err.code : 1) : 0, stdout, stderr }));
  });
}

// aws ... --output json, parsed; throws with stderr when the command fails.
async function awsJson(args, extraEnv) {
  const result = await aws([...args, '--output', 'json'], extraEnv);
  if (result.code !== 0) throw new Error(`aws ${args.join(' ')} failed (${result.code}): ${result.stderr}`);
  return result.stdout.trim() ? JSON.parse(result.stdout) : {};
}

// Every key under a prefix, following ListObjectsV2 continuation tokens.
async function listKeys(prefix, pageSize = 1000) {
  const keys = [];
  let token;
  do {
    const query = { 'list-type': '2', prefix, 'max-keys': String(pageSize) };
    if (token) query['continuation-token'] = token;
    const res = await request({ path: `/${env.bucket}`, query });
    if (res.status !== 200) throw new Error(`ListObjectsV2 failed: ${res.status} ${res.code}`);
    keys.push(...xml.children(res.text, 'Contents').map((c) => xml.text(c, 'Key')));
    token = xml.text(res.text, 'NextContinuationToken');
  } while (token);
  return keys;
}

// Removes what a test file left under its prefix: objects and unfinished uploads.
async function cleanPrefix(prefix) {
  const uploads = await request({ path: `/${env.bucket}`, query: { uploads: '', prefix } });
  for (const upload of xml.children(uploads.text, 'Upload')) {
    await request({ method: 'DELETE', path: objectPath(xml.text(upload, 'Key')), query: { uploadId: xml.text(upload, 'UploadId') } });
  }
  for (const key of await listKeys(prefix)) {
    await request({ method: 'DELETE', path: objectPath(key) });
  }
}

module.exports = { listKeys, cleanPrefix, KEYS, TEMP_KEYS, request, admin, aws, awsJson, objectPath, uriEncode, sha256hex, md5 };
