/**
 * The CLI against the real API, started by the composition root in its `api` role on the
 * embedded adapters (SQLite, filesystem objects, in-process bus) — no runtime, so nothing
 * runs; what is checked is what the CLI sends, prints and exits with.
 */
import { mkdtempSync, rmSync, writeFileSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { createServer } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openObjectStore } from '../../../src/adapters/objects/open.js';
import { loadConfig } from '../../../src/config/index.js';
import { objectKeys } from '../../../src/domain/object-keys.js';
import { encodeProblemRecord } from '../../../src/domain/state-problem.js';
import type { CliContext } from '../../../src/cli/context.js';
import { archiveTools } from '../../../src/cli/package-tools.js';
import { buildProgram } from '../../../src/cli/program.js';
import { reportError } from '../../../src/cli/report.js';
import { runCli, type CliRun } from './support/run-cli.js';
import { silentAnnounce, startServer, type RunningServer } from '../../../src/server/index.js';

const examples = fileURLToPath(new URL('../../../examples/', import.meta.url));
let dir: string;
let server: RunningServer;

beforeAll(async () => {
  dir = mkdtempSync(path.join(tmpdir(), 'berth-cli-'));
  const config = loadConfig({ env: {}, cwd: dir, flags: { listen: '127.0.0.1:0', logLevel: 'silent' } });
  server = await startServer(config, { role: 'api', announce: silentAnnounce });
});

afterAll(async () => {
  await server?.stop();
  rmSync(dir, { recursive: true, force: true });
});

type Run = CliRun;

const berth = (...args: string[]): Promise<Run> => runCli(server.url, dir, args);

describe('berth CLI over the API', () => {
  it('deploys a directory: id from the directory name, runtime and entrypoint from its files', async () => {
    const run = await berth('deploy', path.join(examples, 'python-counter'), '--config', '{"interval_seconds": 2}', '--env', 'GREETING=hi');
    expect(run.err).toBe('');
    expect(run.code).toBe(0);
    expect(run.out).toMatch(/^created python-counter from python-counter \(python3\.11 main\.py, code [0-9a-f]+\)/);
  });

  it('redeploying the same package is "unchanged" and keeps config and env it was not given again', async () => {
    const run = await berth('deploy', path.join(examples, 'python-counter'), '--json');
    expect(run.code).toBe(0);
    const outcome = JSON.parse(run.out);
    expect(outcome.op).toBe('unchanged');
    expect(outcome.bot.config).toEqual({ interval_seconds: 2 });
    expect(outcome.bot.env).toEqual({ GREETING: 'hi' });
  });

  it('a changed config is an update', async () => {
    const run = await berth('deploy', path.join(examples, 'python-counter'), '--config', '{"interval_seconds": 3}');
    expect(run.out).toMatch(/^updated python-counter \(python3\.11 main\.py, code [0-9a-f]+, generation 2\)/);
  });

  it('takes the id of a the0 package from bot-config.yaml', async () => {
    const run = await berth('deploy', path.join(examples, 'the0-python'), '--disabled');
    expect(run.code).toBe(0);
    expect(run.out).toMatch(/^created the0-python .*, disabled/);
  });

  it('deploys a .tar.gz and a given id', async () => {
    const packed = await archiveTools.packDirectory(path.join(examples, 'node-counter'));
    const file = path.join(dir, 'node-counter.tar.gz');
    writeFileSync(file, packed.body);
    const run = await berth('deploy', file, '--id', 'nc-1', '--name', 'Node counter');
    expect(run.code).toBe(0);
    expect(run.out).toMatch(/^created nc-1 from node-counter\.tar\.gz \(nodejs20 main\.mjs/);
  });

  it('ls prints an aligned table, --json the views', async () => {
    const table = await berth('ls');
    const lines = table.out.trimEnd().split('\n');
    expect(lines[0]).toMatch(/^ID\s+NAME\s+KIND\s+RUNTIME\s+STATE\s+RESTARTS\s+LAST EXIT\s+VERSION\s+AGE$/);
    expect(lines.slice(1).map((l) => l.split(/\s+/)[0])).toEqual(['nc-1', 'python-counter', 'the0-python']);
    const stateColumn = lines[0]!.indexOf('STATE');
    expect(lines[3]!.slice(stateColumn).startsWith('disabled')).toBe(true);
    expect(lines[2]!.slice(stateColumn).startsWith('pending')).toBe(true);
    const json = JSON.parse((await berth('ls', '--json')).out);
    expect(json.map((v: { bot: { id: string } }) => v.bot.id)).toEqual(['nc-1', 'python-counter', 'the0-python']);
  });

  it('inspect shows settings; state and logs say there is nothing yet', async () => {
    const inspect = await berth('inspect', 'the0-python');
    expect(inspect.out).toMatch(/^package\s+bot-config\.yaml \(the0 format\)$/m);
    expect(inspect.out).toMatch(/^enabled\s+false$/m);
    const state = await berth('state', 'python-counter');
    expect(state.code).toBe(0);
    expect(state.out).toMatch(/has no persisted state yet/);
    const logs = await berth('logs', 'python-counter', '--tail', '5', '--since', '1h');
    expect(logs).toEqual({ code: 0, out: '', err: '' });
    // The API's range, 0 included (nothing from the past; with -f only new lines).
    expect(await berth('logs', 'python-counter', '--tail', '0')).toEqual({ code: 0, out: '', err: '' });
    expect((await berth('logs', 'python-counter', '--tail', '100001')).err).toContain('--tail 100001: expected 0 to 100000');
  });

  it('runs of a live bot says it has none and points to logs, not to berth run (which refuses live bots)', async () => {
    const runs = await berth('runs', 'python-counter');
    expect(runs).toEqual({
      code: 0,
      err: '',
      out: 'python-counter is a live bot, and a live bot has no runs (only scheduled bots do): `berth logs python-counter` shows its output, `berth inspect python-counter` its status.\n',
    });
    expect((await berth('run', 'python-counter')).code).toBe(1);
  });

  it('state and inspect say when the newest state is not being saved (the record the daemon writes)', async () => {
    const objects = openObjectStore(`file:${path.join(dir, '.berth', 'objects')}`);
    const since = new Date(Date.now() - 120_000).toISOString();
    const problem = { kind: 'invalid-json', message: 'state.json is not valid JSON (Unexpected end of JSON input)', since } as const;
    try {
      await objects.put(objectKeys.stateProblem('python-counter'), encodeProblemRecord({ problem, at: since }));
      const state = await berth('state', 'python-counter');
      expect(state.code).toBe(0);
      expect(state.out).toMatch(/^! the newest state is NOT being saved since \S+ \(2m ago\): state\.json is not valid JSON/);
      const inspect = await berth('inspect', 'python-counter');
      expect(inspect.out).toMatch(/^state saving\s+the newest state is NOT being saved since/m);
      expect(JSON.parse((await berth('state', 'python-counter', '--json')).out).problem).toEqual(problem);
    } finally {
      await objects.delete(objectKeys.stateProblem('python-counter'));
      await objects.close();
    }
  });

  it('enable and disable report whether anything changed', async () => {
    expect((await berth('enable', 'the0-python')).out).toMatch(/^the0-python enabled/);
    expect((await berth('enable', 'the0-python')).out).toBe('the0-python was already enabled\n');
    expect((await berth('disable', 'the0-python')).out).toMatch(/^the0-python disabled/);
  });

  it('API errors are one line with the field issues, and a non-zero exit', async () => {
    const bad = await berth('deploy', path.join(examples, 'python-counter'), '--id', 'pc2', '--runtime', 'cobol');
    expect(bad.code).toBe(1);
    expect(bad.err).toMatch(/^berth: PUT \/v1\/bots\/pc2 failed: .*unknown runtime/);
    expect(bad.err).toMatch(/\n {2}runtime: unknown runtime "cobol"/);
    const missing = await berth('inspect', 'nope');
    expect(missing.code).toBe(1);
    expect(missing.err).toBe('berth: GET /v1/bots/nope failed: bot "nope" does not exist\n');
  });

  it('a package without a recognisable entrypoint is refused by name', async () => {
    const pkg = path.join(dir, 'empty-bot');
    mkdirSync(pkg);
    writeFileSync(path.join(pkg, 'README.md'), 'nothing to run');
    const run = await berth('deploy', pkg);
    expect(run.code).toBe(1);
    expect(run.err).toMatch(/^berth: PUT \/v1\/bots\/empty-bot failed: entrypoint: no runnable file found: none of main\.py, .* is at the package root/);
    expect(run.err).toContain('Name the file to run (berth deploy --entrypoint <file>, with --runtime python3.11 or nodejs20');
    expect(run.err).not.toMatch(/must be a string/);
  });

  it('an empty directory is refused the same way', async () => {
    const pkg = path.join(dir, 'void-bot');
    mkdirSync(pkg);
    const run = await berth('deploy', pkg);
    expect(run.code).toBe(1);
    expect(run.err).toMatch(/^berth: PUT \/v1\/bots\/void-bot failed: entrypoint: no runnable file found: the package has no files\. Name the file to run/);
    expect(run.err).not.toMatch(/must be a string/);
    expect((await berth('rm', 'void-bot')).code).toBe(0);
  });

  it('usage errors exit 2 before anything is uploaded', async () => {
    const run = await berth('deploy', path.join(examples, 'node-counter'), '--id', 'x1', '--env', 'NOVALUE');
    expect(run.code).toBe(2);
    expect(run.err).toMatch(/--env "NOVALUE"/);
    expect((await berth('inspect', 'x1')).code).toBe(1);
  });

  it('rm removes the bot and its data', async () => {
    const run = await berth('rm', 'nc-1');
    expect(run.out).toMatch(/^nc-1 removed with its code, state and logs \(\d+ object\(s\)\)/);
    expect((await berth('inspect', 'nc-1')).code).toBe(1);
    const kept = await berth('rm', 'python-counter', '--keep-data');
    expect(kept.out).toBe('python-counter removed; its code, state and logs were kept in the object store\n');
  });

  it('rm of an id whose deploy was refused deletes the package it left, then says nothing is there', async () => {
    // pc2's deploy was refused above (runtime cobol) after its package was uploaded.
    const leftovers = await berth('rm', 'pc2');
    expect(leftovers).toEqual({ code: 0, err: '', out: 'pc2 had no bot record; deleted the 2 object(s) left under its id (code: 2)\n' });
    const again = await berth('rm', 'pc2');
    expect(again.code).toBe(1);
    expect(again.err).toBe('berth: DELETE /v1/bots/pc2 failed: bot "pc2" does not exist and nothing is stored under its id\n');
    // python-counter's kept code is a leftover now: --keep-data deletes only that.
    const code = await berth('rm', 'python-counter', '--keep-data');
    expect(code.out).toMatch(/^python-counter had no bot record; deleted the 2 object\(s\) left under its id \(code: 2\); its state and logs, if any, were kept\n$/);
  });
});

describe('berth deploy and bot-config.yaml keys', () => {
  it('refuses a misspelled key by name, before anything is deployed', async () => {
    const pkg = path.join(dir, 'typo-bot');
    mkdirSync(pkg);
    writeFileSync(path.join(pkg, 'main.py'), 'print(1)\n');
    writeFileSync(path.join(pkg, 'other.py'), 'print(2)\n');
    writeFileSync(path.join(pkg, 'bot-config.yaml'), 'entrypoint: other.py\n');
    const run = await berth('deploy', pkg);
    expect(run.code).toBe(1);
    expect(run.err).toMatch(/^berth: POST \/v1\/bots\/typo-bot\/package failed: bot-config\.yaml: unknown key "entrypoint": did you mean "entrypoints"\? Write the file to run as "entrypoints: \{bot: other\.py\}"/);
    expect((await berth('inspect', 'typo-bot')).code).toBe(1);
  });

  it('deploys with a warning on stderr for a key Berth ignores (in --json too)', async () => {
    const pkg = path.join(dir, 'typo-bot');
    writeFileSync(path.join(pkg, 'bot-config.yaml'), 'entrypoints:\n  bot: other.py\nlicense: MIT\n');
    const warning = 'berth: warning: bot-config.yaml: unknown key "license" is ignored; Berth reads name, type, runtime, entrypoints.bot and schedule\n';
    const run = await berth('deploy', pkg, '--disabled');
    expect(run.code).toBe(0);
    expect(run.err).toBe(warning);
    expect(run.out).toMatch(/^created typo-bot from typo-bot \(python3\.11 other\.py/);
    const json = await berth('deploy', pkg, '--disabled', '--json');
    expect(json.err).toBe(warning);
    expect(JSON.parse(json.out)).toMatchObject({ op: 'unchanged', warnings: [warning.slice('berth: warning: '.length, -1)] });
    expect((await berth('rm', 'typo-bot')).code).toBe(0);
  });
});

describe('berth enable / disable by kind', () => {
  it('a scheduled bot has no container between runs: the messages speak of slots and runs', async () => {
    const deployed = await berth('deploy', path.join(examples, 'node-scheduled'), '--id', 'sched-1', '--schedule', '*/5 * * * *');
    expect(deployed.code).toBe(0);
    const disabled = await berth('disable', 'sched-1');
    expect(disabled.out).toBe(
      'sched-1 disabled: no further slot runs (only one already starting, at most 5 s away); a run in progress finishes (`berth runs sched-1` shows it)\n',
    );
    expect(disabled.out).not.toMatch(/container/);
    const enabled = await berth('enable', 'sched-1');
    expect(enabled.out).toBe('sched-1 enabled: it runs at its next slot of "*/5 * * * *" (UTC), with no catch-up of the slots it missed (berth ls shows NEXT RUN)\n');
    expect((await berth('rm', 'sched-1')).code).toBe(0);
  });

  it('a live bot: its container starts or is being stopped', async () => {
    expect(await berth('deploy', path.join(examples, 'node-counter'), '--id', 'live-1', '--disabled')).toMatchObject({ code: 0 });
    expect((await berth('enable', 'live-1')).out).toBe('live-1 enabled: it starts within one reconcile\n');
    expect((await berth('disable', 'live-1')).out).toBe(
      'live-1 disabled: its container is being stopped (the bot saves its state first) and removed; berth ls shows stopping until it is gone\n',
    );
    expect((await berth('rm', 'live-1')).code).toBe(0);
  });
});

describe('berth CLI without a server', () => {
  it('says how to start one', async () => {
    const port = await closedPort();
    let err = '';
    const ctx: CliContext = {
      io: { out: () => undefined, err: (t) => void (err += t) },
      env: { BERTH_API: `http://127.0.0.1:${port}` },
      cwd: dir,
      now: () => new Date(),
      signal: new AbortController().signal,
    };
    let code = 0;
    try {
      await buildProgram(ctx, { tools: archiveTools }).parseAsync(['ls'], { from: 'user' });
    } catch (e) {
      code = reportError(e, ctx.io.err);
    }
    expect(code).toBe(1);
    expect(err).toContain(`no Berth server is answering at http://127.0.0.1:${port} (ECONNREFUSED). Start one with \`berth serve\``);
  });
});

/** A port nothing listens on: one the OS just handed out and that was closed again. */
function closedPort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const probe = createServer();
    probe.once('error', reject);
    probe.listen(0, '127.0.0.1', () => {
      const { port } = probe.address() as { port: number };
      probe.close(() => resolve(port));
    });
  });
}
