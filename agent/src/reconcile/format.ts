// Plans for people (text) and tools (JSON). Never holds secret values: changes carry references only.
import type { Change } from '../providers/types.js';
import { counts, pendingChanges, type HostPlan } from './engine.js';

const SIGN: Record<Change['action'], string> = { create: '+', update: '~', delete: '-', noop: ' ' };

export function formatPlanText(plan: HostPlan, opts: { verbose?: boolean } = {}): string {
  const lines: string[] = [`Plan for ${plan.site} at ${plan.revision.slice(0, 12)}:`];
  const shown = opts.verbose ? plan.changes : pendingChanges(plan);
  const byProvider = new Map<string, Change[]>();
  for (const c of shown) byProvider.set(c.provider, [...(byProvider.get(c.provider) ?? []), c]);
  for (const [provider, changes] of byProvider) {
    lines.push(`  ${provider}`);
    for (const c of changes) lines.push(`    ${SIGN[c.action]} ${c.id}  ${c.reason}`);
  }
  for (const n of plan.notes) lines.push(`  note: ${n}`);
  const n = counts(plan.changes);
  if (n.create + n.update + n.delete === 0) lines.push('No changes: this host matches the repository.');
  else lines.push(`${n.create} to create, ${n.update} to update, ${n.delete} to delete.`);
  return `${lines.join('\n')}\n`;
}

export function planJson(plan: HostPlan): Record<string, unknown> {
  const n = counts(plan.changes);
  return {
    site: plan.site,
    revision: plan.revision,
    inSync: n.create + n.update + n.delete === 0,
    summary: n,
    changes: pendingChanges(plan).map(({ provider, id, action, reason, before, after }) => ({ provider, id, action, reason, before, after })),
    notes: plan.notes,
  };
}
