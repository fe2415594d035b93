/**
 * Runs once before the suite. Shared expensive fixtures (the bot image) are prepared by
 * the tests that need them through test/support helpers, so a unit-only run stays fast.
 */
export default function setup(): void {
  process.env.BERTH_LOG_LEVEL ??= 'warn';
}
