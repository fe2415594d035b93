/**
 * Everything the benchmark starts is registered here and undone in a fixed order —
 * processes first (a running `berth serve` would start removed bots again), then
 * in-process services, then containers, then files — at the end of the run, on failure
 * and on Ctrl-C / SIGTERM.
 */
const PHASES = ['processes', 'services', 'containers', 'files'] as const;
export type CleanupPhase = (typeof PHASES)[number];

interface Task {
  readonly what: string;
  readonly run: () => Promise<unknown> | unknown;
}

export class Cleanup {
  private readonly tasks = new Map<CleanupPhase, Task[]>(PHASES.map((p) => [p, []]));
  private running: Promise<void> | undefined;

  /** Returns a function that runs the task now (and forgets it), for orderly early cleanup. */
  add(phase: CleanupPhase, what: string, run: Task['run']): () => Promise<void> {
    const task: Task = { what, run };
    this.tasks.get(phase)!.push(task);
    return async () => {
      const list = this.tasks.get(phase)!;
      const index = list.indexOf(task);
      if (index < 0) return;
      list.splice(index, 1);
      await task.run();
    };
  }

  /** Runs every registered task once (latest first within a phase); failures are reported, not thrown. */
  runAll(report: (line: string) => void): Promise<void> {
    this.running ??= (async () => {
      for (const phase of PHASES) {
        const list = this.tasks.get(phase)!.splice(0).reverse();
        for (const task of list) {
          try {
            await task.run();
          } catch (err) {
            report(`cleanup: ${task.what} failed: ${(err as Error).message}`);
          }
        }
      }
    })();
    return this.running;
  }

  /** Ctrl-C, SIGTERM and a crash clean up, then exit with the conventional code. */
  onSignals(report: (line: string) => void): void {
    const handler = (signal: NodeJS.Signals) => {
      report(`\n${signal}: cleaning up what the benchmark started…`);
      void this.runAll(report).finally(() => process.exit(signal === 'SIGINT' ? 130 : 143));
    };
    process.once('SIGINT', handler);
    process.once('SIGTERM', handler);
    const crash = (err: unknown) => {
      report(`\nbench crashed: ${(err as Error)?.stack ?? String(err)}\ncleaning up what the benchmark started…`);
      void this.runAll(report).finally(() => process.exit(1));
    };
    process.once('uncaughtException', crash);
    process.once('unhandledRejection', crash);
  }
}
