/**
 * CongoDB (a MongoDB wire-protocol server from @push.rocks/smartmongo 2.2.0) as its own
 * process, so a test can take it away and bring it back on the same port like a real
 * mongod. Arguments: <port (0 = any free)> <persist file>. Prints `listening <port>` once it
 * accepts connections; on SIGTERM it writes its data to the persist file and exits, and the
 * next start on that file has the same data (an outage, not a wipe).
 */
import { CongoServer } from '@push.rocks/smartmongo/dist_ts/congodb/index.js';
import type { AddressInfo, Server } from 'node:net';

const [portArg = '0', persistPath] = process.argv.slice(2);
if (!persistPath) {
  process.stderr.write('usage: mongo-server-main <port> <persist file>\n');
  process.exit(2);
}

const server = new CongoServer({ port: Number(portArg), host: '127.0.0.1', persistPath, persistIntervalMs: 1_000 });
await server.start();
// CongoServer reports the port it was asked for; with 0 the socket knows the real one.
const address = (server as unknown as { server: Server }).server.address() as AddressInfo;
process.stdout.write(`listening ${address.port}\n`);

let stopping = false;
const stop = () => {
  if (stopping) return;
  stopping = true;
  server.stop().then(
    () => process.exit(0),
    (err: unknown) => {
      process.stderr.write(`stop failed: ${String(err)}\n`);
      process.exit(1);
    },
  );
};
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
// The test runner died without stopping us: do not linger.
process.on('disconnect', stop);
