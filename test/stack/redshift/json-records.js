'use strict';
// COPY ... FORMAT JSON 'auto' | 'auto ignorecase' [copy-parameters-data-format
// "JSON", copy-usage_notes-copy-from-json]: the data is a sequence of JSON
// objects separated by whitespace (an object may span lines); each object's
// name-value pairs are matched to the target's columns by name ('auto':
// exactly, and Redshift's column names are lower case; 'auto ignorecase':
// ignoring case). A name no column has is ignored; a column no name
// matches is NULL. A string loads as its text, a number as written,
// true/false as booleans, and a nested object or array as its JSON text
// (into SUPER as JSON). An object over 4 MB fails the load [copy_json:
// "The maximum size of a JSON object is 4 MB"].
//
// Records come out in the form RecordParser gives the CSV loader: {line,
// raw, fields, error}, with one field per target column, so copy.js
// converts and checks them with the same converters. A field for JSON null
// or a missing name is {jsonNull: true}. The error code of a malformed
// object (1216, "Invalid input line") is a guess: the load error reference
// lists no JSON-specific code.

const MAX_OBJECT = 4 * 1024 * 1024;

const isWs = (b) => b === 0x20 || b === 0x09 || b === 0x0a || b === 0x0d;

class JsonRecordParser {
  constructor(plan, columns) {
    this.ignoreCase = plan.json === 'auto ignorecase';
    this.columns = columns;
    this.line = 1; // line of the next byte
    this.reset();
  }

  reset() {
    this.buf = [];
    this.len = 0;
    this.depth = 0;
    this.inString = false;
    this.escape = false;
    this.startLine = this.line;
    this.tooLong = false;
  }

  // Bytes in, complete records out.
  push(chunk) {
    const out = [];
    let start = 0;
    const keep = (end) => {
      if (end > start && !this.tooLong) {
        if (this.len + (end - start) > MAX_OBJECT) this.tooLong = true;
        else this.buf.push(chunk.subarray(start, end));
        this.len += end - start;
      }
    };
    for (let i = 0; i < chunk.length; i++) {
      const b = chunk[i];
      if (this.depth === 0 && !this.inString) {
        if (b === 0x0a) this.line++;
        if (isWs(b)) { start = i + 1; continue; }
        if (b !== 0x7b && b !== 0x5b) {
          // Something between objects that is not an object: the rest of the line is one bad record.
          let end = i;
          while (end < chunk.length && chunk[end] !== 0x0a) end++;
          out.push(this.bad(chunk.subarray(i, end), 'Invalid JSON: expected an object'));
          i = end - 1;
          start = end;
          continue;
        }
        this.startLine = this.line;
        start = i;
      }
      if (b === 0x0a) this.line++;
      if (this.inString) {
        if (this.escape) this.escape = false;
        else if (b === 0x5c) this.escape = true;
        else if (b === 0x22) this.inString = false;
        continue;
      }
      if (b === 0x22) this.inString = true;
      else if (b === 0x7b || b === 0x5b) this.depth++;
      else if (b === 0x7d || b === 0x5d) {
        this.depth--;
        if (this.depth === 0) {
          keep(i + 1);
          out.push(this.record());
          start = i + 1;
        }
      }
    }
    if (this.depth > 0 || this.inString) keep(chunk.length);
    return out;
  }

  finish() {
    if (this.depth > 0 || this.inString) {
      const raw = Buffer.concat(this.buf);
      this.reset();
      return [this.bad(raw, 'Invalid JSON: the object is not closed at the end of the file')];
    }
    return [];
  }

  bad(raw, reason, fatal = false) {
    return { line: this.startLine, raw, fields: [], error: { code: 1216, reason, fatal } };
  }

  record() {
    const raw = Buffer.concat(this.buf);
    const tooLong = this.tooLong;
    const line = this.startLine;
    this.reset();
    this.startLine = line;
    if (tooLong) return this.bad(raw.subarray(0, 1024), 'The JSON object is larger than 4 MB', true);
    let pairs;
    try {
      pairs = objectPairs(raw.toString('utf8'));
    } catch (e) {
      return this.bad(raw, `Invalid JSON: ${e.message}`);
    }
    const byName = new Map();
    for (const [name, value] of pairs) byName.set(this.ignoreCase ? name.toLowerCase() : name, value);
    const fields = this.columns.map((c) => {
      const value = byName.get(this.ignoreCase ? c.name.toLowerCase() : c.name);
      if (value === undefined || value === 'null') return { jsonNull: true, value: Buffer.alloc(0), raw: [0, 0], quoted: false };
      let text = value;
      if (c.kind !== 'super' && value[0] === '"') text = JSON.parse(value);
      return { value: Buffer.from(text, 'utf8'), raw: [0, 0], quoted: value[0] === '"' };
    });
    return { line, raw, fields, error: null };
  }
}

// The top-level name-value pairs of one object, each value as its JSON text.
function objectPairs(text) {
  let i = ws(text, 0);
  if (text[i] !== '{') throw new Error('expected an object');
  const pairs = [];
  i = ws(text, i + 1);
  if (text[i] === '}') return end(text, i + 1, pairs);
  for (;;) {
    if (text[i] !== '"') throw new Error(`expected a name at offset ${i}`);
    const nameEnd = scanString(text, i);
    const name = JSON.parse(text.slice(i, nameEnd));
    i = ws(text, nameEnd);
    if (text[i] !== ':') throw new Error(`expected ':' at offset ${i}`);
    i = ws(text, i + 1);
    const valueEnd = scanValue(text, i);
    pairs.push([name, text.slice(i, valueEnd)]);
    i = ws(text, valueEnd);
    if (text[i] === ',') { i = ws(text, i + 1); continue; }
    if (text[i] === '}') return end(text, i + 1, pairs);
    throw new Error(`expected ',' or '}' at offset ${i}`);
  }
}

function end(text, i, pairs) {
  if (ws(text, i) !== text.length) throw new Error('text after the object');
  return pairs;
}

function ws(text, i) {
  while (i < text.length && ' \t\r\n'.includes(text[i])) i++;
  return i;
}

function scanString(text, i) {
  for (let j = i + 1; j < text.length; j++) {
    if (text[j] === '\\') j++;
    else if (text[j] === '"') {
      JSON.parse(text.slice(i, j + 1)); // escapes and control characters checked
      return j + 1;
    }
  }
  throw new Error('unterminated string');
}

// The end of the JSON value at i, checked with JSON.parse.
function scanValue(text, i) {
  let j;
  if (text[i] === '"') return scanString(text, i);
  if (text[i] === '{' || text[i] === '[') {
    let depth = 0;
    for (j = i; j < text.length; j++) {
      const c = text[j];
      if (c === '"') { j = scanString(text, j) - 1; continue; }
      if (c === '{' || c === '[') depth++;
      else if (c === '}' || c === ']') {
        depth--;
        if (depth === 0) break;
      }
    }
    if (depth !== 0) throw new Error('unbalanced brackets');
    j++;
  } else {
    j = i;
    while (j < text.length && !',}] \t\r\n'.includes(text[j])) j++;
  }
  JSON.parse(text.slice(i, j));
  return j;
}

module.exports = { JsonRecordParser };
