/**
 * What an `objects` setting (`--objects`, DESIGN §2) points to, parsed and validated without
 * loading any adapter: the services open it at once (open.ts), the in-container daemon
 * loads the S3 adapter only for an S3 URL (open-lazily.ts), so a daemon on the filesystem
 * store never loads node:http/https at start-up.
 */
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { ValidationError, errorMessage } from '../../domain/errors.js';
import { S3_CREDENTIAL_ENV, S3_URL_FORMS, parseS3Url, redactS3Url, type S3Config } from './s3/s3-url.js';

export interface OpenObjectStoreOptions {
  /** Filesystem store only: when running as root, new files take the owner of their directory. */
  readonly matchParentOwner?: boolean;
  /** Environment S3 credentials are read from when the URL has none (default process.env). */
  readonly env?: Readonly<Record<string, string | undefined>>;
  /** Names of the credential variables (default BERTH_S3_ACCESS_KEY / BERTH_S3_SECRET_KEY). */
  readonly s3CredentialEnv?: { readonly accessKey: string; readonly secretKey: string };
}

export type ObjectStoreTarget =
  | { readonly kind: 'file'; readonly root: string; readonly matchParentOwner: boolean }
  | { readonly kind: 's3'; readonly config: S3Config };

export const OBJECT_STORE_URL_FORMS = ['file:<path>', 'file://<absolute path>', ...S3_URL_FORMS] as const;

/** The setting as it may be shown in logs and errors: S3 secrets replaced by `***`. */
export function redactObjectStoreUrl(url: string): string {
  return redactS3Url(url);
}

/** Throws a ValidationError (field `objects`) for a URL no adapter accepts. */
export function objectStoreTarget(url: string, opts: OpenObjectStoreOptions = {}): ObjectStoreTarget {
  const scheme = schemeOf(url);
  switch (scheme) {
    case 'file':
      return { kind: 'file', root: fileUrlPath(url), matchParentOwner: opts.matchParentOwner ?? false };
    case 's3':
    case 's3+http':
    case 's3+https':
      return { kind: 's3', config: parseS3Url(url, opts.env ?? process.env, opts.s3CredentialEnv ?? S3_CREDENTIAL_ENV) };
    default:
      throw invalid(url, scheme === undefined ? 'has no scheme' : `has an unknown scheme "${scheme}:"`);
  }
}

function schemeOf(url: string): string | undefined {
  const match = /^([a-z][a-z0-9+.-]*):/i.exec(url);
  return match?.[1]?.toLowerCase();
}

/** `file:relative/or/absolute` (relative to the working directory) or `file:///absolute`. */
function fileUrlPath(url: string): string {
  if (/^file:\/\//i.test(url)) {
    try {
      return fileURLToPath(url);
    } catch (err) {
      throw invalid(url, errorMessage(err));
    }
  }
  const raw = url.slice('file:'.length);
  if (raw === '') throw invalid(url, 'has no path');
  if (raw.includes('\0')) throw invalid(url, 'contains NUL');
  return path.resolve(raw);
}

function invalid(url: string, problem: string): ValidationError {
  return ValidationError.single(
    'objects',
    `${JSON.stringify(redactS3Url(url))} ${problem}; accepted forms: ${OBJECT_STORE_URL_FORMS.join(', ')}`,
  );
}
