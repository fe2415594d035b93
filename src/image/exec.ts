/**
 * Runs host tools (ldd, apt-get, dpkg-deb) for the offline image builder. Output is
 * captured; a failure carries the tool's stderr so the user sees why it failed.
 */
import { execFile } from 'node:child_process';

export interface RunOptions {
  readonly cwd?: string;
  readonly env?: NodeJS.ProcessEnv;
  readonly signal?: AbortSignal;
  /** Bytes of stdout kept; ldd and apt-cache stay far below. */
  readonly maxBuffer?: number;
}

export class ToolError extends Error {
  constructor(
    message: string,
    readonly stderr: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = 'ToolError';
  }
}

export function run(file: string, args: readonly string[], options: RunOptions = {}): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(
      file,
      [...args],
      {
        cwd: options.cwd,
        env: options.env ?? process.env,
        signal: options.signal,
        maxBuffer: options.maxBuffer ?? 16 * 1024 * 1024,
        encoding: 'utf8',
      },
      (err, stdout, stderr) => {
        if (err) {
          const detail = stderr.trim().split('\n').slice(-3).join(' | ');
          reject(new ToolError(`${file} ${args.join(' ')} failed: ${detail || err.message}`, stderr, { cause: err }));
          return;
        }
        resolve(stdout);
      },
    );
  });
}

/** Like `run` but resolves undefined when the tool is missing or fails. */
export async function tryRun(file: string, args: readonly string[], options: RunOptions = {}): Promise<string | undefined> {
  try {
    return await run(file, args, options);
  } catch (err) {
    if (options.signal?.aborted) throw err;
    return undefined;
  }
}
