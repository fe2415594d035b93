/**
 * fastify's JSON parser refuses bodies with `__proto__` keys, or `constructor` keys holding
 * `prototype` (secure-json-parse, prototype poisoning), with the same error as broken JSON.
 * This tells the two apart, so the client learns which key to rename instead of hunting for
 * a syntax error that is not there.
 */
import { HttpStatusError } from './http-errors.js';

/** The 400 for a body that is valid JSON refused only for such a key; undefined otherwise. */
export function prototypeKeyError(text: string): HttpStatusError | undefined {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return undefined;
  }
  const path = prototypeKeyPath(value);
  if (path === undefined) return undefined;
  return new HttpStatusError(
    400,
    'malformed-json',
    `request body has the key ${JSON.stringify(path)}, which is refused: "__proto__" keys and "constructor" keys holding "prototype" ` +
      'could change the prototype of objects on the server (prototype poisoning); rename or remove it',
  );
}

/** The dotted path of the first such key, walked without recursion (bodies may nest deeply). */
export function prototypeKeyPath(root: unknown): string | undefined {
  const stack: { value: unknown; path: string }[] = [{ value: root, path: '' }];
  while (stack.length > 0) {
    const { value, path } = stack.pop()!;
    if (value === null || typeof value !== 'object') continue;
    const isArray = Array.isArray(value);
    for (const [key, child] of Object.entries(value)) {
      const childPath = isArray ? `${path}[${key}]` : path === '' ? key : `${path}.${key}`;
      if (!isArray && key === '__proto__') return childPath;
      if (!isArray && key === 'constructor' && hasOwnPrototype(child)) return `${childPath}.prototype`;
      stack.push({ value: child, path: childPath });
    }
  }
  return undefined;
}

function hasOwnPrototype(value: unknown): boolean {
  return value !== null && typeof value === 'object' && Object.prototype.hasOwnProperty.call(value, 'prototype');
}
