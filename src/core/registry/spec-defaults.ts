/**
 * Fills a deploy request's missing fields from what the package says about itself
 * (bot-config.yaml of the seed's platform, DESIGN §3) and, failing that, from the files
 * in the package. Explicit fields always win. Pure: no I/O.
 */
import type { FieldIssue } from '../../domain/errors.js';

/** The spec fields a package can supply, in the spec's own terms. */
export interface PackageDefaults {
  readonly name?: string;
  readonly kind?: string;
  readonly runtime?: string;
  readonly entrypoint?: string;
  readonly schedule?: Record<string, unknown>;
  readonly flavor?: 'the0';
}

/** bot-config.yaml `type` → Berth `kind`; unknown values pass through to fail validation by name. */
const THE0_TYPES: Readonly<Record<string, string>> = { realtime: 'live', live: 'live', scheduled: 'scheduled' };

/**
 * Reads the manifest defensively (it comes back from a stored JSON sidecar): accepts the
 * seed's field names (`type`, `entrypoints.bot`) and Berth's own (`kind`, `entrypoint`).
 */
export function defaultsFromManifest(manifest: unknown): PackageDefaults {
  if (!isRecord(manifest)) return {};
  const out: Record<string, unknown> = { flavor: 'the0' };
  if (typeof manifest.name === 'string') out.name = manifest.name;
  const type = typeof manifest.type === 'string' ? manifest.type : typeof manifest.kind === 'string' ? manifest.kind : undefined;
  if (type !== undefined) out.kind = THE0_TYPES[type] ?? type;
  if (typeof manifest.runtime === 'string') out.runtime = manifest.runtime;
  const entrypoint = isRecord(manifest.entrypoints) ? manifest.entrypoints.bot : manifest.entrypoint;
  if (typeof entrypoint === 'string') out.entrypoint = entrypoint.replace(/^\.\//, '');
  if (typeof manifest.schedule === 'string') out.schedule = { cron: manifest.schedule };
  else if (isRecord(manifest.schedule)) out.schedule = { ...manifest.schedule };
  return out as PackageDefaults;
}

/** Files tried, in order, when neither the request nor the package names an entrypoint. */
export const CONVENTIONAL_ENTRYPOINTS = ['main.py', 'bot.py', 'index.js', 'main.js', 'index.mjs', 'main.mjs', 'bot.js'] as const;

export function runtimeForEntrypoint(entrypoint: string): string | undefined {
  if (entrypoint.endsWith('.py')) return 'python3.11';
  if (/\.(m|c)?js$/.test(entrypoint)) return 'nodejs20';
  return undefined;
}

export interface MergedSpec {
  readonly input: Record<string, unknown>;
  /** Fields whose value came from bot-config.yaml, so errors can say where a bad value came from. */
  readonly fromManifest: ReadonlySet<string>;
}

export function mergePackageDefaults(
  input: Readonly<Record<string, unknown>>,
  defaults: PackageDefaults,
  files: readonly string[],
): MergedSpec {
  const out: Record<string, unknown> = { ...input };
  const fromManifest = new Set<string>();
  for (const field of ['name', 'kind', 'runtime', 'entrypoint', 'flavor'] as const) {
    if (out[field] === undefined && defaults[field] !== undefined) {
      out[field] = defaults[field];
      if (field !== 'flavor') fromManifest.add(field);
    }
  }
  if (out.schedule === undefined && defaults.schedule !== undefined && (out.kind ?? 'live') === 'scheduled') {
    out.schedule = defaults.schedule;
    fromManifest.add('schedule');
  }
  if (out.entrypoint === undefined) {
    const present = new Set(files);
    const found = CONVENTIONAL_ENTRYPOINTS.find((f) => present.has(f));
    if (found) out.entrypoint = found;
  }
  if (out.runtime === undefined && typeof out.entrypoint === 'string') {
    const runtime = runtimeForEntrypoint(out.entrypoint);
    if (runtime) out.runtime = runtime;
  }
  return { input: out, fromManifest };
}

/**
 * Why `entrypoint` or `runtime` is still missing once every default was tried: the schema
 * would only say "must be a string", which tells nobody that the package had nothing to run.
 */
export function underivedFieldIssues(merged: Readonly<Record<string, unknown>>, files: readonly string[]): FieldIssue[] {
  if (merged.entrypoint === undefined) return [{ field: 'entrypoint', message: noEntrypointMessage(files) }];
  if (merged.runtime === undefined && typeof merged.entrypoint === 'string') {
    return [
      {
        field: 'runtime',
        message:
          `cannot be told from the entrypoint ${JSON.stringify(merged.entrypoint)} (only .py means python3.11 and .js/.mjs/.cjs nodejs20); ` +
          'give it (berth deploy --runtime python3.11 or nodejs20)',
      },
    ];
  }
  return [];
}

function noEntrypointMessage(files: readonly string[]): string {
  const tops = new Set(files.map((f) => f.split('/')[0]));
  const [onlyTop] = tops;
  const why =
    files.length === 0
      ? 'the package has no files'
      : tops.size === 1 && onlyTop !== undefined && files.every((f) => f.startsWith(`${onlyTop}/`))
        ? `every file of the package is under "${onlyTop}/" (pack the contents of that directory instead)`
        : `none of ${CONVENTIONAL_ENTRYPOINTS.join(', ')} is at the package root and no bot-config.yaml names one (entrypoints.bot)`;
  return (
    `no runnable file found: ${why}. Name the file to run (berth deploy --entrypoint <file>, with --runtime python3.11 or nodejs20 ` +
    'unless it ends in .py or .js), or add main.py, index.js or a bot-config.yaml with entrypoints.bot'
  );
}

/** Says where a bad value came from when the user did not type it. */
export function attributeIssues(issues: readonly FieldIssue[], fromManifest: ReadonlySet<string>): FieldIssue[] {
  return issues.map((issue) => {
    const top = issue.field.split('.')[0] ?? '';
    return fromManifest.has(top) ? { field: issue.field, message: `${issue.message} (value from bot-config.yaml)` } : issue;
  });
}

export function isRecord(v: unknown): v is Record<string, unknown> {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
}
