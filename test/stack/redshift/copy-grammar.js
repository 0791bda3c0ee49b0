'use strict';
// The grammar of Redshift's COPY from S3 [r_COPY, copy-parameters-*]:
//   COPY table [(col, ...)] FROM 's3://bucket/key' [WITH] option ...
// Options come in any order, keywords are case-insensitive and the AS noise
// word is optional where Redshift documents "[AS]". (An "=" between an option
// and its value is not documented anywhere in the COPY reference, so it is
// refused: a loader that used it could fail on Redshift.)
// The result is a plan the loader (copy.js) executes; nothing here touches S3.

const { Cursor, SqlSyntaxError } = require('./sql');
const { RedshiftError, syntaxError, notSupported } = require('./errors');

const DEFAULT_ROLE_ARN = /^arn:aws:iam::\d{12}:role\/[\w+=,.@/-]{1,512}$/;

const invalidOption = (message) => new RedshiftError('42601', message);

// '\ddd' (octal) and a few backslash escapes for DELIMITER / NULL AS values.
function octal(value) {
  const m = /^\\([0-7]{3})$/.exec(value);
  return m ? String.fromCharCode(parseInt(m[1], 8)) : null;
}

function parseDelimiter(value) {
  const v = octal(value) ?? ({ '\\t': '\t', '\\0': '\0' }[value] ?? value);
  if (Buffer.byteLength(v) !== 1 || v === '\n' || v === '\r') {
    throw invalidOption(`COPY delimiter must be a single one-byte character, not "${value}"`);
  }
  return v;
}

// NULL AS: '\0' and '\000' mean a field that is the single byte NUL
// [copy-parameters-data-conversion "NULL AS"]; anything else is literal.
function parseNullAs(value) {
  if (value === '\\0' || value === '\\000') return Buffer.from([0]);
  if (value.includes('\n')) throw invalidOption("NULL AS cannot contain a newline ('\\n' is reserved as the line delimiter)");
  return Buffer.from(value, 'utf8');
}

// 'aws_access_key_id=..;aws_secret_access_key=..[;token=..]' | 'aws_iam_role=arn'
function parseCredentials(text) {
  if (/\s/.test(text)) throw invalidOption('The credentials string must not contain spaces');
  const pairs = {};
  for (const part of text.split(';')) {
    if (!part) continue;
    const eq = part.indexOf('=');
    if (eq < 1) throw invalidOption('Invalid credentials. Must be of the format: credentials \'aws_iam_role=...\' or \'aws_access_key_id=...;aws_secret_access_key=...[;token=...]\'');
    pairs[part.slice(0, eq).toLowerCase()] = part.slice(eq + 1);
  }
  if (pairs.aws_iam_role !== undefined) {
    if (pairs.aws_access_key_id !== undefined || pairs.aws_secret_access_key !== undefined) {
      throw invalidOption('Conflicting or redundant credentials: aws_iam_role cannot be combined with access keys');
    }
    return { kind: 'role', arn: pairs.aws_iam_role };
  }
  if (!pairs.aws_access_key_id || !pairs.aws_secret_access_key) {
    throw invalidOption('Invalid credentials. Must be of the format: credentials \'aws_iam_role=...\' or \'aws_access_key_id=...;aws_secret_access_key=...[;token=...]\'');
  }
  return { kind: 'keys', accessKeyId: pairs.aws_access_key_id, secretAccessKey: pairs.aws_secret_access_key, sessionToken: pairs.token };
}

// Parses a COPY statement -> plan. Throws RedshiftError for what Redshift
// rejects. Syntax errors never quote a string constant: in a COPY it may be a
// credential.
function parseCopy(stmt) {
  try {
    return parse(stmt);
  } catch (e) {
    if (e instanceof SqlSyntaxError && /at or near "'/.test(e.message)) e.message = 'syntax error at or near a string constant';
    throw e;
  }
}

function parse(stmt) {
  const { text, tokens } = stmt;
  const cur = new Cursor(tokens);
  cur.expectWord('copy');
  if (cur.isPunct('(')) cur.syntaxError(); // COPY (query) TO ...: PostgreSQL only
  const qn = cur.qualifiedName();
  const plan = { table: { text: text.slice(qn.start, qn.end), name: qn.name, schema: qn.schema }, columns: null };
  if (cur.acceptPunct('(')) {
    plan.columns = [];
    do plan.columns.push(cur.ident().name); while (cur.acceptPunct(','));
    cur.expectPunct(')');
  }
  if (cur.isWord('to')) throw notSupported('COPY ... TO is not supported by Amazon Redshift; use UNLOAD');
  cur.expectWord('from');
  const src = cur.peek();
  if (src && src.type === 'word' && (src.value === 'stdin' || src.value === 'program')) {
    throw notSupported('LOAD source is not supported. (Hint: only S3 or DynamoDB or EMR based load is allowed)');
  }
  if (!src || src.type !== 'string') cur.syntaxError();
  cur.next();
  const source = src.value;
  if (/^(dynamodb|emr):\/\//.test(source)) throw notSupported('COPY from DynamoDB or EMR is not emulated by the Redshift stand-in');
  if (!source.startsWith('s3://')) {
    throw notSupported('LOAD source is not supported. (Hint: only S3 or DynamoDB or EMR based load is allowed)');
  }
  const slash = source.indexOf('/', 5);
  plan.source = source;
  plan.bucket = slash < 0 ? source.slice(5) : source.slice(5, slash);
  plan.key = slash < 0 ? '' : source.slice(slash + 1);
  if (!plan.bucket) throw invalidOption(`Invalid S3 path: ${source}`);

  const seen = new Set();
  const once = (name, at) => {
    if (seen.has(name)) throw syntaxError('conflicting or redundant options', at);
    seen.add(name);
  };
  const str = () => {
    cur.acceptWord('as');
    const t = cur.peek();
    if (t && t.type === 'op' && t.text === '=') cur.syntaxError();
    if (!t || t.type !== 'string') cur.syntaxError();
    cur.next();
    return t;
  };
  const int = () => {
    cur.acceptWord('as');
    const t = cur.next();
    if (!t || t.type !== 'number' || !/^\d+$/.test(t.value)) { cur.i--; cur.syntaxError(); }
    return Number(t.value);
  };
  const onOff = (allowPreset) => {
    const words = ['on', 'true', 'off', 'false', ...(allowPreset ? ['preset'] : [])];
    const t = cur.acceptWord(...words);
    return t ? t.value : 'on';
  };

  Object.assign(plan, {
    auth: null, manifest: false, gzip: false, zstd: false, csv: false, json: null, quote: '"', delimiter: null, nullAs: Buffer.from('\\N'),
    emptyAsNull: false, blanksAsNull: false, ignoreHeader: 0, dateFormat: 'default', timeFormat: 'default',
    acceptInvChars: null, truncateColumns: false, maxError: 0, maxErrorClamped: false, region: null, escape: false, explicitIds: false,
    fillRecord: false, ignoreBlankLines: false, trimBlanks: false, roundDec: false, noLoad: false,
  });
  let keyId = null;
  let secret = null;
  let token = null;
  let role = null;
  let credentials = null;

  while (!cur.done()) {
    const t = cur.peek();
    if (t.type !== 'word') cur.syntaxError();
    const at = t.start;
    const word = cur.next().value;
    switch (word) {
      case 'with':
        if (!cur.isWord('credentials')) cur.syntaxError();
        break;
      case 'iam_role': {
        once('iam_role', at);
        if (cur.acceptWord('default')) role = 'default';
        else role = str().value;
        break;
      }
      case 'access_key_id': once(word, at); keyId = str(); break;
      case 'secret_access_key': once(word, at); secret = str(); break;
      case 'session_token': once(word, at); token = str(); break;
      case 'credentials': once(word, at); credentials = str(); break;
      case 'manifest': once(word, at); plan.manifest = true; break;
      case 'gzip': once(word, at); plan.gzip = true; break;
      case 'zstd': once(word, at); plan.zstd = true; break;
      case 'format':
        cur.acceptWord('as');
        if (!cur.isWord('csv') && !cur.isWord('json')) {
          if (cur.peek() && ['avro', 'parquet', 'orc', 'shapefile'].includes(cur.peek().value)) {
            throw notSupported(`FORMAT ${cur.peek().text.toUpperCase()} is not emulated by the Redshift stand-in`);
          }
          cur.syntaxError();
        }
        break;
      case 'json': once(word, at); plan.json = jsonOption(str().value); break;
      case 'csv':
        once(word, at);
        plan.csv = true;
        if (cur.isWord('quote')) {
          cur.next();
          once('quote', at);
          plan.quote = quoteChar(str().value);
        }
        break;
      case 'quote': once(word, at); plan.quote = quoteChar(str().value); plan.quoteGiven = true; break;
      case 'delimiter': once(word, at); plan.delimiter = parseDelimiter(str().value); plan.delimiterGiven = true; break;
      case 'null': once(word, at); plan.nullAs = parseNullAs(str().value); plan.nullGiven = true; break;
      case 'emptyasnull': once(word, at); plan.emptyAsNull = true; break;
      case 'blanksasnull': once(word, at); plan.blanksAsNull = true; break;
      case 'ignoreheader': once(word, at); plan.ignoreHeader = int(); break;
      case 'dateformat': once(word, at); plan.dateFormat = dateTimeFormat(str().value, 'date'); break;
      case 'timeformat': once(word, at); plan.timeFormat = dateTimeFormat(str().value, 'time'); break;
      case 'acceptinvchars': {
        once(word, at);
        let c = '?';
        if (cur.isWord('as') || (cur.peek() && cur.peek().type === 'string')) c = str().value;
        if (c.length !== 1 || c.charCodeAt(0) === 0 || c.charCodeAt(0) > 127) {
          throw invalidOption('ACCEPTINVCHARS replacement must be a single ASCII character other than NULL');
        }
        plan.acceptInvChars = c;
        break;
      }
      case 'truncatecolumns': once(word, at); plan.truncateColumns = true; break;
      case 'maxerror': {
        once(word, at);
        const n = int();
        // The limit is 100000 [copy-parameters-data-load "MAXERROR"]; larger values are
        // taken as the limit (with a notice) rather than refused: the docs do not say which.
        plan.maxError = Math.min(n, 100000);
        plan.maxErrorClamped = n > 100000;
        break;
      }
      case 'region': once(word, at); plan.region = str().value; break;
      case 'compupdate': once(word, at); onOff(true); break;
      case 'statupdate': once(word, at); onOff(false); break;
      case 'comprows': once(word, at); int(); break;
      case 'encoding': {
        once(word, at);
        cur.acceptWord('as');
        const e = cur.ident().name.toLowerCase();
        if (e !== 'utf8') throw notSupported(`ENCODING ${e.toUpperCase()} is not emulated by the Redshift stand-in`);
        break;
      }
      case 'escape': once(word, at); plan.escape = true; break;
      case 'removequotes': once(word, at); plan.removeQuotes = true; break;
      case 'fixedwidth': once(word, at); str(); plan.fixedWidth = true; break;
      case 'explicit_ids': once(word, at); plan.explicitIds = true; break;
      case 'fillrecord': once(word, at); plan.fillRecord = true; break;
      case 'ignoreblanklines': once(word, at); plan.ignoreBlankLines = true; break;
      case 'trimblanks': once(word, at); plan.trimBlanks = true; break;
      case 'roundec': once(word, at); plan.roundDec = true; break;
      case 'noload': once(word, at); plan.noLoad = true; break;
      case 'avro': case 'parquet': case 'orc': case 'shapefile':
      case 'bzip2': case 'lzop': case 'encrypted': case 'master_symmetric_key':
      case 'acceptanydate': case 'ignoreallerrors': case 'jsonpaths':
        throw notSupported(`${word.toUpperCase()} is not emulated by the Redshift stand-in`);
      case 'ssh': case 'readratio':
        throw invalidOption(`${word.toUpperCase()} is not a valid option for COPY from Amazon S3`);
      default:
        cur.i--;
        cur.syntaxError();
    }
  }

  // JSON parses objects, not delimited fields: the options of delimited text
  // do not apply to it [copy-parameters-data-format "JSON"].
  if (plan.json) {
    for (const [flag, name] of [['csv', 'CSV'], ['delimiterGiven', 'DELIMITER'], ['escape', 'ESCAPE'], ['fillRecord', 'FILLRECORD'],
      ['fixedWidth', 'FIXEDWIDTH'], ['ignoreBlankLines', 'IGNOREBLANKLINES'], ['ignoreHeader', 'IGNOREHEADER'], ['nullGiven', 'NULL AS'],
      ['removeQuotes', 'REMOVEQUOTES'], ['quoteGiven', 'QUOTE']]) {
      if (plan[flag]) throw invalidOption(`JSON is not compatible with ${name}`);
    }
  }

  // One compression per COPY: the files are in one format
  // [copy-parameters-file-compression]; two would be a contradiction.
  if (plan.gzip && plan.zstd) throw invalidOption('GZIP and ZSTD cannot be used together');

  // CSV can't be used with FIXEDWIDTH, REMOVEQUOTES, or ESCAPE [copy-parameters-data-format].
  if (plan.csv) {
    for (const [flag, name] of [['escape', 'ESCAPE'], ['removeQuotes', 'REMOVEQUOTES'], ['fixedWidth', 'FIXEDWIDTH']]) {
      if (plan[flag]) throw invalidOption(`CSV is not compatible with ${name}`);
    }
  } else if (plan.quoteGiven) throw invalidOption('QUOTE can only be used with CSV');
  if (plan.removeQuotes || plan.fixedWidth) throw notSupported('REMOVEQUOTES and FIXEDWIDTH are not emulated by the Redshift stand-in');
  if (plan.csv && plan.delimiter === plan.quote) throw invalidOption('COPY delimiter and quote must be different');
  if (plan.delimiter === null) plan.delimiter = plan.csv ? ',' : '|';

  // Exactly one way to authorize [copy-parameters-authorization].
  const methods = [role !== null, keyId !== null || secret !== null || token !== null, credentials !== null].filter(Boolean).length;
  if (methods === 0) throw invalidOption('Missing credentials: specify IAM_ROLE, ACCESS_KEY_ID and SECRET_ACCESS_KEY, or CREDENTIALS');
  if (methods > 1) throw invalidOption('Conflicting or redundant credentials: use only one of IAM_ROLE, ACCESS_KEY_ID/SECRET_ACCESS_KEY/SESSION_TOKEN or CREDENTIALS');
  if (role !== null) {
    if (role !== 'default' && !role.split(',').every((arn) => DEFAULT_ROLE_ARN.test(arn))) {
      throw invalidOption(`Invalid IAM_ROLE ARN: ${role}`);
    }
    plan.auth = { kind: 'role', arn: role };
  } else if (credentials !== null) {
    plan.auth = parseCredentials(credentials.value);
  } else {
    if (!keyId || !secret) throw invalidOption('ACCESS_KEY_ID and SECRET_ACCESS_KEY must both be specified');
    plan.auth = { kind: 'keys', accessKeyId: keyId.value, secretAccessKey: secret.value, sessionToken: token ? token.value : undefined };
  }
  if (plan.manifest && !plan.key) throw new RedshiftError('XX000', 'COPY with MANIFEST parameter requires full path of an S3 object');
  return plan;
}

// JSON 'auto' and 'auto ignorecase' are emulated; a JSONPaths file and
// 'noshred' are not [copy-parameters-data-format "JSON"].
function jsonOption(value) {
  const v = value.trim().replace(/\s+/g, ' ').toLowerCase();
  if (v === 'auto' || v === 'auto ignorecase') return v;
  throw notSupported(`JSON '${value}' is not emulated by the Redshift stand-in (use 'auto' or 'auto ignorecase')`);
}

function quoteChar(value) {
  if (Buffer.byteLength(value) !== 1) throw invalidOption(`COPY quote must be a single one-byte character, not "${value}"`);
  return value;
}

// 'auto' (case-sensitive), 'epochsecs'/'epochmillisecs' (TIMEFORMAT only) and the
// default format strings are emulated; other format strings are refused
// rather than guessed.
function dateTimeFormat(value, which) {
  if (value === 'auto') return 'auto';
  if (which === 'time' && (value === 'epochsecs' || value === 'epochmillisecs')) return value;
  const defaults = which === 'date' ? ['YYYY-MM-DD'] : ['YYYY-MM-DD HH:MI:SS', 'YYYY-MM-DD HH24:MI:SS'];
  if (defaults.includes(value.toUpperCase())) return 'default';
  throw notSupported(`${which === 'date' ? 'DATEFORMAT' : 'TIMEFORMAT'} '${value}' is not emulated by the Redshift stand-in (use 'auto' or the default)`);
}

module.exports = { parseCopy };
