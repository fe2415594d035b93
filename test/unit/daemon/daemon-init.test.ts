/**
 * `berth-daemon init` as a real process: sha256 check, safe extraction, state restore,
 * and failures as one line on stderr, a `berth` log entry and a specific exit code.
 */
import { existsSync } from 'node:fs';
import { readFile, readdir, stat, writeFile, mkdir } from 'node:fs/promises';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { DAEMON_ENV, INIT_EXIT } from '../../../src/domain/daemon-contract.js';
import { objectKeys } from '../../../src/domain/object-keys.js';
import { writeZip } from '../archive/archive-builders.js';
import { DaemonSandbox, findPython } from './harness.js';

let sb: DaemonSandbox;
beforeEach(async () => {
  sb = await DaemonSandbox.create();
});
afterEach(async () => {
  await sb.cleanup();
});

const PY = { 'main.py': 'def main(bot_id, config):\n    print("hi", bot_id)\n', 'vendor/lib/__init__.py': 'X = 1\n' };

function berthLines(stderr: string): string[] {
  return stderr.split('\n').filter((l) => l.startsWith('[berth] '));
}

describe('berth-daemon init', () => {
  it('extracts the code, restores the saved state (nested), writes the entrypoint, and exits 0', async () => {
    await sb.uploadCode(PY);
    await sb.putState({ 'state.json': '{"n": 41}', 'nested/dir/more.json': '{"deep": true}', '.the0-state/key.json': '"v"' });
    const p = await sb.start('init', sb.env({ [DAEMON_ENV.runtime]: 'python3.11', [DAEMON_ENV.entrypoint]: 'main.py' }));
    expect(await p.exited).toBe(0);
    expect(await readFile(path.join(sb.botDir, 'vendor/lib/__init__.py'), 'utf8')).toBe('X = 1\n');
    expect(await readFile(path.join(sb.stateDir, 'state.json'), 'utf8')).toBe('{"n": 41}');
    expect(await readFile(path.join(sb.stateDir, 'nested/dir/more.json'), 'utf8')).toBe('{"deep": true}');
    expect(await readFile(path.join(sb.stateDir, '.the0-state/key.json'), 'utf8')).toBe('"v"');
    expect(await readFile(path.join(sb.workDir, 'entrypoint.py'), 'utf8')).toContain(JSON.stringify(path.join(sb.botDir, 'main.py')));
    const logs = await sb.logEntries();
    expect(logs.some((e) => e.stream === 'berth' && /init: code .* extracted .*state restored/.test(e.line))).toBe(true);
  });

  it('first run: no saved state, an empty state dir with .the0-state', async () => {
    await sb.uploadCode({ 'index.js': 'console.log(1)\n' });
    const p = await sb.start('init', sb.env({ [DAEMON_ENV.runtime]: 'nodejs20', [DAEMON_ENV.entrypoint]: 'index.js' }));
    expect(await p.exited).toBe(0);
    expect(await readdir(sb.stateDir)).toEqual(['.the0-state']);
    expect(existsSync(path.join(sb.workDir, 'entrypoint.mjs'))).toBe(true);
  });

  it('a sha256 mismatch exits 72 with a one-line reason on stderr and in the logs', async () => {
    await sb.uploadCode(PY);
    const env = sb.env({ [DAEMON_ENV.runtime]: 'python3.11', [DAEMON_ENV.entrypoint]: 'main.py', [DAEMON_ENV.codeSha256]: 'f'.repeat(64) });
    const p = await sb.start('init', env);
    expect(await p.exited).toBe(INIT_EXIT.codeCorrupt);
    const lines = berthLines(p.stderr);
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(/code package .* is corrupt: its sha256 is [0-9a-f]{12}…, expected ffffffffffff…/);
    const logs = await sb.logEntries();
    expect(logs.filter((e) => e.stream === 'berth').map((e) => e.line)).toEqual([lines[0]!.slice('[berth] '.length)]);
    expect(await readdir(sb.botDir)).toEqual([]);
  });

  it('a missing code package exits 71', async () => {
    await sb.uploadCode(PY);
    await sb.store.delete(sb.code!.key);
    const p = await sb.start('init', sb.env({ [DAEMON_ENV.runtime]: 'python3.11', [DAEMON_ENV.entrypoint]: 'main.py' }));
    expect(await p.exited).toBe(INIT_EXIT.codeMissing);
    expect(p.stderr).toMatch(/is not in the object store/);
  });

  it('a hostile package exits 73 and writes nothing outside the bot dir', async () => {
    const file = path.join(sb.root, 'evil.zip');
    await writeZip(file, [{ name: 'main.py', data: 'x' }, { name: '../../outside.txt', data: 'owned' }]);
    const bytes = await readFile(file);
    const { createHash } = await import('node:crypto');
    const sha = createHash('sha256').update(bytes).digest('hex');
    await sb.store.put(objectKeys.code(sb.botId, sha, 'zip'), bytes);
    const env = sb.env({
      [DAEMON_ENV.runtime]: 'python3.11',
      [DAEMON_ENV.entrypoint]: 'main.py',
      [DAEMON_ENV.codeKey]: objectKeys.code(sb.botId, sha, 'zip'),
      [DAEMON_ENV.codeSha256]: sha,
    });
    const p = await sb.start('init', env);
    expect(await p.exited).toBe(INIT_EXIT.packageRejected);
    expect(berthLines(p.stderr)[0]).toMatch(/code package rejected: "\.\." in a path would write outside the package \(entry "\.\.\/\.\.\/outside\.txt"\)/);
    expect(existsSync(path.join(sb.root, 'outside.txt'))).toBe(false);
    expect(existsSync(path.join(path.dirname(sb.root), 'outside.txt'))).toBe(false);
    expect(await readdir(sb.botDir)).toEqual([]);
  });

  it('a missing entrypoint exits 73', async () => {
    await sb.uploadCode(PY);
    const p = await sb.start('init', sb.env({ [DAEMON_ENV.runtime]: 'python3.11', [DAEMON_ENV.entrypoint]: 'bot.py' }));
    expect(await p.exited).toBe(INIT_EXIT.packageRejected);
    expect(p.stderr).toMatch(/the entrypoint "bot\.py" is not a file in the package/);
  });

  it('a corrupt saved state exits 75 instead of starting from an empty state', async () => {
    await sb.uploadCode(PY);
    await sb.store.put(objectKeys.state(sb.botId), Buffer.from('not a tarball'));
    const p = await sb.start('init', sb.env({ [DAEMON_ENV.runtime]: 'python3.11', [DAEMON_ENV.entrypoint]: 'main.py' }));
    expect(await p.exited).toBe(INIT_EXIT.stateRejected);
    expect(p.stderr).toMatch(/saved state state\/.*\/state\.tar\.gz rejected: the package is neither/);
  });

  it('bad settings exit 74 naming the variable', async () => {
    await sb.uploadCode(PY);
    const unknownRuntime = await sb.start('init', sb.env({ [DAEMON_ENV.runtime]: 'ruby', [DAEMON_ENV.entrypoint]: 'main.py' }));
    expect(await unknownRuntime.exited).toBe(INIT_EXIT.badSettings);
    expect(unknownRuntime.stderr).toMatch(/BERTH_DAEMON_RUNTIME names an unknown runtime "ruby"/);

    const noPython = await sb.start('init', sb.env({ [DAEMON_ENV.runtime]: 'python3.11', [DAEMON_ENV.entrypoint]: 'main.py', [DAEMON_ENV.python]: '/nonexistent/python3.11' }));
    expect(await noPython.exited).toBe(INIT_EXIT.badSettings);
    expect(noPython.stderr).toMatch(/python3\.11 is not available: \/nonexistent\/python3\.11 .*BERTH_DAEMON_PYTHON/);

    const noObjects = await sb.start('init', sb.env({ [DAEMON_ENV.runtime]: 'python3.11', [DAEMON_ENV.entrypoint]: 'main.py', [DAEMON_ENV.objects]: 'ftp://x' }));
    expect(await noObjects.exited).toBe(INIT_EXIT.badSettings);
    expect(noObjects.stderr).toMatch(/BERTH_DAEMON_OBJECTS/);
  });

  it.skipIf(process.getuid?.() !== 0 || findPython() === undefined)('as root with RUN_AS, the state tree and HOME belong to the bot user', async () => {
    await sb.uploadCode(PY);
    await sb.putState({ 'state.json': '{}', 'sub/x.json': '{}' });
    const p = await sb.start('init', sb.env({ [DAEMON_ENV.runtime]: 'python3.11', [DAEMON_ENV.entrypoint]: 'main.py', [DAEMON_ENV.runAs]: '65534:65534' }));
    expect(await p.exited).toBe(0);
    for (const rel of ['', 'state.json', 'sub', 'sub/x.json', '.the0-state']) {
      expect((await stat(path.join(sb.stateDir, rel))).uid).toBe(65534);
    }
    expect((await stat(path.join(sb.workDir, 'home'))).uid).toBe(65534);
    expect((await stat(path.join(sb.botDir, 'main.py'))).uid).toBe(0);
  });

  it('init is repeatable: a second run replaces the bot dir and the state with the stored ones', async () => {
    await sb.uploadCode(PY);
    await sb.putState({ 'state.json': '{"n": 1}' });
    const env = sb.env({ [DAEMON_ENV.runtime]: 'python3.11', [DAEMON_ENV.entrypoint]: 'main.py' });
    expect(await (await sb.start('init', env)).exited).toBe(0);
    await writeFile(path.join(sb.botDir, 'stray.py'), 'x');
    await mkdir(path.join(sb.stateDir, 'junk'));
    expect(await (await sb.start('init', env)).exited).toBe(0);
    expect(existsSync(path.join(sb.botDir, 'stray.py'))).toBe(false);
    expect((await readdir(sb.stateDir)).sort()).toEqual(['.the0-state', 'state.json']);
  });
});
