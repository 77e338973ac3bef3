// `mirrornet suspend`, `resume` and `reconcile`: an operator's request to the cores (POST /v1/steer, signed by
// their SSH key) to hold a site still, let it go on, or have it reconcile now. Each core answers for the sites
// of its area; the command prints what each answered, and exits 0 when a core accepted, 1 otherwise.
import { z } from 'zod';
import { Steering, type SteerRequest } from '../report/site/schema.js';
import { UsageError } from './errors.js';
import type { Io } from './io.js';
import { answerSentence, askCores, type CoreFlags, type OperatorDeps } from './operator.js';

export type SteerAction = SteerRequest['action'];

export interface SteerOptions extends CoreFlags {
  site?: string;
  all?: boolean;
  reason?: string;
}

/** A core's 202: the new Steering of each site it changed. */
const Accepted = z.object({ sites: z.array(z.object({ site: z.string(), steering: Steering })) });

/** What a core did to one site, in words. */
function done(action: SteerAction, site: string, steering: Steering): string {
  const { suspended, reconcile } = steering;
  if (action === 'suspend' && suspended) return `${site} suspended by ${suspended.by} (generation ${steering.generation}): ${suspended.reason}`;
  if (action === 'reconcile' && reconcile) return `${site} reconcile asked by ${reconcile.by} (generation ${steering.generation})`;
  return `${site} resumed (generation ${steering.generation})`;
}

function request(action: SteerAction, opts: SteerOptions): SteerRequest {
  if (opts.all && action !== 'reconcile') throw new UsageError(`mirrornet ${action} takes one site: --site NAME.`);
  if (Boolean(opts.all) === (opts.site !== undefined)) {
    throw new UsageError(action === 'reconcile' ? 'Name one site with --site NAME, or every site with --all.' : `Name the site to ${action} with --site NAME.`);
  }
  if (action === 'suspend' && !opts.reason?.trim()) throw new UsageError('Say why with --reason TEXT: whoever finds the site suspended reads it.');
  return {
    action,
    ...(opts.all ? { all: true } : { site: opts.site! }),
    ...(action === 'suspend' && opts.reason ? { reason: opts.reason } : {}),
  };
}

export async function steerCommand(action: SteerAction, opts: SteerOptions, io: Io, deps: OperatorDeps = {}): Promise<number> {
  const answers = await askCores(opts, deps, 'POST', '/v1/steer', JSON.stringify(request(action, opts)));
  let accepted = false;
  for (const answer of answers) {
    if ('error' in answer) {
      io.stderr(`mirrornet: ${answer.error}\n`);
      continue;
    }
    const parsed = answer.status === 202 ? Accepted.safeParse(answer.body) : undefined;
    if (parsed?.success) {
      accepted = true;
      for (const { site, steering } of parsed.data.sites) io.stdout(`${answer.core}: ${done(action, site, steering)}\n`);
    } else {
      io.stdout(`${answer.core}: refused (HTTP ${answer.status}): ${answerSentence(answer.body)}\n`);
    }
  }
  return accepted ? 0 : 1;
}
