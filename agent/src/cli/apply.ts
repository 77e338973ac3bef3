// `mirrornet apply`: this host's plan carried out by the reconcile engine (plan → guard → apply → record).
import { createLogger } from '../log.js';
import { userMessageOf } from '../errors.js';
import { applyRevision } from '../reconcile/engine.js';
import { formatPlanText, planJson } from '../reconcile/format.js';
import { StateStore } from '../reconcile/state.js';
import { UserError } from './errors.js';
import { hostDeps, parseRoles, stateDirOf, type HostOptions } from './host.js';
import type { Io } from './io.js';
import { desiredFromRepo } from './repo-desired.js';

/** Exit 0 applied or nothing to do, 1 error, 3 refused by a guardrail (nothing applied). */
export async function applyCommand(opts: HostOptions & { remoteAddress?: string }, io: Io): Promise<number> {
  const roles = parseRoles(opts.roles);
  const log = createLogger({ level: process.env['MIRRORNET_LOG_LEVEL'] ?? 'warn' }).child({ component: 'apply', site: opts.region });
  const { desired, report, revision } = await desiredFromRepo(opts.repo, opts.region, roles, io);
  const store = new StateStore(stateDirOf(opts));
  const deps = hostDeps(opts, log);
  const json = opts.format === 'json';
  const guardrails = report.fleet.policies.guardrails?.value;
  return store.withLock(async () => {
    const state = await store.load();
    const outcome = await applyRevision(
      { desired, revision, ...(guardrails ? { guardrails } : {}), ...(opts.remoteAddress ? { remoteAddress: opts.remoteAddress } : {}) },
      deps,
      store,
      state,
      { planned: (plan) => (json ? undefined : io.stdout(formatPlanText(plan, { commands: deps.commands }))) },
    );
    if (outcome.kind === 'blocked') {
      if (json) io.stdout(`${JSON.stringify({ ...planJson(outcome.plan, { commands: deps.commands }), refused: outcome.refusal.reasons }, null, 2)}\n`);
      else for (const r of outcome.refusal.reasons) io.stderr(`refused: ${r}\n`);
      return 3;
    }
    if (outcome.kind === 'failed') {
      throw new UserError(
        `Applying ${outcome.provider} failed: ${userMessageOf(outcome.error).replace(/\.$/, '')}. ` +
          `${outcome.applied.length} change(s) were applied before; the next apply continues from there.`,
        1,
        { cause: outcome.error },
      );
    }
    if (json) io.stdout(`${JSON.stringify({ ...planJson(outcome.plan, { commands: deps.commands }), applied: outcome.applied.length }, null, 2)}\n`);
    else if (outcome.applied.length) io.stdout(`Applied ${outcome.applied.length} change(s).\n`);
    return 0;
  });
}
