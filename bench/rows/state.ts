/**
 * Row 4: state write → stored. A Python bot writes state.json (seq and wall time of the
 * write) every 600–800 ms, so each write is its own debounce window; the benchmark watches
 * the filesystem object store for the rename that publishes state/<id>/state.tar.gz,
 * reads the archive back and takes the seq from it. Latency = rename seen − write time.
 */
import { watch, type FSWatcher } from 'node:fs';
import { readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { DAEMON_DEFAULTS } from '../../src/domain/daemon-contract.js';
import { stateWriterPackage } from '../lib/packages.js';
import { verdict, type Row } from '../lib/report.js';
import { deleteBot, deployPackage } from '../lib/serve.js';
import { max, median, ms, percentile, round } from '../lib/stats.js';
import { waitUntil, type DockerBench } from './context.js';

const GOAL_MS = DAEMON_DEFAULTS.debounceMs + 100;

/** The content of state.json in a (small, plain ustar) state archive. */
export function stateJsonOf(archive: Buffer): string | undefined {
  const tar = gunzipSync(archive);
  for (let offset = 0; offset + 512 <= tar.length; ) {
    const header = tar.subarray(offset, offset + 512);
    const name = header.subarray(0, 100).toString('utf8').replace(/\0.*$/s, '');
    if (name === '') return undefined;
    const size = parseInt(header.subarray(124, 136).toString('utf8').replace(/\0.*$/s, '').trim() || '0', 8);
    const body = offset + 512;
    if (name.replace(/^\.\//, '') === 'state.json') return tar.subarray(body, body + size).toString('utf8');
    offset = body + Math.ceil(size / 512) * 512;
  }
  return undefined;
}

export async function stateRow(ctx: DockerBench, writes: number): Promise<Row> {
  const id = `bench-state-${ctx.tag}`;
  const dir = join(ctx.dataDir, 'objects', 'state', id);
  const file = join(dir, 'state.tar.gz');
  ctx.say(`state: ${writes} state writes, one every 600–800 ms (~${Math.round(writes * 0.7)} s)`);
  const latencies = new Map<number, number>();
  let renames = 0;
  let lastSeq = 0;
  let reading = Promise.resolve();
  let watcher: FSWatcher | undefined;
  const stopWatching = ctx.cleanup.add('files', `watch ${dir}`, () => watcher?.close());
  try {
    await deployPackage(ctx.serve.url, id, await stateWriterPackage(), {
      runtime: 'python3.11',
      entrypoint: 'main.py',
      config: { writes, start_delay: 3 },
    });
    // The service creates the bot's state directory (a bind mount source) before the container starts.
    await waitUntil(`${dir} to exist`, () => stat(dir).then(() => true), 60_000);
    watcher = watch(dir, (event, name) => {
      if (name !== 'state.tar.gz') return;
      const seenAt = Date.now();
      renames++;
      reading = reading.then(async () => {
        const text = stateJsonOf(await readFile(file));
        if (!text) return;
        const { seq, t } = JSON.parse(text) as { seq: number; t: number };
        if (!latencies.has(seq)) latencies.set(seq, seenAt - t * 1000);
        lastSeq = Math.max(lastSeq, seq);
      }).catch(() => undefined); // a half-read archive is replaced by the next event's read
    });
    await waitUntil(`state write #${writes} stored`, () => (lastSeq >= writes ? true : undefined), writes * 800 + 60_000, 200);
    await reading;
  } finally {
    await stopWatching();
    await deleteBot(ctx.serve.url, id).catch(() => undefined);
  }
  const values = [...latencies.values()];
  const p50 = median(values);
  const p99 = percentile(values, 99);
  const missing = writes - latencies.size;
  return {
    key: 'state',
    title: '4. state write → stored',
    result: `p50 ${ms(p50)}, p99 ${ms(p99)} (n=${latencies.size})`,
    sideBySide: `debounce ${DAEMON_DEFAULTS.debounceMs} ms`,
    goal: `p99 ≤ ${GOAL_MS} ms`,
    verdict: verdict(p99 <= GOAL_MS && missing === 0),
    details: [
      `${writes} writes of state.json (write-temp-then-rename) every 600–800 ms by a Python bot; stored = the rename of state/<id>/state.tar.gz seen by fs.watch on the host, its state.json read back for the seq. ` +
        `Latency = that moment − the bot's wall time just before the write. Max ${ms(max(values))}; ${renames} renames seen for ${writes} writes; ${missing} writes never seen stored.`,
      `p50 − debounce = ${ms(p50 - DAEMON_DEFAULTS.debounceMs)}: the daemon's work after the quiet period (snapshot, content hash, tar.gz, fsync, rename) plus inotify delivery.`,
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
      latenciesMs: [...latencies.entries()].sort((a, b) => a[0] - b[0]).map(([, v]) => round(v)),
    },
  };
}
