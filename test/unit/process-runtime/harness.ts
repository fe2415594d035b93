/**
 * Helpers for the process runtime tests: a private data directory per test, specs that run
 * plain shell scripts, and a clean-up that kills — by recorded pid, identity-checked —
 * everything a test started, even when the runtime under test is broken.
 */
import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { ProcessRuntime, type ProcessRuntimeOptions } from '../../../src/adapters/runtime/process/process-runtime.js';
import type { ShimStatus } from '../../../src/adapters/runtime/process/layout.js';
import { isSameProcessAlive, signalGroup, signalProcess } from '../../../src/adapters/runtime/process/proc.js';
import type { ContainerSpec } from '../../../src/ports/runtime.js';

export interface Sandbox {
  readonly dataDir: string;
  readonly instance: string;
  /** Scratch space for markers the scripts write. */
  readonly scratch: string;
  runtime(options?: Partial<ProcessRuntimeOptions>): ProcessRuntime;
  /** Extra pids to kill at clean-up (processes a test started itself). */
  track(pid: number | undefined): void;
  cleanup(): Promise<void>;
}

export function sandbox(): Sandbox {
  const root = mkdtempSync(path.join(tmpdir(), 'berth-process-rt-'));
  const dataDir = path.join(root, 'data');
  const scratch = path.join(root, 'scratch');
  mkdirSync(scratch);
  const instance = `t-${randomBytes(4).toString('hex')}`;
  const runtimes: ProcessRuntime[] = [];
  const extraPids: number[] = [];
  return {
    dataDir,
    instance,
    scratch,
    runtime(options = {}) {
      const runtime = new ProcessRuntime({ dataDir, instance, pollMs: 500, ...options });
      runtimes.push(runtime);
      return runtime;
    },
    track(pid) {
      if (pid !== undefined) extraPids.push(pid);
    },
    async cleanup() {
      for (const runtime of runtimes) await runtime.close();
      for (const status of recordedStatuses(path.join(dataDir, instance))) {
        if (isSameProcessAlive(status.shimPid, status.shimIdentity)) signalProcess(status.shimPid!, 'SIGKILL');
        if (isSameProcessAlive(status.childPid, status.childIdentity)) signalGroup(status.childPid!, 'SIGKILL');
      }
      for (const pid of extraPids) signalProcess(pid, 'SIGKILL');
      rmSync(root, { recursive: true, force: true });
    },
  };
}

/** Every status.json under the instance directory, straight from disk. */
export function recordedStatuses(instanceDir: string): ShimStatus[] {
  let names: string[];
  try {
    names = readdirSync(instanceDir);
  } catch {
    return [];
  }
  const statuses: ShimStatus[] = [];
  for (const name of names) {
    try {
      statuses.push(JSON.parse(readFileSync(path.join(instanceDir, name, 'status.json'), 'utf8')) as ShimStatus);
    } catch {
      // not a container directory
    }
  }
  return statuses;
}

export function readStatus(sb: Sandbox, name: string): ShimStatus {
  return JSON.parse(readFileSync(path.join(sb.dataDir, sb.instance, name, 'status.json'), 'utf8')) as ShimStatus;
}

export function uniqueName(prefix = 'berth-t'): string {
  return `${prefix}-${randomBytes(3).toString('hex')}`;
}

export function shellSpec(name: string, script: string, overrides: Partial<ContainerSpec> = {}): ContainerSpec {
  return {
    name,
    botId: name.replace(/^berth-/, ''),
    kind: 'live',
    specHash: 'spec-1',
    image: 'ignored-by-the-process-runtime',
    env: {},
    restartPolicy: 'always',
    memoryMb: 64,
    cpus: 1,
    pids: 64,
    stopGraceSeconds: 10,
    networkMode: 'none',
    mounts: [],
    command: ['sh', '-c', script],
    ...overrides,
  };
}

export function fileText(file: string): string | undefined {
  try {
    return readFileSync(file, 'utf8');
  } catch {
    return undefined;
  }
}
