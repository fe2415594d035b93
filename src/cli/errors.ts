/** Errors the CLI prints as one clear line (plus field issues) before exiting non-zero. */
import type { FieldIssue } from '../domain/errors.js';

export class CliError extends Error {
  readonly exitCode: number;
  readonly issues: readonly FieldIssue[];
  constructor(message: string, options: { exitCode?: number; issues?: readonly FieldIssue[]; cause?: unknown } = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'CliError';
    this.exitCode = options.exitCode ?? 1;
    this.issues = options.issues ?? [];
  }
}

/** A wrong command line: exit code 2, like commander's own usage errors. */
export function usageError(message: string): CliError {
  return new CliError(message, { exitCode: 2 });
}
