'use strict';
// A SQL lexer good enough to split a query string into statements and to
// look at statements token by token: it knows single-quoted strings
// (standard-conforming, as the warehouse reports standard_conforming_strings
// = on), E'' strings with backslash escapes, U&'' / B'' / X'' / N'' strings,
// dollar-quoted strings, double-quoted identifiers, -- and nested /* */
// comments, $n parameters, numbers and operators.
//
// Token: {type, text, start, end, value}
//   type  'word' (value: lower-cased), 'ident' (quoted; value: unescaped),
//         'string' (value: the string's content), 'number', 'param',
//         'op', 'punct' ( ( ) , ; [ ] . ), 'space', 'comment'

const WORD_START = /[A-Za-z_\u0080-\uffff]/;
const WORD_PART = /[A-Za-z0-9_$\u0080-\uffff]/;
const OP_CHARS = '+-*/<>=~!@#%^&|`?:';

class SqlSyntaxError extends Error {
  constructor(message, position) {
    super(message);
    this.position = position;
  }
}

function lex(sql) {
  const tokens = [];
  let i = 0;
  const n = sql.length;
  const push = (type, start, end, value) => tokens.push({ type, text: sql.slice(start, end), start, end, value });

  while (i < n) {
    const c = sql[i];
    const start = i;
    if (/\s/.test(c)) {
      while (i < n && /\s/.test(sql[i])) i++;
      push('space', start, i);
    } else if (c === '-' && sql[i + 1] === '-') {
      while (i < n && sql[i] !== '\n') i++;
      push('comment', start, i);
    } else if (c === '/' && sql[i + 1] === '*') {
      let depth = 0;
      while (i < n) {
        if (sql[i] === '/' && sql[i + 1] === '*') { depth++; i += 2; } else if (sql[i] === '*' && sql[i + 1] === '/') {
          depth--;
          i += 2;
          if (depth === 0) break;
        } else i++;
      }
      if (depth !== 0) throw new SqlSyntaxError('unterminated /* comment', start);
      push('comment', start, i);
    } else if (c === "'" || (/[eEbBxXnN]/.test(c) && sql[i + 1] === "'") || (/[uU]/.test(c) && sql[i + 1] === '&' && sql[i + 2] === "'")) {
      const escapes = c === 'e' || c === 'E';
      i = c === "'" ? i : (sql[i + 1] === '&' ? i + 2 : i + 1);
      i++; // opening quote
      let value = '';
      for (;;) {
        if (i >= n) throw new SqlSyntaxError('unterminated quoted string', start);
        const ch = sql[i];
        if (ch === "'" && sql[i + 1] === "'") { value += "'"; i += 2; } else if (ch === "'") { i++; break; } else if (escapes && ch === '\\' && i + 1 < n) {
          value += unescapeChar(sql[i + 1]);
          i += 2;
        } else { value += ch; i++; }
      }
      push('string', start, i, value);
    } else if (c === '"' || (/[uU]/.test(c) && sql[i + 1] === '&' && sql[i + 2] === '"')) {
      i = c === '"' ? i + 1 : i + 3;
      let value = '';
      for (;;) {
        if (i >= n) throw new SqlSyntaxError('unterminated quoted identifier', start);
        if (sql[i] === '"' && sql[i + 1] === '"') { value += '"'; i += 2; } else if (sql[i] === '"') { i++; break; } else value += sql[i++];
      }
      if (value === '') throw new SqlSyntaxError('zero-length delimited identifier', start);
      push('ident', start, i, value);
    } else if (c === '$' && /[0-9]/.test(sql[i + 1] || '')) {
      i++;
      while (i < n && /[0-9]/.test(sql[i])) i++;
      push('param', start, i, Number(sql.slice(start + 1, i)));
    } else if (c === '$') {
      const m = /^\$([A-Za-z_\u0080-\uffff][A-Za-z0-9_\u0080-\uffff]*)?\$/.exec(sql.slice(i));
      if (!m) { i++; push('op', start, i); continue; }
      const tag = m[0];
      const close = sql.indexOf(tag, i + tag.length);
      if (close < 0) throw new SqlSyntaxError('unterminated dollar-quoted string', start);
      i = close + tag.length;
      push('string', start, i, sql.slice(start + tag.length, close));
    } else if (/[0-9]/.test(c) || (c === '.' && /[0-9]/.test(sql[i + 1] || ''))) {
      while (i < n && /[0-9.]/.test(sql[i])) i++;
      if (/[eE]/.test(sql[i] || '') && /[-+0-9]/.test(sql[i + 1] || '')) {
        i += 2;
        while (i < n && /[0-9]/.test(sql[i])) i++;
      }
      push('number', start, i, sql.slice(start, i));
    } else if (WORD_START.test(c)) {
      while (i < n && WORD_PART.test(sql[i])) i++;
      push('word', start, i, sql.slice(start, i).toLowerCase());
    } else if ('(),;[].'.includes(c)) {
      i++;
      push('punct', start, i, c);
    } else if (OP_CHARS.includes(c)) {
      while (i < n && OP_CHARS.includes(sql[i]) && !(sql[i] === '-' && sql[i + 1] === '-') && !(sql[i] === '/' && sql[i + 1] === '*')) i++;
      push('op', start, i, sql.slice(start, i));
    } else {
      i++;
      push('op', start, i, c);
    }
  }
  return tokens;
}

function unescapeChar(c) {
  return { n: '\n', r: '\r', t: '\t', b: '\b', f: '\f' }[c] ?? c;
}

// Splits a query string into statements at top-level semicolons.
// Returns [{text, start, tokens}] where tokens are the statement's
// significant tokens (no spaces or comments) with positions relative to
// the statement's text. Empty statements are dropped.
function split(sql) {
  const all = lex(sql);
  const statements = [];
  let depth = 0;
  let current = [];
  const flush = (end) => {
    if (current.length) {
      const start = current[0].start;
      const text = sql.slice(start, end);
      statements.push({
        text,
        start,
        tokens: current.map((t) => ({ ...t, start: t.start - start, end: t.end - start })),
      });
    }
    current = [];
  };
  for (const t of all) {
    if (t.type === 'punct' && t.value === '(') depth++;
    if (t.type === 'punct' && t.value === ')') depth = Math.max(0, depth - 1);
    if (t.type === 'punct' && t.value === ';' && depth === 0) {
      flush(current.length ? current[current.length - 1].end : t.start);
      continue;
    }
    if (t.type === 'space' || t.type === 'comment') continue;
    current.push(t);
  }
  flush(current.length ? current[current.length - 1].end : sql.length);
  return statements;
}

// Tokens of a single statement (as split() gives them).
function tokenize(text) {
  return lex(text).filter((t) => t.type !== 'space' && t.type !== 'comment');
}

// SQL literal for a string.
function quoteLiteral(text) {
  return `'${String(text).replace(/'/g, "''")}'`;
}

// Quoted identifier.
function quoteIdent(name) {
  return `"${String(name).replace(/"/g, '""')}"`;
}

// Replaces token spans in a text: edits [{start, end, text}] (non-overlapping).
function applyEdits(text, edits) {
  let out = '';
  let pos = 0;
  for (const e of [...edits].sort((a, b) => a.start - b.start)) {
    out += text.slice(pos, e.start) + e.text;
    pos = e.end;
  }
  return out + text.slice(pos);
}

// A cursor over a statement's tokens for small recursive-descent parsers.
class Cursor {
  constructor(tokens) {
    this.tokens = tokens;
    this.i = 0;
  }

  peek(k = 0) {
    return this.tokens[this.i + k];
  }

  next() {
    return this.tokens[this.i++];
  }

  done() {
    return this.i >= this.tokens.length;
  }

  // Is the next token the keyword (unquoted word) kw?
  isWord(kw, k = 0) {
    const t = this.peek(k);
    return Boolean(t && t.type === 'word' && t.value === kw);
  }

  isPunct(p, k = 0) {
    const t = this.peek(k);
    return Boolean(t && t.type === 'punct' && t.value === p);
  }

  acceptWord(...kws) {
    for (const kw of kws) {
      if (this.isWord(kw)) return this.next();
    }
    return null;
  }

  acceptPunct(p) {
    return this.isPunct(p) ? this.next() : null;
  }

  // Position (0-based, in the statement) of the next token or of the end.
  pos() {
    const t = this.peek();
    if (t) return t.start;
    const last = this.tokens[this.tokens.length - 1];
    return last ? last.end : 0;
  }

  syntaxError() {
    const t = this.peek();
    throw new SqlSyntaxError(t ? `syntax error at or near "${t.text}"` : 'syntax error at end of input', this.pos());
  }

  expectWord(kw) {
    return this.acceptWord(kw) || this.syntaxError();
  }

  expectPunct(p) {
    return this.acceptPunct(p) || this.syntaxError();
  }

  // An identifier (unquoted word or quoted) -> {name, token}.
  ident() {
    const t = this.peek();
    if (!t || (t.type !== 'word' && t.type !== 'ident')) this.syntaxError();
    this.i++;
    return { name: t.type === 'word' ? t.value : t.value, token: t };
  }

  // [schema.]name -> {schema, name, start, end}
  qualifiedName() {
    const first = this.ident();
    const parts = [first];
    while (this.isPunct('.')) {
      this.next();
      parts.push(this.ident());
    }
    if (parts.length > 3) this.syntaxError();
    const last = parts[parts.length - 1];
    return {
      name: last.name,
      schema: parts.length >= 2 ? parts[parts.length - 2].name : null,
      start: first.token.start,
      end: last.token.end,
    };
  }

  // Skips a balanced parenthesised group starting at '(' -> [startPos, endPos].
  skipGroup() {
    const open = this.expectPunct('(');
    let depth = 1;
    while (depth > 0) {
      const t = this.next();
      if (!t) this.syntaxError();
      if (t.type === 'punct' && t.value === '(') depth++;
      if (t.type === 'punct' && t.value === ')') depth--;
    }
    return [open.start, this.tokens[this.i - 1].end];
  }
}

module.exports = { lex, split, tokenize, quoteLiteral, quoteIdent, applyEdits, Cursor, SqlSyntaxError };
