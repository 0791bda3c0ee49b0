'use strict';
// The admin HTTP API (JSON, loopback only) that tests use to inject faults
// and to see what the stand-in received. See README.md for the reference.
//   GET    /faults        {rules, down_until}
//   PUT    /faults        {rules?, down_ms?, kill_existing?} -> the new state
//   DELETE /faults        clears rules and ends an outage
//   GET    /statements    {statements: [{connection, time, text}]} (credentials redacted)
//   DELETE /statements
//   GET    /settings      {isolation, serverless, defaults, by_application}
//   PUT    /settings      {isolation?, serverless?, application_name?} -> the new state
//   DELETE /settings      back to the defaults (from the environment)
//   GET    /stats         counters
//   GET    /health        {ok: true}

const http = require('node:http');
const { FaultConfigError } = require('./faults');

const MAX_BODY = 1024 * 1024;

function reply(res, status, value) {
  const body = Buffer.from(`${JSON.stringify(value, null, 2)}\n`);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': body.length });
  res.end(body);
}

function readJson(req) {
  return new Promise((resolve, reject) => {
    const chunks = [];
    let size = 0;
    req.on('data', (c) => {
      size += c.length;
      if (size > MAX_BODY) {
        reject(new FaultConfigError('request body too large'));
        req.destroy();
      } else chunks.push(c);
    });
    req.on('end', () => {
      const text = Buffer.concat(chunks).toString('utf8');
      if (!text.trim()) return resolve({});
      try {
        return resolve(JSON.parse(text));
      } catch {
        return reject(new FaultConfigError('the body must be JSON'));
      }
    });
    req.on('error', reject);
  });
}

function createAdmin(server) {
  const faultState = () => ({ rules: server.faults.toJSON(), down_until: server.downUntil ? new Date(server.downUntil).toISOString() : null });

  return http.createServer(async (req, res) => {
    const { pathname } = new URL(req.url, 'http://localhost');
    const route = `${req.method} ${pathname.replace(/\/+$/, '') || '/'}`;
    try {
      switch (route) {
        case 'GET /health':
          return reply(res, 200, { ok: true });
        case 'GET /faults':
          return reply(res, 200, faultState());
        case 'PUT /faults': {
          const body = await readJson(req);
          if (body.down_ms !== undefined && (!Number.isInteger(body.down_ms) || body.down_ms < 0)) {
            throw new FaultConfigError('"down_ms" must be a non-negative integer');
          }
          if (body.kill_existing !== undefined && typeof body.kill_existing !== 'boolean') {
            throw new FaultConfigError('"kill_existing" must be true or false');
          }
          if (body.rules !== undefined) server.faults.setRules(body.rules);
          if (body.kill_existing) server.killAll();
          if (body.down_ms) await server.goDown(body.down_ms);
          server.log(`faults set: ${JSON.stringify(faultState())}`);
          return reply(res, 200, faultState());
        }
        case 'DELETE /faults':
          server.faults.clear();
          await server.comeUp();
          return reply(res, 200, faultState());
        case 'GET /statements':
          return reply(res, 200, { statements: server.statementLog });
        case 'DELETE /statements':
          server.statementLog.length = 0;
          return reply(res, 200, { statements: [] });
        case 'GET /settings':
          return reply(res, 200, server.settings.toJSON());
        case 'PUT /settings': {
          server.settings.set(await readJson(req));
          server.log(`settings: ${JSON.stringify(server.settings.toJSON())}`);
          return reply(res, 200, server.settings.toJSON());
        }
        case 'DELETE /settings':
          server.settings.reset();
          return reply(res, 200, server.settings.toJSON());
        case 'GET /stats':
          return reply(res, 200, server.stats.toJSON());
        default:
          return reply(res, 404, { error: `no such endpoint: ${req.method} ${pathname}` });
      }
    } catch (e) {
      if (e instanceof FaultConfigError) return reply(res, 400, { error: e.message });
      server.log(`admin error: ${e.stack || e}`);
      return reply(res, 500, { error: e.message });
    }
  });
}

module.exports = { createAdmin };
