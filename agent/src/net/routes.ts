// The one route computation of the project: which destinations each site routes over which link.
// The validator's reachability rules and (later) the agent's desired routes both come from here. A retiring
// site (`lifecycle: retiring`) keeps only its uplink: each link to a site it links to directly (its core, a
// p2p or direct neighbour) carries the two ends' CIDRs, at both ends, so its agents still fetch the retiring
// revision and report retired over it. No other site routes to it, and it routes nowhere else.
import { coreOf, isRetiring, linkId, type Fleet, type FleetLink } from '../model/fleet.js';
import type { LinkType } from '../model/schema.js';
import { containsAddress, formatCidr, parseCidr, type Ipv4Range } from './cidr.js';

type PairReason = 'core' | 'cores' | 'p2p';

/** Two sites that must reach each other (in both directions). */
interface RequiredPair {
  a: string;
  b: string;
  reason: PairReason;
}

export interface Route {
  /** The site whose table holds the route. */
  site: string;
  destination: string;
  range: Ipv4Range;
  /** Next site. */
  via: string;
  link: FleetLink;
  origin: 'computed' | 'static';
  /** For computed routes: the site that owns the destination. */
  owner?: string;
  /** For static routes: index in the site's `routes`. */
  staticIndex?: number;
}

export interface RoutePlan {
  tables: Map<string, Route[]>;
  required: RequiredPair[];
  unreachable: RequiredPair[];
  /** Site CIDRs that parsed. */
  siteRanges: Map<string, Ipv4Range>;
  adjacency: Map<string, { neighbor: string; link: FleetLink }[]>;
}

const TYPE_PREFERENCE: Record<LinkType, number> = { 'cloud-connect': 0, peering: 1, 'vpn-ipsec': 2, wireguard: 3 };

function siteRanges(fleet: Fleet): Map<string, Ipv4Range> {
  const ranges = new Map<string, Ipv4Range>();
  for (const site of fleet.sites.values()) {
    const parsed = parseCidr(site.value.cidr);
    if (parsed.ok) ranges.set(site.name, parsed.range);
  }
  return ranges;
}

/**
 * Neighbours of each site over links whose two ends exist and do not both retire (a link with one retiring end
 * is that site's uplink); the first link between two sites wins.
 */
function adjacency(fleet: Fleet): Map<string, { neighbor: string; link: FleetLink }[]> {
  const adj = new Map<string, { neighbor: string; link: FleetLink }[]>();
  for (const name of fleet.sites.keys()) adj.set(name, []);
  const seen = new Set<string>();
  for (const link of fleet.links) {
    if (link.local === link.remote || !fleet.sites.has(link.local) || !fleet.sites.has(link.remote)) continue;
    if (isRetiring(fleet.sites.get(link.local)) && isRetiring(fleet.sites.get(link.remote))) continue;
    if (seen.has(link.id)) continue;
    seen.add(link.id);
    adj.get(link.local)!.push({ neighbor: link.remote, link });
    adj.get(link.remote)!.push({ neighbor: link.local, link });
  }
  for (const list of adj.values()) {
    list.sort((x, y) => TYPE_PREFERENCE[x.link.link.type] - TYPE_PREFERENCE[y.link.link.type] || (x.neighbor < y.neighbor ? -1 : 1));
  }
  return adj;
}

/** Hub-spoke: every region with its area's core, the cores with each other, and opt-in p2p peers; none with a retiring site. */
function requiredPairs(fleet: Fleet): RequiredPair[] {
  const pairs: RequiredPair[] = [];
  const hubs = [...fleet.hubs.keys()].filter((h) => !isRetiring(fleet.sites.get(h))).sort();
  for (let i = 0; i < hubs.length; i++) for (let j = i + 1; j < hubs.length; j++) pairs.push({ a: hubs[i]!, b: hubs[j]!, reason: 'cores' });
  const cores = new Map<string, string | undefined>();
  for (const area of ['cn', 'overseas']) cores.set(area, coreOf(fleet, area)?.name);
  const peering = fleet.policies.routing?.value.regionPeering ?? 'opt-in';
  const crossArea = fleet.policies.routing?.value.crossAreaPeering ?? false;
  const seenP2p = new Set<string>();
  for (const [name, region] of fleet.regions) {
    if (region.value.lifecycle === 'retiring') continue;
    const core = cores.get(region.value.area);
    if (core) pairs.push({ a: name, b: core, reason: 'core' });
    if (peering !== 'opt-in') continue;
    for (const peer of region.value.p2p) {
      const other = fleet.regions.get(peer);
      if (!other || peer === name || other.value.lifecycle === 'retiring') continue;
      if (!crossArea && other.value.area !== region.value.area) continue;
      const id = linkId(name, peer);
      if (seenP2p.has(id)) continue;
      seenP2p.add(id);
      pairs.push({ a: name, b: peer, reason: 'p2p' });
    }
  }
  return pairs;
}

/**
 * Breadth-first tree rooted at `root`, over links, where only the root and hubs forward traffic
 * (regions never transit). parent[x] is the next site from x towards the root.
 */
function treeTowards(fleet: Fleet, adj: RoutePlan['adjacency'], root: string): Map<string, { next: string; link: FleetLink }> {
  const parent = new Map<string, { next: string; link: FleetLink }>();
  const visited = new Set([root]);
  let frontier = [root];
  while (frontier.length) {
    const nextFrontier: string[] = [];
    for (const node of frontier) {
      if (node !== root && fleet.sites.get(node)?.role !== 'hub') continue;
      for (const { neighbor, link } of adj.get(node) ?? []) {
        if (visited.has(neighbor)) continue;
        visited.add(neighbor);
        parent.set(neighbor, { next: node, link });
        nextFrontier.push(neighbor);
      }
    }
    frontier = nextFrontier;
  }
  return parent;
}

export function computeRoutes(fleet: Fleet): RoutePlan {
  const ranges = siteRanges(fleet);
  const adj = adjacency(fleet);
  const required = requiredPairs(fleet);
  const tables = new Map<string, Map<string, Route>>();
  for (const name of fleet.sites.keys()) tables.set(name, new Map());
  const trees = new Map<string, Map<string, { next: string; link: FleetLink }>>();
  const tree = (root: string) => {
    let t = trees.get(root);
    if (!t) {
      t = treeTowards(fleet, adj, root);
      trees.set(root, t);
    }
    return t;
  };
  const add = (site: string, owner: string, via: string, link: FleetLink) => {
    const range = ranges.get(owner);
    if (!range) return;
    const destination = formatCidr(range);
    const table = tables.get(site)!;
    if (!table.has(destination)) table.set(destination, { site, destination, range, via, link, origin: 'computed', owner });
  };
  const unreachable: RequiredPair[] = [];
  const hubs = [...fleet.hubs.keys()].sort();
  /** Path from `from` to the root of tree `t`, as sites and the links between them. */
  const pathTo = (t: Map<string, { next: string; link: FleetLink }>, from: string, root: string): { sites: string[]; links: FleetLink[] } | undefined => {
    if (from !== root && !t.has(from)) return undefined;
    const sites = [from];
    const links: FleetLink[] = [];
    for (let cur = from; cur !== root;) {
      const step = t.get(cur)!;
      links.push(step.link);
      cur = step.next;
      sites.push(cur);
    }
    return { sites, links };
  };
  for (const pair of required) {
    let path: { sites: string[]; links: FleetLink[] } | undefined;
    const bIsHub = fleet.sites.get(pair.b)?.role === 'hub';
    if (bIsHub || fleet.sites.get(pair.a)?.role === 'hub') {
      // Root the tree at the hub: a handful of trees (one per core) serve every region-core pair.
      const [from, to] = bIsHub ? [pair.a, pair.b] : [pair.b, pair.a];
      path = pathTo(tree(to), from, to);
    } else {
      // Two regions: a direct link, or region -> core(s) -> region through the cores' trees (regions
      // never carry transit), so no tree is ever rooted at a region.
      const direct = adj.get(pair.a)?.find((n) => n.neighbor === pair.b);
      if (direct) path = { sites: [pair.a, pair.b], links: [direct.link] };
      else {
        for (const hub of hubs) {
          const t = tree(hub);
          const up = pathTo(t, pair.a, hub);
          const down = pathTo(t, pair.b, hub);
          if (!up || !down) continue;
          const sites = [...up.sites, ...down.sites.slice(0, -1).reverse()];
          if (new Set(sites).size !== sites.length) continue;
          const candidate = { sites, links: [...up.links, ...[...down.links].reverse()] };
          if (!path || candidate.links.length < path.links.length) path = candidate;
        }
      }
    }
    if (!path) {
      unreachable.push(pair);
      continue;
    }
    const first = path.sites[0]!;
    const last = path.sites[path.sites.length - 1]!;
    for (let i = 0; i < path.links.length; i++) {
      add(path.sites[i]!, last, path.sites[i + 1]!, path.links[i]!);
      add(path.sites[i + 1]!, first, path.sites[i]!, path.links[i]!);
    }
  }
  // A retiring site's uplink: each of its direct links carries the two ends' CIDRs and nothing else. Regions
  // never transit, so no path above ran through it.
  for (const site of fleet.sites.values()) {
    if (!isRetiring(site)) continue;
    for (const { neighbor, link } of adj.get(site.name) ?? []) {
      add(site.name, neighbor, neighbor, link);
      add(neighbor, site.name, site.name, link);
    }
  }
  // Static routes: only via a directly linked site; the routing rules report the ones that are not. A
  // retiring site's static routes, and those via it, carry nothing.
  for (const site of fleet.sites.values()) {
    if (isRetiring(site)) continue;
    site.value.routes.forEach((r, staticIndex) => {
      const parsed = parseCidr(r.destination);
      if (!parsed.ok || isRetiring(fleet.sites.get(r.via))) return;
      const neighbor = adj.get(site.name)?.find((n) => n.neighbor === r.via);
      if (!neighbor) return;
      const table = tables.get(site.name)!;
      const destination = parsed.cidr;
      if (table.has(destination)) return;
      table.set(destination, { site: site.name, destination, range: parsed.range, via: r.via, link: neighbor.link, origin: 'static', staticIndex });
    });
  }
  const out = new Map<string, Route[]>();
  for (const [site, table] of tables)
    out.set(
      site,
      [...table.values()].sort((x, y) => x.range.start - y.range.start || x.range.prefix - y.range.prefix),
    );
  return { tables: out, required, unreachable, siteRanges: ranges, adjacency: adj };
}

/** Longest-prefix-match index over each site's table. */
export class Forwarding {
  private readonly index = new Map<string, { prefixes: number[]; byPrefix: Map<number, Map<number, Route>> }>();

  constructor(private readonly plan: RoutePlan) {
    for (const [site, routes] of plan.tables) {
      const byPrefix = new Map<number, Map<number, Route>>();
      for (const r of routes) {
        let m = byPrefix.get(r.range.prefix);
        if (!m) byPrefix.set(r.range.prefix, (m = new Map()));
        if (!m.has(r.range.start)) m.set(r.range.start, r);
      }
      this.index.set(site, { prefixes: [...byPrefix.keys()].sort((a, b) => b - a), byPrefix });
    }
  }

  lookup(site: string, address: number): Route | undefined {
    const idx = this.index.get(site);
    if (!idx) return undefined;
    for (const prefix of idx.prefixes) {
      const mask = prefix === 0 ? 0 : (0xffffffff << (32 - prefix)) >>> 0;
      const hit = idx.byPrefix.get(prefix)!.get((address & mask) >>> 0);
      if (hit) return hit;
    }
    return undefined;
  }

  /** Follow the tables hop by hop from `from` towards `address`. */
  walk(from: string, address: number): WalkResult {
    const path = [from];
    const visited = new Set([from]);
    let cur = from;
    for (;;) {
      const own = this.plan.siteRanges.get(cur);
      if (own && containsAddress(own, address)) return { kind: 'delivered', at: cur, path };
      const route = this.lookup(cur, address);
      if (!route) return { kind: 'blackhole', at: cur, path };
      if (visited.has(route.via)) return { kind: 'loop', at: route.via, path: [...path, route.via] };
      visited.add(route.via);
      path.push(route.via);
      cur = route.via;
    }
  }
}

export type WalkResult =
  { kind: 'delivered'; at: string; path: string[] } | { kind: 'blackhole'; at: string; path: string[] } | { kind: 'loop'; at: string; path: string[] };
