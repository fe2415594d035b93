/**
 * LogShipper against the real filesystem object store, including a real failure (the
 * store's logs directory replaced by a file) and recovery: no line lost, none duplicated,
 * every chunk a new key.
 */
import { mkdtemp, rm, writeFile, mkdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, expect, it } from 'vitest';
import { FsObjectStore } from '../../../src/adapters/objects/fs/fs-object-store.js';
import { LogShipper } from '../../../src/daemon/log-shipper.js';
import { parseLogChunk } from '../../../src/domain/logs.js';

let root: string;
let store: FsObjectStore;
beforeEach(async () => {
  root = await mkdtemp(path.join(tmpdir(), 'berth-shipper-'));
  store = new FsObjectStore(path.join(root, 'objects'));
  await store.init();
});
afterEach(async () => {
  await store.close();
  await rm(root, { recursive: true, force: true });
});

async function shipped(botId: string): Promise<{ keys: string[]; lines: string[] }> {
  const keys: string[] = [];
  const lines: string[] = [];
  for await (const info of store.list(`logs/${botId}/`)) {
    keys.push(info.key);
    lines.push(...parseLogChunk((await store.get(info.key))!.toString('utf8')).map((e) => `${e.stream}:${e.line}`));
  }
  return { keys, lines };
}

it('keeps lines while the store fails and ships each exactly once after it recovers', async () => {
  const troubles: string[] = [];
  const shipper = new LogShipper({ store, botId: 'b', intervalMs: 1000, onTrouble: (m) => troubles.push(m) });
  shipper.push('out', 'one');
  expect(await shipper.flush()).toBe(true);

  // Break the store for real: a file where the bot's logs directory must be.
  await rm(path.join(root, 'objects/logs/b'), { recursive: true });
  await writeFile(path.join(root, 'objects/logs/b'), 'in the way');
  shipper.push('out', 'two');
  shipper.push('err', 'three');
  expect(await shipper.flush()).toBe(false);
  expect(troubles[0]).toMatch(/log shipping failed, will retry/);

  await rm(path.join(root, 'objects/logs/b'));
  await mkdir(path.join(root, 'objects/logs/b'));
  shipper.push('out', 'four');
  expect(await shipper.close(Date.now() + 5000)).toBe(true);
  expect(troubles[1]).toBe('log shipping works again');

  const { keys, lines } = await shipped('b');
  expect(lines).toEqual(['out:two', 'err:three', 'out:four']); // "one" went into the removed directory
  expect(new Set(keys).size).toBe(keys.length);
  expect([...keys].sort()).toEqual(keys);
});

it('close() gives up at the deadline when the store stays down', async () => {
  const shipper = new LogShipper({ store, botId: 'c', intervalMs: 1000 });
  await writeFile(path.join(root, 'objects/logs'), 'in the way').catch(async () => {
    await rm(path.join(root, 'objects/logs'), { recursive: true, force: true });
    await writeFile(path.join(root, 'objects/logs'), 'in the way');
  });
  shipper.push('out', 'lost');
  const started = Date.now();
  expect(await shipper.close(Date.now() + 1500)).toBe(false);
  expect(Date.now() - started).toBeLessThan(4000);
});

it('rate-limits the bot lines (token bucket on an injected clock): over the rate they are dropped, counted in one berth line; daemon lines always pass', async () => {
  let now = 1_000_000;
  const clock = { now: () => now, setTimeout: () => 0, clearTimeout: () => undefined };
  const shipper = new LogShipper({ store, botId: 'chatty', intervalMs: 1000, clock, rate: { bytesPerSecond: 100, burstBytes: 300 } });
  const line = 'x'.repeat(99); // 100 bytes with its newline
  for (let i = 0; i < 5; i++) shipper.push('out', line); // the burst holds 3
  shipper.push('berth', 'daemon line');
  now += 1000; // refills 100 bytes: one more line
  shipper.push('out', line);
  shipper.push('out', line);
  expect(await shipper.flush()).toBe(true);
  const { lines } = await shipped('chatty');
  expect(lines.filter((l) => l === `out:${line}`)).toHaveLength(4);
  expect(lines).toContain('berth:daemon line');
  const note = lines.filter((l) => l.startsWith('berth:') && l.includes('were not stored'));
  expect(note).toEqual(['berth:3 log lines (300 bytes) were not stored: the bot logged more than 100 bytes/s (bursts up to 300); `docker logs` still has the most recent ones']);
  // The count starts again after it was reported.
  now += 10_000;
  shipper.push('out', 'later');
  expect(await shipper.flush()).toBe(true);
  expect((await shipped('chatty')).lines.filter((l) => l.includes('were not stored'))).toHaveLength(1);
  await shipper.close(now);
});
