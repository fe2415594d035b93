/**
 * Picks the desired-state store adapter from the `store` setting (`--store`, DESIGN §2).
 */
import { ValidationError } from '../../domain/errors.js';
import type { DesiredStateStore } from '../../ports/store.js';
import { MongoStore } from './mongodb/mongo-store.js';
import { MONGODB_URL_FORMS } from './mongodb/url.js';
import { SqliteStore } from './sqlite/sqlite-store.js';

export const STORE_URL_FORMS = ['sqlite:<path>', 'sqlite://<absolute path>', 'sqlite::memory:', ...MONGODB_URL_FORMS] as const;

/**
 * Nothing is opened until `init()` (or the first call): the SQLite file's directory is
 * created then, the MongoDB connection made and its indexes created. A malformed URL
 * throws ValidationError (field `store`) here already.
 */
export function openStore(url: string): DesiredStateStore {
  const scheme = /^([a-z][a-z0-9+.-]*):/i.exec(url)?.[1]?.toLowerCase();
  switch (scheme) {
    case 'sqlite':
      return new SqliteStore(sqlitePath(url));
    case 'mongodb':
    case 'mongodb+srv':
      return new MongoStore(url);
    default:
      throw invalid(url, scheme === undefined ? 'has no scheme' : `has an unknown scheme "${scheme}:"`);
  }
}

/**
 * The file of a `sqlite:` store URL (`:memory:` for the in-memory database); undefined for
 * other stores. Throws ValidationError (field `store`) for a malformed SQLite URL.
 */
export function sqliteFile(url: string): string | undefined {
  return /^sqlite:/i.test(url) ? sqlitePath(url) : undefined;
}

function sqlitePath(url: string): string {
  let file = url.slice('sqlite:'.length);
  if (file.startsWith('//')) {
    file = file.slice(2);
    if (!file.startsWith('/')) throw invalid(url, 'must give an absolute path after "sqlite://"');
  }
  if (file === '') throw invalid(url, 'has no path');
  if (file.includes('\0')) throw invalid(url, 'contains NUL');
  return file;
}

function invalid(url: string, problem: string): ValidationError {
  return ValidationError.single('store', `${JSON.stringify(url)} ${problem}; accepted forms: ${STORE_URL_FORMS.join(', ')}`);
}
