/**
 * What the registry needs from the archive inspector (src/archive). Declared here in the
 * registry's own terms so the core depends on a function, not on the archive module.
 */
export interface InspectedEntry {
  readonly path: string;
  readonly type?: string;
  readonly size?: number;
}

export interface PackageInspection {
  readonly format: 'zip' | 'tar.gz';
  readonly sha256: string;
  readonly size: number;
  /** Entries as paths or as records with a path and a type (`file`, `directory`, …). */
  readonly entries: readonly (InspectedEntry | string)[];
  readonly totalUncompressed: number;
  readonly manifest?: unknown;
}

/** Throws PackageRejectedError for anything it will not accept. */
export type InspectPackage<L> = (file: string, limits: L, signal?: AbortSignal) => Promise<PackageInspection>;

/** Paths of the regular files (directories and anything else dropped), normalised. */
export function filePaths(entries: PackageInspection['entries']): string[] {
  const out: string[] = [];
  for (const e of entries) {
    const path = typeof e === 'string' ? e : e.type === undefined || e.type === 'file' ? e.path : undefined;
    if (path === undefined || path.endsWith('/')) continue;
    out.push(path.replace(/^\.\//, ''));
  }
  return out.sort();
}
