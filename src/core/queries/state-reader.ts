/**
 * Shows a bot's persisted state (`state/<id>/state.tar.gz`, DESIGN §4). The archive is
 * written from a directory bot code controls, so it is read in memory only, never
 * extracted to disk, and every size is capped: compressed, expanded, listed files, and
 * the JSON documents parsed. Next to it, whether the daemon could save the newest state
 * (`state/<id>/problem.json`): without that, a refused save looks like a bot that stopped
 * changing its state.
 */
import { gunzip } from 'node:zlib';
import { promisify } from 'node:util';
import { Readable } from 'node:stream';
import tar from 'tar-stream';
import { UnavailableError, errorMessage } from '../../domain/errors.js';
import { objectKeys } from '../../domain/object-keys.js';
import { STATE_PROBLEM_MAX_BYTES, parseProblemRecord, type StateProblem } from '../../domain/state-problem.js';
import type { ObjectStore } from '../../ports/objects.js';

const gunzipAsync = promisify(gunzip);

export interface StateFile {
  /** Relative to `/state`, `/`-separated. */
  readonly path: string;
  readonly size: number;
  /** `file`, `directory`, `symlink`, … as recorded in the archive. */
  readonly type: string;
}

export interface StateSnapshot {
  readonly botId: string;
  /** False when nothing was ever persisted (the bot's first run has not saved yet). */
  readonly exists: boolean;
  /** When the archive was last replaced. */
  readonly updatedAt?: string;
  /** Compressed size of the archive. */
  readonly size?: number;
  readonly files: readonly StateFile[];
  /** More files than the listing cap; `files` holds the first ones. */
  readonly truncated?: boolean;
  /** `state.json`, parsed, when it is present, small enough and valid JSON. */
  readonly stateJson?: unknown;
  /** The start of `state.json` when it could not be parsed (or was too big to). */
  readonly raw?: string;
  /** The seed platform's SDK keeps one JSON file per key under `.the0-state/`. */
  readonly keys?: Readonly<Record<string, unknown>>;
  /** Why the archive could not be read (corrupt, over a cap); the rest is then empty. */
  readonly error?: string;
  /**
   * The daemon's newest state is not being saved, or is saved without some entries
   * (`partial`): what is shown is then older or less than what the bot holds.
   */
  readonly problem?: StateProblem;
}

export interface StateReaderOptions {
  readonly objects: ObjectStore;
  readonly maxArchiveBytes?: number;
  readonly maxExpandedBytes?: number;
  readonly maxListedFiles?: number;
  readonly maxJsonBytes?: number;
  readonly maxRawChars?: number;
  readonly maxKeys?: number;
}

export const STATE_READ_DEFAULTS = {
  maxArchiveBytes: 64 * 1024 * 1024,
  maxExpandedBytes: 128 * 1024 * 1024,
  maxListedFiles: 10_000,
  maxJsonBytes: 4 * 1024 * 1024,
  maxRawChars: 64 * 1024,
  maxKeys: 200,
} as const;

const STATE_JSON = 'state.json';
const THE0_KEY = /^\.the0-state\/([^/]+)\.json$/;

export class StateReader {
  private readonly objects: ObjectStore;
  private readonly caps: Required<Omit<StateReaderOptions, 'objects'>>;

  constructor(options: StateReaderOptions) {
    this.objects = options.objects;
    this.caps = {
      maxArchiveBytes: options.maxArchiveBytes ?? STATE_READ_DEFAULTS.maxArchiveBytes,
      maxExpandedBytes: options.maxExpandedBytes ?? STATE_READ_DEFAULTS.maxExpandedBytes,
      maxListedFiles: options.maxListedFiles ?? STATE_READ_DEFAULTS.maxListedFiles,
      maxJsonBytes: options.maxJsonBytes ?? STATE_READ_DEFAULTS.maxJsonBytes,
      maxRawChars: options.maxRawChars ?? STATE_READ_DEFAULTS.maxRawChars,
      maxKeys: options.maxKeys ?? STATE_READ_DEFAULTS.maxKeys,
    };
  }

  async read(botId: string, signal?: AbortSignal): Promise<StateSnapshot> {
    const [snapshot, problem] = await Promise.all([this.readArchive(botId, signal), this.readProblem(botId, signal)]);
    return problem ? { ...snapshot, problem } : snapshot;
  }

  /** The problem the daemon recorded, if saving is not working now; one small read. */
  async readProblem(botId: string, signal?: AbortSignal): Promise<StateProblem | undefined> {
    const body = await this.objects.read(objectKeys.stateProblem(botId), STATE_PROBLEM_MAX_BYTES, signal);
    if (body === null) return undefined;
    // Far larger than any record the daemon writes: not one.
    if ('stream' in body) {
      body.stream.destroy();
      return undefined;
    }
    return parseProblemRecord(body.bytes)?.problem ?? undefined;
  }

  private async readArchive(botId: string, signal?: AbortSignal): Promise<StateSnapshot> {
    const key = objectKeys.state(botId);
    const info = await this.objects.stat(key, signal);
    if (!info) return { botId, exists: false, files: [] };
    const base = { botId, exists: true, updatedAt: info.modifiedAt.toISOString(), size: info.size };
    if (info.size > this.caps.maxArchiveBytes) {
      return { ...base, files: [], error: `state archive is ${info.size} bytes, over the ${this.caps.maxArchiveBytes}-byte limit for reading` };
    }
    const compressed = await this.objects.get(key, signal);
    if (!compressed) return { botId, exists: false, files: [] };
    let expanded: Buffer;
    try {
      expanded = await gunzipAsync(compressed, { maxOutputLength: this.caps.maxExpandedBytes });
    } catch (err) {
      return { ...base, files: [], error: `state archive cannot be expanded: ${describeGunzipError(err, this.caps.maxExpandedBytes)}` };
    }
    try {
      return { ...base, ...(await this.readTar(expanded)) };
    } catch (err) {
      if (err instanceof UnavailableError) throw err;
      return { ...base, files: [], error: `state archive is not a valid tar: ${errorMessage(err)}` };
    }
  }

  private async readTar(archive: Buffer): Promise<Omit<StateSnapshot, 'botId' | 'exists'>> {
    const files: StateFile[] = [];
    const keys: Record<string, unknown> = {};
    let truncated = false;
    let stateJson: { value?: unknown; raw?: string } = {};
    const extract = tar.extract();
    Readable.from([archive]).pipe(extract);
    for await (const entry of extract) {
      const path = normalise(entry.header.name);
      const type = entry.header.type ?? 'file';
      const size = entry.header.size ?? 0;
      const wantBody = type === 'file' && size <= this.caps.maxJsonBytes && (path === STATE_JSON || THE0_KEY.test(path));
      const body = wantBody ? await collect(entry as unknown as AsyncIterable<Buffer>) : (entry.resume(), undefined);
      if (!path) continue;
      if (files.length < this.caps.maxListedFiles) files.push({ path, size, type });
      else truncated = true;
      if (path === STATE_JSON && type === 'file') stateJson = this.parseStateJson(body, size);
      const keyName = THE0_KEY.exec(path)?.[1];
      if (keyName !== undefined && body && Object.keys(keys).length < this.caps.maxKeys) {
        const parsed = tryParse(body);
        if (parsed.ok) keys[keyName] = parsed.value;
      }
    }
    return {
      files,
      ...(truncated ? { truncated } : {}),
      ...('value' in stateJson ? { stateJson: stateJson.value } : {}),
      ...(stateJson.raw !== undefined ? { raw: stateJson.raw } : {}),
      ...(Object.keys(keys).length ? { keys } : {}),
    };
  }

  private parseStateJson(body: Buffer | undefined, size: number): { value?: unknown; raw?: string } {
    if (!body) return { raw: `(state.json is ${size} bytes, over the ${this.caps.maxJsonBytes}-byte limit for showing)` };
    const parsed = tryParse(body);
    if (parsed.ok) return { value: parsed.value };
    return { raw: body.toString('utf8').slice(0, this.caps.maxRawChars) };
  }
}

function normalise(name: string): string {
  return name.replace(/^(\.\/|\/)+/, '').replace(/\/+$/, '').replace(/^\.$/, '');
}

async function collect(stream: AsyncIterable<Buffer>): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const part of stream) parts.push(part);
  return Buffer.concat(parts);
}

function tryParse(body: Buffer): { ok: true; value: unknown } | { ok: false } {
  try {
    return { ok: true, value: JSON.parse(body.toString('utf8')) as unknown };
  } catch {
    return { ok: false };
  }
}

function describeGunzipError(err: unknown, cap: number): string {
  const code = (err as { code?: string }).code;
  if (code === 'ERR_BUFFER_TOO_LARGE' || err instanceof RangeError) return `expands to more than ${cap} bytes`;
  return errorMessage(err);
}
