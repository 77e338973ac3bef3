// Validating and compiling a new revision, in a short-lived child process: the agent's own process never
// loads the validator (YAML, zod schemas, ip-num), so an idle agent stays small.
import { MirrornetError } from '../errors.js';
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import type { Desired, Role } from '../desired/types.js';
import type { Area, Guardrails, Notifications } from '../model/schema.js';

/** What the child answers for one revision and one site. */
export type RevisionEvaluation =
  | { valid: true; desired: Desired; guardrails?: Guardrails; notifications?: Notifications; area?: Area }
  | { valid: false; errorCount: number; errors: { file: string; line: number; rule: string; message: string }[] }
  | { valid: true; compileError: string };

/** Validate and compile the checkout in `dir` (at `revision`) for one site's roles. */
export type Evaluate = (dir: string, site: string, roles: Role[], revision: string) => Promise<RevisionEvaluation>;

class EvaluateError extends MirrornetError {}

const CHILD = fileURLToPath(new URL('./evaluate-child.js', import.meta.url));

/** Validating a revision never stalls the agent: a child that takes longer is killed. */
const EVALUATE_TIMEOUT_MS = 300_000;

/** An Evaluate that runs in a short-lived child process, killed after `timeoutMs`. */
export function evaluateInChildWithin(timeoutMs: number): Evaluate {
  return (dir, site, roles, revision) =>
    new Promise((resolve, reject) => {
      const args = ['--max-old-space-size=512', CHILD, dir, site, roles.join(','), revision];
      const child = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'pipe'] });
      const out: Buffer[] = [];
      const err: Buffer[] = [];
      let timedOut = false;
      const timer = setTimeout(() => {
        timedOut = true;
        child.kill('SIGKILL');
      }, timeoutMs);
      child.stdout.on('data', (d: Buffer) => out.push(d));
      child.stderr.on('data', (d: Buffer) => err.push(d));
      child.on('error', (cause) => {
        clearTimeout(timer);
        reject(new EvaluateError('cannot start the validator process', { cause }));
      });
      child.on('close', (code) => {
        clearTimeout(timer);
        if (timedOut) {
          reject(new EvaluateError(`validating ${revision.slice(0, 12)} took longer than ${timeoutMs / 1000} s and was stopped; the next tick tries again`));
          return;
        }
        if (code !== 0) {
          reject(new EvaluateError(`the validator process failed (exit ${code}): ${Buffer.concat(err).toString('utf8').trim().split('\n')[0] ?? ''}`));
          return;
        }
        try {
          resolve(JSON.parse(Buffer.concat(out).toString('utf8')) as RevisionEvaluation);
        } catch (cause) {
          reject(new EvaluateError('the validator process answered something that is not JSON', { cause }));
        }
      });
    });
}

export const evaluateInChild: Evaluate = evaluateInChildWithin(EVALUATE_TIMEOUT_MS);
