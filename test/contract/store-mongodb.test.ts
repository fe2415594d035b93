/**
 * The MongoDB desired-state store: the shared contract against CongoDB (a MongoDB
 * wire-protocol server, started here as a child process) and, when BERTH_TEST_MONGODB_URL
 * is set, against that server too (a real mongod); plus what only this adapter has: URL
 * checks, indexes, the document layout, and an outage of the server.
 */
import { MongoClient, ObjectId } from 'mongodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MongoStore } from '../../src/adapters/store/mongodb/mongo-store.js';
import { openStore } from '../../src/adapters/store/open.js';
import { UnavailableError, ValidationError } from '../../src/domain/errors.js';
import {
  dropDatabase,
  externalMongoUrl,
  startMongoTestServer,
  stopAllMongoTestServers,
  uniqueDatabase,
  type MongoTestServer,
} from '../support/mongo-server.js';
import { waitFor } from '../support/wait.js';
import { desiredStateStoreContract, makeBot } from './store.contract.js';

let server: MongoTestServer;
beforeAll(async () => {
  server = await startMongoTestServer();
});
afterAll(async () => {
  await server?.dispose();
  await stopAllMongoTestServers();
});

function fixtureFor(url: () => string) {
  return async () => {
    const database = url();
    return {
      store: new MongoStore(database),
      connect: async () => new MongoStore(database),
      cleanup: () => dropDatabase(database),
    };
  };
}

desiredStateStoreContract('mongodb (CongoDB via smartmongo 2.2.0)', fixtureFor(() => server.url(uniqueDatabase('contract'))));

const external = externalMongoUrl('probe');
if (external) {
  desiredStateStoreContract('mongodb (BERTH_TEST_MONGODB_URL)', fixtureFor(() => externalMongoUrl(uniqueDatabase('contract'))!));
} else {
  describe('DesiredStateStore contract: mongodb (BERTH_TEST_MONGODB_URL)', () => {
    it.skip('runs only when BERTH_TEST_MONGODB_URL names a real mongod (none can be installed on our machines)', () => {});
  });
}

function rejection(fn: () => unknown): unknown {
  try {
    fn();
  } catch (err) {
    return err;
  }
  throw new Error('expected a throw');
}

describe('MongoStore URLs', () => {
  it('opens mongodb:// and mongodb+srv:// URLs without connecting, database from the path (default berth)', () => {
    const a = openStore('mongodb://127.0.0.1:1/fleet?directConnection=true');
    expect(a).toBeInstanceOf(MongoStore);
    expect((a as MongoStore).database).toBe('fleet');
    expect((openStore('mongodb://user:pw@db1:27017,db2:27017/?replicaSet=rs0') as MongoStore).database).toBe('berth');
    expect((openStore('mongodb+srv://user:pw@cluster.example.net/prod') as MongoStore).database).toBe('prod');
    expect((openStore('mongodb://localhost') as MongoStore).database).toBe('berth');
  });

  it('keeps server-selection and connect timeouts short unless the URL sets them', () => {
    const plain = openStore('mongodb://127.0.0.1/x') as MongoStore;
    expect(plain.target.options.serverSelectionTimeoutMS).toBeLessThanOrEqual(5_000);
    const own = openStore('mongodb://127.0.0.1/x?serverSelectionTimeoutMS=9000') as MongoStore;
    expect(own.target.options.serverSelectionTimeoutMS).toBeUndefined();
  });

  it('rejects malformed URLs with a ValidationError naming `store`, the problem and the accepted forms, password hidden', () => {
    const cases: [string, RegExp][] = [
      ['mongodb://', /names no host/],
      ['mongodb:///berth', /names no host/],
      ['mongodb://user:secret@host/bad.name', /invalid database "bad.name"/],
      ['mongodb://host:notaport/db', /not a valid MongoDB URL/],
      ['mongodb+srv://host:27017/db', /not a valid MongoDB URL/],
      ['mongodb://host/db?unknownOption=1&w=banana', /not a valid MongoDB URL/],
      ['mongodb:host/db', /not of the form/],
    ];
    for (const [url, problem] of cases) {
      const err = rejection(() => openStore(url));
      expect(err, url).toBeInstanceOf(ValidationError);
      const issue = (err as ValidationError).issues[0]!;
      expect(issue.field, url).toBe('store');
      expect(issue.message, url).toMatch(problem);
      expect(issue.message, url).toContain('mongodb://host[:port]');
      expect(issue.message, url).not.toContain('secret');
    }
  });
});

describe('MongoStore specifics (CongoDB)', () => {
  it('reports an unreachable server as UnavailableError naming the store and the address, and retries on the next call', async () => {
    const store = new MongoStore('mongodb://127.0.0.1:1/berth?directConnection=true');
    try {
      const err = await store.init().catch((e: unknown) => e);
      expect(err).toBeInstanceOf(UnavailableError);
      expect((err as UnavailableError).dependency).toBe('store');
      expect((err as Error).message).toContain('127.0.0.1:1');
      expect((err as Error).cause).toBeDefined();
      await expect(store.ping()).rejects.toBeInstanceOf(UnavailableError);
    } finally {
      await store.close();
    }
  });

  it('reports use after close as unavailable, and close twice is fine', async () => {
    const url = server.url(uniqueDatabase('closed'));
    const store = new MongoStore(url);
    await store.init();
    await store.close();
    await store.close();
    await expect(store.getBot('alpha')).rejects.toBeInstanceOf(UnavailableError);
    await expect(store.ping()).rejects.toMatchObject({ dependency: 'store' });
    await dropDatabase(url);
  });

  it('creates its indexes at init (only _id is unique) and stores one document per record with the natural key beside the hashed _id', async () => {
    const url = server.url(uniqueDatabase('layout'));
    const store = new MongoStore(url);
    const client = new MongoClient(url);
    try {
      await store.init();
      await store.writeBot(makeBot('alpha', { config: { 'dotted.key': 1, $dollar: true } }), 0);
      await store.writeStatus({ botId: 'alpha', phase: 'running', restartCount: 0, updatedAt: '2024-01-01T00:00:00.000Z' });
      const db = client.db();
      const botIndexes = await db.collection('bots').listIndexes().toArray();
      expect(botIndexes.map((i) => i.name).sort()).toEqual(['_id_', 'by_id', 'by_kind_enabled_id']);
      expect(botIndexes.filter((i) => i.unique === true).map((i) => i.name)).toEqual(['_id_']);
      expect((await db.collection('statuses').listIndexes().toArray()).map((i) => i.name).sort()).toEqual(['_id_', 'by_bot']);
      const doc = await db.collection('bots').findOne({ id: 'alpha' });
      expect(doc?._id).toBeInstanceOf(ObjectId);
      expect(doc).toMatchObject({ id: 'alpha', generation: 1, kind: 'live', enabled: true });
      expect(JSON.parse(doc?.json as string)).toEqual(makeBot('alpha', { config: { 'dotted.key': 1, $dollar: true } }));
      expect(await store.getBot('alpha')).toEqual(makeBot('alpha', { config: { 'dotted.key': 1, $dollar: true } }));
      // init again (every start-up does it) changes nothing.
      await new MongoStore(url).init().then(() => undefined);
    } finally {
      await store.close();
      await client.close();
      await dropDatabase(url);
    }
  });

  it('survives an outage of the server: UnavailableError while it is down, the same data once it is back, without a new store', async () => {
    const url = server.url(uniqueDatabase('outage'));
    const store = new MongoStore(url);
    try {
      await store.init();
      await store.writeBot(makeBot('alpha'), 0);
      await server.stop();
      const down = await store.ping().catch((e: unknown) => e);
      expect(down).toBeInstanceOf(UnavailableError);
      await expect(store.getBot('alpha')).rejects.toMatchObject({ code: 'unavailable', dependency: 'store' });
      await expect(store.writeBot(makeBot('beta'), 0)).rejects.toBeInstanceOf(UnavailableError);
      await server.start();
      await waitFor('store reachable again', () => store.ping().then(() => true), { timeoutMs: 30_000 });
      expect(await store.getBot('alpha')).toEqual(makeBot('alpha'));
      expect(await store.writeBot(makeBot('beta'), 0)).toBe(true);
    } finally {
      await server.start();
      await store.close();
      await dropDatabase(url);
    }
  }, 60_000);
});
