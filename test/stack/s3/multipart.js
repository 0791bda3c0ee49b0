'use strict';
// Multipart uploads, done by the front because s3rver 3.7.1's are not S3's:
// it has no abort, no ListMultipartUploads, no minimum part size, does not
// check the listed ETags and gives the completed object a plain MD5 ETag.
//
// State lives on disk so uploads survive a restart of the stand-in, as they
// survive on S3 until aborted:
//   <root>/<uploadId>/upload.json    bucket, key, initiated, object headers
//   <root>/<uploadId>/part-<N>       part bytes
//   <root>/<uploadId>/part-<N>.json  {etag, size, lastModified}
// Completing concatenates the listed parts and PUTs the result to s3rver
// (the caller does that), then the upload directory is removed.

const crypto = require('node:crypto');
const fs = require('node:fs');
const path = require('node:path');
const { S3Error } = require('../lib/s3-errors');
const xml = require('../lib/xml');

const MIN_PART_SIZE = 5 * 1024 * 1024;
const MAX_PART_NUMBER = 10000;
// Object headers kept from CreateMultipartUpload for the final object (what s3rver stores).
const OBJECT_HEADERS = /^(cache-control|content-disposition|content-encoding|content-language|content-type|expires|x-amz-storage-class|x-amz-website-redirect-location|x-amz-meta-.*)$/;

// Uploads of one key are listed in initiation order; the id breaks ties.
function uploadOrder(upload) {
  return `${upload.initiated} ${upload.uploadId}`;
}

function stripQuotes(etag) {
  return String(etag).replace(/"/g, '');
}

class Multipart {
  constructor(root) {
    this.root = root;
    this.uploads = new Map();
  }

  // Loads uploads left on disk by a previous run.
  async load() {
    await fs.promises.mkdir(this.root, { recursive: true });
    for (const id of await fs.promises.readdir(this.root)) {
      const dir = path.join(this.root, id);
      let upload;
      try {
        upload = JSON.parse(await fs.promises.readFile(path.join(dir, 'upload.json'), 'utf8'));
      } catch {
        await fs.promises.rm(dir, { recursive: true, force: true }); // half-created: never answered
        continue;
      }
      upload.parts = new Map();
      upload.completing = false;
      for (const name of await fs.promises.readdir(dir)) {
        const m = /^part-(\d+)\.json$/.exec(name);
        if (!m) continue;
        try {
          upload.parts.set(Number(m[1]), JSON.parse(await fs.promises.readFile(path.join(dir, name), 'utf8')));
        } catch {
          // Cut short by a crash before the part was acknowledged: as if never uploaded.
        }
      }
      this.uploads.set(id, upload);
    }
  }

  dir(uploadId) {
    return path.join(this.root, uploadId);
  }

  partPath(uploadId, number) {
    return path.join(this.dir(uploadId), `part-${number}`);
  }

  async create(bucket, key, headers) {
    const uploadId = crypto.randomBytes(32).toString('base64url');
    const objectHeaders = {};
    for (const [name, value] of Object.entries(headers)) {
      if (OBJECT_HEADERS.test(name)) objectHeaders[name] = value;
    }
    const upload = { uploadId, bucket, key, initiated: new Date().toISOString(), headers: objectHeaders };
    await fs.promises.mkdir(this.dir(uploadId), { recursive: true });
    await fs.promises.writeFile(path.join(this.dir(uploadId), 'upload.json'), JSON.stringify(upload));
    this.uploads.set(uploadId, { ...upload, parts: new Map(), completing: false });
    return xml.document('InitiateMultipartUploadResult', { Bucket: bucket, Key: key, UploadId: uploadId });
  }

  // The upload named by the request, or NoSuchUpload (also for another key's upload id).
  get(bucket, key, uploadId) {
    const upload = this.uploads.get(uploadId);
    if (!upload || upload.bucket !== bucket || upload.key !== key) {
      throw new S3Error('NoSuchUpload', undefined, { UploadId: uploadId });
    }
    return upload;
  }

  static partNumber(value) {
    const number = /^\d+$/.test(value || '') ? Number(value) : NaN;
    if (!(number >= 1 && number <= MAX_PART_NUMBER)) {
      throw new S3Error('InvalidArgument', `Part number must be an integer between 1 and ${MAX_PART_NUMBER}, inclusive`, {
        ArgumentName: 'partNumber', ArgumentValue: value,
      });
    }
    return number;
  }

  // Moves an already verified body file in as part `number`; returns its ETag (quoted md5).
  async putPart(upload, number, file, size, md5hex) {
    const part = { etag: `"${md5hex}"`, size, lastModified: new Date().toISOString() };
    try {
      await fs.promises.rename(file, this.partPath(upload.uploadId, number));
      await fs.promises.writeFile(`${this.partPath(upload.uploadId, number)}.json`, JSON.stringify(part));
    } catch (err) {
      // Aborted or completed meanwhile: the directory is gone.
      if (err.code === 'ENOENT' && !this.uploads.has(upload.uploadId)) {
        throw new S3Error('NoSuchUpload', undefined, { UploadId: upload.uploadId });
      }
      throw err;
    }
    upload.parts.set(number, part);
    return part.etag;
  }

  // Checks a CompleteMultipartUpload body against the stored parts; returns
  // the parts to concatenate and the object's multipart ETag.
  plan(upload, body) {
    if (xml.rootName(body) !== 'CompleteMultipartUpload') throw new S3Error('MalformedXML');
    const listed = xml.children(body, 'Part').map((part) => ({
      number: xml.text(part, 'PartNumber'),
      etag: xml.text(part, 'ETag'),
    }));
    if (listed.length === 0 || listed.some((p) => p.number === undefined || p.etag === undefined || !/^\d+$/.test(p.number))) {
      throw new S3Error('MalformedXML');
    }
    const parts = [];
    let previous = 0;
    for (const { number: text, etag } of listed) {
      const number = Number(text);
      if (number <= previous) throw new S3Error('InvalidPartOrder', undefined, { UploadId: upload.uploadId });
      previous = number;
      const stored = upload.parts.get(number);
      if (!stored || stripQuotes(stored.etag) !== stripQuotes(etag)) {
        throw new S3Error('InvalidPart', undefined, { UploadId: upload.uploadId, PartNumber: String(number), ETag: etag });
      }
      parts.push({ number, ...stored });
    }
    parts.forEach((part, i) => {
      if (i < parts.length - 1 && part.size < MIN_PART_SIZE) {
        throw new S3Error('EntityTooSmall', undefined, {
          ProposedSize: String(part.size), MinSizeAllowed: String(MIN_PART_SIZE),
          PartNumber: String(part.number), ETag: part.etag,
        });
      }
    });
    // S3's multipart ETag: md5 of the concatenated binary part md5s, "-" part count.
    const md5s = Buffer.concat(parts.map((p) => Buffer.from(stripQuotes(p.etag), 'hex')));
    const etag = `${crypto.createHash('md5').update(md5s).digest('hex')}-${parts.length}`;
    return { parts, etag, size: parts.reduce((sum, p) => sum + p.size, 0) };
  }

  async remove(upload) {
    this.uploads.delete(upload.uploadId);
    await fs.promises.rm(this.dir(upload.uploadId), { recursive: true, force: true });
  }

  // Unfinished uploads of a bucket in S3's order (key, then initiation time).
  list(bucket) {
    return [...this.uploads.values()]
      .filter((u) => bucket === undefined || u.bucket === bucket)
      .sort((a, b) => Buffer.compare(Buffer.from(a.key), Buffer.from(b.key)) || uploadOrder(a).localeCompare(uploadOrder(b)));
  }

  // GET /bucket?uploads: prefix, key-marker/upload-id-marker paging, max-uploads.
  listUploadsXml(bucket, query, owner) {
    const prefix = query.prefix || '';
    const maxUploads = query['max-uploads'] === undefined ? 1000 : Number(query['max-uploads']);
    if (!Number.isInteger(maxUploads) || maxUploads < 0) {
      throw new S3Error('InvalidArgument', 'Provided max-uploads not an integer or within integer range', {
        ArgumentName: 'max-uploads', ArgumentValue: query['max-uploads'],
      });
    }
    const keyMarker = query['key-marker'] || '';
    const idMarker = query['upload-id-marker'] || '';
    const candidates = this.list(bucket).filter((u) => {
      if (!u.key.startsWith(prefix)) return false;
      if (!keyMarker) return true;
      const cmp = Buffer.compare(Buffer.from(u.key), Buffer.from(keyMarker));
      if (cmp !== 0) return cmp > 0;
      // Within the marker key, continue after the marker upload (ids in initiation order).
      const marker = this.uploads.get(idMarker);
      return idMarker !== '' && marker !== undefined && uploadOrder(u) > uploadOrder(marker);
    });
    const shown = candidates.slice(0, Math.min(maxUploads, 1000));
    const truncated = candidates.length > shown.length;
    const last = shown[shown.length - 1];
    return xml.document('ListMultipartUploadsResult', {
      Bucket: bucket,
      KeyMarker: keyMarker,
      UploadIdMarker: idMarker,
      NextKeyMarker: truncated ? last.key : undefined,
      NextUploadIdMarker: truncated ? last.uploadId : undefined,
      Prefix: prefix,
      MaxUploads: maxUploads,
      IsTruncated: truncated,
      Upload: shown.map((u) => ({
        Key: u.key, UploadId: u.uploadId, Initiator: owner, Owner: owner,
        StorageClass: u.headers['x-amz-storage-class'] || 'STANDARD', Initiated: u.initiated,
      })),
    });
  }

  // GET /bucket/key?uploadId=X: part-number-marker paging, max-parts.
  listPartsXml(upload, query, owner) {
    const marker = query['part-number-marker'] === undefined ? 0 : Number(query['part-number-marker']);
    const maxParts = query['max-parts'] === undefined ? 1000 : Number(query['max-parts']);
    if (!Number.isInteger(marker) || marker < 0 || !Number.isInteger(maxParts) || maxParts < 0) {
      throw new S3Error('InvalidArgument', 'Provided part-number-marker or max-parts not an integer or within integer range');
    }
    const numbers = [...upload.parts.keys()].filter((n) => n > marker).sort((a, b) => a - b);
    const shown = numbers.slice(0, Math.min(maxParts, 1000));
    const truncated = numbers.length > shown.length;
    return xml.document('ListPartsResult', {
      Bucket: upload.bucket,
      Key: upload.key,
      UploadId: upload.uploadId,
      Initiator: owner,
      Owner: owner,
      StorageClass: upload.headers['x-amz-storage-class'] || 'STANDARD',
      PartNumberMarker: marker,
      NextPartNumberMarker: shown.length ? shown[shown.length - 1] : marker,
      MaxParts: maxParts,
      IsTruncated: truncated,
      Part: shown.map((n) => {
        const p = upload.parts.get(n);
        return { PartNumber: n, LastModified: p.lastModified, ETag: p.etag, Size: p.size };
      }),
    });
  }
}

module.exports = { Multipart };
