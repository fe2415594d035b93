/**
 * The rule every store adapter enforces on a conditional write: the record carries the
 * generation it will have once written, one more than the one the writer read. Anything
 * else is a caller bug that would let two writers both believe they won.
 */
import type { Bot } from '../../domain/bot.js';
import { ValidationError } from '../../domain/errors.js';

export function assertNextGeneration(bot: Bot, expectedGeneration: number): void {
  if (!Number.isSafeInteger(expectedGeneration) || expectedGeneration < 0) {
    throw ValidationError.single('expectedGeneration', 'must be a non-negative whole number (0 = create)');
  }
  if (bot.generation !== expectedGeneration + 1) {
    throw ValidationError.single(
      'generation',
      `must be expectedGeneration + 1 (${expectedGeneration + 1}), got ${JSON.stringify(bot.generation)}`,
    );
  }
}
