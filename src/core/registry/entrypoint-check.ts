/**
 * Checks that a spec's entrypoint names a runnable file of the uploaded package, and says
 * which files were probably meant when it does not. Pure: works on the sidecar's file list.
 */
import type { BotRuntime } from '../../domain/bot.js';
import type { FieldIssue } from '../../domain/errors.js';
import { editDistance } from '../../domain/spelling.js';

const EXTENSIONS: Readonly<Record<BotRuntime, readonly string[]>> = {
  'python3.11': ['.py'],
  nodejs20: ['.js', '.mjs', '.cjs'],
};
const MAX_SUGGESTIONS = 5;

export function entrypointIssues(entrypoint: string, runtime: BotRuntime, files: readonly string[]): FieldIssue[] {
  const extensions = EXTENSIONS[runtime];
  if (!extensions.some((ext) => entrypoint.endsWith(ext))) {
    return [{ field: 'entrypoint', message: `must be a ${extensions.join(' or ')} file for runtime ${runtime}, got ${JSON.stringify(entrypoint)}` }];
  }
  if (files.includes(entrypoint)) return [];
  const isDir = files.some((f) => f.startsWith(`${entrypoint}/`));
  const runnable = files.filter((f) => extensions.some((ext) => f.endsWith(ext)) && !isVendored(f));
  const suggestions = closest(entrypoint, runnable);
  const what = isDir ? 'is a directory in the package, not a file' : 'is not a file in the package';
  const hint = suggestions.length
    ? `; did you mean ${suggestions.map((s) => JSON.stringify(s)).join(', ')}?`
    : runnable.length
      ? `; runnable files: ${runnable.slice(0, MAX_SUGGESTIONS).map((s) => JSON.stringify(s)).join(', ')}`
      : `; the package has no ${extensions.join('/')} files`;
  return [{ field: 'entrypoint', message: `${JSON.stringify(entrypoint)} ${what}${hint}` }];
}

function isVendored(path: string): boolean {
  return /(^|\/)(vendor|node_modules|__pycache__)\//.test(path);
}

/** Files with the same base name first, then the ones within a small edit distance. */
function closest(target: string, candidates: readonly string[]): string[] {
  const base = baseName(target);
  const scored = candidates
    .map((c) => ({ c, d: baseName(c) === base ? 0 : editDistance(target, c) }))
    .filter(({ c, d }) => d <= Math.max(2, Math.floor(Math.max(target.length, c.length) / 3)))
    .sort((a, b) => a.d - b.d || a.c.localeCompare(b.c));
  return scored.slice(0, MAX_SUGGESTIONS).map(({ c }) => c);
}

function baseName(p: string): string {
  return p.slice(p.lastIndexOf('/') + 1);
}
