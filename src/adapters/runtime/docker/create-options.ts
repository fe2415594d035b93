/** A ContainerSpec as the Engine's create request (DESIGN §5). Pure, so it is unit-tested. */
import type Dockerode from 'dockerode';
import { LABELS, type ContainerSpec } from '../../../ports/runtime.js';

/**
 * The daemon runs as root inside the container only to set up and then drop to the bot
 * user (uid 10001); these are the capabilities that needs, everything else is dropped:
 * - CHOWN, FOWNER: hand /bot and /state (extracted code, restored state) to the bot user
 *   and fix modes on files it does not own;
 * - DAC_OVERRIDE: read and write bind-mounted object-store files owned by the host user;
 * - SETUID, SETGID: switch to the bot user before exec'ing the bot;
 * - KILL: forward SIGTERM to the bot's process, which runs under another uid.
 * `no-new-privileges` keeps the bot from regaining any of them through setuid binaries.
 */
export const CAPABILITIES = ['CHOWN', 'DAC_OVERRIDE', 'FOWNER', 'SETUID', 'SETGID', 'KILL'] as const;

export const LOG_CONFIG = { Type: 'json-file', Config: { 'max-size': '10m', 'max-file': '3' } } as const;

export function containerLabels(spec: ContainerSpec, instance: string, installation?: string): Record<string, string> {
  const labels: Record<string, string> = {
    [LABELS.managed]: 'true',
    [LABELS.bot]: spec.botId,
    [LABELS.kind]: spec.kind,
    [LABELS.spec]: spec.specHash,
    [LABELS.instance]: instance,
  };
  if (installation !== undefined) labels[LABELS.installation] = installation;
  if (spec.runId !== undefined) labels[LABELS.run] = spec.runId;
  return labels;
}

/**
 * `hostCpus`: the Engine's CPU count. A CPU limit is a ceiling, and one above the machine is
 * the machine; the Engine refuses it instead ("Range of CPUs is from 0.01 to 2.00"), which
 * would leave a bot deployed with `cpus: 4` on a 2-CPU host never starting.
 */
export function createOptions(spec: ContainerSpec, instance: string, hostCpus?: number, installation?: string): Dockerode.ContainerCreateOptions {
  const memoryBytes = Math.round(spec.memoryMb * 1024 * 1024);
  const cpus = hostCpus !== undefined && hostCpus > 0 ? Math.min(spec.cpus, hostCpus) : spec.cpus;
  return {
    name: spec.name,
    Image: spec.image,
    Env: Object.entries(spec.env).map(([k, v]) => `${k}=${v}`),
    ...(spec.command ? { Cmd: [...spec.command] } : {}),
    Labels: containerLabels(spec, instance, installation),
    StopSignal: 'SIGTERM',
    StopTimeout: spec.stopGraceSeconds,
    HostConfig: {
      RestartPolicy: { Name: spec.restartPolicy, MaximumRetryCount: 0 },
      Init: true,
      Memory: memoryBytes,
      // Equal to Memory: no swap on top, so the limit means what it says.
      MemorySwap: memoryBytes,
      NanoCpus: Math.round(cpus * 1e9),
      PidsLimit: spec.pids,
      LogConfig: { Type: LOG_CONFIG.Type, Config: { ...LOG_CONFIG.Config } },
      SecurityOpt: ['no-new-privileges'],
      CapDrop: ['ALL'],
      CapAdd: [...CAPABILITIES],
      NetworkMode: spec.networkMode,
      Mounts: spec.mounts.map((m) => ({ Type: 'bind' as const, Source: m.source, Target: m.target, ReadOnly: m.readOnly })),
    },
  };
}
