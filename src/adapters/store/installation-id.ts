/** A store's installation id: random, so two installations never share one by accident. */
import { randomBytes } from 'node:crypto';

export function newInstallationId(): string {
  return randomBytes(8).toString('hex');
}
