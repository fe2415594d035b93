/** A failure the daemon reports as one line and a specific exit code (INIT_EXIT). */
export class DaemonFailure extends Error {
  constructor(
    readonly exitCode: number,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = 'DaemonFailure';
  }
}
