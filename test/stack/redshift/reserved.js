'use strict';
// Redshift's reserved words, and where the stand-in refuses them.
//
// The list is Redshift's, verbatim: "Reserved words",
// https://docs.aws.amazon.com/redshift/latest/dg/r_pg_keywords.html
// ("You can use the reserved words with delimited identifiers (double
// quotation marks)"). It differs from PostgreSQL's: PostgreSQL 15 takes TAG,
// OPEN, SYSTEM, TIMESTAMP, PARTITION, ... as column and table names, Redshift
// answers `syntax error at or near "tag"` (42601, with the position).
//
// The words PostgreSQL itself reserves are refused by the warehouse with the
// same error, so only the others are checked here (CHECKED). Several of them
// are also keywords of Redshift's own syntax (ENCODE RAW, PARTITION BY, TOP n,
// IGNORE NULLS, MINUS, TIMESTAMP '...', SYSDATE, COPY's options): they are
// refused only where they stand as identifiers (identifierPositions below),
// never where the syntax uses them.

const REDSHIFT_RESERVED = `AES128 AES256 ALL ALLOWOVERWRITE ANALYSE ANALYZE AND ANY ARRAY AS ASC AUTHORIZATION
AZ64 BACKUP BETWEEN BINARY BLANKSASNULL BOTH BYTEDICT BZIP2 CASE CAST CHECK COLLATE COLUMN CONSTRAINT
CREATE CREDENTIALS CROSS CURRENT_DATE CURRENT_TIME CURRENT_TIMESTAMP CURRENT_USER CURRENT_USER_ID
DEFAULT DEFERRABLE DEFLATE DEFRAG DELTA DELTA32K DESC DISABLE DISTINCT DO ELSE EMPTYASNULL ENABLE
ENCODE ENCRYPT ENCRYPTION END EXCEPT EXPLICIT FALSE FOR FOREIGN FREEZE FROM FULL GLOBALDICT256
GLOBALDICT64K GRANT GROUP GZIP HAVING IDENTITY IGNORE ILIKE IN INITIALLY INNER INTERSECT INTERVAL
INTO IS ISNULL JOIN LEADING LEFT LIKE LIMIT LOCALTIME LOCALTIMESTAMP LUN LUNS LZO LZOP MINUS
MOSTLY16 MOSTLY32 MOSTLY8 NATURAL NEW NOT NOTNULL NULL NULLS OFF OFFLINE OFFSET OID OLD ON ONLY
OPEN OR ORDER OUTER OVERLAPS PARALLEL PARTITION PERCENT PERMISSIONS PIVOT PLACING PRIMARY RAW
READRATIO RECOVER REFERENCES REJECTLOG RESORT RESPECT RESTORE RIGHT SELECT SESSION_USER SIMILAR
SNAPSHOT SOME SYSDATE SYSTEM TABLE TAG TDES TEXT255 TEXT32K THEN TIMESTAMP TO TOP TRAILING TRUE
TRUNCATECOLUMNS UNION UNIQUE UNNEST UNPIVOT USER USING VERBOSE WALLET WHEN WHERE WITH WITHOUT`
  .split(/\s+/).map((w) => w.toLowerCase());

// PostgreSQL 15's reserved and type/function-name keywords: never a column
// name there either, so the warehouse refuses them already.
const POSTGRES_RESERVED = new Set(`all analyse analyze and any array as asc asymmetric authorization binary
both case cast check collate collation column concurrently constraint create cross current_catalog
current_date current_role current_schema current_time current_timestamp current_user default
deferrable desc distinct do else end except false fetch for foreign freeze from full grant group
having ilike in initially inner intersect into is isnull join lateral leading left like limit
localtime localtimestamp natural not notnull null offset on only or order outer overlaps placing
primary references returning right select session_user similar some symmetric table tablesample
then to trailing true union unique user using variadic verbose when where window with`.split(/\s+/));

// OID is on Redshift's list, yet Redshift's own catalog queries use it as a
// column (pg_class.oid, "SELECT oid FROM pg_class"): it is a system column
// there, as in PostgreSQL. Not checked (guess).
const CHECKED = new Set(REDSHIFT_RESERVED.filter((w) => !POSTGRES_RESERVED.has(w) && w !== 'oid'));

// Words that are values in Redshift expressions (SELECT sysdate).
const VALUE_WORDS = new Set(['sysdate', 'current_user_id']);
// Type names: `CAST(x AS timestamp)`, `x::interval`, `timestamp '...'`.
const TYPE_WORDS = new Set(['timestamp', 'interval']);

// Tokens after which a word names a table (ColId in the grammar).
const TABLE_BEFORE = new Set(['from', 'join', 'update', 'into', 'table', 'lock', 'copy']);
// Tokens after which, and before which, a word is an expression operand.
const OPERAND_BEFORE = new Set(['select', 'distinct', 'by', 'where', 'and', 'or', 'on', 'set', 'when', 'then', 'else', 'not', 'having', 'returning', 'values']);
const OPERAND_AFTER = new Set(['from', 'as', 'is', 'in', 'and', 'or', 'where', 'group', 'order', 'asc', 'desc', 'then', 'else', 'end',
  'limit', 'between', 'like', 'ilike', 'having', 'when', 'union', 'except', 'intersect', 'minus', 'offset']);

const isWord = (t, set) => Boolean(t && t.type === 'word' && set.has(t.value));
const isPunct = (t, p) => Boolean(t && t.type === 'punct' && t.value === p);
const isOp = (t) => Boolean(t && t.type === 'op' && t.text !== '::' && t.text !== '*');

// The first unquoted reserved word standing as an identifier among the
// statement's tokens, or null.
function reservedIdentifier(tokens) {
  for (let i = 0; i < tokens.length; i++) {
    const t = tokens[i];
    if (t.type !== 'word' || !CHECKED.has(t.value)) continue;
    const prev = tokens[i - 1];
    const next = tokens[i + 1];
    // A qualifier (tag.col, tag.table): ColId in the grammar. After a dot the
    // grammar takes any keyword (attr_name is ColLabel), so t.tag is not refused.
    if (isPunct(next, '.') && !isPunct(prev, '.')) return t;
    if (isPunct(prev, '.')) continue;
    if (VALUE_WORDS.has(t.value)) continue;
    const typeLike = TYPE_WORDS.has(t.value);
    if (typeLike && (next && (next.type === 'string' || isPunct(next, '(') || isWord(next, new Set(['with', 'without', 'year', 'month', 'day', 'hour', 'minute', 'second']))))) continue;
    if (typeLike && (isWord(prev, new Set(['as'])) || (prev && prev.type === 'op' && prev.text === '::'))) continue;
    // A table name.
    // (FROM/JOIN f(...) is a function; FROM timestamp '...' inside EXTRACT a literal.)
    if (prev && prev.type === 'word' && TABLE_BEFORE.has(prev.value) && !(next && next.type === 'string')
      && !(isPunct(next, '(') && (prev.value === 'from' || prev.value === 'join'))) return t;
    // An alias: x AS tag (AS IDENTITY(...) is syntax).
    if (isWord(prev, new Set(['as'])) && !isPunct(next, '(')) return t;
    // An operand in an expression or a list: (a, tag), SELECT tag FROM, GROUP BY tag, tag = 1.
    const before = !prev || isPunct(prev, ',') || isPunct(prev, '(') || isWord(prev, OPERAND_BEFORE) || isOp(prev);
    const after = !next || isPunct(next, ',') || isPunct(next, ')') || isPunct(next, ';') || isWord(next, OPERAND_AFTER) || isOp(next)
      || (next.type === 'op' && next.text === '::');
    if (before && after) return t;
  }
  return null;
}

// A name read by a parser (CREATE TABLE column names, COPY column lists).
function isReservedName(token) {
  return Boolean(token && token.type === 'word' && CHECKED.has(token.value));
}

module.exports = { REDSHIFT_RESERVED, CHECKED, reservedIdentifier, isReservedName };
