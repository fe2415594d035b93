/**
 * Document ids. Every record is keyed by `_id`, the only uniqueness MongoDB-protocol servers
 * all enforce. CongoDB (the server CI runs) accepts nothing but ObjectIds as `_id`, so the
 * natural key (bot id, or bot id + run id) is hashed into one: the first 12 bytes of its
 * SHA-256. The natural key is stored beside it and is part of every filter, so even a hash
 * collision (about 2^-48 chance among 2^24 keys) could never make one record overwrite or
 * impersonate another; it would only make the second create report "exists".
 */
import { ObjectId } from 'mongodb';
import { createHash } from 'node:crypto';

export function docId(...key: readonly string[]): ObjectId {
  // NUL cannot occur in ids, so ("a", "bc") and ("ab", "c") never meet.
  return new ObjectId(createHash('sha256').update(key.join('\0')).digest().subarray(0, 12));
}
