// Host routes of a gateway: the remote CIDRs sent into their WireGuard interfaces. Routes the agent
// creates carry its own routing protocol id (157), so it can tell them from everyone else's; it never
// deletes a route that is not both marked with that id and in its inventory.
import type { Desired, DesiredRoute } from '../../desired/types.js';
import { parseCidr } from '../../net/cidr.js';
import type { ApplyOutcome, Change, Provider, ProviderContext } from '../types.js';
import { IpRoutes, type IpRoute } from './schema.js';

const MIRRORNET_PROTO = 157;

export interface ActualRoutes {
  routes: IpRoute[];
}

/** `10.7.0.1` -> `10.7.0.1/32` so host routes compare with CIDRs. */
function normalizeDst(dst: string): string {
  if (dst === 'default') return '0.0.0.0/0';
  return dst.includes('/') ? dst : `${dst}/32`;
}

function isOurs(route: IpRoute): boolean {
  return String(route.protocol) === String(MIRRORNET_PROTO);
}

function diffRoutes(desired: Desired, actual: ActualRoutes, owned: ReadonlySet<string>): Change[] {
  const changes: Change[] = [];
  const byDst = new Map<string, IpRoute>();
  for (const r of actual.routes) {
    if (r.type && r.type !== 'unicast') continue;
    byDst.set(normalizeDst(r.dst), r);
  }
  const wanted = new Set<string>();
  for (const d of desired.routes) {
    wanted.add(d.destination);
    const have = byDst.get(d.destination);
    const after = { destination: d.destination, dev: d.dev, via: d.target };
    if (!have) {
      changes.push({
        provider: 'routes',
        id: d.destination,
        action: 'create',
        reason: `route ${d.destination} into ${d.dev} (link ${d.linkId}) is missing`,
        after,
        data: d,
      });
    } else if (have.dev !== d.dev || !isOurs(have) || have.gateway) {
      const why = have.dev !== d.dev ? `goes to ${have.dev ?? have.gateway} instead of ${d.dev}` : 'was changed by hand';
      changes.push({
        provider: 'routes',
        id: d.destination,
        action: 'update',
        reason: `route ${d.destination} ${why}`,
        before: { destination: d.destination, dev: have.dev, gateway: have.gateway, protocol: have.protocol },
        after,
        data: d,
      });
    } else {
      changes.push({ provider: 'routes', id: d.destination, action: 'noop', reason: 'in sync', after });
    }
  }
  for (const [dst, r] of byDst) {
    if (wanted.has(dst) || !isOurs(r)) continue;
    if (owned.has(dst)) {
      changes.push({
        provider: 'routes',
        id: dst,
        action: 'delete',
        reason: `route ${dst} is no longer in the repository`,
        before: { destination: dst, dev: r.dev },
        data: { destination: dst, dev: r.dev },
      });
    }
  }
  return changes;
}

export const routesProvider: Provider<ActualRoutes> = {
  id: 'routes',
  wants: (desired) => desired.roles.includes('gateway'),
  async read(ctx: ProviderContext): Promise<ActualRoutes> {
    const result = await ctx.exec.run('ip', ['-j', 'route', 'show', 'table', 'main']);
    const parsed = IpRoutes.safeParse(JSON.parse(result.stdout || '[]'));
    if (!parsed.success) throw new Error(`unexpected output of ip -j route show: ${parsed.error.message}`);
    return { routes: parsed.data };
  },
  diff: diffRoutes,
  async apply(ctx, changes): Promise<ApplyOutcome> {
    const outcome: ApplyOutcome = { applied: [], deleted: [] };
    for (const c of changes) {
      if (c.action === 'create' || c.action === 'update') {
        const d = c.data as DesiredRoute;
        await ctx.exec.run('ip', ['route', 'replace', d.destination, 'dev', d.dev, 'proto', String(MIRRORNET_PROTO)]);
      } else if (c.action === 'delete') {
        const d = c.data as { destination: string; dev?: string };
        await ctx.exec.run('ip', ['route', 'del', d.destination, ...(d.dev ? ['dev', d.dev] : []), 'proto', String(MIRRORNET_PROTO)], { allowFail: true });
        outcome.deleted.push(c.id);
      } else continue;
      ctx.log.info({ action: c.action, id: c.id }, 'change applied');
      outcome.applied.push(c);
    }
    return outcome;
  },
};

/** The destination of the most specific route in `actual` that carries traffic to `address` (lockout guard). */
export function routeCarrying(actual: ActualRoutes, address: number): string | undefined {
  let best: { dst: string; prefix: number } | undefined;
  for (const r of actual.routes) {
    const p = parseCidr(normalizeDst(r.dst));
    if (!p.ok || address < p.range.start || address > p.range.end) continue;
    if (!best || p.range.prefix > best.prefix) best = { dst: p.cidr, prefix: p.range.prefix };
  }
  return best?.dst;
}
