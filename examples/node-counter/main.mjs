// A live bot that counts, standard library only (Node 20, ESM).
//
// Its state is one JSON file, state.json, in the directory Berth persists
// ($BERTH_STATE_DIR or $STATE_DIR, /state in a container). Berth restores that directory
// before the bot starts, so the count continues after a crash, restart or new version.
import { mkdirSync, readFileSync, writeFileSync, renameSync, openSync, fsyncSync, closeSync } from 'node:fs';
import path from 'node:path';

const stateDir = process.env.BERTH_STATE_DIR || process.env.STATE_DIR || '/state';
const stateFile = path.join(stateDir, 'state.json');
const config = JSON.parse(process.env.BOT_CONFIG || '{}');
const intervalMs = Number(config.interval_seconds ?? 1) * 1000;
const botId = process.env.BOT_ID || 'node-counter';

function loadCount() {
  try {
    return Number(JSON.parse(readFileSync(stateFile, 'utf8')).count) || 0;
  } catch (err) {
    if (err.code !== 'ENOENT') console.error(`could not read ${stateFile} (${err.message}); starting from 0`);
    return 0;
  }
}

function saveCount(value) {
  // Write a temporary file, then rename: a reader (and Berth's sync) never sees half a file.
  mkdirSync(stateDir, { recursive: true });
  const tmp = `${stateFile}.tmp`;
  writeFileSync(tmp, JSON.stringify({ count: value, updated_at: Date.now() / 1000 }));
  const fd = openSync(tmp, 'r');
  fsyncSync(fd);
  closeSync(fd);
  renameSync(tmp, stateFile);
}

let count = loadCount();
console.log(`${botId}: starting from count=${count}`);

const timer = setInterval(() => {
  count += 1;
  saveCount(count);
  console.log(`${botId}: count=${count}`);
}, intervalMs);

process.on('SIGTERM', () => {
  clearInterval(timer);
  saveCount(count);
  console.log(`${botId}: SIGTERM, saved count=${count}, bye`);
  process.exit(0);
});
