'use strict';
// ListObjectsV2 and ListObjects (v1), answered by the front from s3rver's store.
//
// s3rver 3.7.1 lists keys in directory-walk order, not in S3's UTF-8 binary
// order ("t.csv.1" before "t.csv", "a/b" before "a-c"), returns the first
// max-keys keys of that walk, and uses DES continuation tokens that OpenSSL 3
// may refuse. Paging through it can skip keys. So the front walks s3rver's
// bucket directory itself (layout: <bucket>/<key dirs>/<last part>._S3rver_object),
// sorts keys the S3 way and pages them, and reads each listed object's
// metadata (ETag, size, time) through the store.

const fs = require('node:fs');
const path = require('node:path');
const { S3Error } = require('../lib/s3-errors');
const xml = require('../lib/xml');

const OBJECT_SUFFIX = '._S3rver_object';
const MAX_KEYS = 1000;
const OWNER = { ID: '75aa57f09aa0c8caeab4f8c24e99d10f8e7faeebf76c078efc7c6caea54ba06a', DisplayName: 'redtrack' };

function byteOrder(a, b) {
  return Buffer.compare(Buffer.from(a), Buffer.from(b));
}

// All keys of a bucket that start with prefix, in S3 order.
async function keysWithPrefix(bucketDir, prefix) {
  const keys = [];
  async function walk(dir, keyDir) {
    let entries;
    try {
      entries = await fs.promises.readdir(dir, { withFileTypes: true });
    } catch (err) {
      if (err.code === 'ENOENT') return; // removed while listing
      throw err;
    }
    for (const entry of entries) {
      if (entry.isDirectory()) {
        const sub = `${keyDir}${entry.name}/`;
        // Only descend where keys can still start with the prefix.
        if (sub.startsWith(prefix) || prefix.startsWith(sub)) await walk(path.join(dir, entry.name), sub);
      } else if (entry.name.endsWith(OBJECT_SUFFIX)) {
        const key = keyDir + entry.name.slice(0, -OBJECT_SUFFIX.length);
        if (key.startsWith(prefix)) keys.push(key);
      }
    }
  }
  await walk(bucketDir, '');
  return keys.sort(byteOrder);
}

// encoding-type=url: S3 URL-encodes keys and prefixes (clients decode with
// unquote_plus, so a space may be '+'; '/' stays readable).
function encoder(encodingType) {
  if (encodingType === undefined) return (s) => s;
  if (encodingType !== 'url') {
    throw new S3Error('InvalidArgument', 'Invalid Encoding Method specified in Request', {
      ArgumentName: 'encoding-type', ArgumentValue: encodingType,
    });
  }
  return (s) => (s === undefined ? s : encodeURIComponent(s).replace(/%2F/g, '/').replace(/%20/g, '+'));
}

function maxKeysOf(query) {
  if (query['max-keys'] === undefined) return MAX_KEYS;
  if (!/^\d+$/.test(query['max-keys']) || Number(query['max-keys']) > 2147483647) {
    throw new S3Error('InvalidArgument', 'Provided max-keys not an integer or within integer range', {
      ArgumentName: 'max-keys', ArgumentValue: query['max-keys'],
    });
  }
  return Math.min(MAX_KEYS, Number(query['max-keys']));
}

function encodeToken(after) {
  return Buffer.from(JSON.stringify({ after })).toString('base64');
}

function decodeToken(token) {
  try {
    const { after } = JSON.parse(Buffer.from(token, 'base64').toString('utf8'));
    if (typeof after === 'string') return after;
  } catch {
    // fall through: S3 answers any undecodable token the same way
  }
  throw new S3Error('InvalidArgument', 'The continuation token provided is incorrect', { ArgumentName: 'continuation-token' });
}

// One page: keys after `after`, rolled up into common prefixes at the
// delimiter; keys and prefixes both count towards maxKeys, as on S3.
// When `after` is itself a common prefix, everything under it is skipped.
function page(keys, { prefix, delimiter, after, maxKeys }) {
  const contents = [];
  const prefixes = [];
  let last;
  let truncated = false;
  const skipUnder = delimiter && after && after.endsWith(delimiter) ? after : undefined;
  for (const key of keys) {
    if (after !== undefined && byteOrder(key, after) <= 0) continue;
    if (skipUnder !== undefined && key.startsWith(skipUnder)) continue;
    let item = key;
    let isPrefix = false;
    if (delimiter) {
      const at = key.indexOf(delimiter, prefix.length);
      if (at >= 0) {
        item = key.slice(0, at + delimiter.length);
        isPrefix = true;
        if (item === prefixes[prefixes.length - 1]) continue;
      }
    }
    if (contents.length + prefixes.length >= maxKeys) {
      truncated = true;
      break;
    }
    if (isPrefix) prefixes.push(item);
    else contents.push(item);
    last = item;
  }
  return { contents, prefixes, truncated, last };
}

async function describe(store, bucket, keys, withOwner) {
  const described = await Promise.all(keys.map(async (key) => {
    try {
      const meta = await store.getMetadata(bucket, key);
      return { key, meta };
    } catch (err) {
      if (err.code === 'ENOENT') return undefined; // deleted while listing
      throw err;
    }
  }));
  return described.filter(Boolean).map(({ key, meta }) => ({
    Key: key,
    LastModified: new Date(meta['last-modified']).toISOString(),
    ETag: meta.etag,
    Size: Number(meta['content-length']),
    Owner: withOwner ? OWNER : undefined,
    StorageClass: meta['x-amz-storage-class'] || 'STANDARD',
  }));
}

// GET /bucket?list-type=2 (v2) or GET /bucket (v1). Returns the XML body.
async function listObjects(store, bucket, query) {
  const v2 = query['list-type'] === '2';
  const encode = encoder(query['encoding-type']);
  const prefix = query.prefix || '';
  const delimiter = query.delimiter || undefined;
  const maxKeys = maxKeysOf(query);
  let after;
  if (v2) {
    if ('marker' in query) throw new S3Error('InvalidArgument', 'Marker unsupported with REST.GET.BUCKET in list-type=2', { ArgumentName: 'marker' });
    after = query['continuation-token'] !== undefined ? decodeToken(query['continuation-token']) : query['start-after'] || undefined;
  } else {
    after = query.marker || undefined;
  }

  const keys = maxKeys === 0 ? [] : await keysWithPrefix(store.getBucketPath(bucket), prefix);
  const result = page(keys, { prefix, delimiter, after, maxKeys });
  const withOwner = v2 ? query['fetch-owner'] === 'true' : true;
  const contents = (await describe(store, bucket, result.contents, withOwner)).map((c) => ({ ...c, Key: encode(c.Key) }));
  const common = result.prefixes.map((p) => ({ Prefix: encode(p) }));

  const fields = v2
    ? {
      Name: bucket,
      Prefix: encode(prefix),
      ContinuationToken: query['continuation-token'],
      NextContinuationToken: result.truncated ? encodeToken(result.last) : undefined,
      StartAfter: encode(query['start-after']),
      KeyCount: contents.length + common.length,
      MaxKeys: maxKeys,
      Delimiter: encode(delimiter),
      EncodingType: query['encoding-type'],
      IsTruncated: result.truncated,
      Contents: contents,
      CommonPrefixes: common,
    }
    : {
      Name: bucket,
      Prefix: encode(prefix),
      Marker: encode(query.marker || ''),
      NextMarker: result.truncated && delimiter ? encode(result.last) : undefined,
      MaxKeys: maxKeys,
      Delimiter: encode(delimiter),
      EncodingType: query['encoding-type'],
      IsTruncated: result.truncated,
      Contents: contents,
      CommonPrefixes: common,
    };
  return xml.document('ListBucketResult', fields);
}

module.exports = { listObjects, OWNER };
