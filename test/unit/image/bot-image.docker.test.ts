/**
 * The bot image as bots see it (needs a Docker Engine; skipped with the reason without
 * one, unless BERTH_REQUIRE_DOCKER=1). Built by the offline builder through
 * ensureTestImage, the same image every Docker e2e test uses.
 */
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it, type TestContext } from 'vitest';
import { DockerRuntime } from '../../../src/adapters/runtime/docker/index.js';
import { CONTAINER_PATHS } from '../../../src/domain/daemon-contract.js';
import { ImageBuildError, buildBotImage } from '../../../src/image/index.js';
import { probePython } from '../../../src/image/python.js';
import { LABELS, type ContainerSpec } from '../../../src/ports/runtime.js';
import { dockerUnavailableReason, ensureTestImage, requireDocker, testDocker } from '../../support/image.js';

const instance = `test-image-${randomBytes(4).toString('hex')}`;

/** Prints what a bot would find in the image, as one JSON line. */
const INSPECT_SCRIPT = `
import grp, json, os, pwd, ssl, sqlite3, sys, zlib, asyncio
def st(p):
    s = os.stat(p)
    return {"mode": oct(s.st_mode & 0o7777), "uid": s.st_uid, "gid": s.st_gid}
print(json.dumps({
    "python": sys.version.split()[0],
    "prefix": sys.prefix,
    "ssl_roots": ssl.create_default_context().cert_store_stats()["x509_ca"],
    "sqlite": sqlite3.sqlite_version,
    "zlib": zlib.decompress(zlib.compress(b"ok")).decode(),
    "asyncio": asyncio.run(asyncio.sleep(0, result="ok")),
    "bot": list(pwd.getpwnam("bot"))[2:4] + [pwd.getpwnam("bot").pw_dir],
    "group": grp.getgrnam("bot").gr_gid,
    "dirs": {p: st(p) for p in ["/bot", "/state", "/var/berth/logs", "/tmp", "/opt/berth"]},
    "daemon": st("${CONTAINER_PATHS.daemon}"),
    "bootstrap": st("${CONTAINER_PATHS.bootstrap}"),
    "env": {k: os.environ.get(k) for k in ["LANG", "PYTHONDONTWRITEBYTECODE", "PYTHONUNBUFFERED", "PATH"]},
    "cwd": os.getcwd(),
}))
`;

describe('bot image (offline builder)', () => {
  let image = '';
  let runtime: DockerRuntime | undefined;
  let prepError: unknown;

  // The image is built here, under the hook timeout; a failure is rethrown by each test.
  beforeAll(async () => {
    if (await dockerUnavailableReason()) return;
    try {
      image = await ensureTestImage();
    } catch (err) {
      prepError = err;
    }
  });

  afterAll(async () => {
    if (!runtime) return;
    const docker = testDocker();
    for (const c of await docker.listContainers({ all: true, filters: { label: [`${LABELS.instance}=${instance}`] } })) {
      await docker.getContainer(c.Id).remove({ force: true }).catch(() => undefined);
    }
    await runtime.close();
  });

  /** Skips (or, under BERTH_REQUIRE_DOCKER=1, fails) without an Engine; builds the image once. */
  const ready = async (ctx: TestContext): Promise<void> => {
    await requireDocker(ctx);
    if (prepError || !image) throw prepError ?? new Error('the bot image was not built');
    runtime ??= new DockerRuntime({ docker: testDocker(), instance });
  };

  /** Runs a command in a fresh container of `tag` and returns its exit code and output. */
  async function run(tag: string, command: string[]): Promise<{ code: number; lines: string[] }> {
    if (!runtime) throw new Error('ready() first');
    const botId = `img-${randomBytes(4).toString('hex')}`;
    const spec: ContainerSpec = {
      name: `berth-${botId}`,
      botId,
      kind: 'scheduled',
      specHash: 'image-test',
      runId: 'r',
      image: tag,
      env: {},
      restartPolicy: 'no',
      memoryMb: 256,
      cpus: 1,
      pids: 128,
      stopGraceSeconds: 5,
      networkMode: 'none',
      mounts: [],
      command,
    };
    const rt = runtime;
    const c = await rt.start(spec);
    try {
      const code = await rt.wait(c.id);
      return { code, lines: await rt.tail(c.id, 200) };
    } finally {
      await rt.remove(c.id);
    }
  }

  it('has CMD bootstrap.sh, WORKDIR /bot and the documented environment', async (ctx) => {
    await ready(ctx);
    const info = await testDocker().getImage(image).inspect();
    expect(info.Config.Cmd).toEqual([CONTAINER_PATHS.bootstrap]);
    expect(info.Config.WorkingDir).toBe('/bot');
    expect(info.Config.Env).toEqual(
      expect.arrayContaining(['LANG=C.UTF-8', 'PYTHONDONTWRITEBYTECODE=1', 'PYTHONUNBUFFERED=1', expect.stringMatching(/^PATH=\/usr\/local\/bin:/)]),
    );
    // Lean: Node alone is ~90-100 MB of it.
    expect(info.Size).toBeLessThan(220 * 1024 * 1024);
  });

  it('python3.11 at CONTAINER_PATHS.python imports json, ssl, zlib, sqlite3, asyncio; user, dirs and daemon files are in place', async (ctx) => {
    await ready(ctx);
    const { code, lines } = await run(image, [CONTAINER_PATHS.python, '-c', INSPECT_SCRIPT]);
    expect(code, lines.join('\n')).toBe(0);
    const facts = JSON.parse(lines.at(-1) ?? '{}');
    expect(facts.python).toMatch(/^3\.11\./);
    expect(facts.zlib).toBe('ok');
    expect(facts.asyncio).toBe('ok');
    expect(facts.sqlite).toMatch(/^3\./);
    expect(facts.bot).toEqual([10001, 10001, '/bot']);
    expect(facts.group).toBe(10001);
    expect(facts.dirs['/tmp']).toEqual({ mode: '0o1777', uid: 0, gid: 0 });
    expect(facts.dirs['/state']).toMatchObject({ uid: 10001, gid: 10001 });
    expect(facts.dirs['/bot']).toMatchObject({ uid: 10001, gid: 10001 });
    expect(facts.dirs['/var/berth/logs']).toMatchObject({ uid: 0 });
    expect(facts.bootstrap.mode).toBe('0o755');
    expect(facts.daemon.mode).toBe('0o644');
    expect(facts.env).toMatchObject({ LANG: 'C.UTF-8', PYTHONDONTWRITEBYTECODE: '1', PYTHONUNBUFFERED: '1' });
    expect(facts.cwd).toBe('/bot');
    // The image carries the host's CA bundle when the host has one.
    if (existsSync('/etc/ssl/certs/ca-certificates.crt')) expect(facts.ssl_roots).toBeGreaterThan(0);
  });

  it('node at CONTAINER_PATHS.node is the Node running Berth; sh and the basic tools work', async (ctx) => {
    await ready(ctx);
    const script = `${CONTAINER_PATHS.node} -p 'process.version'; echo shell-ok; sleep 0.1; cat /etc/passwd | grep -c '^bot:'; id -u bot`;
    const { code, lines } = await run(image, ['/bin/sh', '-c', script]);
    expect(code, lines.join('\n')).toBe(0);
    expect(lines).toEqual([process.version, 'shell-ok', '1', '10001']);
  });

  it('the bot user can write /state and /tmp but not /opt/berth', async (ctx) => {
    await ready(ctx);
    const script = [
      'touch /state/s && echo state-ok',
      'touch /tmp/t && echo tmp-ok',
      '(touch /opt/berth/x) 2>/dev/null && echo opt-writable || echo opt-refused',
    ].join('; ');
    const { lines } = await run(image, ['/usr/local/bin/python3.11', '-c', `import os, subprocess; os.setgid(10001); os.setuid(10001); subprocess.run(["/bin/sh", "-c", ${JSON.stringify(script)}])`]);
    expect(lines).toEqual(['state-ok', 'tmp-ok', 'opt-refused']);
  });
});

describe('bot image from a local python3.11 (the fallback when apt cannot help)', () => {
  let scratch = '';
  let tag = '';
  let runtime: DockerRuntime | undefined;
  const saved = process.env.BERTH_IMAGE_PYTHON;

  afterAll(async () => {
    if (saved === undefined) delete process.env.BERTH_IMAGE_PYTHON;
    else process.env.BERTH_IMAGE_PYTHON = saved;
    if (tag) await testDocker().getImage(tag).remove({ force: true }).catch(() => undefined);
    await runtime?.close();
    if (scratch) await rm(scratch, { recursive: true, force: true });
  });

  it('builds, and its python3.11 imports json, ssl, zlib, sqlite3, asyncio', async (ctx) => {
    await requireDocker(ctx);
    process.env.BERTH_IMAGE_PYTHON = 'local';
    if (!(await probePython())) ctx.skip('no local python3.11 installation on this machine');
    runtime = new DockerRuntime({ docker: testDocker(), instance });
    scratch = await mkdtemp(join(tmpdir(), 'berth-local-python-'));
    // A daemon of its own makes the tag unique to this test, so removing it is safe.
    await writeFile(join(scratch, 'berth-daemon.cjs'), `// local python test ${randomBytes(6).toString('hex')}\n`);
    await writeFile(join(scratch, 'bootstrap.sh'), '#!/bin/sh\nexit 0\n', { mode: 0o755 });
    const built = await buildBotImage({ docker: testDocker(), daemonDir: scratch });
    tag = built.tag;
    expect(built).toMatchObject({ method: 'offline', builtNow: true });
    const botId = `imgl-${randomBytes(4).toString('hex')}`;
    const c = await runtime.start({
      name: `berth-${botId}`,
      botId,
      kind: 'scheduled',
      specHash: 'local-python',
      runId: 'r',
      image: tag,
      env: {},
      restartPolicy: 'no',
      memoryMb: 256,
      cpus: 1,
      pids: 128,
      stopGraceSeconds: 5,
      networkMode: 'none',
      mounts: [],
      command: [CONTAINER_PATHS.python, '-c', 'import json, ssl, zlib, sqlite3, asyncio, sys; print(sys.version_info[:2])'],
    });
    try {
      expect(await runtime.wait(c.id)).toBe(0);
      expect(await runtime.tail(c.id, 5)).toEqual(['(3, 11)']);
    } finally {
      await runtime.remove(c.id);
    }
    // A second build of the same inputs reuses the image.
    expect(await buildBotImage({ docker: testDocker(), daemonDir: scratch })).toMatchObject({ tag, builtNow: false });
  }, 300_000);
});

describe('bot image through the Dockerfile (needs a registry for its base image)', () => {
  let scratch = '';
  let tag = '';

  afterAll(async () => {
    if (tag) await testDocker().getImage(tag).remove({ force: true }).catch(() => undefined);
    if (scratch) await rm(scratch, { recursive: true, force: true });
  });

  it('the Engine accepts the build context and runs the Dockerfile up to FROM; without a registry the error says why', async (ctx) => {
    await requireDocker(ctx);
    scratch = await mkdtemp(join(tmpdir(), 'berth-dockerfile-'));
    await writeFile(join(scratch, 'berth-daemon.cjs'), `// dockerfile test ${randomBytes(6).toString('hex')}\n`);
    await writeFile(join(scratch, 'bootstrap.sh'), '#!/bin/sh\nexit 0\n', { mode: 0o755 });
    const log: string[] = [];
    const outcome = await buildBotImage({ docker: testDocker(), method: 'dockerfile', daemonDir: scratch, log: (l) => log.push(l) }).then(
      (built) => ({ built }),
      (error: unknown) => ({ error }),
    );
    expect(log).toContain('Step 1/9 : ARG NODE_IMAGE=node:20-bookworm-slim');
    expect(log).toContain('Step 2/9 : FROM ${NODE_IMAGE}');
    if ('built' in outcome) {
      // A machine with a registry builds the whole image.
      tag = outcome.built.tag;
      expect((await testDocker().getImage(tag).inspect()).Config.Cmd).toEqual([CONTAINER_PATHS.bootstrap]);
    } else {
      expect(outcome.error).toBeInstanceOf(ImageBuildError);
      expect((outcome.error as Error).message).toMatch(/\(dockerfile\) failed: .+/);
    }
  });
});
