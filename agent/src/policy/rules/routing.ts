// Routing: from the links and the routing mode, every site's routes (net/routes.ts, the same computation
// the agent uses); every region reaches its core, the cores reach each other, every route has a way back,
// no loops, no route to a site's own CIDR.
import type { Finding } from '../../model/finding.js';
import { didYouMean } from '../../model/suggest.js';
import { formatCidr, overlaps, parseCidr } from '../../net/cidr.js';
import { reporter, type RuleContext, type RuleFamily } from '../rule.js';

const unreachable = reporter({ id: 'routing/unreachable', severity: 'error' });
const noReturn = reporter({ id: 'routing/no-return', severity: 'error' });
const loop = reporter({ id: 'routing/loop', severity: 'error' });
const selfRoute = reporter({ id: 'routing/self-route', severity: 'error' });
const staticVia = reporter({ id: 'routing/static-via', severity: 'error' });
const p2p = reporter({ id: 'routing/p2p', severity: 'error' });

function check(ctx: RuleContext): Finding[] {
  const out: Finding[] = [];
  const { fleet } = ctx;
  const policy = fleet.policies.routing?.value;

  // p2p declarations.
  for (const [name, region] of fleet.regions) {
    region.value.p2p.forEach((peer, i) => {
      const path = ['p2p', i];
      const other = fleet.regions.get(peer);
      if (peer === name) out.push(p2p(region.file, path, 'A region cannot be its own p2p peer: remove this entry.'));
      else if (!other) {
        if (fleet.hubs.has(peer)) out.push(p2p(region.file, path, `${peer} is a core; regions reach their core anyway: remove this entry.`));
        else if (!fleet.brokenNames.has(peer)) {
          const guess = didYouMean(peer, [...fleet.regions.keys()]);
          out.push(p2p(region.file, path, `There is no region "${peer}": fix the name or remove the entry.${guess ? ` Did you mean "${guess}"?` : ''}`));
        }
      } else if (policy && policy.regionPeering === 'off') {
        out.push(
          p2p(region.file, path, 'The routing policy has regionPeering: off: remove this p2p peer or set regionPeering: opt-in in policies/routing.yaml.'),
        );
      } else if (policy && !policy.crossAreaPeering && other.value.area !== region.value.area) {
        out.push(
          p2p(
            region.file,
            path,
            `${peer} is in area ${other.value.area}, ${name} in ${region.value.area}: cross-area p2p is off by policy (image traffic should not ` +
              'cross the border region to region).',
          ),
        );
      }
    });
  }

  // Static routes.
  const adj = ctx.routes.adjacency;
  for (const site of fleet.sites.values()) {
    const own = parseCidr(site.value.cidr);
    site.value.routes.forEach((r, i) => {
      const dest = parseCidr(r.destination);
      if (!dest.ok) return; // reported by cidr rules
      if (own.ok && overlaps(own.range, dest.range)) {
        out.push(
          selfRoute(
            site.file,
            ['routes', i, 'destination'],
            `${r.destination} overlaps this site's own CIDR ${site.value.cidr}: a site never routes its own addresses away; remove the route.`,
          ),
        );
      }
      // A retiring site's links carry only its uplink: its own static routes and those via it are left out, not errors.
      const retiring = site.value.lifecycle === 'retiring' || fleet.sites.get(r.via)?.value.lifecycle === 'retiring';
      if (!retiring && !adj.get(site.name)?.some((n) => n.neighbor === r.via)) {
        const neighbors = adj.get(site.name)?.map((n) => n.neighbor) ?? [];
        out.push(
          staticVia(
            site.file,
            ['routes', i, 'via'],
            `${r.via} is not linked to ${site.name}: a static route goes via a directly linked site${neighbors.length ? ` (${neighbors.join(', ')})` : ''}.`,
          ),
        );
      }
    });
  }

  const plan = ctx.routes;
  const fwd = ctx.forwarding;
  const siteFile = (name: string) => fleet.sites.get(name)!.file;
  const anchor = (name: string): (string | number)[] => (fleet.sites.get(name)!.value.links.length ? ['links'] : ['name']);

  for (const pair of plan.unreachable) {
    if (pair.reason === 'p2p') {
      const region = fleet.regions.get(pair.a)!;
      const idx = region.value.p2p.indexOf(pair.b);
      const [file, path] =
        idx >= 0 ? [region.file, ['p2p', idx]] : [fleet.regions.get(pair.b)!.file, ['p2p', fleet.regions.get(pair.b)!.value.p2p.indexOf(pair.a)]];
      out.push(
        unreachable(
          file,
          path,
          `There is no path between ${pair.a} and ${pair.b} (regions never carry transit traffic): link them directly or link both to the core.`,
        ),
      );
    } else if (pair.reason === 'core') {
      out.push(
        unreachable(siteFile(pair.a), anchor(pair.a), `${pair.a} has no path to its core ${pair.b}: add a link to ${pair.b} (or to a core linked to it).`),
      );
    } else {
      for (const [x, y] of [
        [pair.a, pair.b],
        [pair.b, pair.a],
      ] as const) {
        out.push(unreachable(siteFile(x), anchor(x), `The cores ${x} and ${y} have no path between them: add the hub-to-hub link.`));
      }
    }
  }

  // Walk every required pair, both ways, through the tables as they are (static routes included).
  for (const pair of plan.required) {
    if (plan.unreachable.includes(pair)) continue;
    for (const [from, to] of [
      [pair.a, pair.b],
      [pair.b, pair.a],
    ] as const) {
      const target = plan.siteRanges.get(to);
      if (!target) continue;
      const result = fwd.walk(from, target.start);
      if (result.kind === 'loop') {
        out.push(
          loop(
            siteFile(from),
            anchor(from),
            `Traffic from ${from} to ${to} (${formatCidr(target)}) loops: ${result.path.join(' -> ')}. Fix the static routes on that path.`,
          ),
        );
      } else if (result.kind === 'blackhole' || result.at !== to) {
        out.push(
          unreachable(
            siteFile(from),
            anchor(from),
            `Traffic from ${from} to ${to} stops at ${result.at}: a static route sends it the wrong way; fix the routes on ${result.path.join(' -> ')}.`,
          ),
        );
      }
    }
  }

  // Every computed route has a return path; every static route leads somewhere without a loop.
  const reported = new Set<string>();
  for (const [site, routes] of plan.tables) {
    const own = plan.siteRanges.get(site);
    for (const route of routes) {
      if (route.origin === 'static') {
        const result = fwd.walk(site, route.range.start);
        if (result.kind === 'loop') {
          out.push(
            loop(
              siteFile(site),
              ['routes', route.staticIndex!, 'via'],
              `${route.destination} loops: ${result.path.join(' -> ')}. Remove one of the static routes on that path.`,
            ),
          );
        }
        continue;
      }
      if (!own || !route.owner) continue;
      const key = `${route.owner}>${site}`;
      if (reported.has(key)) continue;
      const back = fwd.walk(route.owner, own.start);
      if (back.kind !== 'delivered' || back.at !== site) {
        reported.add(key);
        out.push(
          noReturn(
            siteFile(site),
            anchor(site),
            `${site} routes ${route.destination} via ${route.via}, but ${route.owner} has no way back to ${site} ` +
              `(${formatCidr(own)}): ${back.kind === 'loop' ? `it loops (${back.path.join(' -> ')})` : `it stops at ${back.at}`}; ` +
              'fix the static routes there.',
          ),
        );
      }
    }
  }
  return out;
}

export const routingRules: RuleFamily = {
  id: 'routing',
  rules: [
    {
      id: 'routing/unreachable',
      severity: 'error',
      summary: "Every region reaches its area's core, the cores reach each other, p2p peers reach each other (only cores carry transit).",
      example: 'a region without a link to its core',
    },
    {
      id: 'routing/no-return',
      severity: 'error',
      summary: 'Every route has a return path.',
      example: "a static route on the core that sends a region's replies elsewhere",
    },
    { id: 'routing/loop', severity: 'error', summary: 'No routing loops.', example: 'two sites with static routes for 10.200.0.0/16 via each other' },
    { id: 'routing/self-route', severity: 'error', summary: "No route to a site's own CIDR.", example: 'a region with a static route to its own /16' },
    {
      id: 'routing/static-via',
      severity: 'error',
      summary: 'A static route goes via a directly linked site.',
      example: 'routes: [{destination: 10.200.0.0/16, via: some-unlinked-site}]',
    },
    {
      id: 'routing/p2p',
      severity: 'error',
      summary: 'p2p peers are existing regions, allowed by the routing policy (opt-in, same area unless crossAreaPeering).',
      example: 'p2p: [cn-shanghai] on an overseas region',
    },
  ],
  check,
};
