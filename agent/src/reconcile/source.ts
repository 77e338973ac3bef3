// Where an agent's revisions come from, as the loop sees it: a cheap check for the revision offered now, and
// loading one revision for this host (fetched, verified, and turned into its desired state) or the reason it
// is refused. Two sources: the git repository (validated and compiled on the host, in a child process) and a
// signed bundle from a registry (bundle/source.ts: verified, nothing validated on the host).
import type { Role } from '../desired/types.js';
import type { GitSource } from '../source/clone.js';
import type { Applied } from './applied.js';
import { evaluateInChild, type Evaluate, type RevisionEvaluation } from './evaluate.js';

interface LoadContext {
  site: string;
  roles: Role[];
  /** What is applied now (its origin orders bundle revisions). */
  applied: Applied | undefined;
  /** Runs a named step of the loop (timed, shown in the activity and the error metrics). */
  step<T>(name: string, fn: () => Promise<T>): Promise<T>;
}

type LoadedRevision = RevisionEvaluation | { refused: string };

export interface RevisionSource {
  /** The revision the source offers now (a cheap check). */
  remoteRevision(): Promise<string>;
  load(revision: string, ctx: LoadContext): Promise<LoadedRevision>;
  /** The host the source is reached at, for the lockout guardrail (undefined: a local path). */
  remoteHost(): string | undefined;
  /**
   * What exactly the source offers for the revision remoteRevision() returned, when one revision may come in
   * several forms (a bundle republished with --rollback, or with a new signature): a refusal holds for that
   * form only. Absent: the revision is all there is (a git commit).
   */
  offer?(): string | undefined;
}

/** The git repository as a source: check out, verify the commit's signature, validate and compile the fleet here. */
export function gitRevisions(git: GitSource, evaluate: Evaluate = evaluateInChild): RevisionSource {
  return {
    remoteRevision: () => git.remoteRevision(),
    remoteHost: () => git.remoteHost(),
    async load(revision, ctx) {
      await ctx.step('fetch', () => git.checkout(revision));
      const unsigned = await ctx.step('verify', () => git.verify(revision));
      if (unsigned) return { refused: unsigned };
      return ctx.step('validate', () => evaluate(git.opts.dir, ctx.site, ctx.roles, revision));
    },
  };
}
