/**
 * Durations as people type them: `500ms`, `30s`, `2m`, `1h`, or a plain number of seconds
 * (`30`). One parser for settings (`--interval`) and CLI options (`--since 10m`).
 */
const UNIT_MS: Readonly<Record<string, number>> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };

export const DURATION_FORMS = '500ms, 30s, 2m, 1h, 1d, or a plain number of seconds';

/** Milliseconds, or undefined when the text is not a duration. */
export function parseDurationMs(input: string | number): number | undefined {
  if (typeof input === 'number') return Number.isFinite(input) && input >= 0 ? input * 1000 : undefined;
  const match = /^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)?\s*$/i.exec(input);
  if (!match) return undefined;
  const amount = Number(match[1]);
  const unit = (match[2] ?? 's').toLowerCase();
  const factor = UNIT_MS[unit];
  if (factor === undefined || !Number.isFinite(amount)) return undefined;
  return Math.round(amount * factor);
}

/** `90000` → `1m30s`, for messages and tables. */
export function formatDurationMs(ms: number): string {
  if (ms < 1000) return `${Math.round(ms)}ms`;
  let seconds = Math.round(ms / 1000);
  const parts: string[] = [];
  for (const [unit, size] of [['d', 86_400], ['h', 3_600], ['m', 60]] as const) {
    if (seconds >= size) {
      parts.push(`${Math.floor(seconds / size)}${unit}`);
      seconds %= size;
    }
  }
  if (seconds > 0 || parts.length === 0) parts.push(`${seconds}s`);
  return parts.slice(0, 2).join('');
}
