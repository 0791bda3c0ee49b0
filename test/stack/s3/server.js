'use strict';
// The S3 stand-in: s3rver (storage, on 127.0.0.1:$REDTRACK_S3RVER_PORT) and
// the front that clients talk to (SigV4, S3 semantics s3rver lacks, faults,
// admin API; on 127.0.0.1:$REDTRACK_S3_PORT), in one process so that the
// front can read s3rver's store for listings and multipart ETags.
//
//   node test/stack/s3/server.js        (stack.sh starts it; logs to stdout)
//
// State: $REDTRACK_STACK_DIR/s3 (objects), s3-multipart (unfinished uploads),
// s3-spool (bodies being received).

const fs = require('node:fs');
const path = require('node:path');
const S3rver = require('s3rver');
const env = require('../lib/env');
const { Faults } = require('./faults');
const { Front } = require('./front');
const { SigV4Verifier } = require('./sigv4');

function log(line) {
  process.stdout.write(`${line}\n`);
}

async function main() {
  const objectsDir = path.join(env.stackDir, 's3');
  fs.mkdirSync(objectsDir, { recursive: true });

  const s3rver = new S3rver({
    address: env.host,
    port: env.s3rverPort,
    directory: objectsDir,
    silent: true, // the front logs every request
    vhostBuckets: false,
    configureBuckets: [{ name: env.bucket }],
  });
  await s3rver.run();

  const verifier = new SigV4Verifier({
    region: env.region,
    credentials: new Map([
      [env.accessKeyId, { secretAccessKey: env.secretAccessKey }],
      [env.tempAccessKeyId, { secretAccessKey: env.tempSecretAccessKey, sessionToken: env.sessionToken }],
    ]),
  });
  const front = new Front({
    store: s3rver.store,
    upstream: { host: env.host, port: env.s3rverPort },
    verifier,
    faults: new Faults(),
    multipartDir: path.join(env.stackDir, 's3-multipart'),
    spoolDir: path.join(env.stackDir, 's3-spool'),
    log,
  });
  await front.listen(env.s3Port, env.host);
  log(`S3 stand-in listening on http://${env.host}:${env.s3Port} (s3rver on ${env.s3rverPort}), bucket ${env.bucket}, data in ${objectsDir}`);

  let stopping = false;
  const stop = async (signal) => {
    if (stopping) return;
    stopping = true;
    log(`${signal}: stopping`);
    await Promise.all([front.close(), s3rver.close()]);
    process.exit(0);
  };
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));
}

main().catch((err) => {
  log(`S3 stand-in failed to start: ${err.stack || err}`);
  process.exit(1);
});
