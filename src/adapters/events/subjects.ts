/**
 * NATS subject rules, shared by the in-process bus and the tests of every bus: tokens are
 * separated by ".", `*` matches exactly one token, `>` (last token only) one or more.
 */
import { ValidationError } from '../../domain/errors.js';

const BAD_TOKEN_CHARS = /[\s*>]/;

/** A subject a message is published on: no wildcards, no empty tokens, no whitespace. */
export function assertPublishSubject(subject: string): void {
  const tokens = typeof subject === 'string' && subject !== '' ? subject.split('.') : [''];
  if (tokens.some((t) => t === '' || BAD_TOKEN_CHARS.test(t))) {
    throw ValidationError.single('subject', `${JSON.stringify(subject)} is not a valid subject (dot-separated tokens, no spaces or wildcards)`);
  }
}

/** A subscription pattern: wildcards only as whole tokens, `>` only last. */
export function assertSubscribePattern(pattern: string): void {
  const tokens = typeof pattern === 'string' && pattern !== '' ? pattern.split('.') : [''];
  const ok = tokens.every(
    (t, i) => t === '*' || (t === '>' && i === tokens.length - 1) || (t !== '' && !BAD_TOKEN_CHARS.test(t)),
  );
  if (!ok) {
    throw ValidationError.single('subject', `${JSON.stringify(pattern)} is not a valid subscription (tokens, "*" for one token, ">" last for the rest)`);
  }
}

export function subjectMatches(pattern: string, subject: string): boolean {
  const p = pattern.split('.');
  const s = subject.split('.');
  for (let i = 0; i < p.length; i++) {
    const token = p[i];
    if (token === '>') return s.length > i;
    if (i >= s.length) return false;
    if (token !== '*' && token !== s[i]) return false;
  }
  return p.length === s.length;
}
