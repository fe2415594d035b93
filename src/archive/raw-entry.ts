/** What a format reader hands to the shared walker, before any safety rule was applied. */
export type RawEntryType = 'file' | 'dir' | 'symlink' | 'hardlink' | 'device' | 'unsupported';

export interface RawEntry {
  /** The name exactly as stored (decoded to a string). */
  readonly name: string;
  readonly type: RawEntryType;
  /** For `device` and `unsupported`: what it is, in words ("character device", "type 'S'"). */
  readonly label?: string;
  readonly executable: boolean;
  /** Size claimed by the archive's own headers: used only to refuse early, never to accept. */
  readonly declaredSize: number;
  readonly linkTarget?: string;
}

export interface RawItem {
  readonly entry: RawEntry;
  /** The entry's bytes as they are decompressed. The walker drains whatever the visitor leaves. */
  readonly body: AsyncIterator<Buffer>;
}

export const SYMLINK_TARGET_MAX_BYTES = 4096;
