/** What every command needs from the outside world; tests pass their own. */
import { ApiClient, DEFAULT_API_URL } from './client.js';

export interface CliIO {
  out(text: string): void;
  err(text: string): void;
}

export interface CliContext {
  readonly io: CliIO;
  readonly env: Readonly<Record<string, string | undefined>>;
  readonly cwd: string;
  now(): Date;
  /** Aborted on Ctrl-C, for long-running commands (`logs -f`, `serve`, `demo`). */
  readonly signal: AbortSignal;
  readonly fetch?: typeof fetch;
}

export interface ClientFlags {
  readonly api?: string;
  readonly token?: string;
}

/** `--api` > `BERTH_API` > `BERTH_LISTEN` (same machine) > http://127.0.0.1:7070. */
export function apiUrl(flags: ClientFlags, env: CliContext['env']): string {
  if (flags.api) return normalizeUrl(flags.api);
  if (env.BERTH_API) return normalizeUrl(env.BERTH_API);
  const listen = env.BERTH_LISTEN?.trim();
  if (listen) {
    const match = /^(?:(\[[^\]]+\]|[^:]*):)?(\d+)$/.exec(listen);
    if (match) {
      const host = !match[1] || match[1] === '0.0.0.0' ? '127.0.0.1' : match[1] === '[::]' ? '[::1]' : match[1];
      return `http://${host}:${match[2]}`;
    }
  }
  return DEFAULT_API_URL;
}

function normalizeUrl(url: string): string {
  return /^https?:\/\//i.test(url) ? url : `http://${url}`;
}

export function clientFor(ctx: CliContext, flags: ClientFlags): ApiClient {
  const token = flags.token ?? ctx.env.BERTH_API_TOKEN;
  return new ApiClient({ baseUrl: apiUrl(flags, ctx.env), ...(token ? { token } : {}), ...(ctx.fetch ? { fetch: ctx.fetch } : {}) });
}

export function printJson(ctx: CliContext, value: unknown): void {
  ctx.io.out(`${JSON.stringify(value, null, 2)}\n`);
}
