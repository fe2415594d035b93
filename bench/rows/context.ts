/** What the Docker rows share: one Engine, one bot image, one `berth serve` and its data directory. */
import type Docker from 'dockerode';
import type { Cleanup } from '../lib/cleanup.js';
import type { BerthServe } from '../lib/serve.js';

export interface DockerBench {
  readonly docker: Docker;
  readonly image: string;
  /** `berth.instance` of everything the benchmark creates. */
  readonly instance: string;
  readonly dataDir: string;
  readonly serve: BerthServe;
  readonly cleanup: Cleanup;
  /** Progress for people (stderr). */
  readonly say: (line: string) => void;
  /** Random suffix for bot ids. */
  readonly tag: string;
}

export async function waitUntil<T>(what: string, check: () => Promise<T | undefined> | T | undefined, timeoutMs: number, intervalMs = 100): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  for (;;) {
    try {
      const value = await check();
      if (value !== undefined) return value;
    } catch (err) {
      lastError = err;
    }
    if (Date.now() > deadline) {
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${lastError ? ` (last error: ${(lastError as Error).message})` : ''}`);
    }
    await new Promise((r) => setTimeout(r, intervalMs));
  }
}
