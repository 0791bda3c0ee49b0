'use strict';
// Request bodies: read completely (to a temporary file for uploads, to memory
// for small XML bodies) while hashing, then checked against what the client
// declared, before anything reaches s3rver. s3rver writes objects in place,
// so streaming an unverified or interrupted body through would leave a
// corrupt object behind; S3 stores nothing in those cases.

const crypto = require('node:crypto');
const fs = require('node:fs');
const path = require('node:path');
const zlib = require('node:zlib');
const { Transform } = require('node:stream');
const { pipeline } = require('node:stream/promises');
const { S3Error } = require('../lib/s3-errors');

const MAX_XML_BODY = 10 * 1024 * 1024;
// Checksums S3 verifies. CRC32C and CRC64NVME are accepted unverified.
const CHECKSUMS = {
  crc32: 'CRC32',
  sha1: 'SHA1',
  sha256: 'SHA256',
};

// CRC-32 (ISO-HDLC, the one x-amz-checksum-crc32 carries), continuing from
// crc. zlib.crc32 exists only from Node 20.15, and the stand-ins accept
// Node 18 (Debian 12's), so older Nodes get this table-driven version.
const CRC32_TABLE = new Int32Array(256);
for (let n = 0; n < 256; n++) {
  let c = n;
  for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
  CRC32_TABLE[n] = c;
}
function crc32js(data, crc = 0) {
  let c = ~crc;
  for (let i = 0; i < data.length; i++) c = CRC32_TABLE[(c ^ data[i]) & 0xff] ^ (c >>> 8);
  return ~c >>> 0;
}
const crc32 = zlib.crc32 ? (data, crc) => zlib.crc32(data, crc) : crc32js;

class Hasher extends Transform {
  constructor(limit) {
    super();
    this.limit = limit;
    this.size = 0;
    this.hashes = { sha256: crypto.createHash('sha256'), md5: crypto.createHash('md5'), sha1: crypto.createHash('sha1') };
    this.crc32 = 0;
  }

  _transform(chunk, _encoding, done) {
    this.size += chunk.length;
    if (this.size > this.limit) {
      done(new S3Error('MaxMessageLengthExceeded', undefined, { MaxMessageLengthBytes: String(this.limit) }));
      return;
    }
    for (const hash of Object.values(this.hashes)) hash.update(chunk);
    this.crc32 = crc32(chunk, this.crc32);
    done(null, chunk);
  }

  digests() {
    const crc = Buffer.alloc(4);
    crc.writeUInt32BE(this.crc32 >>> 0);
    return {
      sha256: this.hashes.sha256.digest(),
      md5: this.hashes.md5.digest(),
      sha1: this.hashes.sha1.digest(),
      crc32: crc,
    };
  }
}

let spoolCounter = 0;

// Reads the whole body. With spoolDir the bytes go to a new file there
// (the caller owns and removes it), else to memory (at most MAX_XML_BODY).
// Resolves to {file?, buffer?, size, digests}.
async function readBody(req, spoolDir) {
  const hasher = new Hasher(spoolDir ? Infinity : MAX_XML_BODY);
  if (spoolDir) {
    const file = path.join(spoolDir, `${process.pid}-${Date.now()}-${spoolCounter++}`);
    try {
      await pipeline(req, hasher, fs.createWriteStream(file));
    } catch (err) {
      await fs.promises.rm(file, { force: true });
      throw err;
    }
    return { file, size: hasher.size, digests: hasher.digests() };
  }
  const chunks = [];
  await pipeline(req, hasher, async function* collect(source) {
    for await (const chunk of source) chunks.push(chunk);
  });
  return { buffer: Buffer.concat(chunks), size: hasher.size, digests: hasher.digests() };
}

// Checks the body against x-amz-content-sha256, Content-MD5 and x-amz-checksum-*.
function verifyBody(body, headers, payloadHash) {
  const { digests } = body;
  if (/^[0-9a-f]{64}$/.test(payloadHash) && digests.sha256.toString('hex') !== payloadHash) {
    throw new S3Error('XAmzContentSHA256Mismatch', undefined, {
      ClientComputedContentSHA256: payloadHash,
      S3ComputedContentSHA256: digests.sha256.toString('hex'),
    });
  }
  const md5 = headers['content-md5'];
  if (md5 !== undefined) {
    const declared = Buffer.from(md5, 'base64');
    if (declared.length !== 16 || declared.toString('base64') !== md5.trim()) throw new S3Error('InvalidDigest');
    if (!declared.equals(digests.md5)) {
      throw new S3Error('BadDigest', undefined, {
        ExpectedDigest: declared.toString('hex'), CalculatedDigest: digests.md5.toString('hex'),
      });
    }
  }
  for (const [algorithm, label] of Object.entries(CHECKSUMS)) {
    const declared = headers[`x-amz-checksum-${algorithm}`];
    if (declared === undefined || label === undefined) continue;
    if (declared !== digests[algorithm].toString('base64')) {
      throw new S3Error('BadDigest', `The ${label} you specified did not match the calculated checksum.`);
    }
  }
}

module.exports = { readBody, verifyBody, crc32js };
