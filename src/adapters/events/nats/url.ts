/**
 * The `events` setting for NATS: `nats://[user:pass@|token@]host[:port][,host[:port]…]`.
 * Parsed up front so that a typo is a clear error at start-up, not an endless reconnect.
 */
import { ValidationError } from '../../../domain/errors.js';

export const NATS_URL_FORM = 'nats://host[:port][,host[:port]…] (optionally nats://user:pass@host or nats://token@host)';

export interface NatsTarget {
  /** `host:port` of every server, in order. */
  readonly servers: readonly string[];
  readonly user?: string;
  readonly pass?: string;
  readonly token?: string;
  /** The URL without credentials, for logs and messages. */
  readonly display: string;
}

export function parseNatsUrl(url: string): NatsTarget {
  const bad = (problem: string) => ValidationError.single('events', `${JSON.stringify(redact(url))} ${problem}; accepted form: ${NATS_URL_FORM}`);
  if (!/^nats:\/\//i.test(url)) throw bad('does not start with "nats://"');
  const rest = url.slice('nats://'.length);
  const at = rest.lastIndexOf('@');
  const userinfo = at >= 0 ? rest.slice(0, at) : undefined;
  const hostList = at >= 0 ? rest.slice(at + 1) : rest;
  if (/[/?#]/.test(hostList.replace(/\/$/, ''))) throw bad('has a path, query or fragment (NATS URLs name servers only)');
  const servers = hostList.replace(/\/$/, '').split(',').map((s) => s.trim());
  if (servers.length === 0 || servers.some((s) => s === '')) throw bad('names no server');
  const normalised = servers.map((s) => {
    const m = /^(\[[0-9a-f:.]+\]|[a-z0-9.-]+)(?::(\d{1,5}))?$/i.exec(s);
    if (!m) throw bad(`has an invalid server "${s}"`);
    const port = m[2] === undefined ? 4222 : Number(m[2]);
    if (port < 1 || port > 65535) throw bad(`has an invalid port in "${s}"`);
    return `${m[1]}:${port}`;
  });
  const credentials = parseUserinfo(userinfo);
  return { servers: normalised, ...credentials, display: `nats://${normalised.join(',')}` };
}

function parseUserinfo(userinfo: string | undefined): { user?: string; pass?: string; token?: string } {
  if (userinfo === undefined || userinfo === '') return {};
  const colon = userinfo.indexOf(':');
  if (colon < 0) return { token: decodeURIComponent(userinfo) };
  return { user: decodeURIComponent(userinfo.slice(0, colon)), pass: decodeURIComponent(userinfo.slice(colon + 1)) };
}

/** Hides credentials in a URL that is about to be shown. */
export function redact(url: string): string {
  return url.replace(/^(nats:\/\/)[^@]*@/i, '$1***@');
}
