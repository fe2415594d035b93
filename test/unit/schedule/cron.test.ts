/**
 * Fire times with injected instants (DESIGN §8): daylight-saving transitions asserted as
 * exact UTC instants, macros, and the catch-up helper.
 */
import { describe, expect, it } from 'vitest';
import { latestFireAtOrBefore, nextFireAfter, nextFires, scheduleBasis } from '../../../src/core/cron.js';

const iso = (dates: Date[]) => dates.map((d) => d.toISOString());

describe('cron fire times across daylight saving (exact UTC instants)', () => {
  it('30 2 * * * in Europe/Berlin on the spring-forward day fires once, after the jump', () => {
    // 2026-03-29 02:00 CET → 03:00 CEST: 02:30 does not exist that day.
    const fires = nextFires({ cron: '30 2 * * *', timezone: 'Europe/Berlin' }, new Date('2026-03-27T12:00:00Z'), 4);
    expect(iso(fires)).toEqual([
      '2026-03-28T01:30:00.000Z', // 02:30 CET
      '2026-03-29T01:30:00.000Z', // the gap: once, at 03:30 CEST
      '2026-03-30T00:30:00.000Z', // 02:30 CEST
      '2026-03-31T00:30:00.000Z',
    ]);
  });

  it('30 2 * * * in Europe/Berlin on the fall-back day fires once, in the first 02:30', () => {
    // 2026-10-25 03:00 CEST → 02:00 CET: 02:30 happens at 00:30Z and again at 01:30Z.
    const fires = nextFires({ cron: '30 2 * * *', timezone: 'Europe/Berlin' }, new Date('2026-10-23T12:00:00Z'), 4);
    expect(iso(fires)).toEqual([
      '2026-10-24T00:30:00.000Z', // 02:30 CEST
      '2026-10-25T00:30:00.000Z', // first 02:30 (CEST); the second (01:30Z, CET) does not fire
      '2026-10-26T01:30:00.000Z', // 02:30 CET
      '2026-10-27T01:30:00.000Z',
    ]);
    // Computing from inside the repeated hour does not fire the second 02:30 either.
    expect(nextFireAfter({ cron: '30 2 * * *', timezone: 'Europe/Berlin' }, new Date('2026-10-25T00:31:00Z')).toISOString()).toBe(
      '2026-10-26T01:30:00.000Z',
    );
  });

  it('0,30 1 * * * in America/New_York across fall-back fires 01:00 and 01:30 once each', () => {
    // 2026-11-01 02:00 EDT → 01:00 EST: 01:00–01:59 happen twice.
    const fires = nextFires({ cron: '0,30 1 * * *', timezone: 'America/New_York' }, new Date('2026-10-31T12:00:00Z'), 6);
    expect(iso(fires)).toEqual([
      '2026-11-01T05:00:00.000Z', // 01:00 EDT
      '2026-11-01T05:30:00.000Z', // 01:30 EDT; 06:00Z and 06:30Z (EST repeats) do not fire
      '2026-11-02T06:00:00.000Z', // 01:00 EST
      '2026-11-02T06:30:00.000Z',
      '2026-11-03T06:00:00.000Z',
      '2026-11-03T06:30:00.000Z',
    ]);
  });

  it('0 8 * * 0 in America/Chicago fires at 2026-03-08T13:00Z (the spring-forward Sunday, CDT)', () => {
    const fires = nextFires({ cron: '0 8 * * 0', timezone: 'America/Chicago' }, new Date('2026-03-01T12:00:00Z'), 3);
    expect(iso(fires)).toEqual(['2026-03-01T14:00:00.000Z', '2026-03-08T13:00:00.000Z', '2026-03-15T13:00:00.000Z']);
  });

  it('a wildcard hour fires in both copies of the repeated hour', () => {
    const fires = nextFires({ cron: '*/30 * * * *', timezone: 'Europe/Berlin' }, new Date('2026-10-24T23:45:00Z'), 5);
    expect(iso(fires)).toEqual([
      '2026-10-25T00:00:00.000Z',
      '2026-10-25T00:30:00.000Z',
      '2026-10-25T01:00:00.000Z',
      '2026-10-25T01:30:00.000Z',
      '2026-10-25T02:00:00.000Z',
    ]);
  });
});

describe('cron helpers', () => {
  it('macros fire where their 5-field forms do', () => {
    const at = new Date('2026-03-01T12:34:56Z');
    const utc = (cron: string) => nextFireAfter({ cron, timezone: 'UTC' }, at).toISOString();
    expect(utc('@hourly')).toBe('2026-03-01T13:00:00.000Z');
    expect(utc('@daily')).toBe('2026-03-02T00:00:00.000Z');
    expect(utc('@weekly')).toBe('2026-03-08T00:00:00.000Z');
    expect(utc('@monthly')).toBe('2026-04-01T00:00:00.000Z');
    expect(utc('@yearly')).toBe('2027-01-01T00:00:00.000Z');
  });

  it('next is strictly after the given instant; latest includes it', () => {
    const s = { cron: '* * * * *', timezone: 'UTC' };
    const slot = new Date('2026-03-01T12:00:00Z');
    expect(nextFireAfter(s, slot).toISOString()).toBe('2026-03-01T12:01:00.000Z');
    expect(latestFireAtOrBefore(s, slot)?.toISOString()).toBe('2026-03-01T12:00:00.000Z');
    expect(latestFireAtOrBefore(s, new Date('2026-03-01T12:03:59.999Z'))?.toISOString()).toBe('2026-03-01T12:03:00.000Z');
    expect(latestFireAtOrBefore({ cron: '30 2 * * *', timezone: 'Europe/Berlin' }, new Date('2026-10-25T03:00:00Z'))?.toISOString()).toBe(
      '2026-10-25T00:30:00.000Z',
    );
  });

  it('the basis changes with the cron and the time zone only', () => {
    expect(scheduleBasis({ cron: ' 0 * * * * ', timezone: 'UTC' })).toBe(scheduleBasis({ cron: '0 * * * *', timezone: 'UTC' }));
    expect(scheduleBasis({ cron: '0 * * * *', timezone: 'UTC' })).not.toBe(scheduleBasis({ cron: '0 * * * *', timezone: 'Europe/Berlin' }));
    expect(scheduleBasis({ cron: '0 * * * *', timezone: 'UTC' })).not.toBe(scheduleBasis({ cron: '5 * * * *', timezone: 'UTC' }));
  });
});
