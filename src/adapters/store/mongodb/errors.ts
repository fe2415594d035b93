/**
 * Driver failures become the port's typed errors: anything that stops the store from
 * answering is `UnavailableError('store')` (the caller retries and reports health); the
 * caller's own abort stays an abort.
 */
import { MongoServerError } from 'mongodb';
import { BerthError, UnavailableError, errorMessage } from '../../../domain/errors.js';
import { redact } from './url.js';

/** E11000: the `_id` (the natural key's hash) exists already. */
export function isDuplicateKey(err: unknown): boolean {
  return err instanceof MongoServerError && err.code === 11000;
}

export function storeError(what: string, target: string, err: unknown, signal?: AbortSignal): unknown {
  if (err instanceof BerthError) return err;
  if (signal?.aborted) return signal.reason ?? err;
  if ((err as { name?: unknown } | null)?.name === 'AbortError') return err;
  return new UnavailableError('store', `${what} at ${target}: ${redact(errorMessage(err))}`, { cause: err });
}

/**
 * The driver takes an AbortSignal only on reads; writes check it first and stop waiting
 * when it fires (the write may still land, exactly as with an aborted read-modify-write).
 */
export function abortable<T>(promise: Promise<T>, signal: AbortSignal | undefined): Promise<T> {
  if (!signal) return promise;
  signal.throwIfAborted();
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(signal.reason);
    signal.addEventListener('abort', onAbort, { once: true });
    promise.then(
      (value) => {
        signal.removeEventListener('abort', onAbort);
        resolve(value);
      },
      (err: unknown) => {
        signal.removeEventListener('abort', onAbort);
        reject(err);
      },
    );
  });
}
