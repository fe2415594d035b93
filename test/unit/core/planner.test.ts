import { describe, expect, it } from 'vitest';
import { DEFAULT_CRASH_LOOP_POLICY, recordRestarts, type RestartHistory } from '../../../src/core/backoff.js';
import { planLiveBots, type Action, type DesiredLive, type PlanInput } from '../../../src/core/planner.js';
import type { BotStatus } from '../../../src/domain/status.js';
import type { ActualContainer } from '../../../src/ports/runtime.js';

const NOW = new Date('2026-01-01T12:00:00.000Z');
const ago = (ms: number) => new Date(NOW.getTime() - ms).toISOString();
const policy = DEFAULT_CRASH_LOOP_POLICY;

function container(botId: string, over: Partial<ActualContainer> = {}): ActualContainer {
  return {
    id: `${botId}-c`,
    name: `berth-${botId}`,
    botId,
    kind: 'live',
    specHash: 'h1',
    state: 'running',
    restartCount: 0,
    createdAt: ago(3_600_000),
    startedAt: ago(3_600_000),
    ...over,
  };
}

function plan(input: Partial<PlanInput>): Action[] {
  return planLiveBots({ desired: [], actual: [], statuses: new Map(), now: NOW, policy, ...input });
}

const want = (botId: string, specHash = 'h1'): DesiredLive => ({ botId, specHash });
const summary = (actions: Action[]) =>
  actions.map((a) => {
    switch (a.type) {
      case 'remove':
        return `remove ${a.container.id} ${a.reason}`;
      case 'replace':
        return `replace ${a.old.id} ${a.reason}`;
      case 'crash-loop':
        return `crash-loop ${a.container.id}`;
      case 'start':
        return `start ${a.botId}`;
      case 'none':
        return `none ${a.botId}${a.wait ? ` ${a.wait}` : ''}`;
    }
  });

describe('planLiveBots', () => {
  it('starts a desired bot that has no container', () => {
    expect(plan({ desired: [want('a')] })).toEqual([{ type: 'start', botId: 'a', specHash: 'h1' }]);
  });

  it('leaves a healthy running container with the current spec alone', () => {
    const c = container('a');
    expect(plan({ desired: [want('a')], actual: [c] })).toEqual([{ type: 'none', botId: 'a', container: c }]);
  });

  it('replaces a container whose spec hash differs from the desired one', () => {
    const c = container('a', { specHash: 'old' });
    expect(plan({ desired: [want('a', 'new')], actual: [c] })).toEqual([
      { type: 'replace', botId: 'a', old: c, specHash: 'new', reason: 'spec-changed' },
    ]);
  });

  it('removes containers of bots that are not desired (disabled, deleted or unknown), in every state', () => {
    const running = container('disabled');
    const exited = container('deleted', { state: 'exited', exitCode: 0, finishedAt: ago(60_000) });
    const unknown = container('unknown', { state: 'restarting' });
    expect(summary(plan({ actual: [running, exited, unknown] }))).toEqual([
      'remove disabled-c undesired',
      'remove deleted-c undesired',
      'remove unknown-c undesired',
    ]);
  });

  it('keeps the best of duplicate containers (running with the current spec) and removes the rest', () => {
    const stale = container('a', { id: 'old', name: 'seed-a-1', specHash: 'old' });
    const exited = container('a', { id: 'exited', name: 'seed-a-2', state: 'exited', exitCode: 0 });
    const best = container('a', { id: 'best' });
    const actions = plan({ desired: [want('a')], actual: [stale, exited, best] });
    expect(summary(actions)).toEqual(['remove old duplicate', 'remove exited duplicate', 'none a']);
    expect(actions.at(-1)).toMatchObject({ container: { id: 'best' } });
  });

  it('among duplicates prefers the current spec over a healthier state, and replaces nothing it keeps', () => {
    const oldRunning = container('a', { id: 'old', name: 'x', specHash: 'old' });
    const currentRestarting = container('a', { id: 'cur', state: 'restarting' });
    expect(summary(plan({ desired: [want('a')], actual: [oldRunning, currentRestarting] }))).toEqual([
      'remove old duplicate',
      'none a',
    ]);
  });

  it('among duplicates with the same spec and state keeps the canonically named one, whatever the input order', () => {
    const other = container('a', { id: 'zz', name: 'other' });
    const canonical = container('a', { id: 'aa', name: '/berth-a' });
    for (const actual of [[other, canonical], [canonical, other]]) {
      expect(summary(plan({ desired: [want('a')], actual }))).toEqual(['remove zz duplicate', 'none a']);
    }
  });

  it("the canonical name is the runtime's: an instance's own name wins over the default one, even against the id tie-break", () => {
    const mine = container('a', { id: 'zz', name: '/berth.ci.a' });
    const defaultNamed = container('a', { id: 'aa', name: '/berth-a' });
    const containerName = (botId: string) => `berth.ci.${botId}`;
    for (const actual of [[mine, defaultNamed], [defaultNamed, mine]]) {
      expect(summary(plan({ desired: [want('a')], actual, containerName }))).toEqual(['remove aa duplicate', 'none a']);
    }
  });

  it('removes duplicates of a bot that is not desired too', () => {
    const one = container('gone', { id: 'g1' });
    const two = container('gone', { id: 'g2', name: 'other' });
    expect(summary(plan({ actual: [one, two] }))).toEqual(['remove g1 undesired', 'remove g2 undesired']);
  });

  it('removes a container stuck in created, then starts the bot', () => {
    const c = container('a', { state: 'created', createdAt: ago(policy.createdGraceMs + 1) });
    expect(summary(plan({ desired: [want('a')], actual: [c] }))).toEqual(['remove a-c stuck-created', 'start a']);
  });

  it('gives a just-created container its grace period and asks to look again when it ends', () => {
    const c = container('a', { state: 'created', createdAt: ago(1_000) });
    expect(plan({ desired: [want('a')], actual: [c] })).toEqual([
      { type: 'none', botId: 'a', container: c, wait: 'grace', recheckAt: new Date(NOW.getTime() - 1_000 + policy.createdGraceMs) },
    ]);
  });

  it('removes a dead container, then starts the bot', () => {
    const c = container('a', { state: 'dead' });
    expect(summary(plan({ desired: [want('a')], actual: [c] }))).toEqual(['remove a-c stuck-dead', 'start a']);
  });

  it('replaces a cleanly exited container (0 or SIGTERM) after the exit grace', () => {
    for (const exitCode of [0, 143]) {
      const c = container('a', { state: 'exited', exitCode, finishedAt: ago(policy.exitedGraceMs) });
      expect(summary(plan({ desired: [want('a')], actual: [c] }))).toEqual(['remove a-c exited', 'start a']);
    }
  });

  it('starts a bot again whose container was stopped or killed from outside (docker stop / docker kill), whatever its exit code', () => {
    for (const exitCode of [0, 1, 137, 143]) {
      const c = container('a', { state: 'exited', exitCode, finishedAt: ago(10_000) });
      expect(summary(plan({ desired: [want('a')], actual: [c] }))).toEqual(['remove a-c exited', 'start a']);
    }
  });

  it('waits out the exit grace of a just-exited container (the runtime may still restart it)', () => {
    const c = container('a', { state: 'exited', exitCode: 1, finishedAt: ago(1_000) });
    expect(summary(plan({ desired: [want('a')], actual: [c] }))).toEqual(['none a grace']);
  });

  it('detects a crash loop from restarts seen rising within the window', () => {
    const c0 = container('a', { restartCount: 5 });
    let history: RestartHistory = recordRestarts(undefined, c0, new Date(NOW.getTime() - 30_000), policy);
    const c1 = container('a', { restartCount: 8, exitCode: 1, state: 'restarting' });
    history = recordRestarts(history, c1, NOW, policy);
    const [action] = plan({ desired: [want('a')], actual: [c1], restarts: new Map([[c1.id, history]]) });
    expect(action).toMatchObject({ type: 'crash-loop', botId: 'a' });
    expect(action?.type === 'crash-loop' && action.reason).toBe('restarted 3 times within 60 s; last exit code 1');
  });

  it('does not call restarts spread over a longer time a crash loop', () => {
    const c0 = container('a', { restartCount: 5 });
    let history = recordRestarts(undefined, c0, new Date(NOW.getTime() - 90_000), policy);
    const c1 = container('a', { restartCount: 6 });
    history = recordRestarts(history, c1, new Date(NOW.getTime() - 45_000), policy);
    const c2 = container('a', { restartCount: 8 });
    history = recordRestarts(history, c2, NOW, policy);
    expect(summary(plan({ desired: [want('a')], actual: [c2], restarts: new Map([[c2.id, history]]) }))).toEqual(['none a']);
  });

  it('detects a crash loop of a young container from its restart count alone (no history yet)', () => {
    const young = container('a', { restartCount: 3, createdAt: ago(20_000), state: 'restarting' });
    expect(summary(plan({ desired: [want('a')], actual: [young] }))).toEqual(['crash-loop a-c']);
    const old = container('a', { restartCount: 30, createdAt: ago(3_600_000) });
    expect(summary(plan({ desired: [want('a')], actual: [old] }))).toEqual(['none a']);
  });

  it('does not start a bot in crash-loop back-off until the back-off ends, and asks to look again then', () => {
    const until = new Date(NOW.getTime() + 20_000);
    const status = crashStatus('a', 'h1', until);
    expect(plan({ desired: [want('a')], statuses: new Map([['a', status]]) })).toEqual([
      { type: 'none', botId: 'a', wait: 'backoff', recheckAt: until },
    ]);
    const later = new Date(until.getTime());
    expect(summary(planLiveBots({ desired: [want('a')], actual: [], statuses: new Map([['a', status]]), now: later, policy }))).toEqual([
      'start a',
    ]);
  });

  it('starts a bot in back-off at once when its spec changed (new code may fix the crash)', () => {
    const status = crashStatus('a', 'old', new Date(NOW.getTime() + 60_000));
    expect(summary(plan({ desired: [want('a', 'new')], statuses: new Map([['a', status]]) }))).toEqual(['start a']);
  });

  it('respects back-off for the start that follows removing a stuck container', () => {
    const status = crashStatus('a', 'h1', new Date(NOW.getTime() + 60_000));
    const c = container('a', { state: 'dead' });
    expect(summary(plan({ desired: [want('a')], actual: [c], statuses: new Map([['a', status]]) }))).toEqual([
      'remove a-c stuck-dead',
      'none a backoff',
    ]);
  });

  it('escalates the back-off of consecutive crash loops of one spec, up to the cap', () => {
    const c = container('a', { restartCount: 9, exitCode: 2, state: 'restarting', createdAt: ago(5_000) });
    const delays = [1, 2, 3, 4, 5, 6, 7, 8].map((previous) => {
      const status = { ...crashStatus('a', 'h1', new Date(0)), backoffCount: previous };
      const [action] = plan({ desired: [want('a')], actual: [c], statuses: new Map([['a', status]]) });
      return action?.type === 'crash-loop' ? action.backoffUntil.getTime() - NOW.getTime() : undefined;
    });
    expect(delays).toEqual([20_000, 40_000, 80_000, 160_000, 300_000, 300_000, 300_000, 300_000]);
  });

  it('replaces on spec change even while the old container crash-loops', () => {
    const c = container('a', { specHash: 'old', restartCount: 9, createdAt: ago(5_000), state: 'restarting' });
    expect(summary(plan({ desired: [want('a', 'new')], actual: [c] }))).toEqual(['replace a-c spec-changed']);
  });

  it('waits while the only container of a bot is being removed, and ignores it next to a healthy one', () => {
    const removing = container('a', { id: 'r', state: 'removing' });
    expect(summary(plan({ desired: [want('a')], actual: [removing] }))).toEqual(['none a removing']);
    const healthy = container('a', { id: 'h', name: 'x' });
    expect(summary(plan({ desired: [want('a')], actual: [removing, healthy] }))).toEqual(['none a']);
    expect(summary(plan({ actual: [removing] }))).toEqual(['none a removing']);
  });

  it('never touches scheduled-run containers', () => {
    const run = container('s', { kind: 'scheduled', runId: 'r1' });
    expect(plan({ actual: [run] })).toEqual([]);
  });

  it('plans 10,000 unchanged bots as 10,000 no-ops, linear in size', () => {
    const desired: DesiredLive[] = [];
    const actual: ActualContainer[] = [];
    for (let i = 0; i < 10_000; i++) {
      desired.push(want(`bot-${i}`));
      actual.push(container(`bot-${i}`));
    }
    const actions = plan({ desired, actual });
    expect(actions).toHaveLength(10_000);
    expect(actions.every((a) => a.type === 'none')).toBe(true);
  });
});

function crashStatus(botId: string, specHash: string, until: Date): BotStatus {
  return {
    botId,
    phase: 'crash-looping',
    restartCount: 3,
    lastExitCode: 1,
    backoffUntil: until.toISOString(),
    backoffCount: 1,
    specHash,
    updatedAt: NOW.toISOString(),
  };
}
