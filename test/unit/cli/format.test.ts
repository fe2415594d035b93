import { describe, expect, it } from 'vitest';
import { formatAge, formatLastExit, formatTable, truncate } from '../../../src/cli/format.js';

describe('formatTable', () => {
  it('aligns columns with two spaces and does not pad the last one', () => {
    const text = formatTable(['ID', 'PHASE', 'AGE'], [['a', 'running', '5s'], ['longer-id', 'crash-looping', '12m']]);
    expect(text).toBe(
      'ID         PHASE          AGE\n' + 'a          running        5s\n' + 'longer-id  crash-looping  12m\n',
    );
  });
  it('prints the header alone when there are no rows, and fills missing cells', () => {
    expect(formatTable(['A', 'B'], [])).toBe('A  B\n');
    expect(formatTable(['A', 'B', 'C'], [['x']])).toBe('A  B  C\nx\n');
  });
});

describe('formatAge', () => {
  const now = new Date('2024-05-01T12:00:00Z');
  it.each([
    ['2024-05-01T11:59:55Z', '5s'],
    ['2024-05-01T11:48:00Z', '12m'],
    ['2024-05-01T09:00:00Z', '3h'],
    ['2024-04-26T12:00:00Z', '5d'],
    ['2024-05-01T12:00:10Z', '0s'],
  ])('%s → %s', (from, age) => expect(formatAge(from, now)).toBe(age));
  it('shows "-" when unknown', () => {
    expect(formatAge(undefined, now)).toBe('-');
    expect(formatAge('garbage', now)).toBe('-');
  });
  it('formats the last exit', () => {
    expect(formatLastExit(undefined, undefined, now)).toBe('-');
    expect(formatLastExit(1, '2024-05-01T11:57:00Z', now)).toBe('1 (3m ago)');
    expect(formatLastExit(0, undefined, now)).toBe('0');
  });
  it('truncates with an ellipsis', () => {
    expect(truncate('abcdef', 4)).toBe('abc…');
    expect(truncate('abc', 4)).toBe('abc');
  });
});
