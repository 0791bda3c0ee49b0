'use strict';
// Date and time input for COPY [copy-parameters-data-conversion "DATEFORMAT",
// "TIMEFORMAT"; r_DATEFORMAT_and_TIMEFORMAT_strings; automatic-recognition]:
//   default DATE       YYYY-MM-DD
//   default TIMESTAMP  YYYY-MM-DD HH:MI:SS[.fraction]  (a zone offset is ignored)
//   default TIMESTAMPTZ YYYY-MM-DD HH:MI:SS[.fraction]OF  (OF like -8:00, +00, +05:30;
//                      none means UTC, the session time zone)
//   'auto'             also ISO 8601 with T, Z / UTC, offsets without colon, date-only
//                      timestamps (00:00:00), YYYY/MM/DD, MM/DD/YYYY, month names;
//                      a DATE with a time part drops the time.
//   'epochsecs' / 'epochmillisecs' (TIMEFORMAT only).
// The exact list of 'auto' formats is not in the docs; this accepts the
// common ones and refuses the rest (refusing is the safe side: a file that
// loads here also loads on Redshift).
// Results are normalized text PostgreSQL reads unambiguously, or null.

const MONTHS = ['jan', 'feb', 'mar', 'apr', 'may', 'jun', 'jul', 'aug', 'sep', 'oct', 'nov', 'dec'];

function validDate(y, m, d) {
  if (y < 1 || y > 9999 || m < 1 || m > 12 || d < 1) return false;
  const leap = (y % 4 === 0 && y % 100 !== 0) || y % 400 === 0;
  const days = [31, leap ? 29 : 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31][m - 1];
  return d <= days;
}

const pad = (n, w = 2) => String(n).padStart(w, '0');

function dateText(y, m, d) {
  return validDate(y, m, d) ? `${pad(y, 4)}-${pad(m)}-${pad(d)}` : null;
}

function monthNumber(name) {
  const i = MONTHS.indexOf(name.slice(0, 3).toLowerCase());
  return i < 0 ? 0 : i + 1;
}

// Date part of an 'auto' value -> {y, m, d, rest} or null.
function autoDatePart(s) {
  let m;
  if ((m = /^(\d{4})[-/.](\d{1,2})[-/.](\d{1,2})(.*)$/.exec(s))) return { y: +m[1], m: +m[2], d: +m[3], rest: m[4] };
  if ((m = /^(\d{4})(\d{2})(\d{2})(?![\d])(.*)$/.exec(s))) return { y: +m[1], m: +m[2], d: +m[3], rest: m[4] };
  if ((m = /^(\d{1,2})[-/](\d{1,2})[-/](\d{4})(.*)$/.exec(s))) return { y: +m[3], m: +m[1], d: +m[2], rest: m[4] };
  if ((m = /^(\d{1,2})[- ]([A-Za-z]{3,9})[- ,]+(\d{4})(.*)$/.exec(s)) && monthNumber(m[2])) {
    return { y: +m[3], m: monthNumber(m[2]), d: +m[1], rest: m[4] };
  }
  if ((m = /^([A-Za-z]{3,9})[ -](\d{1,2}),?[ -](\d{4})(.*)$/.exec(s)) && monthNumber(m[1])) {
    return { y: +m[3], m: monthNumber(m[1]), d: +m[2], rest: m[4] };
  }
  return null;
}

// Time part: " HH:MI[:SS[.f]] [offset]" or "THH..." -> {h, mi, s, frac, offset} or null.
function timePart(rest, { auto, requireSeconds }) {
  const sep = auto ? '[T ]' : ' ';
  const sec = requireSeconds ? ':(\\d{2})' : '(?::(\\d{2}))?';
  const re = new RegExp(`^${sep}(\\d{1,2}):(\\d{2})${sec}(?:\\.(\\d+))?\\s*(.*)$`);
  const m = re.exec(rest);
  if (!m) return null;
  const h = +m[1];
  const mi = +m[2];
  const s = m[3] === undefined ? 0 : +m[3];
  if (h > 23 || mi > 59 || s > 59) return null;
  const offset = parseOffset(m[5], auto);
  if (offset === undefined) return null;
  return { h, mi, s, frac: m[4] || '', offset };
}

// '' -> null (none); '+05', '-8:00', '+0530' (auto), 'Z'/'UTC'/'GMT' (auto) -> '+hh:mm'; bad -> undefined.
function parseOffset(text, auto) {
  if (text === '') return null;
  if (auto && /^(z|utc|gmt)$/i.test(text)) return '+00:00';
  const m = auto ? /^([+-])(\d{1,2})(?::?(\d{2}))?$/.exec(text) : /^([+-])(\d{1,2})(?::(\d{2}))?$/.exec(text);
  if (!m || +m[2] > 15 || (m[3] && +m[3] > 59)) return undefined;
  return `${m[1]}${pad(+m[2])}:${m[3] || '00'}`;
}

function parseDate(text, format) {
  const s = text.trim();
  if (format !== 'auto') {
    const m = /^(\d{4})-(\d{2})-(\d{2})$/.exec(s);
    return m ? dateText(+m[1], +m[2], +m[3]) : null;
  }
  const d = autoDatePart(s);
  if (!d) return null;
  if (d.rest !== '' && !timePart(d.rest, { auto: true, requireSeconds: false })) return null;
  return dateText(d.y, d.m, d.d);
}

// withZone: TIMESTAMPTZ column. format: 'default' | 'auto' | 'epochsecs' | 'epochmillisecs'.
function parseTimestamp(text, format, withZone) {
  const s = text.trim();
  if (format === 'epochsecs' || format === 'epochmillisecs') {
    if (!/^-?\d+(\.\d+)?$/.test(s)) return null;
    const ms = format === 'epochsecs' ? Number(s) * 1000 : Number(s);
    const date = new Date(Math.floor(ms));
    if (Number.isNaN(date.getTime())) return null;
    const micros = Math.round((ms - Math.floor(ms)) * 1000);
    const iso = `${pad(date.getUTCFullYear(), 4)}-${pad(date.getUTCMonth() + 1)}-${pad(date.getUTCDate())} ${pad(date.getUTCHours())}:${pad(date.getUTCMinutes())}:${pad(date.getUTCSeconds())}.${pad(date.getUTCMilliseconds(), 3)}${pad(micros, 3)}`;
    return withZone ? `${iso}+00:00` : iso;
  }
  const auto = format === 'auto';
  let d;
  let t;
  if (auto) {
    d = autoDatePart(s);
    if (!d) return null;
    t = d.rest === '' ? { h: 0, mi: 0, s: 0, frac: '', offset: null } : timePart(d.rest, { auto: true, requireSeconds: false });
  } else {
    const m = /^(\d{4})-(\d{2})-(\d{2})(.*)$/.exec(s);
    if (!m) return null;
    d = { y: +m[1], m: +m[2], d: +m[3] };
    t = timePart(m[4], { auto: false, requireSeconds: true });
  }
  if (!t) return null;
  const date = dateText(d.y, d.m, d.d);
  if (!date) return null;
  const out = `${date} ${pad(t.h)}:${pad(t.mi)}:${pad(t.s)}${t.frac ? `.${t.frac}` : ''}`;
  // TIMESTAMP ignores an offset; TIMESTAMPTZ without one is UTC.
  return withZone ? `${out}${t.offset || '+00:00'}` : out;
}

function parseTime(text, withZone) {
  const m = /^(\d{1,2}):(\d{2})(?::(\d{2}))?(?:\.(\d+))?\s*(.*)$/.exec(text.trim());
  if (!m || +m[2] > 59 || (m[3] && +m[3] > 59)) return null;
  // 24:00:00 is a valid TIME (the end of a day) [r_Datetime_types "TIME"]; nothing later is.
  const endOfDay = +m[1] === 24 && +m[2] === 0 && !(+m[3]) && !/[1-9]/.test(m[4] || '');
  if (+m[1] > 23 && !endOfDay) return null;
  const offset = parseOffset(m[5], true);
  if (offset === undefined) return null;
  const out = `${pad(+m[1])}:${m[2]}:${m[3] || '00'}${m[4] ? `.${m[4]}` : ''}`;
  return withZone ? `${out}${offset || '+00:00'}` : out;
}

module.exports = { parseDate, parseTimestamp, parseTime };
