/**
 * The spec hash (DESIGN §3): sha256 of the canonical JSON of everything that shapes the
 * container. Written on the container as the `berth.spec` label; a live bot is replaced
 * exactly when it changes. Name, enabled and schedule do not shape the container.
 */
import { createHash } from 'node:crypto';
import type { BotSpec } from './bot.js';

/** JSON with object keys sorted at every level, so equal values hash equally. */
export function canonicalJson(value: unknown): string {
  return JSON.stringify(sortKeys(value));
}

function sortKeys(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(sortKeys);
  if (value !== null && typeof value === 'object') {
    const out: Record<string, unknown> = {};
    for (const key of Object.keys(value).sort()) {
      const v = (value as Record<string, unknown>)[key];
      if (v !== undefined) out[key] = sortKeys(v);
    }
    return out;
  }
  return value;
}

export function sha256Hex(data: string | Buffer): string {
  return createHash('sha256').update(data).digest('hex');
}

/** Everything the running container depends on, besides the bot's own identity. */
export interface ContainerShape {
  readonly image: string;
  readonly spec: Pick<BotSpec, 'kind' | 'runtime' | 'entrypoint' | 'config' | 'env' | 'resources' | 'flavor'> & {
    readonly code: Pick<BotSpec['code'], 'sha256' | 'format'>;
  };
}

export function specHash(spec: BotSpec, image: string): string {
  const shape: ContainerShape = {
    image,
    spec: {
      kind: spec.kind,
      runtime: spec.runtime,
      entrypoint: spec.entrypoint,
      code: { sha256: spec.code.sha256, format: spec.code.format },
      flavor: spec.flavor,
      config: spec.config,
      env: spec.env,
      resources: spec.resources,
    },
  };
  return sha256Hex(canonicalJson(shape));
}

/** Fields whose change is a new generation of the desired state (everything but bookkeeping). */
export function sameDesiredState(a: BotSpec, b: BotSpec): boolean {
  const pick = (s: BotSpec) => ({
    id: s.id,
    name: s.name,
    kind: s.kind,
    runtime: s.runtime,
    entrypoint: s.entrypoint,
    code: s.code,
    flavor: s.flavor,
    config: s.config,
    env: s.env,
    schedule: s.schedule,
    resources: s.resources,
    enabled: s.enabled,
  });
  return canonicalJson(pick(a)) === canonicalJson(pick(b));
}
