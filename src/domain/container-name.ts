/**
 * Container names (DESIGN §5). Docker keeps names unique per Engine, and that uniqueness is
 * what refuses a second start of a bot or a slot; it must hold per Berth installation
 * (`--instance`), not across them, or `npm run demo` and `berth serve` on one Engine could
 * not both run a bot called `python-counter`.
 */
export const DEFAULT_INSTANCE = 'default';

/**
 * `berth-<botId>[-<runId>]` for the default instance, as DESIGN §5 names them;
 * `berth.<instance>.<botId>[-<runId>]` for any other. Bot ids and run ids have no ".", so
 * the last "." ends the instance and no name of one instance can be another's.
 */
export function containerNameFor(instance: string, botId: string, runId?: string): string {
  const local = runId === undefined ? botId : `${botId}-${runId}`;
  return instance === DEFAULT_INSTANCE ? `berth-${local}` : `berth.${instance}.${local}`;
}
