/**
 * The bot image for Docker tests, and the rule for when Docker tests run at all.
 *
 * `ensureTestImage()` builds the real image (offline builder) once per tag: vitest runs
 * test files in several worker processes, so the build is serialised by a lock directory
 * (mkdir is atomic) and every later caller finds the tag and returns at once. The image
 * is a cache shared by every test run on the machine; tests never remove it.
 */
import Docker from 'dockerode';
import { execFile } from 'node:child_process';
import { mkdir, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { buildBotImage } from '../../src/image/index.js';
import { PACKAGE_ROOT, defaultDaemonDir } from '../../src/image/paths.js';
import type { TestContext } from 'vitest';
import { waitFor } from './wait.js';

const execFileAsync = promisify(execFile);

let docker: Docker | undefined;

/** One client per worker; the Engine from DOCKER_HOST or /var/run/docker.sock. */
export function testDocker(): Docker {
  docker ??= new Docker();
  return docker;
}

let availability: Promise<string | undefined> | undefined;

/** Why the Engine cannot be used, or undefined when it answers. */
export function dockerUnavailableReason(): Promise<string | undefined> {
  availability ??= (async () => {
    try {
      await (testDocker().ping as (opts: object) => Promise<unknown>).call(testDocker(), { abortSignal: AbortSignal.timeout(5000) });
      return undefined;
    } catch (err) {
      return `Docker Engine not reachable: ${(err as Error).message}`;
    }
  })();
  return availability;
}

/** True when CI demands a Docker Engine (BERTH_REQUIRE_DOCKER=1): no skipping then. */
export function dockerRequired(): boolean {
  return process.env.BERTH_REQUIRE_DOCKER === '1';
}

/** The reason Docker tests would be skipped; undefined when the Engine answers. */
export const dockerSkipReason = dockerUnavailableReason;

/**
 * First line of every Docker test: skips it with the reason when the Engine is not
 * reachable — or, with BERTH_REQUIRE_DOCKER=1, fails it. (A failing beforeAll would only
 * mark the tests skipped, which a CI summary could read as green.)
 */
export async function requireDocker(ctx: TestContext): Promise<void> {
  const reason = await dockerUnavailableReason();
  if (!reason) return;
  if (dockerRequired()) throw new Error(`BERTH_REQUIRE_DOCKER=1 but ${reason}`);
  ctx.skip(reason);
}

const LOCK_DIR = join(tmpdir(), 'berth-test-image.lock');
const LOCK_STALE_MS = 10 * 60_000;

function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** A lock held by a dead process, or for longer than any build takes, is broken. */
async function breakStaleLock(): Promise<void> {
  try {
    const owner = Number((await readFile(join(LOCK_DIR, 'pid'), 'utf8')).trim());
    const age = Date.now() - (await stat(LOCK_DIR)).mtimeMs;
    if ((owner && !processAlive(owner)) || age > LOCK_STALE_MS) await rm(LOCK_DIR, { recursive: true, force: true });
  } catch {
    // No pid file yet (the owner is between mkdir and write) or the lock is gone.
  }
}

async function withLock<T>(fn: () => Promise<T>): Promise<T> {
  await waitFor(
    'the bot image build lock',
    async () => {
      try {
        await mkdir(LOCK_DIR);
        await writeFile(join(LOCK_DIR, 'pid'), String(process.pid));
        return true;
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
        await breakStaleLock();
        return false;
      }
    },
    { timeoutMs: 5 * 60_000, intervalMs: 200 },
  );
  try {
    return await fn();
  } finally {
    await rm(LOCK_DIR, { recursive: true, force: true });
  }
}

async function newestMtime(dir: string): Promise<number> {
  let newest = 0;
  const entries = await readdir(dir, { withFileTypes: true, recursive: true }).catch(() => []);
  for (const entry of entries) {
    if (!entry.isFile()) continue;
    const st = await stat(join(entry.parentPath, entry.name)).catch(() => undefined);
    if (st && st.mtimeMs > newest) newest = st.mtimeMs;
  }
  return newest;
}

async function exists(path: string): Promise<boolean> {
  return stat(path).then(
    () => true,
    () => false,
  );
}

/**
 * dist/daemon when it is at least as new as the sources (the daemon bundles code from all
 * of src/), else a fresh bundle through the project's own script; a placeholder only
 * while there is no daemon source at all.
 */
async function daemonDirForTests(): Promise<string> {
  const dist = defaultDaemonDir();
  const bundle = join(dist, 'berth-daemon.cjs');
  const source = join(PACKAGE_ROOT, 'src', 'daemon', 'main.ts');
  if (await exists(source)) {
    const built = (await exists(bundle)) && (await exists(join(dist, 'bootstrap.sh'))) ? (await stat(bundle)).mtimeMs : 0;
    if (built < (await newestMtime(join(PACKAGE_ROOT, 'src')))) {
      try {
        await execFileAsync(process.execPath, ['scripts/bundle-daemon.mjs'], { cwd: PACKAGE_ROOT });
      } catch (err) {
        // Half-written daemon sources must not break tests that never run the daemon.
        const why = ((err as { stderr?: string }).stderr ?? (err as Error).message).trim().split('\n').slice(0, 3).join(' | ');
        process.stderr.write(`ensureTestImage: bundling the daemon failed, using ${built ? 'the previous bundle' : 'a placeholder'}: ${why}\n`);
        if (built) return dist;
        return placeholderDaemonDir();
      }
    }
    return dist;
  }
  if (await exists(bundle)) return dist;
  return placeholderDaemonDir();
}

async function placeholderDaemonDir(): Promise<string> {
  const placeholder = join(tmpdir(), 'berth-test-placeholder-daemon');
  await mkdir(placeholder, { recursive: true });
  await writeFile(join(placeholder, 'berth-daemon.cjs'), 'console.error("berth placeholder daemon: src/daemon is not written yet"); process.exit(70);\n');
  await writeFile(join(placeholder, 'bootstrap.sh'), '#!/bin/sh\nexec /usr/local/bin/node /opt/berth/berth-daemon.cjs "$@"\n', { mode: 0o755 });
  return placeholder;
}

let image: Promise<string> | undefined;

/** Builds the bot image if its tag does not exist yet; returns the tag. */
export function ensureTestImage(): Promise<string> {
  image ??= withLock(async () => {
    const daemonDir = await daemonDirForTests();
    const built = await buildBotImage({ docker: testDocker(), daemonDir });
    return built.tag;
  });
  image.catch(() => {
    image = undefined;
  });
  return image;
}
