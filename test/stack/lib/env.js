'use strict';
// The stack's settings, read from the environment with the defaults of the
// shared contract (test/stack/README.md). Servers and tests both use this so
// that `stack.sh env` exports, the running services and the tests agree.

const env = process.env;

function port(name, fallback) {
  const value = env[name] === undefined || env[name] === '' ? fallback : Number(env[name]);
  if (!Number.isInteger(value) || value < 1 || value > 65535) {
    throw new Error(`${name} must be a TCP port number, got ${JSON.stringify(env[name])}`);
  }
  return value;
}

const stackDir = env.REDTRACK_STACK_DIR || '/tmp/redtrack-stack';
const s3Port = port('REDTRACK_S3_PORT', 59000);

module.exports = {
  host: '127.0.0.1',
  stackDir,
  s3Port,
  s3rverPort: port('REDTRACK_S3RVER_PORT', 59010),
  redshiftPort: port('REDTRACK_REDSHIFT_PORT', 55439),
  redshiftAdminPort: port('REDTRACK_REDSHIFT_ADMIN_PORT', 55440),
  warehousePort: port('REDTRACK_WAREHOUSE_PORT', 55438),
  sourcePort: port('REDTRACK_SOURCE_PORT', 55432),
  s3Endpoint: env.REDTRACK_S3_ENDPOINT || `http://127.0.0.1:${s3Port}`,
  bucket: env.REDTRACK_S3_BUCKET || 'redtrack-test',
  region: env.REDTRACK_S3_REGION || 'us-east-1',
  accessKeyId: env.REDTRACK_AWS_ACCESS_KEY_ID || 'AKIDREDTRACKTEST',
  secretAccessKey: env.REDTRACK_AWS_SECRET_ACCESS_KEY || 'redtrack-test-secret',
  tempAccessKeyId: env.REDTRACK_AWS_TEMP_ACCESS_KEY_ID || 'ASIAREDTRACKTEMP',
  tempSecretAccessKey: env.REDTRACK_AWS_TEMP_SECRET_ACCESS_KEY || 'redtrack-temp-secret',
  // As long as real STS tokens get (AWS publishes no maximum; several KB are common).
  sessionToken: env.REDTRACK_AWS_SESSION_TOKEN || `redtrack-test-session-token-${'IQoJb3JpZ2luX2VjEA'.repeat(170)}`,
  iamRole: env.REDTRACK_IAM_ROLE || 'arn:aws:iam::123456789012:role/redtrack-test',
  redshiftUser: env.REDTRACK_REDSHIFT_USER || 'awsuser',
  redshiftPassword: env.REDTRACK_REDSHIFT_PASSWORD || 'Redtrack-test-1',
  redshiftDatabase: env.REDTRACK_REDSHIFT_DATABASE || 'dev',
};
