/**
 * A bot's `config` nested thousands of levels deep (a few dozen KB of `{"a":{"a":…}}`) is a
 * 400 on `config` with the limit, found before anything that recurses (JSON.stringify for
 * the size limit, the spec hash, the stores) sees it — not a stack overflow and a 500.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { LIMITS, nestedDeeperThan, parseBotSpec } from '../../../src/domain/bot.js';
import { ValidationError } from '../../../src/domain/errors.js';
import { PYTHON_BOT, tarGzBuffer } from '../registry/fixtures.js';
import { openApiHarness, type ApiHarness } from './api-harness.js';

/** `{"a":{"a":…1…}}` with `levels` objects, as JSON text (built without recursion). */
function nestedJson(levels: number, leaf = '1'): string {
  return '{"a":'.repeat(levels) + leaf + '}'.repeat(levels);
}

describe('nestedDeeperThan', () => {
  it('counts objects and arrays, the outer one being level 1', () => {
    expect(nestedDeeperThan(1, 0)).toBe(false);
    expect(nestedDeeperThan({}, 0)).toBe(true);
    expect(nestedDeeperThan({}, 1)).toBe(false);
    expect(nestedDeeperThan({ a: [{ b: 'x' }] }, 3)).toBe(false);
    expect(nestedDeeperThan({ a: [{ b: 'x' }] }, 2)).toBe(true);
    expect(nestedDeeperThan({ wide: Array.from({ length: 1000 }, (_, i) => ({ i })) }, 3)).toBe(false);
  });

  it('copes with nesting far beyond what a recursive walk survives', () => {
    const deep = JSON.parse(nestedJson(200_000)) as unknown;
    expect(() => JSON.stringify(deep)).toThrow(RangeError);
    expect(nestedDeeperThan(deep, LIMITS.configDepth)).toBe(true);
  });
});

describe('config depth in the bot spec', () => {
  const base = {
    id: 'deep',
    runtime: 'python3.11',
    entrypoint: 'main.py',
    code: { key: `code/deep/${'0'.repeat(64)}.tar.gz`, sha256: '0'.repeat(64), size: 1, format: 'tar.gz', version: 'v' },
  };

  it(`accepts ${LIMITS.configDepth} levels and refuses one more, naming config and the limit`, () => {
    expect(parseBotSpec({ ...base, config: JSON.parse(nestedJson(LIMITS.configDepth)) }).config).toBeTruthy();
    let err: unknown;
    try {
      parseBotSpec({ ...base, config: JSON.parse(nestedJson(LIMITS.configDepth + 1)) });
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(ValidationError);
    expect((err as ValidationError).issues).toEqual([{ field: 'config', message: expect.stringContaining(`more than ${LIMITS.configDepth} levels deep`) }]);
  });
});

describe('PUT /v1/bots/:id with a deeply nested config', () => {
  let h: ApiHarness;
  beforeEach(async () => {
    h = await openApiHarness();
  });
  afterEach(async () => {
    await h.close();
  });

  async function upload(id: string): Promise<{ sha256: string }> {
    const res = await h.app.inject({
      method: 'POST',
      url: `/v1/bots/${id}/package`,
      headers: { 'content-type': 'application/gzip' },
      payload: await tarGzBuffer(PYTHON_BOT),
    });
    expect(res.statusCode, res.body.slice(0, 300)).toBe(200);
    return (res.json() as { code: { sha256: string } }).code;
  }

  function putRaw(id: string, body: string) {
    return h.app.inject({ method: 'PUT', url: `/v1/bots/${id}`, headers: { 'content-type': 'application/json' }, payload: body });
  }

  it('4,100 levels (a ~25 KB body) is a 400 on config with the limit, and nothing is written', async () => {
    const code = await upload('deep');
    const body = `{"code":{"sha256":"${code.sha256}"},"config":${nestedJson(4_100)}}`;
    expect(body.length).toBeLessThan(64 * 1024);
    const res = await putRaw('deep', body);
    expect(res.statusCode, res.body.slice(0, 300)).toBe(400);
    const error = (res.json() as { error: { code: string; issues: { field: string; message: string }[] } }).error;
    expect(error.code).toBe('invalid');
    expect(error.issues).toEqual([{ field: 'config', message: expect.stringContaining(String(LIMITS.configDepth)) }]);
    expect(await h.store.listBots()).toEqual([]);
  });

  it('a deep value in env is refused as not a string (env values are never walked)', async () => {
    const code = await upload('deep-env');
    const res = await putRaw('deep-env', `{"code":{"sha256":"${code.sha256}"},"env":{"X":${nestedJson(4_100)}}}`);
    expect(res.statusCode, res.body.slice(0, 300)).toBe(400);
    expect((res.json() as { error: { issues: { field: string }[] } }).error.issues.map((i) => i.field)).toEqual(['env.X']);
  });

  it(`${LIMITS.configDepth} levels deploy`, async () => {
    const code = await upload('deep-ok');
    const res = await putRaw('deep-ok', `{"code":{"sha256":"${code.sha256}"},"config":${nestedJson(LIMITS.configDepth)}}`);
    expect(res.statusCode, res.body.slice(0, 300)).toBe(201);
  });
});
