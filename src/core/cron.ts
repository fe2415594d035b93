/**
 * Fire times of a scheduled bot (DESIGN §8): pure functions over cron-parser, evaluated in
 * the bot's IANA time zone. No clock here — the caller passes the instant.
 *
 * Daylight saving follows classic cron (cron-parser 5, STACK.md):
 * - a local time that does not exist (in the spring-forward gap) fires once that day, at
 *   the same minute after the jump (`30 2 * * *` in Europe/Berlin on 2026-03-29 fires at
 *   03:30 CEST = 01:30Z);
 * - a fixed local time that happens twice (in the fall-back hour) fires once, at its first
 *   occurrence; wildcard hours (`*` / `*\/30` in the hour field) fire in both hours.
 */
import { CronExpressionParser } from 'cron-parser';
import type { Schedule } from '../domain/bot.js';

type CronSpec = Pick<Schedule, 'cron' | 'timezone'>;

/** The first fire strictly after `after`. */
export function nextFireAfter(schedule: CronSpec, after: Date): Date {
  return CronExpressionParser.parse(schedule.cron.trim(), { tz: schedule.timezone, currentDate: after }).next().toDate();
}

/** The last fire at or before `at`, or undefined when the expression never fired before it. */
export function latestFireAtOrBefore(schedule: CronSpec, at: Date): Date | undefined {
  // prev() is strictly before currentDate: one millisecond later includes `at` itself.
  const iterator = CronExpressionParser.parse(schedule.cron.trim(), { tz: schedule.timezone, currentDate: new Date(at.getTime() + 1) });
  try {
    return iterator.prev().toDate();
  } catch {
    return undefined;
  }
}

/** The next `count` fires strictly after `after` (tests, `berth inspect`). */
export function nextFires(schedule: CronSpec, after: Date, count: number): Date[] {
  const iterator = CronExpressionParser.parse(schedule.cron.trim(), { tz: schedule.timezone, currentDate: after });
  return Array.from({ length: count }, () => iterator.next().toDate());
}

/**
 * What a stored next-run instant was computed from. A scheduler that finds a different
 * basis in the store knows the schedule changed and recomputes the next run.
 */
export function scheduleBasis(schedule: CronSpec): string {
  return `${schedule.cron.trim()}|${schedule.timezone}`;
}
