/**
 * The `berth` executable (bin/berth.js imports the compiled file). Turns every failure into
 * one clear line on stderr and a non-zero exit code; Ctrl-C aborts long-running commands
 * gracefully, a second Ctrl-C exits at once.
 */
import { BerthError } from '../domain/errors.js';
import type { CliContext } from './context.js';
import { CliError } from './errors.js';
import { archiveTools } from './package-tools.js';
import { buildProgram } from './program.js';
import { reportError } from './report.js';

export async function main(argv: readonly string[]): Promise<number> {
  const controller = new AbortController();
  let interrupts = 0;
  const onSignal = (sig: NodeJS.Signals) => {
    interrupts += 1;
    if (interrupts > 1) {
      process.stderr.write(`berth: ${sig} again: exiting now\n`);
      process.exit(130);
    }
    controller.abort(new Error(`received ${sig}`));
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  // The event loop ran dry while the command still waits: a promise nothing will ever
  // settle (say, a connection dropped without an error). Node would exit 13 without a word.
  const onIdle = () => {
    process.stderr.write('berth: the command stopped with nothing left to wait for (a connection closed without an answer?); please report this\n');
    process.exit(1);
  };
  process.on('beforeExit', onIdle);
  const ctx: CliContext = {
    io: { out: (t) => void process.stdout.write(t), err: (t) => void process.stderr.write(t) },
    env: process.env,
    cwd: process.cwd(),
    now: () => new Date(),
    signal: controller.signal,
  };
  const program = buildProgram(ctx, {
    tools: archiveTools,
    serve: async (c, role, flags) => (await import('./commands/serve.js')).serve(c, role, flags),
    demo: async (c, flags) => (await import('./commands/demo.js')).demo(c, flags, archiveTools),
    imageBuild: async (c, flags) => (await import('./commands/image.js')).imageBuild(c, flags),
  });
  try {
    await program.parseAsync([...argv], { from: 'node' });
    return 0;
  } catch (err) {
    if (controller.signal.aborted && !(err instanceof CliError) && !(err instanceof BerthError)) return 130;
    return reportError(err, ctx.io.err);
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    process.off('beforeExit', onIdle);
  }
}

const code = await main(process.argv);
// Let stdout drain; open handles of stopped services must not keep the CLI alive.
process.exitCode = code;
setTimeout(() => process.exit(code), 50).unref();
