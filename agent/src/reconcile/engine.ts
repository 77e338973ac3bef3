// One reconcile of one host: read every provider's actual state, diff against the desired state (pure),
// guard, apply provider by provider, and record the inventory after each provider so a crash never loses
// track of what was created.
import type { Logger } from 'pino';
import type { Desired } from '../desired/types.js';
import type { Exec } from '../host/exec.js';
import type { HostFiles } from '../host/files.js';
import type { SecretResolver } from '../host/secrets.js';
import type { Guardrails } from '../model/schema.js';
import { overlaps, parseCidr, parseIpv4 } from '../net/cidr.js';
import { PROVIDERS } from '../providers/registry.js';
import { normalizeDst, type ActualRoutes } from '../providers/routes/index.js';
import type { Change, HostCommands, Provider, ProviderContext, ProviderId } from '../providers/types.js';
import type { AgentState, StateStore } from './state.js';

export interface HostDeps {
  /** Providers in apply order (default: the host providers). */
  providers?: readonly Provider<unknown>[];
  /** Notes about how this host is set up (e.g. a provider left out for lack of credentials). */
  notes?: string[];
  exec: Exec;
  files: HostFiles;
  secrets: SecretResolver;
  log: Logger;
  commands: HostCommands;
}

export interface HostPlan {
  site: string;
  revision: string;
  changes: Change[];
  notes: string[];
  actual: Map<ProviderId, unknown>;
}

export function pendingChanges(plan: HostPlan): Change[] {
  return plan.changes.filter((c) => c.action !== 'noop');
}

export function counts(changes: Change[]): Record<'create' | 'update' | 'delete', number> {
  const out = { create: 0, update: 0, delete: 0 };
  for (const c of changes) if (c.action !== 'noop') out[c.action]++;
  return out;
}

function providerContext(deps: HostDeps, state: AgentState, id: ProviderId, notes: string[]): ProviderContext {
  return {
    exec: deps.exec,
    files: deps.files,
    secrets: deps.secrets,
    commands: deps.commands,
    log: deps.log.child({ provider: id }),
    notes,
    inventory: state.inventory[id] ?? [],
  };
}

export async function planHost(desired: Desired, revision: string, deps: HostDeps, state: AgentState, only?: ReadonlySet<ProviderId>): Promise<HostPlan> {
  const notes: string[] = [];
  const changes: Change[] = [];
  const actual = new Map<ProviderId, unknown>();
  for (const provider of deps.providers ?? PROVIDERS) {
    if (only && !only.has(provider.id)) continue;
    const owned = state.inventory[provider.id] ?? [];
    if (!provider.wants(desired) && owned.length === 0) continue;
    const ctx = providerContext(deps, state, provider.id, notes);
    const a = await provider.read(ctx, desired);
    actual.set(provider.id, a);
    changes.push(...provider.diff(desired, a, new Set(owned)));
  }
  return { site: desired.site, revision, changes, notes: [...new Set([...(desired.notes ?? []), ...(deps.notes ?? []), ...notes])], actual };
}

export interface Refusal {
  reasons: string[];
}

/** Pure: refuse a plan that deletes too much, touches a protected destination or cuts the agent off. */
export function guard(plan: HostPlan, guardrails: Guardrails | undefined, opts: { remoteAddress?: string } = {}): Refusal | undefined {
  const reasons: string[] = [];
  // What is really removed: the routes a change says it drops (a cloud route-table batch), else whole resources.
  const removed: { provider: ProviderId; id: string; route: boolean }[] = [];
  for (const c of plan.changes) {
    if (c.deletedRoutes) for (const d of c.deletedRoutes) removed.push({ provider: c.provider, id: d, route: true });
    else if (c.action === 'delete') removed.push({ provider: c.provider, id: c.id, route: c.provider === 'routes' });
  }
  const max = guardrails?.maxDeletionsPerApply;
  if (max !== undefined && removed.length > max) {
    reasons.push(
      `the plan deletes ${removed.length} resources; the guardrail allows ${max} per apply (policies/guardrails.yaml maxDeletionsPerApply). If this is intended, raise the limit in the same pull request.`,
    );
  }
  const protectedRanges = (guardrails?.protectedDestinations ?? []).map((d) => parseCidr(d)).flatMap((p) => (p.ok ? [p.range] : []));
  for (const r of removed) {
    if (!r.route) continue;
    const dest = parseCidr(r.id);
    if (dest.ok && protectedRanges.some((p) => overlaps(p, dest.range)))
      reasons.push(`the plan deletes the ${r.provider === 'routes' ? 'host' : 'cloud'} route to ${r.id}, a protected destination (policies/guardrails.yaml).`);
  }
  // Lockout protection: never delete or redirect the route the agent itself uses to reach its git remote.
  const remote = opts.remoteAddress ? parseIpv4(opts.remoteAddress) : undefined;
  const routes = plan.actual.get('routes') as ActualRoutes | undefined;
  if (remote !== undefined && routes) {
    let best: { dst: string; prefix: number; dev?: string } | undefined;
    for (const r of routes.routes) {
      const p = parseCidr(normalizeDst(r.dst));
      if (!p.ok || remote < p.range.start || remote > p.range.end) continue;
      if (!best || p.range.prefix > best.prefix) best = { dst: p.cidr, prefix: p.range.prefix, ...(r.dev ? { dev: r.dev } : {}) };
    }
    if (best) {
      const hit = plan.changes.find((c) => c.provider === 'routes' && c.id === best!.dst && (c.action === 'delete' || c.action === 'update'));
      if (hit)
        reasons.push(
          `the plan would ${hit.action} the route to ${best.dst}, which carries this agent's connection to its git remote (${opts.remoteAddress}); that would lock the agent out.`,
        );
    }
  }
  return reasons.length ? { reasons } : undefined;
}

export interface ApplyResult {
  applied: Change[];
  error?: { provider: ProviderId; error: Error };
}

/**
 * Apply pending changes provider by provider. What is about to be created is written to the inventory
 * first (write-ahead), so an agent killed in the middle still knows what it may own; deletions leave the
 * inventory after they happened.
 */
export async function applyHost(plan: HostPlan, desired: Desired, deps: HostDeps, store: StateStore, state: AgentState): Promise<ApplyResult> {
  const result: ApplyResult = { applied: [] };
  const pending = pendingChanges(plan);
  for (const provider of deps.providers ?? PROVIDERS) {
    const changes = pending.filter((c) => c.provider === provider.id);
    if (!changes.length) continue;
    const inv = new Set(state.inventory[provider.id] ?? []);
    // Only what the agent creates becomes its own: an adopted (updated) object is never pruned later.
    for (const c of changes) if (c.action === 'create' || c.track) inv.add(c.id);
    state.inventory[provider.id] = [...inv].sort();
    await store.save(state);
    const ctx = providerContext(deps, state, provider.id, []);
    try {
      const outcome = await provider.apply(ctx, changes, desired, plan.actual.get(provider.id));
      result.applied.push(...outcome.applied);
      outcome.deleted.forEach((id) => inv.delete(id));
      state.inventory[provider.id] = [...inv].sort();
      await store.save(state);
    } catch (err) {
      result.error = { provider: provider.id, error: err as Error };
      break;
    }
  }
  return result;
}
