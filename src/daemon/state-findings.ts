/**
 * What one state sync found out about saving, and the problem record that follows from it
 * (pure; the recorder does the I/O).
 */
import { PackageLimitError, PackageRejectedError } from '../domain/errors.js';
import { MAX_SKIPPED_LISTED, clipText, nothingSaved, type SkippedEntry, type StateProblem } from '../domain/state-problem.js';
import { InvalidStateJson } from './state-snapshot.js';

/** A problem without its `since`; null: the newest state is stored whole. */
export type Finding = Omit<StateProblem, 'since'> | null;

/** Entries shown by name in a `partial` message (the record lists a few more). */
const NAMED_IN_MESSAGE = 3;

/** Why a sync stored nothing, from the error that stopped it. */
export function refusalFinding(err: Error): NonNullable<Finding> {
  const message = clipText(err.message);
  if (err instanceof InvalidStateJson) return { kind: 'invalid-json', message };
  if (err instanceof PackageLimitError) return { kind: err.limit === 'bytes' ? 'too-large' : 'too-many-files', message };
  if (err instanceof PackageRejectedError) return { kind: 'rejected', message };
  return { kind: 'error', message: clipText(`the state directory could not be read or packed: ${err.message}`) };
}

/** A stored state that leaves out the entries skipped on the way (path → reason), if any. */
export function savedFinding(skipped: ReadonlyMap<string, string>): Finding {
  if (skipped.size === 0) return null;
  const entries: SkippedEntry[] = [...skipped].map(([path, reason]) => ({ path: clipText(path), reason: clipText(reason) }));
  const named = entries.slice(0, NAMED_IN_MESSAGE).map((e) => `${e.path} (${e.reason})`);
  const more = entries.length > NAMED_IN_MESSAGE ? ` and ${entries.length - NAMED_IN_MESSAGE} more` : '';
  const noun = entries.length === 1 ? 'entry' : 'entries';
  return {
    kind: 'partial',
    message: clipText(`${entries.length} ${noun} left out: ${named.join(', ')}${more}`),
    skipped: entries.slice(0, MAX_SKIPPED_LISTED),
  };
}

/**
 * The record to store after `finding`, or 'same' when `stored` already says it. `since`
 * survives a change of reason as long as the state stays unsaved (or stays partial): it is
 * when saving stopped, not when the message last changed.
 */
export function nextProblem(stored: StateProblem | null, finding: Finding, nowIso: string): StateProblem | null | 'same' {
  if (finding === null) return stored === null ? 'same' : null;
  if (stored && stored.kind === finding.kind && stored.message === finding.message && sameSkipped(stored.skipped, finding.skipped)) return 'same';
  const keepSince = stored !== null && nothingSaved(stored.kind) === nothingSaved(finding.kind);
  return { ...finding, since: keepSince ? stored.since : nowIso };
}

function sameSkipped(a: readonly SkippedEntry[] | undefined, b: readonly SkippedEntry[] | undefined): boolean {
  if (a === undefined || b === undefined) return a === b;
  return a.length === b.length && a.every((e, i) => e.path === b[i]?.path && e.reason === b[i]?.reason);
}
