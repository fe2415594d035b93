/**
 * Row "S3 state write → stored": row 4 with the object store on S3. A second `berth serve`
 * runs with `--objects s3+http://…` against s3rver (started here as a child process on a
 * random 127.0.0.1 port, test/support/s3-server.ts), its bots on the host network so their
 * daemons reach it. The same Python bot writes state.json every 600–800 ms; "stored" is the
 * moment s3rver publishes the PUT (the rename onto `state.tar.gz._S3rver_object` in its
 * directory, seen by fs.watch); the seq is read back from that archive.
 * Latency = that moment − the bot's wall time just before the write.
 */
import { watch, type FSWatcher } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import { join } from 'node:path';
import { startS3Server } from '../../test/support/s3-server.js';
import { DAEMON_DEFAULTS } from '../../src/domain/daemon-contract.js';
import { removeInstanceContainers } from '../lib/docker.js';
import { stateWriterPackage } from '../lib/packages.js';
import { verdict, type Row } from '../lib/report.js';
import { BerthServe, deleteBot, deployPackage } from '../lib/serve.js';
import { max, median, ms, percentile, round } from '../lib/stats.js';
import { waitUntil, type DockerBench } from './context.js';
import { stateJsonOf } from './state.js';

const GOAL_MS = DAEMON_DEFAULTS.debounceMs + 100;
const OBJECT_FILE = 'state.tar.gz._S3rver_object';

export const S3_STATE_ROW = { key: 's3-state', title: '4b. S3 state write → stored', goal: `p99 ≤ ${GOAL_MS} ms` } as const;

export async function s3StateRow(ctx: DockerBench, writes: number): Promise<Row> {
  const s3 = await startS3Server();
  ctx.cleanup.add('processes', `stop s3rver (pid ${s3.pid()})`, () => s3.dispose());
  const bucket = 'berth';
  const instance = `${ctx.instance}-s3`;
  ctx.cleanup.add('containers', `remove containers of instance ${instance}`, async () => {
    await removeInstanceContainers(ctx.docker, instance);
  });
  const dataDir = await mkdtemp(join(os.tmpdir(), 'berth-bench-s3-'));
  ctx.cleanup.add('files', `remove ${dataDir}`, () => rm(dataDir, { recursive: true, force: true }));
  ctx.say(`s3-state: berth serve --objects s3+http://…@127.0.0.1:${s3.port}/${bucket} (s3rver), ${writes} state writes`);
  const serve = await BerthServe.start({
    dataDir,
    instance,
    image: ctx.image,
    interval: '30s',
    grace: '2',
    network: 'host',
    env: { BERTH_OBJECTS: s3.url(bucket) },
  });
  ctx.cleanup.add('processes', `kill berth serve on S3 (pid ${serve.pid})`, () => serve.stop('SIGKILL'));

  const id = `bench-s3state-${ctx.tag}`;
  const dir = join(s3.directory, bucket, 'state', id);
  const file = join(dir, OBJECT_FILE);
  const latencies = new Map<number, number>();
  let renames = 0;
  let lastSeq = 0;
  let reading = Promise.resolve();
  let watcher: FSWatcher | undefined;
  try {
    // Watched before the bot exists, so the first upload is seen too.
    await mkdir(dir, { recursive: true });
    watcher = watch(dir, (event, name) => {
      if (name !== OBJECT_FILE) return;
      const seenAt = Date.now();
      renames++;
      reading = reading
        .then(async () => {
          const text = stateJsonOf(await readFile(file));
          if (!text) return;
          const { seq, t } = JSON.parse(text) as { seq: number; t: number };
          if (!latencies.has(seq)) latencies.set(seq, seenAt - t * 1000);
          lastSeq = Math.max(lastSeq, seq);
        })
        .catch(() => undefined); // replaced again meanwhile: the next event reads it
    });
    await deployPackage(serve.url, id, await stateWriterPackage(), { runtime: 'python3.11', entrypoint: 'main.py', config: { writes, start_delay: 3 } });
    await waitUntil(`S3 state write #${writes} stored`, () => (lastSeq >= writes ? true : undefined), writes * 800 + 90_000, 200);
    await reading;
  } finally {
    watcher?.close();
    await deleteBot(serve.url, id).catch(() => undefined);
    await serve.stop('SIGKILL');
    await removeInstanceContainers(ctx.docker, instance);
    await s3.dispose();
  }
  const values = [...latencies.values()];
  const p50 = median(values);
  const p99 = percentile(values, 99);
  const missing = writes - latencies.size;
  return {
    ...S3_STATE_ROW,
    result: `p50 ${ms(p50)}, p99 ${ms(p99)} (n=${latencies.size})`,
    sideBySide: `debounce ${DAEMON_DEFAULTS.debounceMs} ms; row 4 is the same on the file store`,
    verdict: verdict(p99 <= GOAL_MS && missing === 0),
    details: [
      `${writes} writes of state.json every 600–800 ms by a Python bot whose daemon uploads to s3rver 3.7.1 on 127.0.0.1 (one presigned PUT per upload, --network host); stored = s3rver's rename of the received body onto ${OBJECT_FILE}, seen by fs.watch, its state.json read back for the seq. ` +
        `Max ${ms(max(values))}; ${renames} renames seen for ${writes} writes; ${missing} writes never seen stored. s3rver is a Node process on the same 2 cores, not MinIO: the figure is Berth's path plus a local HTTP server, not a MinIO deployment's.`,
    ],
    figures: {
      writes,
      stored: latencies.size,
      missing,
      renames,
      p50Ms: round(p50),
      p99Ms: round(p99),
      maxMs: round(max(values)),
      debounceMs: DAEMON_DEFAULTS.debounceMs,
      goalMs: GOAL_MS,
    },
  };
}
