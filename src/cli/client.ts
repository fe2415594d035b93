/**
 * The CLI's HTTP client for the Berth API (docs/api.md). Every failure becomes a CliError
 * with one clear line: the server's error message and field issues, or how to start the
 * server when nothing answers.
 */
import type { FieldIssue } from '../domain/errors.js';
import { CliError } from './errors.js';

export const DEFAULT_API_URL = 'http://127.0.0.1:7070';

export interface ClientOptions {
  readonly baseUrl: string;
  readonly token?: string;
  readonly fetch?: typeof fetch;
  /** Per request; uploads get longer. */
  readonly timeoutMs?: number;
}

export interface RequestOptions {
  readonly query?: Readonly<Record<string, string | number | boolean | undefined>>;
  readonly json?: unknown;
  readonly body?: Buffer;
  readonly contentType?: string;
  readonly headers?: Readonly<Record<string, string>>;
  readonly signal?: AbortSignal;
  /** Statuses returned as `null` instead of thrown (e.g. 404 for "does it exist?"). */
  readonly allow?: readonly number[];
  readonly timeoutMs?: number;
}

export interface ApiResponse<T> {
  readonly status: number;
  readonly body: T;
}

export class ApiClient {
  readonly baseUrl: string;
  private readonly token: string | undefined;
  private readonly fetchImpl: typeof fetch;
  private readonly timeoutMs: number;

  constructor(options: ClientOptions) {
    this.baseUrl = options.baseUrl.replace(/\/+$/, '');
    this.token = options.token;
    this.fetchImpl = options.fetch ?? fetch;
    this.timeoutMs = options.timeoutMs ?? 30_000;
  }

  async request<T>(method: string, path: string, options: RequestOptions = {}): Promise<ApiResponse<T>> {
    const url = new URL(this.baseUrl + path);
    for (const [k, v] of Object.entries(options.query ?? {})) if (v !== undefined) url.searchParams.set(k, String(v));
    const headers: Record<string, string> = { accept: 'application/json', ...options.headers };
    if (this.token) headers.authorization = `Bearer ${this.token}`;
    let body: string | Buffer | undefined;
    if (options.json !== undefined) {
      headers['content-type'] = 'application/json';
      body = JSON.stringify(options.json);
    } else if (options.body) {
      headers['content-type'] = options.contentType ?? 'application/octet-stream';
      body = options.body;
    }
    const timeout = AbortSignal.timeout(options.timeoutMs ?? this.timeoutMs);
    const signal = options.signal ? AbortSignal.any([options.signal, timeout]) : timeout;
    let response: Response;
    try {
      response = await this.fetchImpl(url, { method, headers, body, signal });
    } catch (err) {
      throw this.transportError(err, method, path, timeout.aborted);
    }
    const text = await response.text();
    const parsed = parseBody(text, response.headers.get('content-type'));
    if (response.ok || options.allow?.includes(response.status)) return { status: response.status, body: parsed as T };
    throw apiError(response.status, parsed, `${method} ${path}`);
  }

  /**
   * A streamed NDJSON response (`logs?follow=1`), line by line, blank keep-alive lines
   * skipped, until the server ends it or `signal` aborts. No time-out: it is meant to last.
   */
  async *lines(path: string, query: RequestOptions['query'], signal: AbortSignal): AsyncGenerator<string> {
    const url = new URL(this.baseUrl + path);
    for (const [k, v] of Object.entries(query ?? {})) if (v !== undefined) url.searchParams.set(k, String(v));
    const headers: Record<string, string> = { accept: 'application/x-ndjson' };
    if (this.token) headers.authorization = `Bearer ${this.token}`;
    let response: Response;
    try {
      response = await this.fetchImpl(url, { headers, signal });
    } catch (err) {
      if (signal.aborted) return;
      throw this.transportError(err, 'GET', path, false);
    }
    if (!response.ok || !response.body) {
      const text = await response.text();
      throw apiError(response.status, parseBody(text, response.headers.get('content-type')), `GET ${path}`);
    }
    const decoder = new TextDecoder();
    let buffered = '';
    try {
      for await (const chunk of response.body as unknown as AsyncIterable<Uint8Array>) {
        buffered += decoder.decode(chunk, { stream: true });
        let newline;
        while ((newline = buffered.indexOf('\n')) >= 0) {
          const line = buffered.slice(0, newline).trim();
          buffered = buffered.slice(newline + 1);
          if (line) yield line;
        }
      }
    } catch (err) {
      if (signal.aborted) return;
      throw this.transportError(err, 'GET', path, false);
    }
    if (buffered.trim()) yield buffered.trim();
  }

  async get<T>(path: string, options: RequestOptions = {}): Promise<T> {
    return (await this.request<T>('GET', path, options)).body;
  }

  private transportError(err: unknown, method: string, path: string, timedOut: boolean): CliError {
    if (timedOut) return new CliError(`the Berth server at ${this.baseUrl} did not answer ${method} ${path} in time`, { cause: err });
    if ((err as Error).name === 'AbortError') return new CliError('cancelled', { cause: err, exitCode: 130 });
    const code = causeCode(err);
    if (code === 'ECONNREFUSED' || code === 'ENOTFOUND' || code === 'EHOSTUNREACH' || code === 'ECONNRESET' || code === 'UND_ERR_SOCKET') {
      return new CliError(
        `no Berth server is answering at ${this.baseUrl} (${code}). Start one with \`berth serve\` (or \`npm run demo\`), ` +
          'or point the CLI at yours with --api <url> or BERTH_API.',
        { cause: err },
      );
    }
    return new CliError(`cannot reach the Berth server at ${this.baseUrl}: ${(err as Error).message}`, { cause: err });
  }
}

function causeCode(err: unknown): string | undefined {
  let e: unknown = err;
  for (let depth = 0; e && depth < 5; depth++) {
    const code = (e as { code?: unknown }).code;
    if (typeof code === 'string') return code;
    const errors = (e as { errors?: unknown[] }).errors;
    if (Array.isArray(errors) && errors.length > 0) e = errors[0];
    else e = (e as { cause?: unknown }).cause;
  }
  return undefined;
}

function parseBody(text: string, contentType: string | null): unknown {
  if (text === '') return undefined;
  if (contentType?.includes('json')) {
    try {
      return JSON.parse(text);
    } catch {
      return text;
    }
  }
  return text;
}

/** Reads the API's error body (`{ error: { code, message, issues } }` or the same fields at the top). */
export function apiError(status: number, body: unknown, what: string): CliError {
  const obj = (body && typeof body === 'object' ? body : {}) as Record<string, unknown>;
  const inner = (obj.error && typeof obj.error === 'object' ? obj.error : obj) as Record<string, unknown>;
  const message =
    typeof inner.message === 'string'
      ? inner.message
      : typeof obj.error === 'string'
        ? obj.error
        : typeof body === 'string' && body.trim()
          ? body.trim().split('\n')[0]!
          : `HTTP ${status}`;
  const rawIssues = Array.isArray(inner.issues) ? inner.issues : Array.isArray(obj.issues) ? obj.issues : [];
  const issues: FieldIssue[] = rawIssues
    .filter((i): i is Record<string, unknown> => !!i && typeof i === 'object')
    .map((i) => ({ field: String(i.field ?? i.path ?? ''), message: String(i.message ?? '') }));
  const hint = status === 401 || status === 403 ? ' (set BERTH_API_TOKEN or --token to the server\'s API token)' : '';
  return new CliError(`${what} failed: ${message}${hint}`, { issues, exitCode: 1 });
}
