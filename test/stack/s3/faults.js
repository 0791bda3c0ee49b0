'use strict';
// Fault injection and counters for the S3 front, driven by /_admin/faults.
//
// Precedence for one request: outage > refuse_writes > rules > reset_rate >
// error_rate; latency (latency_ms + jitter, or a latency rule) is added on top.
// `scope` (a regex on the path with query) limits all of it to the requests
// it matches, so one test's faults do not hit another's requests.
// Every request in scope draws the same number of values from a seeded PRNG
// whatever happens to it, so a given seed and request sequence replays exactly.

const STATUS_ERRORS = { 500: 'InternalError', 503: 'SlowDown' };
const RULE_ACTION = /^(500|503|reset|latency:(\d+))$/;
const CONFIG_FIELDS = new Set([
  'seed', 'error_rate', 'error_statuses', 'reset_rate', 'latency_ms', 'latency_jitter_ms',
  'outage_ms', 'refuse_writes', 'expired_token', 'scope', 'rules',
]);

class ConfigError extends Error {}

// mulberry32: small, fast, good enough to spread faults; same seed, same stream.
function prng(seed) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function rate(value, name) {
  if (typeof value !== 'number' || !(value >= 0 && value <= 1)) throw new ConfigError(`${name} must be a number between 0 and 1`);
  return value;
}

function millis(value, name) {
  if (!Number.isInteger(value) || value < 0) throw new ConfigError(`${name} must be a non-negative integer (milliseconds)`);
  return value;
}

function parseRule(rule, index) {
  const where = `rules[${index}]`;
  if (typeof rule !== 'object' || rule === null || Array.isArray(rule)) throw new ConfigError(`${where} must be an object`);
  for (const key of Object.keys(rule)) {
    if (!['method', 'path', 'count', 'action'].includes(key)) throw new ConfigError(`${where}: unknown field ${key}`);
  }
  const method = rule.method === undefined ? '*' : rule.method;
  if (typeof method !== 'string' || !/^(\*|[A-Za-z]+)$/.test(method)) throw new ConfigError(`${where}.method must be an HTTP method or "*"`);
  const path = rule.path === undefined ? '' : rule.path;
  if (typeof path !== 'string') throw new ConfigError(`${where}.path must be a regular expression string`);
  let pattern;
  try {
    pattern = new RegExp(path);
  } catch (err) {
    throw new ConfigError(`${where}.path: ${err.message}`);
  }
  const count = rule.count === undefined ? 1 : rule.count;
  if (!Number.isInteger(count) || count < 1) throw new ConfigError(`${where}.count must be a positive integer`);
  const action = String(rule.action);
  const m = RULE_ACTION.exec(action);
  if (!m) throw new ConfigError(`${where}.action must be "500", "503", "reset" or "latency:<ms>"`);
  return { method: method.toUpperCase(), path, pattern, count, remaining: count, action, fired: 0 };
}

function emptyStats() {
  return {
    since: new Date().toISOString(),
    requests: { total: 0, by_method: {}, by_operation: {} },
    responses: { by_status: {} },
    faults: { total: 0, status: {}, reset: 0, latency: 0, outage: 0, refuse_writes: 0, expired_token: 0, rule: 0 },
    auth_failures: {},
  };
}

function bump(counter, key, by = 1) {
  counter[key] = (counter[key] || 0) + by;
}

class Faults {
  constructor(now = Date.now) {
    this.now = now;
    this.clear();
    this.resetStats();
  }

  clear() {
    this.config = {
      seed: 1, error_rate: 0, error_statuses: [500, 503], reset_rate: 0,
      latency_ms: 0, latency_jitter_ms: 0, outage_ms: 0, refuse_writes: false, expired_token: false, scope: '',
    };
    this.scope = /(?:)/;
    this.rules = [];
    this.outageUntil = 0;
    this.random = prng(this.config.seed);
  }

  // Replaces the whole configuration (PUT /_admin/faults); throws ConfigError.
  configure(input) {
    if (typeof input !== 'object' || input === null || Array.isArray(input)) throw new ConfigError('the body must be a JSON object');
    for (const key of Object.keys(input)) {
      if (!CONFIG_FIELDS.has(key)) throw new ConfigError(`unknown field ${key}`);
    }
    const config = {
      seed: input.seed === undefined ? 1 : input.seed,
      error_rate: rate(input.error_rate ?? 0, 'error_rate'),
      error_statuses: input.error_statuses ?? [500, 503],
      reset_rate: rate(input.reset_rate ?? 0, 'reset_rate'),
      latency_ms: millis(input.latency_ms ?? 0, 'latency_ms'),
      latency_jitter_ms: millis(input.latency_jitter_ms ?? 0, 'latency_jitter_ms'),
      outage_ms: millis(input.outage_ms ?? 0, 'outage_ms'),
      refuse_writes: input.refuse_writes ?? false,
      expired_token: input.expired_token ?? false,
      scope: input.scope ?? '',
    };
    if (typeof config.scope !== 'string') throw new ConfigError('scope must be a regular expression string');
    let scope;
    try {
      scope = new RegExp(config.scope);
    } catch (err) {
      throw new ConfigError(`scope: ${err.message}`);
    }
    if (!Number.isInteger(config.seed)) throw new ConfigError('seed must be an integer');
    if (!Array.isArray(config.error_statuses) || config.error_statuses.length === 0
        || !config.error_statuses.every((s) => s in STATUS_ERRORS)) {
      throw new ConfigError('error_statuses must be a non-empty list of 500 and/or 503');
    }
    for (const flag of ['refuse_writes', 'expired_token']) {
      if (typeof config[flag] !== 'boolean') throw new ConfigError(`${flag} must be true or false`);
    }
    const rules = input.rules ?? [];
    if (!Array.isArray(rules)) throw new ConfigError('rules must be a list');
    this.rules = rules.map(parseRule);
    this.scope = scope;
    this.config = config;
    this.outageUntil = config.outage_ms ? this.now() + config.outage_ms : 0;
    this.random = prng(config.seed);
  }

  view() {
    const now = this.now();
    return {
      ...this.config,
      outage_remaining_ms: Math.max(0, this.outageUntil - now),
      rules: this.rules.map(({ method, path, count, remaining, action, fired }) => ({ method, path, count, remaining, action, fired })),
    };
  }

  inScope(target) {
    return this.scope.test(target);
  }

  // Decides what happens to one authenticated S3 request and counts it.
  // target: the path with its query string, as rules and scope match it.
  // Returns {error?: {status, code}, reset: bool, latencyMs, kinds: [...]}.
  decide(method, target) {
    const decision = { error: undefined, reset: false, latencyMs: 0, kinds: [] };
    if (!this.inScope(target)) return decision;
    const [resetDraw, errorDraw, statusDraw, jitterDraw] = [this.random(), this.random(), this.random(), this.random()];
    const cfg = this.config;
    let latency = cfg.latency_ms + Math.floor(jitterDraw * (cfg.latency_jitter_ms + 1));

    const rule = this.rules.find((r) => r.remaining > 0 && (r.method === '*' || r.method === method) && r.pattern.test(target));
    if (this.now() < this.outageUntil) {
      decision.error = { status: 503, code: 'ServiceUnavailable' };
      decision.kinds.push('outage');
    } else if (cfg.refuse_writes && (method === 'PUT' || method === 'POST')) {
      decision.error = { status: 500, code: 'InternalError' };
      decision.kinds.push('refuse_writes');
    } else if (rule) {
      rule.remaining -= 1;
      rule.fired += 1;
      decision.kinds.push('rule');
      const m = RULE_ACTION.exec(rule.action);
      if (m[2] !== undefined) latency += Number(m[2]);
      else if (rule.action === 'reset') decision.reset = true;
      else decision.error = { status: Number(rule.action), code: STATUS_ERRORS[rule.action] };
    } else if (resetDraw < cfg.reset_rate) {
      decision.reset = true;
    } else if (errorDraw < cfg.error_rate) {
      const status = cfg.error_statuses[Math.floor(statusDraw * cfg.error_statuses.length)];
      decision.error = { status, code: STATUS_ERRORS[status] };
    }
    if (decision.error) decision.kinds.push(`status:${decision.error.status}`);
    if (decision.reset) decision.kinds.push('reset');
    if (latency > 0) {
      decision.latencyMs = latency;
      decision.kinds.push('latency');
    }
    this.countFaults(decision.kinds);
    return decision;
  }

  countFaults(kinds) {
    if (!kinds.length) return;
    const faults = this.stats.faults;
    faults.total += 1;
    for (const kind of kinds) {
      if (kind.startsWith('status:')) bump(faults.status, kind.slice(7));
      else faults[kind] += 1;
    }
  }

  resetStats() {
    this.stats = emptyStats();
  }

  countRequest(method, operation) {
    this.stats.requests.total += 1;
    bump(this.stats.requests.by_method, method);
    bump(this.stats.requests.by_operation, operation);
  }

  countResponse(status) {
    bump(this.stats.responses.by_status, String(status));
  }

  countAuthFailure(code) {
    bump(this.stats.auth_failures, code);
  }
}

module.exports = { Faults, ConfigError };
