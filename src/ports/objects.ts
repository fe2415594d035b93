/**
 * Object store port (DESIGN §2, §4). Adapters: a directory on disk (embedded default),
 * S3/MinIO (production). Keys are built only by src/domain/object-keys.ts.
 */
import type { Readable } from 'node:stream';

export interface ObjectInfo {
  readonly key: string;
  readonly size: number;
  readonly modifiedAt: Date;
}

/** How a bot container's daemon reaches this store: environment and bind mounts. */
export interface DaemonObjectAccess {
  /** BERTH_DAEMON_OBJECTS and, for remote stores, BERTH_SECRET_* credentials. */
  readonly env: Readonly<Record<string, string>>;
  /** Host directories to mount (filesystem store in a container: only this bot's prefixes, code read-only). */
  readonly mounts: readonly { source: string; target: string; readOnly: boolean }[];
}

/** An object read by `ObjectStore.read`: whole in memory, or a stream to consume or destroy. */
export type ObjectBody = { readonly bytes: Buffer } | { readonly stream: Readable };

export interface ObjectStore {
  /**
   * What a daemon needs to reach this bot's objects. `container`: from inside a bot
   * container (paths under /var/berth/objects); `host`: from a local process.
   * Creates the per-bot directories a mount needs.
   */
  daemonAccess(botId: string, where: 'container' | 'host'): Promise<DaemonObjectAccess>;
  /** Creates the bucket / root directory. Idempotent. */
  init(signal?: AbortSignal): Promise<void>;
  /**
   * Stores the object atomically: readers see the old or the new object, never a part.
   * For a stream, `size` must be given (S3 needs it to avoid multipart uploads).
   */
  put(key: string, body: Buffer | Readable, size?: number, signal?: AbortSignal): Promise<void>;
  /** Null when the key does not exist. The caller must consume or destroy the stream. */
  getStream(key: string, signal?: AbortSignal): Promise<Readable | null>;
  /** Null when the key does not exist. For small objects only. */
  get(key: string, signal?: AbortSignal): Promise<Buffer | null>;
  /**
   * The object whole in memory when it has at most `inMemoryUpTo` bytes, else as a stream;
   * null when the key does not exist. One open or request either way. For a reader that
   * mostly sees small objects but must never hold a large one (the daemon's downloads on
   * every container start, where a stream's first use costs a fresh Node ~10 ms).
   */
  read(key: string, inMemoryUpTo: number, signal?: AbortSignal): Promise<ObjectBody | null>;
  stat(key: string, signal?: AbortSignal): Promise<ObjectInfo | null>;
  /** Every object under the prefix, in lexicographic key order. */
  list(prefix: string, signal?: AbortSignal): AsyncIterable<ObjectInfo>;
  /** Missing keys are not an error. */
  delete(key: string, signal?: AbortSignal): Promise<void>;
  deletePrefix(prefix: string, signal?: AbortSignal): Promise<number>;
  /** Throws UnavailableError when the store cannot be reached. */
  ping(signal?: AbortSignal): Promise<void>;
  close(): Promise<void>;
}
