/**
 * Row 2: one full reconcile pass (BotService.reconcileAll on the real DockerRuntime, the
 * SQLite store, the fs object store and the in-process bus) over the 100 running bot
 * containers of row 5, nothing to change, alternating with the `docker ps` a person would
 * type to see the same containers.
 *
 * The fleet is 100 real bots deployed through `berth serve`, which is then stopped (bots
 * keep running, as designed); a BotService in this process adopts them from the same data
 * directory. Real bots rather than look-alike `sleep` containers: the spec hashes on the
 * labels are the ones the planner computes, so "no changes" is a fact of the run, checked
 * on every pass, not an assumption of the benchmark.
 */
import { join } from 'node:path';
import { openEventBus } from '../../src/adapters/events/open.js';
import { openObjectStore } from '../../src/adapters/objects/open.js';
import { DockerRuntime } from '../../src/adapters/runtime/docker/index.js';
import { openStore } from '../../src/adapters/store/open.js';
import { BotService, type PassInfo } from '../../src/core/bot-service.js';
import { LABELS } from '../../src/ports/runtime.js';
import { timeCommand } from '../lib/docker.js';
import { verdict, type Row } from '../lib/report.js';
import { median, ms, percentile, ratio, round } from '../lib/stats.js';
import type { DockerBench } from './context.js';
import type { Fleet } from './memory.js';

const GOAL_RATIO = 1.5;
const WARMUP = 3;
const PS_ARGS = ['ps', '-a', '--filter', `label=${LABELS.managed}=true`];

async function timeDockerPs(): Promise<{ ms: number; rows: number }> {
  const run = await timeCommand('docker', PS_ARGS);
  if (run.code !== 0) throw new Error(`docker ps failed (${run.code}): ${run.stderr.trim()}`);
  return { ms: run.ms, rows: run.stdout.trim().split('\n').length - 1 };
}

function isNoChange(pass: PassInfo, bots: number): boolean {
  const a = pass.actions;
  return pass.desired === bots && pass.actual === bots && a.none === bots && a.start + a.replace + a.remove + a['crash-loop'] === 0 &&
    pass.botsActedOn === 0 && pass.statusWrites === 0 && pass.errors === 0;
}

export async function reconcileRow(ctx: DockerBench, fleet: Fleet, pairs: number): Promise<Row> {
  ctx.say(`reconcile: stopping berth serve (bots keep running), adopting the ${fleet.ids.length} bots in-process, then ${pairs} passes alternating with ${pairs} docker ps`);
  await ctx.serve.stop('SIGTERM');
  const store = openStore(`sqlite:${join(ctx.dataDir, 'berth.db')}`);
  const objects = openObjectStore(`file:${join(ctx.dataDir, 'objects')}`);
  const events = openEventBus('memory:');
  const runtime = new DockerRuntime({ instance: ctx.instance, docker: ctx.docker });
  const service = new BotService({ store, objects, events, runtime, image: ctx.image, networkMode: 'none', intervalMs: 3_600_000, graceSeconds: 2 });
  const close = ctx.cleanup.add('services', 'in-process BotService', async () => {
    await service.stop({ drainTimeoutMs: 10_000 });
    await runtime.close();
    await events.close();
    await objects.close();
    await store.close();
  });
  try {
    await store.init();
    await objects.init();
    await service.start(); // the first pass: adoption, every container inspected
    const adoption = service.lastPass;
    for (let i = 0; i < WARMUP; i++) {
      await service.reconcileAll();
      await timeDockerPs();
    }
    const passMs: number[] = [];
    const psMs: number[] = [];
    const passes: PassInfo[] = [];
    let psRows = 0;
    const timePass = async () => {
      const began = performance.now();
      passes.push(await service.reconcileAll());
      passMs.push(performance.now() - began);
    };
    const timePs = async () => {
      const ps = await timeDockerPs();
      psMs.push(ps.ms);
      psRows = ps.rows;
    };
    for (let i = 0; i < pairs; i++) {
      if (i % 2 === 0) {
        await timePass();
        await timePs();
      } else {
        await timePs();
        await timePass();
      }
    }
    const bots = fleet.ids.length;
    const unchanged = passes.filter((p) => isNoChange(p, bots)).length;
    const pass = median(passMs);
    const ps = median(psMs);
    const r = pass / ps;
    return {
      key: 'reconcile',
      title: '2. full reconcile pass, 100 running bots, no changes',
      result: `median ${ms(pass)}, p99 ${ms(percentile(passMs, 99))} (n=${pairs})`,
      sideBySide: `docker ps -a --filter …: median ${ms(ps)} (n=${pairs}); ratio ${ratio(r)}`,
      goal: `ratio ≤ ${GOAL_RATIO}`,
      verdict: verdict(r <= GOAL_RATIO && unchanged === passes.length),
      details: [
        `BotService.reconcileAll() timed around the call (store.listBots + listStatuses, runtime list with cached inspects, object-store ping, planner, status diff); ` +
          `\`docker ${PS_ARGS.join(' ')}\` timed from spawn to exit (it listed ${psRows} containers: the benchmark's ${bots} plus any other Berth containers on this Engine). ${WARMUP} warm-ups each, then alternating.`,
        `no changes: ${unchanged} of ${passes.length} measured passes had ${bots} desired, ${bots} containers, only "none" actions, 0 bots acted on, 0 status writes, 0 errors.`,
        `the adoption pass at start (a freshly started service, every container inspected once): ${adoption ? ms(adoption.durationMs) : 'n/a'}, ` +
          `${adoption ? `${adoption.botsActedOn} bots acted on, ${adoption.statusWrites} status writes` : ''}.`,
      ],
      figures: {
        bots,
        pairs,
        passMedianMs: round(pass, 2),
        passP99Ms: round(percentile(passMs, 99), 2),
        dockerPsMedianMs: round(ps, 2),
        ratio: round(r, 2),
        goalRatio: GOAL_RATIO,
        dockerPsRows: psRows,
        unchangedPasses: unchanged,
        adoptionPassMs: adoption ? round(adoption.durationMs, 1) : null,
        passesMs: passMs.map((v) => round(v, 2)),
        dockerPsMs: psMs.map((v) => round(v, 2)),
      },
    };
  } finally {
    await close();
  }
}
