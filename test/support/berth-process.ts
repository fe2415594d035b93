/**
 * End-to-end helpers: `berth serve` as a real child process (so a test can SIGKILL it),
 * the `berth` CLI as a real command, and a JSON client for the API. Every process started
 * here is tracked and killed by PID in `stopAllBerthProcesses()` (call it in afterAll).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const BERTH_BIN = fileURLToPath(new URL('../../bin/berth.js', import.meta.url));
export const REPO_ROOT = fileURLToPath(new URL('../..', import.meta.url));

const started = new Set<ChildProcess>();

/**
 * Environment every `berth` process started from here gets (under `opts.env`): a suite that
 * deploys Berth on other stores sets BERTH_STORE / BERTH_OBJECTS / BERTH_EVENTS here, so that
 * even a process a test starts by itself (an extra `berth api`) joins the same deployment.
 */
let defaultEnv: Readonly<Record<string, string>> = {};

export function setDefaultBerthEnv(env: Readonly<Record<string, string>> | undefined): void {
  defaultEnv = env ?? {};
}

export interface BerthServer {
  /** The API's URL; empty for `bot-runner`, which serves no API. */
  readonly url: string;
  readonly pid: number;
  readonly dataDir: string;
  /** Everything it printed on stderr so far (start-up lines, warnings). */
  stderr(): string;
  /** Its JSON log lines (stdout) so far, parsed. */
  logs(): Array<Record<string, unknown>>;
  /** SIGTERM and wait for exit (bots keep running). Idempotent. */
  stop(): Promise<void>;
  /** SIGKILL and wait for exit. */
  kill(): Promise<void>;
}

export interface ServeOptions {
  /** `serve` (default) or one of the split roles. */
  readonly command?: 'serve' | 'api' | 'bot-runner' | 'bot-scheduler';
  readonly runtime: 'docker' | 'process';
  readonly instance: string;
  readonly dataDir?: string;
  /** Full reconcile interval, e.g. `2s`. */
  readonly interval?: string;
  readonly grace?: string;
  readonly network?: string;
  readonly image?: string;
  readonly extraArgs?: readonly string[];
  readonly env?: Readonly<Record<string, string>>;
}

export async function newDataDir(label: string): Promise<string> {
  return mkdtemp(join(tmpdir(), `berth-e2e-${label}-`));
}

/** Starts `berth serve` on a free loopback port and resolves once the API listens. */
export async function startBerth(opts: ServeOptions): Promise<BerthServer> {
  const dataDir = opts.dataDir ?? (await newDataDir(opts.instance));
  const args = [
    BERTH_BIN,
    opts.command ?? 'serve',
    '--listen', '127.0.0.1:0',
    '--data-dir', dataDir,
    '--runtime', opts.runtime,
    '--instance', opts.instance,
    '--interval', opts.interval ?? '30s',
    '--grace', opts.grace ?? '10',
    '--network', opts.network ?? 'none',
    '--log-level', 'debug',
    ...(opts.image ? ['--image', opts.image] : []),
    ...(opts.extraArgs ?? []),
  ];
  const child = spawn(process.execPath, args, {
    cwd: REPO_ROOT,
    env: { ...process.env, ...defaultEnv, ...opts.env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  started.add(child);
  let err = '';
  let out = '';
  child.stderr!.setEncoding('utf8').on('data', (d: string) => (err += d));
  child.stdout!.setEncoding('utf8').on('data', (d: string) => {
    // Bounded: a runaway log must not exhaust the test process.
    if (out.length < 64 << 20) out += d;
  });
  const exited = once(child, 'exit');
  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`berth serve did not start within 240 s:\n${err}`)), 240_000);
    const onData = () => {
      const m = /API listening on (http:\/\/[^\s]+)/.exec(err);
      // bot-runner and bot-scheduler have no API: ready once they say they run (after their first pass / schedule load).
      const runnerReady = (opts.command === 'bot-runner' || opts.command === 'bot-scheduler') && err.includes(`${opts.command} running`);
      if (m?.[1] || runnerReady) {
        clearTimeout(timer);
        child.stderr!.off('data', onData);
        resolve(m?.[1]?.replace(/\/$/, '') ?? '');
      }
    };
    child.stderr!.on('data', onData);
    void exited.then(([code]) => {
      clearTimeout(timer);
      reject(new Error(`berth serve exited (${String(code)}) before listening:\n${err}\n${out.slice(-4000)}`));
    });
  });
  const waitExit = async (signal: NodeJS.Signals) => {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill(signal);
      await exited;
    }
    started.delete(child);
  };
  return {
    url,
    pid: child.pid!,
    dataDir,
    stderr: () => err,
    logs: () =>
      out
        .split('\n')
        .filter((l) => l.startsWith('{'))
        .flatMap((l) => {
          try {
            return [JSON.parse(l) as Record<string, unknown>];
          } catch {
            return [];
          }
        }),
    stop: () => waitExit('SIGTERM'),
    kill: () => waitExit('SIGKILL'),
  };
}

export interface CliResult {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

/** Runs the real `berth` command against a server. */
export async function berthCli(url: string, args: readonly string[], env: Readonly<Record<string, string>> = {}): Promise<CliResult> {
  const child = spawn(process.execPath, [BERTH_BIN, ...args], {
    cwd: REPO_ROOT,
    env: { ...process.env, BERTH_API: url, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  started.add(child);
  let stdout = '';
  let stderr = '';
  child.stdout!.setEncoding('utf8').on('data', (d: string) => (stdout += d));
  child.stderr!.setEncoding('utf8').on('data', (d: string) => (stderr += d));
  const [code] = (await once(child, 'exit')) as [number | null];
  started.delete(child);
  return { code: code ?? -1, stdout, stderr };
}

/** `berthCli` that must succeed; returns stdout. */
export async function berthOk(url: string, args: readonly string[]): Promise<string> {
  const r = await berthCli(url, args);
  if (r.code !== 0) throw new Error(`berth ${args.join(' ')} exited ${r.code}:\n${r.stderr}${r.stdout}`);
  return r.stdout;
}

export async function apiJson<T = unknown>(url: string, path: string, init?: RequestInit): Promise<{ status: number; body: T }> {
  const res = await fetch(`${url}${path}`, init);
  const text = await res.text();
  let body: unknown = text;
  try {
    body = JSON.parse(text);
  } catch {
    // not JSON (e.g. NDJSON); the caller gets the text
  }
  return { status: res.status, body: body as T };
}

/** Kills every berth process a test started and has not stopped, by PID. */
export async function stopAllBerthProcesses(): Promise<void> {
  await Promise.all(
    [...started].map(async (child) => {
      if (child.exitCode === null && child.signalCode === null) {
        const exited = once(child, 'exit');
        child.kill('SIGKILL');
        await exited;
      }
      started.delete(child);
    }),
  );
}
