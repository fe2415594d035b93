/** Event subjects and payloads of DESIGN §9. */
import type { Phase } from './status.js';

export interface BotChangedEvent {
  readonly id: string;
  readonly generation: number;
  readonly op: 'created' | 'updated' | 'deleted';
}

export interface BotStatusEvent {
  readonly id: string;
  readonly phase: Phase;
  readonly at: string;
}

/** A manual run asked for through an API process that has no scheduler of its own. */
export interface RunRequestedEvent {
  readonly id: string;
  readonly runId: string;
  readonly at: string;
}

export const subjects = {
  botChanged: (id: string) => `berth.bot.${id}.changed`,
  botStatus: (id: string) => `berth.bot.${id}.status`,
  anyBotChanged: 'berth.bot.*.changed',
  anyBotStatus: 'berth.bot.*.status',
  runRequested: (id: string) => `berth.bot.${id}.run`,
  anyRunRequested: 'berth.bot.*.run',
} as const;
