/** Typed errors of the core's reconcilers. */
import { BerthError } from '../domain/errors.js';

/** One action on one bot failed; the pass goes on with the other bots. */
export class ReconcileError extends BerthError {
  override readonly code = 'reconcile-failed';
  readonly botId: string;
  readonly action: string;
  constructor(botId: string, action: string, message: string, options?: { cause?: unknown }) {
    super(`bot ${botId}: ${action} failed: ${message}`, options);
    this.botId = botId;
    this.action = action;
  }
}

/** Reconcile requested after stop(). */
export class ServiceStoppedError extends BerthError {
  override readonly code = 'stopped';
}
