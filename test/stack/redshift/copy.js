'use strict';
// COPY ... FROM 's3://...': authorizes, finds the files (manifest or key
// prefix), reads them from the S3 stand-in with the COPY's credentials,
// parses and validates every field like Redshift, and streams the good rows
// into the target table through COPY FROM STDIN on the client's own
// warehouse session (so they are part of the client's transaction).
// Bad rows go to stl_load_errors on a separate connection (they survive a
// rollback); more bad rows than MAXERROR fail the COPY, which aborts the
// client's transaction. [r_COPY, copy-parameters-*, r_STL_LOAD_ERRORS,
// PG_LAST_COPY_ID, PG_LAST_COPY_COUNT, loading-data-files-using-manifest]

const zlib = require('node:zlib');
const { Decompress: ZstdDecompress } = require('fzstd');
const { Readable } = require('node:stream');
const { frontend, parseFields, backend } = require('./protocol');
const { quoteLiteral, quoteIdent } = require('./sql');
const { RecordParser } = require('./records');
const { JsonRecordParser } = require('./json-records');
const { converter } = require('./validate');
const { kindOfPgType } = require('./types');
const { RedshiftError, UpstreamError, detailBlock } = require('./errors');
const { S3Error } = require('./s3');

const BATCH_BYTES = 64 * 1024;

class Killed extends Error {}

// A timestamp as stl_load_errors.starttime holds it (UTC, no zone).
const stamp = (date) => date.toISOString().replace('T', ' ').replace('Z', '');

function s3Text(e) {
  return `S3ServiceException:${e.message},Status ${e.status},Error ${e.code},Rid ${e.requestId},ExtRid ${e.hostId},CanRetry 1`;
}

// Redshift's wording for a failed S3 access, with its context block.
function s3Failure(e, url, prefix = '') {
  if (!(e instanceof S3Error)) throw e;
  const text = `${prefix}${s3Text(e)}`;
  return new RedshiftError('XX000', text, {
    D: detailBlock({ error: text, code: 8001, context: `S3 key being read : ${url}`, location: 'copy.js (Redshift stand-in)', process: 'padbmaster' }),
  });
}

const copyError = (message, context = '') => new RedshiftError('XX000', message, {
  D: detailBlock({ error: message, code: 8001, context, location: 'copy.js (Redshift stand-in)', process: 'padbmaster' }),
});

// The credentials S3 is read with. IAM_ROLE: only the stack's role is
// attached to this "cluster"; Redshift then reads with the role's keys.
function credentialsFor(auth, config) {
  if (auth.kind === 'keys') {
    return { accessKeyId: auth.accessKeyId, secretAccessKey: auth.secretAccessKey, sessionToken: auth.sessionToken };
  }
  const roles = auth.arn === 'default' ? [config.iamRole] : auth.arn.split(',');
  const denied = roles.find((arn) => arn !== config.iamRole);
  if (denied) {
    const account = config.iamRole.split(':')[4] || '123456789012';
    const text = `User arn:aws:redshift:${config.region}:${account}:dbuser:redtrack-standin/${config.user} is not authorized to assume IAM Role ${denied}`;
    throw new RedshiftError('XX000', text, {
      D: detailBlock({ error: text, code: 8001, context: `IAM Role=${denied}`, location: 'xen_aws_credentials_mgr.cpp', process: 'padbmaster' }),
    });
  }
  return { accessKeyId: config.accessKeyId, secretAccessKey: config.secretAccessKey };
}

function parseS3Url(url) {
  if (typeof url !== 'string' || !url.startsWith('s3://')) return null;
  const slash = url.indexOf('/', 5);
  if (slash < 6 || slash === url.length - 1) return null;
  return { bucket: url.slice(5, slash), key: url.slice(slash + 1) };
}

// The files to load: [{url, bucket, key, mandatory}].
async function findFiles(s3, creds, plan) {
  if (plan.manifest) {
    let body;
    try {
      body = await s3.getObject(creds, plan.bucket, plan.key);
    } catch (e) {
      throw s3Failure(e, plan.source, 'Problem reading manifest file - ');
    }
    let manifest;
    try {
      // A manifest must be uncompressed UTF-8 JSON, even with GZIP [copy-parameters-data-source-s3].
      manifest = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(body));
    } catch {
      throw copyError('Manifest file is not in correct json format', `manifest: ${plan.source}`);
    }
    if (!manifest || typeof manifest !== 'object' || !Array.isArray(manifest.entries)) {
      throw copyError("Manifest file is not in correct json format: 'entries' array not found", `manifest: ${plan.source}`);
    }
    const files = manifest.entries.map((entry) => {
      const loc = entry && parseS3Url(entry.url);
      if (!loc) throw new RedshiftError('XX000', 'COPY with MANIFEST parameter requires full path of an S3 object');
      if (entry.mandatory !== undefined && typeof entry.mandatory !== 'boolean') {
        throw copyError("Manifest file is not in correct json format: 'mandatory' must be true or false", `manifest: ${plan.source}`);
      }
      return { url: entry.url, ...loc, mandatory: entry.mandatory === true };
    });
    if (!files.length) throw copyError('The manifest file has no entries; no files to load', `manifest: ${plan.source}`);
    return files;
  }
  // Without MANIFEST the path is a key prefix: t.csv also loads t.csv.1.
  let listed;
  try {
    listed = await s3.listObjects(creds, plan.bucket, plan.key);
  } catch (e) {
    throw s3Failure(e, plan.source);
  }
  const files = listed.filter((o) => !o.key.endsWith('/'))
    .map((o) => ({ url: `s3://${plan.bucket}/${o.key}`, bucket: plan.bucket, key: o.key, mandatory: true }));
  if (!files.length) throw copyError(`The specified S3 prefix '${plan.key}' does not exist`, plan.source);
  return files;
}

// The target table and the columns fields are loaded into, in file order.
async function describeTarget(session, plan) {
  const rel = await session.upCollect(`SELECT c.oid, c.relname, c.relkind,
      (SELECT usesysid FROM pg_user WHERE usename = current_user)
    FROM pg_class c WHERE c.oid = to_regclass(${quoteLiteral(plan.table.text)})`);
  if (rel.error) throw new UpstreamError(rel.error);
  if (!rel.rows.length) throw new RedshiftError('42P01', `Cannot COPY into nonexistent table ${plan.table.name}`);
  const [oid, relname, relkind, userid] = rel.rows[0];
  if (relkind !== 'r' && relkind !== 'p') throw new RedshiftError('42809', `"${relname}" is not a table`);
  const cols = await session.upCollect(`SELECT a.attname, t.typname, bt.typname, a.atttypmod, a.attnotnull, a.attidentity, m.byte_length
    FROM pg_attribute a JOIN pg_type t ON t.oid = a.atttypid
    LEFT JOIN pg_type bt ON t.typtype = 'd' AND bt.oid = t.typbasetype
    LEFT JOIN redtrack_standin.column_meta m ON m.reloid = a.attrelid AND m.attnum = a.attnum
    WHERE a.attrelid = ${oid} AND a.attnum > 0 AND NOT a.attisdropped ORDER BY a.attnum`);
  if (cols.error) throw new UpstreamError(cols.error);
  const all = cols.rows.map(([name, typname, basetype, typmodText, notNull, identity, byteLength]) => {
    const typmod = Number(typmodText);
    const kind = kindOfPgType(typname, basetype);
    const col = { name, typname, kind, notNull: notNull === 't', identity };
    if (kind === 'varchar' || kind === 'char') col.length = byteLength !== null ? Number(byteLength) : (typmod > 4 ? typmod - 4 : Infinity);
    if (kind === 'varbyte') col.length = byteLength !== null ? Number(byteLength) : 1024000;
    if (kind === 'numeric') {
      if (typmod < 4) col.kind = 'other'; // unconstrained PostgreSQL numeric: the warehouse checks it
      else Object.assign(col, { precision: ((typmod - 4) >> 16) & 0xffff, scale: (typmod - 4) & 0xffff });
    }
    col.lengthText = Number.isFinite(col.length) ? String(col.length) : '';
    return col;
  });
  let columns;
  if (plan.columns) {
    columns = plan.columns.map((n) => {
      const c = all.find((x) => x.name === n);
      if (!c) throw new RedshiftError('42703', `column "${n}" of relation "${relname}" does not exist`);
      if (c.identity === 'a' && !plan.explicitIds) throw new RedshiftError('0A000', `cannot set an identity column to a value: "${n}" (use EXPLICIT_IDS)`);
      return c;
    });
    if (new Set(plan.columns).size !== plan.columns.length) throw new RedshiftError('42701', 'column specified more than once');
  } else {
    // Without a column list IDENTITY columns are left out unless EXPLICIT_IDS [copy-parameters-column-mapping].
    columns = all.filter((c) => c.identity !== 'a' || plan.explicitIds);
  }
  return { oid: Number(oid), name: relname, userid: Number(userid), columns };
}

// An uncompressed file's bytes in pieces (the parser works chunk by chunk).
function* chunked(buf) {
  for (let i = 0; i < buf.length; i += BATCH_BYTES) yield buf.subarray(i, i + BATCH_BYTES);
}

// ZSTD [copy-parameters-file-compression]: Node 20's zlib has no zstd, so
// fzstd (pure JavaScript) decodes, fed in pieces so that a file is never
// held decompressed whole. Frames in a row are one file, as gzip members
// are; a file that is not zstd, or ends inside a frame, fails the COPY.
function* unzstd(buf) {
  const out = [];
  const decoder = new ZstdDecompress((data) => out.push(Buffer.from(data))); // a copy: fzstd may reuse its buffer
  if (!buf.length) decoder.push(new Uint8Array(0), true);
  for (let i = 0; i < buf.length; i += BATCH_BYTES) {
    decoder.push(buf.subarray(i, i + BATCH_BYTES), i + BATCH_BYTES >= buf.length);
    while (out.length) yield out.shift();
  }
}

// A value in PostgreSQL's COPY text format.
function copyText(value) {
  if (value === null) return '\\N';
  return value.replace(/[\\\n\r\t]/g, (c) => ({ '\\': '\\\\', '\n': '\\n', '\r': '\\r', '\t': '\\t' }[c]));
}

// raw_line: multibyte characters in the load data are replaced with a period [r_STL_LOAD_ERRORS].
function rawLineText(buf) {
  let out = '';
  for (const b of buf) out += b >= 0x20 && b < 0x7f ? String.fromCharCode(b) : (b === 0x09 || b === 0x0a || b === 0x0d ? String.fromCharCode(b) : (b >= 0x80 && (b & 0xc0) === 0x80 ? '' : '.'));
  return out.slice(0, 1024);
}

function fieldText(buf) {
  return buf.toString('utf8').replace(/\0/g, '.').slice(0, 1024);
}

// Reads the warehouse's answers up to ReadyForQuery: the first error, if any.
async function untilReady(session) {
  let error = null;
  for (;;) {
    const msg = await session.upNext();
    if (msg.type === 'E' && !error) error = parseFields(msg.body);
    if (msg.type === 'Z') {
      session.txStatus = String.fromCharCode(msg.body[0]);
      return error;
    }
  }
}

async function runCopy(session, plan, { decision }) {
  const { server } = session;
  const { catalog, s3, config, stats } = server;
  const db = session.database;

  const target = await describeTarget(session, plan);
  const creds = credentialsFor(plan.auth, config);
  if (plan.region && plan.region !== config.region) {
    // The bucket lives in the stack's region; another REGION gets S3's redirect.
    throw s3Failure(new S3Error({
      status: 301, code: 'PermanentRedirect',
      message: 'The bucket you are attempting to access must be addressed using the specified endpoint. Please send all future requests to this endpoint.',
    }), plan.source);
  }
  const files = await findFiles(s3, creds, plan);
  if (session.cancelRequested) throw new RedshiftError('57014', "Query cancelled on user's request");

  // The load begins: from here pg_last_copy_id() names this COPY, even if it
  // fails (on Serverless, whose only load-error view is SYS_LOAD_ERROR_DETAIL,
  // with the id that view shows: a guess).
  const { serverless } = session.cluster;
  const { id: queryId, sysId } = await catalog.nextQueryIds(db);
  const started = new Date();
  await session.noteCopyBegin(serverless ? sysId : queryId);
  const errorView = serverless ? 'sys_load_error_detail' : 'stl_load_errors';
  stats.count('copies');

  const converters = target.columns.map((c) => converter(c, plan));
  const errors = [];
  let loaded = 0;
  let filesRead = 0;
  let batch = [];
  let batchBytes = 0;
  let copying = false;
  let upstreamError = null;

  const errorRow = (file, rec, colIndex, error, field) => {
    const col = colIndex === null ? null : target.columns[colIndex];
    return {
      userid: target.userid, tbl: target.oid, starttime: stamp(started),
      session: session.pid, query: queryId, sys_query: sysId, filename: file.url, line_number: rec.line,
      colname: col ? col.name : '', type: col ? col.typname : '', col_length: col ? col.lengthText : '',
      position: error.pos || 0, raw_line: rawLineText(rec.raw), raw_field_value: field ? fieldText(field.value) : '',
      err_code: error.code, err_reason: error.reason,
    };
  };

  const flush = async () => {
    if (!batch.length) return;
    const data = Buffer.from(batch.join(''), 'utf8');
    batch = [];
    batchBytes = 0;
    if (plan.noLoad) return;
    await session.upWrite(frontend.copyData(data));
    if (decision.during && !session.closed) {
      // "during": the connections drop after rows reached the warehouse; it rolls back.
      await new Promise((resolve) => setTimeout(resolve, 50));
      session.kill();
    }
    if (session.closed) throw new Killed('session closed during COPY');
    // The warehouse answers during COPY only when it refuses something.
    while (session.exclusive.pending && !upstreamError) {
      const msg = await session.upNext();
      if (msg.type === 'E') {
        upstreamError = parseFields(msg.body);
        await untilReady(session);
      }
    }
  };

  const handle = async (file, rec) => {
    if (rec.error) {
      errors.push(errorRow(file, rec, null, rec.error, null));
      if (rec.error.fatal) fatal = true;
      return;
    }
    const n = target.columns.length;
    if (rec.fields.length > n) {
      errors.push(errorRow(file, rec, null, { code: 1202, reason: 'Extra column(s) found' }, null));
      return;
    }
    if (rec.fields.length < n && !plan.fillRecord) {
      errors.push(errorRow(file, rec, null, { code: 1203, reason: 'Input data had fewer columns than were defined in the DDL' }, null));
      return;
    }
    const values = [];
    for (let i = 0; i < n; i++) {
      const field = rec.fields[i] || { value: Buffer.alloc(0), raw: [0, 0], quoted: false };
      if (plan.escape) field.rawBytes = rec.raw.subarray(field.raw[0], field.raw[1]);
      const r = field.jsonNull
        ? (target.columns[i].notNull ? { error: { code: 1213, reason: 'Missing data for not-null field' } } : { value: null })
        : converters[i](field);
      if (r.error) {
        errors.push(errorRow(file, rec, i, r.error, field));
        return;
      }
      values.push(copyText(r.value));
    }
    const line = `${values.join('\t')}\n`;
    batch.push(line);
    batchBytes += line.length;
    loaded++;
    if (batchBytes >= BATCH_BYTES) await flush();
  };

  // The load fails once the error count reaches MAXERROR ("If the load returns
  // the error_count number of errors or greater, the load fails"
  // [copy-parameters-data-load "MAXERROR"]); 0, the default, and 1 both fail at
  // the first error. A record over 4 MB fails it whatever MAXERROR says.
  let fatal = false;
  const tooMany = () => fatal || errors.length >= Math.max(plan.maxError, 1);

  try {
    if (!plan.noLoad) {
      const cols = target.columns.map((c) => quoteIdent(c.name)).join(', ');
      await session.upWrite(frontend.query(`COPY ${plan.table.text} (${cols}) FROM STDIN`));
      const first = await session.upNext();
      if (first.type !== 'G') {
        const err = first.type === 'E' ? parseFields(first.body) : null;
        await untilReady(session);
        if (err) throw new UpstreamError(err);
        throw new Error(`unexpected answer ${first.type} to COPY FROM STDIN`);
      }
      copying = true;
    }
    for (const file of files) {
      let body;
      try {
        body = await s3.getObject(creds, file.bucket, file.key);
      } catch (e) {
        // A missing file listed as not mandatory is skipped [r_COPY manifest "mandatory"].
        if (e instanceof S3Error && e.code === 'NoSuchKey' && !file.mandatory) continue;
        throw s3Failure(e, file.url);
      }
      filesRead++;
      const source = plan.gzip ? Readable.from([body]).pipe(zlib.createGunzip())
        : plan.zstd ? unzstd(body) : chunked(body);
      const parser = plan.json ? new JsonRecordParser(plan, target.columns) : new RecordParser(plan);
      let skip = plan.ignoreHeader;
      const take = async (records) => {
        for (const rec of records) {
          if (skip > 0) {
            skip--;
            continue;
          }
          if (plan.ignoreBlankLines && rec.raw.length === 0) continue;
          await handle(file, rec);
          if (tooMany() || upstreamError) return false;
        }
        return true;
      };
      try {
        let more = true;
        for await (const chunk of source) {
          if (session.cancelRequested) throw new RedshiftError('57014', `Query (${queryId}) cancelled on user's request`);
          more = await take(parser.push(chunk));
          if (!more) break;
        }
        if (more) await take(parser.finish());
      } catch (e) {
        if (e instanceof RedshiftError || e instanceof Killed) throw e;
        if (session.closed) throw new Killed('session closed during COPY');
        throw copyError(`${plan.gzip ? 'gzip: ' : plan.zstd ? 'zstd: ' : ''}error reading ${file.url}: ${e.message}`, `S3 key being read : ${file.url}`);
      }
      if (tooMany() || upstreamError) break;
    }
    if (!upstreamError && !tooMany()) {
      if (!filesRead) throw copyError('No files found to load: every file in the manifest is missing', plan.source);
      await flush();
    }
  } catch (e) {
    if (copying && !session.closed && !upstreamError) {
      await session.upWrite(frontend.copyFail('COPY aborted by the Redshift stand-in'));
      await untilReady(session);
    }
    if (!(e instanceof Killed)) {
      await catalog.recordLoadErrors(db, errors).catch((x) => session.log(`recording load errors failed: ${x.message}`));
    }
    session.noteCopyFailed();
    throw e;
  }

  // A row the warehouse refused although this stand-in let it through.
  const refused = (err) => ({
    userid: target.userid, tbl: target.oid, starttime: stamp(started), session: session.pid, query: queryId, sys_query: sysId,
    filename: '', line_number: 0, colname: '', type: '', col_length: '', position: 0, raw_line: '', raw_field_value: '',
    err_code: 1200, err_reason: `Unknown parse error: ${err.M}`,
  });
  if (upstreamError && upstreamError.C === '40001') {
    // A serialization failure is the transaction's, not the data's.
    await catalog.recordLoadErrors(db, errors);
    throw new UpstreamError(upstreamError);
  }
  if (upstreamError && upstreamError.C === '57014') {
    await catalog.recordLoadErrors(db, errors);
    throw new RedshiftError('57014', `Query (${queryId}) cancelled on user's request`);
  }
  let failure = null;
  if (tooMany()) failure = errors[errors.length - 1];
  else if (upstreamError) errors.push(failure = refused(upstreamError));
  if (failure) {
    if (copying && !upstreamError) {
      await session.upWrite(frontend.copyFail('COPY aborted by the Redshift stand-in'));
      await untilReady(session);
    }
  } else if (copying) {
    await session.upWrite(frontend.copyDone());
    const err = await untilReady(session);
    if (err && err.C === '40001') {
      await catalog.recordLoadErrors(db, errors);
      throw new UpstreamError(err);
    }
    if (err) errors.push(failure = refused(err));
  }

  await catalog.recordLoadErrors(db, errors);
  stats.count('loadErrors', errors.length);
  if (failure) {
    stats.count('copiesFailed');
    session.noteCopyFailed();
    const text = `Load into table '${target.name}' failed.  Check '${errorView}' system table for details.`;
    throw new RedshiftError('XX000', text, {
      D: detailBlock({
        error: text, code: failure.err_code, context: failure.filename ? `${failure.filename}, line ${failure.line_number}` : '',
        query: queryId, location: 'copy.js (Redshift stand-in)', process: 'padbmaster',
      }),
    });
  }
  const count = plan.noLoad ? 0 : loaded;
  await session.noteCopyDone(count);
  stats.count('rowsLoaded', count);
  const info = (text) => backend.notice({ S: 'INFO', V: 'INFO', C: '00000', M: text });
  const notices = [];
  if (plan.maxErrorClamped) notices.push(info('MAXERROR is more than 100000; using 100000'));
  if (errors.length) notices.push(info(`Load into table '${target.name}' completed, ${errors.length} record(s) could not be loaded.  Check '${errorView}' system table for details.`));
  notices.push(info(plan.noLoad
    ? `Load into table '${target.name}' completed, the data is valid (NOLOAD: nothing was loaded).`
    : `Load into table '${target.name}' completed, ${count} record(s) loaded successfully.`));
  // The command tag is a bare "COPY": clients use pg_last_copy_count().
  return { tag: 'COPY', notices };
}

module.exports = { runCopy };
