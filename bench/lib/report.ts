/** The benchmark's rows: one table for people, the same figures as JSON. */
export type Verdict = 'met' | 'MISSED' | 'not measured';

export interface Row {
  readonly key: string;
  readonly title: string;
  /** The figure the goal is about, plus its companions (p99, …). */
  readonly result: string;
  /** The baseline measured in the same run, and the ratio. */
  readonly sideBySide: string;
  readonly goal: string;
  readonly verdict: Verdict;
  /** Lines printed under the table: breakdowns and caveats. */
  readonly details: readonly string[];
  /** Raw figures for the JSON file. */
  readonly figures: Readonly<Record<string, unknown>>;
}

export function notMeasured(key: string, title: string, goal: string, reason: string): Row {
  return { key, title, result: '–', sideBySide: '–', goal, verdict: 'not measured', details: [`not measured: ${reason}`], figures: { reason } };
}

export function verdict(ok: boolean): Verdict {
  return ok ? 'met' : 'MISSED';
}

export function formatTable(rows: readonly Row[]): string {
  const header = ['Benchmark', 'Result', 'Side by side (same run)', 'Goal', 'Verdict'];
  const cells = rows.map((r) => [r.title, r.result, r.sideBySide, r.goal, r.verdict]);
  const widths = header.map((h, i) => Math.max(h.length, ...cells.map((c) => c[i]!.length)));
  const line = (c: readonly string[]) => `| ${c.map((v, i) => v.padEnd(widths[i]!)).join(' | ')} |`;
  const rule = `|${widths.map((w) => '-'.repeat(w + 2)).join('|')}|`;
  const out = [line(header), rule, ...cells.map(line), ''];
  for (const row of rows) {
    if (row.details.length === 0) continue;
    out.push(`${row.title}:`);
    for (const detail of row.details) out.push(`  - ${detail}`);
  }
  return out.join('\n');
}
