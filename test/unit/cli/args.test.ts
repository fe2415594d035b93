import { describe, expect, it } from 'vitest';
import {
  checkBotId,
  classifyPackage,
  defaultBotId,
  parseConfigOption,
  parseEnvPairs,
  parsePositiveInt,
  parseWholeNumber,
  parseSince,
  slugify,
} from '../../../src/cli/args.js';
import { CliError } from '../../../src/cli/errors.js';

function usage(fn: () => unknown): CliError {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(CliError);
    expect((err as CliError).exitCode).toBe(2);
    return err as CliError;
  }
  throw new Error('expected a usage error');
}

describe('parseEnvPairs', () => {
  it('splits at the first "=" and keeps the rest, including empty values', () => {
    expect(parseEnvPairs(['A=1', 'URL=http://x?a=b', 'EMPTY='])).toEqual({ A: '1', URL: 'http://x?a=b', EMPTY: '' });
  });
  it('refuses a pair without "=" and a bad name, naming the option', () => {
    expect(usage(() => parseEnvPairs(['NOVALUE'])).message).toMatch(/--env "NOVALUE": expected NAME=value/);
    expect(usage(() => parseEnvPairs(['1A=x'])).message).toMatch(/not a valid variable name/);
  });
});

describe('parseConfigOption', () => {
  const files: Record<string, string> = { 'c.json': '{"a":1}', 'c.yaml': 'a: 2\nb: [x]\n', 'list.json': '[1]', 'bad.json': '{' };
  const read = (f: string) => {
    const text = files[f];
    if (text === undefined) throw Object.assign(new Error('ENOENT'), { code: 'ENOENT' });
    return text;
  };
  it('accepts inline JSON and JSON or YAML files', () => {
    expect(parseConfigOption('{"symbol":"BTC"}', read)).toEqual({ symbol: 'BTC' });
    expect(parseConfigOption('c.json', read)).toEqual({ a: 1 });
    expect(parseConfigOption('c.yaml', read)).toEqual({ a: 2, b: ['x'] });
  });
  it('refuses non-objects, bad JSON and missing files', () => {
    expect(usage(() => parseConfigOption('[1,2]', read)).message).toMatch(/must be a JSON object/);
    expect(usage(() => parseConfigOption('list.json', read)).message).toMatch(/must be a JSON object/);
    expect(usage(() => parseConfigOption('{oops', read)).message).toMatch(/not valid JSON/);
    expect(usage(() => parseConfigOption('bad.json', read)).message).toMatch(/bad.json is not valid JSON/);
    expect(usage(() => parseConfigOption('missing.json', read)).message).toMatch(/neither a JSON object nor an existing file/);
  });
});

describe('parseSince', () => {
  const now = new Date('2024-05-01T12:00:00.000Z');
  it('takes a duration as "that long ago"', () => {
    expect(parseSince('10m', now)).toBe('2024-05-01T11:50:00.000Z');
    expect(parseSince('30', now)).toBe('2024-05-01T11:59:30.000Z');
  });
  it('takes a time or date', () => {
    expect(parseSince('2024-04-30T08:00:00Z', now)).toBe('2024-04-30T08:00:00.000Z');
    expect(parseSince('2024-04-30', now)).toBe('2024-04-30T00:00:00.000Z');
  });
  it('refuses anything else', () => {
    expect(usage(() => parseSince('yesterday', now)).message).toMatch(/--since "yesterday"/);
  });
});

describe('parsePositiveInt', () => {
  it('parses whole numbers in range', () => expect(parsePositiveInt('--limit', '20')).toBe(20));
  it.each(['0', '-1', '1.5', 'x', '100001'])('refuses %j', (v) => {
    expect(usage(() => parsePositiveInt('--limit', v)).message).toContain('--limit');
  });
});

describe('parseWholeNumber', () => {
  it('takes the range given, 0 included', () => {
    expect(parseWholeNumber('--tail', '0', 0, 100_000)).toBe(0);
    expect(parseWholeNumber('--tail', '100000', 0, 100_000)).toBe(100_000);
    expect(usage(() => parseWholeNumber('--tail', '100001', 0, 100_000)).message).toBe('--tail 100001: expected 0 to 100000');
    expect(usage(() => parseWholeNumber('--tail', '-1', 0, 100_000)).message).toBe('--tail "-1": expected a whole number');
  });
});

describe('bot ids', () => {
  it('slugifies names', () => {
    expect(slugify('My Bot_v2!')).toBe('my-bot-v2');
    expect(slugify('  Ünïcödé  ')).toBe('unicode');
    expect(slugify('---')).toBe('');
    expect(slugify('a'.repeat(62) + '-b')).toBe('a'.repeat(62));
  });
  it('defaults to the manifest name, else the directory or archive name', () => {
    expect(defaultBotId({ kind: 'directory', path: '/x/python-counter' }, undefined)).toBe('python-counter');
    expect(defaultBotId({ kind: 'directory', path: '/x/dir' }, 'The Zero Bot')).toBe('the-zero-bot');
    expect(defaultBotId({ kind: 'archive', path: '/x/My_Bot.tar.gz', format: 'tar.gz' }, undefined)).toBe('my-bot');
    expect(usage(() => defaultBotId({ kind: 'directory', path: '/x/___' }, undefined)).message).toMatch(/--id/);
  });
  it('checks given ids', () => {
    expect(checkBotId('ok-1')).toBe('ok-1');
    expect(usage(() => checkBotId('Bad_Id', '--id')).message).toMatch(/--id "Bad_Id": a bot id is a lower-case slug/);
  });
});

describe('classifyPackage', () => {
  const fake = (kind: 'dir' | 'file' | 'none') => () => {
    if (kind === 'none') throw new Error('ENOENT');
    return { isDirectory: () => kind === 'dir', isFile: () => kind === 'file' };
  };
  it('tells directories and archives apart', () => {
    expect(classifyPackage('/p/bot', fake('dir'))).toEqual({ kind: 'directory', path: '/p/bot' });
    expect(classifyPackage('/p/bot.zip', fake('file'))).toEqual({ kind: 'archive', path: '/p/bot.zip', format: 'zip' });
    expect(classifyPackage('/p/bot.tgz', fake('file'))).toMatchObject({ format: 'tar.gz' });
    expect(classifyPackage('/p/bot.TAR.GZ', fake('file'))).toMatchObject({ format: 'tar.gz' });
  });
  it('refuses other files and missing paths', () => {
    expect(usage(() => classifyPackage('/p/bot.rar', fake('file'))).message).toMatch(/directory, a .zip or a .tar.gz/);
    expect(usage(() => classifyPackage('/p/none', fake('none'))).message).toMatch(/no such file/);
  });
});
