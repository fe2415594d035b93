/**
 * Cron expression and time-zone validation for scheduled bots (DESIGN §8).
 * The scheduling loop lives in src/core; this file only decides what is acceptable.
 */
import { CronExpressionParser } from 'cron-parser';
import type { FieldIssue } from './errors.js';

export const CRON_MACROS = ['@hourly', '@daily', '@midnight', '@weekly', '@monthly', '@yearly', '@annually'] as const;

export function isValidTimeZone(tz: string): boolean {
  try {
    new Intl.DateTimeFormat('en-US', { timeZone: tz });
    return true;
  } catch {
    return false;
  }
}

/** Returns field issues (empty when valid) for a schedule's cron and time zone. */
export function scheduleIssues(cron: string, timezone: string, prefix = 'schedule'): FieldIssue[] {
  const issues: FieldIssue[] = [];
  if (!isValidTimeZone(timezone)) {
    issues.push({ field: `${prefix}.timezone`, message: `unknown IANA time zone ${JSON.stringify(timezone)} (e.g. UTC, Europe/Berlin)` });
  }
  const expr = cron.trim();
  if (expr.startsWith('@')) {
    if (!(CRON_MACROS as readonly string[]).includes(expr)) {
      issues.push({ field: `${prefix}.cron`, message: `unknown macro ${JSON.stringify(expr)}; use one of ${CRON_MACROS.join(', ')}` });
    }
  } else {
    const fields = expr.split(/\s+/).length;
    if (fields !== 5) {
      issues.push({
        field: `${prefix}.cron`,
        message: `must have 5 fields (minute hour day-of-month month day-of-week), got ${fields}`,
      });
    }
  }
  if (issues.length === 0) {
    try {
      // An expression that parses but can never fire (0 0 30 2 *) throws on next().
      CronExpressionParser.parse(expr, { tz: timezone, currentDate: new Date(0) }).next();
    } catch (err) {
      issues.push({ field: `${prefix}.cron`, message: `cannot fire: ${(err as Error).message}` });
    }
  }
  return issues;
}
