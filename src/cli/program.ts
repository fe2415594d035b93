/** The `berth` command line (commander): one builder so tests can parse without a process. */
import { Command, Option } from 'commander';
import { SETTINGS, SETTING_KEYS } from '../config/settings.js';
import type { ServerRole } from '../server/index.js';
import { clientFor, type CliContext, type ClientFlags } from './context.js';
import { inspectBot, listBots, removeBot, setEnabled, showLogs, showState } from './commands/bots.js';
import { deploy, type DeployFlags, type PackageTools } from './commands/deploy.js';
import { listRuns, runNow } from './commands/runs.js';

export interface ProgramDeps {
  readonly tools: PackageTools;
  /** Heavy modules (server, Docker) load only for the commands that need them. */
  readonly serve?: (ctx: CliContext, role: ServerRole, flags: Record<string, unknown>) => Promise<void>;
  readonly demo?: (ctx: CliContext, flags: Record<string, unknown>) => Promise<void>;
  readonly imageBuild?: (ctx: CliContext, flags: Record<string, unknown>) => Promise<void>;
}

const collect = (value: string, previous: string[] = []) => [...previous, value];

function addSettingOptions(cmd: Command): Command {
  cmd.option('--config-file <file>', `YAML file with settings (env ${'BERTH_CONFIG_FILE'})`);
  for (const key of SETTING_KEYS) {
    const info = SETTINGS[key];
    cmd.option(`${info.flag} <value>`, `${info.help} [${info.env}]`);
  }
  return cmd;
}

export function buildProgram(ctx: CliContext, deps: ProgramDeps): Command {
  const program = new Command('berth')
    .description('Keeps bots running: live bots in containers, with state and logs persisted.')
    .addOption(new Option('--api <url>', 'URL of the Berth API [BERTH_API; default http://127.0.0.1:7070]'))
    .addOption(new Option('--token <token>', 'API token [BERTH_API_TOKEN]'))
    .showHelpAfterError('(run with --help for usage)')
    .configureOutput({ writeOut: (s) => ctx.io.out(s), writeErr: (s) => ctx.io.err(s) })
    .exitOverride();

  const client = (cmd: Command) => clientFor(ctx, cmd.optsWithGlobals<ClientFlags>());
  const need = <T>(fn: T | undefined, what: string): T => {
    if (!fn) throw new Error(`${what} is not available in this build`);
    return fn;
  };

  for (const [name, role, description] of [
    ['serve', 'serve', 'run Berth: HTTP API and BotService in one process (the default way to run it)'],
    ['bot-runner', 'bot-runner', 'run only BotService (keeps live bots running); shares store, objects and events settings with `berth api`'],
    ['bot-scheduler', 'bot-scheduler', 'run only ScheduleService (runs scheduled bots); several may share one store: each slot runs once'],
    ['api', 'api', 'run only the HTTP API'],
  ] as const) {
    addSettingOptions(program.command(name).description(description)).action(async (flags: Record<string, unknown>) => {
      await need(deps.serve, name)(ctx, role, flags);
    });
  }

  program
    .command('deploy <package>')
    .description('deploy a bot from a directory, .zip or .tar.gz; an existing id is updated')
    .option('--id <id>', 'bot id (default: bot-config.yaml name, else the directory or file name, slugified)')
    .option('--name <name>', 'display name')
    .option('--runtime <runtime>', 'python3.11 or nodejs20 (aliases python, node); default from the package')
    .option('--entrypoint <path>', 'file to run, relative to the package (default: bot-config.yaml, else main.py, index.js, …)')
    .option('--config <json|file>', "the bot's config: inline JSON or a .json/.yaml file (kept on redeploy when left out)")
    .option('--env <NAME=value>', 'environment variable for the bot; repeat for more (kept on redeploy when left out)', collect)
    .option('--disabled', 'store the bot without starting it')
    .option('--schedule <cron>', 'make it a scheduled bot: 5-field cron or @hourly/@daily/@weekly/@monthly/@yearly')
    .option('--timezone <zone>', 'IANA time zone of the schedule (default UTC)')
    .option('--overlap <policy>', 'when a run is still going at the next slot: skip (default), allow, replace')
    .option('--catch-up <policy>', 'after the scheduler was down: none (default) or latest (run the latest missed slot once)')
    .option('--max-runtime <seconds>', 'stop a run after this many seconds (status timed-out)')
    .option('--memory <MiB>', 'memory limit in MiB, 32–262144 (default 512; kept on redeploy when left out)')
    // The host's CPU count is known only to the runner's Docker adapter, so the CLI cannot warn per bot.
    .option('--cpus <n>', "CPU limit, 0.05–256, e.g. 0.5 (default 1; kept on redeploy when left out); on Docker a value above the host's CPU count is applied as the host's count")
    .option('--pids <n>', 'process/thread limit, 16–65536 (default 256; kept on redeploy when left out)')
    .option('--json', 'print the result as JSON')
    .action(async (target: string, flags: DeployFlags, cmd: Command) => {
      await deploy(ctx, client(cmd), deps.tools, target, flags);
    });

  program
    .command('ls')
    .alias('list')
    .description('list bots: state, restarts, last exit, version, age')
    .option('--json', 'print JSON')
    .action(async (flags: { json?: boolean }, cmd: Command) => {
      await listBots(ctx, client(cmd), flags);
    });

  program
    .command('inspect <id>')
    .description("show a bot's settings and observed status")
    .option('--json', 'print JSON')
    .action(async (id: string, flags: { json?: boolean }, cmd: Command) => inspectBot(ctx, client(cmd), id, flags));

  program
    .command('logs <id>')
    .description("print a bot's log lines (persisted in the object store)")
    .option('--tail <n>', 'only the last n lines, 0 to 100000 (0 with -f: only new lines)')
    .option('--since <duration|time>', 'only lines since then: 10m, 2h, 1d or an ISO time')
    .option('-f, --follow', 'keep printing new lines until Ctrl-C')
    .option('--run <runId>', 'only the lines of one run of a scheduled bot (see `berth runs`)')
    .option('--json', 'print one JSON object per line')
    .action(async (id: string, flags: { tail?: string; since?: string; follow?: boolean; run?: string; json?: boolean }, cmd: Command) =>
      showLogs(ctx, client(cmd), id, flags),
    );

  program
    .command('run <id>')
    .description('run a scheduled bot now (its overlap policy applies)')
    .option('--json', 'print JSON')
    .action(async (id: string, flags: { json?: boolean }, cmd: Command) => {
      await runNow(ctx, client(cmd), id, flags);
    });

  program
    .command('runs <id>')
    .description("a scheduled bot's runs, newest first: trigger, times, status, exit code")
    .option('--limit <n>', 'at most n runs (default 50, at most 500)')
    .option('--json', 'print JSON')
    .action(async (id: string, flags: { limit?: string; json?: boolean }, cmd: Command) => {
      await listRuns(ctx, client(cmd), id, flags);
    });

  program
    .command('state <id>')
    .description("print a bot's persisted state")
    .option('--json', 'print JSON')
    .action(async (id: string, flags: { json?: boolean }, cmd: Command) => {
      await showState(ctx, client(cmd), id, flags);
    });

  for (const [name, enabled] of [['enable', true], ['disable', false]] as const) {
    program
      .command(`${name} <id>`)
      .description(enabled ? 'start a disabled bot' : 'stop a bot (its state is saved) and keep it disabled')
      .option('--json', 'print JSON')
      .action(async (id: string, flags: { json?: boolean }, cmd: Command) => setEnabled(ctx, client(cmd), id, enabled, flags));
  }

  program
    .command('rm <id>')
    .alias('remove')
    .description('stop and remove a bot, and delete its code, state and logs (for an id without a bot: what is left under it)')
    .option('--keep-data', 'keep its code, state and logs in the object store (for an id without a bot: delete only its packages)')
    .option('--json', 'print JSON')
    .action(async (id: string, flags: { keepData?: boolean; json?: boolean }, cmd: Command) => removeBot(ctx, client(cmd), id, flags));

  const image = program.command('image').description('the bot image (Node 20, Python 3.11, the daemon)');
  image
    .command('build')
    .description('build the bot image (offline by default: no registry needed)')
    .option('--offline', 'assemble the root filesystem from local files and Debian packages (default)')
    .option('--dockerfile', 'build from the Dockerfile (needs to pull a base image)')
    .option('--force', 'rebuild even if the image exists')
    .action(async (flags: Record<string, unknown>) => need(deps.imageBuild, 'image build')(ctx, flags));

  addSettingOptions(
    program
      .command('demo')
      .description('start Berth in ./.berth/demo, deploy the example bots, show them running with their logs and state')
      .option('--once', 'exit after showing them, removing what it started'),
  ).action(async (flags: Record<string, unknown>) => need(deps.demo, 'demo')(ctx, flags));

  return program;
}
