#!/usr/bin/env node
// The `berth` command. Runs the compiled CLI; `npm install` builds it (the `prepare` script).
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const main = fileURLToPath(new URL('../dist/cli/main.js', import.meta.url));
if (!existsSync(main)) {
  process.stderr.write('berth: not built yet. Run `npm install` (or `npm run build`) in the Berth checkout first.\n');
  process.exit(1);
}
await import(main);
