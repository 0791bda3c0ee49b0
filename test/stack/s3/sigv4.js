'use strict';
// SigV4 verification of S3 requests with AWS's own signer (@smithy/signature-v4).
//
// The request is rebuilt as the client must have signed it: only the headers
// named in SignedHeaders, the path exactly as received (S3 does not
// double-encode: uriEscapePath false), the decoded query, the payload hash the
// client declared in x-amz-content-sha256 and the date of x-amz-date. The
// signer then produces the canonical request, the string to sign and the
// signature. We call its steps one by one instead of signRequest() because
// signRequest() drops a signed `Date` header and re-adds x-amz-date itself,
// which would reject correctly signed requests (AWS's own PUT example signs
// `date`). Whether the body really hashes to the declared value is checked by
// the caller once the body has been read (XAmzContentSHA256Mismatch).
//
// Errors follow S3's codes and messages; see lib/s3-errors.js.

const crypto = require('node:crypto');
const { Hash } = require('@smithy/hash-node');
const { HttpRequest } = require('@smithy/protocol-http');
const { SignatureV4, getCanonicalHeaders } = require('@smithy/signature-v4');
const { S3Error } = require('../lib/s3-errors');

const ALGORITHM = 'AWS4-HMAC-SHA256';
const UNSIGNED_PAYLOAD = 'UNSIGNED-PAYLOAD';
const MAX_SKEW_MS = 15 * 60 * 1000;
const MAX_PRESIGN_SECONDS = 7 * 24 * 3600;
const PAYLOAD_HASH_FORMS = /^([0-9a-f]{64}|UNSIGNED-PAYLOAD|STREAMING-(UNSIGNED-PAYLOAD-TRAILER|AWS4-HMAC-SHA256-PAYLOAD(-TRAILER)?|AWS4-ECDSA-P256-SHA256-PAYLOAD(-TRAILER)?))$/;
const sha256 = Hash.bind(null, 'sha256');

// 20130524T000000Z -> Date, or null when malformed.
function parseAmzDate(value) {
  const m = /^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z$/.exec(value || '');
  if (!m) return null;
  const date = new Date(Date.UTC(+m[1], +m[2] - 1, +m[3], +m[4], +m[5], +m[6]));
  return Number.isNaN(date.getTime()) ? null : date;
}

function amzDate(date) {
  return date.toISOString().replace(/[-:]|\.\d{3}/g, '');
}

function isoSeconds(date) {
  return date.toISOString().replace(/\.\d{3}Z$/, 'Z');
}

// Raw query string -> {name: value | [values]}, percent-decoded. Valueless
// parameters (?uploads) become '' as SigV4 canonicalises them ("uploads=").
function parseQuery(rawQuery) {
  const query = {};
  for (const pair of rawQuery.split('&')) {
    if (pair === '') continue;
    const eq = pair.indexOf('=');
    let name;
    let value;
    try {
      name = decodeURIComponent(eq < 0 ? pair : pair.slice(0, eq));
      value = eq < 0 ? '' : decodeURIComponent(pair.slice(eq + 1));
    } catch {
      throw new S3Error('InvalidURI');
    }
    if (!(name in query)) query[name] = value;
    else query[name] = [].concat(query[name], value);
  }
  return query;
}

function credentialError(credential) {
  return new S3Error(
    'AuthorizationHeaderMalformed',
    `The authorization header is malformed; the Credential is mal-formed; expecting "<YOUR-AKID>/YYYYMMDD/REGION/SERVICE/aws4_request". (${credential})`,
  );
}

class SigV4Verifier {
  // credentials: Map accessKeyId -> {secretAccessKey, sessionToken?}; a key
  // with a sessionToken is temporary and valid only with that token.
  // now: clock in ms (tests replay AWS's documented examples from 2013).
  constructor({ region, credentials, now = Date.now }) {
    this.region = region;
    this.credentials = credentials;
    this.now = now;
  }

  // Verifies the request's signature. request: {method, url (raw path?query),
  // headers: {lower-case name: [values]} (Node's req.headersDistinct)}.
  // Resolves to {accessKeyId, temporary, payloadHash, presigned}; rejects
  // with an S3Error.
  async verify(request) {
    const qmark = request.url.indexOf('?');
    const path = qmark < 0 ? request.url : request.url.slice(0, qmark);
    const query = parseQuery(qmark < 0 ? '' : request.url.slice(qmark + 1));
    const headers = request.headers;
    const header = (name) => (headers[name] ? headers[name].join(',') : undefined);

    const authorization = header('authorization');
    const presigned = 'X-Amz-Algorithm' in query || 'X-Amz-Signature' in query;
    if (authorization !== undefined && presigned) {
      throw new S3Error(
        'InvalidArgument',
        'Only one auth mechanism allowed; only the X-Amz-Algorithm query parameter, Signature query string parameter or the Authorization header should be specified',
        { ArgumentName: 'Authorization', ArgumentValue: authorization },
      );
    }
    if ('Signature' in query && 'AWSAccessKeyId' in query) {
      throw new S3Error('InvalidRequest', 'The authorization mechanism you have provided is not supported. Please use AWS4-HMAC-SHA256.');
    }
    const parsed = presigned ? this.parseQueryAuth(query) : this.parseHeaderAuth(authorization, header);

    const { accessKeyId, scopeDate, region, service, terminal } = parsed;
    const known = this.credentials.get(accessKeyId);
    const token = presigned ? query['X-Amz-Security-Token'] : header('x-amz-security-token');
    // A temporary key sent without its token is unknown to S3, as if it did not exist.
    if (!known || (known.sessionToken !== undefined && token === undefined)) {
      throw new S3Error('InvalidAccessKeyId', undefined, { AWSAccessKeyId: accessKeyId });
    }
    if (token !== undefined && token !== known.sessionToken) {
      throw new S3Error('InvalidToken', undefined, { 'Token-0': token });
    }

    if (scopeDate !== amzDate(parsed.date).slice(0, 8)) {
      throw new S3Error(
        presigned ? 'AuthorizationQueryParametersError' : 'AuthorizationHeaderMalformed',
        `The authorization ${presigned ? 'query parameters are' : 'header is'} malformed; Invalid credential date. Date is not the same as X-Amz-Date.`,
      );
    }
    if (region !== this.region) {
      throw new S3Error(
        presigned ? 'AuthorizationQueryParametersError' : 'AuthorizationHeaderMalformed',
        `The authorization ${presigned ? 'query parameters are' : 'header is'} malformed; the region '${region}' is wrong; expecting '${this.region}'`,
        { Region: this.region },
      );
    }
    if (service !== 's3' || terminal !== 'aws4_request') {
      throw new S3Error(
        presigned ? 'AuthorizationQueryParametersError' : 'AuthorizationHeaderMalformed',
        `The authorization ${presigned ? 'query parameters are' : 'header is'} malformed; incorrect service "${service}" or terminal "${terminal}"; expecting "s3" and "aws4_request".`,
      );
    }

    const now = this.now();
    if (presigned) {
      const expires = new Date(parsed.date.getTime() + parsed.expiresSeconds * 1000);
      if (now > expires.getTime()) {
        throw new S3Error('AccessDenied', 'Request has expired', {
          'X-Amz-Expires': String(parsed.expiresSeconds),
          Expires: isoSeconds(expires),
          ServerTime: isoSeconds(new Date(now)),
        });
      }
    } else if (Math.abs(now - parsed.date.getTime()) > MAX_SKEW_MS) {
      throw new S3Error('RequestTimeTooSkewed', undefined, {
        RequestTime: header('x-amz-date') || header('date'),
        ServerTime: isoSeconds(new Date(now)),
        MaxAllowedSkewMilliseconds: String(MAX_SKEW_MS),
      });
    }

    // S3 refuses x-amz-* headers that the signature does not cover, and host must be signed.
    const signed = new Set(parsed.signedHeaders);
    const unsigned = Object.keys(headers).filter((name) => name.startsWith('x-amz-') && !signed.has(name));
    if (!signed.has('host')) unsigned.unshift('host');
    if (unsigned.length) {
      throw new S3Error('AccessDenied', 'There were headers present in the request which were not signed', {
        HeadersNotSigned: unsigned.join(', '),
      });
    }

    let payloadHash = UNSIGNED_PAYLOAD;
    if (!presigned) {
      payloadHash = header('x-amz-content-sha256');
      if (payloadHash === undefined) {
        throw new S3Error('InvalidRequest', 'Missing required header for this request: x-amz-content-sha256');
      }
      if (!PAYLOAD_HASH_FORMS.test(payloadHash)) {
        throw new S3Error(
          'InvalidArgument',
          'x-amz-content-sha256 must be UNSIGNED-PAYLOAD, STREAMING-UNSIGNED-PAYLOAD-TRAILER, STREAMING-AWS4-HMAC-SHA256-PAYLOAD, STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER, STREAMING-AWS4-ECDSA-P256-SHA256-PAYLOAD, STREAMING-AWS4-ECDSA-P256-SHA256-PAYLOAD-TRAILER or a valid sha256 value.',
          { ArgumentName: 'x-amz-content-sha256', ArgumentValue: payloadHash },
        );
      }
    }

    const signedOnly = {};
    for (const name of parsed.signedHeaders) {
      if (headers[name] !== undefined) signedOnly[name] = header(name);
    }
    const toVerify = new HttpRequest({ method: request.method, path, query, headers: signedOnly });
    const signer = new SignatureV4({
      credentials: { accessKeyId, secretAccessKey: known.secretAccessKey },
      region,
      service: 's3',
      sha256,
      uriEscapePath: false,
      applyChecksum: false,
    });
    // signableHeaders: keep whatever the client signed, even headers smithy
    // would not sign on its own (user-agent, expect, ...).
    const canonicalHeaders = getCanonicalHeaders(toVerify, undefined, signed);
    const canonicalRequest = signer.createCanonicalRequest(toVerify, canonicalHeaders, payloadHash);
    const scope = `${scopeDate}/${region}/s3/aws4_request`;
    const stringToSign = await signer.createStringToSign(amzDate(parsed.date), scope, canonicalRequest, ALGORITHM);
    const expected = await signer.sign(stringToSign, { signingDate: parsed.date, signingRegion: region, signingService: 's3' });

    const provided = Buffer.from(String(parsed.signature));
    if (provided.length !== expected.length || !crypto.timingSafeEqual(provided, Buffer.from(expected))) {
      throw new S3Error('SignatureDoesNotMatch', undefined, {
        AWSAccessKeyId: accessKeyId,
        StringToSign: stringToSign,
        SignatureProvided: parsed.signature,
        StringToSignBytes: Buffer.from(stringToSign).toString('hex').replace(/(..)(?!$)/g, '$1 '),
        CanonicalRequest: canonicalRequest,
        CanonicalRequestBytes: Buffer.from(canonicalRequest).toString('hex').replace(/(..)(?!$)/g, '$1 '),
      });
    }
    return { accessKeyId, temporary: known.sessionToken !== undefined, payloadHash, presigned };
  }

  parseHeaderAuth(authorization, header) {
    if (authorization === undefined) throw new S3Error('AccessDenied');
    const space = authorization.indexOf(' ');
    const algorithm = space < 0 ? authorization : authorization.slice(0, space);
    if (algorithm === 'AWS') {
      throw new S3Error('InvalidRequest', 'The authorization mechanism you have provided is not supported. Please use AWS4-HMAC-SHA256.');
    }
    if (algorithm !== ALGORITHM) {
      throw new S3Error('InvalidArgument', 'Unsupported Authorization Type', {
        ArgumentName: 'Authorization',
        ArgumentValue: authorization,
      });
    }
    const fields = {};
    for (const part of authorization.slice(space + 1).split(',')) {
      const eq = part.indexOf('=');
      if (eq > 0) fields[part.slice(0, eq).trim()] = part.slice(eq + 1).trim();
    }
    for (const name of ['Credential', 'SignedHeaders', 'Signature']) {
      if (!fields[name]) {
        throw new S3Error(
          'AuthorizationHeaderMalformed',
          `The authorization header is malformed; the authorization header requires three components: Credential, SignedHeaders, and Signature. (missing ${name})`,
        );
      }
    }
    const scope = fields.Credential.split('/');
    if (scope.length !== 5 || !scope[0]) throw credentialError(fields.Credential);
    const [accessKeyId, scopeDate, region, service, terminal] = scope;

    // SigV4 takes the time from x-amz-date, or from Date when x-amz-date is absent.
    const amz = header('x-amz-date');
    let date = amz !== undefined ? parseAmzDate(amz) : null;
    if (amz === undefined && header('date') !== undefined) {
      const parsed = new Date(header('date'));
      date = Number.isNaN(parsed.getTime()) ? null : parsed;
    }
    if (!date) throw new S3Error('AccessDenied', 'AWS authentication requires a valid Date or x-amz-date header');

    return {
      accessKeyId, scopeDate, region, service, terminal, date,
      signedHeaders: fields.SignedHeaders.split(';'),
      signature: fields.Signature,
    };
  }

  parseQueryAuth(query) {
    const required = ['X-Amz-Algorithm', 'X-Amz-Credential', 'X-Amz-Signature', 'X-Amz-Date', 'X-Amz-SignedHeaders', 'X-Amz-Expires'];
    if (required.some((name) => typeof query[name] !== 'string')) {
      throw new S3Error(
        'AuthorizationQueryParametersError',
        'Query-string authentication version 4 requires the X-Amz-Algorithm, X-Amz-Credential, X-Amz-Signature, X-Amz-Date, X-Amz-SignedHeaders, and X-Amz-Expires parameters.',
      );
    }
    if (query['X-Amz-Algorithm'] !== ALGORITHM) {
      throw new S3Error('AuthorizationQueryParametersError', 'X-Amz-Algorithm only supports "AWS4-HMAC-SHA256"');
    }
    const scope = query['X-Amz-Credential'].split('/');
    if (scope.length !== 5 || !scope[0]) {
      throw new S3Error('AuthorizationQueryParametersError', 'Error parsing the X-Amz-Credential parameter; the Credential is mal-formed; expecting "<YOUR-AKID>/YYYYMMDD/REGION/SERVICE/aws4_request".');
    }
    const date = parseAmzDate(query['X-Amz-Date']);
    if (!date) {
      throw new S3Error('AuthorizationQueryParametersError', "X-Amz-Date must be in the ISO8601 Long Format \"yyyyMMdd'T'HHmmss'Z'\"");
    }
    const expiresSeconds = Number(query['X-Amz-Expires']);
    if (!Number.isInteger(expiresSeconds) || expiresSeconds < 0 || expiresSeconds > MAX_PRESIGN_SECONDS) {
      throw new S3Error(
        'AuthorizationQueryParametersError',
        'X-Amz-Expires must be less than a week (in seconds); that is, the given X-Amz-Expires must be less than 604800 seconds',
      );
    }
    const [accessKeyId, scopeDate, region, service, terminal] = scope;
    return {
      accessKeyId, scopeDate, region, service, terminal, date, expiresSeconds,
      signedHeaders: query['X-Amz-SignedHeaders'].split(';'),
      signature: query['X-Amz-Signature'],
    };
  }
}

module.exports = { SigV4Verifier, parseQuery };
