// The lab's network: the "internet" namespace (a bridge with the sites' WAN addresses), each site's
// namespace and veth into it, the WireGuard interfaces the agents make for the links, and whether a site
// reaches its core's registry through its tunnel.
import { wireguardInterfaceName } from '../../desired/compile.js';
import type { LabLink } from './fleet.js';
import { createNamespace, inNs, LabError, sh } from './processes.js';
import { waitUntil } from './startup.js';
import { siteOf, type LabSite, type LabTopology } from './topology.js';

/** The WireGuard interfaces the agents create for the lab's links, both ends. */
export function labInterfaces(links: readonly LabLink[]): { site: string; peer: string; iface: string; link: LabLink }[] {
  return links.flatMap((l) => [
    { site: l.local, peer: l.remote, iface: wireguardInterfaceName(l.local, l.remote), link: l },
    { site: l.remote, peer: l.local, iface: wireguardInterfaceName(l.remote, l.local), link: l },
  ]);
}

/** The HTTP status of a URL fetched inside a namespace ("000" when nothing answers). */
export function httpCodeInNs(ns: string, url: string): string {
  return inNs(ns, 'curl', ['-s', '-o', '/dev/null', '-w', '%{http_code}', '--max-time', '3', url], { allowFail: true, timeoutMs: 8000 }).stdout.trim();
}

/** A region reaches its core's registry through the tunnel; a core reaches the other cores'. */
export async function waitReachable(t: LabTopology, s: LabSite, timeoutMs = 60_000): Promise<void> {
  const cores = t.sites.filter((c) => c.role === 'hub');
  const targets = s.role === 'hub' ? cores.filter((c) => c.name !== s.name) : s.registrySite ? [siteOf(t, s.registrySite)] : [];
  for (const c of targets) {
    await waitUntil(`${s.name} reaching ${c.name}'s registry through the tunnel`, timeoutMs, () => httpCodeInNs(s.ns, `${c.registry!.url}/v2/`) === '200');
  }
}

/**
 * The machine's own address on the lab's internet (a veth from the root namespace into the bridge): the
 * agents, which run in the root namespace, reach the cores' registries and the regions' peers through it,
 * and the cores' registries send their notifications to the lab's services on it. Never routed elsewhere.
 */
export const HOST_ADDRESS = '198.18.255.253';
/** The host link's end on the internet's bridge. */
const HOST_VETH_INET = 'host0';

/** Is this the veth the lab's host link uses (for `lab down` after a crash). */
function hostVethName(prefix: string): string {
  return `${prefix.slice(0, 10)}-h0`;
}

/**
 * The host link: a veth from the root namespace into the internet's bridge with HOST_ADDRESS, and a route to
 * each core's LAN address through its WAN address (the core's registry listens there). The pair goes away
 * with the internet namespace.
 */
export function buildHostLink(t: LabTopology): void {
  const inet = t.internet.ns;
  const host = hostVethName(t.prefix);
  const taken = sh('ip', ['-j', 'addr', 'show', 'to', `${HOST_ADDRESS}/32`], { allowFail: true }).stdout;
  if (taken.includes(HOST_ADDRESS)) {
    throw new LabError(`Another lab is up on this machine (it holds the lab's host address ${HOST_ADDRESS}): run \`mirrornet lab down\` for it first.`);
  }
  sh('ip', ['link', 'add', host, 'type', 'veth', 'peer', 'name', HOST_VETH_INET, 'netns', inet]);
  sh('ip', ['-n', inet, 'link', 'set', HOST_VETH_INET, 'master', t.internet.bridge, 'up']);
  sh('ip', ['addr', 'add', `${HOST_ADDRESS}/32`, 'dev', host]);
  sh('ip', ['link', 'set', host, 'up']);
  sh('ip', ['route', 'add', '198.18.0.0/16', 'dev', host, 'src', HOST_ADDRESS]);
  for (const c of t.sites.filter((s) => s.role === 'hub')) sh('ip', ['route', 'add', `${c.lan}/32`, 'via', c.wan, 'dev', host]);
}

/** The internet namespace: a bridge the sites' veths join. */
export function buildInternet(t: LabTopology): void {
  const inet = t.internet.ns;
  createNamespace(inet);
  sh('ip', ['-n', inet, 'link', 'add', t.internet.bridge, 'type', 'bridge']);
  sh('ip', ['-n', inet, 'addr', 'add', t.internet.address, 'dev', t.internet.bridge]);
  sh('ip', ['-n', inet, 'link', 'set', t.internet.bridge, 'up']);
}

/** A site's namespace: its veth into the internet with its WAN address, its LAN address on lo, forwarding on. */
export function buildSiteNetwork(t: LabTopology, s: LabSite): void {
  const inet = t.internet.ns;
  createNamespace(s.ns);
  sh('ip', ['link', 'add', s.veth.site, 'netns', s.ns, 'type', 'veth', 'peer', 'name', s.veth.peer, 'netns', inet]);
  sh('ip', ['-n', inet, 'link', 'set', s.veth.peer, 'master', t.internet.bridge, 'up']);
  sh('ip', ['-n', s.ns, 'addr', 'add', s.wanCidr, 'dev', s.veth.site]);
  sh('ip', ['-n', s.ns, 'link', 'set', s.veth.site, 'up']);
  // The LAN address on lo: local, no prefix on-link; the source of everything sent into a tunnel.
  sh('ip', ['-n', s.ns, 'addr', 'add', `${s.lan}/32`, 'dev', 'lo']);
  // Cores forward between their regions (p2p routes go through them).
  inNs(s.ns, 'sysctl', ['-q', '-w', 'net.ipv4.ip_forward=1']);
}
