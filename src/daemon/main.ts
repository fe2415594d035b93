/**
 * berth-daemon: the in-container daemon (DESIGN §6), bundled into one file by
 * scripts/bundle-daemon.mjs and run by the image's Node.
 *
 *   berth-daemon init   code + state download, safe extraction, generated entrypoint
 *   berth-daemon run    the long-running command: runs the bot and syncs state and logs
 *   berth-daemon start  init, then run, in one process (what bootstrap.sh execs): one Node
 *                       start less on every container start
 *   berth-daemon sync   sync only (sidecar): until the done file appears or SIGTERM
 *
 * Settings come only from the BERTH_DAEMON_* environment (src/domain/daemon-contract.ts).
 * Failures print one line on stderr and, when the store can be reached, a `berth` log entry.
 */
import { INIT_EXIT } from '../domain/daemon-contract.js';
import { errorMessage } from '../domain/errors.js';
import type { ObjectStore } from '../ports/objects.js';
import { BerthLog } from './berth-log.js';
import { DaemonFailure } from './failure.js';
import { runInit } from './init.js';
import { LogShipper } from './log-shipper.js';
import { readSettings, type DaemonSettings } from './settings.js';
import { openDaemonStore } from './store.js';
import { runSupervised } from './supervise.js';
import { runSyncOnly } from './sync-command.js';

const USAGE = 'usage: berth-daemon init|run|sync|start';
/** How long init waits to get its failure line into the logs before it exits anyway. */
const INIT_LOG_TIMEOUT_MS = 5000;

async function withSettings(needCode: boolean): Promise<{ s: DaemonSettings; store: ObjectStore }> {
  try {
    const s = readSettings(process.env, { needCode });
    return { s, store: await openDaemonStore(s.objects) };
  } catch (err) {
    throw err instanceof DaemonFailure ? err : new DaemonFailure(INIT_EXIT.badSettings, errorMessage(err), { cause: err });
  }
}

async function init(log: BerthLog): Promise<number> {
  let shipper: LogShipper | undefined;
  try {
    const { s, store } = await withSettings(true);
    shipper = new LogShipper({ store, botId: s.botId, runId: s.runId, intervalMs: 1000 });
    log.attach(shipper);
    await runInit(s, store, log);
    await shipper.close(Date.now() + INIT_LOG_TIMEOUT_MS);
    return 0;
  } catch (err) {
    const failure = err instanceof DaemonFailure ? err : new DaemonFailure(1, `init failed: ${errorMessage(err)}`, { cause: err });
    log.say(failure.message);
    if (shipper) await shipper.close(Date.now() + (failure.exitCode === INIT_EXIT.objectStoreUnavailable ? 0 : INIT_LOG_TIMEOUT_MS));
    return failure.exitCode;
  }
}

async function longRunning(command: 'run' | 'sync', log: BerthLog): Promise<number> {
  try {
    const { s, store } = await withSettings(false);
    return command === 'run' ? await runSupervised(s, store, log) : await runSyncOnly(s, store, log);
  } catch (err) {
    const failure = err instanceof DaemonFailure ? err : new DaemonFailure(1, `${command} failed: ${errorMessage(err)}`, { cause: err });
    log.say(failure.message);
    return failure.exitCode;
  }
}

async function main(argv: readonly string[]): Promise<number> {
  const log = new BerthLog();
  process.on('uncaughtException', (err) => {
    log.say(`daemon error: ${err.stack ?? err.message}`);
    process.exit(1);
  });
  switch (argv[0]) {
    case 'init':
      return init(log);
    case 'run':
    case 'sync':
      return longRunning(argv[0], log);
    case 'start': {
      const initialized = await init(log);
      return initialized === 0 ? longRunning('run', log) : initialized;
    }
    default:
      process.stderr.write(`${USAGE}\n`);
      return 64;
  }
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (err: unknown) => {
    process.stderr.write(`[berth] ${errorMessage(err)}\n`);
    process.exit(1);
  },
);
