/** Pure formatting of tables and values for people. */

/** Aligned columns separated by two spaces; the last column is not padded. */
export function formatTable(headers: readonly string[], rows: readonly (readonly string[])[]): string {
  const widths = headers.map((h, i) => Math.max(displayWidth(h), ...rows.map((r) => displayWidth(r[i] ?? ''))));
  const line = (cells: readonly string[]) =>
    cells
      .map((cell, i) => (i === cells.length - 1 ? cell : cell + ' '.repeat((widths[i] ?? 0) - displayWidth(cell))))
      .join('  ')
      .trimEnd();
  return [line(headers), ...rows.map((r) => line(headers.map((_, i) => r[i] ?? '')))].join('\n') + '\n';
}

function displayWidth(text: string): number {
  return [...text].length;
}

/** `4s`, `12m`, `3h`, `5d` since `from`; `-` when unknown. */
export function formatAge(from: string | undefined, now: Date): string {
  if (!from) return '-';
  const t = Date.parse(from);
  if (Number.isNaN(t)) return '-';
  const seconds = Math.max(0, Math.floor((now.getTime() - t) / 1000));
  if (seconds < 60) return `${seconds}s`;
  if (seconds < 3600) return `${Math.floor(seconds / 60)}m`;
  if (seconds < 86_400) return `${Math.floor(seconds / 3600)}h`;
  return `${Math.floor(seconds / 86_400)}d`;
}

/** `1 (3m ago)` for an exit code and its time; `-` when there was none. */
export function formatLastExit(code: number | undefined, at: string | undefined, now: Date): string {
  if (code === undefined) return '-';
  return at ? `${code} (${formatAge(at, now)} ago)` : String(code);
}

export function truncate(text: string, max: number): string {
  return text.length <= max ? text : `${text.slice(0, Math.max(0, max - 1))}…`;
}
