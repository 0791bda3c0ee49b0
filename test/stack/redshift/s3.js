'use strict';
// Reading from the S3 stand-in the way Redshift's COPY does: path-style HTTP
// requests signed with SigV4 (AWS's own signer) using the credentials the
// COPY statement authorized, so wrong keys fail for real at the S3 front.
// S3 errors become S3Error carrying S3's code, message and request ids, which
// copy.js words like Redshift's "S3ServiceException:...".

const crypto = require('node:crypto');
const http = require('node:http');
const { Hash } = require('@smithy/hash-node');
const { HttpRequest } = require('@smithy/protocol-http');
const { SignatureV4 } = require('@smithy/signature-v4');

const TIMEOUT_MS = 30000;
const RETRIES = 5;
const EMPTY_SHA256 = crypto.createHash('sha256').update('').digest('hex');

class S3Error extends Error {
  constructor({ status, code, message, requestId, hostId }) {
    super(message || code || `HTTP ${status}`);
    this.status = status;
    this.code = code || `HTTP${status}`;
    this.requestId = requestId || '';
    this.hostId = hostId || '';
  }
}

function uriEncode(text) {
  return encodeURIComponent(text).replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);
}

function xmlText(xml, tag) {
  const m = new RegExp(`<${tag}>([\\s\\S]*?)</${tag}>`).exec(xml);
  return m ? decodeXml(m[1]) : null;
}

function decodeXml(s) {
  return s.replace(/&(lt|gt|quot|apos|amp|#(\d+)|#x([0-9a-fA-F]+));/g, (_, name, dec, hx) => {
    if (dec) return String.fromCodePoint(Number(dec));
    if (hx) return String.fromCodePoint(parseInt(hx, 16));
    return { lt: '<', gt: '>', quot: '"', apos: "'", amp: '&' }[name];
  });
}

class S3Reader {
  // endpoint: 'http://127.0.0.1:59000'; region: the region requests are signed for.
  constructor({ endpoint, region }) {
    const url = new URL(endpoint);
    if (url.protocol !== 'http:' || !['127.0.0.1', 'localhost', '[::1]'].includes(url.hostname)) {
      throw new Error(`the S3 endpoint must be a loopback http:// address, got ${endpoint}`);
    }
    this.host = url.hostname;
    this.port = Number(url.port || 80);
    this.region = region;
  }

  // credentials: {accessKeyId, secretAccessKey, sessionToken?}
  async request(credentials, { method = 'GET', bucket, key = null, query = {} }) {
    const path = key === null ? `/${bucket}` : `/${bucket}/${key.split('/').map(uriEncode).join('/')}`;
    const headers = { host: `${this.host}:${this.port}`, 'x-amz-content-sha256': EMPTY_SHA256 };
    const signer = new SignatureV4({
      credentials, region: this.region, service: 's3', sha256: Hash.bind(null, 'sha256'), uriEscapePath: false,
    });
    const signed = await signer.sign(new HttpRequest({
      method, protocol: 'http:', hostname: this.host, port: this.port, path, query, headers,
    }));
    const search = Object.entries(query).map(([k, v]) => `${uriEncode(k)}=${uriEncode(v)}`).join('&');
    return new Promise((resolve, reject) => {
      const req = http.request({
        host: this.host, port: this.port, method, path: search ? `${path}?${search}` : path, headers: signed.headers, agent: false,
      }, (res) => {
        if (res.statusCode < 300) {
          resolve(res);
          return;
        }
        const chunks = [];
        res.on('data', (c) => chunks.push(c));
        res.on('error', reject);
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          reject(new S3Error({
            status: res.statusCode,
            code: xmlText(text, 'Code'),
            message: xmlText(text, 'Message'),
            requestId: xmlText(text, 'RequestId') || res.headers['x-amz-request-id'],
            hostId: xmlText(text, 'HostId') || res.headers['x-amz-id-2'],
          }));
        });
      });
      req.setTimeout(TIMEOUT_MS, () => req.destroy(new S3Error({ status: 0, code: 'RequestTimeout', message: 'Timed out reading from S3' })));
      req.on('error', (e) => reject(e instanceof S3Error ? e : new S3Error({ status: 0, code: 'NetworkError', message: e.message })));
      req.end();
    });
  }

  // A whole response body; transient failures (500, 503, dropped
  // connections) are retried with backoff, as Redshift's S3 client does.
  // Reading whole objects means a retry can never load part of a file twice.
  async fetch(credentials, target) {
    for (let attempt = 1; ; attempt++) {
      try {
        const res = await this.request(credentials, target);
        const chunks = [];
        for await (const c of res) chunks.push(c);
        return Buffer.concat(chunks);
      } catch (e) {
        const transient = !(e instanceof S3Error) || e.status === 0 || e.status === 500 || e.status === 503;
        if (!transient || attempt >= RETRIES) {
          throw e instanceof S3Error ? e : new S3Error({ status: 0, code: 'NetworkError', message: e.message });
        }
        await new Promise((resolve) => setTimeout(resolve, 50 * 2 ** attempt * (0.5 + Math.random())));
      }
    }
  }

  getObject(credentials, bucket, key) {
    return this.fetch(credentials, { bucket, key });
  }

  // Every key (with its size) under a prefix, in S3's (lexicographic) order.
  async listObjects(credentials, bucket, prefix) {
    const out = [];
    let token = null;
    do {
      const query = { 'list-type': '2', prefix };
      if (token) query['continuation-token'] = token;
      const xml = (await this.fetch(credentials, { bucket, query })).toString('utf8');
      for (const m of xml.matchAll(/<Contents>([\s\S]*?)<\/Contents>/g)) {
        out.push({ key: xmlText(m[1], 'Key'), size: Number(xmlText(m[1], 'Size') || 0) });
      }
      token = xmlText(xml, 'IsTruncated') === 'true' ? xmlText(xml, 'NextContinuationToken') : null;
    } while (token);
    return out;
  }
}

module.exports = { S3Reader, S3Error };
