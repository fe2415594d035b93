/**
 * Picks the object store adapter from the `objects` setting (`--objects`, DESIGN §2).
 * Bundled into the in-container daemon: keep top-level imports to Node built-ins and the
 * filesystem adapter; a remote adapter must not drag its client in at module load.
 */
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { ValidationError, errorMessage } from '../../domain/errors.js';
import type { ObjectStore } from '../../ports/objects.js';
import { FsObjectStore } from './fs/fs-object-store.js';

export interface OpenObjectStoreOptions {
  /** Filesystem store only: when running as root, new files take the owner of their directory. */
  readonly matchParentOwner?: boolean;
}

export const OBJECT_STORE_URL_FORMS = ['file:<path>', 'file://<absolute path>'] as const;

export function openObjectStore(url: string, opts: OpenObjectStoreOptions = {}): ObjectStore {
  const scheme = schemeOf(url);
  switch (scheme) {
    case 'file':
      return new FsObjectStore(fileUrlPath(url), { matchParentOwner: opts.matchParentOwner ?? false });
    // Dispatch point: `case 's3':` goes here (load its client lazily, see the note above).
    default:
      throw invalid(url, scheme === undefined ? 'has no scheme' : `has an unknown scheme "${scheme}:"`);
  }
}

function schemeOf(url: string): string | undefined {
  const match = /^([a-z][a-z0-9+.-]*):/i.exec(url);
  return match?.[1]?.toLowerCase();
}

/** `file:relative/or/absolute` (relative to the working directory) or `file:///absolute`. */
function fileUrlPath(url: string): string {
  if (/^file:\/\//i.test(url)) {
    try {
      return fileURLToPath(url);
    } catch (err) {
      throw invalid(url, errorMessage(err));
    }
  }
  const raw = url.slice('file:'.length);
  if (raw === '') throw invalid(url, 'has no path');
  if (raw.includes('\0')) throw invalid(url, 'contains NUL');
  return path.resolve(raw);
}

function invalid(url: string, problem: string): ValidationError {
  return ValidationError.single(
    'objects',
    `${JSON.stringify(url)} ${problem}; accepted forms: ${OBJECT_STORE_URL_FORMS.join(', ')}`,
  );
}
