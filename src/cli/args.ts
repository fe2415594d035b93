/** Pure parsing of CLI arguments; each throws a usage error that names the option. */
import { readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { parse as parseYaml } from 'yaml';
import { BOT_ID_PATTERN, CONFIG_DEPTH_MESSAGE, ENV_NAME_PATTERN, LIMITS, nestedDeeperThan } from '../domain/bot.js';
import { errorMessage } from '../domain/errors.js';
import { DURATION_FORMS, parseDurationMs } from '../config/duration.js';
import { usageError } from './errors.js';

/** `--env K=V` given any number of times. */
export function parseEnvPairs(pairs: readonly string[]): Record<string, string> {
  const env: Record<string, string> = {};
  for (const pair of pairs) {
    const eq = pair.indexOf('=');
    const name = eq < 0 ? pair : pair.slice(0, eq);
    if (eq < 0) throw usageError(`--env ${JSON.stringify(pair)}: expected NAME=value`);
    if (!ENV_NAME_PATTERN.test(name)) {
      throw usageError(`--env ${JSON.stringify(pair)}: ${JSON.stringify(name)} is not a valid variable name ([A-Za-z_][A-Za-z0-9_]*)`);
    }
    env[name] = pair.slice(eq + 1);
  }
  return env;
}

/**
 * `--config '{"a":1}'` or `--config file.json|file.yaml`: the bot's config object.
 * Text starting with `{` is JSON; anything else is a path.
 */
export function parseConfigOption(value: string, readFile: (file: string) => string = (f) => readFileSync(f, 'utf8')): Record<string, unknown> {
  const text = value.trim();
  let parsed: unknown;
  if (text.startsWith('{') || text.startsWith('[')) {
    try {
      parsed = JSON.parse(text);
    } catch (err) {
      throw usageError(`--config: not valid JSON (${errorMessage(err)})`);
    }
  } else {
    let content: string;
    try {
      content = readFile(text);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      throw usageError(
        code === 'ENOENT'
          ? `--config: ${JSON.stringify(text)} is neither a JSON object nor an existing file`
          : `--config: cannot read ${text} (${errorMessage(err)})`,
      );
    }
    try {
      parsed = /\.ya?ml$/i.test(text) ? parseYaml(content) : JSON.parse(content);
    } catch (err) {
      // The YAML parser recurses: thousands of levels overflow its stack (it wraps the RangeError).
      if (err instanceof RangeError || /Maximum call stack size exceeded/.test(errorMessage(err))) {
        throw usageError(`--config: ${text} ${CONFIG_DEPTH_MESSAGE}`);
      }
      throw usageError(`--config: ${text} is not valid ${/\.ya?ml$/i.test(text) ? 'YAML' : 'JSON'} (${errorMessage(err).split('\n')[0]})`);
    }
  }
  if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) {
    throw usageError('--config: must be a JSON object, e.g. \'{"symbol": "BTC-USD"}\'');
  }
  // The server's limits (src/domain/bot.ts), checked here so nothing is uploaded in vain;
  // the depth first, since measuring the size serializes, which recurses.
  if (nestedDeeperThan(parsed, LIMITS.configDepth)) throw usageError(`--config: ${CONFIG_DEPTH_MESSAGE}`);
  if (Buffer.byteLength(JSON.stringify(parsed)) > LIMITS.configBytes) {
    throw usageError(`--config: must be at most ${LIMITS.configBytes} bytes (${LIMITS.configBytes / 1024} KiB) as JSON`);
  }
  return parsed as Record<string, unknown>;
}

/** `--since 10m` (that long ago) or an ISO time / date; returns an ISO time. */
export function parseSince(value: string, now: Date): string {
  const ms = parseDurationMs(value);
  if (ms !== undefined) return new Date(now.getTime() - ms).toISOString();
  if (/^\d{4}-\d{2}-\d{2}/.test(value.trim())) {
    const t = Date.parse(value.trim());
    if (!Number.isNaN(t)) return new Date(t).toISOString();
  }
  throw usageError(`--since ${JSON.stringify(value)}: expected a duration (${DURATION_FORMS}) or a time like 2024-05-01T12:00:00Z`);
}

export function parsePositiveInt(option: string, value: string, max = 100_000): number {
  return parseWholeNumber(option, value, 1, max);
}

export function parseWholeNumber(option: string, value: string, min: number, max: number): number {
  if (!/^\d+$/.test(value.trim())) throw usageError(`${option} ${JSON.stringify(value)}: expected a whole number`);
  const n = Number(value);
  if (n < min || n > max) throw usageError(`${option} ${n}: expected ${min} to ${max}`);
  return n;
}

/** A bot id from a name: lower-case, runs of other characters become "-", at most 63 chars. */
export function slugify(name: string): string {
  return name
    .normalize('NFKD')
    .replace(/[\u0300-\u036f]/g, '')
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, '-')
    .replace(/^-+/, '')
    .slice(0, 63)
    .replace(/-+$/, '');
}

export function checkBotId(id: string, option = '<id>'): string {
  if (!BOT_ID_PATTERN.test(id)) {
    throw usageError(
      `${option} ${JSON.stringify(id)}: a bot id is a lower-case slug (a-z, 0-9 and "-", starting and ending with a letter or digit, at most 63 characters)`,
    );
  }
  return id;
}

export type PackageSource =
  | { readonly kind: 'directory'; readonly path: string }
  | { readonly kind: 'archive'; readonly path: string; readonly format: 'zip' | 'tar.gz' };

/** What `berth deploy <path>` was given. */
export function classifyPackage(target: string, stat: (p: string) => { isDirectory(): boolean; isFile(): boolean } = statSync): PackageSource {
  const full = path.resolve(target);
  let info;
  try {
    info = stat(full);
  } catch {
    throw usageError(`${target}: no such file or directory`);
  }
  if (info.isDirectory()) return { kind: 'directory', path: full };
  if (info.isFile()) {
    if (/\.zip$/i.test(full)) return { kind: 'archive', path: full, format: 'zip' };
    if (/\.(tar\.gz|tgz)$/i.test(full)) return { kind: 'archive', path: full, format: 'tar.gz' };
  }
  throw usageError(`${target}: expected a directory, a .zip or a .tar.gz package`);
}

/** The id a package gets when `--id` is not given: the manifest name, else the file or directory name. */
export function defaultBotId(source: PackageSource, manifestName: string | undefined): string {
  const base = path.basename(source.path).replace(/\.(zip|tar\.gz|tgz)$/i, '');
  const id = slugify(manifestName ?? '') || slugify(base);
  if (!id) throw usageError(`cannot derive a bot id from ${JSON.stringify(manifestName ?? base)}; give one with --id`);
  return id;
}
