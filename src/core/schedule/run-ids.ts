/**
 * Run ids. A cron or catch-up run's id is derived from its slot, so the same slot always
 * gets the same id: the store's create-once run record and the runtime's unique container
 * name (`berth-<botId>-<runId>`) then refuse a second start of that slot even if two
 * schedulers somehow both decided to run it. Ids sort in time order and are valid in
 * container names, object keys and URLs.
 */
import { randomBytes } from 'node:crypto';

export const RUN_ID_PATTERN = /^[a-z][0-9a-z]{1,40}$/;

function compactUtc(at: Date, withMillis: boolean): string {
  const iso = at.toISOString(); // 2026-03-08T13:00:00.000Z
  const digits = iso.replace(/[-:TZ.]/g, '');
  return withMillis ? digits : digits.slice(0, 14);
}

/** `s20260308130000` for the slot 2026-03-08T13:00:00Z. */
export function slotRunId(slot: Date): string {
  return `s${compactUtc(slot, false)}`;
}

/** `m20260308130000123` + 4 random hex digits: unique per request. */
export function manualRunId(at: Date): string {
  return `m${compactUtc(at, true)}${randomBytes(2).toString('hex')}`;
}

export function isValidRunId(runId: string): boolean {
  return RUN_ID_PATTERN.test(runId);
}
