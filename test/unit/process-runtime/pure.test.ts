/**
 * The process runtime's pure parts: restart back-off, event derivation from status
 * snapshots, and the capped, rotated output log with its tail.
 */
import { existsSync, mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { nextRestartDelay } from '../../../src/adapters/runtime/process/backoff.js';
import { eventsBetween, type Snapshot } from '../../../src/adapters/runtime/process/events.js';
import { DOCKER_BACKOFF, containerNameOfEntry, statusTempName } from '../../../src/adapters/runtime/process/layout.js';
import { exitCodeOf } from '../../../src/adapters/runtime/process/proc.js';
import { RotatingLog } from '../../../src/adapters/runtime/process/rotating-log.js';
import { tailLines } from '../../../src/adapters/runtime/process/tail.js';

describe('nextRestartDelay', () => {
  it("doubles from 100 ms up to a minute, like Docker's restart manager", () => {
    const delays: number[] = [];
    let delay: number | undefined;
    for (let i = 0; i < 12; i++) {
      delay = nextRestartDelay(delay, 50, DOCKER_BACKOFF);
      delays.push(delay);
    }
    expect(delays).toEqual([100, 200, 400, 800, 1600, 3200, 6400, 12800, 25600, 51200, 60000, 60000]);
  });

  it('starts over after a child ran at least 10 s', () => {
    expect(nextRestartDelay(51_200, 9_999, DOCKER_BACKOFF)).toBe(60_000);
    expect(nextRestartDelay(51_200, 10_000, DOCKER_BACKOFF)).toBe(100);
  });
});

describe('eventsBetween', () => {
  const base: Snapshot = { id: 'c1', botId: 'b', kind: 'live', state: 'running', restartCount: 0, startedAt: 't1', stopRequested: false };
  const types = (prev: Snapshot | undefined, next: Snapshot | undefined): string[] => eventsBetween(prev, next, 'now').map((e) => e.type);

  it('reports a new running container as started, and nothing for no change', () => {
    expect(types(undefined, base)).toEqual(['start']);
    expect(types(base, base)).toEqual([]);
  });

  it('reports a crash and a restart seen in one observation in the order they happened', () => {
    const restarted: Snapshot = { ...base, startedAt: 't3', finishedAt: 't2', exitCode: 3, restartCount: 1 };
    const events = eventsBetween(base, restarted, 'now');
    expect(events.map((e) => e.type)).toEqual(['die', 'restart', 'start']);
    expect(events[0]).toMatchObject({ exitCode: 3, at: 't2' });
  });

  it('reports a stop after the die, and a removal as destroy', () => {
    const stopped: Snapshot = { ...base, state: 'exited', finishedAt: 't2', exitCode: 143, stopRequested: true };
    expect(types(base, stopped)).toEqual(['die', 'stop']);
    expect(types(stopped, undefined)).toEqual(['destroy']);
    expect(types(base, undefined)).toEqual(['die', 'destroy']);
  });

  it('reports a lost shim as a die with exit code 255', () => {
    const events = eventsBetween(base, { ...base, state: 'dead' }, 'now');
    expect(events).toEqual([expect.objectContaining({ type: 'die', exitCode: 255 })]);
  });

  it('tells a removed-and-recreated container apart by id', () => {
    expect(types(base, { ...base, id: 'c2', startedAt: 't9' })).toEqual(['die', 'destroy', 'start']);
  });
});

describe('status temp names', () => {
  it('map back to their container, and nothing else does', () => {
    expect(containerNameOfEntry(statusTempName('berth-a'))).toBe('berth-a');
    expect(containerNameOfEntry('berth-a')).toBe('berth-a');
    expect(containerNameOfEntry('.creating-berth-a-1234')).toBeUndefined();
    expect(containerNameOfEntry(statusTempName('.creating-berth-a-1234'))).toBeUndefined();
  });
});

describe('exitCodeOf', () => {
  it('uses 128 + signal number for a signal death', () => {
    expect(exitCodeOf(3, null)).toBe(3);
    expect(exitCodeOf(null, 'SIGKILL')).toBe(137);
    expect(exitCodeOf(null, 'SIGTERM')).toBe(143);
  });
});

describe('RotatingLog and tailLines', () => {
  let dir: string | undefined;
  afterEach(() => {
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('caps each file, keeps at most maxFiles, and tails across rotated files in order', async () => {
    dir = mkdtempSync(path.join(tmpdir(), 'berth-rotating-'));
    const file = path.join(dir, 'output.log');
    const log = new RotatingLog(file, 100, 3);
    for (let i = 0; i < 100; i++) log.write(`line ${String(i).padStart(3, '0')}\n`); // 9 bytes each
    log.close();

    for (const f of [file, `${file}.1`, `${file}.2`]) expect(statSync(f).size).toBeLessThanOrEqual(100);
    expect(existsSync(`${file}.3`)).toBe(false);
    expect(await tailLines(file, 3, 3)).toEqual(['line 097', 'line 098', 'line 099']);
    const last15 = await tailLines(file, 3, 15);
    expect(last15).toEqual(Array.from({ length: 15 }, (_, i) => `line ${String(85 + i).padStart(3, '0')}`));
    expect(await tailLines(path.join(dir, 'missing.log'), 3, 5)).toEqual([]);
  });

  it('tails a long file without reading all of it and keeps a last line without newline', async () => {
    dir = mkdtempSync(path.join(tmpdir(), 'berth-rotating-'));
    const file = path.join(dir, 'output.log');
    const log = new RotatingLog(file, 10 * 1024 * 1024, 3);
    for (let i = 0; i < 20_000; i++) log.write(`${'x'.repeat(40)} ${i}\n`);
    log.write('partial');
    log.close();
    expect(await tailLines(file, 3, 2)).toEqual([`${'x'.repeat(40)} 19999`, 'partial']);
  });
});
