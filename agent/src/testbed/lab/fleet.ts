// The lab's copy of the fleet: the repository's model files, transformed so the whole network runs on one
// machine. Pure (files in, files out); reading and writing the files is left to the caller.
//
// - Sites: the chosen regions (default: all) and always both cores; links, p2p peers and replication to
//   sites left out are dropped.
// - Every link becomes WireGuard (a cloud's dedicated line or IPsec VPN cannot exist between namespaces):
//   per-site keys generated at lab-up (the private key as `file:/etc/mirrornet/wireguard/<site>.key` under
//   the site's --root), endpoints on the sites' WAN addresses in the "internet" namespace, one listen port
//   per link end from 51820, MTU 1420 (WireGuard over a 1500-byte path), the link's MSS clamping kept,
//   keepalive 25 s. On Huawei Cloud sites each end names a gateway ECS as its cloud next hop, so the cloud
//   route tables (in the VPC emulator) get the same routes as the hosts.
// - Each Harbor's externalUrl is the real registry on its core's LAN address (plain HTTP), so the regions'
//   hosts.toml points at it; the Harbor API parts go to the Harbor emulators by flag, not by file.
// - Chat: every channel of policies/notifications.yaml becomes a generic `webhook` channel of the same name
//   and routes, posting to the lab's local receiver (`env:` URL per channel, one signing secret), so a lab
//   agent can never post to a real chat; the vendors' rate limits are dropped.
// - A site added to the lab later (`mirrornet region add` in a clone of the lab's origin): `labReadySite`
//   makes its file lab-ready the same way (its key, its WAN address, every link WireGuard).
import { MirrornetError } from '../../errors.js';
import { createHash } from 'node:crypto';
import { parse as parseYaml, stringify as stringifyYaml } from 'yaml';
import type { VirtualFile } from '../../model/loader.js';
import type { LabSiteInput, LabTopology } from './topology.js';

export const LAB_MTU = 1420;
export const LAB_KEEPALIVE = 25;
export const FIRST_WG_PORT = 51820;
export const DOCKER_HUB = 'docker.io';

export class LabFleetError extends MirrornetError {}

type Doc = Record<string, unknown>;

interface ParsedFile {
  path: string;
  /** The comment lines at the top (the schema header), kept. */
  header: string[];
  doc: Doc;
}

/** One WireGuard link of the lab, both ends (for status and cleanup). */
export interface LabLink {
  /** `<a>--<b>`, sorted. */
  id: string;
  /** The site whose file declares it, and the other end. */
  local: string;
  remote: string;
  /** The type it had in the repository. */
  was: string;
  ports: Record<string, number>;
}

export interface LabFleet {
  files: VirtualFile[];
  links: LabLink[];
  /** `env:` secret references the agents need (Harbor files), to be generated for the lab. */
  secretEnv: string[];
  /** The chat channels of the lab's notifications policy (each posts to the receiver's /chat/<name>). */
  chatChannels: string[];
  notes: string[];
}

/** The signing secret of every lab chat channel (the agents' environment and the receiver share it). */
export const LAB_CHAT_SECRET_ENV = 'MIRRORNET_LAB_CHAT_SECRET';

/** The environment variable holding a lab chat channel's URL. */
export function labChatUrlEnv(channel: string): string {
  return `MIRRORNET_LAB_CHAT_URL_${channel.toUpperCase().replace(/[^A-Z0-9]/g, '_')}`;
}

/** The lab's notifications policy: the repository's channels as webhooks to the local receiver, same routes. */
export function labNotifications(doc: Doc | undefined): Doc {
  if (!doc) {
    return {
      kind: 'Notifications',
      name: 'notifications',
      reminder: '24h',
      dedupWindow: '5m',
      channels: [{ name: 'lab', type: 'webhook', url: `env:${labChatUrlEnv('lab')}`, secret: `env:${LAB_CHAT_SECRET_ENV}` }],
      routes: [{ description: 'every event', channels: ['lab'] }],
    };
  }
  const out: Doc = structuredClone(doc);
  out['channels'] = arr(doc['channels']).map((c) => ({
    name: c['name'],
    type: 'webhook',
    url: `env:${labChatUrlEnv(String(c['name']))}`,
    secret: `env:${LAB_CHAT_SECRET_ENV}`,
  }));
  return out;
}

export interface LabFleetOptions {
  topology: LabTopology;
  /** Public key of every site (its private key lives in the site's sandbox). */
  publicKeys: Readonly<Record<string, string>>;
  mtu?: number;
  keepalive?: number;
}

function text(content: string | Buffer): string {
  return typeof content === 'string' ? content : content.toString('utf8');
}

function parseFiles(files: readonly VirtualFile[]): ParsedFile[] {
  const out: ParsedFile[] = [];
  for (const f of files) {
    if (!/\.ya?ml$/.test(f.path)) continue;
    const t = text(f.content);
    const header: string[] = [];
    for (const line of t.split('\n')) {
      if (line.startsWith('#')) header.push(line);
      else break;
    }
    let doc: unknown;
    try {
      doc = parseYaml(t);
    } catch (err) {
      throw new LabFleetError(`${f.path} is not valid YAML (${(err as Error).message.split('\n')[0]}): run \`mirrornet validate\` first.`);
    }
    if (!doc || typeof doc !== 'object' || Array.isArray(doc)) throw new LabFleetError(`${f.path} does not hold one object: run \`mirrornet validate\` first.`);
    out.push({ path: f.path, header, doc: doc as Doc });
  }
  return out;
}

const kind = (p: ParsedFile) => p.doc['kind'];
const nameOf = (p: ParsedFile) => String(p.doc['name']);
const arr = <T = Doc>(v: unknown): T[] => (Array.isArray(v) ? (v as T[]) : []);
const obj = (v: unknown): Doc => (v && typeof v === 'object' && !Array.isArray(v) ? (v as Doc) : {});

/** The sites of a fleet as the lab needs them. The fleet must be valid (validate it first). */
export function fleetSites(files: readonly VirtualFile[]): LabSiteInput[] {
  const parsed = parseFiles(files);
  const harborHub = new Map<string, string>();
  for (const p of parsed) if (kind(p) === 'HarborInstance') harborHub.set(nameOf(p), String(p.doc['hub']));
  const sites: LabSiteInput[] = [];
  for (const p of parsed) {
    const k = kind(p);
    if (k !== 'Hub' && k !== 'Region') continue;
    const d = p.doc;
    const gw = arr(d['gateways'])[0];
    if (!gw?.['address']) throw new LabFleetError(`${p.path}: the site has no gateway address.`);
    const site: LabSiteInput = {
      name: nameOf(p),
      role: k === 'Hub' ? 'hub' : 'region',
      area: String(d['area']),
      provider: String(d['provider']),
      cidr: String(d['cidr']),
      lan: String(gw['address']),
    };
    if (k === 'Region') {
      const mirror = obj(d['mirror']);
      site.runtime = mirror['runtime'] === 'docker' ? 'docker' : 'containerd';
      const port = obj(mirror['dragonfly'])['proxyPort'];
      site.proxyPort = typeof port === 'number' ? port : 4001;
      const harbor = arr<string>(mirror['registries']).find((r) => r !== DOCKER_HUB && harborHub.has(r));
      if (harbor) site.registrySite = harborHub.get(harbor)!;
    }
    sites.push(site);
  }
  return sites;
}

/**
 * The regions asked for (all when `wanted` is empty) and every core: the image flow needs both cores.
 * Unknown names are an error that lists the known ones.
 */
export function selectSites(all: readonly LabSiteInput[], wanted: readonly string[] = []): LabSiteInput[] {
  if (!wanted.length) return [...all];
  const known = new Set(all.map((s) => s.name));
  const unknown = wanted.filter((w) => !known.has(w));
  if (unknown.length) throw new LabFleetError(`--sites: no site ${unknown.join(', ')} in the repository; use some of ${[...known].sort().join(', ')}.`);
  const set = new Set(wanted);
  return all.filter((s) => s.role === 'hub' || set.has(s.name));
}

function linkId(a: string, b: string): string {
  return a < b ? `${a}--${b}` : `${b}--${a}`;
}

/** The cloud next hop of a site's WireGuard end: its gateway ECS (Huawei Cloud sites with route tables). */
export function labNextHop(site: string): string {
  return `ecs-lab-${site}-gw1`;
}

export function labPrivateKeyRef(site: string): string {
  return `file:/etc/mirrornet/wireguard/${site}.key`;
}

function collectEnvRefs(value: unknown, into: Set<string>): void {
  if (typeof value === 'string') {
    const m = /^env:([A-Za-z_][A-Za-z0-9_]*)$/.exec(value);
    if (m) into.add(m[1]!);
  } else if (Array.isArray(value)) for (const v of value) collectEnvRefs(v, into);
  else if (value && typeof value === 'object') for (const v of Object.values(value)) collectEnvRefs(v, into);
}

/** Transform the repository's model files into the lab's. */
export function labFleet(files: readonly VirtualFile[], opts: LabFleetOptions): LabFleet {
  const parsed = parseFiles(files);
  const topo = opts.topology;
  const inLab = new Map(topo.sites.map((s) => [s.name, s] as const));
  const mtu = opts.mtu ?? LAB_MTU;
  const keepalive = opts.keepalive ?? LAB_KEEPALIVE;
  const notes: string[] = [];
  for (const s of topo.sites) if (!opts.publicKeys[s.name]) throw new LabFleetError(`no WireGuard key was generated for ${s.name}`);

  const siteFiles = parsed.filter((p) => kind(p) === 'Hub' || kind(p) === 'Region');
  const harborFiles = parsed.filter((p) => kind(p) === 'HarborInstance');
  const harborHub = new Map(harborFiles.map((p) => [nameOf(p), String(p.doc['hub'])] as const));
  const providerOf = new Map(siteFiles.map((p) => [nameOf(p), String(p.doc['provider'])] as const));
  const cloudOf = new Map(siteFiles.map((p) => [nameOf(p), obj(p.doc['cloud'])] as const));

  // Every link once, in a stable order, so listen ports do not depend on file order.
  interface Declared {
    file: ParsedFile;
    index: number;
    local: string;
    remote: string;
    link: Doc;
  }
  const declared: Declared[] = [];
  for (const p of siteFiles) {
    if (!inLab.has(nameOf(p))) continue;
    arr(p.doc['links']).forEach((link, index) => {
      const remote = String(link['to']);
      if (inLab.has(remote)) declared.push({ file: p, index, local: nameOf(p), remote, link });
    });
  }
  declared.sort((a, b) => (linkId(a.local, a.remote) < linkId(b.local, b.remote) ? -1 : 1));
  const nextPort = new Map<string, number>();
  const port = (site: string) => {
    const p = nextPort.get(site) ?? FIRST_WG_PORT;
    nextPort.set(site, p + 1);
    return p;
  };
  const links: LabLink[] = [];
  const replaced = new Map<ParsedFile, Map<number, Doc>>();
  for (const d of declared) {
    const was = String(d.link['type']);
    const end = (site: string, original: unknown, listenPort: number): Doc => {
      const o = obj(original);
      const s = inLab.get(site)!;
      const cloud = cloudOf.get(site) ?? {};
      const huawei = providerOf.get(site) === 'huaweicloud' && cloud['projectId'] && arr(cloud['routeTables']).length;
      return {
        ...(o['gateway'] ? { gateway: o['gateway'] } : {}),
        endpoint: `${s.wan}:${listenPort}`,
        listenPort,
        publicKey: opts.publicKeys[site]!,
        privateKey: labPrivateKeyRef(site),
        ...(huawei ? { nextHop: labNextHop(site) } : {}),
      };
    };
    const localPort = port(d.local);
    const remotePort = port(d.remote);
    const wg: Doc = {
      to: d.remote,
      type: 'wireguard',
      description: `lab: ${was === 'wireguard' ? 'WireGuard' : `${was} in the repository`}, WireGuard through the lab's internet namespace`,
      mtu: Math.min(mtu, typeof d.link['mtu'] === 'number' ? (d.link['mtu'] as number) : mtu),
      mssClamp: d.link['mssClamp'] ?? true,
      persistentKeepalive: keepalive,
      local: end(d.local, d.link['local'], localPort),
      remote: end(d.remote, d.link['remote'], remotePort),
    };
    const m = replaced.get(d.file) ?? new Map<number, Doc>();
    m.set(d.index, wg);
    replaced.set(d.file, m);
    links.push({ id: linkId(d.local, d.remote), local: d.local, remote: d.remote, was, ports: { [d.local]: localPort, [d.remote]: remotePort } });
  }

  const out: VirtualFile[] = [];
  const secretEnv = new Set<string>();
  let chatChannels: string[] = [];
  const emit = (p: ParsedFile, doc: Doc, extra: string) => {
    const header = [...p.header, `# ${extra}`];
    out.push({ path: p.path, content: `${header.join('\n')}\n${stringifyYaml(doc, { lineWidth: 0 })}` });
  };

  for (const p of parsed) {
    const k = kind(p);
    if (k === 'Hub' || k === 'Region') {
      const site = inLab.get(nameOf(p));
      if (!site) {
        notes.push(`${nameOf(p)} is not in the lab (--sites).`);
        continue;
      }
      const doc: Doc = structuredClone(p.doc);
      const mine = replaced.get(p) ?? new Map<number, Doc>();
      doc['links'] = arr(p.doc['links']).flatMap((_, i) => (mine.has(i) ? [mine.get(i)!] : []));
      if (!(doc['links'] as unknown[]).length) delete doc['links'];
      if (Array.isArray(doc['p2p'])) {
        doc['p2p'] = (doc['p2p'] as string[]).filter((n) => inLab.has(n));
        if (!(doc['p2p'] as string[]).length) delete doc['p2p'];
      }
      // The gateway is reached on its WAN address in the lab.
      doc['gateways'] = arr(doc['gateways']).map((g, i) => (i === 0 ? { ...g, publicAddress: site.wan } : (({ publicAddress: _p, ...rest }) => rest)(g)));
      emit(p, doc, `mirrornet lab: every link is WireGuard through the lab's internet namespace (${site.wan}).`);
    } else if (k === 'HarborInstance') {
      const hub = harborHub.get(nameOf(p))!;
      const core = inLab.get(hub);
      if (!core?.registry) {
        notes.push(`Harbor ${nameOf(p)}: its core ${hub} is not in the lab.`);
        continue;
      }
      const doc: Doc = structuredClone(p.doc);
      doc['hostname'] = core.registry.host;
      doc['externalUrl'] = core.registry.url;
      // The lab's registry serves plain HTTP itself: no TLS-terminating load balancer in front of it.
      doc['loadBalancer'] = { mode: 'l4' };
      delete doc['tls'];
      doc['replication'] = arr(doc['replication']).filter((r) => {
        const ok = [r['source'], r['destination']].every((n) => harborHub.has(String(n)) && inLab.has(harborHub.get(String(n))!));
        if (!ok) notes.push(`Harbor ${nameOf(p)}: replication ${String(r['name'])} names a Harbor outside the lab; dropped.`);
        return ok;
      });
      if (!(doc['replication'] as unknown[]).length) delete doc['replication'];
      collectEnvRefs(doc, secretEnv);
      emit(p, doc, `mirrornet lab: this Harbor's images live in the real registry ${core.registry.url} on ${hub}; its API is the lab's Harbor emulator.`);
    } else if (k === 'LinkPolicy') {
      const doc: Doc = structuredClone(p.doc);
      const allowed = arr(doc['allowed']);
      const providers = [...new Set(topo.sites.map((s) => providerOf.get(s.name) ?? s.provider))].sort();
      for (let i = 0; i < providers.length; i++) {
        for (let j = i; j < providers.length; j++) {
          const pair = [providers[i]!, providers[j]!];
          const has = allowed.some((a) => {
            const ps = arr<string>(a['providers']);
            return ((ps[0] === pair[0] && ps[1] === pair[1]) || (ps[0] === pair[1] && ps[1] === pair[0])) && arr<string>(a['types']).includes('wireguard');
          });
          if (!has) allowed.push({ providers: pair, types: ['wireguard'] });
        }
      }
      doc['allowed'] = allowed;
      emit(p, doc, 'mirrornet lab: WireGuard is allowed between every pair of providers (every lab link is WireGuard).');
    } else if (k === 'Notifications') {
      const doc = labNotifications(p.doc);
      chatChannels = arr(doc['channels']).map((c) => String(c['name']));
      emit(p, doc, "mirrornet lab: every channel is a generic webhook to the lab's local chat receiver (same names and routes).");
    } else {
      out.push({ path: p.path, content: files.find((f) => f.path === p.path)!.content });
    }
  }
  if (!parsed.some((p) => kind(p) === 'Notifications')) {
    const doc = labNotifications(undefined);
    chatChannels = ['lab'];
    out.push({
      path: 'policies/notifications.yaml',
      content: `# mirrornet lab: the repository has no notifications policy; the lab's agents tell its local chat receiver.\n${stringifyYaml(doc, { lineWidth: 0 })}`,
    });
  }
  // Files that are not YAML (none are model files) are left out of the lab's copy.
  out.sort((a, b) => (a.path < b.path ? -1 : 1));
  return { files: out, links: links.sort((a, b) => (a.id < b.id ? -1 : 1)), secretEnv: [...secretEnv].sort(), chatChannels, notes };
}

export interface ReadySiteOptions {
  /** The new site's WAN address in the lab, and its public key (its private key goes into its sandbox). */
  wan: string;
  publicKey: string;
  /** WAN address of every site already in the lab. */
  wans: Readonly<Record<string, string>>;
  mtu?: number;
  keepalive?: number;
}

export interface ReadySite {
  path: string;
  content: string;
  /** The sites it links to (every one already in the lab). */
  peers: string[];
  notes: string[];
}

/**
 * Make the file of a site added to a clone of the lab's origin (e.g. by `mirrornet region add`) lab-ready,
 * as `labFleet` made the others: its key, every link WireGuard with endpoints on the WAN addresses (a link
 * that is WireGuard already keeps its ports; others get the next free port at each end), the remote ends
 * with the keys the lab gave their sites, a gateway ECS as cloud next hop on Huawei Cloud ends, the first
 * gateway reached on its WAN address, p2p peers outside the lab dropped. Pure: the files of the clone in,
 * the new text of that one file out.
 */
export function labReadySite(files: readonly VirtualFile[], name: string, opts: ReadySiteOptions): ReadySite {
  const parsed = parseFiles(files);
  const siteFiles = parsed.filter((p) => kind(p) === 'Hub' || kind(p) === 'Region');
  const p = siteFiles.find((x) => nameOf(x) === name);
  if (!p) throw new LabFleetError(`there is no site ${name} in the clone: run \`mirrornet region add ${name} ... --write\` there first.`);
  const mtu = opts.mtu ?? LAB_MTU;
  const keepalive = opts.keepalive ?? LAB_KEEPALIVE;
  const notes: string[] = [];
  const providerOf = new Map(siteFiles.map((x) => [nameOf(x), String(x.doc['provider'])] as const));
  const cloudOf = new Map(siteFiles.map((x) => [nameOf(x), obj(x.doc['cloud'])] as const));
  const huawei = (site: string) =>
    providerOf.get(site) === 'huaweicloud' && Boolean(cloudOf.get(site)?.['projectId']) && arr(cloudOf.get(site)?.['routeTables']).length > 0;
  // Every WireGuard end of the other files: the ports in use per site and the key the lab gave each site.
  const ports = new Map<string, Set<number>>();
  const keys = new Map<string, string>();
  for (const x of siteFiles) {
    if (nameOf(x) === name) continue;
    for (const l of arr(x.doc['links'])) {
      if (l['type'] !== 'wireguard') continue;
      for (const [site, end] of [
        [nameOf(x), obj(l['local'])],
        [String(l['to']), obj(l['remote'])],
      ] as const) {
        if (typeof end['listenPort'] === 'number') ports.set(site, new Set([...(ports.get(site) ?? []), end['listenPort'] as number]));
        if (typeof end['publicKey'] === 'string' && !keys.has(site)) keys.set(site, end['publicKey'] as string);
      }
    }
  }
  const freePort = (site: string) => {
    const used = ports.get(site) ?? new Set<number>();
    let port = FIRST_WG_PORT;
    while (used.has(port)) port++;
    used.add(port);
    ports.set(site, used);
    return port;
  };
  const doc: Doc = structuredClone(p.doc);
  // A cloud site's VPC ids, which `region add` leaves to fill in: the lab's (a Huawei Cloud site's VPC is the
  // lab's VPC emulator, which makes the tables it is asked for; AWS route tables are never programmed).
  if (doc['provider'] === 'huaweicloud' || doc['provider'] === 'aws') {
    const cloud = obj(doc['cloud']);
    const filled: string[] = [];
    if (doc['provider'] === 'huaweicloud' && !cloud['projectId']) {
      cloud['projectId'] = createHash('sha256').update(`lab-project-${name}`).digest('hex').slice(0, 32);
      filled.push('projectId');
    }
    if (!cloud['vpcId']) {
      cloud['vpcId'] = `vpc-lab-${name}`;
      filled.push('vpcId');
    }
    if (!arr(cloud['routeTables']).length) {
      cloud['routeTables'] = [`rtb-lab-${name}`];
      filled.push('routeTables');
    }
    doc['cloud'] = cloud;
    cloudOf.set(name, cloud);
    if (filled.length) notes.push(`cloud.${filled.join(', cloud.')}: the lab's`);
  }
  const peers: string[] = [];
  doc['links'] = arr(p.doc['links']).flatMap((link) => {
    const remote = String(link['to']);
    const wan = opts.wans[remote];
    if (!wan) {
      notes.push(`the link to ${remote} is dropped: ${remote} is not in the lab`);
      return [];
    }
    const remoteKey = keys.get(remote);
    if (!remoteKey) throw new LabFleetError(`the lab has no WireGuard key for ${remote} (no WireGuard end of ${remote} in the clone)`);
    peers.push(remote);
    const wasWg = link['type'] === 'wireguard';
    const l = obj(link['local']);
    const r = obj(link['remote']);
    const localPort =
      wasWg && typeof l['listenPort'] === 'number' && !ports.get(name)?.has(l['listenPort'] as number) ? (l['listenPort'] as number) : freePort(name);
    ports.set(name, new Set([...(ports.get(name) ?? []), localPort]));
    const remotePort =
      wasWg && typeof r['listenPort'] === 'number' && !ports.get(remote)?.has(r['listenPort'] as number) ? (r['listenPort'] as number) : freePort(remote);
    ports.set(remote, new Set([...(ports.get(remote) ?? []), remotePort]));
    if (!wasWg) notes.push(`the ${String(link['type'])} link to ${remote} is WireGuard in the lab`);
    return [
      {
        to: remote,
        type: 'wireguard',
        ...(link['description'] ? { description: link['description'] } : {}),
        mtu: Math.min(mtu, typeof link['mtu'] === 'number' ? (link['mtu'] as number) : mtu),
        mssClamp: link['mssClamp'] ?? true,
        persistentKeepalive: keepalive,
        local: {
          ...(l['gateway'] ? { gateway: l['gateway'] } : {}),
          endpoint: `${opts.wan}:${localPort}`,
          listenPort: localPort,
          publicKey: opts.publicKey,
          privateKey: labPrivateKeyRef(name),
          ...(huawei(name) ? { nextHop: labNextHop(name) } : {}),
        },
        remote: {
          ...(r['gateway'] ? { gateway: r['gateway'] } : {}),
          endpoint: `${wan}:${remotePort}`,
          listenPort: remotePort,
          publicKey: remoteKey,
          privateKey: labPrivateKeyRef(remote),
          ...(huawei(remote) ? { nextHop: labNextHop(remote) } : {}),
        },
      },
    ];
  });
  if (!(doc['links'] as unknown[]).length) delete doc['links'];
  if (Array.isArray(doc['p2p'])) {
    doc['p2p'] = (doc['p2p'] as string[]).filter((n) => opts.wans[n] !== undefined);
    if (!(doc['p2p'] as string[]).length) delete doc['p2p'];
  }
  doc['gateways'] = arr(doc['gateways']).map((g, i) => (i === 0 ? { ...g, publicAddress: opts.wan } : (({ publicAddress: _p, ...rest }) => rest)(g)));
  // The scaffold's to-do list is done for the lab (the key is set): keep only the schema line of the header.
  const header = [
    ...p.header.filter((h) => !/^#\s+(-|Still to fill in)/.test(h)),
    `# mirrornet lab: made lab-ready (its WireGuard key, links through the lab's internet namespace at ${opts.wan}).`,
  ];
  return { path: p.path, content: `${header.join('\n')}\n${stringifyYaml(doc, { lineWidth: 0 })}`, peers, notes };
}
