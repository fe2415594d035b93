import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { readdir } from 'node:fs/promises';
import { formatLogChunk } from '../../../src/domain/logs.js';
import { objectKeys } from '../../../src/domain/object-keys.js';
import { encodeProblemRecord, type StateProblem } from '../../../src/domain/state-problem.js';
import { createApi } from '../../../src/api/create-api.js';
import { LogReader } from '../../../src/core/queries/log-reader.js';
import { StateReader } from '../../../src/core/queries/state-reader.js';
import { flushEvents } from '../registry/harness.js';
import { PYTHON_BOT, tarGzBuffer, zipBuffer } from '../registry/fixtures.js';
import { openApiHarness, type ApiHarness } from './api-harness.js';

let h: ApiHarness;
beforeEach(async () => {
  h = await openApiHarness();
});
afterEach(async () => {
  await h.close();
});

const ID = 'api-bot';

async function uploadPackage(id = ID, entries = PYTHON_BOT) {
  const res = await h.app.inject({
    method: 'POST',
    url: `/v1/bots/${id}/package`,
    headers: { 'content-type': 'application/gzip' },
    payload: await tarGzBuffer(entries),
  });
  expect(res.statusCode, res.body).toBe(200);
  return res.json() as { code: { sha256: string; key: string }; entries: number };
}

function put(id: string, spec: unknown) {
  return h.app.inject({ method: 'PUT', url: `/v1/bots/${id}`, payload: spec as object });
}

/** Everything that would show a partial write: records, statuses and objects. */
async function snapshot() {
  return { bots: await h.store.listBots(), statuses: await h.store.listStatuses(), keys: await h.keys() };
}

describe('deploy through the API', () => {
  it('upload, create (201, one event), identical redeploy (200, changed=false, no event), config change (generation 2, one event)', async () => {
    const { code } = await uploadPackage();
    const created = await put(ID, { code, config: { n: 1 } });
    expect(created.statusCode).toBe(201);
    expect(created.json()).toMatchObject({ changed: true, op: 'created', bot: { id: ID, generation: 1 } });
    expect(created.headers['x-request-id']).toBeTruthy();

    const same = await put(ID, { code, config: { n: 1 } });
    expect(same.statusCode).toBe(200);
    expect(same.json()).toMatchObject({ changed: false, op: 'unchanged', bot: { generation: 1 } });
    await flushEvents(h.events);
    expect(h.changed).toHaveLength(1);

    const changed = await put(ID, { id: ID, code: { sha256: code.sha256 }, config: { n: 2 } });
    expect(changed.json()).toMatchObject({ changed: true, op: 'updated', bot: { generation: 2, config: { n: 2 } } });
    await flushEvents(h.events);
    expect(h.changed.map((e) => e.op)).toEqual(['created', 'updated']);
  });

  it('accepts media types with parameters and in any case', async () => {
    const res = await h.app.inject({
      method: 'POST',
      url: `/v1/bots/${ID}/package`,
      headers: { 'content-type': 'Application/GZIP; name=bot.tar.gz' },
      payload: await tarGzBuffer(PYTHON_BOT),
    });
    expect(res.statusCode, res.body).toBe(200);
    const spec = await h.app.inject({
      method: 'PUT',
      url: `/v1/bots/${ID}`,
      headers: { 'content-type': 'application/json; charset=utf-8' },
      payload: JSON.stringify({ code: res.json().code }),
    });
    expect(spec.statusCode, spec.body).toBe(201);
  });

  it('accepts a zip upload as application/zip', async () => {
    const res = await h.app.inject({
      method: 'POST',
      url: `/v1/bots/${ID}/package`,
      headers: { 'content-type': 'application/zip' },
      payload: zipBuffer([{ path: 'index.js', body: 'module.exports = () => {}\n' }]),
    });
    expect(res.statusCode, res.body).toBe(200);
    expect(res.json()).toMatchObject({ code: { format: 'zip' }, entries: 1 });
  });

  it('lists and inspects bots with their status', async () => {
    const { code } = await uploadPackage();
    await put(ID, { code });
    await h.store.writeStatus({ botId: ID, phase: 'running', restartCount: 0, containerId: 'c1', updatedAt: new Date().toISOString() });
    const list = await h.app.inject({ method: 'GET', url: '/v1/bots' });
    expect(list.json()).toMatchObject({ bots: [{ bot: { id: ID }, status: { phase: 'running' }, state: 'running' }] });
    const one = await h.app.inject({ method: 'GET', url: `/v1/bots/${ID}` });
    expect(one.json()).toMatchObject({ bot: { id: ID }, state: 'running' });
    expect((await h.app.inject({ method: 'GET', url: '/v1/bots/nobody' })).statusCode).toBe(404);
  });

  it('enable, disable and delete (keepData and not)', async () => {
    const { code } = await uploadPackage();
    await put(ID, { code });
    const disabled = await h.app.inject({ method: 'POST', url: `/v1/bots/${ID}/disable` });
    expect(disabled.json()).toMatchObject({ changed: true, bot: { enabled: false } });
    // An empty JSON body is "no body", not a parse error.
    const enabled = await h.app.inject({ method: 'POST', url: `/v1/bots/${ID}/enable`, headers: { 'content-type': 'application/json' } });
    expect(enabled.statusCode, enabled.body).toBe(200);
    expect(enabled.json()).toMatchObject({ bot: { enabled: true } });

    await h.objects.put(objectKeys.state(ID), await tarGzBuffer([{ path: 'state.json', body: '{}' }]));
    const kept = await h.app.inject({ method: 'DELETE', url: `/v1/bots/${ID}?keepData=true` });
    expect(kept.json()).toMatchObject({ id: ID, deleted: true, keptData: true });
    expect(await h.objects.stat(objectKeys.state(ID))).not.toBeNull();
    // The kept state is still readable.
    expect((await h.app.inject({ method: 'GET', url: `/v1/bots/${ID}/state` })).statusCode).toBe(200);

    await put(ID, { code: (await uploadPackage()).code });
    const gone = await h.app.inject({ method: 'DELETE', url: `/v1/bots/${ID}` });
    expect(gone.json()).toMatchObject({ deleted: true, keptData: false });
    expect(await h.keys()).toEqual([]);
    expect((await h.app.inject({ method: 'DELETE', url: `/v1/bots/${ID}` })).statusCode).toBe(404);
    expect((await h.app.inject({ method: 'POST', url: `/v1/bots/${ID}/enable` })).statusCode).toBe(404);
  });

  it('DELETE of an id whose deploy was refused removes the uploaded package; 404 once nothing is left', async () => {
    const { code } = await uploadPackage();
    expect((await put(ID, { code, entrypoint: 'missing.py' })).statusCode).toBe(400);
    expect(await h.keys()).toHaveLength(2);
    const leftovers = await h.app.inject({ method: 'DELETE', url: `/v1/bots/${ID}` });
    expect(leftovers.statusCode, leftovers.body).toBe(200);
    expect(leftovers.json()).toMatchObject({
      id: ID,
      deleted: true,
      hadRecord: false,
      objectsDeleted: 2,
      deletedObjects: { code: 2, state: 0, logs: 0, runs: 0 },
    });
    expect(await h.keys()).toEqual([]);
    const nothing = await h.app.inject({ method: 'DELETE', url: `/v1/bots/${ID}` });
    expect(nothing.statusCode).toBe(404);
    expect(nothing.json().error.message).toBe(`bot "${ID}" does not exist and nothing is stored under its id`);
  });
});

describe('invalid requests: 4xx naming the field, nothing written', () => {
  it('bad id in the path', async () => {
    const before = await snapshot();
    for (const res of [
      await put('Bad_Id', { code: 'x' }),
      await h.app.inject({ method: 'POST', url: '/v1/bots/-bad/package', headers: { 'content-type': 'application/gzip' }, payload: await tarGzBuffer(PYTHON_BOT) }),
      await h.app.inject({ method: 'GET', url: `/v1/bots/${'a'.repeat(64)}` }),
      await h.app.inject({ method: 'GET', url: `/v1/bots/${'a'.repeat(300)}/state` }),
      await h.app.inject({ method: 'GET', url: `/v1/bots/bot%2F..%2Fetc` }),
    ]) {
      expect(res.statusCode).toBe(400);
      expect(res.json().error).toMatchObject({ code: 'invalid', issues: [{ field: 'id' }] });
    }
    expect(await snapshot()).toEqual(before);
  });

  it('an id in the body that differs from the path', async () => {
    const { code } = await uploadPackage();
    const res = await put(ID, { id: 'other', code });
    expect(res.statusCode).toBe(400);
    expect(res.json().error.issues).toEqual([{ field: 'id', message: expect.stringContaining('path') }]);
  });

  it('wrong types, config not an object, unknown field', async () => {
    const { code } = await uploadPackage();
    const before = await snapshot();
    const res = await put(ID, { code, config: 'not-an-object', resources: { cpus: 'two' }, env: { GOOD: 1 }, colour: 'blue' });
    expect(res.statusCode).toBe(400);
    const issues = res.json().error.issues as { field: string; message: string }[];
    expect(issues.map((i) => i.field)).toEqual(expect.arrayContaining(['config', 'resources.cpus', 'env.GOOD']));
    expect(issues.some((i) => i.message.includes('"colour"'))).toBe(true);
    expect(await snapshot()).toEqual(before);
  });

  it('a body that is not an object, malformed JSON, an empty body', async () => {
    const array = await h.app.inject({ method: 'PUT', url: `/v1/bots/${ID}`, headers: { 'content-type': 'application/json' }, payload: '[1,2]' });
    expect(array.statusCode).toBe(400);
    expect(array.json().error.code).toBe('invalid');
    const broken = await h.app.inject({ method: 'PUT', url: `/v1/bots/${ID}`, headers: { 'content-type': 'application/json' }, payload: '{"code": ' });
    expect(broken.statusCode).toBe(400);
    expect(broken.json().error.code).toBe('malformed-json');
    const poisoned = await h.app.inject({ method: 'PUT', url: `/v1/bots/${ID}`, headers: { 'content-type': 'application/json' }, payload: '{"__proto__": {"x": 1}}' });
    expect(poisoned.statusCode).toBe(400);
    expect(broken.json().error.message).toBe('request body is not valid JSON');
    const empty = await h.app.inject({ method: 'PUT', url: `/v1/bots/${ID}`, headers: { 'content-type': 'application/json' }, payload: '' });
    expect(empty.statusCode).toBe(400);
  });

  it('a body refused for a prototype-poisoning key is a 400 naming the key, not "not valid JSON"', async () => {
    const before = await snapshot();
    for (const [payload, key] of [
      ['{"__proto__": {"x": 1}}', '__proto__'],
      ['{"code": "x", "config": {"a": [{"__proto__": {}}]}}', 'config.a[0].__proto__'],
      ['{"config": {"constructor": {"prototype": {"polluted": true}}}}', 'config.constructor.prototype'],
    ] as const) {
      const res = await h.app.inject({ method: 'PUT', url: `/v1/bots/${ID}`, headers: { 'content-type': 'application/json' }, payload });
      expect(res.statusCode, payload).toBe(400);
      expect(res.json().error).toEqual({
        code: 'malformed-json',
        message: `request body has the key "${key}", which is refused: "__proto__" keys and "constructor" keys holding "prototype" could change the prototype of objects on the server (prototype poisoning); rename or remove it`,
      });
    }
    // A "constructor" key that holds no "prototype" is an ordinary key.
    const plain = await h.app.inject({ method: 'PUT', url: `/v1/bots/${ID}`, headers: { 'content-type': 'application/json' }, payload: '{"config": {"constructor": 1}}' });
    expect(plain.json().error.code).not.toBe('malformed-json');
    expect(await snapshot()).toEqual(before);
  });

  it('an oversized JSON body is 413 naming the limit', async () => {
    const res = await put(ID, { code: 'x', config: { blob: 'x'.repeat(70 * 1024) } });
    expect(res.statusCode).toBe(413);
    expect(res.json().error).toMatchObject({ code: 'body-too-large', message: expect.stringContaining('65536') });
  });

  it('an oversized package is 413 naming the limit, with nothing stored and no temp file left', async () => {
    const big = Buffer.alloc(1024 * 1024 + 1, 1);
    const declared = await h.app.inject({ method: 'POST', url: `/v1/bots/${ID}/package`, headers: { 'content-type': 'application/gzip' }, payload: big });
    expect(declared.statusCode).toBe(413);
    expect(declared.json().error.message).toContain('1048576');
    // Without a content-length the limit is enforced while streaming.
    const { Readable } = await import('node:stream');
    const streamed = await h.app.inject({
      method: 'POST',
      url: `/v1/bots/${ID}/package`,
      headers: { 'content-type': 'application/octet-stream' },
      payload: Readable.from([big.subarray(0, 600_000), big.subarray(600_000)]),
    });
    expect(streamed.statusCode).toBe(413);
    expect(await h.keys()).toEqual([]);
    expect((await readdir(h.dir)).filter((f) => f.startsWith('berth-upload-'))).toEqual([]);
  });

  it('wrong content types are 415 saying what is accepted', async () => {
    const json = await h.app.inject({ method: 'POST', url: `/v1/bots/${ID}/package`, payload: { not: 'a package' } });
    expect(json.statusCode).toBe(415);
    expect(json.json().error.message).toContain('application/zip');
    const zipAsSpec = await h.app.inject({ method: 'PUT', url: `/v1/bots/${ID}`, headers: { 'content-type': 'application/zip' }, payload: Buffer.from('PK') });
    expect(zipAsSpec.statusCode).toBe(415);
    expect(zipAsSpec.json().error.message).toContain('application/json');
    const textAsSpec = await h.app.inject({ method: 'PUT', url: `/v1/bots/${ID}`, headers: { 'content-type': 'text/plain' }, payload: '{"runtime":"python"}' });
    expect(textAsSpec.statusCode).toBe(415);
    expect(textAsSpec.json().error.message).toContain('application/json');
  });

  it('a hostile package is 422 naming the entry, nothing stored', async () => {
    for (const entries of [
      [{ path: 'main.py', body: '' }, { path: '/etc/cron.d/evil', body: 'x' }],
      [{ path: 'main.py', body: '' }, { path: 'link', type: 'symlink' as const, linkname: '/etc' }],
    ]) {
      const res = await h.app.inject({
        method: 'POST',
        url: `/v1/bots/${ID}/package`,
        headers: { 'content-type': 'application/gzip' },
        payload: await tarGzBuffer(entries),
      });
      expect(res.statusCode, res.body).toBe(422);
      expect(res.json().error.code).toBe('package-rejected');
      expect(res.json().error.entry).toBeTruthy();
    }
    expect(await h.keys()).toEqual([]);
  });

  it('garbage, a truncated archive and an empty body are 422, never 500', async () => {
    const good = await tarGzBuffer(PYTHON_BOT);
    for (const payload of [Buffer.from('hello, not an archive'), good.subarray(0, good.length - 20), Buffer.alloc(0)]) {
      const res = await h.app.inject({
        method: 'POST',
        url: `/v1/bots/${ID}/package`,
        headers: { 'content-type': 'application/octet-stream' },
        payload,
      });
      expect(res.statusCode, res.body).toBe(422);
      expect(res.json().error.code).toBe('package-rejected');
    }
    expect(await h.keys()).toEqual([]);
  });

  it('a bomb (expands past the limit) is 422 and nothing is stored', async () => {
    const small = await openApiHarness({}, { maxBytes: 1024 * 1024 });
    try {
      const bomb = await tarGzBuffer([{ path: 'main.py', body: '' }, { path: 'zeros.bin', body: Buffer.alloc(20 * 1024 * 1024) }]);
      expect(bomb.length).toBeLessThan(100 * 1024);
      const res = await small.app.inject({
        method: 'POST',
        url: `/v1/bots/${ID}/package`,
        headers: { 'content-type': 'application/gzip' },
        payload: bomb,
      });
      expect(res.statusCode, res.body).toBe(422);
      expect(res.json().error.message).toMatch(/zeros\.bin|limit|large/i);
      expect(await small.keys()).toEqual([]);
    } finally {
      await small.close();
    }
  });

  it('bot-config.yaml: the upload answer carries warnings for ignored keys; a near miss of a key Berth reads is 422 naming it', async () => {
    const upload = async (config: string) =>
      h.app.inject({
        method: 'POST',
        url: `/v1/bots/${ID}/package`,
        headers: { 'content-type': 'application/gzip' },
        payload: await tarGzBuffer([...PYTHON_BOT, { path: 'bot-config.yaml', body: config }]),
      });
    const warned = await upload('type: realtime\nlicense: MIT\n');
    expect(warned.statusCode, warned.body).toBe(200);
    expect(warned.json().warnings).toEqual(['bot-config.yaml: unknown key "license" is ignored; Berth reads name, type, runtime, entrypoints.bot and schedule']);
    const clean = await upload('type: realtime\ndescription: fine\n');
    expect(clean.json()).not.toHaveProperty('warnings');
    const before = await h.keys();
    const refused = await upload('tpye: realtime\n');
    expect(refused.statusCode).toBe(422);
    expect(refused.json().error).toMatchObject({ code: 'package-rejected', entry: 'bot-config.yaml', message: expect.stringContaining('unknown key "tpye": did you mean "type"?') });
    expect(await h.keys()).toEqual(before);
  });

  it('a missing entrypoint and an unknown runtime are 400 naming the field', async () => {
    const { code } = await uploadPackage();
    const missing = await put(ID, { code, entrypoint: 'bot.py' });
    expect(missing.statusCode).toBe(400);
    expect(missing.json().error.issues[0]).toMatchObject({ field: 'entrypoint' });
    const runtime = await put(ID, { code, runtime: 'cobol' });
    expect(runtime.json().error.issues[0]).toMatchObject({ field: 'runtime' });
    expect(await h.store.listBots()).toEqual([]);
  });

  it('bad query parameters name the parameter', async () => {
    const { code } = await uploadPackage();
    await put(ID, { code });
    for (const [query, field] of [
      ['tail=abc', 'tail'],
      ['tail=-1', 'tail'],
      ['since=yesterday-ish', 'since'],
      ['follow=maybe', 'follow'],
    ] as const) {
      const res = await h.app.inject({ method: 'GET', url: `/v1/bots/${ID}/logs?${query}` });
      expect(res.statusCode, query).toBe(400);
      expect(res.json().error.issues[0].field).toBe(field);
    }
    const keep = await h.app.inject({ method: 'DELETE', url: `/v1/bots/${ID}?keepData=perhaps` });
    expect(keep.statusCode).toBe(400);
    expect(await h.store.getBot(ID)).not.toBeNull();
  });

  it('unknown routes are a JSON 404', async () => {
    const res = await h.app.inject({ method: 'GET', url: '/v2/anything' });
    expect(res.statusCode).toBe(404);
    expect(res.json().error.code).toBe('not-found');
  });
});

describe('logs and state', () => {
  const T0 = Date.UTC(2025, 0, 1);
  async function writeLogs(id: string) {
    for (let c = 0; c < 3; c++) {
      const lines = [0, 1].map((i) => ({ time: new Date(T0 + c * 1000 + i).toISOString(), stream: 'out' as const, line: `c${c}-${i}` }));
      await h.objects.put(objectKeys.logChunk(id, T0 + c * 1000 + 500, c), Buffer.from(formatLogChunk(lines)));
    }
  }

  it('reads with tail and since', async () => {
    const { code } = await uploadPackage();
    await put(ID, { code });
    await writeLogs(ID);
    const all = await h.app.inject({ method: 'GET', url: `/v1/bots/${ID}/logs` });
    expect(all.json().entries.map((e: { line: string }) => e.line)).toEqual(['c0-0', 'c0-1', 'c1-0', 'c1-1', 'c2-0', 'c2-1']);
    const tail = await h.app.inject({ method: 'GET', url: `/v1/bots/${ID}/logs?tail=3` });
    expect(tail.json().entries.map((e: { line: string }) => e.line)).toEqual(['c1-1', 'c2-0', 'c2-1']);
    const since = await h.app.inject({ method: 'GET', url: `/v1/bots/${ID}/logs?since=${new Date(T0 + 1001).toISOString()}` });
    expect(since.json().entries.map((e: { line: string }) => e.line)).toEqual(['c1-1', 'c2-0', 'c2-1']);
    const sinceMs = await h.app.inject({ method: 'GET', url: `/v1/bots/${ID}/logs?since=${T0 + 2000}&tail=1` });
    expect(sinceMs.json().entries.map((e: { line: string }) => e.line)).toEqual(['c2-1']);
    expect((await h.app.inject({ method: 'GET', url: '/v1/bots/ghost/logs' })).statusCode).toBe(404);
  });

  it('an unknown run id is a 404 naming the run, not an empty answer', async () => {
    const { code } = await uploadPackage();
    await put(ID, { code });
    await writeLogs(ID);
    const res = await h.app.inject({ method: 'GET', url: `/v1/bots/${ID}/logs?runId=20250101T000000Z-nope` });
    expect(res.statusCode).toBe(404);
    expect(res.json().error.message).toContain('has no run "20250101T000000Z-nope"');
    // A live bot has no runs at all: a follow is refused too, instead of waiting forever.
    const follow = await h.app.inject({ method: 'GET', url: `/v1/bots/${ID}/logs?runId=s20250101000000&follow=1` });
    expect(follow.statusCode).toBe(404);
    expect(follow.json().error.message).toMatch(/live bot, and only scheduled bots have runs/);
  });

  it('reads the persisted state.json', async () => {
    const { code } = await uploadPackage();
    await put(ID, { code });
    const empty = await h.app.inject({ method: 'GET', url: `/v1/bots/${ID}/state` });
    expect(empty.json()).toEqual({ botId: ID, exists: false, files: [] });
    await h.objects.put(objectKeys.state(ID), await tarGzBuffer([{ path: 'state.json', body: '{"counter":7}' }]));
    const res = await h.app.inject({ method: 'GET', url: `/v1/bots/${ID}/state` });
    expect(res.json()).toMatchObject({ botId: ID, exists: true, stateJson: { counter: 7 }, files: [{ path: 'state.json', size: 13 }] });
    expect((await h.app.inject({ method: 'GET', url: '/v1/bots/ghost/state' })).statusCode).toBe(404);
  });

  it('says when the newest state is not being saved: in the state and in the bot; rm deletes the record with the state', async () => {
    const { code } = await uploadPackage();
    await put(ID, { code });
    const problem: StateProblem = { kind: 'too-large', message: 'the directory holds more than the 512 MiB allowed (entry "prices.bin")', since: '2026-03-01T10:00:00.000Z' };
    await h.objects.put(objectKeys.stateProblem(ID), encodeProblemRecord({ problem, at: problem.since }));
    const state = await h.app.inject({ method: 'GET', url: `/v1/bots/${ID}/state` });
    expect(state.json()).toEqual({ botId: ID, exists: false, files: [], problem });
    expect((await h.app.inject({ method: 'GET', url: `/v1/bots/${ID}` })).json()).toMatchObject({ bot: { id: ID }, stateProblem: problem });
    expect((await h.app.inject({ method: 'GET', url: '/v1/bots' })).json().bots[0].stateProblem).toBeUndefined();

    // Kept data of a removed bot: the record alone is data worth showing.
    await h.app.inject({ method: 'DELETE', url: `/v1/bots/${ID}?keepData=true` });
    expect((await h.app.inject({ method: 'GET', url: `/v1/bots/${ID}/state` })).json()).toMatchObject({ problem });

    await put(ID, { code: (await uploadPackage()).code });
    expect((await h.app.inject({ method: 'DELETE', url: `/v1/bots/${ID}` })).json()).toMatchObject({ deleted: true, keptData: false });
    expect(await h.objects.stat(objectKeys.stateProblem(ID))).toBeNull();
  });
});

describe('health, errors, token', () => {
  it('health is 200 when every dependency is up and 503 naming the one that is down', async () => {
    const ok = await h.app.inject({ method: 'GET', url: '/v1/health' });
    expect(ok.statusCode).toBe(200);
    expect(ok.json()).toMatchObject({ ok: true, runtime: 'docker' });
    h.health = [{ name: 'objects', ok: false, detail: 'ENOSPC', since: new Date().toISOString() }];
    const down = await h.app.inject({ method: 'GET', url: '/v1/health' });
    expect(down.statusCode).toBe(503);
    expect(down.json()).toMatchObject({ ok: false, dependencies: [{ name: 'objects', ok: false }] });
  });

  it('an unexpected error is a 500 with a request id and no internals', async () => {
    const failing = Object.create(h.store) as typeof h.store;
    failing.listBots = async () => {
      throw new Error('SQLITE_CORRUPT at /secret/path/berth.db');
    };
    const app = createApi({
      registry: h.registry,
      logs: new LogReader({ objects: h.objects }),
      state: new StateReader({ objects: h.objects }),
      store: failing,
      health: () => [],
      runtimeName: 'docker',
      bodyLimitBytes: 1024,
    });
    try {
      const res = await app.inject({ method: 'GET', url: '/v1/bots' });
      expect(res.statusCode).toBe(500);
      expect(res.body).not.toContain('secret');
      expect(res.body).not.toContain('SQLITE');
      expect(res.json().error.requestId).toBe(res.headers['x-request-id']);
    } finally {
      await app.close();
    }
  });

  it('with a token, requests without the right bearer token are 401 and change nothing', async () => {
    const secured = await openApiHarness({ token: 's3cret-token' });
    try {
      const none = await secured.app.inject({ method: 'GET', url: '/v1/bots' });
      expect(none.statusCode).toBe(401);
      expect(none.json().error.code).toBe('unauthorized');
      expect(none.headers['www-authenticate']).toContain('Bearer');
      const wrong = await secured.app.inject({ method: 'GET', url: '/v1/bots', headers: { authorization: 'Bearer s3cret-tokem' } });
      expect(wrong.statusCode).toBe(401);
      const basic = await secured.app.inject({ method: 'GET', url: '/v1/bots', headers: { authorization: 'Basic czNjcmV0LXRva2Vu' } });
      expect(basic.statusCode).toBe(401);
      const upload = await secured.app.inject({
        method: 'POST',
        url: `/v1/bots/${ID}/package`,
        headers: { 'content-type': 'application/gzip' },
        payload: await tarGzBuffer(PYTHON_BOT),
      });
      expect(upload.statusCode).toBe(401);
      expect(await secured.keys()).toEqual([]);
      const right = await secured.app.inject({ method: 'GET', url: '/v1/bots', headers: { authorization: 'Bearer s3cret-token' } });
      expect(right.statusCode).toBe(200);
    } finally {
      await secured.close();
    }
  });
});

describe('upload staging', () => {
  it('sweeps upload directories left by a dead process, and only old ones', async () => {
    const { mkdir, utimes } = await import('node:fs/promises');
    const path = await import('node:path');
    const { sweepStaleUploads } = await import('../../../src/api/upload.js');
    const old = path.join(h.dir, 'berth-upload-dead');
    const fresh = path.join(h.dir, 'berth-upload-live');
    await mkdir(old);
    await mkdir(fresh);
    const twoHoursAgo = new Date(Date.now() - 2 * 3600_000);
    await utimes(old, twoHoursAgo, twoHoursAgo);
    expect(await sweepStaleUploads(h.dir, 3600_000)).toBe(1);
    expect((await readdir(h.dir)).filter((f) => f.startsWith('berth-upload-'))).toEqual(['berth-upload-live']);
  });
});
