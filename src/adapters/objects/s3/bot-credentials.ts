/**
 * Per-bot S3 credentials (docs/operations.md, "Per-bot isolation on MinIO"). With
 * `?botCredentials=<file>` on the objects URL, each bot's daemon gets its own access key —
 * one the operator created on MinIO with a policy limited to that bot's prefixes — instead of
 * Berth's own. The file is JSON, `{ "<botId>": { "accessKey": "…", "secretKey": "…" } }`,
 * readable by Berth's user only (mode 0600), and read at every container start, so adding a
 * bot's entry needs no restart. A bot without an entry is not started: falling back to
 * Berth's own credentials would give that bot access to every other bot's objects.
 */
import { readFile, stat } from 'node:fs/promises';
import { ValidationError, errorMessage } from '../../../domain/errors.js';
import type { S3Credentials } from './s3-url.js';

const FIELD = 'objects.botCredentials';

export async function readBotCredentials(file: string, botId: string): Promise<S3Credentials> {
  let text: string;
  try {
    const info = await stat(file);
    if ((info.mode & 0o077) !== 0) {
      throw ValidationError.single(FIELD, `${file} is readable or writable by other users (mode ${(info.mode & 0o777).toString(8)}): chmod 600 it`);
    }
    text = await readFile(file, 'utf8');
  } catch (err) {
    if (err instanceof ValidationError) throw err;
    throw ValidationError.single(FIELD, `cannot read ${file}: ${errorMessage(err)}`);
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    // The parser's message may quote the file's text, that is, secrets: not passed on.
    throw ValidationError.single(FIELD, `${file} is not valid JSON`);
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
    throw ValidationError.single(FIELD, `${file} must hold a JSON object: { "<botId>": { "accessKey": "…", "secretKey": "…" } }`);
  }
  const entry = (parsed as Record<string, unknown>)[botId];
  if (entry === undefined) {
    throw ValidationError.single(`${FIELD}.${botId}`, `${file} has no credentials for bot ${JSON.stringify(botId)}; it is not started with Berth's own`);
  }
  const { accessKey, secretKey } = (entry ?? {}) as Record<string, unknown>;
  if (typeof accessKey !== 'string' || accessKey.trim() === '' || typeof secretKey !== 'string' || secretKey.trim() === '') {
    throw ValidationError.single(`${FIELD}.${botId}`, `${file}: the entry of ${JSON.stringify(botId)} needs non-empty "accessKey" and "secretKey" strings`);
  }
  return { accessKey: accessKey.trim(), secretKey: secretKey.trim() };
}
