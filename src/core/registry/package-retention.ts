/**
 * Which of a bot's stored packages a deploy may delete (docs/operations.md, "Package
 * retention"). Pure: the packages and what must stay in, the packages to delete out.
 */
import type { StoredPackage } from './package-catalog.js';

/** Other packages kept besides the deployed one: enough to roll back twice. */
export const DEFAULT_KEEP_PREVIOUS_PACKAGES = 2;

export interface RetentionRule {
  /** The sha256 of every package a record references now: never deleted. */
  readonly referenced: ReadonlySet<string>;
  /**
   * The package of the spec the deploy replaced: its container may still be starting or
   * restarting from it until the services replace it, so it stays even when older.
   */
  readonly replaced?: string;
  /** How many of the newest unreferenced packages stay (uploads not deployed count too). */
  readonly keepPrevious: number;
}

export function packagesToPrune(packages: readonly StoredPackage[], rule: RetentionRule): StoredPackage[] {
  const others = packages.filter((p) => !rule.referenced.has(p.sha256)).sort(newestFirst);
  return others.slice(rule.keepPrevious).filter((p) => p.sha256 !== rule.replaced);
}

/** Ties (same time) are broken by sha256 so that every process decides alike. */
function newestFirst(a: StoredPackage, b: StoredPackage): number {
  return b.storedAt.getTime() - a.storedAt.getTime() || (a.sha256 < b.sha256 ? -1 : a.sha256 > b.sha256 ? 1 : 0);
}
