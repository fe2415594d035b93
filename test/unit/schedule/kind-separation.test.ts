/**
 * The live-bot service never touches scheduled containers and the scheduler never touches
 * live ones (DESIGN §10: "the live-bot loop stopped the scheduler's containers"). Both
 * services run on one in-memory runtime (support/run-runtime.ts), the real SQLite store and
 * an injected clock; every stop and remove is checked against the `berth.kind` of its target.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { BotService } from '../../../src/core/bot-service.js';
import { makeBot } from '../core/support/bots.js';
import { IMAGE, scheduledBot, world, type World } from './support/harness.js';

const worlds: World[] = [];
afterEach(async () => {
  for (const w of worlds.splice(0)) await w.cleanup();
});

function touched(w: World): { stops: string[]; removes: string[] } {
  return { stops: [...w.runtime.stops], removes: [...w.runtime.removes] };
}

describe('berth.kind separates the two services', () => {
  it('BotService leaves scheduled run containers alone, even of a bot it knows as live', async () => {
    const w = await world();
    worlds.push(w);
    await w.put(makeBot('live-a'));
    await w.put(scheduledBot('sched-a', { cron: '0 0 1 1 *' }));
    // A running run of the scheduled bot, an exited one, and a scheduled container carrying
    // the id of a live bot (left from before its kind changed): none is the live loop's.
    const now = w.clock.now().toISOString();
    for (const [id, botId, state] of [
      ['r1', 'sched-a', 'running'],
      ['r2', 'sched-a', 'exited'],
      ['r3', 'live-a', 'running'],
    ] as const) {
      w.runtime.add({ id, name: `berth-${botId}-${id}`, botId, kind: 'scheduled', runId: id, specHash: 'x', state, output: [], createdAt: now, ...(state === 'exited' ? { exitCode: 0 } : {}) });
    }
    const bots = new BotService({ store: w.store, objects: w.objects, events: w.events, runtime: w.runtime, clock: w.clock, image: IMAGE, networkMode: 'none' });
    try {
      await bots.start();
      await bots.reconcileAll();
      await w.put(makeBot('sched-b', { kind: 'scheduled', schedule: { cron: '@hourly' } }));
      await bots.reconcileBot('sched-a');
      await bots.reconcileBot('live-a');
      await bots.idle();
      const liveIds = new Set([...w.runtime.containers.values()].filter((c) => c.kind === 'live').map((c) => c.id));
      const { stops, removes } = touched(w);
      expect([...stops, ...removes].filter((id) => !liveIds.has(id))).toEqual([]);
      expect(['r1', 'r2', 'r3'].every((id) => w.runtime.containers.has(id))).toBe(true);
      // It did start the live bot, so it was really at work.
      expect(w.runtime.starts.map((s) => s.name)).toEqual(['berth-live-a']);
    } finally {
      await bots.stop();
    }
  });

  it('ScheduleService leaves live containers alone, even one carrying a scheduled bot id', async () => {
    const w = await world();
    worlds.push(w);
    await w.put(scheduledBot('sched-x', { cron: '* * * * *', overlap: 'replace', maxRuntimeSeconds: 5 }));
    const now = w.clock.now().toISOString();
    // A live container of the scheduled bot's id (left from before its kind changed), and an exited one.
    w.runtime.add({ id: 'l1', name: 'berth-sched-x', botId: 'sched-x', kind: 'live', specHash: 'x', state: 'running', output: [], createdAt: now });
    w.runtime.add({ id: 'l2', name: 'berth-other', botId: 'other', kind: 'live', specHash: 'x', state: 'exited', exitCode: 1, output: [], createdAt: now });
    w.runtime.behaviour = (spec) => (spec.kind === 'scheduled' ? {} : { afterMs: 0 });
    const s = w.service();
    await s.start();
    await w.advance(30_000); // a run starts
    await w.advance(60_000); // replace: the run is stopped, a new one starts; the 5 s time-out fired before
    await w.drained();
    await s.runNow('sched-x');
    await w.remove('sched-x'); // deletion stops the bot's runs
    await w.settle();
    await w.drained();
    const { stops, removes } = touched(w);
    expect(stops.length + removes.length).toBeGreaterThan(0);
    expect([...stops, ...removes].filter((id) => id === 'l1' || id === 'l2')).toEqual([]);
    expect(w.runtime.containers.get('l1')?.state).toBe('running');
    expect(w.runtime.containers.has('l2')).toBe(true);
  });
});
