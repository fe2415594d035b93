/**
 * `berth serve` as the user runs it (bin/berth.js, the built CLI) in a child process, and
 * a small client for its HTTP API. The process is tracked by PID for cleanup.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';

export const REPO_ROOT = fileURLToPath(new URL('../..', import.meta.url));
export const BERTH_BIN = fileURLToPath(new URL('../../bin/berth.js', import.meta.url));

export interface ServeOptions {
  readonly dataDir: string;
  readonly instance: string;
  readonly image: string;
  readonly interval: string;
  readonly grace: string;
  /** Docker network of the bots (default none; `host` to reach a server on 127.0.0.1). */
  readonly network?: string;
  /** Extra environment of the serve process (e.g. BERTH_OBJECTS). */
  readonly env?: Readonly<Record<string, string>>;
}

export class BerthServe {
  private stderrText = '';
  private passes = 0;
  private readonly passWaiters: Array<{ count: number; resolve: () => void }> = [];
  private readonly exited: Promise<unknown>;

  private constructor(
    private readonly child: ChildProcess,
    readonly url: string,
  ) {
    this.exited = once(child, 'exit');
  }

  get pid(): number {
    return this.child.pid!;
  }

  /** Full reconcile passes logged so far. */
  get passCount(): number {
    return this.passes;
  }

  static async start(opts: ServeOptions): Promise<BerthServe> {
    const args = [
      BERTH_BIN, 'serve',
      '--listen', '127.0.0.1:0',
      '--data-dir', opts.dataDir,
      '--runtime', 'docker',
      '--instance', opts.instance,
      '--image', opts.image,
      '--network', opts.network ?? 'none',
      '--interval', opts.interval,
      '--grace', opts.grace,
      // debug: the "reconcile pass done" lines tell when a full pass has happened.
      '--log-level', 'debug',
    ];
    const child = spawn(process.execPath, args, { cwd: REPO_ROOT, env: { ...process.env, ...opts.env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let stderr = '';
    child.stderr!.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    const url = await new Promise<string>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`berth serve did not listen within 180 s:\n${stderr}`)), 180_000);
      const onData = () => {
        const m = /API listening on (http:\/\/\S+)/.exec(stderr);
        if (!m?.[1]) return;
        clearTimeout(timer);
        child.stderr!.off('data', onData);
        resolve(m[1].replace(/\/$/, ''));
      };
      child.stderr!.on('data', onData);
      child.once('exit', (code) => {
        clearTimeout(timer);
        reject(new Error(`berth serve exited (${String(code)}) before listening:\n${stderr}`));
      });
      child.once('error', reject);
    }).catch((err: unknown) => {
      child.kill('SIGKILL');
      throw err;
    });
    const serve = new BerthServe(child, url);
    serve.stderrText = stderr;
    child.stderr!.on('data', (d: string) => {
      if (serve.stderrText.length < 1 << 20) serve.stderrText += d;
    });
    let partial = '';
    child.stdout!.setEncoding('utf8').on('data', (d: string) => {
      const lines = (partial + d).split('\n');
      partial = lines.pop() ?? '';
      for (const line of lines) if (line.includes('"reconcile pass done"')) serve.onPass();
    });
    return serve;
  }

  private onPass(): void {
    this.passes++;
    for (const waiter of [...this.passWaiters]) {
      if (this.passes >= waiter.count) {
        this.passWaiters.splice(this.passWaiters.indexOf(waiter), 1);
        waiter.resolve();
      }
    }
  }

  /** Resolves once `count` passes have been logged in total. */
  untilPasses(count: number, timeoutMs: number): Promise<void> {
    if (this.passes >= count) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no reconcile pass #${count} within ${timeoutMs} ms`)), timeoutMs);
      this.passWaiters.push({
        count,
        resolve: () => {
          clearTimeout(timer);
          resolve();
        },
      });
    });
  }

  stderr(): string {
    return this.stderrText;
  }

  /** SIGTERM (bots keep running) and wait for the exit. Idempotent. */
  async stop(signal: NodeJS.Signals = 'SIGTERM'): Promise<void> {
    if (this.child.exitCode === null && this.child.signalCode === null) {
      this.child.kill(signal);
      await this.exited;
    }
  }
}

export class ApiError extends Error {}

export async function api<T>(base: string, path: string, init?: RequestInit): Promise<T> {
  const res = await fetch(`${base}${path}`, init);
  const text = await res.text();
  if (!res.ok) throw new ApiError(`${init?.method ?? 'GET'} ${path}: ${res.status} ${text.slice(0, 500)}`);
  return JSON.parse(text) as T;
}

export interface Uploaded {
  readonly code: { sha256: string };
}

/** POST the package, then PUT the bot: the two requests `berth deploy` makes. */
export async function deployPackage(base: string, id: string, pkg: Buffer, spec: Record<string, unknown>): Promise<{ uploadedAt: number }> {
  const uploaded = await api<Uploaded>(base, `/v1/bots/${id}/package`, {
    method: 'POST',
    headers: { 'content-type': 'application/gzip' },
    body: pkg,
  });
  const uploadedAt = Date.now();
  await api(base, `/v1/bots/${id}`, {
    method: 'PUT',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ ...spec, code: { sha256: uploaded.code.sha256 } }),
  });
  return { uploadedAt };
}

export async function deleteBot(base: string, id: string): Promise<void> {
  await api(base, `/v1/bots/${id}`, { method: 'DELETE' });
}

export interface BotListEntry {
  readonly bot: { id: string };
  readonly state: string;
}

export async function botStates(base: string): Promise<Map<string, string>> {
  const body = await api<{ bots: BotListEntry[] }>(base, '/v1/bots');
  return new Map(body.bots.map((b) => [b.bot.id, b.state]));
}
