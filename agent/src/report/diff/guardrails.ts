// Which guardrails a change would trip, judged as the agents will judge it: by the guardrails of the base
// (the revision before the change). The fleet-wide removal limits come from the one judgement the agents and
// `validate --base` use; maxDeletionsPerApply and protectedDestinations are estimated per site from the
// desired-state diff (what a host's agent deletes also depends on what it created, so the count is close, not
// exact). Pure.
import type { Fleet } from '../../model/fleet.js';
import { isProtected } from '../../reconcile/engine.js';
import { fleetOutline, guardrailChanges, judgeRemovals } from '../../reconcile/fleet-guard.js';
import type { Category, GuardrailTrip, ItemChange, SiteDiff } from './model.js';

/** The host role that applies each category (maxDeletionsPerApply is per host and apply), and what one item is. */
const DELETABLE: Partial<Record<Category, { host: 'gateway' | 'node' | 'hub'; noun: string }>> = {
  routes: { host: 'gateway', noun: 'route' },
  tunnels: { host: 'gateway', noun: 'tunnel' },
  'cloud-routes': { host: 'gateway', noun: 'cloud route' },
  containerd: { host: 'node', noun: 'containerd mirror' },
  'harbor-projects': { host: 'hub', noun: 'Harbor project' },
  'harbor-robots': { host: 'hub', noun: 'Harbor robot account' },
  'harbor-endpoints': { host: 'hub', noun: 'Harbor registry endpoint' },
  'harbor-replication': { host: 'hub', noun: 'Harbor replication rule' },
};

function plural(n: number, noun: string): string {
  return `${n} ${noun}${n === 1 ? '' : 's'}`;
}

/** A removed item is deleted; a cloud route whose next hop changes is deleted and added again. */
function deletes(c: ItemChange): boolean {
  if (c.action === 'remove') return c.id !== 'vpc';
  return c.action === 'change' && c.category === 'cloud-routes' && c.fields.some((f) => f.field === 'type' || f.field === 'nexthop');
}

/** The destination of a route item: host routes go by destination, cloud routes by `<table> <destination>`. */
function destinationOf(c: ItemChange): string | undefined {
  if (c.category === 'routes') return c.id;
  if (c.category === 'cloud-routes') return c.id.slice(c.id.lastIndexOf(' ') + 1);
  return undefined;
}

export function guardrailTrips(base: Fleet, head: Fleet, sites: SiteDiff[]): { trips: GuardrailTrip[]; changes: string[] } {
  const guardrails = base.policies.guardrails;
  const where = guardrails ? `${guardrails.file.path} of the base` : 'the base has no guardrails';
  const trips: GuardrailTrip[] = judgeRemovals(fleetOutline(base), fleetOutline(head), guardrails?.value).trips.map((t) => ({
    guardrail: t.guardrail,
    message: t.message,
  }));
  const max = guardrails?.value.maxDeletionsPerApply;
  // A removed site's agents refuse a revision without their site: they delete nothing.
  for (const s of sites.filter((x) => x.status === 'changed')) {
    const deleted = s.changes.filter(deletes);
    const byHost = new Map<string, ItemChange[]>();
    for (const c of deleted) {
      const host = DELETABLE[c.category]?.host;
      if (host) byHost.set(host, [...(byHost.get(host) ?? []), c]);
    }
    for (const [host, changes] of byHost) {
      if (max === undefined || changes.length <= max) continue;
      const categories = [...new Set(changes.map((c) => c.category))];
      const kinds = categories.map((k) => plural(changes.filter((c) => c.category === k).length, DELETABLE[k]!.noun)).join(', ');
      trips.push({
        guardrail: 'maxDeletionsPerApply',
        site: s.site,
        message:
          `${s.site}: its ${host} would delete about ${plural(changes.length, 'resource')} (${kinds}), more than maxDeletionsPerApply: ${max} ` +
          `(${where}); its agent will refuse this revision and apply nothing. Raise the limit in a change of its own first, or split this change.`,
      });
    }
    const protectedRoutes = new Set<string>();
    for (const c of deleted) {
      const destination = destinationOf(c);
      if (destination === undefined || !isProtected(destination, guardrails?.value)) continue;
      const route = `${c.category === 'routes' ? 'host' : 'cloud'} route to ${destination}`;
      if (protectedRoutes.has(route)) continue;
      protectedRoutes.add(route);
      trips.push({
        guardrail: 'protectedDestinations',
        site: s.site,
        message:
          `${s.site}: its gateway would delete the ${route}, a protected ` + `destination (${where}); its agent will refuse this revision and apply nothing.`,
      });
    }
  }
  return { trips, changes: guardrailChanges(guardrails?.value, head.policies.guardrails?.value) };
}
