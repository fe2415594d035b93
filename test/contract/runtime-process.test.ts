/**
 * The runtime conformance suite against the process runtime (local processes, the
 * development fallback). Clean-up kills by recorded pid whatever a broken runtime might
 * have left running.
 */
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { ProcessRuntime } from '../../src/adapters/runtime/process/process-runtime.js';
import { isSameProcessAlive, signalGroup, signalProcess } from '../../src/adapters/runtime/process/proc.js';
import type { ContainerRuntime } from '../../src/ports/runtime.js';
import { recordedStatuses } from '../unit/process-runtime/harness.js';
import { runtimeContract, type RuntimeHarness } from './runtime.contract.js';

async function makeHarness(): Promise<RuntimeHarness> {
  const dataDir = await mkdtemp(path.join(tmpdir(), 'berth-rt-process-'));
  const instance = `test-rt-${randomBytes(4).toString('hex')}`;
  const open = (): ProcessRuntime => new ProcessRuntime({ dataDir, instance, pollMs: 500 });
  const runtime = open();
  const opened: ContainerRuntime[] = [runtime];
  return {
    runtime,
    image: 'ignored-by-the-process-runtime',
    command: (script) => ['sh', '-c', script],
    reopen: async () => {
      const again = open();
      opened.push(again);
      return again;
    },
    cleanup: async () => {
      for (const c of await runtime.list({})) await runtime.remove(c.id);
      for (const r of opened) await r.close();
      for (const status of recordedStatuses(path.join(dataDir, instance))) {
        if (isSameProcessAlive(status.shimPid, status.shimIdentity)) signalProcess(status.shimPid!, 'SIGKILL');
        if (isSameProcessAlive(status.childPid, status.childIdentity)) signalGroup(status.childPid!, 'SIGKILL');
      }
      await rm(dataDir, { recursive: true, force: true });
    },
  };
}

runtimeContract('process', makeHarness);
