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
// A site added to the lab later is made lab-ready the same way by ready-site.ts.
import { stringify as stringifyYaml } from 'yaml';
import type { VirtualFile } from '../../model/loader.js';
import {
  asArray,
  asObject,
  FIRST_WG_PORT,
  kindOf,
  LAB_KEEPALIVE,
  LAB_MTU,
  LabFleetError,
  labNextHop,
  labPrivateKeyRef,
  linkId,
  nameOf,
  parseFiles,
  type Doc,
  type ParsedFile,
} from './fleet-sites.js';
import type { LabTopology } from './topology.js';

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
function labNotifications(doc: Doc | undefined): Doc {
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
  out['channels'] = asArray(doc['channels']).map((c) => ({
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

  const siteFiles = parsed.filter((p) => kindOf(p) === 'Hub' || kindOf(p) === 'Region');
  const harborFiles = parsed.filter((p) => kindOf(p) === 'HarborInstance');
  const harborHub = new Map(harborFiles.map((p) => [nameOf(p), String(p.doc['hub'])] as const));
  const providerOf = new Map(siteFiles.map((p) => [nameOf(p), String(p.doc['provider'])] as const));
  const cloudOf = new Map(siteFiles.map((p) => [nameOf(p), asObject(p.doc['cloud'])] as const));

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
    asArray(p.doc['links']).forEach((link, index) => {
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
      const o = asObject(original);
      const s = inLab.get(site)!;
      const cloud = cloudOf.get(site) ?? {};
      const huawei = providerOf.get(site) === 'huaweicloud' && cloud['projectId'] && asArray(cloud['routeTables']).length;
      return {
        ...(o['gateway'] ? { gateway: o['gateway'] } : {}),
        endpoint: `${s.wan}:${listenPort}`,
        listenPort,
        publicKey: opts.publicKeys[site]!,
        privateKey: labPrivateKeyRef(site),
        // The lab's ECS stand-in forwards: its source/destination check is off.
        ...(huawei ? { nextHop: labNextHop(site), sourceDestCheck: false } : {}),
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
    const k = kindOf(p);
    if (k === 'Hub' || k === 'Region') {
      const site = inLab.get(nameOf(p));
      if (!site) {
        notes.push(`${nameOf(p)} is not in the lab (--sites).`);
        continue;
      }
      const doc: Doc = structuredClone(p.doc);
      const mine = replaced.get(p) ?? new Map<number, Doc>();
      doc['links'] = asArray(p.doc['links']).flatMap((_, i) => (mine.has(i) ? [mine.get(i)!] : []));
      if (!(doc['links'] as unknown[]).length) delete doc['links'];
      if (Array.isArray(doc['p2p'])) {
        doc['p2p'] = (doc['p2p'] as string[]).filter((n) => inLab.has(n));
        if (!(doc['p2p'] as string[]).length) delete doc['p2p'];
      }
      // The gateway is reached on its WAN address in the lab.
      doc['gateways'] = asArray(doc['gateways']).map((g, i) => (i === 0 ? { ...g, publicAddress: site.wan } : (({ publicAddress: _p, ...rest }) => rest)(g)));
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
      doc['replication'] = asArray(doc['replication']).filter((r) => {
        const ok = [r['source'], r['destination']].every((n) => harborHub.has(String(n)) && inLab.has(harborHub.get(String(n))!));
        if (!ok) notes.push(`Harbor ${nameOf(p)}: replication ${String(r['name'])} names a Harbor outside the lab; dropped.`);
        return ok;
      });
      if (!(doc['replication'] as unknown[]).length) delete doc['replication'];
      collectEnvRefs(doc, secretEnv);
      emit(p, doc, `mirrornet lab: this Harbor's images live in the real registry ${core.registry.url} on ${hub}; its API is the lab's Harbor emulator.`);
    } else if (k === 'LinkPolicy') {
      const doc: Doc = structuredClone(p.doc);
      const allowed = asArray(doc['allowed']);
      const providers = [...new Set(topo.sites.map((s) => providerOf.get(s.name) ?? s.provider))].sort();
      for (let i = 0; i < providers.length; i++) {
        for (let j = i; j < providers.length; j++) {
          const pair = [providers[i]!, providers[j]!];
          const has = allowed.some((a) => {
            const ps = asArray<string>(a['providers']);
            return ((ps[0] === pair[0] && ps[1] === pair[1]) || (ps[0] === pair[1] && ps[1] === pair[0])) && asArray<string>(a['types']).includes('wireguard');
          });
          if (!has) allowed.push({ providers: pair, types: ['wireguard'] });
        }
      }
      doc['allowed'] = allowed;
      emit(p, doc, 'mirrornet lab: WireGuard is allowed between every pair of providers (every lab link is WireGuard).');
    } else if (k === 'RolloutPolicy') {
      // Its waves name sites the lab may leave out, its soak and windows are made for hours: a lab test that runs
      // waves commits a rollout policy of its own to the lab's origin (the publisher then follows it).
      notes.push(`${p.path}: the repository's rollout waves are left out of the lab (a test commits its own).`);
    } else if (k === 'Notifications') {
      const doc = labNotifications(p.doc);
      chatChannels = asArray(doc['channels']).map((c) => String(c['name']));
      emit(p, doc, "mirrornet lab: every channel is a generic webhook to the lab's local chat receiver (same names and routes).");
    } else {
      out.push({ path: p.path, content: files.find((f) => f.path === p.path)!.content });
    }
  }
  if (!parsed.some((p) => kindOf(p) === 'Notifications')) {
    const doc = labNotifications(undefined);
    chatChannels = ['lab'];
    out.push({
      path: 'policies/notifications.yaml',
      content:
        "# mirrornet lab: the repository has no notifications policy; the lab's agents tell its local chat receiver.\n" + stringifyYaml(doc, { lineWidth: 0 }),
    });
  }
  // Files that are not YAML (none are model files) are left out of the lab's copy.
  out.sort((a, b) => (a.path < b.path ? -1 : 1));
  return { files: out, links: links.sort((a, b) => (a.id < b.id ? -1 : 1)), secretEnv: [...secretEnv].sort(), chatChannels, notes };
}
