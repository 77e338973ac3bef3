#!/usr/bin/env node
// Entry point for the mirrornet CLI, and its composition root: the product's program (agent/src/cli/main.ts)
// with the test bed's commands (`emulate`, `lab`, `start`: agent/src/testbed/commands.ts) registered on it.
// Product code never imports the test bed; only this file joins the two. The TypeScript sources are compiled
// to agent/dist by `npm install` (the `prepare` script) or `npm run build`.
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const main = new URL('../dist/src/cli/main.js', import.meta.url);
const testbed = new URL('../dist/src/testbed/commands.js', import.meta.url);
if (!existsSync(fileURLToPath(main))) {
  process.stderr.write(
    'mirrornet is not built yet: run `npm install` (or `npm run build`) in the repository first; a host installs the release instead (npm run release).\n',
  );
  process.exit(2);
}
// `mirrornet ... | head` closes the pipe early: stop quietly instead of crashing on EPIPE.
for (const stream of [process.stdout, process.stderr]) {
  stream.on('error', (err) => {
    if (err && err.code === 'EPIPE') process.exit(process.exitCode ?? 0);
    throw err;
  });
}
// The test bed's door only registers its commands; each loads the test bed when it runs.
const [{ run }, { registerTestbedCommands }] = await Promise.all([import(main.href), import(testbed.href)]);
process.exitCode = await run(process.argv.slice(2), undefined, registerTestbedCommands);
