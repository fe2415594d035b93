/**
 * Opening the object store from inside the daemon, with failures mapped to INIT_EXIT codes.
 *
 * S3 credentials arrive only as BERTH_SECRET_* variables (BERTH_DAEMON_OBJECTS carries the
 * endpoint alone). Once the store holds them they are deleted from this process's
 * environment, so nothing the daemon spawns later can inherit them by accident; the bot's
 * environment is built without any BERTH_SECRET_* in any case (bot-env.ts).
 */
import { openObjectStoreLazily } from '../adapters/objects/open-lazily.js';
import { S3_DAEMON_SECRET_ENV } from '../adapters/objects/s3/s3-url.js';
import { DAEMON_ENV, DAEMON_PRIVATE_ENV_PREFIXES, INIT_EXIT } from '../domain/daemon-contract.js';
import { ValidationError, errorMessage } from '../domain/errors.js';
import type { ObjectStore } from '../ports/objects.js';
import { DaemonFailure } from './failure.js';

const SECRET_PREFIX = DAEMON_PRIVATE_ENV_PREFIXES[1];

/** The secrets taken out of the environment, for a second open in the same process (`start`: init, then run). */
let taken: Record<string, string> | undefined;

export async function openDaemonStore(url: string, env: NodeJS.ProcessEnv = process.env): Promise<ObjectStore> {
  taken ??= secretsOf(env);
  const storeEnv = { ...env, ...taken };
  // Before the first await: the secrets never sit in the environment while the S3 adapter loads.
  forgetSecrets(env);
  try {
    // Files the daemon creates (running as root in the image) take the owner of the
    // mounted directory, so the host user can still manage them.
    return await openObjectStoreLazily(url, { matchParentOwner: true, env: storeEnv, s3CredentialEnv: S3_DAEMON_SECRET_ENV });
  } catch (err) {
    if (err instanceof ValidationError) throw new DaemonFailure(INIT_EXIT.badSettings, `${DAEMON_ENV.objects}: ${err.message}`, { cause: err });
    throw new DaemonFailure(INIT_EXIT.objectStoreUnavailable, `object store: ${errorMessage(err)}`, { cause: err });
  }
}

function secretsOf(env: NodeJS.ProcessEnv): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [name, value] of Object.entries(env)) if (name.startsWith(SECRET_PREFIX) && value !== undefined) out[name] = value;
  return out;
}

/** Removes every BERTH_SECRET_* variable from the environment object. */
export function forgetSecrets(env: NodeJS.ProcessEnv): void {
  for (const name of Object.keys(env)) {
    if (name.startsWith(SECRET_PREFIX)) delete env[name];
  }
}
