/**
 * Runs the real, bundled daemon (bundled here with esbuild from src/daemon/main.ts, so a
 * test run does not depend on a previous `npm run build`) through the real bootstrap.sh as
 * local processes, against a filesystem object store in a temporary directory. Every
 * process is started in its own process group and the whole group (daemon and bot) is
 * killed at clean-up.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { chmod, copyFile, mkdir, mkdtemp, readFile, readdir, rename, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import { build } from 'esbuild';
import { DAEMON_BUNDLE, daemonBuilds } from '../../../scripts/daemon-build-options.mjs';
import { openObjectStore } from '../../../src/adapters/objects/open.js';
import { extractPackage } from '../../../src/archive/extract.js';
import { packDirectory } from '../../../src/archive/pack.js';
import { DAEMON_ENV } from '../../../src/domain/daemon-contract.js';
import { parseLogChunk, type LogEntry } from '../../../src/domain/logs.js';
import { objectKeys } from '../../../src/domain/object-keys.js';
import type { ObjectStore } from '../../../src/ports/objects.js';
import { waitFor } from '../../support/wait.js';

const REPO = path.resolve(import.meta.dirname, '../../..');
let bundled: Promise<{ script: string; bootstrap: string }> | undefined;

/** Bundles the daemon once per test file, the same way scripts/bundle-daemon.mjs does. */
export function daemonBundle(): Promise<{ script: string; bootstrap: string }> {
  bundled ??= (async () => {
    const dir = await mkdtemp(path.join(tmpdir(), 'berth-daemon-bundle-'));
    const script = path.join(dir, DAEMON_BUNDLE);
    for (const options of daemonBuilds({ entry: path.join(REPO, 'src/daemon/main.ts'), outdir: dir })) await build(options);
    const bootstrap = path.join(dir, 'bootstrap.sh');
    await copyFile(path.join(REPO, 'src/daemon/bootstrap.sh'), bootstrap);
    return { script, bootstrap };
  })();
  return bundled;
}

/** A python3.11 that an unprivileged user can run too (pyenv shims under /root cannot). */
export function findPython(): string | undefined {
  for (const p of ['/usr/bin/python3.11', '/usr/local/bin/python3.11']) if (existsSync(p)) return p;
  for (const dir of (process.env['PATH'] ?? '').split(':')) {
    const p = path.join(dir, 'python3.11');
    if (dir && existsSync(p)) return p;
  }
  return undefined;
}

export type Files = Record<string, string>;

export class DaemonProcess {
  stdout = '';
  stderr = '';
  readonly exited: Promise<number>;
  private exitCode: number | undefined;

  constructor(readonly child: ChildProcess) {
    child.stdout?.on('data', (b: Buffer) => (this.stdout += b.toString()));
    child.stderr?.on('data', (b: Buffer) => (this.stderr += b.toString()));
    this.exited = new Promise((resolve) => {
      child.once('exit', (code, signal) => {
        this.exitCode = code ?? 128 + (signal === 'SIGKILL' ? 9 : 15);
        resolve(this.exitCode);
      });
    });
  }

  get pid(): number {
    return this.child.pid!;
  }

  get running(): boolean {
    return this.exitCode === undefined;
  }

  /** Sends a signal to the daemon only, as Docker's init does. */
  signal(sig: NodeJS.Signals): void {
    if (this.running) process.kill(this.pid, sig);
  }

  /** Kills the whole process group (daemon and bot). Idempotent. */
  async kill(): Promise<void> {
    if (!this.running) return;
    try {
      process.kill(-this.pid, 'SIGKILL');
    } catch {
      // already gone
    }
    await this.exited;
  }

  async waitForOutput(text: string | RegExp, timeoutMs = 15_000): Promise<void> {
    await waitFor(`daemon output ${String(text)}`, () => {
      const all = this.stdout + this.stderr;
      return typeof text === 'string' ? all.includes(text) : text.test(all);
    }, { timeoutMs, intervalMs: 20 });
  }
}

export class DaemonSandbox {
  readonly botId = `bot-${randomBytes(4).toString('hex')}`;
  readonly objectsDir: string;
  readonly store: ObjectStore;
  readonly controlDir: string;
  private readonly processes: DaemonProcess[] = [];
  private commandSeq = 0;
  code: { key: string; sha256: string } | undefined;

  private constructor(readonly root: string) {
    this.objectsDir = path.join(root, 'objects');
    this.controlDir = path.join(root, 'control');
    this.store = openObjectStore(`file:${this.objectsDir}`);
  }

  static async create(): Promise<DaemonSandbox> {
    const sandbox = new DaemonSandbox(await mkdtemp(path.join(tmpdir(), 'berth-daemon-test-')));
    // As in the image, the bot user must be able to reach /bot, /state and the work dir.
    await chmod(sandbox.root, 0o755);
    await sandbox.store.init();
    await mkdir(sandbox.controlDir);
    await mkdir(path.join(sandbox.objectsDir, 'state', sandbox.botId), { recursive: true });
    return sandbox;
  }

  get botDir(): string {
    return path.join(this.root, 'bot');
  }
  get stateDir(): string {
    return path.join(this.root, 'state');
  }
  get workDir(): string {
    return path.join(this.root, 'work');
  }

  private async packFiles(files: Files, name: string): Promise<{ file: string; sha256: string; dispose(): Promise<void> }> {
    const dir = path.join(this.root, name);
    await rm(dir, { recursive: true, force: true });
    for (const [rel, content] of Object.entries(files)) {
      await mkdir(path.dirname(path.join(dir, rel)), { recursive: true });
      await writeFile(path.join(dir, rel), content);
    }
    return packDirectory(dir);
  }

  /** Packs and stores a code package; returns its key and sha256. */
  async uploadCode(files: Files): Promise<{ key: string; sha256: string }> {
    const packed = await this.packFiles(files, 'code-src');
    const key = objectKeys.code(this.botId, packed.sha256, 'tar.gz');
    await this.store.put(key, await readFile(packed.file));
    await packed.dispose();
    this.code = { key, sha256: packed.sha256 };
    return this.code;
  }

  async putState(files: Files): Promise<void> {
    const packed = await this.packFiles(files, 'state-src');
    await this.store.put(objectKeys.state(this.botId), await readFile(packed.file));
    await packed.dispose();
  }

  /** The stored state's files (relative path → content), or null when nothing is stored. */
  async storedState(): Promise<Record<string, string> | null> {
    const bytes = await this.store.get(objectKeys.state(this.botId));
    if (bytes === null) return null;
    const tmp = await mkdtemp(path.join(this.root, 'read-state-'));
    try {
      await writeFile(path.join(tmp, 'state.tar.gz'), bytes);
      await extractPackage(path.join(tmp, 'state.tar.gz'), path.join(tmp, 'x'));
      const out: Record<string, string> = {};
      const walk = async (dir: string, rel: string): Promise<void> => {
        for (const e of await readdir(dir, { withFileTypes: true })) {
          const r = rel ? `${rel}/${e.name}` : e.name;
          if (e.isDirectory()) await walk(path.join(dir, e.name), r);
          else out[r] = await readFile(path.join(dir, e.name), 'utf8');
        }
      };
      await walk(path.join(tmp, 'x'), '');
      return out;
    } finally {
      await rm(tmp, { recursive: true, force: true });
    }
  }

  /** The stored root state.json parsed, or undefined. */
  async storedStateJson(): Promise<unknown> {
    const files = await this.storedState();
    const text = files?.['state.json'];
    return text === undefined ? undefined : JSON.parse(text);
  }

  async logEntries(): Promise<LogEntry[]> {
    const out: LogEntry[] = [];
    for await (const info of this.store.list(objectKeys.logsPrefix(this.botId))) {
      const bytes = await this.store.get(info.key);
      if (bytes) out.push(...parseLogChunk(bytes.toString('utf8')));
    }
    return out;
  }

  async logKeys(): Promise<string[]> {
    const keys: string[] = [];
    for await (const info of this.store.list(objectKeys.logsPrefix(this.botId))) keys.push(info.key);
    return keys;
  }

  env(overrides: Record<string, string | undefined> = {}): Record<string, string> {
    const python = findPython();
    const base: Record<string, string | undefined> = {
      PATH: process.env['PATH'],
      BOT_ID: this.botId,
      BOT_CONFIG: '{"greeting":"hello"}',
      BOT_TYPE: 'realtime',
      CONTROL_DIR: this.controlDir,
      [DAEMON_ENV.botId]: this.botId,
      [DAEMON_ENV.kind]: 'live',
      [DAEMON_ENV.objects]: `file:${this.objectsDir}`,
      [DAEMON_ENV.codeKey]: this.code?.key,
      [DAEMON_ENV.codeSha256]: this.code?.sha256,
      [DAEMON_ENV.codeFormat]: 'tar.gz',
      [DAEMON_ENV.botDir]: this.botDir,
      [DAEMON_ENV.stateDir]: this.stateDir,
      [DAEMON_ENV.workDir]: this.workDir,
      [DAEMON_ENV.runAs]: '',
      [DAEMON_ENV.node]: process.execPath,
      [DAEMON_ENV.python]: python,
      [DAEMON_ENV.graceSeconds]: '10',
      [DAEMON_ENV.logIntervalMs]: '200',
      [DAEMON_ENV.debounceMs]: '500',
      [DAEMON_ENV.maxWaitMs]: '5000',
      BERTH_SECRET_TOKEN: 'do-not-leak',
      ...overrides,
    };
    const env: Record<string, string> = {};
    for (const [k, v] of Object.entries(base)) if (v !== undefined) env[k] = v;
    return env;
  }

  /** `bootstrap`: sh bootstrap.sh (exec `berth-daemon start`: init, then run); otherwise one daemon command. */
  async start(command: 'bootstrap' | 'init' | 'run' | 'sync', env: Record<string, string>): Promise<DaemonProcess> {
    const { script, bootstrap } = await daemonBundle();
    const argv = command === 'bootstrap' ? ['sh', bootstrap] : [process.execPath, script, command];
    const child = spawn(argv[0]!, argv.slice(1), {
      env: { ...env, [DAEMON_ENV.script]: script },
      stdio: ['ignore', 'pipe', 'pipe'],
      detached: true,
      cwd: this.root,
    });
    const proc = new DaemonProcess(child);
    this.processes.push(proc);
    return proc;
  }

  /** Writes the next command file for the control-driven test bot (atomically). */
  async command(cmd: Record<string, unknown>): Promise<number> {
    const n = this.commandSeq++;
    const tmp = path.join(this.controlDir, `.cmd-${n}.tmp`);
    await writeFile(tmp, JSON.stringify(cmd));
    await rename(tmp, path.join(this.controlDir, `cmd-${n}.json`));
    return n;
  }

  async cleanup(): Promise<void> {
    for (const p of this.processes) await p.kill();
    await this.store.close();
    await rm(this.root, { recursive: true, force: true });
  }
}

/**
 * A Node bot driven by command files in $CONTROL_DIR (cmd-0.json, cmd-1.json, …): each
 * command changes the state in a particular way and prints "done <n> <op>".
 */
export const CONTROLLED_NODE_BOT: Files = {
  'bot.mjs': `
import fs from 'node:fs';
import path from 'node:path';
const S = process.env.BERTH_STATE_DIR;
const C = process.env.CONTROL_DIR;
const stateFile = path.join(S, 'state.json');
let next = 0;
let last = null;
process.on('SIGTERM', () => {
  fs.writeFileSync(stateFile, JSON.stringify({ final: true, last }));
  console.log('got SIGTERM, saved');
  process.exit(0);
});
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
async function run(cmd) {
  switch (cmd.op) {
    case 'rename': {
      const tmp = stateFile + '.tmp';
      fs.writeFileSync(tmp, JSON.stringify({ value: cmd.value }));
      fs.renameSync(tmp, stateFile);
      break;
    }
    case 'inplace':
      fs.writeFileSync(stateFile, JSON.stringify({ value: cmd.value }));
      break;
    case 'nested':
      fs.mkdirSync(path.join(S, 'a/b/c'), { recursive: true });
      fs.writeFileSync(path.join(S, 'a/b/c/deep.json'), JSON.stringify({ value: cmd.value }));
      break;
    case 'burst':
      for (let i = 1; i <= cmd.count; i++) {
        fs.writeFileSync(stateFile, JSON.stringify({ value: i }));
        await sleep(cmd.gapMs);
      }
      break;
    case 'invalid':
      fs.writeFileSync(stateFile, '{"value": ');
      break;
    case 'empty':
      for (const name of fs.readdirSync(S)) fs.rmSync(path.join(S, name), { recursive: true, force: true });
      break;
    case 'crash':
      fs.writeFileSync(stateFile, JSON.stringify({ value: cmd.value }));
      throw new Error('bot crashed on purpose');
    case 'exit':
      process.exit(cmd.code);
  }
  last = cmd.value ?? last;
}
async function loop() {
  for (;;) {
    const f = path.join(C, 'cmd-' + next + '.json');
    if (fs.existsSync(f)) {
      const cmd = JSON.parse(fs.readFileSync(f, 'utf8'));
      await run(cmd);
      console.log('done ' + next + ' ' + cmd.op);
      next++;
    } else {
      await sleep(20);
    }
  }
}
export async function main() {
  console.log('controlled bot started');
  await loop();
}
`,
};
