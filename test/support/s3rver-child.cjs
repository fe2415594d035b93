// An s3rver 3.7.1 process for tests (started by test/support/s3-server.ts):
//   node s3rver-child.cjs <directory> <port|0>
// Prints {"port":N} on stdout once it listens; SIGTERM closes it.
//
// s3rver writes a PUT straight into the object's file and keeps its size in a second
// file, so a reader can see half an object and an interrupted upload leaves a torn one.
// S3 and MinIO publish a PUT atomically and discard a body shorter than its
// Content-Length. The store is patched to behave like them (temp file + rename, a size
// check, reads and publishes of one key serialised), so the conformance suite tests
// Berth's adapter rather than s3rver's shortcuts. Signatures are still not verified.
'use strict';
const crypto = require('node:crypto');
const fs = require('node:fs');
const path = require('node:path');
const { Transform } = require('node:stream');
const { pipeline } = require('node:stream/promises');
const S3rver = require('s3rver');
const FilesystemStore = require('s3rver/lib/stores/filesystem.js');

const [directory, portArg] = process.argv.slice(2);
if (!directory || portArg === undefined) {
  process.stderr.write('usage: node s3rver-child.cjs <directory> <port|0>\n');
  process.exit(64);
}

/** Per-key chains: a read (metadata + open) and a publish (rename + metadata) never interleave. */
const chains = new Map();
function serialised(id, fn) {
  const previous = chains.get(id) ?? Promise.resolve();
  const run = previous.then(fn, fn);
  const tail = run.then(() => undefined, () => undefined);
  chains.set(id, tail);
  void tail.then(() => {
    if (chains.get(id) === tail) chains.delete(id);
  });
  return run;
}

const originalGetObject = FilesystemStore.prototype.getObject;
FilesystemStore.prototype.getObject = function getObject(bucket, key, options) {
  return serialised(`${bucket}/${key}`, () => originalGetObject.call(this, bucket, key, options));
};

FilesystemStore.prototype.putObject = async function putObject(object) {
  const objectPath = this.getResourcePath(object.bucket, object.key, 'object');
  await fs.promises.mkdir(path.dirname(objectPath), { recursive: true });
  const temp = `${objectPath}.upload-${crypto.randomBytes(6).toString('hex')}`;
  const md5 = crypto.createHash('md5');
  let size = 0;
  try {
    if (Buffer.isBuffer(object.content)) {
      md5.update(object.content);
      size = object.content.length;
      await fs.promises.writeFile(temp, object.content);
    } else {
      const counter = new Transform({
        transform(chunk, _encoding, done) {
          md5.update(chunk);
          size += chunk.length;
          done(null, chunk);
        },
      });
      await pipeline(object.content, counter, fs.createWriteStream(temp));
      const expected = Number(object.content.headers?.['content-length']);
      if (Number.isFinite(expected) && expected !== size) throw new Error(`incomplete body: ${size} of ${expected} bytes`);
    }
  } catch (err) {
    await fs.promises.rm(temp, { force: true });
    throw err;
  }
  const digest = md5.digest('hex');
  await serialised(`${object.bucket}/${object.key}`, async () => {
    await fs.promises.rename(temp, objectPath);
    await this.putMetadata(object.bucket, object.key, object.metadata, digest);
  });
  return { size, md5: digest };
};

// s3rver prunes emptied directories with readdirSync/rmdir and fails (HTTP 500) when two
// deletes in one directory race; S3 has no directories. Deletes are serialised and the
// pruning is best-effort.
let deletes = Promise.resolve();
FilesystemStore.prototype.deleteObject = function deleteObject(bucket, key) {
  const run = deletes.then(async () => {
    for (const resource of ['object', 'object.md5', 'metadata.json']) {
      await fs.promises.rm(this.getResourcePath(bucket, key, resource), { force: true });
    }
    const parts = key.split('/');
    parts.pop();
    for (; parts.length > 0; parts.pop()) {
      try {
        await fs.promises.rmdir(path.join(this.getBucketPath(bucket), ...parts));
      } catch {
        return; // not empty, or already gone
      }
    }
  });
  deletes = run.catch(() => undefined);
  return run;
};

// s3rver lists in the order it walks its directories ("logs/a/1" before "logs/a.txt");
// S3 lists in UTF-8 byte order of the keys. Listed whole, sorted, then paged like S3.
const originalListObjects = FilesystemStore.prototype.listObjects;
FilesystemStore.prototype.listObjects = async function listObjects(bucket, options) {
  const { startAfter = '', maxKeys = Infinity, delimiter = '' } = options;
  const all = await originalListObjects.call(this, bucket, { ...options, startAfter: '', maxKeys: Infinity });
  const byBytes = (a, b) => Buffer.compare(Buffer.from(a), Buffer.from(b));
  const objects = all.objects
    .filter((o) => byBytes(o.key, startAfter) > 0)
    .sort((a, b) => byBytes(a.key, b.key));
  const page = objects.slice(0, maxKeys);
  return {
    objects: page,
    commonPrefixes: delimiter ? all.commonPrefixes : [],
    isTruncated: objects.length > page.length,
  };
};

async function main() {
  const server = new S3rver({ address: '127.0.0.1', port: Number(portArg), directory, silent: true });
  const address = await server.run();
  process.stdout.write(`${JSON.stringify({ port: address.port })}\n`);
  let closing = false;
  const close = () => {
    if (closing) return;
    closing = true;
    server.close().then(
      () => process.exit(0),
      () => process.exit(0),
    );
    // Keep-alive connections would hold close() open.
    server.httpServer?.closeAllConnections?.();
  };
  process.on('SIGTERM', close);
  process.on('SIGINT', close);
}

main().catch((err) => {
  process.stderr.write(`s3rver: ${err && err.stack ? err.stack : String(err)}\n`);
  process.exit(1);
});
