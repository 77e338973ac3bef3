// A site added to the lab later (`mirrornet region add` in a clone of the lab's origin): `labReadySite` makes
// its file lab-ready the way `labFleet` made the others (its key, its WAN address, every link WireGuard).
// Pure: the clone's files in, the new text of that one file out.
import { createHash } from 'node:crypto';
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
  nameOf,
  parseFiles,
  type Doc,
} from './fleet-sites.js';

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
  const siteFiles = parsed.filter((p) => kindOf(p) === 'Hub' || kindOf(p) === 'Region');
  const p = siteFiles.find((x) => nameOf(x) === name);
  if (!p) throw new LabFleetError(`there is no site ${name} in the clone: run \`mirrornet region add ${name} ... --write\` there first.`);
  const mtu = opts.mtu ?? LAB_MTU;
  const keepalive = opts.keepalive ?? LAB_KEEPALIVE;
  const notes: string[] = [];
  const providerOf = new Map(siteFiles.map((x) => [nameOf(x), String(x.doc['provider'])] as const));
  const cloudOf = new Map(siteFiles.map((x) => [nameOf(x), asObject(x.doc['cloud'])] as const));
  const huawei = (site: string) =>
    providerOf.get(site) === 'huaweicloud' && Boolean(cloudOf.get(site)?.['projectId']) && asArray(cloudOf.get(site)?.['routeTables']).length > 0;
  // Every WireGuard end of the other files: the ports in use per site and the key the lab gave each site.
  const ports = new Map<string, Set<number>>();
  const keys = new Map<string, string>();
  for (const x of siteFiles) {
    if (nameOf(x) === name) continue;
    for (const l of asArray(x.doc['links'])) {
      if (l['type'] !== 'wireguard') continue;
      for (const [site, end] of [
        [nameOf(x), asObject(l['local'])],
        [String(l['to']), asObject(l['remote'])],
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
    const cloud = asObject(doc['cloud']);
    const filled: string[] = [];
    if (doc['provider'] === 'huaweicloud' && !cloud['projectId']) {
      cloud['projectId'] = createHash('sha256').update(`lab-project-${name}`).digest('hex').slice(0, 32);
      filled.push('projectId');
    }
    if (!cloud['vpcId']) {
      cloud['vpcId'] = `vpc-lab-${name}`;
      filled.push('vpcId');
    }
    if (!asArray(cloud['routeTables']).length) {
      cloud['routeTables'] = [`rtb-lab-${name}`];
      filled.push('routeTables');
    }
    doc['cloud'] = cloud;
    cloudOf.set(name, cloud);
    if (filled.length) notes.push(`cloud.${filled.join(', cloud.')}: the lab's`);
  }
  const peers: string[] = [];
  doc['links'] = asArray(p.doc['links']).flatMap((link) => {
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
    const l = asObject(link['local']);
    const r = asObject(link['remote']);
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
          ...(huawei(name) ? { nextHop: labNextHop(name), sourceDestCheck: false } : {}),
        },
        remote: {
          ...(r['gateway'] ? { gateway: r['gateway'] } : {}),
          endpoint: `${wan}:${remotePort}`,
          listenPort: remotePort,
          publicKey: remoteKey,
          privateKey: labPrivateKeyRef(remote),
          ...(huawei(remote) ? { nextHop: labNextHop(remote), sourceDestCheck: false } : {}),
        },
      },
    ];
  });
  if (!(doc['links'] as unknown[]).length) delete doc['links'];
  if (Array.isArray(doc['p2p'])) {
    doc['p2p'] = (doc['p2p'] as string[]).filter((n) => opts.wans[n] !== undefined);
    if (!(doc['p2p'] as string[]).length) delete doc['p2p'];
  }
  doc['gateways'] = asArray(doc['gateways']).map((g, i) => (i === 0 ? { ...g, publicAddress: opts.wan } : (({ publicAddress: _p, ...rest }) => rest)(g)));
  // The scaffold's to-do list is done for the lab (the key is set): keep only the schema line of the header.
  const header = [
    ...p.header.filter((h) => !/^#\s+(-|Still to fill in)/.test(h)),
    `# mirrornet lab: made lab-ready (its WireGuard key, links through the lab's internet namespace at ${opts.wan}).`,
  ];
  return { path: p.path, content: `${header.join('\n')}\n${stringifyYaml(doc, { lineWidth: 0 })}`, peers, notes };
}
