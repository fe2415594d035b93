/**
 * "The newest state is not being saved": the record the daemon keeps at
 * `state/<botId>/problem.json` and the services read back (no I/O here; the daemon bundles
 * this file, so no zod either).
 *
 * The record is overwritten with `problem: null` once saving works again, not deleted: the
 * daemon on S3 only GETs and PUTs bodies (a delete goes through the minio client, which it
 * never loads), and a per-bot MinIO policy grants it PutObject on `state/<id>/*`, not
 * DeleteObject. An absent record means no problem was ever recorded.
 */

export const STATE_PROBLEM_KINDS = ['too-large', 'too-many-files', 'invalid-json', 'rejected', 'error', 'partial'] as const;

/**
 * - `too-large` / `too-many-files`: the directory passes the daemon's caps;
 * - `invalid-json`: the root `state.json` does not parse;
 * - `rejected`: an entry the package rules refuse outright (e.g. a symlink through a symlink);
 * - `error`: the directory could not be read or packed;
 * - `partial`: the state was saved, but without some entries (sockets, links leaving it).
 * All but `partial` mean nothing newer than the last good state is stored.
 */
export type StateProblemKind = (typeof STATE_PROBLEM_KINDS)[number];

export interface SkippedEntry {
  /** Relative to the state directory. */
  readonly path: string;
  readonly reason: string;
}

export interface StateProblem {
  readonly kind: StateProblemKind;
  /** One line for people. */
  readonly message: string;
  /** ISO time the daemon first saw this kind of trouble (without a good save in between). */
  readonly since: string;
  /** `partial`: the first entries left out. */
  readonly skipped?: readonly SkippedEntry[];
}

export interface StateProblemRecord {
  readonly problem: StateProblem | null;
  /** When the record was written. */
  readonly at: string;
}

/** Larger records are not read: the daemon's come to a few hundred bytes. */
export const STATE_PROBLEM_MAX_BYTES = 16 * 1024;
export const MAX_SKIPPED_LISTED = 10;
/** Each text in a record is cut to this, so the record stays far below the read cap. */
const MAX_TEXT_CHARS = 500;

export function clipText(text: string): string {
  return text.length <= MAX_TEXT_CHARS ? text : `${text.slice(0, MAX_TEXT_CHARS - 1)}…`;
}

/** Nothing newer than the last good state is stored (as opposed to `partial`). */
export function nothingSaved(kind: StateProblemKind): boolean {
  return kind !== 'partial';
}

export function encodeProblemRecord(record: StateProblemRecord): Buffer {
  return Buffer.from(`${JSON.stringify(record)}\n`);
}

/** The record, or undefined when the bytes are not one (a reader then shows nothing). */
export function parseProblemRecord(bytes: Buffer): StateProblemRecord | undefined {
  let value: unknown;
  try {
    value = JSON.parse(bytes.toString('utf8'));
  } catch {
    return undefined;
  }
  if (!isObject(value) || typeof value['at'] !== 'string') return undefined;
  if (value['problem'] === null) return { problem: null, at: value['at'] };
  const problem = parseProblem(value['problem']);
  return problem ? { problem, at: value['at'] } : undefined;
}

function parseProblem(value: unknown): StateProblem | undefined {
  if (!isObject(value)) return undefined;
  const { kind, message, since, skipped } = value;
  if (!STATE_PROBLEM_KINDS.includes(kind as StateProblemKind) || !isText(message) || !isText(since) || Number.isNaN(Date.parse(since))) {
    return undefined;
  }
  const base = { kind: kind as StateProblemKind, message, since };
  if (skipped === undefined) return base;
  if (!Array.isArray(skipped) || !skipped.every(isSkippedEntry)) return undefined;
  return { ...base, skipped: skipped.slice(0, MAX_SKIPPED_LISTED) };
}

function isSkippedEntry(value: unknown): value is SkippedEntry {
  return isObject(value) && isText(value['path']) && isText(value['reason']);
}

function isText(value: unknown): value is string {
  return typeof value === 'string' && value.length <= MAX_TEXT_CHARS;
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
