/** Row 1: runs bench/planner.ts in two child processes (timing with default heap flags; heap with a GC-free young generation). */
import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { verdict, type Row } from '../lib/report.js';
import { mib, ms, round } from '../lib/stats.js';

const execFileAsync = promisify(execFile);
const SCRIPT = fileURLToPath(new URL('../planner.ts', import.meta.url));
const GOAL_MS = 20;

async function child(flags: readonly string[], args: readonly string[]): Promise<Record<string, number | null>> {
  const { stdout } = await execFileAsync(process.execPath, [...flags, '--import', 'tsx', SCRIPT, ...args], {
    cwd: fileURLToPath(new URL('../..', import.meta.url)),
    maxBuffer: 1 << 20,
  });
  return JSON.parse(stdout.trim().split('\n').pop()!) as Record<string, number | null>;
}

export async function plannerRow(runs: number): Promise<Row> {
  const time = await child(['--expose-gc'], ['time', String(runs)]);
  const heap = await child(['--expose-gc', '--min-semi-space-size=64', '--max-semi-space-size=64'], ['heap']);
  const medianMs = time.medianMs!;
  const p99Ms = time.p99Ms!;
  const allocated = heap.allocatedBytes;
  return {
    key: 'planner',
    title: '1. planner, 10k desired vs 10k actual, no changes',
    result: `median ${ms(medianMs)}, p99 ${ms(p99Ms)} per plan`,
    sideBySide: `heap: +${allocated == null ? '?' : mib(allocated)} per plan, ${mib(heap.retainedBytes!)} retained`,
    goal: `< ${GOAL_MS} ms`,
    verdict: verdict(medianMs < GOAL_MS),
    details: [
      `${time.runs} timed plans after 20 warm-up plans (min ${ms(time.minMs!)}, max ${ms(time.maxMs!)}); every plan: ${time.actions} actions, ${time.changes} changes; ${time.gcDuringTimedRuns} GCs during the timed plans (default heap flags, as berth serve runs).`,
      `heap (process.memoryUsage().heapUsed, --expose-gc): the 10k-bot inputs (desired, containers, statuses, restart histories) take ${mib(time.inputsBytes!)} after GC; ` +
        `one plan allocates ${allocated == null ? 'n/a' : mib(allocated)} (median of ${heap.allocatedSamples} GC-free samples, young generation raised to 64 MiB so no GC interrupts the count) ` +
        `and retains ${mib(heap.retainedBytes!)} (its action list) after a full GC.`,
      ...(p99Ms >= GOAL_MS ? [`p99 ${ms(p99Ms)} exceeds ${GOAL_MS} ms: the tail comes from GC pauses and other load on the machine (see the load average in the header); the median is the goal figure.`] : []),
    ],
    figures: {
      runs: time.runs,
      medianMs: round(medianMs, 3),
      p99Ms: round(p99Ms, 3),
      minMs: round(time.minMs!, 3),
      maxMs: round(time.maxMs!, 3),
      actions: time.actions,
      changes: time.changes,
      gcDuringTimedRuns: time.gcDuringTimedRuns,
      inputsHeapBytes: time.inputsBytes,
      allocatedPerPlanBytes: allocated,
      allocatedSamples: heap.allocatedSamples,
      retainedPerPlanBytes: heap.retainedBytes,
      goalMs: GOAL_MS,
    },
  };
}
