'use strict';
// Splits a data file's bytes into records and fields the way Redshift's COPY
// reads them [copy-parameters-data-format "CSV", "DELIMITER";
// copy-parameters-data-conversion "ESCAPE"]:
//   - records end at LF; a CR is data (a CRLF file leaves '\r' in the last
//     field, as on Redshift);
//   - CSV: a field may be enclosed in the quote character; inside it the quote
//     is doubled, and the delimiter, LF and CR are data; white space between a
//     delimiter and the quotes is ignored;
//   - delimited text: no quoting; with ESCAPE a backslash makes the next byte
//     (delimiter, LF, backslash) data.
// Works on bytes, not strings, so invalid UTF-8 and NUL bytes reach the
// validation untouched. Fields: {value: Buffer, raw: [start, end) in the
// record's raw bytes, quoted}.

const LF = 0x0a;
const BACKSLASH = 0x5c;
// The largest input record COPY reads: 4 MB [r_COPY "the maximum size of a
// single input row from any source is 4 MB"]. A longer record fails the whole
// COPY (see copy.js), whatever MAXERROR says.
const MAX_RECORD = 4 * 1024 * 1024;

// Growable byte buffer.
class Bytes {
  constructor(size = 256) {
    this.buf = Buffer.allocUnsafe(size);
    this.length = 0;
  }

  push(byte) {
    if (this.length === this.buf.length) {
      const bigger = Buffer.allocUnsafe(this.buf.length * 2);
      this.buf.copy(bigger, 0, 0, this.length);
      this.buf = bigger;
    }
    this.buf[this.length++] = byte;
  }

  take() {
    const out = Buffer.from(this.buf.subarray(0, this.length));
    this.length = 0;
    return out;
  }
}

const S = { FIELD_START: 0, LEADING_WS: 1, UNQUOTED: 2, QUOTED: 3, QUOTE_SEEN: 4, TRAILING_WS: 5, ESCAPED: 6, BAD: 7 };

class RecordParser {
  // options: {csv, delimiter, quote, escape} (delimiter/quote: one-byte strings)
  constructor({ csv, delimiter, quote, escape }) {
    this.csv = csv;
    this.delim = delimiter.charCodeAt(0);
    this.quote = quote.charCodeAt(0);
    this.escape = Boolean(escape) && !csv;
    this.line = 1; // line number of the next byte
    this.resetRecord();
  }

  resetRecord() {
    this.state = S.FIELD_START;
    this.raw = new Bytes(1024);
    this.value = new Bytes(256);
    this.fields = [];
    this.fieldStart = 0;
    this.quoted = false;
    this.recordLine = this.line;
    this.error = null;
    this.tooLong = false;
  }

  isWs(b) {
    return (b === 0x20 || b === 0x09) && b !== this.delim;
  }

  // atDelimiter: the field ended at a delimiter (already in raw), not at the end of the record.
  endField(atDelimiter) {
    const end = atDelimiter ? this.raw.length - 1 : this.raw.length;
    this.fields.push({ value: this.value.take(), raw: [this.fieldStart, end], quoted: this.quoted });
    this.fieldStart = this.raw.length;
    this.quoted = false;
    this.state = S.FIELD_START;
  }

  endRecord(out) {
    // The terminating LF is not part of the record.
    const raw = this.raw.take();
    out.push({ line: this.recordLine, raw, fields: this.fields, error: this.error });
    this.resetRecord();
  }

  fail(reason) {
    this.error = { code: 1214, reason };
    this.state = S.BAD;
  }

  // Feeds a chunk; returns the records it completed.
  push(chunk) {
    const out = [];
    for (let i = 0; i < chunk.length; i++) {
      const b = chunk[i];
      if (b === LF) this.line++;
      if (b === LF && this.state !== S.QUOTED && this.state !== S.ESCAPED) {
        this.finishField();
        this.endRecord(out);
        continue;
      }
      if (this.raw.length < MAX_RECORD) this.raw.push(b);
      else if (!this.tooLong) {
        this.tooLong = true;
        this.error = { code: 1216, reason: `Input line exceeds the maximum row size of ${MAX_RECORD} bytes`, fatal: true };
        this.state = S.BAD;
      }
      this.step(b);
    }
    return out;
  }

  // At the end of a record (LF or end of file): close the open field.
  finishField() {
    if ([S.FIELD_START, S.LEADING_WS, S.UNQUOTED, S.QUOTE_SEEN, S.TRAILING_WS].includes(this.state)) this.endField(false);
  }

  step(b) {
    switch (this.state) {
      case S.FIELD_START:
        if (this.csv && b === this.quote) {
          this.quoted = true;
          this.state = S.QUOTED;
        } else if (b === this.delim) this.endField(true);
        else if (this.csv && this.isWs(b)) {
          this.value.push(b);
          this.state = S.LEADING_WS;
        } else if (this.escape && b === BACKSLASH) this.state = S.ESCAPED;
        else {
          this.value.push(b);
          this.state = S.UNQUOTED;
        }
        break;
      case S.LEADING_WS:
        if (b === this.quote) {
          // White space before the opening quote is ignored.
          this.value.length = 0;
          this.quoted = true;
          this.state = S.QUOTED;
        } else if (b === this.delim) this.endField(true);
        else {
          this.value.push(b);
          if (!this.isWs(b)) this.state = S.UNQUOTED;
        }
        break;
      case S.UNQUOTED:
        if (b === this.delim) this.endField(true);
        else if (this.escape && b === BACKSLASH) this.state = S.ESCAPED;
        else this.value.push(b);
        break;
      case S.ESCAPED:
        this.value.push(b);
        this.state = S.UNQUOTED;
        break;
      case S.QUOTED:
        if (b === this.quote) this.state = S.QUOTE_SEEN;
        else this.value.push(b);
        break;
      case S.QUOTE_SEEN:
        if (b === this.quote) {
          this.value.push(b);
          this.state = S.QUOTED;
        } else if (b === this.delim) this.endField(true);
        else if (this.isWs(b)) this.state = S.TRAILING_WS;
        else this.fail('Delimiter not found');
        break;
      case S.TRAILING_WS:
        if (b === this.delim) this.endField(true);
        else if (!this.isWs(b)) this.fail('Delimiter not found');
        break;
      default: // BAD: skip to the end of the line
        break;
    }
  }

  // End of the file: the last record may lack its LF.
  finish() {
    const out = [];
    if (this.state === S.QUOTED || this.state === S.ESCAPED) {
      this.error = { code: 1214, reason: 'Unterminated quoted field at end of file' };
      this.state = S.BAD;
      this.endRecord(out);
    } else if (this.raw.length || this.fields.length || this.state !== S.FIELD_START) {
      this.finishField();
      this.endRecord(out);
    }
    return out;
  }
}

module.exports = { RecordParser };
