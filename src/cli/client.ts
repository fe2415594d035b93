/**
 * The CLI's HTTP client for the Berth API (docs/api.md). Every failure becomes a CliError
 * with one clear line: the server's error message and field issues, how to start the
 * server when nothing answers, or that what answers is not a Berth API (not HTTP, not JSON,
 * an answer broken off, or one without the fields every Berth answer to it has).
 */
import { errorMessage, type FieldIssue } from '../domain/errors.js';
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
  /** Top-level fields a Berth answer (2xx) to this request always has, e.g. `['bots']`. */
  readonly expect?: readonly string[];
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
    const what = `${method} ${path}`;
    const url = new URL(this.baseUrl + path);
    for (const [k, v] of Object.entries(options.query ?? {})) if (v !== undefined) url.searchParams.set(k, String(v));
    const headers: Record<string, string> = { accept: 'application/json', ...options.headers };
    if (this.token) headers.authorization = `Bearer ${this.token}`;
    let body: string | Buffer | undefined;
    if (options.json !== undefined) {
      headers['content-type'] = 'application/json';
      try {
        body = JSON.stringify(options.json);
      } catch (err) {
        // JSON.stringify recurses: a value nested thousands of levels deep overflows the stack.
        throw new CliError(`${what}: the request cannot be encoded as JSON (${errorMessage(err)})`, { cause: err });
      }
    } else if (options.body) {
      headers['content-type'] = options.contentType ?? 'application/octet-stream';
      body = options.body;
    }
    const deadline = startDeadline(options.timeoutMs ?? this.timeoutMs);
    const signal = options.signal ? AbortSignal.any([options.signal, deadline.signal]) : deadline.signal;
    try {
      let response: Response;
      try {
        response = await this.fetchImpl(url, { method, headers, body, signal });
      } catch (err) {
        throw this.transportError(err, method, path, deadline.expired());
      }
      let text: string;
      try {
        text = await response.text();
      } catch (err) {
        throw this.bodyError(err, what, deadline.expired());
      }
      const contentType = response.headers.get('content-type');
      if (response.ok) return { status: response.status, body: this.berthBody(text, contentType, response.status, what, options.expect) as T };
      const parsed = parseBody(text, contentType);
      if (options.allow?.includes(response.status)) return { status: response.status, body: parsed as T };
      throw apiError(response.status, parsed, what);
    } finally {
      deadline.clear();
    }
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
      let text: string;
      try {
        text = await response.text();
      } catch (err) {
        throw this.bodyError(err, `GET ${path}`, false);
      }
      throw apiError(response.status, parseBody(text, response.headers.get('content-type')), `GET ${path}`);
    }
    const contentType = response.headers.get('content-type');
    if (!contentType?.includes('json')) {
      await response.body.cancel().catch(() => undefined);
      throw this.notBerth(`GET ${path}`, `HTTP ${response.status} with ${contentType ? contentType.split(';')[0] : 'no content type'}, not NDJSON`);
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
      throw this.bodyError(err, `GET ${path}`, false);
    }
    if (buffered.trim()) yield buffered.trim();
  }

  async get<T>(path: string, options: RequestOptions = {}): Promise<T> {
    return (await this.request<T>('GET', path, options)).body;
  }

  /**
   * A 2xx answer as a Berth API gives it: a JSON object with the expected fields. Anything
   * else (an HTML page, a proxy's text, `[]`) means `--api` points at something else.
   */
  private berthBody(text: string, contentType: string | null, status: number, what: string, expect: readonly string[] = []): Record<string, unknown> {
    const type = contentType ? contentType.split(';')[0]!.trim() : 'no content type';
    if (!contentType?.includes('json')) throw this.notBerth(what, `HTTP ${status} with ${text === '' ? 'an empty body' : type}, not JSON`);
    let parsed: unknown;
    try {
      parsed = JSON.parse(text);
    } catch {
      throw this.notBerth(what, `HTTP ${status} with a body that is not valid JSON`);
    }
    if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) {
      throw this.notBerth(what, `HTTP ${status} with JSON that is not an object`);
    }
    const missing = expect.filter((key) => !(key in parsed));
    if (missing.length > 0) {
      throw this.notBerth(what, `HTTP ${status} without ${missing.map((k) => `"${k}"`).join(', ')}`);
    }
    return parsed as Record<string, unknown>;
  }

  private notBerth(what: string, detail: string): CliError {
    return new CliError(
      `the server at ${this.baseUrl} did not answer like a Berth API (${what}: ${detail}). ` +
        'Point the CLI at a Berth server with --api <url> or BERTH_API.',
    );
  }

  /** The answer's body could not be read to its end. */
  private bodyError(err: unknown, what: string, timedOut: boolean): CliError {
    if (timedOut) return new CliError(`the Berth server at ${this.baseUrl} did not finish its answer to ${what} in time`, { cause: err });
    if ((err as Error)?.name === 'AbortError') return new CliError('cancelled', { cause: err, exitCode: 130 });
    return new CliError(
      `the server at ${this.baseUrl} broke off its answer to ${what} (${innermostMessage(err)}): ` +
        'it may have stopped, or it is not a Berth API (see --api / BERTH_API).',
      { cause: err },
    );
  }

  private transportError(err: unknown, method: string, path: string, timedOut: boolean): CliError {
    if (timedOut) return new CliError(`the Berth server at ${this.baseUrl} did not answer ${method} ${path} in time`, { cause: err });
    if ((err as Error).name === 'AbortError') return new CliError('cancelled', { cause: err, exitCode: 130 });
    const code = causeCode(err);
    // llhttp's codes: what answered does not speak HTTP (an SSH, database or message-bus port).
    if (code?.startsWith('HPE_')) {
      return new CliError(
        `the server at ${this.baseUrl} did not answer like a Berth API (${method} ${path}: not HTTP — ${innermostMessage(err)}). ` +
          'Point the CLI at a Berth server with --api <url> or BERTH_API.',
        { cause: err },
      );
    }
    if (code === 'ECONNREFUSED' || code === 'ENOTFOUND' || code === 'EHOSTUNREACH' || code === 'ECONNRESET' || code === 'UND_ERR_SOCKET') {
      return new CliError(
        `no Berth server is answering at ${this.baseUrl} (${code}). Start one with \`berth serve\` (or \`npm run demo\`), ` +
          'or point the CLI at yours with --api <url> or BERTH_API.',
        { cause: err },
      );
    }
    return new CliError(`cannot reach the Berth server at ${this.baseUrl}: ${innermostMessage(err)}`, { cause: err });
  }
}

/**
 * The request's time limit. A timer of its own rather than `AbortSignal.timeout()`, whose
 * timer does not keep the process alive: when a broken server leaves nothing else pending,
 * Node would exit silently (code 13, "unsettled top-level await") instead of reporting it.
 */
function startDeadline(ms: number): { signal: AbortSignal; expired(): boolean; clear(): void } {
  const controller = new AbortController();
  const timer = setTimeout(() => controller.abort(new DOMException(`no answer within ${ms} ms`, 'TimeoutError')), ms);
  return { signal: controller.signal, expired: () => controller.signal.aborted, clear: () => clearTimeout(timer) };
}

/** `fetch failed` says nothing; its cause (`other side closed`, a parse error) does. */
function innermostMessage(err: unknown): string {
  let e: unknown = err;
  for (let depth = 0; depth < 5 && (e as { cause?: unknown })?.cause instanceof Error; depth++) e = (e as { cause: unknown }).cause;
  const message = errorMessage(e);
  return message === 'terminated' ? 'the connection was closed before the answer was complete' : message;
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
          ? textMessage(status, body)
          : `HTTP ${status}`;
  const rawIssues = Array.isArray(inner.issues) ? inner.issues : Array.isArray(obj.issues) ? obj.issues : [];
  const issues: FieldIssue[] = rawIssues
    .filter((i): i is Record<string, unknown> => !!i && typeof i === 'object')
    .map((i) => ({ field: String(i.field ?? i.path ?? ''), message: String(i.message ?? '') }));
  const hint = status === 401 || status === 403 ? ' (set BERTH_API_TOKEN or --token to the server\'s API token)' : '';
  return new CliError(`${what} failed: ${message}${hint}`, { issues, exitCode: 1 });
}

/** A text error body's first line; for an HTML page (a web server or proxy, not Berth) its title. */
function textMessage(status: number, body: string): string {
  const text = body.trim();
  if (!text.startsWith('<')) return text.split('\n')[0]!;
  const title = /<title[^>]*>([^<]*)<\/title>/i.exec(text)?.[1]?.trim();
  return `HTTP ${status} with an HTML page${title ? ` ("${title.slice(0, 80)}")` : ''}, not a Berth API answer`;
}
