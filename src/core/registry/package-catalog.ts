/**
 * The code packages of one bot in the object store (DESIGN §4): the immutable archive
 * `code/<id>/<sha256>.<fmt>` and its sidecar `code/<id>/<sha256>.manifest.json`, written
 * after the archive. A sidecar therefore proves its archive is complete, and a spec can be
 * checked (entrypoint, manifest defaults) without reading the archive again.
 */
import type { CodeRef } from '../../domain/bot.js';
import { objectKeys, parseCodeKey } from '../../domain/object-keys.js';
import type { ObjectInfo, ObjectStore } from '../../ports/objects.js';

export const SIDECAR_VERSION = 1;
/** A sidecar is small JSON (entry paths); anything bigger was not written by us. */
const MAX_SIDECAR_BYTES = 16 * 1024 * 1024;

/** What an upload learned about a package, kept next to it. */
export interface PackageSidecar {
  readonly version: typeof SIDECAR_VERSION;
  readonly code: CodeRef;
  /** The package's bot-config.yaml, validated by the archive inspector; null when there is none. */
  readonly manifest: unknown;
  /** Paths of the regular files in the package, `/`-separated, relative. */
  readonly files: readonly string[];
  readonly totalUncompressed: number;
  readonly uploadedAt: string;
}

/** One package as found under `code/<id>/`: its archive and sidecar keys, whichever exist. */
export interface StoredPackage {
  readonly sha256: string;
  /** Sidecar first: deleting in this order makes the package unreferenceable before its archive goes. */
  readonly keys: readonly string[];
  /** When the archive was written (re-uploading the same bytes does not rewrite it); the sidecar's time without one. */
  readonly storedAt: Date;
}

export function codeVersionLabel(sha256: string): string {
  return sha256.slice(0, 12);
}

export class PackageCatalog {
  constructor(private readonly objects: ObjectStore) {}

  /**
   * Stores the archive unless an object of the same content address and size exists
   * (immutable), then the sidecar. Returns whether the archive was written.
   */
  async store(
    sidecar: PackageSidecar,
    openArchive: () => Promise<import('node:stream').Readable>,
    signal?: AbortSignal,
  ): Promise<boolean> {
    const { code } = sidecar;
    const existing = await this.objects.stat(code.key, signal);
    let wrote = false;
    if (existing?.size !== code.size) {
      await this.objects.put(code.key, await openArchive(), code.size, signal);
      wrote = true;
    }
    const botId = botIdOfCodeKey(code.key);
    // An intact sidecar of the same content stays: re-uploading is a no-op.
    if (!wrote && (await this.find(botId, code.sha256, signal))) return false;
    const body = Buffer.from(JSON.stringify(sidecar));
    await this.objects.put(objectKeys.codeManifest(botId, code.sha256), body, body.length, signal);
    return wrote;
  }

  /** The sidecar of an uploaded package whose archive is present; null otherwise. */
  async find(botId: string, sha256: string, signal?: AbortSignal): Promise<PackageSidecar | null> {
    const key = objectKeys.codeManifest(botId, sha256);
    const info = await this.objects.stat(key, signal);
    if (!info || info.size > MAX_SIDECAR_BYTES) return null;
    const raw = await this.objects.get(key, signal);
    if (!raw) return null;
    const sidecar = parseSidecar(raw);
    if (!sidecar || sidecar.code.sha256 !== sha256) return null;
    // The archive itself must still be there: a record must never point at a missing object.
    const archive = await this.objects.stat(sidecar.code.key, signal);
    if (archive?.size !== sidecar.code.size) return null;
    return sidecar;
  }

  /**
   * Every package of the bot, complete or not (an archive without sidecar is what a crash
   * between the two writes leaves). Keys Berth does not write are not listed.
   */
  async list(botId: string, signal?: AbortSignal): Promise<StoredPackage[]> {
    const found = new Map<string, { archive?: ObjectInfo; sidecar?: ObjectInfo }>();
    for await (const info of this.objects.list(objectKeys.codePrefix(botId), signal)) {
      const parts = parseCodeKey(info.key);
      if (parts?.botId !== botId) continue;
      const entry = found.get(parts.sha256) ?? {};
      entry[parts.part] = info;
      found.set(parts.sha256, entry);
    }
    return [...found].map(([sha256, { archive, sidecar }]) => ({
      sha256,
      keys: [sidecar?.key, archive?.key].filter((k): k is string => k !== undefined),
      storedAt: (archive ?? sidecar)?.modifiedAt ?? new Date(0),
    }));
  }

  /** Deletes the package's objects, sidecar first. Returns how many objects were deleted. */
  async delete(pkg: StoredPackage, signal?: AbortSignal): Promise<number> {
    for (const key of pkg.keys) await this.objects.delete(key, signal);
    return pkg.keys.length;
  }
}

function botIdOfCodeKey(key: string): string {
  const [, botId] = key.split('/');
  if (!botId) throw new Error(`not a code key: ${key}`);
  return botId;
}

function parseSidecar(raw: Buffer): PackageSidecar | null {
  try {
    const v = JSON.parse(raw.toString('utf8')) as Partial<PackageSidecar>;
    if (v.version !== SIDECAR_VERSION || !v.code || !Array.isArray(v.files)) return null;
    if (typeof v.code.key !== 'string' || typeof v.code.sha256 !== 'string' || typeof v.code.size !== 'number') return null;
    return v as PackageSidecar;
  } catch {
    return null;
  }
}
