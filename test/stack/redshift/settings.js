'use strict';
// The stand-in's cluster settings: which isolation level the warehouse runs
// (Redshift's SERIALIZABLE or SNAPSHOT [c_serial_isolation]) and whether it
// behaves like Redshift Serverless (no STL/STV views [c_intro_system_views]).
// Defaults come from the environment (config.js); the admin API changes
// them at run time, for every new connection or only for connections whose
// application_name matches (so that tests running side by side do not
// disturb each other). A connection keeps what it got when it connected.

const { FaultConfigError } = require('./faults');

const ISOLATIONS = ['serializable', 'snapshot'];

class Settings {
  constructor(config) {
    this.defaults = { isolation: config.isolation, serverless: config.serverless };
    this.global = { ...this.defaults };
    this.byApplication = new Map();
  }

  static check(body) {
    if (!body || typeof body !== 'object' || Array.isArray(body)) throw new FaultConfigError('the body must be a JSON object');
    for (const k of Object.keys(body)) {
      if (!['isolation', 'serverless', 'application_name'].includes(k)) throw new FaultConfigError(`unknown setting "${k}"`);
    }
    if (body.isolation !== undefined && !ISOLATIONS.includes(body.isolation)) {
      throw new FaultConfigError(`"isolation" must be one of ${ISOLATIONS.join(', ')}`);
    }
    if (body.serverless !== undefined && typeof body.serverless !== 'boolean') throw new FaultConfigError('"serverless" must be true or false');
    if (body.application_name !== undefined && (typeof body.application_name !== 'string' || !body.application_name)) {
      throw new FaultConfigError('"application_name" must be a non-empty string');
    }
  }

  // body: {isolation?, serverless?, application_name?}
  set(body) {
    Settings.check(body);
    const { application_name: app, ...values } = body;
    if (app) this.byApplication.set(app, { ...(this.byApplication.get(app) || {}), ...values });
    else Object.assign(this.global, values);
  }

  reset() {
    this.global = { ...this.defaults };
    this.byApplication.clear();
  }

  for(applicationName) {
    return { ...this.global, ...(this.byApplication.get(applicationName || '') || {}) };
  }

  toJSON() {
    return { ...this.global, defaults: this.defaults, by_application: Object.fromEntries(this.byApplication) };
  }
}

module.exports = { Settings };
