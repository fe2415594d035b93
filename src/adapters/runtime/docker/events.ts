/**
 * Follows the Engine's event stream for one set of label filters. The stream is
 * newline-delimited JSON whose chunks can hold several objects or half of one, and it ends
 * when dockerd restarts: the follower reconnects with `since` (the newest event time seen)
 * and drops the events it has already delivered.
 */
import type Dockerode from 'dockerode';

export interface EngineEvent {
  readonly Type?: string;
  readonly Action?: string;
  readonly id?: string;
  readonly time?: number;
  readonly timeNano?: number;
  readonly Actor?: { readonly ID?: string; readonly Attributes?: Readonly<Record<string, string>> };
}

/** Splits a byte stream into lines; keeps the unfinished tail for the next chunk. */
export class LineSplitter {
  private tail = '';
  private readonly decoder = new TextDecoder();

  push(chunk: Buffer | string): string[] {
    this.tail += typeof chunk === 'string' ? chunk : this.decoder.decode(chunk, { stream: true });
    const lines = this.tail.split('\n');
    this.tail = lines.pop() ?? '';
    return lines.map((l) => l.trim()).filter(Boolean);
  }
}

export function parseEventLine(line: string): EngineEvent | undefined {
  try {
    const value: unknown = JSON.parse(line);
    return value !== null && typeof value === 'object' ? (value as EngineEvent) : undefined;
  } catch {
    return undefined;
  }
}

export function eventKey(e: EngineEvent): string {
  return `${e.timeNano ?? e.time ?? 0}:${e.Actor?.ID ?? e.id ?? ''}:${e.Action ?? ''}`;
}

/** `since` for the Engine: seconds with a fractional part. */
export function sinceParam(timeNano: bigint): string {
  const seconds = timeNano / 1_000_000_000n;
  const nanos = (timeNano % 1_000_000_000n).toString().padStart(9, '0');
  return `${seconds}.${nanos}`;
}

export interface FollowerOptions {
  readonly filters: { readonly label: readonly string[]; readonly event?: readonly string[] };
  readonly onEvent: (event: EngineEvent) => void;
  /** The stream is (re)established: events from now on are seen. */
  readonly onConnected?: () => void;
  /** The stream broke: events may be missed until the next onConnected. */
  readonly onDisconnected?: (err?: unknown) => void;
  /** Sees each new response stream (e.g. to unref its socket). */
  readonly onStream?: (stream: NodeJS.ReadableStream) => void;
  readonly minBackoffMs?: number;
  readonly maxBackoffMs?: number;
}

const REMEMBERED_KEYS = 2048;

export class EventFollower {
  private stopped = false;
  private controller: AbortController | undefined;
  private timer: NodeJS.Timeout | undefined;
  private backoffMs: number;
  /** Newest event time delivered (ns since epoch), used as `since` on reconnect. */
  private newest: bigint | undefined;
  private readonly delivered = new Set<string>();
  private isConnected = false;

  constructor(
    private readonly docker: Dockerode,
    private readonly options: FollowerOptions,
  ) {
    this.backoffMs = options.minBackoffMs ?? 100;
  }

  get connected(): boolean {
    return this.isConnected;
  }

  start(): this {
    void this.connect();
    return this;
  }

  stop(): void {
    if (this.stopped) return;
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    this.controller?.abort();
    this.isConnected = false;
  }

  private async connect(): Promise<void> {
    if (this.stopped) return;
    const controller = new AbortController();
    this.controller = controller;
    // Before the first event, replay from a moment before connecting so nothing that
    // happens while the request is in flight is lost.
    // timeNano loses precision in JSON.parse (it exceeds 2^53): step back a microsecond and
    // let the delivered-keys set drop the replays.
    const since = this.newest !== undefined ? this.newest - 1000n : BigInt(Date.now() - 1000) * 1_000_000n;
    let stream: NodeJS.ReadableStream;
    try {
      stream = await this.docker.getEvents({
        since: sinceParam(since),
        filters: {
          type: ['container'],
          label: [...this.options.filters.label],
          ...(this.options.filters.event ? { event: [...this.options.filters.event] } : {}),
        },
        abortSignal: controller.signal,
      } as unknown as Dockerode.GetEventsOptions);
    } catch (err) {
      this.disconnected(err);
      return;
    }
    if (this.stopped) {
      (stream as NodeJS.ReadableStream & { destroy?: () => void }).destroy?.();
      return;
    }
    this.options.onStream?.(stream);
    this.isConnected = true;
    this.backoffMs = this.options.minBackoffMs ?? 100;
    this.options.onConnected?.();
    const splitter = new LineSplitter();
    let ended = false;
    const finish = (err?: unknown): void => {
      if (ended) return;
      ended = true;
      this.disconnected(err);
    };
    stream.on('data', (chunk: Buffer | string) => {
      for (const line of splitter.push(chunk)) {
        const event = parseEventLine(line);
        if (event) this.deliver(event);
      }
    });
    stream.on('end', () => finish());
    stream.on('close', () => finish());
    stream.on('error', (err: unknown) => finish(err));
  }

  private deliver(event: EngineEvent): void {
    const key = eventKey(event);
    if (this.delivered.has(key)) return;
    this.delivered.add(key);
    if (this.delivered.size > REMEMBERED_KEYS) {
      const oldest = this.delivered.values().next().value;
      if (oldest !== undefined) this.delivered.delete(oldest);
    }
    const at = event.timeNano !== undefined ? BigInt(event.timeNano) : event.time !== undefined ? BigInt(event.time) * 1_000_000_000n : undefined;
    if (at !== undefined && (this.newest === undefined || at > this.newest)) this.newest = at;
    try {
      this.options.onEvent(event);
    } catch {
      // A handler's failure must not end the stream for everyone else.
    }
  }

  private disconnected(err?: unknown): void {
    this.isConnected = false;
    if (this.stopped) return;
    this.options.onDisconnected?.(err);
    const delay = this.backoffMs;
    this.backoffMs = Math.min(this.backoffMs * 2, this.options.maxBackoffMs ?? 5000);
    this.timer = setTimeout(() => void this.connect(), delay);
    this.timer.unref?.();
  }
}
