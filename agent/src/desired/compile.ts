// compile(fleet, site, roles): the desired state of one host of one site. Pure: routes come from the one
// route computation in net/routes.ts, so the validator and the agent never disagree.
import { MirrornetError } from '../errors.js';
import { createHash } from 'node:crypto';
import { cloudRouteOf } from '../model/cloud-route.js';
import { DFDAEMON_BLOB_RULE, DFDAEMON_CONFIG, DFDAEMON_DEFAULTS, DFDAEMON_STORAGE_DIR } from '../model/constraints/dragonfly.js';
import { isRetiring, type Fleet, type FleetLink, type SiteEntry } from '../model/fleet.js';
import type { Region, WireguardEnd } from '../model/schema.js';
import { computeRoutes, type RoutePlan } from '../net/routes.js';
import { desiredHarbor } from './harbor.js';
import type {
  Desired,
  DesiredCloud,
  DesiredCloudRoute,
  DesiredContainerd,
  DesiredDocker,
  DesiredDragonfly,
  DesiredRoute,
  DesiredWireguard,
  Role,
} from './types.js';

const DOCKER_HUB = 'docker.io';
const DOCKER_HUB_SERVER = 'https://registry-1.docker.io';

export class CompileError extends MirrornetError {}

/**
 * The WireGuard interface of a link on one site: unique on the machine (wireguard-go's control socket is
 * not per network namespace), at most 15 characters.
 */
export function wireguardInterfaceName(localSite: string, remoteSite: string): string {
  const hash = createHash('sha256').update(`${localSite}>${remoteSite}`).digest('hex').slice(0, 8);
  return `mn${hash}`;
}

interface WgEnds {
  mine: WireguardEnd;
  theirs: WireguardEnd;
}

function wgEnds(link: FleetLink, site: string): WgEnds | undefined {
  if (link.link.type !== 'wireguard') return undefined;
  return link.local === site ? { mine: link.link.local, theirs: link.link.remote } : { mine: link.link.remote, theirs: link.link.local };
}

/** The site of that name, or the CompileError saying which sites there are. */
export function siteOf(fleet: Fleet, siteName: string): SiteEntry {
  const site = fleet.sites.get(siteName);
  if (!site) throw new CompileError(`There is no site "${siteName}" in the repository: use one of ${[...fleet.sites.keys()].join(', ')}.`);
  return site;
}

export function compile(fleet: Fleet, siteName: string, roles: Role[], plan: RoutePlan = computeRoutes(fleet)): Desired {
  const site = siteOf(fleet, siteName);
  if (roles.includes('hub') && site.role !== 'hub') throw new CompileError(`${siteName} is a region; the hub role is only for the cores.`);
  const notes: string[] = [];
  const desired: Desired = { site: siteName, roles: [...roles], routes: [], wireguard: [], notes };
  // A retiring site keeps only its uplink: the route computation gives it the tunnels and routes to the sites
  // it links to directly (its core's CIDR: its registry and report target), and its cloud route tables only
  // those routes; it has no hub or node part. Its agents remove everything else, report retired over the
  // uplink, then remove the uplink too (an empty desired state of their own) and exit.
  const retiring = isRetiring(site);
  if (retiring) {
    desired.retiring = true;
    notes.push(
      `${siteName} is retiring: its agents remove everything they created on this host and in its cloud except the uplink to the sites it ` +
        'links to directly, report retired over it, then remove the uplink too and exit.',
    );
  }

  if (roles.includes('gateway')) {
    const table = plan.tables.get(siteName) ?? [];
    const byLink = new Map<string, string[]>();
    for (const route of table) {
      if (route.link.link.type !== 'wireguard') continue; // cloud links are programmed in the cloud route tables
      const list = byLink.get(route.link.id) ?? [];
      list.push(route.destination);
      byLink.set(route.link.id, list);
    }
    for (const { neighbor, link } of plan.adjacency.get(siteName) ?? []) {
      const ends = wgEnds(link, siteName);
      if (!ends) continue;
      const name = wireguardInterfaceName(siteName, neighbor);
      const allowed = byLink.get(link.id) ?? [];
      if (!ends.mine.privateKey || !ends.theirs.publicKey) continue; // incomplete link: the validator warns
      const wg: DesiredWireguard = {
        name,
        linkId: link.id,
        remoteSite: neighbor,
        listenPort: ends.mine.listenPort,
        privateKey: ends.mine.privateKey,
        mtu: link.link.mtu,
        mssClamp: link.link.mssClamp,
        peer: {
          publicKey: ends.theirs.publicKey,
          ...(ends.theirs.endpoint ? { endpoint: ends.theirs.endpoint } : {}),
          allowedIps: [...allowed].sort(),
          ...(link.link.type === 'wireguard' && link.link.persistentKeepalive !== undefined ? { persistentKeepalive: link.link.persistentKeepalive } : {}),
        },
      };
      desired.wireguard.push(wg);
      for (const destination of allowed) {
        const route = table.find((r) => r.destination === destination)!;
        const r: DesiredRoute = { destination, dev: name, linkId: link.id, target: route.owner ?? 'static' };
        desired.routes.push(r);
      }
    }
    desired.wireguard.sort((a, b) => (a.name < b.name ? -1 : 1));
    desired.routes.sort((a, b) => (a.destination < b.destination ? -1 : a.destination > b.destination ? 1 : 0));
  }

  if (roles.includes('gateway')) {
    const cloud = compileCloud(site, plan, notes);
    if (cloud) desired.cloud = cloud;
  }

  if (roles.includes('hub') && !retiring) {
    const harbor = [...fleet.harbors.values()].find((h) => h.value.hub === siteName)?.value;
    if (!harbor) notes.push(`The core ${siteName} has no HarborInstance in the repository: nothing to do for the hub role.`);
    else {
      const peerNames = new Set<string>();
      for (const r of harbor.replication) for (const n of [r.source, r.destination]) if (n !== harbor.name) peerNames.add(n);
      const peers = [...peerNames].flatMap((n) => (fleet.harbors.get(n) ? [fleet.harbors.get(n)!.value] : []));
      desired.harbor = desiredHarbor(harbor, peers);
    }
  }

  if (roles.includes('node') && site.role === 'region' && !retiring) {
    const region = site.value as Region;
    const m = region.mirror;
    const proxy = `http://127.0.0.1:${m.dragonfly.proxyPort}`;
    if (m.runtime === 'containerd') {
      const c: DesiredContainerd = { registries: [] };
      for (const reg of m.registries) {
        if (reg === DOCKER_HUB) {
          c.registries.push({ host: DOCKER_HUB, server: DOCKER_HUB_SERVER, mirror: proxy, ...(m.dialTimeout ? { dialTimeout: m.dialTimeout } : {}) });
          continue;
        }
        const harbor = fleet.harbors.get(reg);
        if (!harbor) continue;
        const url = new URL(harbor.value.externalUrl);
        c.registries.push({ host: url.host, server: `${url.protocol}//${url.host}`, mirror: proxy, ...(m.dialTimeout ? { dialTimeout: m.dialTimeout } : {}) });
      }
      desired.containerd = c;
    } else {
      const d: DesiredDocker = { registryMirrors: [], unsupported: [] };
      for (const reg of m.registries) {
        if (reg === DOCKER_HUB) d.registryMirrors.push(proxy);
        else d.unsupported.push(reg);
      }
      desired.docker = d;
    }
    desired.dragonfly = dfdaemonConfig(fleet, region);
  }
  return desired;
}

export const CLOUD_MARKER = 'mirrornet:';

/** The cloud route tables of a Huawei Cloud site: every route of the site whose link the cloud carries. */
function compileCloud(site: SiteEntry, plan: RoutePlan, notes: string[]): DesiredCloud | undefined {
  const v = site.value;
  if (v.provider === 'idc' || !v.cloud) return undefined;
  if (v.provider !== 'huaweicloud') {
    notes.push(
      `${site.name} is on ${v.provider}: mirrornet manages Huawei Cloud route tables only; program these routes in the ${v.provider} console or ` +
        'with its tools.',
    );
    return undefined;
  }
  if (!v.cloud.projectId || !v.cloud.routeTables?.length) {
    notes.push(`${site.name} has no cloud.projectId or cloud.routeTables: its cloud routes are not managed until they are set.`);
    return undefined;
  }
  const marker = `${CLOUD_MARKER}${site.name}`;
  const routes: DesiredCloudRoute[] = [];
  for (const r of plan.tables.get(site.name) ?? []) {
    const { type, nexthop } = cloudRouteOf(r.link.link, r.link.local === site.name ? 'local' : 'remote', v.cloud);
    if (!nexthop) {
      notes.push(`${site.name}: no cloud next hop for ${r.destination} over ${r.link.id} (set the link end's nextHop): that route is not programmed.`);
      continue;
    }
    routes.push({ destination: r.destination, type, nexthop, description: `${marker} ${r.link.id}` });
  }
  return {
    provider: 'huaweicloud',
    region: v.cloud.region,
    projectId: v.cloud.projectId,
    ...(v.cloud.vpcId ? { vpcId: v.cloud.vpcId } : {}),
    marker,
    tables: v.cloud.routeTables.map((id) => ({ id, routes })),
  };
}

/**
 * dfdaemon.yaml (Rust client, camelCase keys) for a region's peers: only keys of the constraint inventory
 * (model/constraints/dragonfly.ts). Durations go as the repository writes them (their units are humantime's), never
 * rounded; keys whose dfdaemon default differs from Dragonfly's documented one are always written.
 */
function dfdaemonConfig(fleet: Fleet, region: Region): DesiredDragonfly {
  const df = region.mirror.dragonfly;
  const harborName = region.mirror.registries.find((r) => r !== DOCKER_HUB && fleet.harbors.has(r));
  const harbor = harborName ? fleet.harbors.get(harborName)!.value : undefined;
  const gc = df.gc;
  const config: Record<string, unknown> = {
    host: {
      idc: df.idc ?? region.name,
      location: df.location ?? `${region.area}|${region.name}`,
      ...(df.schedulerClusterId !== undefined ? { schedulerClusterID: df.schedulerClusterId } : {}),
    },
    manager: { addr: df.manager },
    seedPeer: { enable: false, type: 'normal' },
    storage: { dir: df.storageDir ?? DFDAEMON_STORAGE_DIR, keep: true },
    gc: {
      ...(gc?.interval ? { interval: gc.interval } : {}),
      policy: {
        ...(gc?.taskTTL ? { taskTTL: gc.taskTTL } : {}),
        diskHighThresholdPercent: gc?.diskHighThresholdPercent ?? DFDAEMON_DEFAULTS.diskHighThresholdPercent,
        diskLowThresholdPercent: gc?.diskLowThresholdPercent ?? DFDAEMON_DEFAULTS.diskLowThresholdPercent,
      },
    },
    proxy: {
      server: { port: df.proxyPort },
      rules: [{ regex: DFDAEMON_BLOB_RULE }],
      ...(harbor ? { registryMirror: { addr: new URL(harbor.externalUrl).origin } } : {}),
      ...(df.disableBackToSource !== undefined ? { disableBackToSource: df.disableBackToSource } : {}),
    },
  };
  return { path: DFDAEMON_CONFIG, config };
}
