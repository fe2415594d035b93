/**
 * `bot-config.yaml`, the manifest of packages written for the seed's platform (the0):
 * `name`, `type` (`realtime` → live, `scheduled`), `runtime`, `entrypoints.bot`, `schedule`.
 * Only the package root is looked at: a package whose files sit in a single top-level
 * directory must be re-packed from inside that directory (the error for a missing
 * entrypoint says so).
 */
import { parse } from 'yaml';
import { PackageRejectedError, errorMessage } from '../domain/errors.js';
import { MANIFEST_FILE, type Manifest, type PackageInspection } from './types.js';

export const MANIFEST_MAX_BYTES = 64 * 1024;

const KIND_BY_TYPE: Readonly<Record<string, 'live' | 'scheduled'>> = {
  realtime: 'live',
  live: 'live',
  scheduled: 'scheduled',
};

function fieldError(field: string, problem: string): PackageRejectedError {
  return new PackageRejectedError(`${MANIFEST_FILE}: ${field} ${problem}`, MANIFEST_FILE);
}

function optionalString(doc: Record<string, unknown>, field: string): string | undefined {
  const v = doc[field];
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'string') throw fieldError(`"${field}"`, `must be a string (got ${describe(v)})`);
  const trimmed = v.trim();
  if (trimmed === '') throw fieldError(`"${field}"`, 'must not be empty');
  return trimmed;
}

function describe(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'a list';
  if (typeof v === 'object') return 'a mapping';
  return `${typeof v} ${JSON.stringify(v)}`;
}

function isMapping(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function checkRelativePath(field: string, p: string): string {
  const cleaned = p.replace(/^(\.\/)+/, '');
  if (cleaned.startsWith('/') || cleaned.includes('\\') || cleaned.split('/').some((s) => s === '..' || s === '')) {
    throw fieldError(field, `must be a relative path inside the package (got ${JSON.stringify(p)})`);
  }
  return cleaned;
}

/** Parses the text of a `bot-config.yaml`. Throws PackageRejectedError naming the field. */
export function parseManifest(text: string): Manifest {
  let doc: unknown;
  try {
    doc = parse(text, { maxAliasCount: 50, uniqueKeys: true, prettyErrors: false });
  } catch (err) {
    const firstLine = errorMessage(err).split('\n')[0] ?? 'invalid YAML';
    throw new PackageRejectedError(`${MANIFEST_FILE} is not valid YAML: ${firstLine}`, MANIFEST_FILE, { cause: err });
  }
  if (doc === null || doc === undefined) return { flavor: 'the0' };
  if (!isMapping(doc)) throw new PackageRejectedError(`${MANIFEST_FILE} must be a mapping of fields (got ${describe(doc)})`, MANIFEST_FILE);

  const name = optionalString(doc, 'name');
  const type = optionalString(doc, 'type');
  let kind: 'live' | 'scheduled' | undefined;
  if (type !== undefined) {
    kind = KIND_BY_TYPE[type];
    if (!kind) throw fieldError('"type"', `must be "realtime" or "scheduled" (got ${JSON.stringify(type)})`);
  }
  const runtime = optionalString(doc, 'runtime');
  let entrypoint: string | undefined;
  const eps = doc['entrypoints'];
  if (eps !== undefined && eps !== null) {
    if (!isMapping(eps)) throw fieldError('"entrypoints"', `must be a mapping with a "bot" field (got ${describe(eps)})`);
    const bot = optionalString(eps, 'bot');
    if (bot !== undefined) entrypoint = checkRelativePath('"entrypoints.bot"', bot);
  }
  const schedule = optionalString(doc, 'schedule');
  return {
    flavor: 'the0',
    ...(name !== undefined ? { name } : {}),
    ...(kind !== undefined ? { kind } : {}),
    ...(runtime !== undefined ? { runtime } : {}),
    ...(entrypoint !== undefined ? { entrypoint } : {}),
    ...(schedule !== undefined ? { schedule } : {}),
  };
}

/**
 * Throws PackageRejectedError unless `entrypoint` names a regular file in the package
 * (directly or through symlinks that stay inside). The message helps with the usual mistakes.
 */
export function checkEntrypoint(inspection: PackageInspection, entrypoint: string): void {
  const byPath = new Map(inspection.entries.map((e) => [e.path, e]));
  const wanted = entrypoint.replace(/^(\.\/)+/, '');
  let current = byPath.get(wanted);
  for (let hops = 0; current?.type === 'symlink' && hops < 16; hops++) {
    const dir = current.path.split('/').slice(0, -1);
    for (const part of (current.target ?? '').split('/')) {
      if (part === '..') dir.pop();
      else if (part !== '' && part !== '.') dir.push(part);
    }
    current = byPath.get(dir.join('/'));
  }
  if (current?.type === 'file') return;
  if (current?.type === 'dir') throw new PackageRejectedError(`the entrypoint ${JSON.stringify(entrypoint)} is a directory, not a file`);
  const tops = new Set(inspection.entries.map((e) => e.path.split('/')[0]));
  const [onlyTop] = tops;
  if (tops.size === 1 && onlyTop !== undefined && byPath.get(`${onlyTop}/${wanted}`)?.type === 'file') {
    throw new PackageRejectedError(
      `the entrypoint ${JSON.stringify(entrypoint)} is not at the package root but under "${onlyTop}/"; pack the contents of that directory instead`,
    );
  }
  throw new PackageRejectedError(`the entrypoint ${JSON.stringify(entrypoint)} is not in the package`);
}
