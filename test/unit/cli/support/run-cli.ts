/** Runs the `berth` CLI in-process against an API URL, capturing its output and exit code. */
import type { CliContext } from '../../../../src/cli/context.js';
import { archiveTools } from '../../../../src/cli/package-tools.js';
import { buildProgram } from '../../../../src/cli/program.js';
import { reportError } from '../../../../src/cli/report.js';

export interface CliRun {
  readonly code: number;
  readonly out: string;
  readonly err: string;
}

export async function runCli(api: string | undefined, cwd: string, args: readonly string[]): Promise<CliRun> {
  let out = '';
  let err = '';
  const ctx: CliContext = {
    io: { out: (t) => void (out += t), err: (t) => void (err += t) },
    env: { BERTH_API: api },
    cwd,
    now: () => new Date(),
    signal: new AbortController().signal,
  };
  const program = buildProgram(ctx, { tools: archiveTools });
  let code = 0;
  try {
    await program.parseAsync([...args], { from: 'user' });
  } catch (e) {
    code = reportError(e, ctx.io.err);
  }
  return { code, out, err };
}
