/**
 * `berth deploy <dir|.zip|.tar.gz>`: packs a directory, uploads the package
 * (POST /v1/bots/:id/package), then writes the bot (PUT /v1/bots/:id). Deploying to an
 * existing id updates it; what the user did not give again (config, env, resources) is
 * kept, so a redeploy of new code does not wipe the bot's settings.
 */
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { parse as parseYaml } from 'yaml';
import type { Bot, CodeRef } from '../../domain/bot.js';
import type { BotView } from '../../core/queries/index.js';
import { checkBotId, classifyPackage, defaultBotId, parseConfigOption, parseEnvPairs, parsePositiveInt, type PackageSource } from '../args.js';
import type { ApiClient } from '../client.js';
import { printJson, type CliContext } from '../context.js';
import { CliError, usageError } from '../errors.js';
import { botPath } from './bots.js';

export interface DeployFlags {
  readonly id?: string;
  readonly name?: string;
  readonly runtime?: string;
  readonly entrypoint?: string;
  readonly config?: string;
  readonly env?: readonly string[];
  readonly disabled?: boolean;
  readonly schedule?: string;
  readonly timezone?: string;
  readonly overlap?: string;
  readonly catchUp?: string;
  readonly maxRuntime?: string;
  readonly memory?: string;
  readonly cpus?: string;
  readonly pids?: string;
  readonly json?: boolean;
}

export interface PackedArchive {
  readonly body: Buffer;
  readonly format: 'zip' | 'tar.gz';
}

/** Packing and manifest reading, injected so the command stays testable. */
export interface PackageTools {
  packDirectory(dir: string, signal?: AbortSignal): Promise<PackedArchive>;
  /** `name` from the archive's bot-config.yaml, if it has one. */
  archiveManifestName(file: string, format: 'zip' | 'tar.gz', signal?: AbortSignal): Promise<string | undefined>;
}

export interface DeployOutcome {
  readonly id: string;
  readonly op: 'created' | 'updated' | 'unchanged';
  readonly bot: Bot;
  readonly code: CodeRef;
  /** The server's warnings about the package (keys of bot-config.yaml it ignores); absent when none. */
  readonly warnings?: readonly string[];
}

export const CONTENT_TYPES = { zip: 'application/zip', 'tar.gz': 'application/gzip' } as const;

/** Builds the PUT body: flags win; on update, config/env/resources not given are kept. */
export function deployRequest(
  id: string,
  code: CodeRef,
  flags: DeployFlags,
  existing: Bot | undefined,
  readConfig: (value: string) => Record<string, unknown> = (v) => parseConfigOption(v),
): Record<string, unknown> {
  const body: Record<string, unknown> = { id, code };
  if (flags.name !== undefined) body.name = flags.name;
  if (flags.runtime !== undefined) body.runtime = flags.runtime;
  if (flags.entrypoint !== undefined) body.entrypoint = flags.entrypoint;
  if (flags.config !== undefined) body.config = readConfig(flags.config);
  else if (existing) body.config = existing.config;
  if (flags.env !== undefined && flags.env.length > 0) body.env = parseEnvPairs(flags.env);
  else if (existing) body.env = existing.env;
  const resources = resourcesFromFlags(flags, existing);
  if (resources) body.resources = resources;
  if (flags.disabled) body.enabled = false;
  const schedule = scheduleFromFlags(flags, existing);
  if (schedule) {
    body.kind = 'scheduled';
    body.schedule = schedule;
  }
  return body;
}

/**
 * `--memory`, `--cpus` and `--pids` change just those limits; on a redeploy the others are
 * kept. Only the form is checked here; the server checks the ranges and names them.
 */
export function resourcesFromFlags(flags: DeployFlags, existing: Bot | undefined): Record<string, unknown> | undefined {
  const given: Record<string, unknown> = {};
  if (flags.memory !== undefined) given.memoryMb = wholeNumber('--memory', flags.memory);
  if (flags.cpus !== undefined) given.cpus = decimalNumber('--cpus', flags.cpus);
  if (flags.pids !== undefined) given.pids = wholeNumber('--pids', flags.pids);
  if (!existing && Object.keys(given).length === 0) return undefined;
  return { ...existing?.resources, ...given };
}

function wholeNumber(option: string, value: string): number {
  if (!/^\d+$/.test(value.trim())) throw usageError(`${option} ${JSON.stringify(value)}: expected a whole number`);
  return Number(value);
}

function decimalNumber(option: string, value: string): number {
  if (!/^(\d+(\.\d*)?|\.\d+)$/.test(value.trim())) throw usageError(`${option} ${JSON.stringify(value)}: expected a number such as 0.5 or 2`);
  return Number(value);
}

/**
 * `--schedule` and its companions make the bot scheduled; on a redeploy without them a
 * scheduled bot keeps its schedule (companions alone change just those fields). The server
 * validates every value and names the bad field (`schedule.cron`, `schedule.timezone`…).
 */
export function scheduleFromFlags(flags: DeployFlags, existing: Bot | undefined): Record<string, unknown> | undefined {
  const given: Record<string, unknown> = {};
  if (flags.schedule !== undefined) given.cron = flags.schedule;
  if (flags.timezone !== undefined) given.timezone = flags.timezone;
  if (flags.overlap !== undefined) given.overlap = flags.overlap;
  if (flags.catchUp !== undefined) given.catchUp = flags.catchUp;
  if (flags.maxRuntime !== undefined) given.maxRuntimeSeconds = parsePositiveInt('--max-runtime', flags.maxRuntime, 30 * 24 * 3600);
  const base = existing?.kind === 'scheduled' ? existing.schedule : undefined;
  if (Object.keys(given).length === 0) return base ? { ...base } : undefined;
  if (given.cron === undefined && !base) {
    throw usageError('--timezone, --overlap, --catch-up and --max-runtime need --schedule "<cron>" (or an already scheduled bot)');
  }
  return { ...base, ...given };
}

export async function deploy(
  ctx: CliContext,
  client: ApiClient,
  tools: PackageTools,
  target: string,
  flags: DeployFlags,
): Promise<DeployOutcome> {
  const source = classifyPackage(path.resolve(ctx.cwd, target));
  const id = flags.id !== undefined ? checkBotId(flags.id, '--id') : defaultBotId(source, await manifestName(tools, source, ctx.signal));
  // Parse options before uploading anything, so a typo costs nothing.
  const readConfig = flags.config === undefined ? undefined : parseConfigOption(resolveConfigPath(ctx, flags.config));
  if (flags.env) parseEnvPairs(flags.env);
  if (flags.maxRuntime !== undefined) parsePositiveInt('--max-runtime', flags.maxRuntime, 30 * 24 * 3600);
  resourcesFromFlags(flags, undefined);

  const archive = source.kind === 'directory' ? await tools.packDirectory(source.path, ctx.signal) : { body: await readFile(source.path), format: source.format };
  const upload = await client.request<{ code: CodeRef; warnings?: unknown }>('POST', botPath(id, '/package'), {
    body: archive.body,
    contentType: CONTENT_TYPES[archive.format],
    query: { format: archive.format },
    signal: ctx.signal,
    timeoutMs: 300_000,
    expect: ['code'],
  });
  // Said before the deploy goes on, so they are read even when the deploy then fails.
  const warnings = packageWarnings(upload.body.warnings);
  for (const warning of warnings) ctx.io.err(`berth: warning: ${warning}\n`);
  const current = await client.request<BotView>('GET', botPath(id), { allow: [404], signal: ctx.signal, expect: ['bot'] });
  const existing = current.status === 404 ? undefined : current.body.bot;
  const body = deployRequest(id, upload.body.code, flags, existing, () => readConfig ?? {});
  const { body: result } = await client.request<{ bot: Bot; op: DeployOutcome['op'] }>('PUT', botPath(id), { json: body, signal: ctx.signal, expect: ['bot', 'op'] });
  const outcome: DeployOutcome = { id, op: result.op, bot: result.bot, code: upload.body.code, ...(warnings.length ? { warnings } : {}) };
  if (flags.json) printJson(ctx, outcome);
  else ctx.io.out(deployMessage(outcome, source));
  return outcome;
}

/** The upload answer's `warnings`, kept to strings (servers older than them send none). */
export function packageWarnings(value: unknown): string[] {
  return Array.isArray(value) ? value.filter((w): w is string => typeof w === 'string') : [];
}

export function deployMessage(outcome: DeployOutcome, source: PackageSource): string {
  const { bot, op } = outcome;
  const what = `${bot.runtime} ${bot.entrypoint}, code ${bot.code.version}`;
  const from = path.basename(source.path);
  switch (op) {
    case 'created':
      return `created ${bot.id} from ${from} (${what})${!bot.enabled ? ', disabled' : bot.schedule ? `; it runs on "${bot.schedule.cron}" (${bot.schedule.timezone})` : '; it starts within one reconcile'}\n` +
        `  berth logs ${bot.id} -f    berth state ${bot.id}    berth inspect ${bot.id}\n`;
    case 'updated':
      return `updated ${bot.id} (${what}, generation ${bot.generation}); a running bot is replaced once\n`;
    case 'unchanged':
      return `unchanged ${bot.id}: the same code and settings are already deployed (${what})\n`;
  }
}

async function manifestName(tools: PackageTools, source: PackageSource, signal: AbortSignal): Promise<string | undefined> {
  if (source.kind === 'archive') {
    return tools.archiveManifestName(source.path, source.format, signal).catch(() => undefined);
  }
  for (const file of ['bot-config.yaml', 'bot-config.yml']) {
    let text: string;
    try {
      text = await readFile(path.join(source.path, file), 'utf8');
    } catch {
      continue;
    }
    try {
      const doc = parseYaml(text) as { name?: unknown } | null;
      return typeof doc?.name === 'string' ? doc.name : undefined;
    } catch (err) {
      throw new CliError(`${path.join(source.path, file)} is not valid YAML: ${(err as Error).message.split('\n')[0]}`);
    }
  }
  return undefined;
}

function resolveConfigPath(ctx: CliContext, value: string): string {
  const text = value.trim();
  return text.startsWith('{') || text.startsWith('[') ? text : path.resolve(ctx.cwd, text);
}
