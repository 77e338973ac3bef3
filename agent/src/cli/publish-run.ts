// Publishing a revision in a short-lived child process (publish-child.ts, publish-once.ts), for the publisher role of a
// long-running agent: validating the whole fleet and compiling every site loads the validator (model, zod
// schemas, policy rules) and grows the heap, and a process keeps both; the agent that publishes in a child
// stays as small as the other agents of its role (issue 15). The child costs a Node start per revision.
import { fileURLToPath } from 'node:url';
import { MirrornetError } from '../errors.js';
import { CommandError, localExec } from '../host/exec.js';
import type { Published, PublishRequest } from './publish.js';

/** What the child answers: the publication, or why not and whether the revision itself was refused. */
export type PublishOutcome = { published: Published } | { failed: { refused: boolean; userMessage: string } };

/** The revision itself was not published (invalid, a guardrail, older than the channel's): said once, not tried again. */
export class RevisionRefused extends MirrornetError {}

class PublishChildError extends MirrornetError {}

/** The first argument that makes the single-file release the publishing process (cli/single-file.ts). */
export const PUBLISH_CHILD_ARG = '__publish-revision';

/** The publishing process's script and the arguments before its own: publish-child.js, or the single-file release. */
let child = [fileURLToPath(new URL('./publish-child.js', import.meta.url))];

/** The single-file release has no publish-child.js beside it: it runs `script` with PUBLISH_CHILD_ARG. */
export function publishThroughSelf(script: string): void {
  child = [script, PUBLISH_CHILD_ARG];
}

/** A publication never stalls the agent: a child that takes longer is killed (the next run tries again). */
const PUBLISH_TIMEOUT_MS = 600_000;

/** publishRevision in a child; throws RevisionRefused for the revision's own faults, another error for the rest. */
export async function publishInChild(req: PublishRequest, timeoutMs = PUBLISH_TIMEOUT_MS): Promise<Published> {
  const short = req.revision.slice(0, 12);
  let res;
  try {
    res = await localExec().run(process.execPath, ['--max-old-space-size=512', ...child], { input: JSON.stringify(req), allowFail: true, timeoutMs });
  } catch (err) {
    if (err instanceof CommandError && err.timedOutAfterMs !== undefined)
      throw new PublishChildError(`publishing ${short} took longer than ${timeoutMs / 1000} s and was stopped; the next run tries again`, { cause: err });
    throw new PublishChildError('cannot start the publishing process', { cause: err });
  }
  if (res.code !== 0) throw new PublishChildError(`the publishing process failed (exit ${res.code}): ${res.stderr.trim().split('\n')[0] ?? ''}`);
  let outcome: PublishOutcome;
  try {
    outcome = JSON.parse(res.stdout) as PublishOutcome;
  } catch (cause) {
    throw new PublishChildError('the publishing process answered something that is not JSON', { cause });
  }
  if ('published' in outcome) return outcome.published;
  if (outcome.failed.refused) throw new RevisionRefused(outcome.failed.userMessage);
  throw new PublishChildError(outcome.failed.userMessage);
}
