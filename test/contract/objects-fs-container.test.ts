/**
 * The filesystem object store as a bot container sees it, on the real Docker Engine: the
 * mounts from daemonAccess expose only the bot's own prefixes (code read-only), puts work
 * across those bind mounts (temp file in the target's own directory, no EXDEV), and with
 * matchParentOwner the root daemon leaves files owned by the host user of each directory.
 *
 * The image is the host's own Node binary and its libraries, imported offline (no registry
 * here), running the filesystem store bundled by esbuild — the way the daemon ships.
 */
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { cp, mkdir, mkdtemp, readdir, rm, stat, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { build } from 'esbuild';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FsObjectStore } from '../../src/adapters/objects/fs/fs-object-store.js';

const run = promisify(execFile);
const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const dockerReachable = existsSync('/var/run/docker.sock');
const suffix = randomBytes(4).toString('hex');
const instance = `objects-fs-container-${suffix}`;
const image = `berth-test-objects-probe:${suffix}`;
/** Stands for the unprivileged user who runs Berth on the host. */
const HOST_UID = 12345;
const HOST_GID = 23456;

/** Runs inside the container: what the daemon would do with the store it is given. */
const PROBE = `
import { openObjectStore } from ${JSON.stringify(path.join(repoRoot, 'src/adapters/objects/open.ts'))};
import { Readable } from 'node:stream';
const result = {};
const attempt = async (name, fn) => {
  try { result[name] = { ok: await fn() ?? true }; } catch (err) { result[name] = { error: err.name, message: err.message }; }
};
const store = openObjectStore(process.env.BERTH_DAEMON_OBJECTS, { matchParentOwner: true });
await attempt('init', () => store.init());
await attempt('ping', () => store.ping());
await attempt('readCode', async () => (await store.get('code/b1/pkg.tar.gz'))?.toString());
await attempt('putState', () => store.put('state/b1/state.tar.gz', Readable.from([Buffer.from('state-'), Buffer.from('v2')]), 8));
await attempt('putLog', () => store.put('logs/b1/2024-01-01/0001.ndjson', Buffer.from('{"line":1}\\n')));
await attempt('putCode', () => store.put('code/b1/evil.tar.gz', Buffer.from('x')));
await attempt('readOtherBot', async () => (await store.get('state/b2/state.tar.gz')) === null ? 'null' : 'visible');
await attempt('list', async () => { const keys = []; for await (const o of store.list('')) keys.push(o.key); return keys; });
await attempt('putOtherBot', () => store.put('state/b2/state.tar.gz', Buffer.from('x')));
process.stdout.write(JSON.stringify(result));
`;

async function docker(...args: string[]): Promise<string> {
  const { stdout } = await run('docker', args, { maxBuffer: 16 * 1024 * 1024, timeout: 120_000 });
  return stdout;
}

/** Copies the host's Node and the shared libraries it loads into `rootfs`. */
async function copyNode(rootfs: string): Promise<void> {
  const node = await run('sh', ['-c', 'readlink -f "$(command -v node)"']).then((r) => r.stdout.trim());
  const { stdout } = await run('ldd', [node]);
  const libraries = [...stdout.matchAll(/(\/\S+)\s+\(0x/g)].map((m) => m[1] as string);
  for (const file of [node, ...libraries]) {
    await mkdir(path.join(rootfs, path.dirname(file)), { recursive: true });
    await cp(file, path.join(rootfs, file), { dereference: true });
  }
  await mkdir(path.join(rootfs, 'usr/local/bin'), { recursive: true });
  if (node !== '/usr/local/bin/node') await cp(node, path.join(rootfs, 'usr/local/bin/node'));
}

describe.skipIf(!dockerReachable)('FsObjectStore inside a bot container (real Docker)', () => {
  let dir: string;
  let root: string;
  let probeOutput: Record<string, { ok?: unknown; error?: string; message?: string }>;

  beforeAll(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'berth-objects-container-'));
    root = path.join(dir, 'objects');
    const rootfs = path.join(dir, 'rootfs');
    await copyNode(rootfs);
    await mkdir(path.join(rootfs, 'app'), { recursive: true });
    await mkdir(path.join(rootfs, 'tmp'), { recursive: true });
    await writeFile(path.join(dir, 'probe.ts'), PROBE);
    await build({
      entryPoints: [path.join(dir, 'probe.ts')],
      outfile: path.join(rootfs, 'app/probe.mjs'),
      bundle: true,
      platform: 'node',
      target: 'node20',
      format: 'esm',
      logLevel: 'warning',
    });
    await run('sh', ['-c', `tar -C "${rootfs}" -cf - . | docker import --change 'LABEL berth.instance=${instance}' - ${image}`], {
      timeout: 120_000,
    });

    // The host side: Berth (here: this test) prepares the store as the unprivileged host user would own it.
    const host = new FsObjectStore(root);
    await host.init();
    await host.put('code/b1/pkg.tar.gz', Buffer.from('code-v1'));
    await host.put('state/b1/state.tar.gz', Buffer.from('state-v1'));
    await host.put('state/b2/state.tar.gz', Buffer.from('secret of b2'));
    const access = await host.daemonAccess('b1', 'container');
    await run('chown', ['-R', `${HOST_UID}:${HOST_GID}`, root]);

    const mounts = access.mounts.flatMap((m) => ['--mount', `type=bind,source=${m.source},target=${m.target}${m.readOnly ? ',readonly' : ''}`]);
    const env = Object.entries(access.env).flatMap(([k, v]) => ['--env', `${k}=${v}`]);
    const stdout = await docker(
      'run', '--rm', '--name', `berth-test-probe-${suffix}`, '--label', `berth.instance=${instance}`,
      '--network', 'none', ...mounts, ...env, image, '/usr/local/bin/node', '/app/probe.mjs',
    );
    probeOutput = JSON.parse(stdout) as typeof probeOutput;
  }, 300_000);

  afterAll(async () => {
    const ids = await docker('ps', '-aq', '--filter', `label=berth.instance=${instance}`).catch(() => '');
    for (const id of ids.split('\n').filter(Boolean)) await docker('rm', '-f', id).catch(() => undefined);
    await docker('rmi', '-f', image).catch(() => undefined);
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('reads the bot’s code but cannot write it', () => {
    expect(probeOutput.init).toEqual({ ok: true });
    expect(probeOutput.ping).toEqual({ ok: true });
    expect(probeOutput.readCode).toEqual({ ok: 'code-v1' });
    expect(probeOutput.putCode?.message).toMatch(/EROFS/);
  });

  it('writes state and logs through the bind mounts', async () => {
    expect(probeOutput.putState).toEqual({ ok: true });
    expect(probeOutput.putLog).toEqual({ ok: true });
    const host = new FsObjectStore(root);
    expect((await host.get('state/b1/state.tar.gz'))?.toString()).toBe('state-v2');
    expect((await host.get('logs/b1/2024-01-01/0001.ndjson'))?.toString()).toBe('{"line":1}\n');
    expect(await host.get('code/b1/evil.tar.gz')).toBeNull();
  });

  it('sees nothing of another bot and cannot reach it', async () => {
    expect(probeOutput.readOtherBot).toEqual({ ok: 'null' });
    expect(probeOutput.list).toEqual({ ok: ['code/b1/pkg.tar.gz', 'logs/b1/2024-01-01/0001.ndjson', 'state/b1/state.tar.gz'] });
    // Its write for b2 landed inside the container only, never in the host's store.
    expect((await new FsObjectStore(root).get('state/b2/state.tar.gz'))?.toString()).toBe('secret of b2');
  });

  it('leaves what it wrote owned by the host user of each directory, with no temp files', async () => {
    for (const p of ['state/b1/state.tar.gz', 'logs/b1/2024-01-01', 'logs/b1/2024-01-01/0001.ndjson']) {
      const s = await stat(path.join(root, p));
      expect([p, s.uid, s.gid]).toEqual([p, HOST_UID, HOST_GID]);
    }
    expect(await readdir(path.join(root, 'state/b1'))).toEqual(['state.tar.gz']);
  });
});
