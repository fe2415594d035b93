/** The two write shapes every record uses: create-once by `_id`, and last-writer-wins upsert. */
import type { Collection, Document, Filter } from 'mongodb';
import { abortable, isDuplicateKey } from './errors.js';

/** A create: false when the `_id` exists already (another writer created it first). */
export async function insertUnlessExists<T extends Document>(collection: Collection<T>, doc: T, signal?: AbortSignal): Promise<boolean> {
  try {
    await abortable(collection.insertOne(doc as Parameters<Collection<T>['insertOne']>[0]), signal);
    return true;
  } catch (err) {
    if (isDuplicateKey(err)) return false;
    throw err;
  }
}

/**
 * Last writer wins. Two upserts of a new `_id` at once can make one fail with a duplicate
 * key on a real mongod; by then the document exists, so once more is enough.
 */
export async function upsert<T extends Document>(collection: Collection<T>, filter: Filter<T>, replacement: T, signal?: AbortSignal): Promise<void> {
  for (let attempt = 1; ; attempt++) {
    try {
      await abortable(collection.replaceOne(filter, replacement, { upsert: true }), signal);
      return;
    } catch (err) {
      if (attempt >= 2 || !isDuplicateKey(err)) throw err;
    }
  }
}
