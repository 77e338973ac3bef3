// The child side of publish-run.ts: publish one revision (validate the whole fleet, compile every site, build,
// sign and push the bundle) through publish.ts, reading the request as JSON on stdin (it holds the signing key
// and the registry password: never on the command line) and printing the outcome as JSON on stdout. Its process
// is publish-child.ts, or in the single-file release the release itself (cli/single-file.ts).
import { BundleError } from '../bundle/build.js';
import { userMessageOf } from '../errors.js';
import { AgentTooOldError } from '../model/compatibility.js';
import { PublishRefused, publishRevision, type PublishRequest } from './publish.js';
import type { PublishOutcome } from './publish-run.js';

async function readStdin(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const c of process.stdin) chunks.push(c as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

async function publishOnce(req: PublishRequest): Promise<PublishOutcome> {
  try {
    return { published: await publishRevision(req) };
  } catch (err) {
    // What is wrong with the revision itself (or that it needs a newer mirrornet) is said once; anything else (a
    // registry that fails) is tried again.
    return {
      failed: { refused: err instanceof PublishRefused || err instanceof BundleError || err instanceof AgentTooOldError, userMessage: userMessageOf(err) },
    };
  }
}

/** The child process's work: the request on stdin, the outcome on stdout. */
export async function publishChildMain(): Promise<void> {
  process.stdout.write(JSON.stringify(await publishOnce(JSON.parse(await readStdin()) as PublishRequest)));
}
