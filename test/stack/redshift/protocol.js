'use strict';
// PostgreSQL wire protocol v3: framing of the byte stream into messages,
// builders for the messages the stand-in sends (to clients and to the
// warehouse), and parsers for the few message bodies it has to look into.
// Everything else is relayed as the raw bytes that arrived.

const PROTOCOL_3 = 196608;
const SSL_REQUEST = 80877103;
const GSSENC_REQUEST = 80877104;
const CANCEL_REQUEST = 80877102;
// A message larger than this is a broken or hostile peer, not a statement.
const MAX_MESSAGE = 512 * 1024 * 1024;

// Splits a socket's byte stream into messages and hands them out in order
// through an async next(). In startup mode packets are untyped
// (int32 length, body); afterwards every message is type byte, int32 length, body.
class MessageStream {
  constructor(socket, { startup = false } = {}) {
    this.startup = startup;
    this.chunks = [];
    this.buffered = 0;
    this.queue = [];
    this.waiters = [];
    this.ended = false;
    this.error = null;
    this.attach(socket);
  }

  attach(socket) {
    this.socket = socket;
    this.onData = (data) => this.push(data);
    this.onEnd = () => this.end();
    this.onError = (err) => this.end(err);
    socket.on('data', this.onData);
    socket.on('end', this.onEnd);
    socket.on('close', this.onEnd);
    socket.on('error', this.onError);
  }

  // Stops reading from the socket (before handing it to TLS).
  detach() {
    this.socket.off('data', this.onData);
    this.socket.off('end', this.onEnd);
    this.socket.off('close', this.onEnd);
    this.socket.off('error', this.onError);
  }

  push(data) {
    this.chunks.push(data);
    this.buffered += data.length;
    for (;;) {
      const message = this.take();
      if (!message) break;
      this.deliver(message);
    }
  }

  take() {
    const header = this.startup ? 4 : 5;
    if (this.buffered < header) return null;
    const head = this.peek(header);
    const length = this.startup ? head.readInt32BE(0) : head.readInt32BE(1);
    if (length < 4 || length > MAX_MESSAGE) {
      this.end(new Error(`invalid message length ${length}`));
      return null;
    }
    const total = length + (this.startup ? 0 : 1);
    if (this.buffered < total) return null;
    const raw = this.consume(total);
    return this.startup
      ? { type: null, body: raw.subarray(4), raw }
      : { type: String.fromCharCode(raw[0]), body: raw.subarray(5), raw };
  }

  peek(n) {
    if (this.chunks[0].length < n) this.chunks = [Buffer.concat(this.chunks)];
    return this.chunks[0].subarray(0, n);
  }

  consume(n) {
    if (this.chunks[0].length < n) this.chunks = [Buffer.concat(this.chunks)];
    const first = this.chunks[0];
    const out = first.subarray(0, n);
    if (first.length === n) this.chunks.shift();
    else this.chunks[0] = first.subarray(n);
    this.buffered -= n;
    return out;
  }

  deliver(message) {
    const waiter = this.waiters.shift();
    if (waiter) waiter.resolve(message);
    else this.queue.push(message);
  }

  end(err) {
    if (this.ended) return;
    this.ended = true;
    this.error = err || null;
    for (const waiter of this.waiters.splice(0)) waiter.resolve(null);
  }

  // Resolves to the next message, or null once the peer is gone.
  next() {
    if (this.queue.length) return Promise.resolve(this.queue.shift());
    if (this.ended) return Promise.resolve(null);
    return new Promise((resolve) => this.waiters.push({ resolve }));
  }

}

// --- building messages ---

function cstr(text) {
  return Buffer.concat([Buffer.from(String(text), 'utf8'), Buffer.from([0])]);
}

function int16(n) {
  const b = Buffer.alloc(2);
  b.writeInt16BE(n);
  return b;
}

function int32(n) {
  const b = Buffer.alloc(4);
  b.writeInt32BE(n);
  return b;
}

function message(type, ...parts) {
  const body = Buffer.concat(parts);
  const head = Buffer.alloc(5);
  head.write(type, 0, 'latin1');
  head.writeInt32BE(body.length + 4, 1);
  return Buffer.concat([head, body]);
}

// fields: {S, V, C, M, D, H, P, ...} -> ErrorResponse ('E') or NoticeResponse ('N').
function fieldsMessage(type, fields) {
  const parts = [];
  for (const [code, value] of Object.entries(fields)) {
    if (value === undefined || value === null) continue;
    parts.push(Buffer.from(code, 'latin1'), cstr(value));
  }
  parts.push(Buffer.from([0]));
  return message(type, ...parts);
}

const backend = {
  authOk: () => message('R', int32(0)),
  authMD5: (salt) => message('R', int32(5), salt),
  parameterStatus: (name, value) => message('S', cstr(name), cstr(value)),
  backendKeyData: (pid, key) => message('K', int32(pid), int32(key)),
  readyForQuery: (status) => message('Z', Buffer.from(status, 'latin1')),
  commandComplete: (tag) => message('C', cstr(tag)),
  parseComplete: () => message('1'),
  bindComplete: () => message('2'),
  closeComplete: () => message('3'),
  noData: () => message('n'),
  parameterDescription: (oids) => message('t', int16(oids.length), ...oids.map(int32)),
  error: (fields) => fieldsMessage('E', fields),
  notice: (fields) => fieldsMessage('N', fields),
  // columns: [{name, typeOid}] (text format, no table).
  rowDescription: (columns) => message('T', int16(columns.length), ...columns.map((c) => Buffer.concat([
    cstr(c.name), int32(0), int16(0), int32(c.typeOid), int16(c.typeSize ?? -1), int32(-1), int16(0),
  ]))),
  dataRow: (values) => message('D', int16(values.length), ...values.map((v) => {
    if (v === null || v === undefined) return int32(-1);
    const b = Buffer.from(String(v), 'utf8');
    return Buffer.concat([int32(b.length), b]);
  })),
};

const frontend = {
  startup: (params) => {
    const parts = [int32(PROTOCOL_3)];
    for (const [k, v] of Object.entries(params)) parts.push(cstr(k), cstr(v));
    parts.push(Buffer.from([0]));
    const body = Buffer.concat(parts);
    return Buffer.concat([int32(body.length + 4), body]);
  },
  cancel: (pid, key) => Buffer.concat([int32(16), int32(CANCEL_REQUEST), int32(pid), int32(key)]),
  query: (sql) => message('Q', cstr(sql)),
  parse: (name, sql, types = []) => message('P', cstr(name), cstr(sql), int16(types.length), ...types.map(int32)),
  bind: (portal, statement) => message('B', cstr(portal), cstr(statement), int16(0), int16(0), int16(0)),
  execute: (portal, maxRows = 0) => message('E', cstr(portal), int32(maxRows)),
  copyData: (data) => message('d', data),
  copyDone: () => message('c'),
  copyFail: (why) => message('f', cstr(why)),
  terminate: () => message('X'),
};

// --- reading message bodies ---

class BodyReader {
  constructor(body) {
    this.body = body;
    this.pos = 0;
  }

  cstr() {
    const end = this.body.indexOf(0, this.pos);
    if (end < 0) throw new Error('unterminated string in message');
    const text = this.body.toString('utf8', this.pos, end);
    this.pos = end + 1;
    return text;
  }

  int16() {
    const v = this.body.readInt16BE(this.pos);
    this.pos += 2;
    return v;
  }

  int32() {
    const v = this.body.readInt32BE(this.pos);
    this.pos += 4;
    return v;
  }

  byte() {
    return String.fromCharCode(this.body[this.pos++]);
  }
}

// Startup packet body (after the length) -> {code, params} | {code, pid, key}.
function parseStartup(body) {
  const r = new BodyReader(body);
  const code = r.int32();
  if (code === CANCEL_REQUEST) return { code, pid: r.int32(), key: r.int32() };
  if (code !== PROTOCOL_3) return { code };
  const params = {};
  while (r.pos < body.length && body[r.pos] !== 0) {
    const name = r.cstr();
    params[name] = r.cstr();
  }
  return { code, params };
}

// ErrorResponse / NoticeResponse body -> {S, C, M, ...}.
function parseFields(body) {
  const r = new BodyReader(body);
  const fields = {};
  while (r.pos < body.length && body[r.pos] !== 0) {
    const code = r.byte();
    fields[code] = r.cstr();
  }
  return fields;
}

const parseBody = {
  query: (body) => new BodyReader(body).cstr(),
  parse: (body) => {
    const r = new BodyReader(body);
    const name = r.cstr();
    const sql = r.cstr();
    const n = r.int16();
    const types = [];
    for (let i = 0; i < n; i++) types.push(r.int32());
    return { name, sql, types };
  },
  bind: (body) => {
    const r = new BodyReader(body);
    return { portal: r.cstr(), statement: r.cstr() };
  },
  describe: (body) => {
    const r = new BodyReader(body);
    return { kind: r.byte(), name: r.cstr() };
  },
  close: (body) => {
    const r = new BodyReader(body);
    return { kind: r.byte(), name: r.cstr() };
  },
  execute: (body) => {
    const r = new BodyReader(body);
    return { portal: r.cstr(), maxRows: r.int32() };
  },
  password: (body) => new BodyReader(body).cstr(),
  commandComplete: (body) => new BodyReader(body).cstr(),
  parameterStatus: (body) => {
    const r = new BodyReader(body);
    return { name: r.cstr(), value: r.cstr() };
  },
  backendKeyData: (body) => ({ pid: body.readInt32BE(0), key: body.readInt32BE(4) }),
  // DataRow -> array of strings (text format) or null.
  dataRow: (body) => {
    const r = new BodyReader(body);
    const n = r.int16();
    const values = [];
    for (let i = 0; i < n; i++) {
      const len = r.int32();
      if (len < 0) values.push(null);
      else {
        values.push(body.toString('utf8', r.pos, r.pos + len));
        r.pos += len;
      }
    }
    return values;
  },
};

module.exports = {
  PROTOCOL_3, SSL_REQUEST, GSSENC_REQUEST, CANCEL_REQUEST,
  MessageStream, backend, frontend, parseStartup, parseFields, parseBody,
};
