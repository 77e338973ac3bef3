// A site added to a running lab, as a user adds one: `labPrepareSite` makes its file in a clone of the
// lab's origin lab-ready (key, WAN address, WireGuard links); the caller commits and pushes; `labAddSite`
// brings up its namespace, gateway agent and, for a region, its peer, nodes and node agents.
import { existsSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { listModelFiles } from '../../model/loader.js';
import { startGatewayAgent, startNodes, waitForApplied, waitNodes } from './agents.js';
import type { LabLink } from './fleet.js';
import { fleetSites, labPrivateKeyRef } from './fleet-sites.js';
import { siteRoot, wgKeyPair, writeSandbox, writeSiteKey } from './layout.js';
import { buildSiteNetwork, labInterfaces, waitReachable } from './network.js';
import { originEvaluation, originHead } from './origin.js';
import { LabError, loadState, saveState } from './processes.js';
import { labReadySite } from './ready-site.js';
import { startRegionPeer } from './registries.js';
import { REPORT_SECRET_ENV, siteTokens } from './site-tree.js';
import type { Say } from './startup.js';
import { labSite, nextSlot, wanAddress, type LabSite } from './topology.js';

export interface PrepareSiteOptions {
  dir: string;
  /** A clone of the lab's origin holding the new site's file (e.g. written by `mirrornet region add`). */
  clone: string;
  name: string;
}

export interface PreparedSite {
  path: string;
  wan: string;
  publicKey: string;
  peers: string[];
  notes: string[];
}

/**
 * Make a new site's file in a clone of the lab's origin lab-ready, as `lab up` made the others: a WireGuard
 * key pair (the private key goes into the site's sandbox, the public key into the file), a slot (WAN
 * address), every link WireGuard through the lab's internet. The caller commits and pushes it; then
 * `labAddSite` brings the site up.
 */
export function labPrepareSite(opts: PrepareSiteOptions): PreparedSite {
  const dir = resolve(opts.dir);
  const state = loadState(dir);
  if (!state?.topology) throw new LabError(`No lab is up in ${dir}: \`mirrornet lab up\` first.`);
  const t = state.topology;
  if (t.sites.some((s) => s.name === opts.name)) throw new LabError(`${opts.name} is in the lab already.`);
  const { files } = listModelFiles(resolve(opts.clone));
  const pending = state.pending ?? {};
  const slot =
    pending[opts.name]?.slot ??
    nextSlot(
      t,
      Object.entries(pending)
        .filter(([n]) => n !== opts.name)
        .map(([, p]) => p.slot),
    );
  const wan = wanAddress(slot);
  const key = wgKeyPair();
  const ready = labReadySite(files, opts.name, { wan, publicKey: key.publicKey, wans: Object.fromEntries(t.sites.map((s) => [s.name, s.wan])) });
  writeFileSync(join(resolve(opts.clone), ready.path), ready.content);
  state.pending = { ...pending, [opts.name]: { slot } };
  saveState(state);
  writeSiteKey(dir, opts.name, key.privateKey);
  return { path: ready.path, wan, publicKey: key.publicKey, peers: ready.peers, notes: ready.notes };
}

export interface AddSiteOptions {
  dir: string;
  name: string;
  say: Say;
  timeoutMs?: number;
}

/**
 * Bring up a site the origin's head has and the lab has not (made lab-ready by `labPrepareSite`, committed
 * and pushed): its namespace and veth, its gateway agent (which brings up its tunnels; the other agents
 * already applied the push), and for a region its peer, containerd nodes and node agents. Waits until its
 * agents applied the head and its nodes have their hosts.toml.
 */
export async function labAddSite(opts: AddSiteOptions): Promise<LabSite> {
  const dir = resolve(opts.dir);
  const say = opts.say;
  const timeoutMs = opts.timeoutMs ?? 120_000;
  const state = loadState(dir);
  if (!state?.topology || state.phase !== 'up') throw new LabError(`No lab is up in ${dir}: \`mirrornet lab up\` first.`);
  const t = state.topology;
  if (t.sites.some((s) => s.name === opts.name)) throw new LabError(`${opts.name} is in the lab already.`);
  const slot = state.pending?.[opts.name]?.slot;
  if (slot === undefined || !existsSync(join(siteRoot(dir, opts.name), labPrivateKeyRef(opts.name).slice('file:'.length)))) {
    throw new LabError(`${opts.name} was not made lab-ready: run labPrepareSite for it in a clone of the origin, commit and push, then add it.`);
  }
  const head = await originHead(state);
  if (!head) throw new LabError(`The origin ${state.origin} has no main branch.`);
  const report = await originEvaluation(state, head);
  if (!report.valid)
    throw new LabError(
      `The origin's head ${head.slice(0, 12)} is invalid (${report.errors.length} errors, e.g. ${report.errors
        .slice(0, 2)
        .map((e) => `${e.file}:${e.line} ${e.rule}`)
        .join('; ')}): the agents refuse it; push a fix first.`,
    );
  const input = fleetSites(report.fleet).find((s) => s.name === opts.name);
  if (!input) throw new LabError(`The origin's head ${head.slice(0, 12)} has no site ${opts.name}: commit and push its file first.`);
  const taken = t.sites.find((s) => s.lan === input.lan);
  if (taken) throw new LabError(`${opts.name}'s gateway address ${input.lan} is ${taken.name}'s in the lab.`);
  const site = labSite(input, slot, { prefix: state.prefix, nodes: state.options?.nodes ?? 2 });
  const links: LabLink[] = report.fleet.links
    .filter((l) => (l.local === opts.name || l.remote === opts.name) && t.sites.some((s) => s.name === (l.local === opts.name ? l.remote : l.local)))
    .map((l) => ({
      id: l.local < l.remote ? `${l.local}--${l.remote}` : `${l.remote}--${l.local}`,
      local: l.local,
      remote: l.remote,
      was: l.link.type,
      ports: l.link.type === 'wireguard' ? { [l.local]: l.link.local.listenPort, [l.remote]: l.link.remote.listenPort } : {},
    }));
  const nonWg = links.filter((l) => l.was !== 'wireguard');
  if (nonWg.length) {
    const to = nonWg.map((l) => (l.local === opts.name ? l.remote : l.local)).join(', ');
    throw new LabError(`${opts.name}'s links to ${to} are not WireGuard: the lab only has WireGuard (labPrepareSite makes them so).`);
  }
  const ifaces = labInterfaces(links);
  for (const i of ifaces)
    if (existsSync(`/var/run/wireguard/${i.iface}.sock`) && i.site === opts.name)
      throw new LabError(`The WireGuard interface ${i.iface} (${i.site} to ${i.peer}) exists already: another lab has ${opts.name}.`);

  // Recorded before it is made.
  t.sites.push(site);
  state.links = [...(state.links ?? []), ...links];
  state.wireguard = [...new Set([...state.wireguard, ...ifaces.map((i) => i.iface)])];
  state.namespaces = [...state.namespaces.filter((n) => n !== t.internet.ns), site.ns, t.internet.ns];
  const { [opts.name]: _done, ...rest } = state.pending ?? {};
  state.pending = rest;
  // Its token in the site tree, derived from the lab's report secret like every other site's.
  const reportSecret = state.secrets[REPORT_SECRET_ENV];
  if (reportSecret) state.secrets = { ...state.secrets, ...siteTokens(reportSecret, [opts.name]) };
  saveState(state);
  say(`add ${opts.name}: ${site.role}, ${site.cidr}, WAN ${site.wan}, ${links.length} WireGuard link(s) (${links.map((l) => l.id).join(', ')})`);
  buildSiteNetwork(t, site);
  writeSandbox(dir, site);
  const agent = await startGatewayAgent(state, site);
  await waitForApplied(
    state.agents.filter((a) => a.site === opts.name && a.role === 'gateway'),
    head,
    timeoutMs,
    [agent],
  );
  await waitReachable(t, site);
  say(`add ${opts.name}: its agent applied ${head.slice(0, 12)}; its tunnel${links.length === 1 ? ' is' : 's are'} up`);
  if (site.role === 'region') {
    if (site.nodes.length) {
      const started = await startNodes(state, site);
      await waitNodes(state, [started], head, timeoutMs);
      say(`add ${opts.name}: ${site.nodes.length} containerd node(s) with their hosts.toml and dfdaemon.yaml`);
    }
    const w = startRegionPeer(state, site, state.peer);
    if (w) await w;
  }
  saveState(state);
  return site;
}
