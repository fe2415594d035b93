/**
 * Row 1, run in its own process so that its figures are not disturbed by the rest of the
 * benchmark: planLiveBots for 10,000 desired bots against their 10,000 running containers,
 * nothing to change. Prints one JSON line on stdout.
 *
 *   node --expose-gc --import tsx bench/planner.ts time <runs>
 *     time per plan with Node's default heap flags (what `berth serve` runs with);
 *   node --expose-gc --min-semi-space-size=64 --max-semi-space-size=64 --import tsx bench/planner.ts heap
 *     heap: with a young generation large enough that one plan never triggers a GC, the
 *     heapUsed difference across a plan is what it allocated.
 */
import { randomBytes } from 'node:crypto';
import { PerformanceObserver } from 'node:perf_hooks';
import { DEFAULT_CRASH_LOOP_POLICY, recordRestarts, type RestartHistory } from '../src/core/backoff.js';
import { planLiveBots, type DesiredLive, type PlanInput } from '../src/core/planner.js';
import type { BotStatus } from '../src/domain/status.js';
import type { ActualContainer } from '../src/ports/runtime.js';
import { median, percentile } from './lib/stats.js';

const BOTS = 10_000;
const WARMUP = 20;
const MODE = process.argv[2] === 'heap' ? 'heap' : 'time';
const RUNS = Number(process.argv[3] ?? 200);
const HEAP_SAMPLES = 20;

const gc = (globalThis as { gc?: () => void }).gc;
if (!gc) throw new Error('run with --expose-gc');

let gcEvents = 0;
new PerformanceObserver((list) => (gcEvents += list.getEntries().length)).observe({ entryTypes: ['gc'] });
/** GC performance entries arrive asynchronously (after a timer turn, not an immediate). */
const settle = () => new Promise((r) => setTimeout(r, 20));

function heapUsed(): number {
  return process.memoryUsage().heapUsed;
}

/** What a full pass hands the planner when 10,000 healthy bots run: inputs as BotService builds them. */
function buildInput(now: Date): PlanInput {
  const hour = new Date(now.getTime() - 3_600_000).toISOString();
  const desired: DesiredLive[] = [];
  const actual: ActualContainer[] = [];
  const statuses = new Map<string, BotStatus>();
  const restarts = new Map<string, RestartHistory>();
  for (let i = 0; i < BOTS; i++) {
    const botId = `bot-${String(i).padStart(5, '0')}`;
    const specHash = randomBytes(32).toString('hex');
    const container: ActualContainer = {
      id: randomBytes(32).toString('hex'),
      name: `berth-${botId}`,
      botId,
      kind: 'live',
      specHash,
      state: 'running',
      restartCount: 0,
      createdAt: hour,
      startedAt: hour,
    };
    desired.push({ botId, specHash });
    actual.push(container);
    statuses.set(botId, { botId, phase: 'running', containerId: container.id, restartCount: 0, specHash, updatedAt: hour });
    restarts.set(container.id, recordRestarts(undefined, container, now, DEFAULT_CRASH_LOOP_POLICY));
  }
  return { desired, actual, statuses, now, policy: DEFAULT_CRASH_LOOP_POLICY, restarts };
}

async function main(): Promise<void> {
  gc!();
  const baseline = heapUsed();
  const input = buildInput(new Date());
  gc!();
  const inputsBytes = heapUsed() - baseline;
  for (let i = 0; i < WARMUP; i++) planLiveBots(input);
  const result = MODE === 'time' ? await timePlans(input) : await heapOfPlans(input);
  process.stdout.write(`${JSON.stringify({ mode: MODE, bots: BOTS, inputsBytes, ...result })}\n`);
}

async function timePlans(input: PlanInput): Promise<Record<string, number>> {
  const times: number[] = [];
  let actions = 0;
  let changes = 0;
  await settle();
  const gcBefore = gcEvents;
  for (let i = 0; i < RUNS; i++) {
    const began = performance.now();
    const plan = planLiveBots(input);
    times.push(performance.now() - began);
    actions = plan.length;
    changes = plan.filter((a) => a.type !== 'none').length;
  }
  await settle();
  return {
    runs: RUNS,
    medianMs: median(times),
    p99Ms: percentile(times, 99),
    minMs: Math.min(...times),
    maxMs: Math.max(...times),
    actions,
    changes,
    gcDuringTimedRuns: gcEvents - gcBefore,
  };
}

/** Allocated while planning (samples with a GC in between are dropped) and retained by the plan (its action list). */
async function heapOfPlans(input: PlanInput): Promise<Record<string, number | null>> {
  const allocated: number[] = [];
  const retained: number[] = [];
  for (let i = 0; i < HEAP_SAMPLES; i++) {
    gc!();
    await settle();
    const gcMark = gcEvents;
    const before = heapUsed();
    let plan: unknown = planLiveBots(input);
    const after = heapUsed();
    await settle();
    if (gcEvents === gcMark) allocated.push(after - before);
    gc!();
    retained.push(heapUsed() - before);
    plan = undefined;
    void plan;
  }
  return {
    allocatedBytes: allocated.length > 0 ? median(allocated) : null,
    allocatedSamples: allocated.length,
    retainedBytes: median(retained),
    heapUsedBytes: heapUsed(),
  };
}

await main();
