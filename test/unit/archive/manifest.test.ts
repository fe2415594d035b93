/** bot-config.yaml in the seed platform's format, and the entrypoint check. */
import { describe, expect, it } from 'vitest';
import { checkEntrypoint, parseManifest } from '../../../src/archive/index.js';
import type { PackageInspection } from '../../../src/archive/index.js';
import { PackageRejectedError } from '../../../src/domain/errors.js';

describe('parseManifest', () => {
  it('maps the fields of a the0 package', () => {
    expect(
      parseManifest('name: counter\ndescription: x\ntype: scheduled\nruntime: nodejs20\nentrypoints:\n  bot: ./src/main.js\n  backtest: bt.js\nschedule: "*/5 * * * *"\n'),
    ).toEqual({ flavor: 'the0', name: 'counter', kind: 'scheduled', runtime: 'nodejs20', entrypoint: 'src/main.js', schedule: '*/5 * * * *' });
    expect(parseManifest('type: realtime\n')).toEqual({ flavor: 'the0', kind: 'live' });
    expect(parseManifest('')).toEqual({ flavor: 'the0' });
  });

  it.each([
    ['name: [1, 2]\n', /"name" must be a string \(got a list\)/],
    ['type: daily\n', /"type" must be "realtime" or "scheduled" \(got "daily"\)/],
    ['runtime: 3.11\n', /"runtime" must be a string \(got number 3\.11\)/],
    ['entrypoints: main.py\n', /"entrypoints" must be a mapping/],
    ['entrypoints:\n  bot: 7\n', /"bot" must be a string/],
    ['entrypoints:\n  bot: ../x.py\n', /"entrypoints\.bot" must be a relative path inside the package/],
    ['entrypoints:\n  bot: /abs.py\n', /"entrypoints\.bot" must be a relative path/],
    ['schedule: {a: 1}\n', /"schedule" must be a string \(got a mapping\)/],
    ['- a\n- b\n', /must be a mapping of fields \(got a list\)/],
    ['name: a\nname: b\n', /not valid YAML/],
    ['name: "unterminated\n', /not valid YAML/],
  ])('rejects %j naming the field', (text, pattern) => {
    let caught: unknown;
    try {
      parseManifest(text);
    } catch (err) {
      caught = err;
    }
    expect(caught).toBeInstanceOf(PackageRejectedError);
    expect((caught as Error).message).toMatch(pattern);
    expect((caught as Error).message).toMatch(/bot-config\.yaml/);
    expect((caught as Error).message.split('\n')).toHaveLength(1);
  });
});

describe('checkEntrypoint', () => {
  const inspection = (paths: [string, 'file' | 'dir' | 'symlink', string?][]): PackageInspection => ({
    format: 'zip',
    sha256: '0'.repeat(64),
    size: 1,
    totalUncompressed: 1,
    entries: paths.map(([p, type, target]) => ({ path: p, type, size: 0, ...(target ? { target } : {}) })),
  });

  it('accepts a file, or a symlink to a file inside', () => {
    expect(() => checkEntrypoint(inspection([['main.py', 'file']]), 'main.py')).not.toThrow();
    expect(() => checkEntrypoint(inspection([['src', 'dir'], ['src/m.py', 'file'], ['m.py', 'symlink', 'src/m.py']]), './m.py')).not.toThrow();
  });

  it('explains a missing entrypoint, a directory, and a package wrapped in one top-level directory', () => {
    expect(() => checkEntrypoint(inspection([['a.py', 'file']]), 'main.py')).toThrow(/"main\.py" is not in the package/);
    expect(() => checkEntrypoint(inspection([['main.py', 'dir']]), 'main.py')).toThrow(/is a directory/);
    expect(() => checkEntrypoint(inspection([['bot', 'dir'], ['bot/main.py', 'file']]), 'main.py')).toThrow(/under "bot\/"; pack the contents/);
  });
});
