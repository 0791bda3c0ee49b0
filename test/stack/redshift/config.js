'use strict';
// Settings of the Redshift stand-in: the stack's shared settings
// (lib/env.js, the contract of test/stack/README.md) under the names the
// stand-in uses. Tests read the same module so that they and the server agree.

const path = require('node:path');
const stack = require('../lib/env');

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
};
