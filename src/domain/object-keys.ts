/**
 * The object store layout of DESIGN §4, in one place. Every key is built here; nothing
 * else concatenates key strings.
 */
export const objectKeys = {
  codePrefix: (botId: string) => `code/${botId}/`,
  code: (botId: string, sha256: string, format: 'zip' | 'tar.gz') => `code/${botId}/${sha256}.${format}`,
  /** Sidecar written next to the code package at upload: validated manifest and entry list. */
  codeManifest: (botId: string, sha256: string) => `code/${botId}/${sha256}.manifest.json`,
  statePrefix: (botId: string) => `state/${botId}/`,
  state: (botId: string) => `state/${botId}/state.tar.gz`,
  /** Written by the daemon when the newest state is not saved (whole); see state-problem.ts. */
  stateProblem: (botId: string) => `state/${botId}/problem.json`,
  logsPrefix: (botId: string) => `logs/${botId}/`,
  /** One UTC day of a bot's log chunks (`day`: YYYY-MM-DD), the unit log retention deletes. */
  logDayPrefix: (botId: string, day: string) => `logs/${botId}/${day}/`,
  /** `logs/<botId>/<YYYY-MM-DD>/<epoch-ms>-<seq>.ndjson`; seq is zero-padded so keys sort in write order. */
  logChunk: (botId: string, epochMs: number, seq: number) =>
    `logs/${botId}/${logDay(epochMs)}/${String(epochMs).padStart(13, '0')}-${String(seq).padStart(6, '0')}.ndjson`,
  runsPrefix: (botId: string) => `runs/${botId}/`,
  run: (botId: string, runId: string) => `runs/${botId}/${runId}.json`,
} as const;

/** The UTC day (YYYY-MM-DD) a log chunk named at `epochMs` is filed under. */
export function logDay(epochMs: number): string {
  return new Date(epochMs).toISOString().slice(0, 10);
}

const LOG_DAY = /^\d{4}-\d{2}-\d{2}$/;

/** The day folder of a key under `logs/<botId>/`; undefined for a key that is not in one. */
export function logDayOfKey(botId: string, key: string): string | undefined {
  const prefix = objectKeys.logsPrefix(botId);
  if (!key.startsWith(prefix)) return undefined;
  const rest = key.slice(prefix.length);
  const slash = rest.indexOf('/');
  const day = slash < 0 ? undefined : rest.slice(0, slash);
  return day !== undefined && LOG_DAY.test(day) ? day : undefined;
}

/** The areas a bot's objects live in, each under its own per-bot prefix (what `rm` deletes). */
export const BOT_AREAS = ['code', 'state', 'logs', 'runs'] as const;
export type BotArea = (typeof BOT_AREAS)[number];

const AREA_PREFIX: Readonly<Record<BotArea, (botId: string) => string>> = {
  code: objectKeys.codePrefix,
  state: objectKeys.statePrefix,
  logs: objectKeys.logsPrefix,
  runs: objectKeys.runsPrefix,
};

export function areaPrefix(area: BotArea, botId: string): string {
  return AREA_PREFIX[area](botId);
}

/** What a key under `code/<botId>/` is: a package archive or its sidecar. */
export interface CodeKeyParts {
  readonly botId: string;
  readonly sha256: string;
  readonly part: 'archive' | 'sidecar';
}

const CODE_KEY = /^code\/([^/]+)\/([0-9a-f]{64})\.(zip|tar\.gz|manifest\.json)$/;

/** The inverse of `objectKeys.code` and `objectKeys.codeManifest`; null for any other key. */
export function parseCodeKey(key: string): CodeKeyParts | null {
  const m = CODE_KEY.exec(key);
  if (!m?.[1] || !m[2]) return null;
  return { botId: m[1], sha256: m[2], part: m[3] === 'manifest.json' ? 'sidecar' : 'archive' };
}
