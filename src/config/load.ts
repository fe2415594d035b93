/**
 * Builds the service configuration from defaults, an optional YAML file, the environment
 * and flags (each later source wins), validates it with the one settings schema, and
 * reports every bad setting with its source and accepted forms.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { parse as parseYaml } from 'yaml';
import { errorMessage } from '../domain/errors.js';
import { ConfigError, type ConfigIssue, type SettingSource } from './errors.js';
import { isLoopback, formatListen, type ListenAddress } from './listen.js';
import {
  DEFAULT_DATA_DIR,
  DEFAULT_LISTEN,
  SETTINGS,
  SETTING_KEYS,
  settingsSchema,
  type LogLevel,
  type RuntimeChoice,
  type SettingKey,
} from './settings.js';

export const CONFIG_FILE_ENV = 'BERTH_CONFIG_FILE';
export const CONFIG_FILE_FLAG = '--config-file';

export interface ServerConfig {
  /** Absolute. */
  readonly dataDir: string;
  /** Adapter URLs; embedded paths made absolute. */
  readonly store: string;
  readonly objects: string;
  readonly events: string;
  readonly runtime: RuntimeChoice;
  readonly listen: ListenAddress;
  readonly apiToken?: string;
  readonly intervalMs: number;
  /** Days of bot logs kept in the object store, or `forever`. */
  readonly logRetentionDays: number | 'forever';
  readonly graceSeconds: number;
  readonly network: string;
  readonly instance: string;
  /** Absent: the image `berth image build` builds. */
  readonly image?: string;
  readonly logLevel: LogLevel;
  readonly python?: string;
  readonly node?: string;
  /** The config file read, if any. */
  readonly configFile?: string;
  /** Where each setting's value came from. */
  readonly sources: Readonly<Record<SettingKey, SettingSource>>;
}

export type RawSettings = Partial<Record<SettingKey, string | number | undefined>>;

export interface LoadConfigInput {
  /** Values of the service flags (commander's option values), by setting key. */
  readonly flags?: RawSettings;
  /** `--config-file`. */
  readonly configFile?: string;
  readonly env?: Readonly<Record<string, string | undefined>>;
  readonly cwd?: string;
  /** Replaces built-in defaults (e.g. `berth demo` uses its own data dir). */
  readonly defaults?: RawSettings;
}

const BUILT_IN_DEFAULTS: RawSettings = {
  dataDir: DEFAULT_DATA_DIR,
  events: 'memory:',
  runtime: 'auto',
  listen: DEFAULT_LISTEN,
  interval: '30s',
  logRetention: '30d',
  grace: '30',
  network: 'bridge',
  instance: 'default',
  logLevel: 'info',
};

interface Layered {
  readonly values: Partial<Record<SettingKey, unknown>>;
  readonly sources: Partial<Record<SettingKey, SettingSource>>;
}

export function loadConfig(input: LoadConfigInput = {}): ServerConfig {
  const env = input.env ?? process.env;
  const cwd = input.cwd ?? process.cwd();
  const merged: Layered = { values: {}, sources: {} };
  const issues: ConfigIssue[] = [];

  apply(merged, { ...BUILT_IN_DEFAULTS, ...input.defaults }, () => ({ kind: 'default' }));

  const file = configFilePath(input.configFile, env, cwd);
  if (file) {
    const fromFile = readConfigFile(file.path, file.source, issues);
    apply(merged, fromFile, (key) => ({ kind: 'file', path: file.path, key: SETTINGS[key].fileKey }));
  }

  const fromEnv: RawSettings = {};
  for (const key of SETTING_KEYS) {
    const value = env[SETTINGS[key].env];
    if (value !== undefined && value !== '') fromEnv[key] = value;
  }
  apply(merged, fromEnv, (key) => ({ kind: 'env', name: SETTINGS[key].env }));
  apply(merged, input.flags ?? {}, (key) => ({ kind: 'flag', flag: SETTINGS[key].flag }));

  const sourceOf = (key: SettingKey): SettingSource => merged.sources[key] ?? { kind: 'default' };
  const dataDirRaw = typeof merged.values.dataDir === 'string' ? merged.values.dataDir.trim() : '';
  const dataDir = path.resolve(cwd, dataDirRaw || DEFAULT_DATA_DIR);
  if (merged.values.store === undefined) merged.values.store = `sqlite:${path.join(dataDir, 'berth.db')}`;
  if (merged.values.objects === undefined) merged.values.objects = `file:${path.join(dataDir, 'objects')}`;

  const result = settingsSchema.safeParse(merged.values);
  if (!result.success) {
    for (const issue of result.error.issues) {
      const key = String(issue.path[0]) as SettingKey;
      issues.push(settingIssue(key, sourceOf(key), merged.values[key], issue.message));
    }
  }
  if (issues.length > 0 || !result.success) throw new ConfigError(issues);

  const s = result.data;
  if (!isLoopback(s.listen.host) && !s.apiToken) {
    throw new ConfigError([
      {
        setting: 'listen',
        source: sourceOf('listen'),
        value: formatListen(s.listen),
        problem:
          `is reachable from other machines, and no API token is set: anyone who can reach it could run code on this host. ` +
          `Set ${SETTINGS.apiToken.env} (or ${SETTINGS.apiToken.flag}) to a secret, or listen on 127.0.0.1`,
        accepted: `a loopback address (127.0.0.1, ::1, localhost), or any address together with an API token of at least 16 characters`,
      },
    ]);
  }

  const sources = Object.fromEntries(SETTING_KEYS.map((k) => [k, sourceOf(k)])) as Record<SettingKey, SettingSource>;
  return {
    dataDir,
    store: absolutizeEmbedded(s.store, 'sqlite:', cwd),
    objects: absolutizeEmbedded(s.objects, 'file:', cwd),
    events: s.events,
    runtime: s.runtime,
    listen: s.listen,
    ...(s.apiToken ? { apiToken: s.apiToken } : {}),
    intervalMs: s.interval,
    logRetentionDays: s.logRetention,
    graceSeconds: s.grace,
    network: s.network,
    instance: s.instance,
    ...(s.image ? { image: s.image } : {}),
    logLevel: s.logLevel,
    ...(s.python ? { python: path.resolve(cwd, s.python) } : {}),
    ...(s.node ? { node: path.resolve(cwd, s.node) } : {}),
    ...(file ? { configFile: file.path } : {}),
    sources,
  };
}

function apply(target: Layered, layer: RawSettings, source: (key: SettingKey) => SettingSource): void {
  for (const key of SETTING_KEYS) {
    const value = layer[key];
    if (value === undefined) continue;
    target.values[key] = value;
    target.sources[key] = source(key);
  }
}

function configFilePath(
  flag: string | undefined,
  env: Readonly<Record<string, string | undefined>>,
  cwd: string,
): { path: string; source: SettingSource } | undefined {
  if (flag !== undefined) return { path: path.resolve(cwd, flag), source: { kind: 'flag', flag: CONFIG_FILE_FLAG } };
  const fromEnv = env[CONFIG_FILE_ENV];
  if (fromEnv) return { path: path.resolve(cwd, fromEnv), source: { kind: 'env', name: CONFIG_FILE_ENV } };
  return undefined;
}

const FILE_ACCEPTED = `a YAML mapping with any of the keys ${SETTING_KEYS.map((k) => SETTINGS[k].fileKey).join(', ')}`;

/** Reads the YAML file; problems are added to `issues` and yield no settings. */
function readConfigFile(file: string, source: SettingSource, issues: ConfigIssue[]): RawSettings {
  const fileIssue = (problem: string): ConfigIssue => ({ setting: 'configFile', source, value: file, problem, accepted: FILE_ACCEPTED });
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    issues.push(fileIssue(code === 'ENOENT' ? 'does not exist' : `cannot be read (${errorMessage(err)})`));
    return {};
  }
  let doc: unknown;
  try {
    doc = parseYaml(text);
  } catch (err) {
    issues.push(fileIssue(`is not valid YAML: ${errorMessage(err).split('\n')[0]}`));
    return {};
  }
  if (doc === null || doc === undefined) return {};
  if (typeof doc !== 'object' || Array.isArray(doc)) {
    issues.push(fileIssue('is not a mapping of setting names to values'));
    return {};
  }
  const byFileKey = new Map(SETTING_KEYS.map((k) => [SETTINGS[k].fileKey, k] as const));
  const out: RawSettings = {};
  for (const [name, value] of Object.entries(doc as Record<string, unknown>)) {
    const key = byFileKey.get(name);
    if (!key) {
      issues.push({ ...fileIssue(`has an unknown key "${name}"`), setting: name });
      continue;
    }
    if (value === null) continue;
    if (typeof value !== 'string' && typeof value !== 'number') {
      issues.push(settingIssue(key, { kind: 'file', path: file, key: name }, value, 'must be a string or a number'));
      continue;
    }
    out[key] = value;
  }
  return out;
}

function settingIssue(key: SettingKey, source: SettingSource, value: unknown, problem: string): ConfigIssue {
  const info = SETTINGS[key];
  const shown =
    value === undefined ? undefined : 'secret' in info && info.secret ? '(value hidden)' : JSON.stringify(value);
  return {
    setting: info.fileKey,
    source,
    ...(shown === undefined ? {} : { value: shown }),
    problem,
    accepted: info.accepted,
  };
}

/** `sqlite:rel/path` → `sqlite:/abs/path`, so adapters and child processes agree on it. */
function absolutizeEmbedded(url: string, scheme: string, cwd: string): string {
  if (!url.toLowerCase().startsWith(scheme) || url.slice(scheme.length).startsWith('//')) return url;
  const rest = url.slice(scheme.length);
  if (rest === '' || rest === ':memory:') return url;
  return `${scheme}${path.resolve(cwd, rest)}`;
}
