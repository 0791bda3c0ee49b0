'use strict';
// Settings of the Redshift stand-in: the stack's shared settings
// (lib/env.js, the contract of test/stack/README.md) under the names the
// stand-in uses. Tests read the same module so that they and the server agree.

const path = require('node:path');
const stack = require('../lib/env');

// How strict a cluster to be (see README.md "Settings"): the isolation level
// of the warehouse (SERIALIZABLE unless REDTRACK_REDSHIFT_ISOLATION=snapshot)
// and whether to behave like Redshift Serverless (REDTRACK_REDSHIFT_SERVERLESS=1).
function choice(name, fallback, allowed) {
  const value = (process.env[name] || fallback).toLowerCase();
  if (!allowed.includes(value)) throw new Error(`${name} must be one of ${allowed.join(', ')}, got ${JSON.stringify(process.env[name])}`);
  return value;
}

module.exports = {
  host: stack.host,
  stackDir: stack.stackDir,
  port: stack.redshiftPort,
  adminPort: stack.redshiftAdminPort,
  warehousePort: stack.warehousePort,
  user: stack.redshiftUser,
  password: stack.redshiftPassword,
  database: stack.redshiftDatabase,
  tlsCert: path.join(stack.stackDir, 'tls', 'server.crt'),
  tlsKey: path.join(stack.stackDir, 'tls', 'server.key'),
  s3Endpoint: stack.s3Endpoint,
  bucket: stack.bucket,
  region: stack.region,
  accessKeyId: stack.accessKeyId,
  secretAccessKey: stack.secretAccessKey,
  tempAccessKeyId: stack.tempAccessKeyId,
  tempSecretAccessKey: stack.tempSecretAccessKey,
  sessionToken: stack.sessionToken,
  iamRole: stack.iamRole,
  isolation: choice('REDTRACK_REDSHIFT_ISOLATION', 'serializable', ['serializable', 'snapshot']),
  serverless: ['1', 'true', 'on', 'yes'].includes(choice('REDTRACK_REDSHIFT_SERVERLESS', '0', ['0', '1', 'true', 'false', 'on', 'off', 'yes', 'no'])),
};
