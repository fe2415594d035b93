/**
 * The generated entrypoints, run for real through bootstrap.sh (init, then run): Python and
 * Node bots in main(bot_id, config) style and plain-script style, exceptions giving a
 * non-zero exit code, and the bot's environment (seed-platform variables in, daemon
 * settings and secrets out).
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { BOT_ENV_PREFIX, DAEMON_ENV } from '../../../src/domain/daemon-contract.js';
import { DaemonSandbox, findPython, type Files } from './harness.js';

let sb: DaemonSandbox;
beforeEach(async () => {
  sb = await DaemonSandbox.create();
});
afterEach(async () => {
  await sb.cleanup();
});

async function runBot(runtime: 'python3.11' | 'nodejs20', entrypoint: string, files: Files, extraEnv: Record<string, string> = {}) {
  await sb.uploadCode(files);
  const p = await sb.start('bootstrap', sb.env({ [DAEMON_ENV.runtime]: runtime, [DAEMON_ENV.entrypoint]: entrypoint, ...extraEnv }));
  const code = await p.exited;
  return { code, stdout: p.stdout, stderr: p.stderr };
}

const hasPython = findPython() !== undefined;

describe.skipIf(!hasPython)('python entrypoints', () => {
  it('calls main(bot_id, config) with BOT_ID and the parsed BOT_CONFIG, and exits 0', async () => {
    const r = await runBot('python3.11', 'main.py', {
      'main.py': 'import json\n\ndef main(bot_id, config):\n    print("main", bot_id, json.dumps(config, sort_keys=True))\n\nif __name__ == "__main__":\n    print("ran as script too")\n',
    });
    expect(r.code).toBe(0);
    expect(r.stdout).toContain(`main ${sb.botId} {"greeting": "hello"}`);
    expect(r.stdout).not.toContain('ran as script too');
  });

  it('imports from vendor/ and the package root, and awaits an async main', async () => {
    const r = await runBot('python3.11', 'bots/main.py', {
      'bots/main.py': 'import asyncio, dep, shared\n\nasync def main(bot_id, config):\n    await asyncio.sleep(0)\n    print("async", dep.VALUE, shared.NAME)\n',
      'vendor/dep/__init__.py': 'VALUE = 42\n',
      'shared.py': 'NAME = "root"\n',
    });
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('async 42 root');
  });

  it('an exception in main gives a non-zero exit code and the traceback in the logs', async () => {
    const r = await runBot('python3.11', 'main.py', { 'main.py': 'def main(bot_id, config):\n    raise ValueError("boom in main")\n' });
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('ValueError: boom in main');
    const logs = await sb.logEntries();
    expect(logs.some((e) => e.stream === 'err' && e.line.includes('Traceback (most recent call last)'))).toBe(true);
    expect(logs.some((e) => e.stream === 'berth' && e.line === 'the bot exited with code 1')).toBe(true);
  });

  it('a plain script (no main) runs once as __main__, and its exit code is kept', async () => {
    const r = await runBot('python3.11', 'script.py', {
      'script.py': 'import sys\nprint("script", __name__)\nsys.exit(3)\n',
    });
    expect(r.code).toBe(3);
    expect(r.stdout.match(/script __main__/g)).toHaveLength(1);
  });

  it('an exception in a plain script gives exit code 1', async () => {
    const r = await runBot('python3.11', 'script.py', { 'script.py': 'raise RuntimeError("script failed")\n' });
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('RuntimeError: script failed');
  });

  it('main returning the0 {"status": "error"} exits 1', async () => {
    const r = await runBot('python3.11', 'main.py', { 'main.py': 'def main(bot_id, config):\n    return {"status": "error", "message": "no data"}\n' });
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('main() returned an error: no data');
  });

  it('sees the seed-platform variables and none of the daemon settings or secrets', async () => {
    const r = await runBot(
      'python3.11',
      'main.py',
      { 'main.py': 'import os, json\n\ndef main(bot_id, config):\n    print("ENV " + json.dumps(dict(os.environ), sort_keys=True))\n    print("CWD " + os.getcwd())\n' },
      { USER_SETTING: 'from-user', [`${BOT_ENV_PREFIX}API_KEY`]: 'from-spec', [`${BOT_ENV_PREFIX}BOT_ID`]: 'not-me' },
    );
    expect(r.code).toBe(0);
    const env = JSON.parse(/ENV (.*)/.exec(r.stdout)![1]!) as Record<string, string>;
    expect(Object.keys(env).filter((k) => k.startsWith('BERTH_DAEMON_') || k.startsWith('BERTH_SECRET_'))).toEqual([]);
    expect(r.stdout).not.toContain('do-not-leak');
    expect(env).toMatchObject({
      BOT_ID: sb.botId,
      BOT_CONFIG: '{"greeting":"hello"}',
      BOT_TYPE: 'realtime',
      STATE_DIR: `${sb.stateDir}/.the0-state`,
      BERTH_STATE_DIR: sb.stateDir,
      CODE_MOUNT_DIR: 'bot',
      SCRIPT_PATH: 'main.py',
      PYTHONPATH: `${sb.botDir}/vendor:${sb.botDir}`,
      HOME: `${sb.workDir}/home`,
      USER_SETTING: 'from-user',
      // The spec's variables, under their own names, never over what Berth sets.
      API_KEY: 'from-spec',
    });
    expect(Object.keys(env).filter((k) => k.startsWith(BOT_ENV_PREFIX))).toEqual([]);
    expect(/CWD (.*)/.exec(r.stdout)![1]).toBe(sb.botDir);
  });
});

describe('node entrypoints', () => {
  it("a bot's NODE_OPTIONS configures the bot's Node, not the daemon's (root, with the store's credentials)", async () => {
    const probe = path.join(sb.controlDir, 'probe.cjs');
    const seen = path.join(sb.controlDir, 'required-by.txt');
    await writeFile(probe, `require('node:fs').appendFileSync(${JSON.stringify(seen)}, process.argv[1] + '\\n');\n`);
    const r = await runBot('nodejs20', 'index.js', { 'index.js': 'console.log("bot ran");\n' }, { [`${BOT_ENV_PREFIX}NODE_OPTIONS`]: `--require=${probe}` });
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain('bot ran');
    const requiredBy = (await readFile(seen, 'utf8')).trim().split('\n');
    expect(requiredBy).toHaveLength(1);
    expect(requiredBy[0]).not.toMatch(/berth-daemon\.cjs$/);
    expect(requiredBy[0]).toMatch(/entrypoint/);
  });

  it('ESM: awaits the exported main(botId, config)', async () => {
    const r = await runBot('nodejs20', 'index.mjs', {
      'index.mjs': 'export async function main(id, config) { await new Promise((r) => setTimeout(r, 10)); console.log("main", id, config.greeting); }\nexport default function () { console.log("default must not run"); }\n',
    });
    expect(r.code).toBe(0);
    expect(r.stdout).toContain(`main ${sb.botId} hello`);
    expect(r.stdout).not.toContain('default must not run');
  });

  it('ESM: falls back to the default export', async () => {
    const r = await runBot('nodejs20', 'bot.js', {
      'package.json': '{"type":"module"}',
      'bot.js': 'export default async (id, config) => console.log("default", id, config.greeting);\n',
    });
    expect(r.code).toBe(0);
    expect(r.stdout).toContain(`default ${sb.botId} hello`);
  });

  it('CommonJS: module.exports = function, and exports.main', async () => {
    const fn = await runBot('nodejs20', 'fn.cjs', { 'fn.cjs': 'module.exports = function (id) { console.log("cjs fn", id); };\n' });
    expect(fn.code).toBe(0);
    expect(fn.stdout).toContain(`cjs fn ${sb.botId}`);
  });

  it('CommonJS .js with exports.main and node_modules', async () => {
    const r = await runBot('nodejs20', 'main.js', {
      'main.js': 'const pad = require("pad");\nexports.main = async (id) => { console.log("cjs main", pad(id)); };\n',
      'node_modules/pad/index.js': 'module.exports = (s) => "[" + s + "]";\n',
    });
    expect(r.code).toBe(0);
    expect(r.stdout).toContain(`cjs main [${sb.botId}]`);
  });

  it('a plain script (no exports) just runs, once', async () => {
    const r = await runBot('nodejs20', 'script.js', { 'script.js': 'console.log("plain script ran");\n' });
    expect(r.code).toBe(0);
    expect(r.stdout.match(/plain script ran/g)).toHaveLength(1);
  });

  it('a rejected main gives a non-zero exit code with the stack on stderr', async () => {
    const r = await runBot('nodejs20', 'index.mjs', { 'index.mjs': 'export async function main() { throw new Error("node boom"); }\n' });
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('Error: node boom');
  });

  it('a throwing plain script gives a non-zero exit code', async () => {
    const r = await runBot('nodejs20', 'script.mjs', { 'script.mjs': 'throw new Error("top-level boom");\n' });
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('top-level boom');
  });

  it('process.exit codes pass through the daemon', async () => {
    const r = await runBot('nodejs20', 'script.js', { 'script.js': 'process.exit(7);\n' });
    expect(r.code).toBe(7);
  });

  it('private variables are not visible to a node bot', async () => {
    const r = await runBot('nodejs20', 'env.mjs', { 'env.mjs': 'console.log("KEYS " + JSON.stringify(Object.keys(process.env)));\n' });
    const keys = JSON.parse(/KEYS (.*)/.exec(r.stdout)![1]!) as string[];
    expect(keys.filter((k) => k.startsWith('BERTH_DAEMON_') || k.startsWith('BERTH_SECRET_'))).toEqual([]);
    expect(keys).toEqual(expect.arrayContaining(['BOT_ID', 'BOT_CONFIG', 'STATE_DIR', 'BERTH_STATE_DIR', 'SCRIPT_PATH', 'HOME', 'PATH']));
  });

  it.skipIf(process.getuid?.() !== 0)('runs the bot as the RUN_AS user when the daemon is root', async () => {
    const r = await runBot(
      'nodejs20',
      'who.mjs',
      { 'who.mjs': 'import fs from "node:fs";\nfs.writeFileSync(process.env.BERTH_STATE_DIR + "/state.json", "{}");\nconsole.log("UID " + process.getuid() + " GID " + process.getgid());\n' },
      { [DAEMON_ENV.runAs]: '65534:65534' },
    );
    expect(r.stderr).not.toContain('EACCES');
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('UID 65534 GID 65534');
  });
});
