/**
 * The NATS event bus against a real nats-server (Debian's 2.9, started by this file on
 * random loopback ports): the shared EventBus contract, then what only a network bus has —
 * a server restarted on the same port (subscriptions resume, onReconnect fires once the
 * server has them again), publishing while the server is down (a prompt UnavailableError,
 * never a hang or a crash), a bus started before its server, and the URL setting.
 */
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { readdirSync, readFileSync } from 'node:fs';
import { connect as tcpConnect } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openEventBus } from '../../src/adapters/events/open.js';
import { NatsEventBus, type NatsConnectionEvent } from '../../src/adapters/events/nats/nats-event-bus.js';
import { parseNatsUrl } from '../../src/adapters/events/nats/url.js';
import { UnavailableError, ValidationError } from '../../src/domain/errors.js';
import { freePort, natsSkipReason, startNatsServer, stopAllNatsServers, type NatsServer } from '../support/nats-server.js';
import { waitFor } from '../support/wait.js';
import { eventBusContract } from './events.contract.js';

const skip = natsSkipReason();
let server: NatsServer | undefined;

beforeAll(async () => {
  if (!skip) server = await startNatsServer();
}, 60_000);

afterAll(async () => {
  await server?.dispose();
  await stopAllNatsServers();
});

/** A bus on the shared test server, its handler errors and connection events recorded. */
async function natsBus(url = server!.url): Promise<{ bus: NatsEventBus; handlerErrors: unknown[]; events: NatsConnectionEvent[] }> {
  const handlerErrors: unknown[] = [];
  const events: NatsConnectionEvent[] = [];
  const bus = new NatsEventBus({
    url,
    onHandlerError: (err) => handlerErrors.push(err),
    onConnectionEvent: (e) => events.push(e),
    publishTimeoutMs: 2000,
  });
  return { bus, handlerErrors, events };
}

describe.skipIf(skip !== undefined)(`NATS event bus${skip ? ` (skipped: ${skip})` : ''}`, () => {
  eventBusContract('nats', async () => {
    const { bus, handlerErrors } = await natsBus();
    await bus.init();
    return { bus, handlerErrors, cleanup: async () => undefined };
  });

  it('delivers between two connections (two processes share the bus this way)', async () => {
    const a = (await natsBus()).bus;
    const b = (await natsBus()).bus;
    try {
      await Promise.all([a.init(), b.init()]);
      const seen: unknown[] = [];
      b.subscribe('x2p.bot.*.changed', (subject, payload) => seen.push({ subject, payload }));
      // The subscription reaches the server asynchronously; a round trip orders after it.
      await b.publish('x2p.sync', {});
      await a.publish('x2p.bot.b1.changed', { id: 'b1', generation: 2, op: 'updated' });
      await waitFor('delivery across connections', () => seen.length === 1);
      expect(seen).toEqual([{ subject: 'x2p.bot.b1.changed', payload: { id: 'b1', generation: 2, op: 'updated' } }]);
    } finally {
      await a.close();
      await b.close();
    }
  });

  it('reports itself healthy while connected', async () => {
    const { bus } = await natsBus();
    await bus.init();
    expect(bus.health().ok).toBe(true);
    await bus.close();
    await bus.close();
  });
});

/** True when every thread of the process is stopped (state T in /proc/<pid>/task/<tid>/stat). */
function allThreadsStopped(pid: number): boolean {
  return readdirSync(`/proc/${pid}/task`).every((tid) => {
    const stat = readFileSync(`/proc/${pid}/task/${tid}/stat`, 'utf8');
    const state = stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3);
    return state === 'T' || state === 't';
  });
}

describe.skipIf(skip !== undefined)(`NATS event bus across a server restart${skip ? ` (skipped: ${skip})` : ''}`, { timeout: 60_000 }, () => {
  // Its own server: stopping the shared one would disturb the contract tests above.
  let own: NatsServer;
  beforeAll(async () => {
    own = await startNatsServer();
  }, 60_000);
  afterAll(async () => {
    await own?.dispose();
  });

  it('resumes subscriptions, fires onReconnect once the server has them, and never hangs publishing while it is down', async () => {
    const sub = await natsBus(own.url);
    const pub = await natsBus(own.url);
    try {
      await Promise.all([sub.bus.init(), pub.bus.init()]);
      const seen: number[] = [];
      let reconnects = 0;
      sub.bus.subscribe('rs.bot.*.changed', (_s, p) => seen.push((p as { n: number }).n));
      sub.bus.onReconnect(() => reconnects++);
      await sub.bus.publish('rs.ready', {});
      await pub.bus.publish('rs.bot.a.changed', { n: 1 });
      await waitFor('first delivery', () => seen.includes(1));

      await own.stop();
      await waitFor('publisher sees the disconnect', () => !pub.bus.health().ok);
      expect(pub.bus.health().detail).toMatch(/not connected to NATS/);
      // Down: a prompt, typed failure (the caller logs it; the timer is the safety net).
      const started = Date.now();
      await expect(pub.bus.publish('rs.bot.a.changed', { n: 2 })).rejects.toBeInstanceOf(UnavailableError);
      expect(Date.now() - started).toBeLessThan(5000);

      await own.start();
      await waitFor('onReconnect fired', () => reconnects >= 1, { timeoutMs: 20_000, intervalMs: 50 });
      await waitFor('publisher reconnected', () => pub.bus.health().ok, { timeoutMs: 20_000, intervalMs: 50 });
      // onReconnect comes after the resubscription reached the server: the next message arrives.
      await pub.bus.publish('rs.bot.a.changed', { n: 3 });
      await waitFor('delivery after the restart', () => seen.includes(3));
      expect(seen).toEqual([1, 3]);
      expect(reconnects).toBe(1);
      expect(sub.events.map((e) => e.type)).toEqual(expect.arrayContaining(['connected', 'disconnected']));
      expect(sub.events.filter((e) => e.type === 'connected' && e.reconnect)).toHaveLength(1);
    } finally {
      await sub.bus.close();
      await pub.bus.close();
      await own.start();
    }
  });

  it('a server that stops answering (SIGSTOP) makes publish fail after its timeout, not hang; it works again after SIGCONT', async () => {
    const bus = new NatsEventBus({ url: own.url, publishTimeoutMs: 500, onHandlerError: () => undefined });
    try {
      await bus.init();
      const pid = own.pid()!;
      process.kill(pid, 'SIGSTOP');
      try {
        // The signal is asynchronous: publish only once every thread of the server has stopped.
        await waitFor('nats-server stopped', () => allThreadsStopped(pid), { intervalMs: 5 });
        await expect(bus.publish('stall.x', { n: 1 })).rejects.toThrow(/did not confirm the message within 500 ms/);
      } finally {
        process.kill(pid, 'SIGCONT');
      }
      const seen: unknown[] = [];
      bus.subscribe('stall.y', (_s, p) => seen.push(p));
      await bus.publish('stall.y', { n: 2 });
      await waitFor('delivery after SIGCONT', () => seen.length === 1);
    } finally {
      await bus.close();
    }
  });

  it('publish respects the caller’s AbortSignal', async () => {
    const { bus } = await natsBus(own.url);
    try {
      await bus.init();
      const ac = new AbortController();
      ac.abort(new Error('caller gave up'));
      await expect(bus.publish('ab.x', {}, ac.signal)).rejects.toThrow('caller gave up');
    } finally {
      await bus.close();
    }
  });

  it('started before its server: init says it is unavailable, it keeps trying, connects later and fires onReconnect', async () => {
    const port = await freePort();
    const { bus, events } = await natsBus(`nats://127.0.0.1:${port}`);
    const late = new NatsEventBus({ url: `nats://127.0.0.1:${port}`, connectTimeoutMs: 300 });
    try {
      let reconnects = 0;
      bus.onReconnect(() => reconnects++);
      await expect(late.init()).rejects.toBeInstanceOf(UnavailableError);
      await expect(late.init()).rejects.toThrow(/did not answer within 300 ms/);
      expect(bus.health().ok).toBe(false);
      await expect(bus.publish('late.x', {})).rejects.toBeInstanceOf(UnavailableError);
      await waitFor('a failed connect attempt reported', () => events.some((e) => e.type === 'connect-failed'));
      const seen: unknown[] = [];
      bus.subscribe('late.>', (_s, p) => seen.push(p));
      // The server comes up on the port the bus was told about.
      const lateServer = await startNatsServerOn(port);
      try {
        await bus.init();
        await waitFor('onReconnect after the first connection', () => reconnects === 1);
        await bus.publish('late.y', { ok: true });
        await waitFor('delivery once connected', () => seen.length === 1);
      } finally {
        await lateServer.stop();
      }
    } finally {
      await bus.close();
      await late.close();
    }
  });

  it('close while the server is down returns promptly and is idempotent', async () => {
    const port = await freePort();
    const { bus } = await natsBus(`nats://127.0.0.1:${port}`);
    const started = Date.now();
    await bus.close();
    await bus.close();
    expect(Date.now() - started).toBeLessThan(3000);
    await expect(bus.publish('x.y', {})).rejects.toBeInstanceOf(UnavailableError);
  });
});

/** A bare nats-server on a given port (the helper picks its own ports). */
async function startNatsServerOn(port: number): Promise<{ stop(): Promise<void> }> {
  const proc = spawn('nats-server', ['-a', '127.0.0.1', '-p', String(port)], { stdio: 'ignore' });
  const exited = once(proc, 'exit');
  try {
    await waitFor('late server accepting', async () => {
      return new Promise<boolean>((resolve) => {
        const s = tcpConnect(port, '127.0.0.1', () => {
          s.destroy();
          resolve(true);
        });
        s.on('error', () => resolve(false));
      });
    }, { timeoutMs: 15_000, intervalMs: 50 });
  } catch (err) {
    proc.kill('SIGKILL');
    await exited;
    throw err;
  }
  return {
    stop: async () => {
      if (proc.exitCode === null && proc.signalCode === null) {
        proc.kill('SIGTERM');
        await exited;
      }
    },
  };
}

describe('openEventBus with nats:// URLs', () => {
  it('opens a NATS bus without connecting synchronously', async () => {
    const bus = openEventBus('nats://127.0.0.1:1');
    expect(bus).toBeInstanceOf(NatsEventBus);
    await bus.close();
  });

  it('parses servers, default port, credentials; hides credentials in what it shows', () => {
    expect(parseNatsUrl('nats://localhost')).toMatchObject({ servers: ['localhost:4222'], display: 'nats://localhost:4222' });
    expect(parseNatsUrl('nats://a:1,b:2/')).toMatchObject({ servers: ['a:1', 'b:2'] });
    expect(parseNatsUrl('nats://u:p%40ss@h:5')).toMatchObject({ servers: ['h:5'], user: 'u', pass: 'p@ss', display: 'nats://h:5' });
    expect(parseNatsUrl('nats://tok@h')).toMatchObject({ token: 'tok', display: 'nats://h:4222' });
  });

  it('rejects malformed NATS URLs naming the events setting', () => {
    for (const url of ['nats://', 'nats://h:99999', 'nats://h/path', 'nats://h?x=1', 'nats://h:1,', 'nats://bad host']) {
      let caught: unknown;
      try {
        openEventBus(url);
      } catch (err) {
        caught = err;
      }
      expect(caught, url).toBeInstanceOf(ValidationError);
      expect((caught as ValidationError).issues[0]?.field, url).toBe('events');
      expect((caught as ValidationError).message, url).toContain('nats://host');
    }
  });
});
