// Which guardrails a change would trip, judged as the agents will judge it: by the guardrails of the base
// (the revision before the change). The fleet-wide removal limits come from the one judgement the agents and
// `validate --base` use; maxDeletionsPerApply and protectedDestinations are estimated per site from the
// desired-state diff: each category's item changes become the changes its provider would plan, and those are
// counted as the agent's guardrails count them (the provider registry, through the engine). What a host's agent
// deletes also depends on what it created, so the count is close, not exact. Pure.
import type { Desired, Role } from '../../desired/types.js';
import type { Fleet } from '../../model/fleet.js';
import type { Change, ProviderId } from '../../providers/types.js';
import { isProtected, removalsOf } from '../../reconcile/engine.js';
import { fleetOutline, guardrailChanges, judgeRemovals } from '../../reconcile/fleet-guard.js';
import { CATEGORIES, type Category, type GuardrailTrip, type ItemChange, type SiteDiff } from './model.js';

/**
 * Per category: the provider whose changes its items are, the host role that applies them (maxDeletionsPerApply
 * is per host and apply) and what one resource is called. `whole`: the category's items are the keys of one
 * file, which the provider removes only when the desired state has no such part any more.
 */
const AGENT: Record<Category, { provider: ProviderId; host: Role; noun: string; whole?: 'dragonfly' | 'harbor' }> = {
  routes: { provider: 'routes', host: 'gateway', noun: 'route' },
  tunnels: { provider: 'wireguard', host: 'gateway', noun: 'tunnel' },
  'cloud-routes': { provider: 'huaweicloud-vpc', host: 'gateway', noun: 'cloud route' },
  containerd: { provider: 'containerd', host: 'node', noun: 'containerd mirror' },
  docker: { provider: 'docker', host: 'node', noun: 'Docker registry-mirrors setting' },
  dragonfly: { provider: 'dragonfly', host: 'node', noun: 'dfdaemon configuration', whole: 'dragonfly' },
  'harbor-config': { provider: 'harbor-config', host: 'hub', noun: 'Harbor configuration', whole: 'harbor' },
  'harbor-projects': { provider: 'harbor-api', host: 'hub', noun: 'Harbor project' },
  'harbor-robots': { provider: 'harbor-api', host: 'hub', noun: 'Harbor robot account' },
  'harbor-endpoints': { provider: 'harbor-api', host: 'hub', noun: 'Harbor registry endpoint' },
  'harbor-replication': { provider: 'harbor-api', host: 'hub', noun: 'Harbor replication rule' },
};

/** One site's change with the desired states it compares (absent: the site is new or gone). */
export interface SiteChange {
  diff: SiteDiff;
  before?: Desired;
  after?: Desired;
}

const ACTIONS = { add: 'create', change: 'update', remove: 'delete' } as const;

function plural(n: number, noun: string): string {
  return `${n} ${noun}${n === 1 ? '' : 's'}`;
}

/**
 * The changes the providers would plan for one category's item changes. A cloud route table is one change
 * naming the routes it drops: a removed route, and one whose type or next hop changes (deleted and added again).
 */
function plannedChanges(category: Category, items: ItemChange[], site: SiteChange): Change[] {
  const { provider, whole } = AGENT[category];
  const reason = 'estimated from the desired-state diff';
  if (whole) {
    const gone = site.before?.[whole] !== undefined && site.after?.[whole] === undefined;
    return [{ provider, id: category, action: gone ? 'delete' : 'update', reason }];
  }
  if (category !== 'cloud-routes') return items.map((c) => ({ provider, id: c.id, action: ACTIONS[c.action], reason }));
  const tables = new Map<string, string[]>();
  for (const c of items) {
    if (c.id === 'vpc') continue;
    const [table, destination] = [c.id.slice(0, c.id.lastIndexOf(' ')), c.id.slice(c.id.lastIndexOf(' ') + 1)];
    const dropped = tables.get(table) ?? [];
    tables.set(table, dropped);
    if (c.action === 'remove' || (c.action === 'change' && c.fields.some((f) => f.field === 'type' || f.field === 'nexthop'))) dropped.push(destination);
  }
  return [...tables].map(([table, deletedRoutes]) => ({ provider, id: table, action: 'update', reason, deletedRoutes }));
}

export function guardrailTrips(base: Fleet, head: Fleet, sites: SiteChange[]): { trips: GuardrailTrip[]; changes: string[] } {
  const guardrails = base.policies.guardrails;
  const where = guardrails ? `${guardrails.file.path} of the base` : 'the base has no guardrails';
  const trips: GuardrailTrip[] = judgeRemovals(fleetOutline(base), fleetOutline(head), guardrails?.value).trips.map((t) => ({
    guardrail: t.guardrail,
    message: t.message,
  }));
  const max = guardrails?.value.maxDeletionsPerApply;
  // A removed site's agents refuse a revision without their site: they delete nothing.
  for (const site of sites.filter((x) => x.diff.status === 'changed')) {
    const s = site.diff;
    const removed = CATEGORIES.flatMap((category) => {
      const items = s.changes.filter((c) => c.category === category);
      return items.length ? removalsOf(plannedChanges(category, items, site)).map((r) => ({ ...r, category })) : [];
    });
    const byHost = new Map<Role, typeof removed>();
    for (const r of removed) byHost.set(AGENT[r.category].host, [...(byHost.get(AGENT[r.category].host) ?? []), r]);
    for (const [host, gone] of byHost) {
      if (max === undefined || gone.length <= max) continue;
      const categories = [...new Set(gone.map((r) => r.category))];
      const kinds = categories.map((k) => plural(gone.filter((r) => r.category === k).length, AGENT[k].noun)).join(', ');
      trips.push({
        guardrail: 'maxDeletionsPerApply',
        site: s.site,
        message:
          `${s.site}: its ${host} would delete about ${plural(gone.length, 'resource')} (${kinds}), more than maxDeletionsPerApply: ${max} ` +
          `(${where}); its agent will refuse this revision and apply nothing. ` +
          (s.retiring
            ? 'Raise the limit in a change of its own first (agents judge a revision by the guardrails applied before it), then retire the site.'
            : 'Raise the limit in a change of its own first, or split this change.'),
      });
    }
    const protectedRoutes = new Set<string>();
    for (const r of removed) {
      // A retiring site keeps its uplink (its route to its core) until it reported retired; the retiring
      // revision's other deletions are held like any other site's (the agent exempts only its last step).
      if (!r.route || !isProtected(r.id, guardrails?.value)) continue;
      const route = `${r.route} route to ${r.id}`;
      if (protectedRoutes.has(route)) continue;
      protectedRoutes.add(route);
      trips.push({
        guardrail: 'protectedDestinations',
        site: s.site,
        message:
          `${s.site}: its ${AGENT[r.category].host} would delete the ${route}, a protected ` +
          `destination (${where}); its agent will refuse this revision and apply nothing.`,
      });
    }
  }
  return { trips, changes: guardrailChanges(guardrails?.value, head.policies.guardrails?.value) };
}
