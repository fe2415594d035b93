/** Docker Engine access for the benchmark: availability, CLI timing, logs with engine timestamps, cleanup by label. */
import Docker from 'dockerode';
import { spawn } from 'node:child_process';
import { LABELS } from '../../src/ports/runtime.js';

export interface DockerAccess {
  readonly docker: Docker;
}

/** Undefined when both the Engine and the `docker` CLI answer; otherwise why not. */
export async function dockerUnavailable(docker: Docker): Promise<string | undefined> {
  try {
    await (docker.ping as (opts: object) => Promise<unknown>).call(docker, { abortSignal: AbortSignal.timeout(5000) });
  } catch (err) {
    return `Docker Engine not reachable (${(err as Error).message})`;
  }
  const cli = await timeCommand('docker', ['version', '--format', '{{.Client.Version}}']).catch((err: unknown) => err as Error);
  if (cli instanceof Error) return `the docker CLI cannot be run (${cli.message})`;
  if (cli.code !== 0) return `\`docker version\` failed: ${cli.stderr.trim()}`;
  return undefined;
}

export interface CommandTiming {
  readonly ms: number;
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

/** Wall time from spawning a command to its exit, output captured. */
export function timeCommand(command: string, args: readonly string[]): Promise<CommandTiming> {
  return new Promise((resolve, reject) => {
    const began = performance.now();
    const child = spawn(command, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    child.once('error', reject);
    child.once('close', (code) => resolve({ ms: performance.now() - began, code: code ?? -1, stdout, stderr }));
  });
}

/** Removes (force) every container labelled with this instance; returns how many. */
export async function removeInstanceContainers(docker: Docker, instance: string): Promise<number> {
  const list = await docker.listContainers({ all: true, filters: { label: [`${LABELS.instance}=${instance}`] } });
  let next = 0;
  const worker = async () => {
    while (next < list.length) {
      const id = list[next++]!.Id;
      await docker
        .getContainer(id)
        .remove({ force: true, v: true })
        .catch((err: { statusCode?: number }) => {
          if (err.statusCode !== 404 && err.statusCode !== 409) throw err;
        });
    }
  };
  await Promise.all(Array.from({ length: Math.min(8, list.length) }, worker));
  return list.length;
}

/** Engine time strings carry nanoseconds; Date.parse wants at most milliseconds. */
export function engineMs(value: string | undefined): number | undefined {
  if (!value || value.startsWith('0001-01-01')) return undefined;
  const ms = Date.parse(value.replace(/(\.\d{3})\d+/, '$1'));
  return Number.isNaN(ms) ? undefined : ms;
}

export interface TimedLine {
  /** Epoch ms at which the Engine received the line. */
  readonly at: number;
  readonly text: string;
}

/** The container's output so far, each line with the Engine's receive timestamp. */
export async function timedLogLines(docker: Docker, container: string): Promise<TimedLine[]> {
  const raw = (await docker.getContainer(container).logs({ stdout: true, stderr: true, timestamps: true, follow: false })) as unknown;
  const text = demux(Buffer.isBuffer(raw) ? raw : Buffer.from(String(raw)));
  const lines: TimedLine[] = [];
  for (const line of text.split('\n')) {
    const space = line.indexOf(' ');
    if (space <= 0) continue;
    const at = engineMs(line.slice(0, space));
    if (at !== undefined) lines.push({ at, text: line.slice(space + 1) });
  }
  return lines;
}

/** Non-TTY container output is multiplexed: 8-byte frame headers (stream, 0, 0, 0, size32be). */
function demux(buffer: Buffer): string {
  const parts: Buffer[] = [];
  let offset = 0;
  while (offset + 8 <= buffer.length) {
    const size = buffer.readUInt32BE(offset + 4);
    parts.push(buffer.subarray(offset + 8, offset + 8 + size));
    offset += 8 + size;
  }
  return Buffer.concat(parts).toString('utf8');
}

export interface ContainerTimes {
  readonly pid: number;
  readonly createdAt: number | undefined;
  readonly startedAt: number | undefined;
}

export async function containerTimes(docker: Docker, container: string): Promise<ContainerTimes> {
  const info = await docker.getContainer(container).inspect();
  return { pid: info.State.Pid, createdAt: engineMs(info.Created), startedAt: engineMs(info.State.StartedAt) };
}
