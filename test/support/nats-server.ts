/**
 * A real nats-server (Debian's package) for tests, as STACK.md describes: 127.0.0.1 only,
 * random free ports, JetStream on a temporary store directory, monitoring port for the
 * readiness check (GET /healthz). Stopped by PID; `restart()` brings it back on the same
 * ports, which is what the reconnect tests need. Every server started here is tracked and
 * killed in `stopAllNatsServers()` (call it in afterAll), also when a test failed.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { waitFor } from './wait.js';

export interface NatsServer {
  /** `nats://127.0.0.1:<port>` */
  readonly url: string;
  readonly port: number;
  readonly monitorPort: number;
  pid(): number | undefined;
  /** SIGTERM, wait for exit. Idempotent. */
  stop(): Promise<void>;
  /** Starts it again on the same ports and waits for /healthz. */
  start(): Promise<void>;
  restart(): Promise<void>;
  /** Stops it and deletes its store directory. */
  dispose(): Promise<void>;
}

const running = new Set<ChildProcess>();

/** Why nats-server cannot run here, or undefined when it can. */
export function natsServerUnavailableReason(): string | undefined {
  const probe = spawnSync('nats-server', ['--version'], { encoding: 'utf8' });
  if (probe.error) return `nats-server is not installed (apt-get install nats-server; .ci/run does): ${probe.error.message}`;
  return undefined;
}

/** In CI (.ci/run installs it) a missing nats-server fails the NATS tests instead of skipping them. */
export function natsRequired(): boolean {
  return process.env.BERTH_REQUIRE_NATS === '1';
}

/** The skip reason for NATS tests, or throws when NATS is required. */
export function natsSkipReason(): string | undefined {
  const reason = natsServerUnavailableReason();
  if (reason && natsRequired()) throw new Error(`BERTH_REQUIRE_NATS=1 but ${reason}`);
  return reason;
}

export async function freePort(): Promise<number> {
  const server = createServer();
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const address = server.address();
  server.close();
  await once(server, 'close');
  if (address === null || typeof address === 'string') throw new Error('no port');
  return address.port;
}

/** `port`: a client port chosen by the caller (e.g. one a service was told about before). */
export async function startNatsServer(options: { port?: number } = {}): Promise<NatsServer> {
  const storeDir = await mkdtemp(join(tmpdir(), 'berth-nats-'));
  // Two free ports picked apart from each other; another process could take one in between,
  // so a failed start picks new ones (only before the first successful start).
  let port = options.port ?? (await freePort());
  let monitorPort = await freePort();
  let child: ChildProcess | undefined;
  let output = '';

  const launch = async (): Promise<void> => {
    output = '';
    const proc = spawn('nats-server', ['-a', '127.0.0.1', '-p', String(port), '-js', '-sd', storeDir, '-m', String(monitorPort)], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    running.add(proc);
    child = proc;
    const collect = (d: Buffer) => {
      if (output.length < 1 << 20) output += d.toString('utf8');
    };
    proc.stdout!.on('data', collect);
    proc.stderr!.on('data', collect);
    const exited = once(proc, 'exit').then(() => running.delete(proc));
    try {
      await waitFor(
        `nats-server on ${port} healthy`,
        async () => {
          if (proc.exitCode !== null) throw new Error(`nats-server exited (${proc.exitCode}): ${output.slice(-2000)}`);
          const res = await fetch(`http://127.0.0.1:${monitorPort}/healthz`, { signal: AbortSignal.timeout(1000) });
          return res.ok;
        },
        { timeoutMs: 15_000, intervalMs: 50 },
      );
    } catch (err) {
      proc.kill('SIGKILL');
      await exited;
      child = undefined;
      throw new Error(`${(err as Error).message}\n${output.slice(-2000)}`);
    }
  };

  const stop = async (): Promise<void> => {
    const proc = child;
    child = undefined;
    if (!proc || proc.exitCode !== null || proc.signalCode !== null) return;
    const exited = once(proc, 'exit');
    proc.kill('SIGTERM');
    const timer = setTimeout(() => proc.kill('SIGKILL'), 10_000);
    await exited;
    clearTimeout(timer);
    running.delete(proc);
  };

  for (let attempt = 1; ; attempt++) {
    try {
      await launch();
      break;
    } catch (err) {
      if (attempt >= 3 || options.port !== undefined) throw err;
      port = await freePort();
      monitorPort = await freePort();
    }
  }

  return {
    url: `nats://127.0.0.1:${port}`,
    port,
    monitorPort,
    pid: () => child?.pid,
    stop,
    start: async () => {
      if (!child) await launch();
    },
    restart: async () => {
      await stop();
      await launch();
    },
    dispose: async () => {
      await stop();
      await rm(storeDir, { recursive: true, force: true });
    },
  };
}

/** Kills every nats-server started here that is still running, by PID. */
export async function stopAllNatsServers(): Promise<void> {
  await Promise.all(
    [...running].map(async (proc) => {
      if (proc.exitCode === null && proc.signalCode === null) {
        const exited = once(proc, 'exit');
        proc.kill('SIGKILL');
        await exited;
      }
      running.delete(proc);
    }),
  );
}
