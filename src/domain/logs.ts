/** One line of a bot's log as shipped in NDJSON chunks (`logs/<botId>/…`). */
export interface LogEntry {
  /** ISO-8601 time the daemon read the line. */
  readonly time: string;
  /** `out`/`err`: the bot's stdout/stderr; `berth`: a line written by the daemon itself. */
  readonly stream: 'out' | 'err' | 'berth';
  readonly line: string;
  /** Set for scheduled runs. */
  readonly runId?: string;
}

export function parseLogChunk(text: string): LogEntry[] {
  const out: LogEntry[] = [];
  for (const raw of text.split('\n')) {
    if (!raw) continue;
    try {
      const v = JSON.parse(raw) as Partial<LogEntry>;
      if (typeof v.time === 'string' && typeof v.line === 'string') {
        out.push({ time: v.time, stream: v.stream ?? 'out', line: v.line, ...(v.runId ? { runId: v.runId } : {}) });
      }
    } catch {
      // A torn line can only be the last one of a chunk cut by a crash; skipping it is right.
    }
  }
  return out;
}

export function formatLogChunk(entries: readonly LogEntry[]): string {
  return entries.map((e) => JSON.stringify(e)).join('\n') + '\n';
}
