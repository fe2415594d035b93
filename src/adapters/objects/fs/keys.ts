/**
 * Key and prefix rules of the filesystem object store. A key becomes a path under the
 * root, so anything that could leave the root or alias another key is refused.
 */
import { ValidationError } from '../../../domain/errors.js';

/** `.<basename>.tmp-<hex>`: in-flight writes, never visible as objects. */
const TEMP_NAME = /^\..+\.tmp-[0-9a-f]+$/;

export function isTempName(name: string): boolean {
  return TEMP_NAME.test(name);
}

export function tempNameFor(basename: string, random: string): string {
  return `.${basename}.tmp-${random}`;
}

function pathIssue(value: string): string | undefined {
  if (value.startsWith('/')) return 'must not start with "/"';
  if (value.includes('\0')) return 'must not contain NUL';
  if (value.includes('\\')) return 'must not contain "\\"';
  return undefined;
}

function segmentIssue(segment: string): string | undefined {
  if (segment === '') return 'must not contain an empty segment ("//" or a trailing "/")';
  if (segment === '.' || segment === '..') return 'must not contain "." or ".." segments';
  if (isTempName(segment)) return 'must not look like a temporary file (".<name>.tmp-<hex>")';
  return undefined;
}

/** Throws ValidationError (field `key`) unless the key is safe to map to a path. */
export function assertValidKey(key: string): void {
  if (typeof key !== 'string' || key === '') throw ValidationError.single('key', 'must be a non-empty string');
  const issue = pathIssue(key) ?? key.split('/').map(segmentIssue).find((i) => i !== undefined);
  if (issue) throw ValidationError.single('key', `${JSON.stringify(key)} ${issue}`);
}

/**
 * Prefixes are plain string prefixes of keys (as in S3): `logs/a` matches `logs/a/x` and
 * `logs/ab/x`, `logs/a/` only the former. Every complete segment must be valid; the
 * trailing partial segment may be empty.
 */
export function assertValidPrefix(prefix: string): void {
  if (typeof prefix !== 'string') throw ValidationError.single('prefix', 'must be a string');
  const segments = prefix.split('/');
  const partial = segments.pop() ?? '';
  const issue =
    pathIssue(prefix) ??
    segments.map(segmentIssue).find((i) => i !== undefined) ??
    (partial === '.' || partial === '..' ? 'must not contain "." or ".." segments' : undefined);
  if (issue) throw ValidationError.single('prefix', `${JSON.stringify(prefix)} ${issue}`);
}

/**
 * Compares keys by their UTF-8 bytes, the order S3 lists in. UTF-16 code units sort the
 * same way until a surrogate is involved, so only then are the bytes compared: encoding
 * both keys on every comparison made sorting one day of log chunks (40,000 names in
 * directory order) take ~250–450 ms instead of ~35–65 ms.
 */
export function compareKeys(a: string, b: string): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) {
    const x = a.charCodeAt(i);
    const y = b.charCodeAt(i);
    if (x === y) continue;
    if (x >= SURROGATE_MIN || y >= SURROGATE_MIN) return Buffer.compare(Buffer.from(a), Buffer.from(b));
    return x < y ? -1 : 1;
  }
  return a.length === b.length ? 0 : a.length < b.length ? -1 : 1;
}

/** From here up, UTF-16 code-unit order and UTF-8 byte order may disagree. */
const SURROGATE_MIN = 0xd800;
