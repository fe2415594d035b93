/**
 * The `--objects` URL of the S3 adapter (DESIGN §2) and where its credentials come from.
 *
 *   s3://[ACCESS:SECRET@]host[:port]/bucket[?region=…]        HTTPS
 *   s3+https://[ACCESS:SECRET@]host[:port]/bucket[?region=…]  HTTPS (explicit)
 *   s3+http://[ACCESS:SECRET@]host[:port]/bucket[?region=…]   plain HTTP (MinIO on a private network, tests)
 *
 * Parameters: `region` (default us-east-1); `botCredentials=<absolute path>`, a JSON file of
 * per-bot credentials for the daemons (bot-credentials.ts).
 *
 * Credentials in the URL win; otherwise they come from BERTH_S3_ACCESS_KEY and
 * BERTH_S3_SECRET_KEY (services) or BERTH_SECRET_S3_ACCESS_KEY / BERTH_SECRET_S3_SECRET_KEY
 * (the in-container daemon, which strips BERTH_SECRET_* from the bot's environment).
 * Nothing here ever puts a secret into an error message: errors show the redacted URL.
 */
import { ValidationError } from '../../../domain/errors.js';

export const S3_URL_FORMS = [
  's3://[ACCESS:SECRET@]host[:port]/bucket[?region=…][&botCredentials=/abs/file.json] (HTTPS)',
  's3+https://…',
  's3+http://… (plain HTTP)',
] as const;

/** Service-side credential variables (when the URL has none). */
export const S3_CREDENTIAL_ENV = { accessKey: 'BERTH_S3_ACCESS_KEY', secretKey: 'BERTH_S3_SECRET_KEY' } as const;
/** Daemon-side credential variables: BERTH_SECRET_* never reach the bot (daemon-contract.ts). */
export const S3_DAEMON_SECRET_ENV = { accessKey: 'BERTH_SECRET_S3_ACCESS_KEY', secretKey: 'BERTH_SECRET_S3_SECRET_KEY' } as const;

export const DEFAULT_S3_REGION = 'us-east-1';

export interface S3Location {
  readonly useSSL: boolean;
  readonly host: string;
  readonly port: number;
  readonly bucket: string;
  readonly region: string;
  /** Per-bot credentials file for the daemons; undefined: daemons get the service's credentials. */
  readonly botCredentialsFile?: string;
}

export interface S3Credentials {
  readonly accessKey: string;
  readonly secretKey: string;
}

export interface S3Config extends S3Location {
  readonly credentials: S3Credentials;
}

type Env = Readonly<Record<string, string | undefined>>;

/** S3's bucket naming rules (3–63 chars, lower case, digits, dots, hyphens), without dots for path-style safety. */
const BUCKET = /^[a-z0-9](?:[a-z0-9-]{1,61})[a-z0-9]$/;

export function isS3Scheme(scheme: string): boolean {
  return scheme === 's3' || scheme === 's3+http' || scheme === 's3+https';
}

/** The URL with any password replaced by `***`: safe for logs and errors. */
export function redactS3Url(url: string): string {
  return url.replace(/^([a-z0-9+.-]+:\/\/)([^@/?#]*)@/i, (_m, scheme: string, userinfo: string) => {
    const user = userinfo.split(':')[0] ?? '';
    return `${scheme}${user === '' ? '' : `${decodeSafe(user)}:`}***@`;
  });
}

function decodeSafe(v: string): string {
  try {
    return decodeURIComponent(v);
  } catch {
    return v;
  }
}

export interface CredentialEnvNames {
  readonly accessKey: string;
  readonly secretKey: string;
}

export function parseS3Url(url: string, env: Env = process.env, credentialEnv: CredentialEnvNames = S3_CREDENTIAL_ENV): S3Config {
  const shown = JSON.stringify(redactS3Url(url));
  const invalid = (problem: string): ValidationError =>
    ValidationError.single('objects', `${shown} ${problem}; accepted forms: ${S3_URL_FORMS.join(', ')}`);
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw invalid('is not a valid URL');
  }
  const scheme = parsed.protocol.slice(0, -1).toLowerCase();
  if (!isS3Scheme(scheme)) throw invalid(`has the scheme "${scheme}:", not s3:, s3+http: or s3+https:`);
  const useSSL = scheme !== 's3+http';
  if (parsed.hostname === '') throw invalid('has no host');
  const port = parsed.port === '' ? (useSSL ? 443 : 80) : Number(parsed.port);
  const segments = parsed.pathname.split('/').filter((s) => s !== '');
  if (segments.length !== 1) throw invalid('must name exactly one bucket as its path (e.g. /berth)');
  const bucket = decodeSafe(segments[0] ?? '');
  if (!BUCKET.test(bucket)) throw invalid(`names the bucket ${JSON.stringify(bucket)}: use 3–63 lower-case letters, digits and "-"`);
  for (const name of parsed.searchParams.keys()) {
    if (name !== 'region' && name !== 'botCredentials') {
      throw invalid(`has the unknown parameter ${JSON.stringify(name)} (accepted: "region", "botCredentials")`);
    }
  }
  const botCredentialsFile = parsed.searchParams.get('botCredentials') ?? undefined;
  if (botCredentialsFile !== undefined && !botCredentialsFile.startsWith('/')) {
    throw invalid(`has botCredentials=${JSON.stringify(botCredentialsFile)}: give an absolute path`);
  }
  const region = parsed.searchParams.get('region') ?? DEFAULT_S3_REGION;
  if (!/^[a-z0-9-]{1,64}$/.test(region)) throw invalid(`has the region ${JSON.stringify(region)}: use letters, digits and "-"`);
  const credentials = credentialsOf(parsed, env, credentialEnv, invalid);
  // IPv6 hosts come back bracketed from URL; the client wants them bare.
  const host = parsed.hostname.replace(/^\[(.*)\]$/, '$1');
  return { useSSL, host, port, bucket, region, credentials, ...(botCredentialsFile !== undefined ? { botCredentialsFile } : {}) };
}

function credentialsOf(
  parsed: URL,
  env: Env,
  names: CredentialEnvNames,
  invalid: (problem: string) => ValidationError,
): S3Credentials {
  if (parsed.username !== '' || parsed.password !== '') {
    if (parsed.username === '' || parsed.password === '') throw invalid('must give both ACCESS and SECRET before "@", or neither');
    return { accessKey: decodeSafe(parsed.username), secretKey: decodeSafe(parsed.password) };
  }
  const accessKey = env[names.accessKey]?.trim() ?? '';
  const secretKey = env[names.secretKey]?.trim() ?? '';
  if (accessKey === '' || secretKey === '') {
    throw invalid(`has no credentials: put ACCESS:SECRET@ in the URL or set ${names.accessKey} and ${names.secretKey}`);
  }
  return { accessKey, secretKey };
}

/** The URL without credentials, for BERTH_DAEMON_OBJECTS (credentials travel as BERTH_SECRET_*). */
export function s3UrlWithoutCredentials(loc: S3Location): string {
  const scheme = loc.useSSL ? 's3+https' : 's3+http';
  const host = loc.host.includes(':') ? `[${loc.host}]` : loc.host;
  return `${scheme}://${host}:${loc.port}/${loc.bucket}?region=${encodeURIComponent(loc.region)}`;
}
