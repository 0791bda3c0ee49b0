'use strict';
// Redshift data types: parsing a type in DDL, its PostgreSQL storage type in
// the warehouse, the name Redshift shows for it (pg_table_def.type), and
// the default compression encoding it gets.
// [c_Supported_data_types, c_unsupported-postgresql-datatypes, r_Character_types,
//  r_CREATE_TABLE_NEW: "ENCODE", r_Numeric_types201]

const { SqlSyntaxError } = require('./sql');
const { RedshiftError } = require('./errors');

// PostgreSQL types Redshift does not have: a column of one of these is
// "Column "t.c" has unsupported type "x"." (0A000), the wording Redshift uses.
const UNSUPPORTED = new Set([
  'uuid', 'json', 'jsonb', 'bytea', 'money', 'inet', 'cidr', 'macaddr', 'macaddr8',
  'serial', 'serial2', 'serial4', 'serial8', 'smallserial', 'bigserial', 'bit', 'varbit', 'xml',
  'tsvector', 'tsquery', 'point', 'line', 'lseg', 'box', 'path', 'polygon', 'circle', 'oid',
  'regclass', 'regtype', 'regproc', 'name', 'txid_snapshot', 'pg_lsn', 'int4range', 'int8range',
  'numrange', 'tsrange', 'tstzrange', 'daterange', 'hstore', 'citext', 'cstring', 'record',
]);
// Redshift types this stand-in does not emulate.
const NOT_EMULATED = new Set(['geometry', 'geography', 'hllsketch']);

const LIMITS = { char: 4096, varchar: 65535, varbyte: 1024000 };

// Parses a type at the cursor. Returns
// {kind, length, precision, scale, rsType, pgType}
// kind: int2 int4 int8 numeric float4 float8 bool char varchar date timestamp
//       timestamptz time timetz varbyte super
// Throws UnsupportedType / SqlSyntaxError.
function parseType(cur) {
  const first = cur.peek();
  if (!first || (first.type !== 'word' && first.type !== 'ident')) cur.syntaxError();
  cur.next();
  let name = first.value;
  const at = first.start;
  const w = (kw) => cur.acceptWord(kw);
  const zone = () => {
    if (cur.isWord('with') || cur.isWord('without')) {
      const withZone = cur.next().value === 'with';
      cur.expectWord('time');
      cur.expectWord('zone');
      return withZone;
    }
    return null;
  };

  if (name === 'double' && w('precision')) name = 'double precision';
  else if (name === 'national' && (cur.isWord('character') || cur.isWord('char'))) {
    cur.next();
    name = w('varying') ? 'varchar' : 'char';
  } else if ((name === 'character' || name === 'char' || name === 'nchar') && w('varying')) name = 'varchar';
  else if (name === 'binary' && w('varying')) name = 'varbyte';
  else if (name === 'timestamp' || name === 'time') {
    const withZone = zone();
    if (withZone) name += 'tz';
  }

  let args = null;
  if (cur.isPunct('(')) {
    cur.next();
    args = [];
    for (;;) {
      const t = cur.next();
      if (!t) cur.syntaxError();
      if (t.type === 'number' && /^\d+$/.test(t.value)) args.push(Number(t.value));
      else if (t.type === 'word' && t.value === 'max') args.push('max');
      else { cur.i--; cur.syntaxError(); }
      if (cur.acceptPunct(')')) break;
      cur.expectPunct(',');
    }
  }
  if (cur.isPunct('[')) return { unsupported: `${name}[]`, at };
  if (UNSUPPORTED.has(name)) return { unsupported: name, at };
  if (NOT_EMULATED.has(name)) return { notEmulated: name, at };

  const noArgs = () => {
    if (args) throw new SqlSyntaxError('syntax error at or near "("', at);
  };
  const len = (kind, dflt) => {
    if (!args) return dflt;
    if (args.length !== 1) throw new SqlSyntaxError('syntax error at or near ","', at);
    const n = args[0] === 'max' ? LIMITS[kind] : args[0];
    if (n < 1 || n > LIMITS[kind]) {
      const label = { char: 'char', varchar: 'varchar', varbyte: 'varbyte' }[kind];
      throw new RedshiftError('22023', `length for type ${label} cannot exceed ${LIMITS[kind]}`);
    }
    return n;
  };

  switch (name) {
    case 'smallint': case 'int2':
      noArgs(); return simple('int2', 'smallint');
    case 'integer': case 'int': case 'int4':
      noArgs(); return simple('int4', 'integer');
    case 'bigint': case 'int8':
      noArgs(); return simple('int8', 'bigint');
    case 'real': case 'float4':
      noArgs(); return simple('float4', 'real');
    case 'double precision': case 'float8':
      noArgs(); return simple('float8', 'double precision');
    case 'float':
      if (args && (args.length !== 1 || args[0] === 'max')) throw new SqlSyntaxError('syntax error at or near "("', at);
      return args && args[0] < 25 ? simple('float4', 'real') : simple('float8', 'double precision');
    case 'boolean': case 'bool':
      noArgs(); return simple('bool', 'boolean');
    case 'decimal': case 'numeric': {
      // Unconstrained DECIMAL is DECIMAL(18,0) in Redshift.
      const precision = args ? args[0] : 18;
      const scale = args && args.length > 1 ? args[1] : 0;
      if (args && (args.length > 2 || args.includes('max'))) throw new SqlSyntaxError('syntax error at or near "("', at);
      if (precision < 1 || precision > 38) throw new RedshiftError('22023', `NUMERIC precision ${precision} must be between 1 and 38`);
      if (scale < 0 || scale > 37 || scale > precision) throw new RedshiftError('22023', `NUMERIC scale ${scale} must be between 0 and precision ${precision}`);
      return { kind: 'numeric', precision, scale, rsType: `numeric(${precision},${scale})`, pgType: `numeric(${precision},${scale})` };
    }
    case 'char': case 'character': case 'nchar': case 'bpchar': {
      const n = len('char', name === 'bpchar' ? 256 : 1);
      return { kind: 'char', length: n, rsType: `character(${n})`, pgType: `character(${n})` };
    }
    case 'varchar': case 'nvarchar': case 'text': {
      // Bare VARCHAR and TEXT are VARCHAR(256); lengths are bytes.
      // Stored as rs_varchar, a domain over PostgreSQL's unbounded bpchar: it
      // keeps the value as given (trailing spaces too) but compares, hashes,
      // groups and joins ignoring trailing spaces, as Redshift does
      // [r_Character_types "Significance of trailing blanks"]. The byte length
      // is a CHECK constraint (ddl.js).
      const n = len('varchar', 256);
      return { kind: 'varchar', length: n, rsType: `character varying(${n})`, pgType: 'pg_catalog.rs_varchar' };
    }
    case 'varbyte': case 'varbinary': {
      const n = len('varbyte', 64000);
      return { kind: 'varbyte', length: n, rsType: `varbyte(${n})`, pgType: 'pg_catalog.varbyte' };
    }
    case 'date':
      noArgs(); return simple('date', 'date');
    case 'timestamp':
      noArgs(); return simple('timestamp', 'timestamp without time zone');
    case 'timestamptz':
      noArgs(); return simple('timestamptz', 'timestamp with time zone');
    case 'time':
      noArgs(); return simple('time', 'time without time zone');
    case 'timetz':
      noArgs(); return simple('timetz', 'time with time zone');
    case 'interval': {
      // INTERVAL is a Redshift type since 2024, with the qualifiers YEAR TO MONTH
      // and DAY TO SECOND [r_interval_data_types].
      noArgs();
      let qualifier = '';
      if (cur.acceptWord('year')) {
        qualifier = ' year';
        if (cur.acceptWord('to')) { cur.expectWord('month'); qualifier += ' to month'; }
      } else if (cur.acceptWord('month')) qualifier = ' month';
      else if (cur.acceptWord('day')) {
        qualifier = ' day';
        if (cur.acceptWord('to')) {
          const t = cur.acceptWord('hour', 'minute', 'second') || cur.syntaxError();
          qualifier += ` to ${t.value}`;
        }
      } else if (cur.acceptWord('hour')) {
        qualifier = ' hour';
        if (cur.acceptWord('to')) qualifier += ` to ${(cur.acceptWord('minute', 'second') || cur.syntaxError()).value}`;
      } else if (cur.acceptWord('minute')) {
        qualifier = ' minute';
        if (cur.acceptWord('to')) { cur.expectWord('second'); qualifier += ' to second'; }
      } else if (cur.acceptWord('second')) qualifier = ' second';
      return simple('interval', `interval${qualifier}`);
    }
    case 'super':
      noArgs(); return { kind: 'super', rsType: 'super', pgType: 'pg_catalog.super' };
    default:
      return { unknown: name, at };
  }
}

function simple(kind, rsType) {
  return { kind, rsType, pgType: rsType };
}

// Encoding Redshift assigns when DDL names none [r_CREATE_TABLE_NEW "ENCODE"]:
// temp tables and sort key columns RAW, BOOLEAN/REAL/DOUBLE RAW, integers,
// DECIMAL, dates and times AZ64, CHAR/VARCHAR/VARBYTE LZO. pg_table_def
// shows RAW as "none".
function defaultEncoding(kind, { temp, sortkey }) {
  if (temp || sortkey) return 'none';
  if (['int2', 'int4', 'int8', 'numeric', 'date', 'timestamp', 'timestamptz', 'time', 'timetz'].includes(kind)) return 'az64';
  if (['char', 'varchar', 'varbyte'].includes(kind)) return 'lzo';
  return 'none';
}

const ENCODINGS = new Set(['az64', 'bytedict', 'delta', 'delta32k', 'lzo', 'mostly8', 'mostly16', 'mostly32', 'raw', 'runlength', 'text255', 'text32k', 'zstd']);

// Types a DISTKEY or SORTKEY column may have [r_CREATE_TABLE_NEW].
const KEY_KINDS = new Set(['bool', 'float4', 'float8', 'int2', 'int4', 'int8', 'numeric', 'date', 'time', 'timetz', 'timestamp', 'timestamptz', 'char', 'varchar']);

// The PostgreSQL type a column has in the warehouse -> the kind COPY validates
// against (tables may also come from CREATE TABLE AS or direct warehouse DDL).
function kindOfPgType(typname, basetype) {
  if (typname === 'varbyte' || typname === 'super') return typname;
  if (typname === 'rs_varchar') return 'varchar';
  const t = basetype || typname;
  return {
    int2: 'int2', int4: 'int4', int8: 'int8', numeric: 'numeric', float4: 'float4', float8: 'float8',
    bool: 'bool', bpchar: 'char', varchar: 'varchar', text: 'varchar', date: 'date', timestamp: 'timestamp',
    timestamptz: 'timestamptz', time: 'time', timetz: 'timetz', bytea: 'varbyte', jsonb: 'super',
  }[t] || 'other';
}

module.exports = { parseType, defaultEncoding, ENCODINGS, KEY_KINDS, kindOfPgType };
