'use strict';
// One client connection: startup (TLS, md5 password, the client's own
// warehouse session), then every message in order.
//
// Messages go to the warehouse as they arrive and the warehouse's answers
// come back in order through a pipeline of expected responses. Answers the
// stand-in produces itself (for statements it emulates, which the warehouse
// never sees) are queued in the same pipeline so that the client sees them
// exactly where the warehouse would have put them.
//
// Emulated statements (COPY from S3, TRUNCATE, CREATE TABLE, ...) wait until
// the pipeline is empty and then own the warehouse connection ("exclusive
// mode") until they are done.
//
// Errors the stand-in raises inside a transaction must abort it, as any error
// does on Redshift: they are raised in the warehouse session through
// pg_catalog.redtrack_raise(), and the warehouse's ErrorResponse is then
// cleaned up (no PL/pgSQL context) before it reaches the client.

const crypto = require('node:crypto');
const tls = require('node:tls');
const {
  MessageStream, backend, frontend, parseStartup, parseFields, parseBody,
  PROTOCOL_3, SSL_REQUEST, GSSENC_REQUEST, CANCEL_REQUEST,
} = require('./protocol');
const { split, tokenize, applyEdits, quoteLiteral, SqlSyntaxError } = require('./sql');
const { classify, redact } = require('./classify');
const { RedshiftError, syntaxError } = require('./errors');
const { Upstream } = require('./upstream');
const emulate = require('./emulate');

// Redshift reports a PostgreSQL 8.0.2 server.
const SERVER_VERSION = '8.0.2';
const RAISE_MARK = /^redtrack_raise:(\d+)$/;
const BYTE_CHECK = /^rs_(varchar|char|varbyte)_(\d+)_/;
const COPY_FUNCTIONS = /pg_last_copy_(id|count)/i;
// The PostgreSQL isolation level behind each of Redshift's [c_serial_isolation]:
// SERIALIZABLE is PostgreSQL's (its conflicts become Redshift's error 1023);
// SNAPSHOT is snapshot isolation, PostgreSQL's REPEATABLE READ.
const PG_ISOLATION = { serializable: 'serializable', snapshot: 'repeatable read' };

// pg_last_copy_id() / pg_last_copy_count() calls replaced by the session's
// values (the stand-in knows them; a function reading a table would see them
// through the transaction's snapshot, stale under SERIALIZABLE).
function rewriteCopyFunctions(sql, last) {
  let tokens;
  try {
    tokens = tokenize(sql);
  } catch {
    return sql;
  }
  const edits = [];
  for (let i = 0; i < tokens.length; i++) {
    const t = tokens[i];
    if (t.type !== 'word' || (t.value !== 'pg_last_copy_id' && t.value !== 'pg_last_copy_count')) continue;
    const open = tokens[i + 1];
    const close = tokens[i + 2];
    if (!open || open.text !== '(' || !close || close.text !== ')') continue;
    let start = t.start;
    const dot = tokens[i - 1];
    const schema = tokens[i - 2];
    if (dot && dot.text === '.' && schema && schema.type === 'word' && schema.value === 'pg_catalog') start = schema.start;
    edits.push({
      start, end: close.end,
      text: t.value === 'pg_last_copy_id' ? `pg_catalog.pg_last_copy_id(${last.id})` : `pg_catalog.pg_last_copy_count(${last.count}::bigint)`,
    });
  }
  return edits.length ? applyEdits(sql, edits) : sql;
}

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

// Messages from the warehouse while the stand-in owns the connection.
class Channel {
  constructor() {
    this.queue = [];
    this.waiters = [];
    this.failure = null;
  }

  push(msg) {
    const w = this.waiters.shift();
    if (w) w.resolve(msg);
    else this.queue.push(msg);
  }

  fail(err) {
    this.failure = err;
    for (const w of this.waiters.splice(0)) w.reject(err);
  }

  next() {
    if (this.queue.length) return Promise.resolve(this.queue.shift());
    if (this.failure) return Promise.reject(this.failure);
    return new Promise((resolve, reject) => this.waiters.push({ resolve, reject }));
  }

  get pending() {
    return this.queue.length;
  }
}

function maxParam(tokens) {
  return tokens.reduce((m, t) => (t.type === 'param' ? Math.max(m, t.value) : m), 0);
}

class Session {
  constructor(server, socket, id) {
    this.server = server;
    this.socket = socket;
    this.id = id;
    this.closed = false;
    this.pipeline = [];
    this.drainWaiters = [];
    this.txStatus = 'I';
    this.upstreamSkipping = false; // the warehouse discards extended-protocol messages until Sync
    this.statements = new Map(); // prepared statement name -> decision
    this.portals = new Map(); // portal name -> statement name
    this.settings = {};
    this.caseSensitive = false;
    this.cluster = server.settings.for('');
    // pg_last_copy_id() / pg_last_copy_count() of this session, and what they
    // go back to if the open transaction rolls back [PG_LAST_COPY_ID].
    this.lastCopy = { id: -1, count: 0 };
    this.copyRestore = null;
    this.exclusive = null;
    this.cancelRequested = false;
    socket.on('error', () => {});
    socket.setNoDelay(true);
  }

  log(line) {
    this.server.log(`[conn ${this.id}] ${line}`);
  }

  writeClient(buffers) {
    if (this.closed || this.socket.destroyed) return;
    for (const b of Array.isArray(buffers) ? buffers : [buffers]) this.socket.write(b);
  }

  fatal(code, message) {
    this.writeClient(backend.error({ S: 'FATAL', V: 'FATAL', C: code, M: message }));
    this.close();
  }

  // --- startup ---

  async serve() {
    try {
      if (!(await this.startup())) return;
      this.pumpUpstream();
      for (;;) {
        const msg = await this.client.next();
        if (!msg || this.closed) break;
        await this.onClientMessage(msg);
      }
    } catch (e) {
      this.log(`session error: ${e.stack || e}`);
    }
    this.close();
  }

  async startup() {
    let stream = new MessageStream(this.socket, { startup: true });
    let params;
    for (;;) {
      const pkt = await stream.next();
      if (!pkt) return false;
      const s = parseStartup(pkt.body);
      if (s.code === SSL_REQUEST) {
        if (this.tls || !this.server.tlsContext) {
          this.socket.write('N');
          continue;
        }
        stream.detach();
        this.socket.write('S');
        const secure = new tls.TLSSocket(this.socket, { isServer: true, secureContext: this.server.tlsContext });
        secure.on('error', () => {});
        this.socket = secure;
        this.tls = true;
        stream = new MessageStream(secure, { startup: true });
      } else if (s.code === GSSENC_REQUEST) {
        this.socket.write('N');
      } else if (s.code === CANCEL_REQUEST) {
        this.server.cancel(s.pid, s.key);
        this.close();
        return false;
      } else if (s.code !== PROTOCOL_3) {
        this.fatal('0A000', `unsupported frontend protocol ${s.code >> 16}.${s.code & 0xffff}: server supports 3.0 to 3.0`);
        return false;
      } else {
        params = s.params;
        break;
      }
    }
    stream.startup = false;
    this.client = stream;
    const { config } = this.server;
    const user = params.user || '';
    const database = params.database || user;

    // md5 password authentication, as Redshift asks for.
    const salt = crypto.randomBytes(4);
    this.writeClient(backend.authMD5(salt));
    const reply = await stream.next();
    if (!reply || reply.type !== 'p') {
      this.close();
      return false;
    }
    const given = parseBody.password(reply.body);
    const inner = crypto.createHash('md5').update(config.password + user).digest('hex');
    const expected = `md5${crypto.createHash('md5').update(Buffer.concat([Buffer.from(inner), salt])).digest('hex')}`;
    if (user !== config.user || given !== expected) {
      this.log(`password authentication failed for user "${user}"`);
      this.fatal('28P01', `password authentication failed for user "${user}"`);
      return false;
    }

    this.cluster = this.server.settings.for(params.application_name);
    const upParams = {
      ...params, user: config.user, database, default_transaction_isolation: PG_ISOLATION[this.cluster.isolation],
    };
    delete upParams.replication;
    try {
      this.upstream = await Upstream.connect({ host: config.host, port: config.warehousePort, params: upParams });
    } catch (e) {
      if (e.fields) {
        const f = e.fields();
        this.fatal(f.C, f.M);
      } else {
        this.log(`cannot reach the warehouse: ${e.message}`);
        this.fatal('08006', 'could not connect to the cluster');
      }
      return false;
    }
    this.database = database;
    this.pid = this.upstream.pid;
    this.key = this.upstream.key;
    try {
      await this.server.catalog.ensure(database);
      await this.server.catalog.resetSession(database, this.pid);
    } catch (e) {
      this.log(`cannot prepare the warehouse database "${database}": ${e.message}`);
      this.fatal('XX000', 'the Redshift stand-in could not prepare the database');
      return false;
    }
    this.server.register(this);
    const out = [backend.authOk()];
    for (const { name, value } of this.upstream.parameters) {
      out.push(backend.parameterStatus(name, name === 'server_version' ? SERVER_VERSION : value));
    }
    out.push(backend.backendKeyData(this.pid, this.key), backend.readyForQuery('I'));
    this.writeClient(out);
    this.log(`connected as ${user} to ${database}${this.tls ? ' (TLS)' : ''}, warehouse pid ${this.pid}, ${this.cluster.isolation}${this.cluster.serverless ? ', serverless' : ''}`);
    return true;
  }

  // --- the warehouse's answers ---

  async pumpUpstream() {
    const { stream } = this.upstream;
    for (;;) {
      const msg = await stream.next();
      if (!msg) {
        if (this.exclusive) this.exclusive.fail(new Error('the warehouse connection closed'));
        if (!this.closed) this.log('warehouse connection closed');
        this.close();
        return;
      }
      try {
        if (msg.type === 'S') {
          const { name, value } = parseBody.parameterStatus(msg.body);
          this.writeClient(name === 'server_version' ? backend.parameterStatus(name, SERVER_VERSION) : msg.raw);
        } else if (msg.type === 'A') this.writeClient(msg.raw);
        else if (this.exclusive) this.exclusive.push(msg);
        else await this.relay(msg);
      } catch (e) {
        this.log(`relay error: ${e.stack || e}`);
        this.close();
        return;
      }
    }
  }

  // ErrorResponse/NoticeResponse as the client should see it: errors raised
  // through redtrack_raise lose the PL/pgSQL context and get their position;
  // byte-length CHECK violations become Redshift's "value too long".
  cleanFields(fields) {
    const f = { ...fields };
    if (f.C === '40001') {
      // PostgreSQL's serialization failure, in Redshift's words (XX000, message
      // "1023", as Redshift's drivers report it). PostgreSQL does not say which
      // table: its id is given as 0.
      return {
        S: f.S, V: f.V, C: 'XX000', M: '1023',
        D: `Serializable isolation violation on table - 0, transactions forming the cycle are: 0 (pid:${this.pid})`,
      };
    }
    const mark = RAISE_MARK.exec(f.n || '');
    if (mark) {
      for (const k of ['n', 'W', 'F', 'L', 'R']) delete f[k];
      if (!f.D) delete f.D;
      if (Number(mark[1]) > 0) f.P = mark[1];
      return f;
    }
    const check = f.C === '23514' && BYTE_CHECK.exec(f.n || '');
    if (check) {
      const [, kind, n] = check;
      const type = { varchar: `character varying(${n})`, char: `character(${n})`, varbyte: `varbyte(${n})` }[kind];
      return kind === 'char'
        ? { S: f.S, V: f.V, C: '22021', M: 'Multibyte character not supported for CHAR (Hint: try using VARCHAR)' }
        : { S: f.S, V: f.V, C: '22001', M: `value too long for type ${type}` };
    }
    return f;
  }

  clean(msg) {
    if (msg.type !== 'E' && msg.type !== 'N') return msg.raw;
    const fields = parseFields(msg.body);
    const out = this.cleanFields(fields);
    return msg.type === 'E' ? backend.error(out) : backend.notice(out);
  }

  async relay(msg) {
    const head = this.pipeline[0];
    const out = this.clean(msg);
    if (!head || head.local) {
      // Nothing expected: a notice, or the warehouse's FATAL before it exits.
      if (msg.type === 'N' || msg.type === 'E') this.writeClient(out);
      return;
    }
    if (head.held) head.held.push(out);
    else this.writeClient(out);
    if (msg.type === 'N') return;
    if (msg.type === 'C') this.noteTag(parseBody.commandComplete(msg.body));
    if (msg.type === 'Z') this.txStatus = String.fromCharCode(msg.body[0]);
    let done;
    switch (head.expect) {
      case 'query': case 'sync': done = msg.type === 'Z'; break;
      case 'describeS': done = msg.type !== 't'; break;
      case 'execute': done = ['C', 'I', 's', 'E'].includes(msg.type); break;
      default: done = true; // parse, bind, close, describeP: one message (or an error)
    }
    if (!done) return;
    this.pipeline.shift();
    if (msg.type === 'E' && head.expect !== 'query' && head.expect !== 'sync') this.dropUntilSync();
    if (head.after) await this.applyAfter(head.after, head.held, head.expect === 'query');
    this.settle();
  }

  // After an error in an extended-protocol sequence the warehouse ignores
  // everything until Sync: so do the answers the pipeline still expects.
  dropUntilSync() {
    const i = this.pipeline.findIndex((item) => item.expect === 'sync');
    if (i < 0) {
      this.pipeline = [];
      this.upstreamSkipping = true;
    } else this.pipeline.splice(0, i);
  }

  settle() {
    while (this.pipeline.length && this.pipeline[0].local) this.writeClient(this.pipeline.shift().local);
    if (!this.pipeline.length) for (const w of this.drainWaiters.splice(0)) w();
  }

  forward(raw, item) {
    if (item) this.pipeline.push(item);
    this.upstream.write(raw);
  }

  pushLocal(buffers) {
    if (!this.pipeline.length) this.writeClient(buffers);
    else this.pipeline.push({ local: buffers });
  }

  async drain() {
    while (this.pipeline.length && !this.closed) await new Promise((resolve) => this.drainWaiters.push(resolve));
  }

  // --- pg_last_copy_id() and transactions ---

  // A COPY began loading: pg_last_copy_id() names it from now on. Inside a
  // transaction block the value before it is kept, for a rollback.
  noteCopyBegin(id) {
    if (this.txStatus === 'T' && !this.copyRestore) this.copyRestore = { ...this.lastCopy };
    this.lastCopy = { id, count: 0 };
    return this.server.catalog.setLastCopy(this.database, this.pid, id, 0);
  }

  noteCopyDone(count) {
    this.lastCopy.count = count;
    return this.server.catalog.setLastCopy(this.database, this.pid, this.lastCopy.id, count);
  }

  // A COPY failed on its data: its id stays, also through the rollback that follows.
  noteCopyFailed() {
    this.copyRestore = null;
  }

  // COMMIT keeps the COPY ids of the transaction; a rollback restores the
  // value from before it ("If the COPY transaction is rolled back, the COPY
  // ID is not updated" [PG_LAST_COPY_ID]).
  noteTag(tag) {
    if (!this.copyRestore || !tag) return;
    if (tag === 'COMMIT') this.copyRestore = null;
    else if (tag === 'ROLLBACK') {
      this.lastCopy = this.copyRestore;
      this.copyRestore = null;
      this.server.catalog.setLastCopy(this.database, this.pid, this.lastCopy.id, this.lastCopy.count)
        .catch((e) => this.log(`restoring pg_last_copy_id failed: ${e.message}`));
    }
  }

  // The SQL to send for a passed statement.
  passSql(d) {
    return d.copyFunctions ? rewriteCopyFunctions(d.sql, this.lastCopy) : d.sql;
  }

  // --- the warehouse connection in exclusive mode ---

  beginExclusive() {
    this.exclusive = new Channel();
  }

  endExclusive() {
    this.exclusive = null;
  }

  upNext() {
    return this.exclusive.next();
  }

  upWrite(buf) {
    return this.upstream.writeAsync(buf);
  }

  // Runs one simple query; onMessage(msg) sees every message before ReadyForQuery.
  async upQuery(sql, onMessage) {
    await this.upWrite(frontend.query(sql));
    for (;;) {
      const msg = await this.upNext();
      if (msg.type === 'Z') {
        this.txStatus = String.fromCharCode(msg.body[0]);
        return;
      }
      if (msg.type === 'C') this.noteTag(parseBody.commandComplete(msg.body));
      if (onMessage) onMessage(msg);
    }
  }

  // Runs a simple query and collects its result: {rows, tag, error, notices}.
  async upCollect(sql) {
    const result = { rows: [], tag: null, error: null, notices: [] };
    await this.upQuery(sql, (msg) => {
      if (msg.type === 'D') result.rows.push(parseBody.dataRow(msg.body));
      else if (msg.type === 'C') result.tag = parseBody.commandComplete(msg.body);
      else if (msg.type === 'E') result.error = parseFields(msg.body);
      else if (msg.type === 'N') result.notices.push(this.clean(msg));
    });
    return result;
  }

  // CALL that raises `error` (a RedshiftError) in the warehouse session.
  // params: how many $n the statement it replaces had (they must all be used).
  raiseSql(error, offset = 0, params = 0) {
    const f = error.fields();
    const pos = f.P ? Number(f.P) + offset : 0;
    const args = Array.from({ length: params }, (_, i) => `$${i + 1}::text`);
    return `CALL pg_catalog.redtrack_raise(${quoteLiteral(f.C)}, ${quoteLiteral(f.M)}, ${f.D ? quoteLiteral(f.D) : 'NULL'}, ${pos}, ARRAY[${args.join(', ')}]::text[])`;
  }

  // An emulated statement failed: abort the warehouse transaction like an
  // error there would (and, in the extended protocol, make the warehouse
  // skip to Sync), then send the client `fields`.
  async failStatement(fields, extended) {
    const raise = this.raiseSql(new RedshiftError(fields.C, fields.M));
    if (extended) {
      await this.upWrite(Buffer.concat([frontend.parse('', raise), frontend.bind('', ''), frontend.execute('')]));
      for (;;) {
        const msg = await this.upNext();
        if (msg.type === 'E') break;
      }
      this.upstreamSkipping = true;
    } else {
      await this.upCollect(raise);
    }
    this.writeClient(backend.error(fields));
  }

  // --- client messages ---

  async onClientMessage(msg) {
    switch (msg.type) {
      case 'Q': return this.handleQuery(msg);
      case 'P': return this.handleParse(msg);
      case 'B': return this.handleBind(msg);
      case 'D': return this.handleDescribe(msg);
      case 'E': return this.handleExecute(msg);
      case 'C': return this.handleClose(msg);
      case 'S':
        this.upstreamSkipping = false;
        return this.forward(msg.raw, { expect: 'sync' });
      case 'H':
        return this.forward(msg.raw);
      case 'F':
        return this.forward(msg.raw, { expect: 'query' });
      case 'X':
        return this.close();
      case 'd': case 'c': case 'f':
        return undefined; // copy data without COPY FROM STDIN (which is refused): ignored, as by a server
      default:
        this.fatal('08P01', `invalid frontend message type ${msg.type.charCodeAt(0)}`);
        return undefined;
    }
  }

  // Statements of a query string. A string the lexer cannot read (an
  // unterminated quote or comment) is one statement that is refused with a
  // syntax error here: sent on, the warehouse would log its text, which may
  // hold credentials.
  splitOrReject(sql) {
    try {
      return split(sql);
    } catch (e) {
      if (!(e instanceof SqlSyntaxError)) throw e;
      return [{ text: sql, start: 0, tokens: [], lexError: e }];
    }
  }

  // Classifies a statement, logs it and applies fault rules.
  // Returns the decision, or null when a fault killed the session.
  async decide(stmt) {
    const d = stmt.lexError
      ? { action: 'reject', error: syntaxError(stmt.lexError.message, stmt.lexError.position), redacted: redact(stmt.text) }
      : classify(stmt, this);
    d.offset = stmt.start;
    d.params = maxParam(stmt.tokens);
    d.copyFunctions = d.action === 'pass' && COPY_FUNCTIONS.test(stmt.text);
    this.server.recordStatement(this, d.redacted);
    const fault = this.server.faults.match(d.redacted);
    if (fault) {
      this.server.stats.faultFired(fault);
      this.log(`fault ${fault.when} ${fault.action} on: ${d.redacted.slice(0, 200)}`);
      if (fault.when === 'before') {
        if (fault.action === 'kill') {
          this.kill();
          return null;
        }
        if (fault.action === 'error') Object.assign(d, { action: 'reject', error: new RedshiftError('XX000', 'injected fault') });
        if (fault.action === 'delay') await sleep(fault.delayMs);
      } else if (fault.when === 'after') d.after = fault;
      else d.during = fault;
    }
    if (d.action === 'reject') this.server.stats.count('rejected');
    return d;
  }

  async handleQuery(msg) {
    const sql = parseBody.query(msg.body);
    const stmts = this.splitOrReject(sql);
    if (!stmts.length) {
      this.server.recordStatement(this, redact(sql));
      this.forward(msg.raw, { expect: 'query' });
      return;
    }
    const decisions = [];
    for (const st of stmts) {
      const d = await this.decide(st);
      if (!d) return;
      decisions.push(d);
    }
    // One message to the warehouse keeps PostgreSQL's semantics for several
    // statements in one query (one implicit transaction); emulated statements
    // and faults need the statements run one by one.
    // pg_last_copy_*() after another statement of the same string (say a
    // ROLLBACK) need that statement's outcome: one by one too.
    const whole = decisions.every((d) => d.action !== 'emulate' && !d.during)
      && (decisions.length === 1 || decisions.every((d) => !d.after && !d.copyFunctions));
    // pg_last_copy_*() are answered with what the session knows once every
    // statement before them is done (a ROLLBACK may change them).
    if (decisions.some((d) => d.copyFunctions)) await this.drain();
    if (whole) {
      const texts = decisions.map((d) => (d.action === 'reject' ? this.raiseSql(d.error, d.offset) : this.passSql(d)));
      const same = decisions.every((d, i) => d.action === 'pass' && !d.copyFunctions && d.sql === stmts[i].text);
      const after = decisions[0].after;
      this.forward(same ? msg.raw : frontend.query(texts.join(';\n')), { expect: 'query', after, held: after ? [] : null });
      return;
    }
    await this.drain();
    for (const d of decisions) {
      if (this.closed) return;
      const ok = d.action === 'emulate'
        ? await this.runEmulated(d, false)
        : await this.runSimple(d.action === 'reject' ? this.raiseSql(d.error, d.offset) : this.passSql(d), d);
      if (!ok) break;
    }
    this.writeClient(backend.readyForQuery(this.txStatus));
  }

  // One statement of a multi-statement query, relayed; false on error.
  async runSimple(sql, d) {
    this.beginExclusive();
    const held = d.after ? [] : null;
    let failed = false;
    try {
      if (d.during) setImmediate(() => this.kill());
      await this.upQuery(sql, (msg) => {
        if (msg.type === 'E') failed = true;
        const out = this.clean(msg);
        if (held) held.push(out);
        else this.writeClient(out);
      });
    } catch {
      return false;
    } finally {
      this.endExclusive();
    }
    if (d.after) {
      await this.applyAfter(d.after, held, false);
      if (d.after.action !== 'delay') return false;
    }
    return !failed && !this.closed;
  }

  // What an `after` fault does once the warehouse finished the statement.
  async applyAfter(fault, held, endsWithReady) {
    if (fault.action === 'kill') {
      this.kill();
      return;
    }
    if (fault.action === 'error') {
      const out = [backend.error({ S: 'ERROR', V: 'ERROR', C: 'XX000', M: 'injected fault' })];
      if (endsWithReady) out.push(backend.readyForQuery(this.txStatus));
      this.writeClient(out);
      return;
    }
    await sleep(fault.delayMs);
    this.writeClient(held);
  }

  async handleParse(msg) {
    if (this.upstreamSkipping) return this.forward(msg.raw);
    const p = parseBody.parse(msg.body);
    const stmts = this.splitOrReject(p.sql);
    if (stmts.length !== 1) {
      // Empty or several statements: the warehouse answers.
      this.server.recordStatement(this, redact(p.sql));
      this.statements.set(p.name, { action: 'pass' });
      return this.forward(msg.raw, { expect: 'parse' });
    }
    const d = await this.decide(stmts[0]);
    if (!d) return undefined;
    this.statements.set(p.name, d);
    if (d.action === 'emulate') return this.pushLocal(backend.parseComplete());
    if (d.copyFunctions) await this.drain();
    const sql = d.action === 'reject' ? this.raiseSql(d.error, d.offset, d.params) : this.passSql(d);
    return this.forward(sql === p.sql ? msg.raw : frontend.parse(p.name, sql, p.types), { expect: 'parse' });
  }

  emulatedStatement(name) {
    const d = this.statements.get(name);
    return d && d.action === 'emulate' ? d : null;
  }

  handleBind(msg) {
    if (this.upstreamSkipping) return this.forward(msg.raw);
    const b = parseBody.bind(msg.body);
    this.portals.set(b.portal, b.statement);
    if (this.emulatedStatement(b.statement)) return this.pushLocal(backend.bindComplete());
    return this.forward(msg.raw, { expect: 'bind' });
  }

  handleDescribe(msg) {
    if (this.upstreamSkipping) return this.forward(msg.raw);
    const { kind, name } = parseBody.describe(msg.body);
    const d = this.emulatedStatement(kind === 'S' ? name : this.portals.get(name));
    if (d) {
      const columns = emulate.describe(d);
      const out = kind === 'S' ? [backend.parameterDescription([])] : [];
      out.push(columns ? backend.rowDescription(columns) : backend.noData());
      return this.pushLocal(out);
    }
    return this.forward(msg.raw, { expect: kind === 'S' ? 'describeS' : 'describeP' });
  }

  async handleExecute(msg) {
    if (this.upstreamSkipping) return this.forward(msg.raw);
    const { portal } = parseBody.execute(msg.body);
    const d = this.statements.get(this.portals.get(portal));
    if (d && d.action === 'emulate') {
      await this.runEmulated(d, true);
      return undefined;
    }
    const after = d && d.after;
    this.forward(msg.raw, { expect: 'execute', after, held: after ? [] : null });
    if (d && d.during) setImmediate(() => this.kill());
    return undefined;
  }

  handleClose(msg) {
    if (this.upstreamSkipping) return this.forward(msg.raw);
    const { kind, name } = parseBody.close(msg.body);
    const d = this.emulatedStatement(kind === 'S' ? name : this.portals.get(name));
    if (kind === 'S') this.statements.delete(name);
    else this.portals.delete(name);
    if (d) return this.pushLocal(backend.closeComplete());
    return this.forward(msg.raw, { expect: 'close' });
  }

  // Runs an emulated statement with the warehouse connection to itself;
  // false when it failed (the client got the error).
  async runEmulated(d, extended) {
    await this.drain();
    if (this.upstreamSkipping || this.closed) return false;
    this.cancelRequested = false;
    this.beginExclusive();
    try {
      const result = await emulate.run(this, d, { extended });
      const out = [...(result.notices || [])];
      if (result.rows) {
        if (!extended) out.push(backend.rowDescription(result.columns));
        for (const row of result.rows) out.push(backend.dataRow(row));
      }
      out.push(backend.commandComplete(result.tag));
      if (d.after) await this.applyAfter(d.after, out, false);
      else this.writeClient(out);
      return !this.closed;
    } catch (e) {
      if (this.closed) return false;
      if (!e.fields) this.log(`emulation of ${d.kind} failed: ${e.stack || e}`);
      const fields = e.fields ? this.cleanFields(e.fields()) : { S: 'ERROR', V: 'ERROR', C: 'XX000', M: `internal error in the Redshift stand-in: ${e.message}` };
      try {
        await this.failStatement(fields, extended);
      } catch {
        this.close();
      }
      return false;
    } finally {
      this.endExclusive();
    }
  }

  // --- ending ---

  // Drops the client and the warehouse session (a fault, an outage or an
  // admin request): the warehouse rolls back what was not committed.
  kill() {
    this.log('connection killed');
    this.socket.destroy();
    this.close();
  }

  close() {
    if (this.closed) return;
    this.closed = true;
    if (this.exclusive) this.exclusive.fail(new Error('session closed'));
    for (const w of this.drainWaiters.splice(0)) w();
    if (this.upstream) this.upstream.close();
    if (!this.socket.destroyed) this.socket.end();
    if (this.pid) this.server.catalog.resetSession(this.database, this.pid).catch(() => {});
    this.server.unregister(this);
  }
}

module.exports = { Session };
