// `mirrornet plan`: what apply would change on this host, read-only.
import { createLogger } from '../log.js';
import { guard, pendingChanges, planHost } from '../reconcile/engine.js';
import { formatPlanText, planJson } from '../reconcile/format.js';
import { StateStore } from '../reconcile/state.js';
import { hostDeps, parseRoles, stateDirOf, type HostOptions } from './host.js';
import type { Io } from './io.js';
import { desiredFromRepo } from './repo-desired.js';

/** Exit 0 in sync, 2 changes pending, 1 error (like `terraform plan -detailed-exitcode`). */
export async function planCommand(opts: HostOptions & { verbose?: boolean }, io: Io): Promise<number> {
  const roles = parseRoles(opts.roles);
  const log = createLogger({ level: process.env['MIRRORNET_LOG_LEVEL'] ?? 'warn' }).child({ component: 'plan', site: opts.region });
  const { desired, revision, report } = await desiredFromRepo(opts.repo, opts.region, roles, io);
  const state = await new StateStore(stateDirOf(opts)).load();
  const deps = hostDeps(opts, log);
  const plan = await planHost(desired, revision, deps, state);
  // The guardrails of this checkout, as apply judges the plan (without the lockout check: plan asks no git remote).
  const refusal = guard(plan, report.fleet.policies.guardrails?.value);
  const shown = { commands: deps.commands, ...(refusal ? { refusal } : {}) };
  io.stdout(
    opts.format === 'json' ? `${JSON.stringify(planJson(plan, shown), null, 2)}\n` : formatPlanText(plan, { verbose: Boolean(opts.verbose), ...shown }),
  );
  return pendingChanges(plan).length ? 2 : 0;
}
