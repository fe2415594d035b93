/**
 * openObjectStore for the in-container daemon (bundled): the S3 adapter, with node:http and
 * node:https, is imported only for an S3 URL, so a daemon on the filesystem store does not
 * load them on every container start (they cost ~10 ms of Node start in a 1-CPU container).
 * The URL is validated before anything is imported: a bad one fails the same way as in open.ts.
 */
import type { ObjectStore } from '../../ports/objects.js';
import { FsObjectStore } from './fs/fs-object-store.js';
import { objectStoreTarget, type OpenObjectStoreOptions } from './target.js';

export async function openObjectStoreLazily(url: string, opts: OpenObjectStoreOptions = {}): Promise<ObjectStore> {
  const target = objectStoreTarget(url, opts);
  if (target.kind === 'file') return new FsObjectStore(target.root, { matchParentOwner: target.matchParentOwner });
  const { S3ObjectStore } = await import('./s3/s3-object-store.js');
  return new S3ObjectStore(target.config);
}
