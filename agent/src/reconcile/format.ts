// Plans for people (text) and tools (JSON). Never holds secret values: changes carry references only, and the
// files a change writes are shown as unified diffs of masked texts (reconcile/file-diff.ts). The text plan
// also names the restarts and reloads applying it runs, and the guardrails that would refuse it.
import type { Change, HostCommands } from '../providers/types.js';
import { counts, pendingChanges, type HostPlan, type Refusal } from './engine.js';
import { restartsFor, unifiedDiff } from './file-diff.js';

const SIGN: Record<Change['action'], string> = { create: '+', update: '~', delete: '-', noop: ' ' };

export interface PlanTextOptions {
  verbose?: boolean;
  /** The host's hook commands (to name the restarts); the defaults when absent. */
  commands?: HostCommands;
  /** What the guardrails in force say about this plan (apply would refuse it). */
  refusal?: Refusal;
}

/** A change's file diff, indented under it; '' when the change writes no file. */
function fileDiff(c: Change): string {
  return c.file && c.action !== 'noop' ? unifiedDiff(c.file) : '';
}

export function formatPlanText(plan: HostPlan, opts: PlanTextOptions = {}): string {
  const lines: string[] = [`Plan for ${plan.site} at ${plan.revision.slice(0, 12)}:`];
  const shown = opts.verbose ? plan.changes : pendingChanges(plan);
  const byProvider = new Map<string, Change[]>();
  for (const c of shown) byProvider.set(c.provider, [...(byProvider.get(c.provider) ?? []), c]);
  for (const [provider, changes] of byProvider) {
    lines.push(`  ${provider}`);
    for (const c of changes) {
      lines.push(`    ${SIGN[c.action]} ${c.id}  ${c.reason}`);
      const diff = fileDiff(c);
      if (diff)
        lines.push(
          ...diff
            .replace(/\n$/, '')
            .split('\n')
            .map((l) => `        ${l}`),
        );
    }
  }
  for (const n of plan.notes) lines.push(`  note: ${n}`);
  const restarts = restartsFor(pendingChanges(plan), opts.commands);
  if (restarts.length) lines.push('Applying it will:', ...restarts.map((r) => `  - ${r}`));
  if (opts.refusal)
    lines.push('The guardrails in force would refuse this plan (apply changes nothing):', ...opts.refusal.reasons.map((r) => `  - guardrail: ${r}`));
  const n = counts(plan.changes);
  if (n.create + n.update + n.delete === 0) lines.push('No changes: this host matches the repository.');
  else lines.push(`${n.create} to create, ${n.update} to update, ${n.delete} to delete.`);
  return `${lines.join('\n')}\n`;
}

export function planJson(plan: HostPlan, opts: Pick<PlanTextOptions, 'commands' | 'refusal'> = {}): Record<string, unknown> {
  const n = counts(plan.changes);
  const pending = pendingChanges(plan);
  return {
    site: plan.site,
    revision: plan.revision,
    inSync: n.create + n.update + n.delete === 0,
    summary: n,
    changes: pending.map((c) => {
      const { provider, id, action, reason, before, after } = c;
      const diff = fileDiff(c);
      return { provider, id, action, reason, before, after, ...(diff ? { diff } : {}) };
    }),
    restarts: restartsFor(pending, opts.commands),
    guardrails: opts.refusal?.reasons ?? [],
    notes: plan.notes,
  };
}
