// The entry of the single-file release (agent/scripts/release.js bundles it with esbuild into mirrornet.mjs):
// the product's program without the test bed (no lab, no emulators), and the validator's and the publisher's
// child processes in the same file, since a bundle has no evaluate-child.js or publish-child.js beside it. agent/bin/mirrornet.js stays the repository's entry.
import '../host/zod-jitless.js'; // first: before any module declares a schema
import { childrenThroughSelf } from '../host/child.js';
import { EVALUATE_CHILD_ARG } from '../reconcile/evaluate.js';
import { run } from './main.js';
import { PUBLISH_CHILD_ARG } from './publish-run.js';

const [, script, ...args] = process.argv;
if (args[0] === EVALUATE_CHILD_ARG) {
  const { evaluateRevisionMain } = await import('../reconcile/evaluate-revision.js');
  await evaluateRevisionMain(args.slice(1));
} else if (args[0] === PUBLISH_CHILD_ARG) {
  const { publishChildMain } = await import('./publish-once.js');
  await publishChildMain();
} else {
  childrenThroughSelf(script!);
  // `mirrornet ... | head` closes the pipe early: stop quietly instead of crashing on EPIPE.
  for (const stream of [process.stdout, process.stderr]) {
    stream.on('error', (err: NodeJS.ErrnoException) => {
      if (err.code === 'EPIPE') process.exit(process.exitCode ?? 0);
      throw err;
    });
  }
  process.exitCode = await run(args);
}
