/**
 * Picks the object store adapter from the `objects` setting (`--objects`, DESIGN §2), for
 * the services: both adapters are imported up front. The in-container daemon uses
 * open-lazily.ts instead, which loads the S3 adapter only when the URL asks for it.
 */
import type { ObjectStore } from '../../ports/objects.js';
import { FsObjectStore } from './fs/fs-object-store.js';
import { S3ObjectStore } from './s3/s3-object-store.js';
import { objectStoreTarget, type OpenObjectStoreOptions } from './target.js';

export { OBJECT_STORE_URL_FORMS, redactObjectStoreUrl, type OpenObjectStoreOptions } from './target.js';

export function openObjectStore(url: string, opts: OpenObjectStoreOptions = {}): ObjectStore {
  const target = objectStoreTarget(url, opts);
  return target.kind === 'file'
    ? new FsObjectStore(target.root, { matchParentOwner: target.matchParentOwner })
    : new S3ObjectStore(target.config);
}
