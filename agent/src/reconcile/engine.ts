// One reconcile of one host: read every provider's actual state, diff against the desired state (pure),
// guard, apply provider by provider, and record the inventory after each provider so a crash never loses
// track of what was created. reconcileHost is plan -> guard -> apply, for a new revision and for the agent's
// drift healing alike; applyRevision adds the record of a new revision, the path `mirrornet apply` and the
// agent share. No provider is named here: what a provider's changes mean to the guardrails is asked of the
// provider registry.
import type { Logger } from 'pino';
import type { Desired } from '../desired/types.js';
import type { Exec } from '../host/exec.js';
import type { HostFiles } from '../host/files.js';
import type { SecretResolver } from '../host/secrets.js';
import type { Guardrails } from '../model/schema.js';
import { overlaps, parseCidr, parseIpv4 } from '../net/cidr.js';
import { guardrailTraits, type Removal } from '../providers/registry.js';
import type { Change, HostCommands, Provider, ProviderContext, ProviderId } from '../providers/types.js';
import type { AgentState, StateStore } from './state.js';

export interface HostDeps {
  /** Providers in apply order (providers/registry.ts builds them). */
  providers: readonly Provider<unknown>[];
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
  /** A retired site's last step, removing its uplink (maxDeletionsPerApply holds it; protectedDestinations and the lockout protection do not). */
  teardown?: true;
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
  for (const provider of deps.providers) {
    if (only && !only.has(provider.id)) continue;
    const owned = state.inventory[provider.id] ?? [];
    if (!provider.wants(desired) && owned.length === 0) continue;
    const ctx = providerContext(deps, state, provider.id, notes);
    const a = await provider.read(ctx, desired);
    actual.set(provider.id, a);
    changes.push(...provider.diff(desired, a, new Set(owned)));
  }
  return {
    site: desired.site,
    revision,
    changes,
    notes: [...new Set([...(desired.notes ?? []), ...(deps.notes ?? []), ...notes])],
    actual,
    ...(desired.teardown ? { teardown: true as const } : {}),
  };
}

/**
 * Pure: a retired site's last desired state, which keeps nothing, not even the uplink its retiring revision
 * kept (its cloud route tables stay named, with no route, so the agent prunes what it owns there).
 */
export function keepNothing(desired: Desired): Desired {
  const { cloud } = desired;
  return {
    site: desired.site,
    roles: [...desired.roles],
    routes: [],
    wireguard: [],
    notes: [],
    ...(cloud ? { cloud: { ...cloud, tables: cloud.tables.map((t) => ({ ...t, routes: [] })) } } : {}),
    retiring: true,
    teardown: true,
  };
}

export interface Refusal {
  reasons: string[];
}

/** Pure: whether a route to `destination` (a CIDR) is one the guardrails protect from deletion. */
export function isProtected(destination: string, guardrails: Pick<Guardrails, 'protectedDestinations'> | undefined): boolean {
  const dest = parseCidr(destination);
  if (!dest.ok) return false;
  return (guardrails?.protectedDestinations ?? []).some((d) => {
    const p = parseCidr(d);
    return p.ok && overlaps(p.range, dest.range);
  });
}

/**
 * Pure: what the changes remove for good, as each provider counts its own (a route-table batch names its
 * routes). The guardrails count these, and so does the pull request's estimate of them.
 */
export function removalsOf(changes: readonly Change[]): (Removal & { provider: ProviderId })[] {
  return changes.flatMap((c) =>
    guardrailTraits(c.provider)
      .countDeletions(c)
      .map((r) => ({ ...r, provider: c.provider })),
  );
}

/**
 * Pure: refuse a plan that deletes too much, touches a protected destination or cuts the agent off. A retired
 * site's last step (removing its uplink, after it reported retired) deletes its routes to protected
 * destinations and to its source on purpose: only the deletion count holds it. The retiring revision before
 * it keeps the uplink, so every guardrail holds that one.
 */
export function guard(plan: HostPlan, guardrails: Guardrails | undefined, opts: { remoteAddress?: string } = {}): Refusal | undefined {
  const reasons: string[] = [];
  const removed = removalsOf(plan.changes);
  const max = guardrails?.maxDeletionsPerApply;
  if (max !== undefined && removed.length > max) {
    reasons.push(
      `the plan deletes ${removed.length} resources; the guardrail allows ${max} per apply (policies/guardrails.yaml maxDeletionsPerApply). ` +
        'If this is intended, raise the limit in a pull request of its own first: agents judge a revision by the guardrails applied before it.',
    );
  }
  for (const r of removed) {
    if (r.route && !plan.teardown && isProtected(r.id, guardrails)) {
      reasons.push(`the plan deletes the ${r.route} route to ${r.id}, a protected destination (policies/guardrails.yaml).`);
    }
  }
  // Lockout protection: never delete or redirect what carries the agent's own connection to its git remote. A
  // retired site's last step removes its uplink, which is what carries it: after it the agent needs no source
  // any more (it exits), so the protection does not hold that step.
  const remote = opts.remoteAddress ? parseIpv4(opts.remoteAddress) : undefined;
  if (remote !== undefined && !plan.teardown) {
    for (const [provider, actual] of plan.actual) {
      const carrier = guardrailTraits(provider).carrier?.(actual, remote);
      if (carrier === undefined) continue;
      const hit = plan.changes.find((c) => c.provider === provider && c.id === carrier.id && (c.action === 'delete' || c.action === 'update'));
      if (hit) {
        reasons.push(
          `the plan would ${hit.action} ${carrier.name}, which carries this agent's connection to its git remote ` +
            `(${opts.remoteAddress}); that would lock the agent out.`,
        );
      }
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
  for (const provider of deps.providers) {
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

export type RevisionOutcome =
  | { kind: 'blocked'; plan: HostPlan; refusal: Refusal }
  | { kind: 'failed'; plan: HostPlan; applied: Change[]; provider: ProviderId; error: Error }
  | { kind: 'applied'; plan: HostPlan; applied: Change[] };

export interface ReconcileInput {
  desired: Desired;
  revision: string;
  /** The guardrails in force. */
  guardrails?: Guardrails;
  /** The git remote's address (lockout protection), or how to find it: asked only when there is something to apply. */
  remoteAddress?: string | (() => Promise<string | undefined>);
}

export interface RevisionHooks {
  /** Runs each named step (read, apply, record): the agent times them and names the failing one. */
  step?: <T>(name: 'read' | 'apply' | 'record', fn: () => Promise<T>) => Promise<T>;
  /** The plan, before the guardrails look at it. */
  planned?: (plan: HostPlan) => void;
  /**
   * Which of the plan's changes to apply (default: all of them); drift healing takes those of the components
   * that heal. When it picks nothing pending, nothing is guarded or applied.
   */
  select?: (plan: HostPlan) => Change[];
  /** The plan passed the guardrails and is about to be applied. */
  applying?: (plan: HostPlan) => void;
  /** The revision is applied: add to the state before it is saved. */
  recording?: (state: AgentState) => Promise<void> | void;
}

/**
 * Plan, guard and apply provider by provider: the one path for a new revision (applyRevision) and for the
 * agent's drift healing. The outcome's plan is what was guarded and applied (the selection, when there is one).
 */
export async function reconcileHost(
  input: ReconcileInput,
  deps: HostDeps,
  store: StateStore,
  state: AgentState,
  hooks: RevisionHooks = {},
): Promise<RevisionOutcome> {
  const step = hooks.step ?? ((_name, fn) => fn());
  const planned = await step('read', () => planHost(input.desired, input.revision, deps, state));
  hooks.planned?.(planned);
  const plan = hooks.select ? { ...planned, changes: hooks.select(planned) } : planned;
  const pending = pendingChanges(plan).length > 0;
  if (hooks.select && !pending) return { kind: 'applied', plan, applied: [] };
  const remoteAddress = pending && typeof input.remoteAddress === 'function' ? await input.remoteAddress() : input.remoteAddress;
  const refusal = guard(plan, input.guardrails, typeof remoteAddress === 'string' ? { remoteAddress } : {});
  if (refusal) return { kind: 'blocked', plan, refusal };
  hooks.applying?.(plan);
  const result = await step('apply', () => applyHost(plan, input.desired, deps, store, state));
  if (result.error) return { kind: 'failed', plan, applied: result.applied, provider: result.error.provider, error: result.error.error };
  return { kind: 'applied', plan, applied: result.applied };
}

/**
 * A new revision on this host: plan, guard, apply provider by provider (reconcileHost), record. The one
 * implementation for `mirrornet apply` and the agent; the caller holds the host's lock.
 */
export async function applyRevision(
  input: ReconcileInput,
  deps: HostDeps,
  store: StateStore,
  state: AgentState,
  hooks: Omit<RevisionHooks, 'select'> = {},
): Promise<RevisionOutcome> {
  const outcome = await reconcileHost(input, deps, store, state, hooks);
  if (outcome.kind !== 'applied') return outcome;
  const step = hooks.step ?? ((_name, fn) => fn());
  await step('record', async () => {
    state.site = input.desired.site;
    state.appliedRevision = input.revision;
    state.appliedAt = new Date().toISOString();
    delete state.refused;
    await hooks.recording?.(state);
    await store.save(state);
  });
  return outcome;
}
