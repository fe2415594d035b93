/** Pure timing and text logic of the daemon, with injected time (no real waiting). */
import { describe, expect, it } from 'vitest';
import { TrailingDebounce } from '../../../src/daemon/debounce.js';
import { LineSplitter, MAX_LINE_CHARS } from '../../../src/daemon/line-splitter.js';
import { botGraceMs, exitCodeOf } from '../../../src/daemon/supervise.js';
import { cappedBackoff } from '../../../src/daemon/backoff.js';
import { FakeClock } from './fake-clock.js';

describe('TrailingDebounce', () => {
  it('fires once, quietMs after the last touch (trailing, so the last write of a burst is never dropped)', () => {
    const clock = new FakeClock();
    const fired: number[] = [];
    const d = new TrailingDebounce(500, 5000, clock, () => fired.push(clock.now()));
    d.touch();
    clock.advance(300);
    d.touch();
    clock.advance(300);
    d.touch();
    clock.advance(499);
    expect(fired).toEqual([]);
    clock.advance(1);
    expect(fired).toEqual([1100]);
    clock.advance(10_000);
    expect(fired).toEqual([1100]);
  });

  it('fires at the maximum wait when touches never stop', () => {
    const clock = new FakeClock();
    const fired: number[] = [];
    const d = new TrailingDebounce(500, 2000, clock, () => fired.push(clock.now()));
    for (let i = 0; i < 60; i++) {
      d.touch();
      clock.advance(100);
    }
    expect(fired).toEqual([2000, 4000, 6000]);
  });

  it('cancel drops a pending fire; fireNow fires at once', () => {
    const clock = new FakeClock();
    let n = 0;
    const d = new TrailingDebounce(500, 5000, clock, () => n++);
    d.touch();
    d.cancel();
    clock.advance(1000);
    expect(n).toBe(0);
    d.fireNow();
    clock.advance(0);
    expect(n).toBe(1);
  });
});

describe('LineSplitter', () => {
  it('splits on newlines across chunks, trims \\r, keeps multi-byte characters whole and emits the last partial line at the end', () => {
    const lines: string[] = [];
    const s = new LineSplitter((l) => lines.push(l));
    const euro = Buffer.from('€');
    s.write(Buffer.from('one\r\ntw'));
    s.write(Buffer.concat([Buffer.from('o '), euro.subarray(0, 1)]));
    s.write(Buffer.concat([euro.subarray(1), Buffer.from('\n\nlast')]));
    s.end();
    expect(lines).toEqual(['one', 'two €', '', 'last']);
  });

  it('cuts a runaway line into pieces', () => {
    const lines: string[] = [];
    const s = new LineSplitter((l) => lines.push(l));
    s.write(Buffer.from('x'.repeat(MAX_LINE_CHARS * 2 + 5)));
    s.end();
    expect(lines.map((l) => l.length)).toEqual([MAX_LINE_CHARS, MAX_LINE_CHARS, 5]);
  });
});

describe('grace and exit codes', () => {
  it('keeps 10 % of the grace period (1–5 s) for the final sync', () => {
    expect(botGraceMs(30)).toBe(27_000);
    expect(botGraceMs(100)).toBe(95_000);
    expect(botGraceMs(3)).toBe(2000);
    expect(botGraceMs(1)).toBe(500);
  });

  it('maps a signal death to 128 + signal number', () => {
    expect(exitCodeOf(0, null)).toBe(0);
    expect(exitCodeOf(3, null)).toBe(3);
    expect(exitCodeOf(null, 'SIGTERM')).toBe(143);
    expect(exitCodeOf(null, 'SIGKILL')).toBe(137);
  });

  it('back-off doubles up to its cap and starts over after reset', () => {
    const b = cappedBackoff(500, 4000);
    expect([b.next(), b.next(), b.next(), b.next(), b.next()]).toEqual([500, 1000, 2000, 4000, 4000]);
    b.reset();
    expect(b.next()).toBe(500);
  });
});
