// Validating and compiling a new revision, in a short-lived child process: the agent's own process never
// loads the validator (YAML, zod schemas, ip-num), so an idle agent stays small.
import { MirrornetError } from '../errors.js';
import { JsonChild } from '../host/child.js';
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
  /** A rollback's: the sequence it rolled back from. */
  rollbackFrom?: number;
}

/** Validate and compile the checkout in `dir` (at `revision`) for one site's roles. */
export type Evaluate = (dir: string, site: string, roles: Role[], revision: string) => Promise<RevisionEvaluation>;

class EvaluateError extends MirrornetError {}

/** The first argument that makes the single-file release the validator's process (cli/single-file.ts). */
export const EVALUATE_CHILD_ARG = '__evaluate-revision';

const validator = new JsonChild(new URL('./evaluate-child.js', import.meta.url), EVALUATE_CHILD_ARG, 'the validator process', EvaluateError);

/** Validating a revision never stalls the agent: a child that takes longer is killed. */
const EVALUATE_TIMEOUT_MS = 300_000;

/** An Evaluate that runs in a short-lived child process (host/child.ts), killed after `timeoutMs`. */
export function evaluateInChildWithin(timeoutMs: number): Evaluate {
  return (dir, site, roles, revision) =>
    validator.run<RevisionEvaluation>([dir, site, roles.join(','), revision], {
      timeoutMs,
      doing: `validating ${revision.slice(0, 12)}`,
      retry: 'the next tick tries again',
    });
}

export const evaluateInChild: Evaluate = evaluateInChildWithin(EVALUATE_TIMEOUT_MS);
