/** Opening the object store from inside the daemon, with failures mapped to INIT_EXIT codes. */
import { openObjectStore } from '../adapters/objects/open.js';
import { INIT_EXIT } from '../domain/daemon-contract.js';
import { DAEMON_ENV } from '../domain/daemon-contract.js';
import { ValidationError, errorMessage } from '../domain/errors.js';
import type { ObjectStore } from '../ports/objects.js';
import { DaemonFailure } from './failure.js';

export function openDaemonStore(url: string): ObjectStore {
  try {
    // Files the daemon creates (running as root in the image) take the owner of the
    // mounted directory, so the host user can still manage them.
    return openObjectStore(url, { matchParentOwner: true });
  } catch (err) {
    if (err instanceof ValidationError) throw new DaemonFailure(INIT_EXIT.badSettings, `${DAEMON_ENV.objects}: ${err.message}`, { cause: err });
    throw new DaemonFailure(INIT_EXIT.objectStoreUnavailable, `object store: ${errorMessage(err)}`, { cause: err });
  }
}
