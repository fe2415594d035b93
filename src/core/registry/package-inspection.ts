/**
 * What the registry needs from the archive inspector (src/archive). Declared here in the
 * registry's own terms so the core depends on a function, not on the archive module.
 */
export interface InspectedEntry {
  readonly path: string;
  readonly type?: string;
  readonly size?: number;
  /** Symlinks: the target, relative to the link's directory. */
  readonly target?: string;
}

export interface PackageInspection {
  readonly format: 'zip' | 'tar.gz';
  readonly sha256: string;
  readonly size: number;
  /** Entries as paths or as records with a path and a type (`file`, `directory`, …). */
  readonly entries: readonly (InspectedEntry | string)[];
  readonly totalUncompressed: number;
  readonly manifest?: unknown;
  /** Accepted, but probably not what the author meant (unknown bot-config.yaml keys); for the uploader. */
  readonly warnings?: readonly string[];
}

/** Throws PackageRejectedError for anything it will not accept. */
export type InspectPackage<L> = (file: string, limits: L, signal?: AbortSignal) => Promise<PackageInspection>;

/**
 * Paths that name a regular file: the files themselves and symlinks that resolve (inside
 * the package, as the inspector guarantees) to one. Sorted, normalised.
 */
export function filePaths(entries: PackageInspection['entries']): string[] {
  const byPath = new Map<string, InspectedEntry>();
  for (const e of entries) {
    const entry = typeof e === 'string' ? { path: e, type: 'file' } : e;
    byPath.set(normalise(entry.path), entry);
  }
  const out: string[] = [];
  for (const [path, entry] of byPath) {
    if (path === '' || path.endsWith('/')) continue;
    if (resolvesToFile(path, entry, byPath)) out.push(path);
  }
  return out.sort();
}

const MAX_LINK_HOPS = 16;

function resolvesToFile(path: string, entry: InspectedEntry, byPath: ReadonlyMap<string, InspectedEntry>): boolean {
  let current: InspectedEntry | undefined = entry;
  let currentPath = path;
  for (let hops = 0; current?.type === 'symlink' && hops < MAX_LINK_HOPS; hops++) {
    const dir = currentPath.split('/').slice(0, -1);
    for (const part of (current.target ?? '').split('/')) {
      if (part === '..') dir.pop();
      else if (part !== '' && part !== '.') dir.push(part);
    }
    currentPath = dir.join('/');
    current = byPath.get(currentPath);
  }
  return current !== undefined && (current.type === undefined || current.type === 'file');
}

function normalise(path: string): string {
  return path.replace(/^(\.\/)+/, '');
}
