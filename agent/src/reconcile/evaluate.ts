// Validating and compiling a new revision, in a short-lived child process: the agent's own process never
// loads the validator (YAML, zod schemas, ip-num), so an idle agent stays small.
import { MirrornetError } from '../errors.js';
import { CommandError, localExec } from '../host/exec.js';
import { fileURLToPath } from 'node:url';
import type { Desired, Role } from '../desired/types.js';
import type { Area, Guardrails, Notifications } from '../model/schema.js';
import type { FleetOutline } from './fleet-guard.js';

/** What the child answers for one revision and one site; `outline` is the revision's fleet, for the fleet-wide guardrail. */
export type RevisionEvaluation =
  | { valid: true; desired: Desired; guardrails?: Guardrails; notifications?: Notifications; area?: Area; outline?: FleetOutline; origin?: RevisionOrigin }
  | { valid: false; errorCount: number; errors: { file: string; line: number; rule: string; message: string }[] }
  | { valid: true; compileError: string; outline?: FleetOutline }
  /** The revision needs a newer mirrornet (policies/agent.yaml): nothing was validated; why, in words (model/compatibility.ts). */
  | { outdated: string };

/** A bundle revision's place in its branch (commits before it) and its manifest. */
export interface RevisionOrigin {
  sequence: number;
  digest: string;
}

/** Validate and compile the checkout in `dir` (at `revision`) for one site's roles. */
export type Evaluate = (dir: string, site: string, roles: Role[], revision: string) => Promise<RevisionEvaluation>;

class EvaluateError extends MirrornetError {}

/** The first argument that makes the single-file release the validator's process (cli/single-file.ts). */
export const EVALUATE_CHILD_ARG = '__evaluate-revision';

/** The validator's script and the arguments before its own: evaluate-child.js, or the single-file release. */
let child = [fileURLToPath(new URL('./evaluate-child.js', import.meta.url))];

/** The single-file release has no evaluate-child.js beside it: it runs `script` with EVALUATE_CHILD_ARG. */
export function evaluateThroughSelf(script: string): void {
  child = [script, EVALUATE_CHILD_ARG];
}

/** Validating a revision never stalls the agent: a child that takes longer is killed. */
const EVALUATE_TIMEOUT_MS = 300_000;

/** An Evaluate that runs in a short-lived child process (through host/exec), killed after `timeoutMs`. */
export function evaluateInChildWithin(timeoutMs: number): Evaluate {
  return async (dir, site, roles, revision) => {
    const args = ['--max-old-space-size=512', ...child, dir, site, roles.join(','), revision];
    let res;
    try {
      res = await localExec().run(process.execPath, args, { allowFail: true, timeoutMs });
    } catch (err) {
      if (err instanceof CommandError && err.timedOutAfterMs !== undefined) {
        throw new EvaluateError(`validating ${revision.slice(0, 12)} took longer than ${timeoutMs / 1000} s and was stopped; the next tick tries again`, {
          cause: err,
        });
      }
      throw new EvaluateError('cannot start the validator process', { cause: err });
    }
    if (res.code !== 0) throw new EvaluateError(`the validator process failed (exit ${res.code}): ${res.stderr.trim().split('\n')[0] ?? ''}`);
    try {
      return JSON.parse(res.stdout) as RevisionEvaluation;
    } catch (cause) {
      throw new EvaluateError('the validator process answered something that is not JSON', { cause });
    }
  };
}

export const evaluateInChild: Evaluate = evaluateInChildWithin(EVALUATE_TIMEOUT_MS);
