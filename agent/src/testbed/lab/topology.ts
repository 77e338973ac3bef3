// The lab's network on one machine, computed from the fleet's sites: one network namespace per site plus
// an "internet" namespace with a bridge, one veth pair per site into it (the site's WAN address in
// 198.18.0.0/16, the benchmarking range, never routed anywhere), the site's LAN address (its first
// gateway's) as a /32 on `lo` — so only the routes the agents apply send another site's CIDR anywhere, and
// traffic into a tunnel leaves with the LAN address as its source. Pure: no commands run here.
import { MirrornetError } from '../../errors.js';

type LabSiteRole = 'hub' | 'region';

/** What the lab needs to know about a site of the fleet. */
export interface LabSiteInput {
  name: string;
  role: LabSiteRole;
  area: string;
  provider: string;
  cidr: string;
  /** The first gateway's address: the site's LAN address in the lab. */
  lan: string;
  /** Regions: the container runtime of its nodes (`containerd` or `docker`). */
  runtime?: 'containerd' | 'docker';
  /** Regions: the core whose registry the region pulls from (its area's Harbor), if any. */
  registrySite?: string;
  /** Regions: the port of the region's dfdaemon proxy (its peer), from the fleet. */
  proxyPort?: number;
}

interface LabNode {
  /** `<site>-n<i>` (1-based). */
  name: string;
  index: number;
}

export interface LabSite extends LabSiteInput {
  /** The site's network namespace. */
  ns: string;
  /** WAN address (no prefix) and with its prefix, on `wan0` inside the site's namespace. */
  wan: string;
  wanCidr: string;
  /** The veth pair: `wan0` in the site's namespace, `peer` on the internet namespace's bridge. */
  veth: { site: string; peer: string };
  /** Cores: the real registry (their "Harbor") on the LAN address. */
  registry?: { host: string; port: number; url: string };
  /** Regions: the containerd nodes (none for Docker regions). */
  nodes: LabNode[];
}

export interface LabTopology {
  prefix: string;
  internet: { ns: string; bridge: string; address: string };
  sites: LabSite[];
}

export interface TopologyOptions {
  /** Namespace prefix, e.g. `mnlab` -> `mnlab-inet`, `mnlab-cn-beijing`. */
  prefix: string;
  /** containerd nodes per region. */
  nodes: number;
  /** Port of each core's registry (default 5000). */
  registryPort?: number;
}

const WAN_PREFIX_LENGTH = 16;
const SITE_VETH = 'wan0';
const REGISTRY_PORT = 5000;
const MAX_SITES = 250 * 250;

class TopologyError extends MirrornetError {}

/** 198.18.<hi>.<lo> for site i (0-based); 198.18.255.254 is the internet namespace's bridge. */
export function wanAddress(index: number): string {
  if (index < 0 || index >= MAX_SITES) throw new TopologyError(`the lab supports at most ${MAX_SITES} sites`);
  return `198.18.${Math.floor(index / 250)}.${(index % 250) + 1}`;
}

/** Network namespace name of a site (namespace names are file names: 255 bytes, no `/`). */
function namespaceOf(prefix: string, site: string): string {
  return `${prefix}-${site}`;
}

export function labTopology(input: readonly LabSiteInput[], opts: TopologyOptions): LabTopology {
  if (!/^[a-z][a-z0-9]{1,15}$/.test(opts.prefix))
    throw new TopologyError(`the lab prefix "${opts.prefix}" must be 2-16 lowercase letters and digits, starting with a letter`);
  if (!Number.isInteger(opts.nodes) || opts.nodes < 0 || opts.nodes > 64) throw new TopologyError(`--nodes ${opts.nodes}: use a whole number from 0 to 64`);
  const port = opts.registryPort ?? REGISTRY_PORT;
  const names = new Set<string>();
  const lans = new Set<string>();
  // Cores first, then regions, each sorted: addresses do not depend on the order of the files.
  const ordered = [...input].sort((a, b) => (a.role === b.role ? (a.name < b.name ? -1 : 1) : a.role === 'hub' ? -1 : 1));
  const sites = ordered.map((s, i): LabSite => {
    if (names.has(s.name)) throw new TopologyError(`site ${s.name} appears twice`);
    names.add(s.name);
    if (lans.has(s.lan)) throw new TopologyError(`two sites use the LAN address ${s.lan}`);
    lans.add(s.lan);
    return labSite(s, i, { ...opts, registryPort: port });
  });
  return { prefix: opts.prefix, internet: { ns: `${opts.prefix}-inet`, bridge: 'br0', address: `198.18.255.254/${WAN_PREFIX_LENGTH}` }, sites };
}

/** One site of the lab at slot `index` (its WAN address and veth name follow the slot). */
export function labSite(s: LabSiteInput, index: number, opts: TopologyOptions): LabSite {
  const port = opts.registryPort ?? REGISTRY_PORT;
  const wan = wanAddress(index);
  const nodes: LabNode[] =
    s.role === 'region' && s.runtime !== 'docker' ? Array.from({ length: opts.nodes }, (_, k) => ({ name: `${s.name}-n${k + 1}`, index: k + 1 })) : [];
  return {
    ...s,
    ns: namespaceOf(opts.prefix, s.name),
    wan,
    wanCidr: `${wan}/${WAN_PREFIX_LENGTH}`,
    veth: { site: SITE_VETH, peer: `s${index}` },
    ...(s.role === 'hub' ? { registry: { host: s.lan, port, url: `http://${s.lan}:${port}` } } : {}),
    nodes,
  };
}

/** The slot of a site (from its veth name), and the next free slot of a topology. */
function slotOf(site: Pick<LabSite, 'veth'>): number {
  return Number(site.veth.peer.slice(1));
}

export function nextSlot(topology: LabTopology, reserved: readonly number[] = []): number {
  return Math.max(-1, ...topology.sites.map(slotOf), ...reserved) + 1;
}

export function siteOf(topology: LabTopology, name: string): LabSite {
  const s = topology.sites.find((x) => x.name === name);
  if (!s) throw new TopologyError(`there is no site ${name} in the lab`);
  return s;
}

/** Every namespace of the lab, the internet one last (removed last, created first). */
export function namespaces(topology: LabTopology): string[] {
  return [...topology.sites.map((s) => s.ns), topology.internet.ns];
}
