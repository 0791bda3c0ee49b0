'use strict';
// Fault rules for tests (set through the admin API):
//   {match: regex on the (redacted) statement text, when: before|after|during,
//    action: kill|error|delay:MS, count: N}
// A rule fires `count` times and then disappears. Plus an outage
// (down_ms: new connections are refused) handled by the server.

class FaultConfigError extends Error {}

const WHENS = new Set(['before', 'after', 'during']);

class Faults {
  constructor() {
    this.rules = [];
    this.nextId = 1;
  }

  // Replaces the rules; validates all before changing anything.
  setRules(rules) {
    if (!Array.isArray(rules)) throw new FaultConfigError('"rules" must be an array');
    const parsed = rules.map((r, i) => {
      if (!r || typeof r !== 'object') throw new FaultConfigError(`rule ${i} must be an object`);
      if (typeof r.match !== 'string') throw new FaultConfigError(`rule ${i}: "match" must be a regular expression string`);
      let re;
      try {
        re = new RegExp(r.match, 'i');
      } catch (e) {
        throw new FaultConfigError(`rule ${i}: bad "match": ${e.message}`);
      }
      const when = r.when || 'before';
      if (!WHENS.has(when)) throw new FaultConfigError(`rule ${i}: "when" must be before, after or during`);
      const m = /^(kill|error|delay:(\d+))$/.exec(r.action || '');
      if (!m) throw new FaultConfigError(`rule ${i}: "action" must be kill, error or delay:MS`);
      const count = r.count === undefined ? 1 : r.count;
      if (!Number.isInteger(count) || count < 1) throw new FaultConfigError(`rule ${i}: "count" must be a positive integer`);
      return {
        id: this.nextId++, match: r.match, re, when, action: m[2] ? 'delay' : m[1], delayMs: m[2] ? Number(m[2]) : 0, count,
      };
    });
    this.rules = parsed;
  }

  clear() {
    this.rules = [];
  }

  // The first rule matching the statement, counted down; null if none.
  match(text) {
    const rule = this.rules.find((r) => r.re.test(text));
    if (!rule) return null;
    rule.count--;
    if (rule.count === 0) this.rules = this.rules.filter((r) => r !== rule);
    return { id: rule.id, when: rule.when, action: rule.action, delayMs: rule.delayMs };
  }

  toJSON() {
    return this.rules.map((r) => ({
      id: r.id, match: r.match, when: r.when, action: r.action === 'delay' ? `delay:${r.delayMs}` : r.action, count: r.count,
    }));
  }
}

module.exports = { Faults, FaultConfigError };
