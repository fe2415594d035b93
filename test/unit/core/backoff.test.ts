import { describe, expect, it } from 'vitest';
import {
  backoffDelayMs,
  crashLoopPolicy,
  crashLoopReason,
  DEFAULT_CRASH_LOOP_POLICY,
  hasStayedUp,
  inBackoff,
  nextBackoffCount,
  recordRestarts,
  restartsInWindow,
} from '../../../src/core/backoff.js';
import type { BotStatus } from '../../../src/domain/status.js';
import type { ActualContainer } from '../../../src/ports/runtime.js';

const T0 = Date.parse('2026-01-01T00:00:00.000Z');
const at = (ms: number) => new Date(T0 + ms);
const policy = DEFAULT_CRASH_LOOP_POLICY;

function c(over: Partial<ActualContainer> = {}): ActualContainer {
  return {
    id: 'c1',
    name: 'berth-a',
    botId: 'a',
    kind: 'live',
    specHash: 'h',
    state: 'running',
    restartCount: 0,
    createdAt: at(-3_600_000).toISOString(),
    ...over,
  };
}

describe('backoffDelayMs', () => {
  it('starts at 10 s and doubles up to the 5 min cap by default', () => {
    expect([1, 2, 3, 4, 5, 6, 7, 20].map((n) => backoffDelayMs(n, policy))).toEqual([
      10_000, 20_000, 40_000, 80_000, 160_000, 300_000, 300_000, 300_000,
    ]);
  });

  it('follows a configured policy', () => {
    const p = crashLoopPolicy({ initialBackoffMs: 1_000, backoffMultiplier: 3, maxBackoffMs: 20_000 });
    expect([1, 2, 3, 4].map((n) => backoffDelayMs(n, p))).toEqual([1_000, 3_000, 9_000, 20_000]);
  });

  it('refuses policies that make no sense', () => {
    expect(() => crashLoopPolicy({ restartThreshold: 0 })).toThrow(/restartThreshold/);
    expect(() => crashLoopPolicy({ initialBackoffMs: 10, maxBackoffMs: 5 })).toThrow(/back-off/);
    expect(() => crashLoopPolicy({ backoffMultiplier: 0.5 })).toThrow(/backoffMultiplier/);
  });
});

describe('restart window', () => {
  it('counts restarts seen rising within the window', () => {
    let h = recordRestarts(undefined, c({ restartCount: 2 }), at(0), policy);
    h = recordRestarts(h, c({ restartCount: 3 }), at(10_000), policy);
    h = recordRestarts(h, c({ restartCount: 5 }), at(20_000), policy);
    expect(restartsInWindow(c({ restartCount: 5 }), h, at(20_000), policy)).toBe(3);
  });

  it('forgets restarts once they are older than the window', () => {
    let h = recordRestarts(undefined, c({ restartCount: 0 }), at(0), policy);
    h = recordRestarts(h, c({ restartCount: 4 }), at(5_000), policy);
    // Seen unchanged at 4 from 5 s to 70 s: the window [10 s, 70 s] holds no restart.
    h = recordRestarts(h, c({ restartCount: 4 }), at(70_000), policy);
    expect(restartsInWindow(c({ restartCount: 4 }), h, at(70_000), policy)).toBe(0);
    expect(h.samples).toHaveLength(1);
  });

  it('knows an unchanged count over a long time means no restarts, so later bursts are counted in full', () => {
    let h = recordRestarts(undefined, c({ restartCount: 1 }), at(0), policy);
    h = recordRestarts(h, c({ restartCount: 1 }), at(600_000), policy);
    h = recordRestarts(h, c({ restartCount: 4 }), at(610_000), policy);
    expect(restartsInWindow(c({ restartCount: 4 }), h, at(610_000), policy)).toBe(3);
  });

  it('starts over for a new container or a count that went down', () => {
    const h = recordRestarts(undefined, c({ restartCount: 7 }), at(0), policy);
    expect(recordRestarts(h, c({ id: 'c2', restartCount: 1 }), at(1_000), policy)).toEqual({
      containerId: 'c2',
      samples: [{ count: 1, firstSeen: T0 + 1_000, lastSeen: T0 + 1_000 }],
    });
    expect(recordRestarts(h, c({ restartCount: 2 }), at(1_000), policy).samples).toEqual([
      { count: 2, firstSeen: T0 + 1_000, lastSeen: T0 + 1_000 },
    ]);
  });

  it('counts every restart of a container created within the window, history or not', () => {
    const young = c({ restartCount: 3, createdAt: at(-30_000).toISOString() });
    expect(restartsInWindow(young, undefined, at(0), policy)).toBe(3);
    const old = c({ restartCount: 3, createdAt: at(-61_000).toISOString() });
    expect(restartsInWindow(old, undefined, at(0), policy)).toBe(0);
  });

  it('ignores a history of another container', () => {
    const h = recordRestarts(undefined, c({ id: 'other', restartCount: 0 }), at(0), policy);
    expect(restartsInWindow(c({ restartCount: 9 }), h, at(1_000), policy)).toBe(0);
  });

  it('bounds the history', () => {
    let h = recordRestarts(undefined, c({ restartCount: 0 }), at(0), policy);
    for (let i = 1; i <= 500; i++) h = recordRestarts(h, c({ restartCount: i }), at(i), policy);
    expect(h.samples.length).toBeLessThanOrEqual(64);
  });
});

describe('crashLoopReason', () => {
  it('uses the configured threshold and window', () => {
    const p = crashLoopPolicy({ restartThreshold: 5, windowMs: 10_000 });
    const young = c({ restartCount: 4, createdAt: at(-5_000).toISOString() });
    expect(crashLoopReason(young, undefined, at(0), p)).toBeUndefined();
    expect(crashLoopReason({ ...young, restartCount: 5, exitCode: 3 }, undefined, at(0), p)).toBe(
      'restarted 5 times within 10 s; last exit code 3',
    );
  });

  it('says what an init failure means', () => {
    const c70 = c({ restartCount: 3, exitCode: 70, createdAt: at(-1_000).toISOString(), state: 'restarting' });
    expect(crashLoopReason(c70, undefined, at(0), policy)).toBe(
      'restarted 3 times within 60 s; last exit code 70 (init could not reach the object store)',
    );
  });

  it('calls an exited non-zero container crash-looping, a clean exit not', () => {
    expect(crashLoopReason(c({ state: 'exited', exitCode: 137 }), undefined, at(0), policy)).toBe(
      'exited with exit code 137 (SIGKILL, often out of memory) and was not restarted',
    );
    expect(crashLoopReason(c({ state: 'exited', exitCode: 0 }), undefined, at(0), policy)).toBeUndefined();
    expect(crashLoopReason(c({ state: 'exited', exitCode: 143 }), undefined, at(0), policy)).toBeUndefined();
  });
});

describe('back-off state', () => {
  const status = (over: Partial<BotStatus>): BotStatus => ({
    botId: 'a',
    phase: 'crash-looping',
    restartCount: 3,
    specHash: 'h',
    updatedAt: at(0).toISOString(),
    ...over,
  });

  it('holds starts until backoffUntil, for the same spec only', () => {
    const s = status({ backoffUntil: at(10_000).toISOString(), backoffCount: 1 });
    expect(inBackoff(s, 'h', at(9_999))).toBe(true);
    expect(inBackoff(s, 'h', at(10_000))).toBe(false);
    expect(inBackoff(s, 'other', at(0))).toBe(false);
    expect(inBackoff(undefined, 'h', at(0))).toBe(false);
  });

  it('escalates consecutive loops of one spec and starts over for a new spec', () => {
    expect(nextBackoffCount(status({ backoffCount: 2 }), 'h')).toBe(3);
    expect(nextBackoffCount(status({ backoffCount: 2 }), 'new')).toBe(1);
    expect(nextBackoffCount(undefined, 'h')).toBe(1);
  });

  it('resets once the container has been running for resetAfterMs since its last start', () => {
    const started = at(0).toISOString();
    expect(hasStayedUp(c({ startedAt: started }), at(policy.resetAfterMs - 1), policy)).toBe(false);
    expect(hasStayedUp(c({ startedAt: started }), at(policy.resetAfterMs), policy)).toBe(true);
    expect(hasStayedUp(c({ startedAt: started, state: 'restarting' }), at(policy.resetAfterMs * 2), policy)).toBe(false);
  });
});
