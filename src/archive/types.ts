/**
 * Shapes shared by package inspection, extraction and packing. No I/O here.
 */
import type { BotKind } from '../domain/bot.js';

export type ArchiveFormat = 'zip' | 'tar.gz';
export type PackageEntryType = 'file' | 'dir' | 'symlink';

export interface PackageEntry {
  /** Normalised relative path with "/" separators, no leading "./", no trailing "/". */
  readonly path: string;
  readonly type: PackageEntryType;
  /** Bytes actually decompressed for a file; 0 for directories; target length for symlinks. */
  readonly size: number;
  /** Symlinks only: the link target as stored (relative, checked to stay inside). */
  readonly target?: string;
  /** Files only: whether any execute bit was set (extracted as 0755, otherwise 0644). */
  readonly executable?: boolean;
}

/** Defaults fill fields left out. */
export interface PackageLimits {
  /** Cap on the bytes produced by decompression, counted as they are produced. */
  readonly maxBytes: number;
  /** Cap on the number of entries (files, directories and symlinks together). */
  readonly maxFiles: number;
}

/** How a package is read, not what it may hold. */
export interface ReadOptions {
  /**
   * A .tar.gz of at most this many bytes whose content fits in as many is read whole and
   * inflated at once, synchronously, and its files are handed over whole (default 0: always
   * streamed in 64 KiB steps). For the daemon, which extracts on every container start in
   * a fresh Node, where the first use of streams and of a streaming gunzip costs ~20 ms.
   */
  readonly inMemoryUpTo?: number;
}

export const DEFAULT_PACKAGE_LIMITS: PackageLimits = {
  maxBytes: 256 * 1024 * 1024,
  maxFiles: 20_000,
};

export function resolveLimits(limits?: Partial<PackageLimits>): PackageLimits {
  return {
    maxBytes: limits?.maxBytes ?? DEFAULT_PACKAGE_LIMITS.maxBytes,
    maxFiles: limits?.maxFiles ?? DEFAULT_PACKAGE_LIMITS.maxFiles,
  };
}

/** What a `bot-config.yaml` (the seed platform's format) says; every field optional. */
export interface Manifest {
  readonly name?: string;
  readonly kind?: BotKind;
  /** As written in the file (not canonicalised: the caller validates it against RUNTIME_ALIASES). */
  readonly runtime?: string;
  readonly entrypoint?: string;
  /** Cron expression for scheduled bots. */
  readonly schedule?: string;
  readonly flavor: 'the0';
}

export interface PackageInspection {
  readonly format: ArchiveFormat;
  /** Hex sha256 of the archive file's bytes. */
  readonly sha256: string;
  /** Archive file size in bytes. */
  readonly size: number;
  readonly entries: readonly PackageEntry[];
  /** Sum of the decompressed bytes of every file. */
  readonly totalUncompressed: number;
  readonly manifest?: Manifest;
  /** What the package says that Berth ignores (unknown bot-config.yaml keys), one sentence each; absent when none. */
  readonly warnings?: readonly string[];
}

/** The manifest file name, looked up at the package root only. */
export const MANIFEST_FILE = 'bot-config.yaml';
