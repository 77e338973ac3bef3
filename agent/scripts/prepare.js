#!/usr/bin/env node
// npm's `prepare` step (after `npm install` and `npm ci`): compile the agent when the compiler is installed,
// as in a development checkout, so `npm install && npm start` works on a fresh clone. `npm ci --omit=dev` has
// no TypeScript and needs none: it says so and succeeds (a host installs the release: `npm run release`).
import { spawnSync } from 'node:child_process';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';

let tsc;
try {
  tsc = createRequire(import.meta.url).resolve('typescript/bin/tsc');
} catch {
  process.stdout.write(
    'mirrornet: TypeScript is not installed (npm ci --omit=dev?): the agent is not compiled; a host installs the release (npm run release).\n',
  );
  process.exit(0);
}
const res = spawnSync(process.execPath, [tsc, '-p', fileURLToPath(new URL('../../tsconfig.json', import.meta.url))], { stdio: 'inherit' });
process.exit(res.status ?? 1);
