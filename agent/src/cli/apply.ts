import { createLogger } from '../log.js';
import { applyHost, guard, pendingChanges, planHost } from '../reconcile/engine.js';
import { formatPlanText, planJson } from '../reconcile/format.js';
import { StateStore } from '../reconcile/state.js';
import { UserError } from './errors.js';
import { hostDeps, parseRoles, stateDirOf, type HostOptions } from './host.js';
import { desiredFromRepo, printInvalid, revisionOf } from './repo-desired.js';
import type { Io } from './io.js';

/** Exit 0 applied or nothing to do, 1 error, 3 refused by a guardrail (nothing applied). */
export async function applyCommand(opts: HostOptions & { remoteAddress?: string }, io: Io): Promise<number> {
  const roles = parseRoles(opts.roles);
  const log = createLogger({ level: process.env['MIRRORNET_LOG_LEVEL'] ?? 'warn' }).child({ component: 'apply', site: opts.region });
  const revision = await revisionOf(opts.repo);
  let desired;
  let report;
  try {
    ({ desired, report } = desiredFromRepo(opts.repo, opts.region, roles, revision));
  } catch (err) {
    printInvalid(err, io);
    throw err;
  }
  const store = new StateStore(stateDirOf(opts));
  const deps = hostDeps(opts, log);
  return store.withLock(async () => {
    const state = await store.load();
    const plan = await planHost(desired, revision, deps, state);
    const json = opts.format === 'json';
    if (!json) io.stdout(formatPlanText(plan));
    const refusal = guard(plan, report.fleet.policies.guardrails?.value, opts.remoteAddress ? { remoteAddress: opts.remoteAddress } : {});
    if (refusal) {
      if (json) io.stdout(`${JSON.stringify({ ...planJson(plan), refused: refusal.reasons }, null, 2)}\n`);
      else for (const r of refusal.reasons) io.stderr(`refused: ${r}\n`);
      return 3;
    }
    if (!pendingChanges(plan).length) {
      state.site = desired.site;
      state.appliedRevision = revision;
      state.appliedAt = new Date().toISOString();
      await store.save(state);
      if (json) io.stdout(`${JSON.stringify({ ...planJson(plan), applied: 0 }, null, 2)}\n`);
      return 0;
    }
    const result = await applyHost(plan, desired, deps, store, state);
    if (result.error) {
      const e = result.error.error as Error & { userMessage?: string };
      throw new UserError(
        `Applying ${result.error.provider} failed: ${(e.userMessage ?? e.message).replace(/\.$/, '')}. ${result.applied.length} change(s) were applied before; the next apply continues from there.`,
        1,
        { cause: e },
      );
    }
    state.site = desired.site;
    state.appliedRevision = revision;
    state.appliedAt = new Date().toISOString();
    await store.save(state);
    if (json) io.stdout(`${JSON.stringify({ ...planJson(plan), applied: result.applied.length }, null, 2)}\n`);
    else io.stdout(`Applied ${result.applied.length} change(s).\n`);
    return 0;
  });
}
