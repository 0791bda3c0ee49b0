'use strict';
// The S3 front: an HTTP server in front of s3rver that behaves like S3 where
// s3rver does not.
//
//  1. /_admin/* — fault configuration, counters, unfinished uploads (no auth).
//  2. SigV4 verification of every other request (sigv4.js); failures are
//     answered like S3 and never subject to faults.
//  3. Faults (faults.js): outage, refused writes, rules, random errors and
//     connection resets, latency.
//  4. The operation itself. Multipart uploads, listings and DeleteObjects are
//     answered here (multipart.js, listing.js); the rest is forwarded to
//     s3rver with the authentication stripped (s3rver lets anonymous requests
//     through), after the body has been read and checked (body.js).
//
// Every response carries x-amz-request-id / x-amz-id-2 like S3's, and the
// RequestId is added to s3rver's error bodies.

const crypto = require('node:crypto');
const fs = require('node:fs');
const http = require('node:http');
const { Readable } = require('node:stream');
const { S3Error } = require('../lib/s3-errors');
const xml = require('../lib/xml');
const { readBody, verifyBody } = require('./body');
const { ConfigError } = require('./faults');
const { listObjects, OWNER } = require('./listing');
const { Multipart } = require('./multipart');
const { parseQuery } = require('./sigv4');

const MAX_OBJECT_SIZE = 5 * 1024 ** 3;
// Query parameters of ListObjects/ListObjectsV2; any other parameter names a sub-resource.
const LIST_PARAMS = new Set(['list-type', 'prefix', 'delimiter', 'max-keys', 'marker', 'continuation-token', 'start-after', 'fetch-owner', 'encoding-type']);
// Request headers that are S3's business (authentication, integrity, framing), not s3rver's.
const NOT_FORWARDED = /^(authorization|x-amz-date|x-amz-content-sha256|x-amz-security-token|x-amz-checksum-.*|x-amz-sdk-checksum-algorithm|x-amz-decoded-content-length|x-amz-trailer|content-md5|expect|host|connection|keep-alive|transfer-encoding|content-length|range|amz-sdk-.*)$/;
const HOP_BY_HOP = new Set(['connection', 'keep-alive', 'transfer-encoding']);

// s3rver stores a key as a file path: "a//b" would become "a/b" and ".."
// would leave the bucket. Such keys are refused (a trailing "/" is fine).
function storableKey(key) {
  return key.split('/').every((segment, i, all) => (segment !== '' || i === all.length - 1) && segment !== '.' && segment !== '..');
}

// Whether x-amz-copy-source (absent, or "[/]bucket/key[?versionId=...]", URL-encoded) names a storable key.
function storableCopySource(header) {
  if (header === undefined) return true;
  try {
    const source = decodeURIComponent(header.split('?')[0]).replace(/^\//, '');
    return storableKey(source.slice(source.indexOf('/') + 1));
  } catch {
    return false;
  }
}

function sleep(ms) {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

function encodeKey(key) {
  return key.split('/').map(encodeURIComponent).join('/');
}

// Query string without presigned-URL parameters (s3rver would try to check them).
function withoutAuthParams(rawQuery) {
  return rawQuery.split('&').filter((pair) => pair && !/^x-amz-/i.test(pair)).join('&');
}

// "bytes=a-b" | "bytes=a-" | "bytes=-n" -> {first, last, suffix}; anything
// else (several ranges, junk) is ignored as S3 ignores it.
function parseRange(header) {
  const m = /^bytes=(\d*)-(\d*)$/.exec(header || '');
  if (!m || (m[1] === '' && m[2] === '')) return null;
  if (m[1] === '') return { suffix: Number(m[2]) };
  const range = { first: Number(m[1]), last: m[2] === '' ? Infinity : Number(m[2]) };
  return range.last < range.first ? null : range;
}

// What the request is, from method, path, query and headers (S3's REST routing).
function classify(method, rawPath, query, headers) {
  const slash = rawPath.indexOf('/', 1);
  let bucket;
  let key;
  try {
    bucket = decodeURIComponent(slash < 0 ? rawPath.slice(1) : rawPath.slice(1, slash));
    key = slash < 0 ? '' : decodeURIComponent(rawPath.slice(slash + 1));
  } catch {
    return { bucket: '', key: '', name: 'Invalid', invalid: true };
  }
  const has = (name) => name in query;
  let name = 'Forward';
  if (bucket === '') {
    name = method === 'GET' ? 'ListBuckets' : 'Forward';
  } else if (key === '') {
    const listing = Object.keys(query).every((q) => LIST_PARAMS.has(q) || /^x-amz-/i.test(q));
    if (method === 'GET' && has('uploads')) name = 'ListMultipartUploads';
    else if (method === 'GET' && listing) name = query['list-type'] === '2' ? 'ListObjectsV2' : 'ListObjects';
    else if (method === 'POST' && has('delete')) name = 'DeleteObjects';
    else name = { PUT: 'CreateBucket', DELETE: 'DeleteBucket', HEAD: 'HeadBucket' }[method] || 'Forward';
  } else if (method === 'PUT') {
    if (has('uploadId') || has('partNumber')) name = headers['x-amz-copy-source'] ? 'UploadPartCopy' : 'UploadPart';
    else if (headers['x-amz-copy-source'] !== undefined) name = 'CopyObject';
    else if (Object.keys(query).some((q) => !/^x-amz-/i.test(q))) name = 'Forward';
    else name = 'PutObject';
  } else if (method === 'POST') {
    name = has('uploads') ? 'CreateMultipartUpload' : has('uploadId') ? 'CompleteMultipartUpload' : 'Forward';
  } else if (method === 'DELETE') {
    name = has('uploadId') ? 'AbortMultipartUpload' : 'DeleteObject';
  } else if (method === 'GET') {
    name = has('uploadId') ? 'ListParts' : Object.keys(query).every((q) => /^(x-amz-|response-)/i.test(q)) ? 'GetObject' : 'Forward';
  } else if (method === 'HEAD') {
    name = 'HeadObject';
  }
  return { bucket, key, name };
}

// One request/response pair: ids, logging and the S3-style answers.
// onClose(status) is told the status sent, or 'dropped' when no answer was.
class Exchange {
  constructor(req, res, log, onClose) {
    this.req = req;
    this.res = res;
    this.started = Date.now();
    this.requestId = crypto.randomBytes(8).toString('hex').toUpperCase();
    this.hostId = crypto.randomBytes(24).toString('base64');
    this.resetDownload = false;
    this.notes = [];
    res.on('close', () => {
      onClose(res.headersSent ? res.statusCode : 'dropped');
      const url = req.url.replace(/(X-Amz-(Signature|Credential|Security-Token)=)[^&]*/gi, '$1***');
      log(`${new Date(this.started).toISOString()} ${this.requestId} ${req.method} ${url} ${res.headersSent ? res.statusCode : '-'} `
        + `${Date.now() - this.started}ms${this.operation ? ` ${this.operation}` : ''}${this.notes.length ? ` [${this.notes.join(' ')}]` : ''}`);
    });
  }

  headers(extra = {}) {
    return { 'x-amz-request-id': this.requestId, 'x-amz-id-2': this.hostId, server: 'AmazonS3', ...extra };
  }

  // Consume what the client still sends, so that it reads our answer instead of a broken pipe.
  async drain() {
    const { req } = this;
    if (req.complete || req.destroyed) return;
    req.resume();
    await new Promise((resolve) => {
      req.once('end', resolve);
      req.once('close', resolve);
    });
  }

  async fail(err) {
    this.notes.push(err.code);
    await this.drain();
    const body = this.req.method === 'HEAD' ? '' : err.toXML(this.requestId, this.hostId);
    this.send(err.status, { 'content-type': 'application/xml' }, body);
  }

  send(status, headers, body = '') {
    const buffer = Buffer.from(body);
    this.res.writeHead(status, this.headers({ ...headers, 'content-length': String(buffer.length) }));
    if (this.req.method === 'HEAD') {
      this.endOrCut();
      return;
    }
    this.pipeBody(bufferStream(buffer), buffer.length);
  }

  sendXml(body) {
    this.send(200, { 'content-type': 'application/xml' }, body);
  }

  // Streams `length` bytes of source to the client, or only half of them
  // followed by a dropped connection when a download reset was injected.
  pipeBody(source, length) {
    const { res } = this;
    const cut = this.resetDownload ? Math.floor(length / 2) : length;
    let sent = 0;
    let done = false;
    const finish = () => {
      if (done) return;
      done = true;
      source.destroy();
      this.endOrCut();
    };
    if (cut === 0) {
      finish();
      return;
    }
    source.on('data', (chunk) => {
      const piece = chunk.length > cut - sent ? chunk.subarray(0, cut - sent) : chunk;
      sent += piece.length;
      if (!res.write(piece)) {
        source.pause();
        res.once('drain', () => source.resume());
      }
      if (sent >= cut) finish();
    });
    source.on('end', finish);
    source.on('error', () => this.req.socket.destroy());
    res.on('close', () => source.destroy());
  }

  endOrCut() {
    if (!this.resetDownload) {
      this.res.end();
      return;
    }
    this.res.flushHeaders();
    this.res.write('', () => this.req.socket.destroy());
  }

  // Injected reset: drop the connection, for uploads once about half of the body has arrived.
  resetConnection() {
    const { req } = this;
    const length = Number(req.headers['content-length'] || 0);
    if ((req.method === 'PUT' || req.method === 'POST') && length > 0) {
      let seen = 0;
      req.on('data', (chunk) => {
        seen += chunk.length;
        if (seen >= Math.ceil(length / 2)) req.socket.destroy();
      });
      req.on('end', () => req.socket.destroy());
      return;
    }
    if (req.method === 'GET') {
      this.resetDownload = true; // cut while answering
      return;
    }
    req.socket.destroy();
  }
}

function bufferStream(buffer) {
  return Readable.from(buffer.length ? [buffer] : []);
}

class Front {
  // store: s3rver's FilesystemStore; upstream: {host, port} of s3rver.
  constructor({ store, upstream, verifier, faults, multipartDir, spoolDir, log = (line) => process.stdout.write(`${line}\n`) }) {
    this.store = store;
    this.upstream = upstream;
    this.verifier = verifier;
    this.faults = faults;
    this.multipart = new Multipart(multipartDir);
    this.spoolDir = spoolDir;
    this.log = log;
    this.agent = new http.Agent({ keepAlive: true });
    this.server = http.createServer((req, res) => {
      this.handle(req, res).catch((err) => this.crashed(req, res, err));
    });
    // Node closes idle connections after 5 s; a client that reuses one just
    // then gets a reset that looks like an injected fault. Keep them longer.
    this.server.keepAliveTimeout = 60000;
  }

  async listen(port, host) {
    await fs.promises.mkdir(this.spoolDir, { recursive: true });
    // Leftovers of a previous run are bodies nobody will finish.
    for (const name of await fs.promises.readdir(this.spoolDir)) {
      await fs.promises.rm(`${this.spoolDir}/${name}`, { force: true });
    }
    await this.multipart.load();
    await new Promise((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(port, host, resolve);
    });
  }

  close() {
    this.agent.destroy();
    return new Promise((resolve) => {
      this.server.close(resolve);
      this.server.closeAllConnections();
    });
  }

  crashed(req, res, err) {
    if (req.destroyed || err.code === 'ECONNRESET' || err.code === 'ERR_STREAM_PREMATURE_CLOSE') {
      this.log(`client went away during ${req.method} ${req.url}: ${err.message}`);
      req.socket.destroy();
      return;
    }
    this.log(`internal error on ${req.method} ${req.url}: ${err.stack || err}`);
    if (res.headersSent) {
      req.socket.destroy();
      return;
    }
    const failure = new S3Error('InternalError');
    res.writeHead(500, { 'content-type': 'application/xml' });
    res.end(req.method === 'HEAD' ? '' : failure.toXML('', ''));
  }

  async handle(req, res) {
    if (req.url === '/_admin' || req.url.startsWith('/_admin/')) {
      await this.admin(req, res);
      return;
    }
    const ex = new Exchange(req, res, this.log, (status) => this.faults.countResponse(status));
    const qmark = req.url.indexOf('?');
    const rawPath = qmark < 0 ? req.url : req.url.slice(0, qmark);
    const rawQuery = qmark < 0 ? '' : req.url.slice(qmark + 1);
    let query;
    try {
      query = parseQuery(rawQuery);
    } catch (err) {
      await ex.fail(err);
      return;
    }
    const op = classify(req.method, rawPath, query, req.headers);
    ex.operation = op.name;
    this.faults.countRequest(req.method, op.name);
    if (op.invalid) {
      await ex.fail(new S3Error('InvalidURI'));
      return;
    }

    let auth;
    try {
      auth = await this.verifier.verify({ method: req.method, url: req.url, headers: req.headersDistinct });
    } catch (err) {
      if (!(err instanceof S3Error)) throw err;
      this.faults.countAuthFailure(err.code);
      await ex.fail(err);
      return;
    }

    if ((op.key && !storableKey(op.key)) || !storableCopySource(req.headers['x-amz-copy-source'])) {
      await ex.fail(new S3Error('NotImplemented', 'Keys with empty, "." or ".." path segments are not supported by this S3 stand-in'));
      return;
    }
    if (auth.temporary && this.faults.config.expired_token && this.faults.inScope(req.url)) {
      this.faults.countFaults(['expired_token']);
      await ex.fail(new S3Error('ExpiredToken'));
      return;
    }
    const decision = this.faults.decide(req.method, req.url);
    ex.notes.push(...decision.kinds);
    if (decision.latencyMs) await sleep(decision.latencyMs);
    if (decision.reset) {
      ex.resetConnection();
      if (!ex.resetDownload) return;
    }
    if (decision.error) {
      await ex.fail(new S3Error(decision.error.code));
      return;
    }

    if (auth.payloadHash.startsWith('STREAMING-')) {
      await ex.fail(new S3Error('NotImplemented', `x-amz-content-sha256 ${auth.payloadHash} (aws-chunked uploads) is not supported by this S3 stand-in; sign the payload or send UNSIGNED-PAYLOAD`));
      return;
    }
    if (req.headers['transfer-encoding'] !== undefined) {
      // S3 wants a Content-Length; chunked transfer encoding is refused.
      await ex.fail(new S3Error('NotImplemented', undefined, { Header: 'Transfer-Encoding' }));
      return;
    }
    if (req.headers['content-length'] !== undefined && Number(req.headers['content-length']) > MAX_OBJECT_SIZE) {
      await ex.fail(new S3Error('EntityTooLarge', undefined, { ProposedSize: req.headers['content-length'], MaxSizeAllowed: String(MAX_OBJECT_SIZE) }));
      return;
    }

    try {
      await this.operate(ex, op, query, rawPath, rawQuery, auth);
    } catch (err) {
      if (!(err instanceof S3Error)) throw err;
      if (err.code === 'XAmzContentSHA256Mismatch') this.faults.countAuthFailure(err.code);
      await ex.fail(err);
    }
  }

  async operate(ex, op, query, rawPath, rawQuery, auth) {
    const { req } = ex;
    const upstreamPath = () => {
      const q = withoutAuthParams(rawQuery);
      return q ? `${rawPath}?${q}` : rawPath;
    };
    switch (op.name) {
      case 'UploadPartCopy':
        throw new S3Error('NotImplemented', 'UploadPartCopy is not supported by this S3 stand-in', { Header: 'x-amz-copy-source' });
      case 'UploadPart': {
        if (req.headers['content-length'] === undefined) throw new S3Error('MissingContentLength');
        await this.requireBucket(op.bucket);
        const number = Multipart.partNumber(query.partNumber);
        const upload = this.multipart.get(op.bucket, op.key, query.uploadId);
        const body = await this.readChecked(ex, auth, true);
        try {
          const etag = await this.multipart.putPart(upload, number, body.file, body.size, body.digests.md5.toString('hex'));
          ex.send(200, { etag, ...this.checksumEcho(req) });
        } finally {
          await fs.promises.rm(body.file, { force: true });
        }
        return;
      }
      case 'PutObject': {
        if (req.headers['content-length'] === undefined) throw new S3Error('MissingContentLength');
        const body = await this.readChecked(ex, auth, true);
        try {
          await this.forward(ex, req.method, upstreamPath(), fs.createReadStream(body.file), body.size, this.checksumEcho(req));
        } finally {
          await fs.promises.rm(body.file, { force: true });
        }
        return;
      }
      case 'CreateMultipartUpload':
        await this.requireBucket(op.bucket);
        await this.readChecked(ex, auth, false);
        ex.sendXml(await this.multipart.create(op.bucket, op.key, req.headers));
        return;
      case 'CompleteMultipartUpload':
        await this.complete(ex, op, query, auth);
        return;
      case 'AbortMultipartUpload': {
        await this.requireBucket(op.bucket);
        await this.readChecked(ex, auth, false);
        const upload = this.multipart.get(op.bucket, op.key, query.uploadId);
        await this.multipart.remove(upload);
        ex.send(204, {});
        return;
      }
      case 'ListParts': {
        await this.requireBucket(op.bucket);
        await this.readChecked(ex, auth, false);
        const upload = this.multipart.get(op.bucket, op.key, query.uploadId);
        ex.sendXml(this.multipart.listPartsXml(upload, query, OWNER));
        return;
      }
      case 'ListMultipartUploads':
        await this.requireBucket(op.bucket);
        await this.readChecked(ex, auth, false);
        ex.sendXml(this.multipart.listUploadsXml(op.bucket, query, OWNER));
        return;
      case 'ListObjects':
      case 'ListObjectsV2':
        await this.requireBucket(op.bucket);
        await this.readChecked(ex, auth, false);
        ex.sendXml(await listObjects(this.store, op.bucket, query));
        return;
      case 'DeleteObjects':
        await this.deleteObjects(ex, op, auth);
        return;
      case 'GetObject':
      case 'HeadObject':
        await this.readChecked(ex, auth, false);
        await this.getObject(ex, op, upstreamPath());
        return;
      default: {
        // Everything else s3rver does itself (bucket calls, copy, tagging, DeleteObject, ...).
        const body = await this.readChecked(ex, auth, false);
        await this.forward(ex, req.method, upstreamPath(), body.size ? bufferStream(body.buffer) : null, body.size, {});
      }
    }
  }

  async requireBucket(bucket) {
    if (!(await this.store.getBucket(bucket))) throw new S3Error('NoSuchBucket', undefined, { BucketName: bucket });
  }

  // Reads the body and checks it against the declared payload hash and digests.
  async readChecked(ex, auth, toFile) {
    const body = await readBody(ex.req, toFile ? this.spoolDir : undefined);
    try {
      verifyBody(body, ex.req.headers, auth.payloadHash);
    } catch (err) {
      if (body.file) await fs.promises.rm(body.file, { force: true });
      throw err;
    }
    return body;
  }

  // S3 echoes the x-amz-checksum-* it verified on uploads.
  checksumEcho(req) {
    return Object.fromEntries(Object.entries(req.headers).filter(([name]) => name.startsWith('x-amz-checksum-')));
  }

  forwardHeaders(req) {
    const headers = {};
    for (const [name, value] of Object.entries(req.headers)) {
      if (!NOT_FORWARDED.test(name)) headers[name] = value;
    }
    headers.host = `${this.upstream.host}:${this.upstream.port}`;
    return headers;
  }

  // A request to s3rver; resolves to its response stream.
  upstreamRequest(method, path, headers, body) {
    return new Promise((resolve, reject) => {
      const request = http.request({
        host: this.upstream.host, port: this.upstream.port, method, path, headers, agent: this.agent,
      }, resolve);
      request.on('error', reject);
      if (body) body.on('error', (err) => request.destroy(err)).pipe(request);
      else request.end();
    });
  }

  // Sends the request on to s3rver and its answer back to the client.
  // extraHeaders: added to a successful answer.
  async forward(ex, method, path, body, size, extraHeaders, range) {
    const headers = this.forwardHeaders(ex.req);
    if (body) headers['content-length'] = String(size);
    if (range) headers.range = `bytes=${range.start}-${range.end}`;
    const upstream = await this.upstreamRequest(method, path, headers, body);
    const out = {};
    for (const [name, value] of Object.entries(upstream.headers)) {
      if (!HOP_BY_HOP.has(name)) out[name] = value;
    }
    const status = upstream.statusCode;
    if (status >= 300 && method !== 'HEAD') {
      // An S3 error body from s3rver: give it our RequestId and HostId.
      const chunks = [];
      for await (const chunk of upstream) chunks.push(chunk);
      let text = Buffer.concat(chunks).toString('utf8');
      if (text.includes('</Error>')) {
        text = text.replace('</Error>', `${xml.elements({ RequestId: ex.requestId, HostId: ex.hostId })}</Error>`);
        ex.notes.push(xml.text(text, 'Code'));
      }
      if (status >= 500) this.log(`s3rver answered ${status} to ${method} ${path}: ${text}`);
      delete out['content-length'];
      ex.send(status, out, text);
      return;
    }
    Object.assign(out, extraHeaders);
    let length = Number(upstream.headers['content-length'] || 0);
    if (range && status === 206) {
      // s3rver 3.7.1 reads "bytes=0-0" as "to the end": trim to the range asked for.
      length = range.end - range.start + 1;
      out['content-length'] = String(length);
      out['content-range'] = `bytes ${range.start}-${range.end}/${range.size}`;
    }
    ex.res.writeHead(status, ex.headers(out));
    if (method === 'HEAD') {
      upstream.resume();
      ex.endOrCut();
      return;
    }
    ex.pipeBody(upstream, length);
  }

  // GET/HEAD object: Range is resolved here (suffix ranges, 0-0 and
  // unsatisfiable ranges are where s3rver strays from S3), the rest forwarded.
  async getObject(ex, op, path) {
    const asked = parseRange(ex.req.headers.range);
    let range;
    if (asked) {
      let meta = null;
      try {
        meta = await this.store.getMetadata(op.bucket, op.key);
      } catch (err) {
        if (err.code !== 'ENOENT' && err.code !== 'ENOTDIR') throw err;
      }
      if (meta) {
        const size = Number(meta['content-length']);
        const start = asked.suffix !== undefined ? Math.max(0, size - asked.suffix) : asked.first;
        const end = asked.suffix !== undefined ? size - 1 : Math.min(asked.last, size - 1);
        if (size === 0 || start >= size || (asked.suffix !== undefined && asked.suffix === 0)) {
          throw new S3Error('InvalidRange', undefined, { RangeRequested: ex.req.headers.range, ActualObjectSize: String(size) });
        }
        range = { start, end, size };
      }
    }
    await this.forward(ex, ex.req.method, path, null, 0, {}, range);
  }

  async complete(ex, op, query, auth) {
    await this.requireBucket(op.bucket);
    const body = await this.readChecked(ex, auth, false);
    const upload = this.multipart.get(op.bucket, op.key, query.uploadId);
    if (upload.completing) throw new S3Error('OperationAborted');
    const plan = this.multipart.plan(upload, body.buffer.toString('utf8'));
    upload.completing = true;
    try {
      const multipart = this.multipart;
      async function* concatenated() {
        for (const part of plan.parts) yield* fs.createReadStream(multipart.partPath(upload.uploadId, part.number));
      }
      const headers = { ...upload.headers, 'content-length': String(plan.size), host: `${this.upstream.host}:${this.upstream.port}` };
      const response = await this.upstreamRequest('PUT', `/${encodeURIComponent(op.bucket)}/${encodeKey(op.key)}`, headers, Readable.from(concatenated()));
      response.resume();
      if (response.statusCode !== 200) throw new Error(`s3rver answered ${response.statusCode} to the completed object's PUT`);
      // s3rver keeps an object's ETag in <object>.md5; give it S3's multipart form.
      await fs.promises.writeFile(this.store.getResourcePath(op.bucket, op.key, 'object.md5'), plan.etag);
      await this.multipart.remove(upload);
    } finally {
      upload.completing = false;
    }
    ex.sendXml(xml.document('CompleteMultipartUploadResult', {
      Location: `http://${ex.req.headers.host}/${encodeURIComponent(op.bucket)}/${encodeKey(op.key)}`,
      Bucket: op.bucket,
      Key: op.key,
      ETag: `"${plan.etag}"`,
    }));
  }

  async deleteObjects(ex, op, auth) {
    await this.requireBucket(op.bucket);
    const body = await this.readChecked(ex, auth, false);
    const headers = ex.req.headers;
    if (headers['content-md5'] === undefined && !Object.keys(headers).some((h) => h.startsWith('x-amz-checksum-'))) {
      throw new S3Error('InvalidRequest', 'Missing required header for this request: Content-MD5');
    }
    const text = body.buffer.toString('utf8');
    if (xml.rootName(text) !== 'Delete') throw new S3Error('MalformedXML');
    const keys = xml.children(text, 'Object').map((o) => xml.text(o, 'Key'));
    if (keys.length === 0 || keys.length > 1000 || keys.some((k) => k === undefined)) throw new S3Error('MalformedXML');
    const quiet = xml.text(text, 'Quiet') === 'true';
    const deleted = [];
    const errors = [];
    for (const key of keys) {
      if (!storableKey(key)) { // cannot exist here; S3 reports absent keys deleted
        if (!quiet) deleted.push({ Key: key });
        continue;
      }
      const response = await this.upstreamRequest('DELETE', `/${encodeURIComponent(op.bucket)}/${encodeKey(key)}`, { host: `${this.upstream.host}:${this.upstream.port}` });
      const chunks = [];
      for await (const chunk of response) chunks.push(chunk);
      if (response.statusCode === 204 || response.statusCode === 200) {
        if (!quiet) deleted.push({ Key: key });
      } else {
        const answer = Buffer.concat(chunks).toString('utf8');
        errors.push({ Key: key, Code: xml.text(answer, 'Code') || 'InternalError', Message: xml.text(answer, 'Message') || '' });
      }
    }
    ex.sendXml(xml.document('DeleteResult', { Deleted: deleted, Error: errors }));
  }

  // /_admin/*: JSON, no authentication, never subject to faults.
  async admin(req, res) {
    const json = (status, value) => {
      const body = `${JSON.stringify(value, null, 2)}\n`;
      res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) });
      res.end(body);
    };
    const path = req.url.split('?')[0].replace(/\/+$/, '');
    const routes = {
      '/_admin/faults': {
        GET: () => json(200, this.faults.view()),
        PUT: async () => {
          const chunks = [];
          for await (const chunk of req) chunks.push(chunk);
          let input;
          try {
            input = JSON.parse(Buffer.concat(chunks).toString('utf8') || '{}');
            this.faults.configure(input);
          } catch (err) {
            if (!(err instanceof ConfigError || err instanceof SyntaxError)) throw err;
            json(400, { error: err.message });
            return;
          }
          this.log(`faults configured: ${JSON.stringify(input)}`);
          json(200, this.faults.view());
        },
        DELETE: () => {
          this.faults.clear();
          this.log('faults cleared');
          json(200, this.faults.view());
        },
      },
      '/_admin/stats': {
        GET: () => json(200, this.faults.stats),
        DELETE: () => {
          this.faults.resetStats();
          json(200, this.faults.stats);
        },
      },
      '/_admin/uploads': {
        GET: () => json(200, {
          uploads: this.multipart.list().map((u) => ({
            bucket: u.bucket,
            key: u.key,
            uploadId: u.uploadId,
            initiated: u.initiated,
            parts: u.parts.size,
            bytes: [...u.parts.values()].reduce((sum, p) => sum + p.size, 0),
          })),
        }),
      },
    };
    const route = routes[path];
    if (!route) {
      json(404, { error: `no admin resource ${path}; see test/stack/README.md` });
      return;
    }
    if (!route[req.method]) {
      json(405, { error: `${req.method} not allowed on ${path}`, allowed: Object.keys(route) });
      return;
    }
    await route[req.method]();
  }
}

module.exports = { Front };
