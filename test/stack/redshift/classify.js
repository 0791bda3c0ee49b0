'use strict';
// What the stand-in does with one statement:
//   {action: 'pass', sql}                       send to the warehouse (maybe rewritten)
//   {action: 'emulate', kind, plan}             run by the session (COPY, TRUNCATE, DDL, ...)
//   {action: 'reject', error: RedshiftError}    what Redshift refuses
// plus `redacted`, the statement text safe for logs.
//
// Rewrites applied to every statement:
//   - ASCII letters in quoted identifiers fold to lower case, as Redshift does
//     unless the session SETs enable_case_sensitive_identifier [r_names].
// Statement rules: see the switch in classify().

const { Cursor, tokenize, quoteLiteral, applyEdits, quoteIdent, SqlSyntaxError } = require('./sql');
const { parseCopy } = require('./copy-grammar');
const { parseCreateTable, parseAlterTable } = require('./ddl');
const { RedshiftError, syntaxError, notSupported } = require('./errors');
const { reservedIdentifier } = require('./reserved');

// System views Redshift Serverless does not let anyone read: STL, STV, SVL
// and SVCS ("permission denied for relation stl_insert", 42501, as users of
// Serverless report it); SYS_* views replace them [c_intro_system_views].
const PROVISIONED_ONLY_VIEW = /^(stl|stv|svl|svcs)_[a-z0-9_]+$/;

// Types Redshift refuses in casts as well [c_unsupported-postgresql-datatypes]
// (INTERVAL literals are fine in Redshift expressions, so interval is not here).
const UNSUPPORTED_CAST_TYPES = new Set(['uuid', 'json', 'jsonb', 'bytea', 'money', 'inet', 'cidr', 'macaddr', 'macaddr8', 'xml', 'tsvector', 'tsquery', 'hstore']);

// Parameters Redshift has and PostgreSQL lacks: SET/SHOW are answered by the stand-in.
const REDSHIFT_SETTINGS = {
  enable_case_sensitive_identifier: 'off',
  query_group: 'default',
  wlm_query_slot_count: '1',
  analyze_threshold_percent: '10',
  enable_result_cache_for_session: 'on',
  describe_field_name_in_uppercase: 'off',
  json_serialization_enable: 'off',
  datashare_break_glass_session_var: '',
};

// The closing quote is optional: an unterminated literal is redacted to the end.
const SECRET_PATTERN = /\b(ACCESS_KEY_ID|SECRET_ACCESS_KEY|SESSION_TOKEN|CREDENTIALS|MASTER_SYMMETRIC_KEY)(\s+AS)?\s*'(?:[^']|'')*(?:'|$)/gi;
const SECRET_PAIRS = /(aws_access_key_id|aws_secret_access_key|token|master_symmetric_key)=[^;'\s]*/gi;

// Statement text with every credential replaced by '***' (also for text the
// lexer cannot read: the patterns work on any text).
function redact(text) {
  return text.replace(SECRET_PATTERN, (_, kw, as) => `${kw}${as || ''} '***'`).replace(SECRET_PAIRS, '$1=***');
}

// Folds quoted identifiers to lower case (ASCII only).
function foldIdentifiers(text, tokens) {
  const edits = tokens
    .filter((t) => t.type === 'ident' && /[A-Z]/.test(t.value))
    .map((t) => ({ start: t.start, end: t.end, text: quoteIdent(t.value.replace(/[A-Z]/g, (c) => c.toLowerCase())) }));
  if (!edits.length) return { text, tokens };
  const folded = applyEdits(text, edits);
  return { text: folded, tokens: tokenize(folded) };
}

// Redshift rejects ON CONFLICT and RETURNING (its grammar predates them),
// array constructors and casts to types it lacks. Scans tokens, so words in
// strings, comments and quoted identifiers are never taken for keywords.
function checkUnsupportedSyntax(tokens) {
  for (let i = 0; i < tokens.length; i++) {
    const t = tokens[i];
    const next = tokens[i + 1];
    if (t.type === 'word' && t.value === 'returning') throw syntaxError('syntax error at or near "RETURNING"', t.start);
    if (t.type === 'word' && t.value === 'on' && next && next.type === 'word' && next.value === 'conflict') {
      const after = tokens[i + 2];
      if (after && ((after.type === 'punct' && after.value === '(') || (after.type === 'word' && (after.value === 'do' || after.value === 'on')))) {
        throw syntaxError('syntax error at or near "ON"', t.start);
      }
    }
    if (t.type === 'word' && t.value === 'array' && next && next.type === 'punct' && (next.value === '[' || next.value === '(')) {
      throw notSupported('Array constructors are not supported');
    }
    if (t.type === 'op' && t.text === '::' && next) {
      if (next.type === 'word' && UNSUPPORTED_CAST_TYPES.has(next.value)) {
        throw notSupported(`type "${next.value}" is not supported`);
      }
      const after = tokens[i + 2];
      if (after && after.type === 'punct' && after.value === '[') throw notSupported('array types are not supported');
    }
    if (t.type === 'word' && t.value === 'cast' && next && next.type === 'punct' && next.value === '(') {
      let depth = 0;
      for (let k = i + 1; k < tokens.length; k++) {
        const u = tokens[k];
        if (u.type === 'punct' && u.value === '(') depth++;
        if (u.type === 'punct' && u.value === ')' && --depth === 0) break;
        if (depth === 1 && u.type === 'word' && u.value === 'as') {
          const ty = tokens[k + 1];
          if (ty && ty.type === 'word' && UNSUPPORTED_CAST_TYPES.has(ty.value)) throw notSupported(`type "${ty.value}" is not supported`);
        }
      }
    }
  }
}

// VACUUM [FULL | SORT ONLY | DELETE ONLY | REINDEX | RECLUSTER] [[table] [TO n PERCENT] [BOOST]]
// [r_VACUUM_command] -> the PostgreSQL VACUUM that runs instead (harmless, and
// refused inside a transaction block with the same error as Redshift's).
function rewriteVacuum(text, tokens) {
  const cur = new Cursor(tokens);
  cur.expectWord('vacuum');
  let mode = 'full';
  if (cur.acceptWord('full')) mode = 'full';
  else if (cur.acceptWord('sort')) { cur.expectWord('only'); mode = 'sort only'; } else if (cur.acceptWord('delete')) { cur.expectWord('only'); mode = 'delete only'; } else if (cur.acceptWord('reindex')) mode = 'reindex';
  else if (cur.acceptWord('recluster')) mode = 'recluster';
  let table = null;
  if (!cur.done() && !cur.isWord('to') && !cur.isWord('boost')) {
    const qn = cur.qualifiedName();
    table = text.slice(qn.start, qn.end);
  }
  let threshold = null;
  if (cur.acceptWord('to')) {
    const n = cur.next();
    if (!n || n.type !== 'number' || !/^\d+$/.test(n.value)) { cur.i--; cur.syntaxError(); }
    threshold = Number(n.value);
    cur.expectWord('percent');
    if (threshold > 100) throw new RedshiftError('22023', 'VACUUM threshold must be an integer between 0 and 100');
  }
  const boost = Boolean(cur.acceptWord('boost'));
  if (!cur.done()) cur.syntaxError();
  if ((mode === 'reindex' || mode === 'recluster') && !table) throw syntaxError(`VACUUM ${mode.toUpperCase()} requires a table name`);
  if (threshold !== null && !table) throw syntaxError('VACUUM TO threshold PERCENT requires a table name');
  if (threshold !== null && (mode === 'reindex' || mode === 'recluster')) throw notSupported(`VACUUM ${mode.toUpperCase()} isn't supported with TO threshold PERCENT`);
  if (boost && !table) throw syntaxError('VACUUM BOOST requires a table name');
  if (boost && mode === 'reindex') throw notSupported("VACUUM REINDEX isn't supported with BOOST");
  return table ? `VACUUM ${table}` : 'VACUUM';
}

// ANALYZE [VERBOSE] [table [(cols)]] [PREDICATE COLUMNS | ALL COLUMNS] [r_ANALYZE]
// ANALYZE COMPRESSION [table [(cols)]] [COMPROWS n] [r_ANALYZE_COMPRESSION]
function rewriteAnalyze(text, tokens) {
  const cur = new Cursor(tokens);
  cur.next();
  if (cur.acceptWord('compression')) {
    if (cur.done()) throw notSupported('ANALYZE COMPRESSION without a table is not emulated by the Redshift stand-in');
    const qn = cur.qualifiedName();
    if (cur.isPunct('(')) cur.skipGroup();
    if (cur.acceptWord('comprows')) {
      const n = cur.next();
      if (!n || n.type !== 'number') { cur.i--; cur.syntaxError(); }
    }
    if (!cur.done()) cur.syntaxError();
    return `SELECT * FROM pg_catalog.redtrack_analyze_compression(${quoteLiteral(text.slice(qn.start, qn.end))}::regclass)`;
  }
  const verbose = Boolean(cur.acceptWord('verbose'));
  let target = '';
  if (!cur.done() && !cur.isWord('predicate') && !cur.isWord('all')) {
    const qn = cur.qualifiedName();
    target = text.slice(qn.start, qn.end);
    if (cur.isPunct('(')) {
      const [s, e] = cur.skipGroup();
      target += ` ${text.slice(s, e)}`;
    }
  }
  if (cur.acceptWord('predicate') || cur.acceptWord('all')) cur.expectWord('columns');
  if (!cur.done()) cur.syntaxError();
  return `ANALYZE${verbose ? ' VERBOSE' : ''}${target ? ` ${target}` : ''}`;
}

// SET / RESET / SHOW of a Redshift-only setting -> emulated plan, else null.
function redshiftSetting(tokens) {
  const cur = new Cursor(tokens);
  const verb = cur.acceptWord('set', 'reset', 'show');
  if (!verb) return null;
  if (verb.value === 'set') cur.acceptWord('session');
  const nameTok = cur.peek();
  if (!nameTok || nameTok.type !== 'word' || !(nameTok.value in REDSHIFT_SETTINGS)) return null;
  cur.next();
  if (verb.value !== 'set') {
    if (!cur.done()) cur.syntaxError();
    return { verb: verb.value, name: nameTok.value };
  }
  if (!cur.acceptWord('to')) {
    const eq = cur.next();
    if (!eq || eq.text !== '=') { if (eq) cur.i--; cur.syntaxError(); }
  }
  const v = cur.next();
  if (!v) cur.syntaxError();
  if (!cur.done()) cur.syntaxError();
  const value = v.type === 'string' ? v.value : v.text.toLowerCase();
  return { verb: 'set', name: nameTok.value, value };
}

const REJECT_CREATE = {
  index: 'CREATE INDEX', unique: 'CREATE UNIQUE INDEX', trigger: 'CREATE TRIGGER', sequence: 'CREATE SEQUENCE',
  type: 'CREATE TYPE', extension: 'CREATE EXTENSION', unlogged: 'CREATE UNLOGGED TABLE', domain: 'CREATE DOMAIN',
  tablespace: 'CREATE TABLESPACE', constraint: 'CREATE CONSTRAINT TRIGGER',
};

// Refuses a Redshift reserved word used unquoted as an identifier
// [r_pg_keywords]; `tokens` may be a prefix of the statement's.
function checkReservedWords(tokens) {
  const t = reservedIdentifier(tokens);
  if (t) throw syntaxError(`syntax error at or near "${t.text}"`, t.start);
}

// LOCK [TABLE] name [, ...] [r_LOCK]: Redshift's LOCK has no mode and blocks
// reads and writes of the tables by other transactions until this one ends;
// PostgreSQL's ACCESS EXCLUSIVE mode does the same. `IN ... MODE` and NOWAIT
// are PostgreSQL's and refused as Redshift's grammar refuses them.
function rewriteLock(text, tokens) {
  const cur = new Cursor(tokens);
  cur.expectWord('lock');
  cur.acceptWord('table');
  const names = [];
  do {
    const qn = cur.qualifiedName();
    names.push(text.slice(qn.start, qn.end));
  } while (cur.acceptPunct(','));
  if (!cur.done()) cur.syntaxError();
  return `LOCK TABLE ${names.join(', ')} IN ACCESS EXCLUSIVE MODE`;
}

// Serverless: reading an STL/STV/SVL/SVCS view is refused.
function checkServerlessViews(tokens) {
  for (const t of tokens) {
    const name = t.type === 'word' || t.type === 'ident' ? t.value.toLowerCase() : null;
    if (name && PROVISIONED_ONLY_VIEW.test(name)) throw new RedshiftError('42501', `permission denied for relation ${name}`);
  }
}

// session: {caseSensitive, cluster: {serverless}}
function classify(stmt, session) {
  const redacted = redact(stmt.text);
  try {
    return { ...decide(stmt, session), redacted };
  } catch (e) {
    if (e instanceof SqlSyntaxError) return { action: 'reject', error: syntaxError(e.message, e.position), redacted };
    if (e instanceof RedshiftError) return { action: 'reject', error: e, redacted };
    throw e;
  }
}

// information_schema.columns -> the stand-in's view of it (VARCHAR columns
// are stored as rs_varchar: see types.js).
function redirectColumnsView(stmt) {
  const { tokens } = stmt;
  const edits = [];
  for (let i = 0; i + 2 < tokens.length; i++) {
    const [a, dot, b] = [tokens[i], tokens[i + 1], tokens[i + 2]];
    if ((a.type === 'word' || a.type === 'ident') && a.value.toLowerCase() === 'information_schema' && dot.text === '.'
      && (b.type === 'word' || b.type === 'ident') && b.value.toLowerCase() === 'columns') {
      edits.push({ start: a.start, end: b.end, text: 'redtrack_standin.columns' });
    }
  }
  if (!edits.length) return stmt;
  const text = applyEdits(stmt.text, edits);
  return { ...stmt, text, tokens: tokenize(text) };
}

function decide(original, session) {
  const stmt = redirectColumnsView(original);
  const folded = session.caseSensitive ? stmt : { ...stmt, ...foldIdentifiers(stmt.text, stmt.tokens) };
  const { text, tokens } = folded;
  const first = tokens[0];
  if (!first || first.type !== 'word') {
    checkUnsupportedSyntax(tokens);
    return { action: 'pass', sql: text };
  }
  const w = (i) => (tokens[i] && tokens[i].type === 'word' ? tokens[i].value : null);
  const setting = redshiftSetting(tokens);
  if (setting) return { action: 'emulate', kind: 'setting', plan: setting };
  if (session.cluster && session.cluster.serverless) checkServerlessViews(tokens);
  if (first.value === 'copy') {
    // The table and its column list; COPY's options are keywords (CREDENTIALS, GZIP, ...).
    const from = tokens.findIndex((t) => t.type === 'word' && t.value === 'from');
    checkReservedWords(from < 0 ? tokens : tokens.slice(0, from));
  } else if (!['set', 'reset', 'show', 'vacuum', 'analyze', 'analyse', 'unload'].includes(first.value)) {
    checkReservedWords(tokens);
  }

  switch (first.value) {
    case 'copy':
      return { action: 'emulate', kind: 'copy', plan: parseCopy(folded) };
    case 'unload':
      throw notSupported('UNLOAD is not emulated by the Redshift stand-in');
    case 'truncate': {
      // TRUNCATE [TABLE] name: one table, no options [r_TRUNCATE].
      const cur = new Cursor(tokens);
      cur.next();
      cur.acceptWord('table');
      const qn = cur.qualifiedName();
      if (!cur.done()) cur.syntaxError();
      return { action: 'emulate', kind: 'truncate', plan: { table: text.slice(qn.start, qn.end) } };
    }
    case 'vacuum':
      return { action: 'pass', sql: rewriteVacuum(text, tokens) };
    case 'analyze': case 'analyse':
      return { action: 'pass', sql: rewriteAnalyze(text, tokens) };
    case 'do':
      throw syntaxError('syntax error at or near "DO"', first.start);
    case 'lock': {
      const inTok = tokens.find((t) => t.type === 'word' && (t.value === 'in' || t.value === 'nowait'));
      if (inTok) throw syntaxError(`syntax error at or near "${inTok.text}"`, inTok.start);
      return { action: 'pass', sql: rewriteLock(text, tokens) };
    }
    case 'create': {
      let k = 1;
      if (w(k) === 'or' && w(k + 1) === 'replace') k += 2;
      if (w(k) === 'local') k++;
      if (w(k) === 'temp' || w(k) === 'temporary') k++;
      if (w(k) === 'table') {
        checkUnsupportedSyntax(tokens);
        const plan = parseCreateTable(folded);
        return { action: 'emulate', kind: plan.ctasQuery ? 'createTableAs' : 'createTable', plan };
      }
      const what = REJECT_CREATE[w(k)];
      if (what) throw notSupported(`${what} is not supported`);
      break;
    }
    case 'alter': {
      if (w(1) === 'table') {
        checkUnsupportedSyntax(tokens);
        const plan = parseAlterTable(folded);
        if (plan) return { action: 'emulate', kind: plan.informational ? 'noop' : 'addColumn', plan: { ...plan, tag: 'ALTER TABLE' } };
      }
      if (w(1) === 'sequence') throw notSupported('ALTER SEQUENCE is not supported');
      break;
    }
    case 'drop':
      if (w(1) === 'table') return { action: 'emulate', kind: 'dropTable', plan: { sql: text } };
      if (w(1) === 'index' || w(1) === 'sequence' || w(1) === 'trigger') throw notSupported(`DROP ${w(1).toUpperCase()} is not supported`);
      break;
    default:
      break;
  }
  checkUnsupportedSyntax(tokens);
  return { action: 'pass', sql: text };
}

module.exports = { classify, redact, REDSHIFT_SETTINGS };
