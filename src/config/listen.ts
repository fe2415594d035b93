/** The `listen` setting: where the HTTP API binds. */
import { isIP } from 'node:net';

export interface ListenAddress {
  readonly host: string;
  readonly port: number;
}

export const LISTEN_FORMS = 'host:port (e.g. 127.0.0.1:7070, [::1]:7070, localhost:7070, 0.0.0.0:7070), :port or port; port 0 picks a free port';

/** Undefined when the text is not an address. */
export function parseListen(input: string | number): ListenAddress | undefined {
  const text = String(input).trim();
  let host = '127.0.0.1';
  let portText: string;
  const bracketed = /^\[([^\]]+)\]:(\d+)$/.exec(text);
  if (bracketed) {
    host = bracketed[1] ?? '';
    portText = bracketed[2] ?? '';
    if (isIP(host) !== 6) return undefined;
  } else if (/^\d+$/.test(text)) {
    portText = text;
  } else {
    const colon = text.lastIndexOf(':');
    if (colon < 0) return undefined;
    const hostPart = text.slice(0, colon);
    portText = text.slice(colon + 1);
    if (hostPart !== '') host = hostPart;
    if (hostPart.includes(':')) return undefined; // IPv6 needs brackets
    if (isIP(host) === 0 && !/^[A-Za-z0-9](?:[A-Za-z0-9.-]{0,252})$/.test(host)) return undefined;
  }
  if (!/^\d+$/.test(portText)) return undefined;
  const port = Number(portText);
  if (port < 0 || port > 65535) return undefined;
  return { host, port };
}

/** Whether only this machine can reach the address. */
export function isLoopback(host: string): boolean {
  const h = host.toLowerCase();
  if (h === 'localhost' || h === '::1' || h === '0:0:0:0:0:0:0:1') return true;
  if (isIP(h) === 4) return h.startsWith('127.');
  if (h.startsWith('::ffff:')) return h.slice('::ffff:'.length).startsWith('127.');
  return false;
}

export function formatListen({ host, port }: ListenAddress): string {
  return isIP(host) === 6 ? `[${host}]:${port}` : `${host}:${port}`;
}
