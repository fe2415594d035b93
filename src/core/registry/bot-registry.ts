/**
 * The application service for desired state (DESIGN §3): upload a package, apply a spec,
 * enable/disable, remove. It validates everything before it writes anything, writes the
 * record with an optimistic generation check, and tells the services through the bus.
 *
 * Order of writes, so that a crash between two steps never leaves a record pointing at a
 * missing code object: archive → sidecar (upload); sidecar and archive checked → record
 * (apply); record deleted → objects deleted (remove). A deploy that changes the code prunes
 * old packages afterwards, never the one a record references (see package-retention.ts).
 */
import { createReadStream } from 'node:fs';
import { explicitFieldIssues, isValidBotId, parseBotSpec, type Bot, type BotSpec, type CodeRef } from '../../domain/bot.js';
import { ConflictError, NotFoundError, ValidationError, errorMessage, type FieldIssue } from '../../domain/errors.js';
import { subjects, type BotChangedEvent } from '../../domain/events.js';
import { objectKeys } from '../../domain/object-keys.js';
import { sameDesiredState } from '../../domain/spec-hash.js';
import type { EventBus } from '../../ports/events.js';
import type { ObjectStore } from '../../ports/objects.js';
import type { DesiredStateStore } from '../../ports/store.js';
import { BotRemoval, REMOVE_DEFAULTS, type RemoveResult } from './bot-removal.js';
import { entrypointIssues } from './entrypoint-check.js';
import { KeyedLock } from './keyed-lock.js';
import { PackageCatalog, SIDECAR_VERSION, codeVersionLabel, type PackageSidecar } from './package-catalog.js';
import { filePaths, type InspectPackage } from './package-inspection.js';
import { DEFAULT_KEEP_PREVIOUS_PACKAGES, packagesToPrune } from './package-retention.js';
import { attributeIssues, defaultsFromManifest, isRecord, mergePackageDefaults, underivedFieldIssues } from './spec-defaults.js';

export interface BotRegistryOptions<L> {
  readonly store: DesiredStateStore;
  readonly objects: ObjectStore;
  readonly events: EventBus;
  readonly clock?: () => Date;
  /** Passed to `inspect` (caps on size, entries, expansion). */
  readonly limits: L;
  readonly inspect: InspectPackage<L>;
  /** Told about things that went wrong after the decision was stored (an event not published). */
  readonly onWarning?: (message: string, err?: unknown) => void;
  /** Conditional-write attempts before giving up with ConflictError. */
  readonly maxWriteAttempts?: number;
  /**
   * How long `remove` waits for the services to take the bot's container down before it
   * deletes the bot's objects (the container's final sync would write state and logs
   * again). After that, the objects are deleted anyway and once more when it is gone.
   */
  readonly removeWaitMs?: number;
  /** How often `remove` looks at the observed status while it waits. */
  readonly removePollMs?: number;
  /** How long a deferred purge keeps waiting for the container to go. */
  readonly latePurgeMs?: number;
  /**
   * After a deploy that changes the code, how many of the bot's other packages stay (the
   * newest by upload time), besides the deployed one and the one it replaced. Default 2.
   */
  readonly keepPreviousPackages?: number;
}

export interface UploadResult {
  readonly code: CodeRef;
  /** The package's validated bot-config.yaml, when it has one. */
  readonly manifest?: unknown;
  /** Number of entries (files and directories) in the package. */
  readonly entries: number;
  /** False when the same content was already stored (immutable, content-addressed). */
  readonly stored: boolean;
  /** What in the package is ignored (unknown bot-config.yaml keys); absent when nothing is. */
  readonly warnings?: readonly string[];
}

export type ApplyOp = 'created' | 'updated' | 'unchanged';

export interface ApplyResult {
  readonly bot: Bot;
  readonly changed: boolean;
  readonly op: ApplyOp;
}

const DEFAULT_WRITE_ATTEMPTS = 5;

export class BotRegistry<L = unknown> {
  private readonly store: DesiredStateStore;
  private readonly objects: ObjectStore;
  private readonly events: EventBus;
  private readonly clock: () => Date;
  private readonly limits: L;
  private readonly inspect: InspectPackage<L>;
  private readonly onWarning: (message: string, err?: unknown) => void;
  private readonly maxWriteAttempts: number;
  private readonly catalog: PackageCatalog;
  private readonly lock = new KeyedLock();
  private readonly removal: BotRemoval;
  private readonly keepPreviousPackages: number;
  private readonly background = new AbortController();

  constructor(options: BotRegistryOptions<L>) {
    this.store = options.store;
    this.objects = options.objects;
    this.events = options.events;
    this.clock = options.clock ?? (() => new Date());
    this.limits = options.limits;
    this.inspect = options.inspect;
    this.onWarning = options.onWarning ?? (() => undefined);
    this.maxWriteAttempts = options.maxWriteAttempts ?? DEFAULT_WRITE_ATTEMPTS;
    this.catalog = new PackageCatalog(options.objects);
    this.keepPreviousPackages = checkedKeepCount(options.keepPreviousPackages ?? DEFAULT_KEEP_PREVIOUS_PACKAGES);
    this.removal = new BotRemoval({
      store: options.store,
      objects: options.objects,
      lock: this.lock,
      publish: (event) => this.publish(event),
      onWarning: this.onWarning,
      waitMs: options.removeWaitMs ?? REMOVE_DEFAULTS.waitMs,
      pollMs: options.removePollMs ?? REMOVE_DEFAULTS.pollMs,
      latePurgeMs: options.latePurgeMs ?? REMOVE_DEFAULTS.latePurgeMs,
      background: this.background.signal,
    });
  }

  /** Stops deferred purges. Idempotent. */
  close(): void {
    this.background.abort();
  }

  /** Inspects the archive in `file` (rejecting hostile ones) and stores it for `botId`. */
  async uploadPackage(botId: string, file: string, signal?: AbortSignal): Promise<UploadResult> {
    assertBotId(botId);
    const inspection = await this.inspect(file, this.limits, signal);
    const code: CodeRef = {
      key: objectKeys.code(botId, inspection.sha256, inspection.format),
      sha256: inspection.sha256,
      size: inspection.size,
      format: inspection.format,
      version: codeVersionLabel(inspection.sha256),
    };
    const sidecar: PackageSidecar = {
      version: SIDECAR_VERSION,
      code,
      manifest: inspection.manifest ?? null,
      files: filePaths(inspection.entries),
      totalUncompressed: inspection.totalUncompressed,
      uploadedAt: this.clock().toISOString(),
    };
    // Under the bot's lock so a concurrent rm cannot delete the prefix between the two writes.
    const stored = await this.lock.run(botId, () => this.catalog.store(sidecar, async () => createReadStream(file), signal));
    return {
      code,
      ...(inspection.manifest !== undefined && inspection.manifest !== null ? { manifest: inspection.manifest } : {}),
      entries: inspection.entries.length,
      stored,
      ...(inspection.warnings?.length ? { warnings: inspection.warnings } : {}),
    };
  }

  /**
   * Validates a deploy request against its uploaded package and stores it. An identical
   * request changes nothing and publishes nothing. `enabled` left out keeps the current
   * value (true for a new bot).
   */
  async applySpec(input: unknown, signal?: AbortSignal): Promise<ApplyResult> {
    if (!isRecord(input)) throw ValidationError.single('', 'the bot spec must be a JSON object');
    const id = input.id;
    if (typeof id !== 'string' || !isValidBotId(id)) {
      parseBotSpec(input); // names every bad field, id included
      throw ValidationError.single('id', 'must be a lower-case slug');
    }
    const early = explicitFieldIssues(input);
    if (early.length > 0) throw new ValidationError(early);
    return this.lock.run(id, async () => {
      const sidecar = await this.resolvePackage(id, input.code, signal);
      const spec = await this.validate(input, sidecar, signal);
      // The record the successful write replaced: decide runs once per attempt, the last one counts.
      const seen: { replaced: Bot | null } = { replaced: null };
      const result = await this.writeWithRetry(id, signal, (current) => {
        seen.replaced = current;
        const enabled = input.enabled === undefined ? (current?.enabled ?? true) : spec.enabled;
        return { ...spec, enabled };
      });
      const replacedSha = seen.replaced?.code.sha256;
      if (result.changed && replacedSha !== result.bot.code.sha256) await this.prunePackages(id, result.bot.code.sha256, replacedSha, signal);
      return result;
    });
  }

  async setEnabled(id: string, enabled: boolean, signal?: AbortSignal): Promise<ApplyResult> {
    assertBotId(id);
    return this.lock.run(id, () =>
      this.writeWithRetry(id, signal, (current) => {
        if (!current) throw new NotFoundError(`bot ${JSON.stringify(id)} does not exist`);
        return { ...current, enabled };
      }),
    );
  }

  /**
   * Deletes the record; the services stop and remove the container on the event (or their
   * next pass) and then clear its observed status. Unless `keepData`, the bot's objects
   * are deleted once that has happened, so the container's final sync cannot write state
   * or logs back after them; the wait is bounded (see `removeWaitMs`). An id without a
   * record but with objects left under it is cleaned up too (see bot-removal.ts).
   */
  async remove(id: string, options: { keepData?: boolean } = {}, signal?: AbortSignal): Promise<RemoveResult> {
    assertBotId(id);
    return this.lock.run(id, () => this.removal.remove(id, options.keepData ?? false, signal));
  }

  async get(id: string, signal?: AbortSignal): Promise<Bot> {
    assertBotId(id);
    const bot = await this.store.getBot(id, signal);
    if (!bot) throw new NotFoundError(`bot ${JSON.stringify(id)} does not exist`);
    return bot;
  }

  async list(signal?: AbortSignal): Promise<Bot[]> {
    return this.store.listBots({}, signal);
  }

  /**
   * Deletes the bot's packages beyond what retention keeps. Called under the bot's lock, so
   * no deploy or upload of this bot in this process runs meanwhile. A failure is only
   * logged: the deploy is stored, and the next one prunes again.
   */
  private async prunePackages(id: string, deployed: string, replaced: string | undefined, signal?: AbortSignal): Promise<void> {
    try {
      // Read back too: another process may have deployed (or removed the bot) since our write.
      const current = await this.store.getBot(id, signal);
      if (!current) return;
      const packages = await this.catalog.list(id, signal);
      const doomed = packagesToPrune(packages, {
        referenced: new Set([deployed, current.code.sha256]),
        ...(replaced !== undefined ? { replaced } : {}),
        keepPrevious: this.keepPreviousPackages,
      });
      for (const pkg of doomed) await this.catalog.delete(pkg, signal);
    } catch (err) {
      this.onWarning(`old packages of ${id} not pruned: ${errorMessage(err)}`, err);
    }
  }

  private async resolvePackage(id: string, code: unknown, signal?: AbortSignal): Promise<PackageSidecar> {
    const sha256 = typeof code === 'string' ? code : isRecord(code) ? code.sha256 : undefined;
    if (code === undefined) {
      throw ValidationError.single('code', `is required: upload the package first (POST /v1/bots/${id}/package) and pass the code it returns`);
    }
    if (typeof sha256 !== 'string' || !/^[0-9a-f]{64}$/.test(sha256)) {
      throw ValidationError.single(typeof code === 'string' || !isRecord(code) ? 'code' : 'code.sha256', 'must be the 64 lower-case hex sha256 of an uploaded package');
    }
    const sidecar = await this.catalog.find(id, sha256, signal);
    if (!sidecar) {
      throw ValidationError.single('code', `no package with sha256 ${sha256.slice(0, 12)}… was uploaded for bot ${JSON.stringify(id)}`);
    }
    if (isRecord(code)) {
      const issues: FieldIssue[] = [];
      for (const field of ['key', 'size', 'format'] as const) {
        if (code[field] !== undefined && code[field] !== sidecar.code[field]) {
          issues.push({ field: `code.${field}`, message: `does not match the uploaded package (${JSON.stringify(sidecar.code[field])})` });
        }
      }
      if (issues.length) throw new ValidationError(issues);
    }
    return sidecar;
  }

  private async validate(input: Record<string, unknown>, sidecar: PackageSidecar, signal?: AbortSignal): Promise<BotSpec> {
    signal?.throwIfAborted();
    const label = isRecord(input.code) && typeof input.code.version === 'string' ? input.code.version : sidecar.code.version;
    const { input: merged, fromManifest } = mergePackageDefaults(
      { ...input, code: { ...sidecar.code, version: label } },
      defaultsFromManifest(sidecar.manifest),
      sidecar.files,
    );
    let spec: BotSpec;
    try {
      spec = parseBotSpec(merged);
    } catch (err) {
      if (!(err instanceof ValidationError)) throw err;
      // A runtime left to follow from a missing entrypoint is explained by the entrypoint's issue.
      const underived = underivedFieldIssues(merged, sidecar.files);
      const missing = underived.length ? ['entrypoint', 'runtime'].filter((f) => merged[f] === undefined) : [];
      const rest = err.issues.filter((issue) => !missing.includes(issue.field));
      throw new ValidationError([...underived, ...attributeIssues(rest, fromManifest)], { cause: err });
    }
    const issues = entrypointIssues(spec.entrypoint, spec.runtime, sidecar.files);
    if (issues.length) throw new ValidationError(attributeIssues(issues, fromManifest));
    return spec;
  }

  /**
   * Read, decide, conditional write; on a lost race read again. `decide` sees the current
   * record (null when none) and returns the wanted spec.
   */
  private async writeWithRetry(id: string, signal: AbortSignal | undefined, decide: (current: Bot | null) => BotSpec): Promise<ApplyResult> {
    for (let attempt = 1; attempt <= this.maxWriteAttempts; attempt++) {
      const current = await this.store.getBot(id, signal);
      const wanted = decide(current);
      if (current && sameDesiredState(current, wanted)) return { bot: current, changed: false, op: 'unchanged' };
      const now = this.clock().toISOString();
      const bot: Bot = {
        ...wanted,
        createdAt: current?.createdAt ?? now,
        updatedAt: now,
        generation: (current?.generation ?? 0) + 1,
      };
      if (await this.store.writeBot(bot, current?.generation ?? 0, signal)) {
        const op = current ? 'updated' : 'created';
        await this.publish({ id, generation: bot.generation, op });
        return { bot, changed: true, op };
      }
    }
    throw new ConflictError(`bot ${JSON.stringify(id)} kept changing while it was being written; try again`);
  }

  /** The record is the decision; a lost event only delays it to the services' next pass. */
  private async publish(event: BotChangedEvent): Promise<void> {
    try {
      await this.events.publish(subjects.botChanged(event.id), event);
    } catch (err) {
      this.onWarning(`event ${event.op} of ${event.id} not published: ${errorMessage(err)}`, err);
    }
  }
}

function checkedKeepCount(n: number): number {
  if (!Number.isSafeInteger(n) || n < 0) throw ValidationError.single('keepPreviousPackages', 'must be a whole number, 0 or more');
  return n;
}

function assertBotId(id: string): void {
  if (!isValidBotId(id)) {
    throw ValidationError.single(
      'id',
      `${JSON.stringify(id)} is not a valid bot id: a lower-case slug (a-z, 0-9, "-"), starting and ending with a letter or digit, at most 63 characters`,
    );
  }
}
