/**
 * Bearer-token check. The composition root requires a token whenever the API listens on
 * anything but loopback; when a token is set, every request must carry it.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import { HttpStatusError } from './http-errors.js';

export type TokenCheck = (authorization: string | undefined) => void;

export function bearerTokenCheck(token: string): TokenCheck {
  // Comparing digests keeps the comparison constant-time whatever the lengths.
  const expected = digest(token);
  return (authorization) => {
    const match = /^Bearer[ ]+(\S+)\s*$/i.exec(authorization ?? '');
    if (!match?.[1] || !timingSafeEqual(digest(match[1]), expected)) {
      throw new HttpStatusError(401, 'unauthorized', 'missing or wrong bearer token (send "Authorization: Bearer <token>")');
    }
  };
}

function digest(value: string): Buffer {
  return createHash('sha256').update(value, 'utf8').digest();
}
