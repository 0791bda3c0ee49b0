'use strict';
// The Redshift stand-in: a PostgreSQL wire-protocol server on
// 127.0.0.1:$REDTRACK_REDSHIFT_PORT in front of the warehouse PostgreSQL
// ($REDTRACK_WAREHOUSE_PORT) that behaves like Amazon Redshift where the
// redtrack loader can tell the difference (COPY from S3, transactions,
// DDL, system tables), plus an admin HTTP API on
// 127.0.0.1:$REDTRACK_REDSHIFT_ADMIN_PORT for fault injection.
//
//   node test/stack/redshift/server.js      (test/stack/stack.sh starts it; logs to stdout)
//
// See README.md in this folder.

const fs = require('node:fs');
const net = require('node:net');
const tls = require('node:tls');
const config = require('./config');
const { Catalog } = require('./catalog');
const { S3Reader } = require('./s3');
const { Faults } = require('./faults');
const { Settings } = require('./settings');
const { Session } = require('./session');
const { createAdmin } = require('./admin');
const { sendCancel } = require('./upstream');

const STATEMENT_LOG_SIZE = 2000;

function log(line) {
  process.stdout.write(`${new Date().toISOString()} ${line}\n`);
}

class Stats {
  constructor() {
    this.counters = {
      connections: 0, connectionsActive: 0, connectionsRefused: 0, statements: 0, rejected: 0,
      copies: 0, copiesFailed: 0, rowsLoaded: 0, loadErrors: 0, cancels: 0, faultsFired: {},
    };
  }

  count(name, n = 1) {
    this.counters[name] += n;
  }

  faultFired(fault) {
    const kind = `${fault.when}:${fault.action}`;
    this.counters.faultsFired[kind] = (this.counters.faultsFired[kind] || 0) + 1;
  }

  toJSON() {
    return this.counters;
  }
}

class RedshiftStandIn {
  constructor() {
    this.config = config;
    this.log = log;
    this.catalog = new Catalog({ host: config.host, port: config.warehousePort, user: config.user }, log);
    this.s3 = new S3Reader({ endpoint: config.s3Endpoint, region: config.region });
    this.faults = new Faults();
    this.settings = new Settings(config);
    this.stats = new Stats();
    this.statementLog = [];
    this.sessions = new Set();
    this.nextId = 1;
    this.downUntil = 0;
    this.downTimer = null;
    this.tcp = null;
    try {
      this.tlsContext = tls.createSecureContext({ cert: fs.readFileSync(config.tlsCert), key: fs.readFileSync(config.tlsKey) });
    } catch (e) {
      this.tlsContext = null;
      log(`TLS disabled: cannot read ${config.tlsCert} / ${config.tlsKey} (${e.code || e.message})`);
    }
  }

  listen() {
    return new Promise((resolve, reject) => {
      const tcp = net.createServer((socket) => this.accept(socket));
      tcp.once('error', reject);
      tcp.listen(config.port, config.host, () => {
        tcp.off('error', reject);
        tcp.on('error', (e) => log(`listener error: ${e.message}`));
        this.tcp = tcp;
        resolve();
      });
    });
  }

  accept(socket) {
    this.stats.count('connections');
    const session = new Session(this, socket, this.nextId++);
    this.stats.count('connectionsActive');
    socket.once('close', () => this.stats.count('connectionsActive', -1));
    session.serve();
  }

  register(session) {
    this.sessions.add(session);
  }

  unregister(session) {
    this.sessions.delete(session);
  }

  // A CancelRequest goes to the warehouse backend of the session it names
  // (the client got that backend's key data).
  cancel(pid, key) {
    const session = [...this.sessions].find((s) => s.pid === pid && s.key === key);
    if (!session) return;
    this.stats.count('cancels');
    session.cancelRequested = true;
    log(`[conn ${session.id}] cancel request`);
    sendCancel({ host: config.host, port: config.warehousePort, pid, key });
  }

  recordStatement(session, text) {
    this.stats.count('statements');
    this.statementLog.push({ connection: session.id, time: new Date().toISOString(), text });
    if (this.statementLog.length > STATEMENT_LOG_SIZE) this.statementLog.splice(0, this.statementLog.length - STATEMENT_LOG_SIZE);
    log(`[conn ${session.id}] ${text.replace(/\s+/g, ' ').slice(0, 500)}`);
  }

  killAll() {
    for (const s of [...this.sessions]) s.kill();
  }

  // Redshift unreachable: the port refuses connections for ms.
  async goDown(ms) {
    this.downUntil = Date.now() + ms;
    clearTimeout(this.downTimer);
    if (this.tcp) {
      const tcp = this.tcp;
      this.tcp = null;
      await new Promise((resolve) => {
        tcp.close();
        // close() stops listening at once; its callback waits for open connections.
        setImmediate(resolve);
      });
      log(`outage: refusing connections for ${ms} ms`);
    }
    this.downTimer = setTimeout(() => this.comeUp().catch((e) => log(`cannot listen again: ${e.message}`)), ms);
  }

  async comeUp() {
    clearTimeout(this.downTimer);
    this.downTimer = null;
    this.downUntil = 0;
    if (!this.tcp) {
      await this.listen();
      log('outage over: accepting connections');
    }
  }

  async start() {
    await this.catalog.ensure(config.database);
    await this.listen();
    this.admin = createAdmin(this);
    await new Promise((resolve, reject) => {
      this.admin.once('error', reject);
      this.admin.listen(config.adminPort, config.host, resolve);
    });
    log(`Redshift stand-in listening on ${config.host}:${config.port} (admin http://${config.host}:${config.adminPort}), warehouse ${config.host}:${config.warehousePort}, S3 ${config.s3Endpoint}${this.tlsContext ? ', TLS offered' : ''}`);
  }

  async stop(signal) {
    log(`${signal}: stopping`);
    clearTimeout(this.downTimer);
    if (this.tcp) this.tcp.close();
    if (this.admin) this.admin.close();
    this.killAll();
    await this.catalog.end();
  }
}

async function main() {
  const server = new RedshiftStandIn();
  let stopping = false;
  const stop = async (signal) => {
    if (stopping) return;
    stopping = true;
    await server.stop(signal);
    process.exit(0);
  };
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));
  await server.start();
}

main().catch((e) => {
  log(`Redshift stand-in failed to start: ${e.stack || e}`);
  process.exit(1);
});
