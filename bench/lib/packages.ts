/** Bot packages (.tar.gz) built in memory for the benchmark's Python bots. */
import { randomBytes } from 'node:crypto';
import { gzipSync } from 'node:zlib';
import { pack } from 'tar-stream';

export async function tarGz(files: Readonly<Record<string, string | Buffer>>): Promise<Buffer> {
  const archive = pack();
  const chunks: Buffer[] = [];
  archive.on('data', (chunk: unknown) => {
    chunks.push(chunk as Buffer);
  });
  const done = new Promise<void>((resolve, reject) => {
    archive.once('end', resolve);
    archive.once('error', reject);
  });
  for (const [name, content] of Object.entries(files)) {
    archive.entry({ name, mode: 0o644, mtime: new Date(0) }, typeof content === 'string' ? Buffer.from(content) : content);
  }
  archive.finalize();
  await done;
  return gzipSync(Buffer.concat(chunks));
}

export const DEPLOY_MARKER = 'BENCH-BOT-RUNNING';

/** Prints a marker as its very first act, then idles like a live bot. 1 MiB of random (incompressible) data makes the package ~1 MB. */
export function markerPackage(): Promise<Buffer> {
  return tarGz({
    'main.py': `print(${JSON.stringify(DEPLOY_MARKER)}, flush=True)\nimport time\nwhile True:\n    time.sleep(3600)\n`,
    'data/blob.bin': randomBytes(1024 * 1024),
  });
}

/** A tiny live bot that says it is up and sleeps. */
export function idlePackage(): Promise<Buffer> {
  return tarGz({ 'main.py': 'print("idle bot up", flush=True)\nimport time\nwhile True:\n    time.sleep(3600)\n' });
}

/**
 * Writes state.json with a sequence number and the wall time of the write, every 600–800 ms
 * (each write in its own debounce window), `writes` times, then idles.
 */
export function stateWriterPackage(): Promise<Buffer> {
  return tarGz({
    'main.py': `import json, os, random, time
cfg = json.loads(os.environ.get("BOT_CONFIG") or "{}")
writes = int(cfg.get("writes", 200))
state_dir = os.environ.get("BERTH_STATE_DIR") or os.environ.get("STATE_DIR") or "/state"
path = os.path.join(state_dir, "state.json")
print("state-writer up", flush=True)
time.sleep(float(cfg.get("start_delay", 2)))
for seq in range(1, writes + 1):
    t = time.time()
    with open(path + ".tmp", "w") as f:
        json.dump({"seq": seq, "t": t}, f)
    os.replace(path + ".tmp", path)
    time.sleep(random.uniform(0.6, 0.8))
print("state-writer done", flush=True)
while True:
    time.sleep(3600)
`,
  });
}
