/**
 * The desired-state records of DESIGN §3 and their validation. No I/O here.
 */
import { z } from 'zod';
import { ValidationError, type FieldIssue } from './errors.js';
import { scheduleIssues } from './schedule.js';

export const BOT_KINDS = ['live', 'scheduled'] as const;
export type BotKind = (typeof BOT_KINDS)[number];

export const RUNTIMES = ['python3.11', 'nodejs20'] as const;
export type BotRuntime = (typeof RUNTIMES)[number];

/** Accepted spellings of each runtime; the record always stores the canonical one. */
export const RUNTIME_ALIASES: Readonly<Record<string, BotRuntime>> = {
  'python3.11': 'python3.11',
  python3: 'python3.11',
  python: 'python3.11',
  py: 'python3.11',
  nodejs20: 'nodejs20',
  'nodejs': 'nodejs20',
  node20: 'nodejs20',
  node: 'nodejs20',
};

export const BOT_ID_PATTERN = /^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$/;
export const ENV_NAME_PATTERN = /^[A-Za-z_][A-Za-z0-9_]*$/;
/** Names the runtime sets itself; a user may not override them. */
export const RESERVED_ENV_PREFIXES = ['BERTH_'] as const;
export const RESERVED_ENV_NAMES = [
  'BOT_ID',
  'BOT_CONFIG',
  'BOT_TYPE',
  'STATE_DIR',
  'CODE_MOUNT_DIR',
  'SCRIPT_PATH',
  'PYTHONPATH',
  'HOME',
  'PATH',
] as const;

export const LIMITS = {
  configBytes: 64 * 1024,
  /** Levels of objects and arrays in `config`, the object itself being level 1. */
  configDepth: 32,
  envEntries: 200,
  envValueBytes: 32 * 1024,
  nameChars: 200,
  entrypointChars: 512,
} as const;

export const DEFAULT_RESOURCES = { memoryMb: 512, cpus: 1, pids: 256 } as const;

export interface Resources {
  readonly memoryMb: number;
  readonly cpus: number;
  readonly pids: number;
}

export type OverlapPolicy = 'skip' | 'allow' | 'replace';
export type CatchUpPolicy = 'none' | 'latest';

export interface Schedule {
  readonly cron: string;
  readonly timezone: string;
  readonly overlap: OverlapPolicy;
  readonly catchUp: CatchUpPolicy;
  /** Absent means no limit. */
  readonly maxRuntimeSeconds?: number;
}

/** Reference to an immutable code package in the object store (DESIGN §4). */
export interface CodeRef {
  /** `code/<botId>/<sha256>.<zip|tar.gz>` */
  readonly key: string;
  readonly sha256: string;
  readonly size: number;
  readonly format: 'zip' | 'tar.gz';
  /** Free-form label shown to people (e.g. `v3` or the first 12 hex chars of the hash). */
  readonly version: string;
}

/** Whether the package came from the seed's platform (bot-config.yaml), which changes the bot's environment. */
export type PackageFlavor = 'berth' | 'the0';

/** What a user asks for: everything of a Bot except bookkeeping. */
export interface BotSpec {
  readonly id: string;
  readonly name: string;
  readonly kind: BotKind;
  readonly runtime: BotRuntime;
  readonly entrypoint: string;
  readonly code: CodeRef;
  readonly flavor: PackageFlavor;
  readonly config: Readonly<Record<string, unknown>>;
  readonly env: Readonly<Record<string, string>>;
  readonly schedule?: Schedule;
  readonly resources: Resources;
  readonly enabled: boolean;
}

/** The stored desired-state record. */
export interface Bot extends BotSpec {
  readonly createdAt: string;
  readonly updatedAt: string;
  /** Increments on every change; 1 on creation. Used for optimistic concurrency. */
  readonly generation: number;
}

const slug = z
  .string({ error: 'must be a string' })
  .regex(
    BOT_ID_PATTERN,
    'must be a lower-case slug: a-z, 0-9 and "-", starting and ending with a letter or digit, at most 63 characters',
  );

const relativePath = z
  .string({ error: 'must be a string' })
  .min(1, 'must not be empty')
  .max(LIMITS.entrypointChars, `must be at most ${LIMITS.entrypointChars} characters`)
  .refine((p) => !p.startsWith('/') && !p.includes('\\'), 'must be a relative path inside the package, with "/" separators')
  .refine((p) => p.split('/').every((seg) => seg !== '..' && seg !== ''), 'must not contain "..", "//" or a trailing "/"')
  .refine((p) => !p.includes('\0'), 'must not contain NUL');

const runtime = z
  .string({ error: 'must be a string' })
  .transform((r, ctx) => {
    const canonical = RUNTIME_ALIASES[r.toLowerCase()];
    if (!canonical) {
      ctx.addIssue({
        code: 'custom',
        message: `unknown runtime ${JSON.stringify(r)}; use one of ${RUNTIMES.join(', ')} (aliases: python, node)`,
      });
      return z.NEVER;
    }
    return canonical;
  });

/**
 * Whether `value` nests objects and arrays more than `limit` levels deep (a scalar is 0,
 * `{}` and `[]` are 1). Walks without recursion and stops one level past the limit, so
 * it is safe on any parsed JSON — unlike JSON.stringify, the spec hash and the stores,
 * which recurse and overflow the stack a few thousand levels down.
 */
export function nestedDeeperThan(value: unknown, limit: number): boolean {
  const pending: [unknown, number][] = [[value, 0]];
  for (let next = pending.pop(); next !== undefined; next = pending.pop()) {
    const [node, above] = next;
    if (node === null || typeof node !== 'object') continue;
    const depth = above + 1;
    if (depth > limit) return true;
    for (const child of Array.isArray(node) ? node : Object.values(node)) {
      if (child !== null && typeof child === 'object') pending.push([child, depth]);
    }
  }
  return false;
}

export const CONFIG_DEPTH_MESSAGE = `must not nest objects and arrays more than ${LIMITS.configDepth} levels deep (the config object itself is level 1)`;

const configObject = z
  .record(z.string(), z.unknown(), { error: 'must be a JSON object (not an array, string or null)' })
  .superRefine((c, ctx) => {
    // The depth first: the size check serializes, which recurses.
    if (nestedDeeperThan(c, LIMITS.configDepth)) {
      ctx.addIssue({ code: 'custom', message: CONFIG_DEPTH_MESSAGE });
      return;
    }
    if (Buffer.byteLength(JSON.stringify(c)) > LIMITS.configBytes) {
      ctx.addIssue({ code: 'custom', message: `must be at most ${LIMITS.configBytes} bytes as JSON` });
    }
  });

const envMap = z
  .record(z.string(), z.string({ error: 'must be a string' }), { error: 'must be an object of string values' })
  .superRefine((env, ctx) => {
    const names = Object.keys(env);
    if (names.length > LIMITS.envEntries) {
      ctx.addIssue({ code: 'custom', message: `at most ${LIMITS.envEntries} variables` });
    }
    for (const name of names) {
      const value = env[name] ?? '';
      if (!ENV_NAME_PATTERN.test(name)) {
        ctx.addIssue({ code: 'custom', path: [name], message: 'is not a valid variable name ([A-Za-z_][A-Za-z0-9_]*)' });
      } else if (
        RESERVED_ENV_PREFIXES.some((p) => name.startsWith(p)) ||
        (RESERVED_ENV_NAMES as readonly string[]).includes(name)
      ) {
        ctx.addIssue({ code: 'custom', path: [name], message: 'is set by Berth and cannot be overridden' });
      }
      if (value.includes('\0')) ctx.addIssue({ code: 'custom', path: [name], message: 'must not contain NUL' });
      if (Buffer.byteLength(value) > LIMITS.envValueBytes) {
        ctx.addIssue({ code: 'custom', path: [name], message: `must be at most ${LIMITS.envValueBytes} bytes` });
      }
    }
  });

/**
 * A number in [min, max] whose every failure states the range: a schema-level `error` in
 * zod 4 also answers the checks that have no message of their own, so a memoryMb of 1 was
 * "must be a number".
 */
function boundedNumber(min: number, max: number, opts: { whole?: boolean; unit?: string } = {}): z.ZodNumber {
  const unit = opts.unit ? ` ${opts.unit}` : '';
  const range = `${opts.whole ? 'a whole number' : 'a number'} from ${min} to ${max}${unit}`;
  const n = z.number({ error: `must be ${range}` });
  return (opts.whole ? n.int(`must be ${range}`) : n)
    .min(min, `must be at least ${min}${unit} (allowed: ${min} to ${max})`)
    .max(max, `must be at most ${max}${unit} (allowed: ${min} to ${max})`);
}

const resources = z
  .object(
    {
      memoryMb: boundedNumber(32, 262144, { whole: true, unit: 'MiB' }).default(DEFAULT_RESOURCES.memoryMb),
      cpus: boundedNumber(0.05, 256).default(DEFAULT_RESOURCES.cpus),
      pids: boundedNumber(16, 65536, { whole: true }).default(DEFAULT_RESOURCES.pids),
    },
    { error: 'must be an object' },
  )
  .strict();

const scheduleSchema = z
  .object(
    {
      cron: z.string({ error: 'must be a string' }).trim().min(1, 'must not be empty'),
      timezone: z.string({ error: 'must be a string' }).default('UTC'),
      overlap: z.enum(['skip', 'allow', 'replace'], { error: 'must be one of skip, allow, replace' }).default('skip'),
      catchUp: z.enum(['none', 'latest'], { error: 'must be one of none, latest' }).default('none'),
      maxRuntimeSeconds: boundedNumber(1, 30 * 24 * 3600, { whole: true }).optional(),
    },
    { error: 'must be an object' },
  )
  .strict();

const codeRef = z
  .object(
    {
      key: z.string({ error: 'must be a string' }).min(1, 'must not be empty'),
      sha256: z.string({ error: 'must be a string' }).regex(/^[0-9a-f]{64}$/, 'must be 64 lower-case hex characters'),
      size: z.number({ error: 'must be a number' }).int('must be a whole number').min(1, 'must be at least 1'),
      format: z.enum(['zip', 'tar.gz'], { error: 'must be zip or tar.gz' }),
      version: z.string({ error: 'must be a string' }).min(1, 'must not be empty').max(100, 'must be at most 100 characters'),
    },
    { error: 'must be an object' },
  )
  .strict();

export const botSpecSchema = z
  .object(
    {
      id: slug,
      name: z.string({ error: 'must be a string' }).trim().min(1, 'must not be empty').max(LIMITS.nameChars).optional(),
      kind: z.enum(BOT_KINDS, { error: 'must be live or scheduled' }).default('live'),
      runtime,
      entrypoint: relativePath,
      code: codeRef,
      flavor: z.enum(['berth', 'the0'], { error: 'must be berth or the0' }).default('berth'),
      config: configObject.default({}),
      env: envMap.default({}),
      schedule: scheduleSchema.optional(),
      resources: resources.default({ ...DEFAULT_RESOURCES }),
      enabled: z.boolean({ error: 'must be true or false' }).default(true),
    },
    { error: 'must be a JSON object' },
  )
  .strict()
  .superRefine((spec, ctx) => {
    if (spec.kind === 'scheduled' && !spec.schedule) {
      ctx.addIssue({ code: 'custom', path: ['schedule'], message: 'is required for a scheduled bot (give a cron expression)' });
    }
    if (spec.kind === 'live' && spec.schedule) {
      ctx.addIssue({ code: 'custom', path: ['schedule'], message: 'only scheduled bots have a schedule; set kind to "scheduled"' });
    }
    if (spec.schedule) {
      for (const issue of scheduleIssues(spec.schedule.cron, spec.schedule.timezone)) {
        ctx.addIssue({ code: 'custom', path: issue.field.split('.'), message: issue.message });
      }
    }
    if (!spec.code.key.startsWith(`code/${spec.id}/`)) {
      ctx.addIssue({ code: 'custom', path: ['code', 'key'], message: `must be under code/${spec.id}/` });
    }
  });

/** Turns zod issues into field-named issues (`resources.memoryMb: must be a whole number`). */
export function toFieldIssues(error: z.ZodError, prefix = ''): FieldIssue[] {
  return error.issues.map((issue) => {
    const path = issue.path.map(String).join('.');
    const field = [prefix, path].filter(Boolean).join('.');
    let message = issue.message;
    if (issue.code === 'unrecognized_keys') {
      message = `unknown field(s) ${issue.keys.map((k) => JSON.stringify(k)).join(', ')}`;
    }
    return { field, message };
  });
}

/**
 * Validates untrusted input into a BotSpec (defaults filled, runtime canonical).
 * Throws ValidationError naming every bad field (cron and time zone via ./schedule.ts).
 */
export function parseBotSpec(input: unknown): BotSpec {
  const result = botSpecSchema.safeParse(input);
  if (!result.success) throw new ValidationError(toFieldIssues(result.error));
  const spec = result.data;
  return { ...spec, name: spec.name ?? spec.id } as BotSpec;
}

export function isValidBotId(id: string): boolean {
  return BOT_ID_PATTERN.test(id);
}

/**
 * Issues with the fields a request gave explicitly, before package defaults are merged in:
 * lets the API name every wrong field at once instead of stopping at the first lookup.
 * Missing required fields and `code` (resolved against uploaded packages) are not judged here.
 */
export function explicitFieldIssues(input: Record<string, unknown>): FieldIssue[] {
  const id = typeof input.id === 'string' ? input.id : 'placeholder';
  const placeholders: Record<string, unknown> = {
    runtime: 'python3.11',
    entrypoint: 'placeholder.py',
    code: { key: `code/${id}/${'0'.repeat(64)}.tar.gz`, sha256: '0'.repeat(64), size: 1, format: 'tar.gz', version: 'placeholder' },
  };
  const filled: Record<string, unknown> = { ...input, code: placeholders.code };
  const substituted = new Set<string>(['code']);
  for (const key of ['runtime', 'entrypoint'] as const) {
    if (input[key] === undefined) {
      filled[key] = placeholders[key];
      substituted.add(key);
    }
  }
  const result = botSpecSchema.safeParse(filled);
  if (result.success) return [];
  return toFieldIssues(result.error).filter((i) => !substituted.has(i.field.split('.')[0] ?? ''));
}
