/** Validation of path parameters and query strings; errors name the parameter. */
import { z } from 'zod';
import { BOT_ID_PATTERN, toFieldIssues } from '../domain/bot.js';
import { ValidationError } from '../domain/errors.js';

const botId = z
  .string()
  .regex(BOT_ID_PATTERN, 'must be a lower-case slug: a-z, 0-9 and "-", starting and ending with a letter or digit, at most 63 characters');

export const idParams = z.object({ id: botId });

const flag = z
  .enum(['1', '0', 'true', 'false', ''], { error: 'must be true or false (1 or 0)' })
  .transform((v) => v === '1' || v === 'true' || v === '');

const RELATIVE = /^(\d+)(s|m|h|d)$/;
const UNIT_MS: Readonly<Record<string, number>> = { s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };

/** ISO time, epoch milliseconds, or a duration back from now (`90s`, `10m`, `2h`, `7d`). */
export function parseSince(value: string, now: Date): Date | undefined {
  const relative = RELATIVE.exec(value);
  if (relative) return new Date(now.getTime() - Number(relative[1]) * (UNIT_MS[relative[2]!] ?? 0));
  if (/^\d{1,16}$/.test(value)) return new Date(Number(value));
  const parsed = Date.parse(value);
  return Number.isNaN(parsed) ? undefined : new Date(parsed);
}

export function logsQuery(now: Date) {
  return z.object({
    tail: z
      .string()
      .regex(/^\d+$/, 'must be a whole number')
      .transform(Number)
      .pipe(z.number().max(100_000, 'must be at most 100000'))
      .optional(),
    since: z
      .string()
      .transform((v, ctx) => {
        const date = parseSince(v, now);
        if (!date) {
          ctx.addIssue({ code: 'custom', message: 'must be an ISO time, epoch milliseconds, or a duration like 10m, 2h, 7d' });
          return z.NEVER;
        }
        return date;
      })
      .optional(),
    runId: z.string().regex(/^[A-Za-z0-9._-]{1,100}$/, 'must be a run id').optional(),
    follow: flag.optional(),
  });
}

export const deleteQuery = z.object({ keepData: flag.optional() });

/** Parses or throws ValidationError naming the parameter. */
export function parseOrThrow<T extends z.ZodType>(schema: T, value: unknown): z.output<T> {
  const result = schema.safeParse(value ?? {});
  if (!result.success) throw new ValidationError(toFieldIssues(result.error));
  return result.data;
}
