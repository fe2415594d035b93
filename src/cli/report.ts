/** How the CLI shows a failure: one clear line (plus field issues) and an exit code. */
import { CommanderError } from 'commander';
import { ConfigError, formatConfigIssue } from '../config/errors.js';
import { BerthError, ValidationError } from '../domain/errors.js';
import { CliError } from './errors.js';

/** Prints an error for people and returns the exit code. */
export function reportError(err: unknown, write: (text: string) => void): number {
  if (err instanceof CommanderError) {
    // commander printed its own message already.
    return err.exitCode;
  }
  if (err instanceof CliError) {
    write(`berth: ${err.message}\n`);
    for (const issue of err.issues) write(`  ${issue.field || '(request)'}: ${issue.message}\n`);
    return err.exitCode;
  }
  if (err instanceof ConfigError) {
    // One bad setting is one line; several are listed under a heading.
    if (err.issues.length === 1) {
      write(`berth: ${formatConfigIssue(err.issues[0]!)}\n`);
      return 2;
    }
    write(`berth: invalid settings:\n${err.issues.length ? err.message.split('\n').map((l) => `  ${l}\n`).join('') : `  ${err.message}\n`}`);
    return 2;
  }
  if (err instanceof ValidationError) {
    write(`berth: ${err.message}\n`);
    return 2;
  }
  if (err instanceof BerthError) {
    write(`berth: ${err.message}\n`);
    return 1;
  }
  if ((err as Error)?.name === 'AbortError') return 130;
  write(`berth: unexpected error: ${(err as Error)?.stack ?? String(err)}\n`);
  return 1;
}

