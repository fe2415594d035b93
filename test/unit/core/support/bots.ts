/** Valid bot records for core tests. */
import { parseBotSpec, type Bot } from '../../../../src/domain/bot.js';

export function makeBot(id: string, overrides: Record<string, unknown> = {}, generation = 1): Bot {
  const sha = 'a'.repeat(64);
  const spec = parseBotSpec({
    id,
    runtime: 'python3.11',
    entrypoint: 'main.py',
    code: { key: `code/${id}/${sha}.tar.gz`, sha256: sha, size: 100, format: 'tar.gz', version: 'v1' },
    ...overrides,
  });
  const at = new Date(Date.parse('2026-01-01T00:00:00.000Z') + generation).toISOString();
  return { ...spec, createdAt: at, updatedAt: at, generation };
}

/** A random suffix so ids never collide across test files. */
export function uniqueId(prefix: string): string {
  return `${prefix}-${Math.random().toString(36).slice(2, 8)}`;
}
