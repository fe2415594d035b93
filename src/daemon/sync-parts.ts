/**
 * What the long-running command (`run`) and the standalone `sync` share: the log shipper,
 * the state sync, and the final sync that drains both.
 */
import type { ObjectStore } from '../ports/objects.js';
import type { BerthLog } from './berth-log.js';
import { LogShipper } from './log-shipper.js';
import type { DaemonSettings } from './settings.js';
import { StateSync, type SyncOutcome } from './state-sync.js';

export interface SyncParts {
  readonly shipper: LogShipper;
  readonly state: StateSync;
  /** Final state sync, then every remaining log line; both retried until the deadline (epoch ms). */
  finish(deadlineMs: number): Promise<{ state: SyncOutcome; logsShipped: boolean }>;
}

export async function startSyncParts(s: DaemonSettings, store: ObjectStore, log: BerthLog): Promise<SyncParts> {
  const shipper = new LogShipper({
    store,
    botId: s.botId,
    runId: s.runId,
    intervalMs: s.logIntervalMs,
    onTrouble: (message) => log.say(message),
  });
  log.attach(shipper);
  shipper.start();
  const state = new StateSync({
    store,
    botId: s.botId,
    stateDir: s.stateDir,
    workDir: s.workDir,
    debounceMs: s.debounceMs,
    maxWaitMs: s.maxWaitMs,
    limits: { maxBytes: s.maxExtractBytes, maxFiles: s.maxExtractFiles },
    log: (line) => log.say(line),
  });
  await state.start();
  return {
    shipper,
    state,
    async finish(deadlineMs) {
      const outcome = await state.finalSync(deadlineMs);
      if (outcome === 'failed' || outcome === 'retry') log.say('final state sync did not complete before the deadline');
      const logsShipped = await shipper.close(deadlineMs);
      return { state: outcome, logsShipped };
    },
  };
}
