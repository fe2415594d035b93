/**
 * Typed errors shared by every layer. Each carries a stable `code` so the API can map it
 * to an HTTP status and the CLI can print it without parsing messages.
 */

export interface FieldIssue {
  /** Dotted path of the offending field, e.g. `resources.memoryMb` or `env.FOO`. */
  readonly field: string;
  readonly message: string;
}

export class BerthError extends Error {
  readonly code: string = 'internal';
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = new.target.name;
  }
}

/** Input that can never be accepted as it is; the caller must change it. */
export class ValidationError extends BerthError {
  override readonly code = 'invalid';
  readonly issues: readonly FieldIssue[];
  constructor(issues: readonly FieldIssue[], options?: { cause?: unknown }) {
    super(
      issues.map((i) => (i.field ? `${i.field}: ${i.message}` : i.message)).join('; ') || 'invalid input',
      options,
    );
    this.issues = issues;
  }

  static single(field: string, message: string): ValidationError {
    return new ValidationError([{ field, message }]);
  }
}

/** A bot package (archive) was refused: hostile entries, too large, missing entrypoint… */
export class PackageRejectedError extends BerthError {
  override readonly code = 'package-rejected';
  /** The archive entry the problem was found at, when there is one. */
  readonly entry: string | undefined;
  constructor(message: string, entry?: string, options?: { cause?: unknown }) {
    super(entry === undefined ? message : `${message} (entry ${JSON.stringify(entry)})`, options);
    this.entry = entry;
  }
}

/**
 * A tree or package passed one of the counting caps (`PackageLimits`): the daemon tells a
 * state that is too large from one with a bad entry by this, not by the message.
 */
export class PackageLimitError extends PackageRejectedError {
  readonly limit: 'bytes' | 'entries';
  constructor(limit: 'bytes' | 'entries', message: string, entry?: string, options?: { cause?: unknown }) {
    super(message, entry, options);
    this.limit = limit;
  }
}

export class NotFoundError extends BerthError {
  override readonly code = 'not-found';
}

/** An optimistic-concurrency write lost a race, or a name is already taken. */
export class ConflictError extends BerthError {
  override readonly code = 'conflict';
}

/** A dependency (store, object store, container runtime, event bus) cannot be reached. */
export class UnavailableError extends BerthError {
  override readonly code = 'unavailable';
  readonly dependency: string;
  constructor(dependency: string, message: string, options?: { cause?: unknown }) {
    super(`${dependency} unavailable: ${message}`, options);
    this.dependency = dependency;
  }
}

export function errorMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

/** Rethrows an AbortError when the signal is aborted, so loops stop promptly. */
export function throwIfAborted(signal: AbortSignal | undefined): void {
  signal?.throwIfAborted();
}
