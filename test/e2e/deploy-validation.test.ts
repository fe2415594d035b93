/**
 * Issue "Berth core", must-hold list: hostile packages and invalid API requests against a
 * real `berth serve` process. Each is refused with a specific 4xx, nothing is stored, and
 * the service keeps running. (The runtime does not matter here: nothing may reach it.)
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtemp, readdir, writeFile, mkdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { request } from 'node:http';
import { apiJson, berthCli, startBerth, stopAllBerthProcesses, type BerthServer } from '../support/berth-process.js';
import { deflatedZeros, writeTarGz, writeZip } from '../unit/archive/archive-builders.js';
import { uniqueId } from './support.js';

let server: BerthServer;
let work: string;

beforeAll(async () => {
  server = await startBerth({ runtime: 'process', instance: uniqueId('e2e-validate') });
  work = await mkdtemp(join(tmpdir(), 'berth-hostile-'));
}, 120_000);

afterAll(async () => {
  await server?.kill();
  await stopAllBerthProcesses();
});

async function everythingStored(): Promise<string[]> {
  const out: string[] = [];
  const walk = async (dir: string, rel: string): Promise<void> => {
    for (const e of await readdir(dir, { withFileTypes: true }).catch(() => [])) {
      if (e.isDirectory()) await walk(join(dir, e.name), `${rel}${e.name}/`);
      else out.push(`${rel}${e.name}`);
    }
  };
  await walk(join(server.dataDir, 'objects'), '');
  return out;
}

async function serviceHealthy(): Promise<boolean> {
  const r = await apiJson<{ ok: boolean }>(server.url, '/v1/health');
  return r.status === 200 && r.body.ok;
}

/**
 * Declares `size` bytes with `Expect: 100-continue` and sends the body only once the server
 * says "100 Continue", as curl does for large uploads: a refusal arrives before the body.
 */
function postUntilAnswered(url: string, size: number): Promise<{ status: number; continued: boolean }> {
  return new Promise((resolve, reject) => {
    const req = request(url, {
      method: 'POST',
      headers: { 'content-type': 'application/gzip', 'content-length': String(size), expect: '100-continue' },
    });
    let answered = false;
    let continued = false;
    req.on('response', (res) => {
      answered = true;
      res.resume();
      resolve({ status: res.statusCode ?? 0, continued });
    });
    req.on('error', (err) => {
      if (!answered) reject(err);
    });
    const chunk = Buffer.alloc(1024 * 1024);
    let sent = 0;
    const pump = (): void => {
      while (!answered && sent < size) {
        sent += chunk.length;
        if (!req.write(chunk)) {
          req.once('drain', pump);
          return;
        }
      }
      if (!answered) req.end();
    };
    req.on('continue', () => {
      continued = true;
      pump();
    });
    req.flushHeaders();
  });
}

const pyMain = 'def main(bot_id, config):\n    print("hi")\n';

describe('hostile packages are rejected at deploy', { timeout: 120_000 }, () => {
  const cases: Array<{ name: string; file: string; build: (f: string) => Promise<void>; expect: RegExp }> = [
    {
      name: '`../` entry',
      file: 'dotdot.tar.gz',
      build: (f) => writeTarGz(f, [{ name: 'main.py', data: pyMain }, { name: '../../evil.py', data: 'x' }]),
      expect: /\.\./,
    },
    {
      name: 'absolute path',
      file: 'absolute.zip',
      build: (f) => writeZip(f, [{ name: 'main.py', data: pyMain }, { name: '/etc/cron.d/evil', data: 'x' }]),
      expect: /absolute/i,
    },
    {
      name: 'symlink to /etc',
      file: 'symlink.tar.gz',
      build: (f) => writeTarGz(f, [{ name: 'main.py', data: pyMain }, { name: 'etc', type: 'symlink', linkname: '/etc' }]),
      expect: /link/i,
    },
    {
      name: 'symlink followed by a file written through it',
      file: 'through-link.tar.gz',
      build: (f) =>
        writeTarGz(f, [
          { name: 'main.py', data: pyMain },
          { name: 'sub', type: 'symlink', linkname: '.' },
          { name: 'sub/main2.py', data: 'x' },
        ]),
      expect: /link/i,
    },
    {
      name: 'zip bomb (1 GB expanded)',
      file: 'bomb.zip',
      build: async (f) => writeZip(f, [{ name: 'main.py', data: pyMain }, { name: 'zeros.bin', deflated: await deflatedZeros(1024 ** 3) }]),
      expect: /GiB.*more than.*allowed|too large/i,
    },
    {
      name: 'zip bomb whose headers lie about its size',
      file: 'lying-bomb.zip',
      build: async (f) =>
        writeZip(f, [{ name: 'main.py', data: pyMain }, { name: 'zeros.bin', deflated: await deflatedZeros(1024 ** 3), declaredSize: 1000 }]),
      expect: /corrupt|more than|too large/i,
    },
  ];

  for (const c of cases) {
    it(`${c.name}: a 4xx with a specific reason, nothing stored, the service keeps running`, async () => {
      const file = join(work, c.file);
      await c.build(file);
      const before = await everythingStored();
      const id = uniqueId('hostile');
      const r = await berthCli(server.url, ['deploy', file, '--id', id, '--entrypoint', 'main.py', '--runtime', 'python3.11']);
      expect(r.code).not.toBe(0);
      expect(r.stderr).toMatch(c.expect);
      expect(await everythingStored()).toEqual(before);
      expect((await apiJson(server.url, `/v1/bots/${id}`)).status).toBe(404);
      expect(await serviceHealthy()).toBe(true);
    });
  }

  it('a missing entrypoint names the field and the files that exist', async () => {
    const dir = join(work, 'no-entry');
    await mkdir(dir, { recursive: true });
    await writeFile(join(dir, 'main.py'), pyMain);
    const id = uniqueId('noentry');
    const r = await berthCli(server.url, ['deploy', dir, '--id', id, '--entrypoint', 'bot.py']);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(/entrypoint/);
    expect(r.stderr).toMatch(/main\.py/);
    expect((await apiJson(server.url, `/v1/bots/${id}`)).status).toBe(404);
    expect(await serviceHealthy()).toBe(true);
  });

  it('an unknown runtime names the field and the accepted runtimes', async () => {
    const dir = join(work, 'ruby');
    await mkdir(dir, { recursive: true });
    await writeFile(join(dir, 'main.py'), pyMain);
    const id = uniqueId('ruby');
    const r = await berthCli(server.url, ['deploy', dir, '--id', id, '--entrypoint', 'main.py', '--runtime', 'ruby3']);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(/runtime/);
    expect(r.stderr).toMatch(/python3\.11/);
    expect((await apiJson(server.url, `/v1/bots/${id}`)).status).toBe(404);
  });
});

describe('invalid API requests get a 4xx naming the field, never a 500 or a partial write', { timeout: 60_000 }, () => {
  const put = (id: string, body: unknown, headers: Record<string, string> = { 'content-type': 'application/json' }) =>
    apiJson<{ error: { code: string; issues?: { field: string }[]; message: string } }>(server.url, `/v1/bots/${id}`, {
      method: 'PUT',
      headers,
      body: typeof body === 'string' ? body : JSON.stringify(body),
    });

  it('bad id', async () => {
    const r = await put('Not_A_Slug', { id: 'Not_A_Slug', runtime: 'python', entrypoint: 'main.py', code: 'x' });
    expect(r.status).toBe(400);
    expect(r.body.error.issues?.map((i) => i.field)).toContain('id');
  });

  it('wrong types and config not an object', async () => {
    const id = uniqueId('types');
    const r = await put(id, { id, runtime: 'python', entrypoint: 42, config: [1, 2], enabled: 'yes', code: 'a'.repeat(64) });
    expect(r.status).toBe(400);
    const fields = r.body.error.issues?.map((i) => i.field) ?? [];
    expect(fields).toEqual(expect.arrayContaining(['entrypoint', 'config', 'enabled']));
    expect((await apiJson(server.url, `/v1/bots/${id}`)).status).toBe(404);
  });

  it('malformed JSON', async () => {
    const r = await put(uniqueId('json'), '{"id": ');
    expect(r.status).toBe(400);
  });

  it('oversized body', async () => {
    const id = uniqueId('big');
    const r = await put(id, { id, config: { blob: 'x'.repeat(2 * 1024 * 1024) } });
    expect(r.status).toBe(413);
    expect(r.body.error.message).toMatch(/\d+-byte limit/);
  });

  it('oversized package upload', async () => {
    const id = uniqueId('bigpkg');
    const answer = await postUntilAnswered(`${server.url}/v1/bots/${id}/package`, 300 * 1024 * 1024);
    expect(answer).toEqual({ status: 413, continued: false });
    expect(await serviceHealthy()).toBe(true);
    expect((await apiJson(server.url, `/v1/bots/${id}`)).status).toBe(404);
  });

  it('wrong content type', async () => {
    const r = await put(uniqueId('ctype'), 'id=x', { 'content-type': 'application/x-www-form-urlencoded' });
    expect(r.status).toBe(415);
  });
});
