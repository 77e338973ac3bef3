// Publishing a revision in a short-lived child process (publish-child.ts, publish-once.ts), for the publisher role of a
// long-running agent: validating the whole fleet and compiling every site loads the validator (model, zod
// schemas, policy rules) and grows the heap, and a process keeps both; the agent that publishes in a child
// stays as small as the other agents of its role (issue 15). The child costs a Node start per revision.
import { MirrornetError } from '../errors.js';
import { JsonChild } from '../host/child.js';
import type { Published, PublishRequest } from './publish.js';

/** What the child answers: the publication, or why not and whether the revision itself was refused. */
export type PublishOutcome = { published: Published } | { failed: { refused: boolean; userMessage: string } };

/** The revision itself was not published (invalid, a guardrail, older than the channel's): said once, not tried again. */
export class RevisionRefused extends MirrornetError {}

class PublishChildError extends MirrornetError {}

/** The first argument that makes the single-file release the publishing process (cli/single-file.ts). */
export const PUBLISH_CHILD_ARG = '__publish-revision';

const publishing = new JsonChild(new URL('./publish-child.js', import.meta.url), PUBLISH_CHILD_ARG, 'the publishing process', PublishChildError);

/** A publication never stalls the agent: a child that takes longer is killed (the next run tries again). */
const PUBLISH_TIMEOUT_MS = 600_000;

/** publishRevision in a child; throws RevisionRefused for the revision's own faults, another error for the rest. */
export async function publishInChild(req: PublishRequest, timeoutMs = PUBLISH_TIMEOUT_MS): Promise<Published> {
  const outcome = await publishing.run<PublishOutcome>([], {
    input: JSON.stringify(req),
    timeoutMs,
    doing: `publishing ${req.revision.slice(0, 12)}`,
    retry: 'the next run tries again',
  });
  if ('published' in outcome) return outcome.published;
  if (outcome.failed.refused) throw new RevisionRefused(outcome.failed.userMessage);
  throw new PublishChildError(outcome.failed.userMessage);
}
