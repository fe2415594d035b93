/** How `berth state` and `berth inspect` say that the newest state is not being saved (pure rendering). */
import { describe, expect, it } from 'vitest';
import { inspectText, stateText } from '../../../src/cli/present.js';
import type { BotView, StateSnapshot } from '../../../src/core/queries/index.js';
import type { StateProblem } from '../../../src/domain/state-problem.js';
import { makeBot } from '../core/support/bots.js';

const now = new Date('2026-03-01T12:00:00.000Z');
const invalid: StateProblem = { kind: 'invalid-json', message: 'state.json is not valid JSON (Unexpected end of JSON input)', since: '2026-03-01T11:55:00.000Z' };
const saved: StateSnapshot = {
  botId: 'counter',
  exists: true,
  updatedAt: '2026-03-01T11:50:00.000Z',
  size: 100,
  files: [{ path: 'state.json', size: 9, type: 'file' }],
  stateJson: { n: 41 },
};

describe('berth state', () => {
  it('puts the warning first and says the state shown is the last one saved', () => {
    const lines = stateText({ ...saved, problem: invalid }, now).split('\n');
    expect(lines[0]).toBe(
      '! the newest state is NOT being saved since 2026-03-01T11:55:00.000Z (5m ago): state.json is not valid JSON (Unexpected end of JSON input)',
    );
    expect(lines[1]).toBe('  what follows is the last state that was saved');
    expect(lines[2]).toBe('# counter: 1 file(s), saved 10m ago (2026-03-01T11:50:00.000Z)');
  });

  it('with nothing ever saved, it does not promise that a first save is on the way', () => {
    const text = stateText({ botId: 'big', exists: false, files: [], problem: { ...invalid, kind: 'too-large', message: 'the directory holds more than the 512 MiB allowed' } }, now);
    expect(text).toBe('! the newest state is NOT being saved since 2026-03-01T11:55:00.000Z (5m ago): the directory holds more than the 512 MiB allowed\nbig has no persisted state.\n');
  });

  it('a partial save says the state is saved, but incompletely', () => {
    const partial: StateProblem = { kind: 'partial', message: '1 entry left out: bot.sock (special files (sockets, FIFOs, devices) cannot be packed)', since: invalid.since };
    const lines = stateText({ ...saved, problem: partial }, now).split('\n');
    expect(lines[0]).toBe(`! the newest state is saved incompletely since 2026-03-01T11:55:00.000Z (5m ago): ${partial.message}`);
    expect(lines[1]).toMatch(/^# counter:/);
  });

  it('no problem, no warning', () => {
    expect(stateText(saved, now)).toMatch(/^# counter: 1 file\(s\)/);
  });
});

describe('berth inspect', () => {
  it('has a "state saving" line only when there is a problem', () => {
    const view: BotView = { bot: makeBot('counter'), status: null, state: 'running' };
    expect(inspectText(view, now)).not.toContain('state saving');
    expect(inspectText({ ...view, stateProblem: invalid }, now)).toMatch(
      /^state saving\s+the newest state is NOT being saved since 2026-03-01T11:55:00\.000Z \(5m ago\): state\.json is not valid JSON/m,
    );
  });
});
