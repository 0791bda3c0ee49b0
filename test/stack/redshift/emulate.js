'use strict';
// Statements the stand-in runs itself, with the session's warehouse
// connection to itself (see session.js "exclusive mode"). Each handler
// returns {tag, notices?, columns?, rows?} or throws RedshiftError /
// UpstreamError, which the session turns into the client's error.

const { quoteLiteral } = require('./sql');
const { pgCreateTable, metaSql, pgAddColumn, columnMetaInsert } = require('./ddl');
const { defaultEncoding } = require('./types');
const { RedshiftError, UpstreamError } = require('./errors');
const { REDSHIFT_SETTINGS } = require('./classify');
const { runCopy } = require('./copy');

const TEXT_OID = 25;

// Runs SQL in the warehouse session; throws the warehouse's error.
async function must(session, sql) {
  const r = await session.upCollect(sql);
  if (r.error) throw new UpstreamError(r.error);
  return r;
}

// Runs fn atomically: inside the client's transaction if there is one,
// else in a transaction of its own (a half-done CREATE would leave a
// table without its Redshift design).
async function atomically(session, fn) {
  if (session.txStatus !== 'I') return fn();
  await must(session, 'BEGIN');
  try {
    const out = await fn();
    await must(session, 'COMMIT');
    return out;
  } catch (e) {
    await session.upCollect('ROLLBACK');
    throw e;
  }
}

async function oidOf(session, nameText) {
  const r = await must(session, `SELECT to_regclass(${quoteLiteral(nameText)})::oid`);
  return r.rows[0][0];
}

const handlers = {
  // SET / RESET / SHOW of settings only Redshift has.
  async setting(session, { verb, name, value }) {
    if (verb === 'show') {
      const v = session.settings[name] ?? REDSHIFT_SETTINGS[name];
      return { tag: 'SHOW', columns: [{ name, typeOid: TEXT_OID }], rows: [[v]] };
    }
    let v = verb === 'reset' ? REDSHIFT_SETTINGS[name] : value;
    if (name === 'enable_case_sensitive_identifier') {
      if (!['true', 'false', 'on', 'off'].includes(v)) {
        throw new RedshiftError('22023', `parameter "${name}" requires a Boolean value`);
      }
      v = v === 'true' || v === 'on' ? 'on' : 'off';
      session.caseSensitive = v === 'on';
    }
    session.settings[name] = v;
    return { tag: verb === 'reset' ? 'RESET' : 'SET' };
  },

  // TRUNCATE commits the transaction it runs in [r_TRUNCATE].
  async truncate(session, { table }) {
    await must(session, `TRUNCATE ${table}`);
    if (session.txStatus === 'T') await must(session, 'COMMIT');
    return { tag: 'TRUNCATE TABLE' };
  },

  async createTable(session, plan) {
    return atomically(session, async () => {
      const before = await oidOf(session, plan.name.text);
      const created = await must(session, pgCreateTable(plan));
      const after = await oidOf(session, plan.name.text);
      if (after && after !== before) {
        for (const sql of metaSql(after, plan)) await must(session, sql);
      }
      return { tag: 'CREATE TABLE', notices: created.notices };
    });
  },

  async createTableAs(session, plan) {
    return atomically(session, async () => {
      const r = await must(session, pgCreateTable(plan));
      const oid = await oidOf(session, plan.name.text);
      const { design } = plan;
      const keyed = [...new Set([design.distkey, ...design.sortkeys].filter(Boolean))];
      const cols = await must(session, `SELECT attname FROM pg_attribute WHERE attrelid = ${oid} AND attnum > 0 AND NOT attisdropped`);
      const names = new Set(cols.rows.map((row) => row[0]));
      for (const k of keyed) {
        if (!names.has(k)) throw new RedshiftError('42703', `column "${k}" named in key does not exist`);
      }
      await must(session, `INSERT INTO redtrack_standin.table_meta (reloid, diststyle, sort_style, backup)
        VALUES (${oid}, ${quoteLiteral(design.diststyle)}, ${quoteLiteral(design.sortStyle)}, ${plan.backup})`);
      if (keyed.length) {
        const rows = keyed.map((k) => {
          const pos = design.sortkeys.indexOf(k) + 1;
          return {
            name: k, rsType: null, byteLength: null, encoding: 'none', distkey: design.distkey === k,
            sortkey: pos === 0 ? 0 : (design.sortStyle === 'interleaved' && pos % 2 ? -pos : pos),
          };
        });
        await must(session, columnMetaInsert(oid, rows));
      }
      return { tag: r.tag || 'SELECT' };
    });
  },

  async addColumn(session, plan) {
    return atomically(session, async () => {
      const info = await must(session, `SELECT c.oid, c.relpersistence FROM pg_class c WHERE c.oid = to_regclass(${quoteLiteral(plan.table.text)})`);
      const r = await must(session, pgAddColumn(plan, Date.now().toString(36)));
      if (info.rows.length) {
        const [oid, persistence] = info.rows[0];
        const col = plan.column;
        await must(session, columnMetaInsert(oid, [{
          name: col.name,
          rsType: col.type.rsType,
          byteLength: col.type.length ?? null,
          encoding: col.encode || defaultEncoding(col.type.kind, { temp: persistence === 't', sortkey: false }),
          distkey: false,
          sortkey: 0,
        }]));
      }
      return { tag: r.tag, notices: r.notices };
    });
  },

  // ALTER TABLE ADD PRIMARY KEY/UNIQUE/FOREIGN KEY: informational in Redshift.
  async noop(session, plan) {
    await must(session, 'SELECT 1'); // fails like any statement in an aborted transaction
    return { tag: plan.tag };
  },

  // DROP TABLE leaves the design rows of what it dropped: nothing joins
  // them to a live table, a new table that reuses the oid replaces them
  // (ddl.js metaSql), and the stand-in's start removes the rest.  Deleting
  // them here scanned the whole table inside the client's SERIALIZABLE
  // transaction, a read/write conflict with every concurrent load (false
  // 1023s that real Redshift does not have).
  async dropTable(session, { sql }) {
    const r = await must(session, sql);
    return { tag: r.tag, notices: r.notices };
  },

  copy: runCopy,
};

function run(session, d, ctx) {
  return handlers[d.kind](session, d.plan, { ...ctx, decision: d });
}

// Row shape of an emulated statement (for Describe), or null.
function describe(d) {
  if (d.kind === 'setting' && d.plan.verb === 'show') return [{ name: d.plan.name, typeOid: TEXT_OID }];
  return null;
}

module.exports = { run, describe };
