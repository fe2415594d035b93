// A scheduled bot that counts its runs, standard library only (Node 20, ESM).
//
// Each run is a fresh container: Berth restores the persisted state directory
// ($BERTH_STATE_DIR or $STATE_DIR, /state in a container) before the run starts and saves it
// when the run ends. So the count in state.json continues from run to run and equals the
// number of runs that completed.
//
// config.work_ms (default 0) makes a run take that long; config.forever makes it never end
// (to try maxRuntimeSeconds: the run is stopped and the count of that run is still saved).
import { closeSync, fsyncSync, mkdirSync, openSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import path from 'node:path';

const stateDir = process.env.BERTH_STATE_DIR || process.env.STATE_DIR || '/state';
const stateFile = path.join(stateDir, 'state.json');
const config = JSON.parse(process.env.BOT_CONFIG || '{}');
const botId = process.env.BOT_ID || 'node-scheduled';

function load() {
  try {
    return JSON.parse(readFileSync(stateFile, 'utf8'));
  } catch (err) {
    if (err.code !== 'ENOENT') console.error(`could not read ${stateFile} (${err.message}); starting from 0`);
    return {};
  }
}

function save(state) {
  // Write a temporary file, then rename: a reader (and Berth's sync) never sees half a file.
  mkdirSync(stateDir, { recursive: true });
  const tmp = `${stateFile}.tmp`;
  writeFileSync(tmp, JSON.stringify(state));
  const fd = openSync(tmp, 'r');
  fsyncSync(fd);
  closeSync(fd);
  renameSync(tmp, stateFile);
}

const previous = load();
const runs = (Number(previous.runs) || 0) + 1;
const state = { runs, last_run_at: new Date().toISOString() };

if (config.forever) {
  // Saved at once, so even a run that is stopped for running too long leaves its mark.
  save({ ...state, note: 'this run never ends by itself' });
  console.log(`${botId}: run ${runs} started and will not end by itself`);
  process.on('SIGTERM', () => {
    save({ ...state, stopped: true });
    console.log(`${botId}: run ${runs} stopped (SIGTERM), state saved`);
    process.exit(143);
  });
  setInterval(() => undefined, 1 << 30);
} else {
  const workMs = Number(config.work_ms ?? 0);
  setTimeout(() => {
    save(state);
    console.log(`${botId}: run ${runs} done`);
  }, workMs);
}
