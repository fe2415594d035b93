/**
 * The `store` setting for MongoDB: `mongodb://[user:pass@]host[:port][,host…]/<database>[?options]`
 * or `mongodb+srv://…`. Checked before anything connects, so a wrong URL is a clear
 * setting error instead of a connection failure much later.
 */
import { MongoClient, type MongoClientOptions } from 'mongodb';
import { ValidationError, errorMessage } from '../../../domain/errors.js';

export const MONGODB_URL_FORMS = ['mongodb://host[:port][,host…]/<database>[?options]', 'mongodb+srv://host/<database>[?options]'] as const;

/** Used when the URL names no database. */
export const DEFAULT_DATABASE = 'berth';

/**
 * How long an operation waits for a reachable server before failing. The driver's 30 s
 * default would keep health reports and reconcile passes stuck long after the server went
 * away; a URL that sets these options itself wins.
 */
export const DEFAULT_TIMEOUTS_MS = { serverSelectionTimeoutMS: 2_000, connectTimeoutMS: 2_000, socketTimeoutMS: 20_000 } as const;

export interface MongoTarget {
  readonly url: string;
  readonly database: string;
  /** The URL with any password replaced, for messages and logs. */
  readonly redacted: string;
  readonly options: MongoClientOptions;
}

// Characters MongoDB refuses in database names (plus the URL's own delimiters).
const BAD_DATABASE_CHARS = /[/\\. "$*<>:|?\0]/;

export function parseMongoUrl(url: string): MongoTarget {
  const match = /^(mongodb(?:\+srv)?):\/\/([^/?#]*)(?:\/([^?#]*))?(?:\?[^#]*)?$/i.exec(url);
  if (!match) throw invalid(url, 'is not of the form');
  const hosts = match[2] ?? '';
  const hostPart = hosts.slice(hosts.lastIndexOf('@') + 1);
  if (hostPart === '') throw invalid(url, 'names no host');
  let database = DEFAULT_DATABASE;
  if (match[3]) {
    try {
      database = decodeURIComponent(match[3]);
    } catch {
      throw invalid(url, 'has a badly encoded database name');
    }
    if (BAD_DATABASE_CHARS.test(database) || Buffer.byteLength(database) > 63) {
      throw invalid(url, `names an invalid database ${JSON.stringify(database)} (at most 63 bytes, none of / \\ . " $ * < > : | ?)`);
    }
  }
  const options: MongoClientOptions = { appName: 'berth' };
  for (const [name, ms] of Object.entries(DEFAULT_TIMEOUTS_MS)) {
    if (!new RegExp(`[?&]${name}=`, 'i').test(url)) Object.assign(options, { [name]: ms });
  }
  // The driver parses the whole URL (hosts, ports, options) without connecting.
  try {
    new MongoClient(url, options);
  } catch (err) {
    throw invalid(url, `is not a valid MongoDB URL (${redact(errorMessage(err))})`, err);
  }
  return { url, database, redacted: redact(url), options };
}

/** Hides the password of `user:password@` wherever it appears. */
export function redact(text: string): string {
  return text.replace(/(mongodb(?:\+srv)?:\/\/[^:/@?#\s]*):[^@/?#\s]*@/gi, '$1:***@');
}

function invalid(url: string, problem: string, cause?: unknown): ValidationError {
  const message = `${JSON.stringify(redact(url))} ${problem}; accepted forms: ${MONGODB_URL_FORMS.join(', ')}`;
  return new ValidationError([{ field: 'store', message }], cause === undefined ? undefined : { cause });
}
