'use strict';
// Errors the stand-in answers with, shaped like the ErrorResponse Redshift
// sends: SQLSTATE, message, optional DETAIL (Redshift puts its
// "-----" context block there), position for syntax errors.

class RedshiftError extends Error {
  // code: SQLSTATE; extra: {D, H, P} fields.
  constructor(code, message, extra = {}) {
    super(message);
    this.code = code;
    this.extra = extra;
  }

  fields() {
    return { S: 'ERROR', V: 'ERROR', C: this.code, M: this.message, ...this.extra };
  }
}

// An error the warehouse sent, to be relayed as it is.
class UpstreamError extends Error {
  constructor(fields) {
    super(fields.M);
    this.upstreamFields = fields;
  }

  fields() {
    return this.upstreamFields;
  }
}

const syntaxError = (message, position) => new RedshiftError('42601', message, position === undefined ? {} : { P: String(position + 1) });
const notSupported = (message) => new RedshiftError('0A000', message);

// Redshift's context block (as seen in DETAIL of load and S3 errors).
function detailBlock({ error, code, context = '', query = 0, location = '', process = '' }) {
  const rule = '  -----------------------------------------------';
  return [
    '',
    rule,
    `  error:  ${error}`,
    `  code:      ${code}`,
    `  context:   ${context}`,
    `  query:     ${query}`,
    `  location:  ${location}`,
    `  process:   ${process}`,
    rule,
    '',
  ].join('\n');
}

module.exports = { RedshiftError, UpstreamError, syntaxError, notSupported, detailBlock };
