/** bot-config.yaml in the seed platform's format, and the entrypoint check. */
import { describe, expect, it } from 'vitest';
import { checkEntrypoint, parseManifest, parseManifestWithWarnings } from '../../../src/archive/index.js';
import type { PackageInspection } from '../../../src/archive/index.js';
import { PackageRejectedError } from '../../../src/domain/errors.js';
import { editDistance, nearMiss } from '../../../src/domain/spelling.js';

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

describe('bot-config.yaml keys', () => {
  const rejection = (text: string): Error => {
    try {
      parseManifest(text);
    } catch (err) {
      return err as Error;
    }
    throw new Error(`accepted: ${JSON.stringify(text)}`);
  };

  it.each([
    ['entrypoint: nothere.py\n', 'unknown key "entrypoint": did you mean "entrypoints"? Write the file to run as "entrypoints: {bot: nothere.py}"'],
    ['tpye: realtime\n', 'unknown key "tpye": did you mean "type"? Write "type: realtime" (a live bot) or "type: scheduled"'],
    ['runtme: python3.11\n', 'unknown key "runtme": did you mean "runtime"? Rename it (the keys Berth reads are name, type, runtime, entrypoints.bot and schedule)'],
    ['Name: x\n', 'unknown key "Name": did you mean "name"?'],
    ['shedule: "@daily"\n', 'unknown key "shedule": did you mean "schedule"?'],
    ['kind: scheduled\n', 'unknown key "kind": did you mean "type"?'],
    ['cron: "@daily"\n', 'unknown key "cron": did you mean "schedule"?'],
    ['entrypoints:\n  bto: main.py\n', 'unknown key "entrypoints.bto": did you mean "entrypoints.bot"?'],
  ])('refuses %j, a near miss of a key Berth reads, naming the right one', (text, message) => {
    const err = rejection(text);
    expect(err).toBeInstanceOf(PackageRejectedError);
    expect(err.message).toContain(`bot-config.yaml: ${message}`);
    expect(err.message.split('\n')).toHaveLength(1);
  });

  it("accepts the0's keys that Berth does not use, silently", () => {
    const text =
      'name: x\ndescription: d\nversion: 1.0.0\nauthor: a\ntype: realtime\nruntime: python3.11\nentrypoints:\n  bot: main.py\n  backtest: bt.py\n' +
      'schema:\n  bot: bot-schema.json\nreadme: README.md\nmetadata:\n  tags: [x]\n';
    expect(parseManifestWithWarnings(text)).toEqual({
      manifest: { flavor: 'the0', name: 'x', kind: 'live', runtime: 'python3.11', entrypoint: 'main.py' },
      warnings: [],
    });
  });

  it('warns about any other key, which is ignored', () => {
    const { manifest, warnings } = parseManifestWithWarnings('name: x\nlicense: MIT\ndescripton: typo\nnote: n\n');
    expect(manifest).toEqual({ flavor: 'the0', name: 'x' });
    expect(warnings).toEqual([
      'bot-config.yaml: unknown key "license" is ignored; Berth reads name, type, runtime, entrypoints.bot and schedule',
      'bot-config.yaml: unknown key "descripton" is ignored (did you mean "description"? Berth does not use that one either)',
      'bot-config.yaml: unknown key "note" is ignored; Berth reads name, type, runtime, entrypoints.bot and schedule',
    ]);
  });

  it('warns when entrypoints has no bot, the only one Berth runs', () => {
    const { manifest, warnings } = parseManifestWithWarnings('entrypoints:\n  backtest: bt.py\n');
    expect(manifest).toEqual({ flavor: 'the0' });
    expect(warnings).toEqual([expect.stringMatching(/^bot-config\.yaml: "entrypoints" has no "bot" \(only "backtest"\), and Berth runs only entrypoints\.bot/)]);
  });

  it('keys named like Object.prototype members are plain unknown keys', () => {
    expect(parseManifestWithWarnings('constructor: 1\ntoString: 2\n').warnings).toHaveLength(2);
  });
});

describe('edit distance for near misses', () => {
  it('counts a swap of neighbours as one edit', () => {
    expect(editDistance('tpye', 'type')).toBe(1);
    expect(editDistance('runtme', 'runtime')).toBe(1);
    expect(editDistance('kitten', 'sitting')).toBe(3);
    expect(editDistance('', 'abc')).toBe(3);
  });

  it('allows one edit for short words, two for longer ones, ignoring case', () => {
    expect(nearMiss('nmae', ['name', 'type'])).toBe('name');
    expect(nearMiss('note', ['name', 'type'])).toBeUndefined();
    expect(nearMiss('ENTRYPONT', ['entrypoints'])).toBe('entrypoints');
    expect(nearMiss('backtest', ['bot'])).toBeUndefined();
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
