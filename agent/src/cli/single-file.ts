// The entry of the single-file release (agent/scripts/release.js bundles it with esbuild into mirrornet.mjs):
// the product's program without the test bed (no lab, no emulators), and the validator's child process in the
// same file, since a bundle has no evaluate-child.js beside it. agent/bin/mirrornet.js stays the repository's entry.
import { EVALUATE_CHILD_ARG, evaluateThroughSelf } from '../reconcile/evaluate.js';
import { run } from './main.js';

const [, script, ...args] = process.argv;
if (args[0] === EVALUATE_CHILD_ARG) {
  const { evaluateRevisionMain } = await import('../reconcile/evaluate-revision.js');
  await evaluateRevisionMain(args.slice(1));
} else {
  evaluateThroughSelf(script!);
  // `mirrornet ... | head` closes the pipe early: stop quietly instead of crashing on EPIPE.
  for (const stream of [process.stdout, process.stderr]) {
    stream.on('error', (err: NodeJS.ErrnoException) => {
      if (err.code === 'EPIPE') process.exit(process.exitCode ?? 0);
      throw err;
    });
  }
  process.exitCode = await run(args);
}
