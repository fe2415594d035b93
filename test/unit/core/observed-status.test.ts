import { describe, expect, it } from 'vitest';
import { DEFAULT_CRASH_LOOP_POLICY } from '../../../src/core/backoff.js';
import { deriveStatus, sameStatus } from '../../../src/core/observed-status.js';
import type { CrashLoopAction } from '../../../src/core/planner.js';
import type { BotStatus } from '../../../src/domain/status.js';
import type { ActualContainer } from '../../../src/ports/runtime.js';
import { makeBot } from './support/bots.js';

const NOW = new Date('2026-01-01T12:00:00.000Z');
const ago = (ms: number) => new Date(NOW.getTime() - ms).toISOString();
const policy = DEFAULT_CRASH_LOOP_POLICY;
const bot = makeBot('a');

function c(over: Partial<ActualContainer> = {}): ActualContainer {
  return {
    id: 'c1',
    name: 'berth-a',
    botId: 'a',
    kind: 'live',
    specHash: 'h',
    state: 'running',
    restartCount: 0,
    createdAt: ago(1_000),
    startedAt: ago(1_000),
    ...over,
  };
}

function crashLoop(container: ActualContainer, backoffCount = 1): CrashLoopAction {
  return {
    type: 'crash-loop',
    botId: 'a',
    container,
    reason: 'restarted 3 times within 60 s; last exit code 1',
    backoffCount,
    backoffUntil: new Date(NOW.getTime() + 10_000),
  };
}

describe('deriveStatus', () => {
  it('is starting for a container just started and running once seen running', () => {
    const started = deriveStatus('a', undefined, { bot, container: c(), started: true }, NOW, policy);
    expect(started).toMatchObject({ phase: 'starting', containerId: 'c1', restartCount: 0, specHash: 'h' });
    const seen = deriveStatus('a', started!, { bot, container: c() }, NOW, policy);
    expect(seen).toMatchObject({ phase: 'running', containerId: 'c1' });
  });

  it("shows Docker's restarts with the last exit code", () => {
    const s = deriveStatus('a', undefined, { bot, container: c({ restartCount: 2, exitCode: 1, finishedAt: ago(500) }) }, NOW, policy);
    expect(s).toMatchObject({ phase: 'running', restartCount: 2, lastExitCode: 1, lastExitAt: ago(500) });
  });

  it("marks a crash loop with its exit code, reason and back-off, and counts Berth's own restart after it", () => {
    const looping = deriveStatus('a', undefined, { bot, crashLoop: crashLoop(c({ restartCount: 3, exitCode: 1, finishedAt: ago(100) })) }, NOW, policy)!;
    expect(looping).toEqual({
      botId: 'a',
      phase: 'crash-looping',
      restartCount: 3,
      priorRestarts: 3,
      lastExitCode: 1,
      lastExitAt: ago(100),
      lastError: 'restarted 3 times within 60 s; last exit code 1',
      backoffUntil: new Date(NOW.getTime() + 10_000).toISOString(),
      backoffCount: 1,
      specHash: 'h',
      updatedAt: NOW.toISOString(),
    });
    const restarted = deriveStatus('a', looping, { bot, container: c({ id: 'c2' }), started: true }, NOW, policy)!;
    expect(restarted).toMatchObject({ phase: 'starting', containerId: 'c2', restartCount: 4, priorRestarts: 4, backoffCount: 1, lastExitCode: 1 });
    expect(restarted.backoffUntil).toBeUndefined();
    const crashedAgain = deriveStatus('a', restarted, { bot, container: c({ id: 'c2', restartCount: 2, exitCode: 1 }) }, NOW, policy)!;
    expect(crashedAgain.restartCount).toBe(6);
  });

  it('a container killed from outside and replaced: a restart, with its exit code, its runtime restarts kept', () => {
    const running = deriveStatus('a', undefined, { bot, container: c({ restartCount: 2, exitCode: 1, finishedAt: ago(9_000) }) }, NOW, policy)!;
    expect(running.restartCount).toBe(2);
    const killed = c({ state: 'exited', restartCount: 2, exitCode: 137, finishedAt: ago(6_000) });
    const replaced = deriveStatus('a', running, { bot, exited: killed, container: c({ id: 'c2' }), started: true }, NOW, policy)!;
    expect(replaced).toMatchObject({ phase: 'starting', containerId: 'c2', restartCount: 3, priorRestarts: 3, lastExitCode: 137, lastExitAt: ago(6_000) });
    // An exited container of another spec is no restart of this one, nor its exit.
    const redeployed = deriveStatus('a', running, { bot, exited: { ...killed, specHash: 'old' }, container: c({ id: 'c3' }), started: true }, NOW, policy)!;
    expect(redeployed).toMatchObject({ restartCount: 0, lastExitCode: 1 });
  });

  it('clears the back-off once the bot has stayed up, and starts counting afresh for a new spec', () => {
    const prev: BotStatus = {
      botId: 'a', phase: 'running', containerId: 'c2', restartCount: 4, priorRestarts: 4, backoffCount: 2,
      lastError: 'restarted 3 times within 60 s', specHash: 'h', updatedAt: ago(1),
    };
    const up = deriveStatus('a', prev, { bot, container: c({ id: 'c2', startedAt: ago(policy.resetAfterMs) }) }, NOW, policy)!;
    expect(up.backoffCount).toBeUndefined();
    expect(up.lastError).toBeUndefined();
    expect(up.restartCount).toBe(4);
    const newSpec = deriveStatus('a', prev, { bot, container: c({ id: 'c3', specHash: 'h2' }), started: true }, NOW, policy)!;
    expect(newSpec).toMatchObject({ restartCount: 0, priorRestarts: 0, specHash: 'h2' });
    expect(newSpec.backoffCount).toBeUndefined();
  });

  it('keeps the crash-looping status while the back-off runs', () => {
    const looping = deriveStatus('a', undefined, { bot, crashLoop: crashLoop(c({ restartCount: 3, exitCode: 1 })) }, NOW, policy)!;
    const waiting = deriveStatus('a', looping, { bot, wait: 'backoff' }, NOW, policy);
    expect(sameStatus(looping, waiting!)).toBe(true);
  });

  it('is pending with the reason when a start was deferred, failed when it failed', () => {
    expect(deriveStatus('a', undefined, { bot, deferred: 'object store unavailable: start deferred' }, NOW, policy)).toMatchObject({
      phase: 'pending',
      lastError: 'object store unavailable: start deferred',
    });
    expect(deriveStatus('a', undefined, { bot, error: 'no such image' }, NOW, policy)).toMatchObject({ phase: 'failed', lastError: 'no such image' });
  });

  it('is stopped for a disabled bot, keeps its history, and deletes the status of a bot that is gone', () => {
    const prev: BotStatus = { botId: 'a', phase: 'running', containerId: 'c1', restartCount: 2, lastExitCode: 1, specHash: 'h', updatedAt: ago(1) };
    const disabled = { ...bot, enabled: false };
    expect(deriveStatus('a', prev, { bot: disabled }, NOW, policy)).toEqual({
      botId: 'a', phase: 'stopped', restartCount: 2, lastExitCode: 1, updatedAt: NOW.toISOString(),
    });
    expect(deriveStatus('a', prev, { bot: null }, NOW, policy)).toBeNull();
  });

  it("leaves scheduled bots' statuses to their own service", () => {
    const scheduled = makeBot('s', { kind: 'scheduled', schedule: { cron: '@hourly' } });
    expect(deriveStatus('s', undefined, { bot: scheduled }, NOW, policy)).toBeUndefined();
  });
});

describe('sameStatus', () => {
  it('ignores updatedAt and treats absent and null alike', () => {
    const a: BotStatus = { botId: 'a', phase: 'running', restartCount: 0, updatedAt: ago(5) };
    expect(sameStatus(a, { ...a, updatedAt: ago(1) })).toBe(true);
    expect(sameStatus(a, { ...a, lastError: null } as unknown as BotStatus)).toBe(true);
    expect(sameStatus(a, { ...a, phase: 'starting' })).toBe(false);
    expect(sameStatus(a, { ...a, lastError: 'x' })).toBe(false);
    expect(sameStatus(undefined, a)).toBe(false);
  });
});
