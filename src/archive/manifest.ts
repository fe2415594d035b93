/**
 * `bot-config.yaml`, the manifest of packages written for the seed's platform (the0):
 * `name`, `type` (`realtime` → live, `scheduled`), `runtime`, `entrypoints.bot`, `schedule`.
 * Only the package root is looked at: a package whose files sit in a single top-level
 * directory must be re-packed from inside that directory (the error for a missing
 * entrypoint says so).
 *
 * Keys: a near miss of a key Berth reads is refused (it would silently change what runs);
 * the0's other keys are accepted; anything else is a warning, since packages written for
 * the0 may carry keys of its own that Berth has no use for.
 */
import { parse } from 'yaml';
import { PackageRejectedError, errorMessage } from '../domain/errors.js';
import { nearMiss } from '../domain/spelling.js';
import { MANIFEST_FILE, type Manifest, type PackageInspection } from './types.js';

export const MANIFEST_MAX_BYTES = 64 * 1024;

/** The keys Berth reads. */
const MANIFEST_KEYS = ['name', 'type', 'runtime', 'entrypoints', 'schedule'] as const;
/** Keys of the0's format that Berth accepts without using them. */
const THE0_ONLY_KEYS = ['description', 'version', 'author', 'schema', 'readme', 'metadata'] as const;
/** Berth's own words for what this file spells differently: refused with the right key. */
const BERTH_WORDS: ReadonlyMap<string, string> = new Map([['kind', 'type'], ['entrypoint', 'entrypoints'], ['cron', 'schedule']]);
const KEYS_READ = 'name, type, runtime, entrypoints.bot and schedule';

export interface ParsedManifest {
  readonly manifest: Manifest;
  /** One sentence per key that is ignored, for the person deploying the package. */
  readonly warnings: readonly string[];
}

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
  return parseManifestWithWarnings(text).manifest;
}

/** `parseManifest`, with the keys it ignores said as warnings. */
export function parseManifestWithWarnings(text: string): ParsedManifest {
  let doc: unknown;
  try {
    doc = parse(text, { maxAliasCount: 50, uniqueKeys: true, prettyErrors: false });
  } catch (err) {
    const firstLine = errorMessage(err).split('\n')[0] ?? 'invalid YAML';
    throw new PackageRejectedError(`${MANIFEST_FILE} is not valid YAML: ${firstLine}`, MANIFEST_FILE, { cause: err });
  }
  if (doc === null || doc === undefined) return { manifest: { flavor: 'the0' }, warnings: [] };
  if (!isMapping(doc)) throw new PackageRejectedError(`${MANIFEST_FILE} must be a mapping of fields (got ${describe(doc)})`, MANIFEST_FILE);
  const warnings = [...unknownKeyWarnings(doc), ...entrypointKeyWarnings(doc['entrypoints'])];
  return { manifest: manifestFields(doc), warnings };
}

function manifestFields(doc: Record<string, unknown>): Manifest {
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

/** Throws for a near miss of a key Berth reads; returns a warning for every other unknown key. */
function unknownKeyWarnings(doc: Record<string, unknown>): string[] {
  const warnings: string[] = [];
  const known = new Set<string>([...MANIFEST_KEYS, ...THE0_ONLY_KEYS]);
  for (const key of Object.keys(doc)) {
    if (known.has(key)) continue;
    const meant = BERTH_WORDS.get(key.toLowerCase()) ?? nearMiss(key, MANIFEST_KEYS);
    if (meant !== undefined) throw misspelledKey(key, meant, doc[key]);
    const the0Key = nearMiss(key, THE0_ONLY_KEYS);
    warnings.push(
      the0Key !== undefined
        ? `${MANIFEST_FILE}: unknown key ${JSON.stringify(key)} is ignored (did you mean ${JSON.stringify(the0Key)}? Berth does not use that one either)`
        : `${MANIFEST_FILE}: unknown key ${JSON.stringify(key)} is ignored; Berth reads ${KEYS_READ}`,
    );
  }
  return warnings;
}

function misspelledKey(key: string, meant: string, value: unknown): PackageRejectedError {
  const how =
    meant === 'entrypoints' && typeof value === 'string'
      ? `write the file to run as "entrypoints: {bot: ${value}}"`
      : meant === 'type'
        ? 'write "type: realtime" (a live bot) or "type: scheduled"'
        : `rename it (the keys Berth reads are ${KEYS_READ})`;
  return new PackageRejectedError(`${MANIFEST_FILE}: unknown key ${JSON.stringify(key)}: did you mean ${JSON.stringify(meant)}? ${capitalise(how)}`, MANIFEST_FILE);
}

function capitalise(text: string): string {
  return text.charAt(0).toUpperCase() + text.slice(1);
}

/**
 * the0 packages may name other entry points (backtest, …) next to `bot`; Berth runs `bot`
 * only, so a near miss of it is refused and its absence is said.
 */
function entrypointKeyWarnings(eps: unknown): string[] {
  if (!isMapping(eps) || 'bot' in eps) return [];
  const keys = Object.keys(eps);
  const meant = keys.find((k) => nearMiss(k, ['bot']) !== undefined);
  if (meant !== undefined) {
    throw new PackageRejectedError(`${MANIFEST_FILE}: unknown key ${JSON.stringify(`entrypoints.${meant}`)}: did you mean "entrypoints.bot"? Rename it`, MANIFEST_FILE);
  }
  if (keys.length === 0) return [];
  return [
    `${MANIFEST_FILE}: "entrypoints" has no "bot" (only ${keys.map((k) => JSON.stringify(k)).join(', ')}), and Berth runs only entrypoints.bot: ` +
      'the entrypoint comes from --entrypoint or the first of main.py, bot.py, index.js, … in the package',
  ];
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
