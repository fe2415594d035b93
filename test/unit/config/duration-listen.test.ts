import { describe, expect, it } from 'vitest';
import { formatDurationMs, parseDurationMs } from '../../../src/config/duration.js';
import { formatListen, isLoopback, parseListen } from '../../../src/config/listen.js';

describe('parseDurationMs', () => {
  it.each([
    ['500ms', 500],
    ['30s', 30_000],
    ['30', 30_000],
    ['1.5s', 1500],
    ['2m', 120_000],
    ['1h', 3_600_000],
    ['1d', 86_400_000],
    [' 10 S ', 10_000],
  ])('%j → %d ms', (text, ms) => expect(parseDurationMs(text)).toBe(ms));

  it('takes YAML numbers as seconds', () => expect(parseDurationMs(45)).toBe(45_000));

  it.each(['', 'often', '-5s', '5 minutes', '1e3', 'NaN'])('%j is not a duration', (text) => {
    expect(parseDurationMs(text)).toBeUndefined();
  });

  it('formats for people', () => {
    expect(formatDurationMs(250)).toBe('250ms');
    expect(formatDurationMs(90_000)).toBe('1m30s');
    expect(formatDurationMs(3_600_000)).toBe('1h');
  });
});

describe('parseListen', () => {
  it.each([
    ['127.0.0.1:7070', { host: '127.0.0.1', port: 7070 }],
    [':8080', { host: '127.0.0.1', port: 8080 }],
    ['8080', { host: '127.0.0.1', port: 8080 }],
    ['localhost:0', { host: 'localhost', port: 0 }],
    ['[::1]:7070', { host: '::1', port: 7070 }],
    ['0.0.0.0:80', { host: '0.0.0.0', port: 80 }],
  ])('%j', (text, expected) => expect(parseListen(text)).toEqual(expected));

  it.each(['', 'host', '1.2.3.4:', ':70000', '::1:7070', '[nothost]:1', 'a b:1'])('%j is refused', (text) => {
    expect(parseListen(text)).toBeUndefined();
  });

  it('knows loopback addresses', () => {
    expect(['127.0.0.1', '127.9.9.9', 'localhost', '::1', '::ffff:127.0.0.1'].every(isLoopback)).toBe(true);
    expect(['0.0.0.0', '10.0.0.1', '::', 'example.com'].some(isLoopback)).toBe(false);
  });

  it('formats IPv6 with brackets', () => expect(formatListen({ host: '::1', port: 1 })).toBe('[::1]:1'));
});
