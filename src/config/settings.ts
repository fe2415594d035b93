/**
 * Every setting of the Berth services in one place: its zod schema, where it can be given
 * (flag, environment variable, config-file key) and the forms it accepts, so that an error
 * can name all three. Precedence, lowest first: default, config file, environment, flag.
 */
import { z } from 'zod';
import { DURATION_FORMS, parseDurationMs } from './duration.js';
import { LISTEN_FORMS, parseListen, type ListenAddress } from './listen.js';

export const RUNTIME_CHOICES = ['auto', 'docker', 'process'] as const;
export type RuntimeChoice = (typeof RUNTIME_CHOICES)[number];

export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

export const DEFAULT_LISTEN = '127.0.0.1:7070';
export const DEFAULT_DATA_DIR = './.berth';
export const MIN_API_TOKEN_CHARS = 16;

/** Where a setting can be given. */
export interface SettingInfo {
  /** `--data-dir` */
  readonly flag: string;
  /** `BERTH_DATA_DIR` */
  readonly env: string;
  /** Key in the YAML config file. */
  readonly fileKey: string;
  /** What a person may write, shown in every error about this setting. */
  readonly accepted: string;
  /** One line for `--help`. */
  readonly help: string;
  /** Hide the value in messages (tokens). */
  readonly secret?: boolean;
}

function setting(key: string, accepted: string, help: string, extra: Partial<SettingInfo> = {}): SettingInfo {
  const kebab = key.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`);
  return {
    flag: `--${kebab}`,
    env: `BERTH_${kebab.replace(/-/g, '_').toUpperCase()}`,
    fileKey: key,
    accepted,
    help,
    ...extra,
  };
}

export const SETTINGS = {
  dataDir: setting('dataDir', 'a directory path (relative paths are resolved against the current directory)', 'directory for the embedded store, objects and process-runtime files (default ./.berth)'),
  store: setting('store', 'sqlite:<path> (embedded) or mongodb://host[:port]/<db>', 'desired-state store (default sqlite:<data-dir>/berth.db)'),
  objects: setting('objects', 'file:<directory> (embedded) or s3://… ', 'object store for code, state and logs (default file:<data-dir>/objects)'),
  events: setting('events', 'memory: (in-process) or nats://host:port', 'event bus (default memory:)'),
  runtime: setting('runtime', `${RUNTIME_CHOICES.join(', ')} (auto: docker when the engine answers, else process)`, 'where bots run (default auto)'),
  listen: setting('listen', LISTEN_FORMS, `address of the HTTP API (default ${DEFAULT_LISTEN})`),
  apiToken: setting('apiToken', `a secret of at least ${MIN_API_TOKEN_CHARS} characters without spaces; clients send it as "Authorization: Bearer <token>"`, 'token the API requires (required when listening beyond loopback)', { secret: true }),
  interval: setting('interval', `a duration between 1s and 1h: ${DURATION_FORMS}`, 'full reconcile interval (default 30s)'),
  logRetention: setting('logRetention', 'a whole number of days from 1 to 36500, e.g. 30 or 30d, or "forever"', 'how long bot logs are kept in the object store (default 30d)'),
  grace: setting('grace', 'a whole number of seconds from 0 to 3600, e.g. 30 or 30s', 'seconds a bot gets to save after SIGTERM before SIGKILL (default 30)'),
  network: setting('network', 'bridge, host, none, or the name of an existing Docker network', 'Docker network mode of bot containers (default bridge)'),
  instance: setting('instance', '1–63 characters: letters, digits, ".", "_" or "-", starting with a letter or digit', 'name that separates Berth installations sharing one Docker Engine (default "default")'),
  image: setting('image', 'a Docker image reference, e.g. berth-bot:0.1.0', 'bot image (default: the image `berth image build` builds)'),
  logLevel: setting('logLevel', LOG_LEVELS.join(', '), 'log level (default info)'),
  python: setting('python', 'path to a Python 3.11 interpreter', 'process runtime: Python for bots (default: python3.11 on PATH)'),
  node: setting('node', 'path to a Node.js 20+ binary', 'process runtime: Node for daemons and bots (default: this Node)'),
} as const satisfies Record<string, SettingInfo>;

export type SettingKey = keyof typeof SETTINGS;
export const SETTING_KEYS = Object.keys(SETTINGS) as SettingKey[];

const nonEmpty = z.string({ error: 'must be a string' }).trim().min(1, 'must not be empty');

const urlWithScheme = (schemes: readonly string[]) =>
  nonEmpty.refine((v) => schemes.some((s) => v.toLowerCase().startsWith(s)), {
    message: `must start with ${schemes.map((s) => `"${s}"`).join(' or ')}`,
  });

const duration = (minMs: number, maxMs: number) =>
  z.union([z.string(), z.number()], { error: 'must be a duration' }).transform((v, ctx) => {
    const ms = parseDurationMs(v);
    if (ms === undefined) {
      ctx.addIssue({ code: 'custom', message: 'is not a duration' });
      return z.NEVER;
    }
    if (ms < minMs || ms > maxMs) {
      ctx.addIssue({ code: 'custom', message: 'is out of range' });
      return z.NEVER;
    }
    return ms;
  });

const listen = z.union([z.string(), z.number()], { error: 'must be an address' }).transform((v, ctx): ListenAddress => {
  const parsed = parseListen(v);
  if (!parsed) {
    ctx.addIssue({ code: 'custom', message: 'is not an address' });
    return z.NEVER;
  }
  return parsed;
});

/** The one schema of all settings; values arrive as strings (flags, env) or YAML scalars. */
export const settingsSchema = z.object({
  dataDir: nonEmpty,
  store: urlWithScheme(['sqlite:', 'mongodb://', 'mongodb+srv://']),
  objects: urlWithScheme(['file:', 's3://', 's3+http://', 's3+https://']),
  events: urlWithScheme(['memory:', 'nats://']),
  runtime: z.enum(RUNTIME_CHOICES, { error: 'is not a runtime' }),
  listen,
  apiToken: z
    .string({ error: 'must be a string' })
    .min(MIN_API_TOKEN_CHARS, `is too short`)
    .regex(/^\S+$/, 'must not contain spaces')
    .optional(),
  interval: duration(1000, 3_600_000),
  logRetention: z
    .union([z.string(), z.number()], { error: 'must be a number of days or "forever"' })
    .transform((v, ctx): number | 'forever' => {
      if (typeof v === 'string' && v.trim().toLowerCase() === 'forever') return 'forever';
      const days = /^\s*(\d+)\s*d?\s*$/i.exec(String(v))?.[1];
      if (days === undefined || Number(days) < 1 || Number(days) > 36_500) {
        ctx.addIssue({ code: 'custom', message: 'is not a whole number of days from 1 to 36500, nor "forever"' });
        return z.NEVER;
      }
      return Number(days);
    }),
  grace: z
    .union([z.string(), z.number()], { error: 'must be a number of seconds' })
    .transform((v, ctx) => {
      const ms = parseDurationMs(v);
      if (ms === undefined || ms % 1000 !== 0 || ms > 3_600_000) {
        ctx.addIssue({ code: 'custom', message: 'is not a whole number of seconds from 0 to 3600' });
        return z.NEVER;
      }
      return ms / 1000;
    }),
  network: nonEmpty.regex(/^[A-Za-z0-9][A-Za-z0-9_.:-]*$/, 'is not a network name'),
  instance: z.string({ error: 'must be a string' }).regex(/^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$/, 'is not an instance name'),
  image: nonEmpty.regex(/^[a-z0-9][a-z0-9._/:@-]*$/i, 'is not an image reference').optional(),
  logLevel: z.enum(LOG_LEVELS, { error: 'is not a log level' }),
  python: nonEmpty.optional(),
  node: nonEmpty.optional(),
});

export type ParsedSettings = z.output<typeof settingsSchema>;
