// `region add`: a new region file, already valid, from the address plan, the area's core and the defaults.
// Pure: takes the fleet (and the CIDRs every site file declares, valid or not), returns the file's path and
// text. Command-line values are checked before use, and the file is written by the YAML library (the header
// is the document's comment), so no value can add a key.
import { MirrornetError } from '../errors.js';
import { Document } from 'yaml';
import { CLOUD_REGION_PATTERN } from '../model/field-formats.js';
import { coreOf, type Fleet, type SiteEntry } from '../model/fleet.js';
import { Area, Provider, SCHEMA_FILE, type Hub, type Link, type LinkType } from '../model/schema.js';
import { NAME_PATTERN } from '../model/field-formats.js';
import { contains, formatCidr, formatIpv4, parseCidr } from '../net/cidr.js';
import { growthReservation, nextFreeBlock, planGeometry, type PlanGeometry } from '../net/plan.js';
import { occupied } from '../policy/rules/cidr.js';

export interface RegionAddOptions {
  name: string;
  area: Area;
  provider: Provider;
  cloudRegion?: string;
  hub?: string;
}

export interface ScaffoldResult {
  path: string;
  content: string;
  cidr: string;
  hub: string;
  linkType: LinkType;
  /** What the user still has to fill in before the agent can use everything. */
  todo: string[];
}

export class ScaffoldError extends MirrornetError {}

/** A cloud region as the clouds name them (eu-central-1, cn-north-4); it also ends the Dragonfly location, where `|` separates levels. */
const CONTROL_CHARACTER = /[\p{Cc}\p{Cf}\p{Zl}\p{Zp}]/u;

/**
 * @param declaredCidrs every `cidr` the repository's region and hub files declare, whether or not they validate
 *   (declared-cidrs.ts): each holds its block, as the validated sites do.
 */
export function scaffoldRegion(fleet: Fleet, opts: RegionAddOptions, declaredCidrs: readonly string[] = []): ScaffoldResult {
  checkCommandLine(opts);
  const { name, area, provider } = opts;
  const existing = fleet.sites.get(name);
  if (existing) throw new ScaffoldError(`The site ${name} already exists in ${existing.file.path}.`);
  if (fleet.brokenNames.has(name)) throw new ScaffoldError(`A file for ${name} already exists (and does not validate): fix or remove it first.`);
  if (provider !== 'idc' && !opts.cloudRegion)
    throw new ScaffoldError(`${provider === 'aws' ? 'An' : 'A'} ${provider} region needs --cloud-region (e.g. eu-central-1 or ap-southeast-3).`);
  if (provider === 'idc' && opts.cloudRegion) throw new ScaffoldError('An idc region has no cloud region: drop --cloud-region.');

  const defaults = fleet.policies.regionDefaults?.value;
  if (!defaults)
    throw new ScaffoldError('There is no RegionDefaults policy (policies/region-defaults.yaml): add it, or fix it so that `mirrornet validate` accepts it.');
  const planPolicy = fleet.policies.addressPlan?.value;
  const geo = planPolicy && planGeometry(planPolicy);
  if (!geo) throw new ScaffoldError('There is no valid AddressPlan (policies/address-plan.yaml): run `mirrornet validate` and fix it first.');

  let hubEntry: SiteEntry | undefined;
  if (opts.hub) {
    hubEntry = fleet.sites.get(opts.hub);
    if (!hubEntry || hubEntry.role !== 'hub') throw new ScaffoldError(`There is no hub "${opts.hub}": use one of ${[...fleet.hubs.keys()].join(', ')}.`);
  } else {
    hubEntry = coreOf(fleet, area);
    if (!hubEntry) throw new ScaffoldError(`Area ${area} has no core (Hub) to link to: add one under hubs/ first.`);
  }
  const hub = hubEntry.value as Hub;

  const used: { start: number; end: number }[] = [];
  for (const site of fleet.sites.values()) {
    const p = parseCidr(site.value.cidr);
    if (p.ok) used.push(...occupied(geo, site, p.range));
  }
  for (const cidr of declaredCidrs) used.push(...claimOf(geo, cidr));
  const block = nextFreeBlock(geo, area, used);
  if (!block) {
    const sup = geo.areas.find((a) => a.area === area)!.supernet;
    throw new ScaffoldError(
      `The ${area} area is full: every block of ${formatCidr(sup)} is used or reserved. Free a region's block or extend the address plan.`,
    );
  }
  const cidr = formatCidr(block);
  const gatewayAddress = formatIpv4(block.start + defaults.gatewayHost);

  const linkType = defaults.linkType[provider];
  const todo: string[] = [];
  const link = buildLink(fleet, hubEntry, hub, name, linkType, defaults.mtu[linkType], defaults.mssClamp, todo);

  const harbor = [...fleet.harbors.entries()].find(([, h]) => h.value.hub === hubEntry!.name)?.[0];
  if (!harbor) throw new ScaffoldError(`The core ${hubEntry.name} has no HarborInstance to mirror: add harbor/harbor-${hubEntry.name}.yaml first.`);
  let maxCluster = 0;
  for (const r of fleet.regions.values()) maxCluster = Math.max(maxCluster, r.value.mirror.dragonfly.schedulerClusterId ?? 0);

  const dm = defaults.mirror;
  const region: Record<string, unknown> = {
    kind: 'Region',
    name,
    area,
    provider,
    ...(opts.cloudRegion ? { cloud: { region: opts.cloudRegion, ...(link.type === 'cloud-connect' ? { cloudConnectId: link.instanceId } : {}) } } : {}),
    cidr,
    gateways: [{ name: 'gw1', address: gatewayAddress }],
    links: [keysFirst(link, ['to', 'type'])],
    mirror: {
      runtime: dm.runtime,
      registries: [harbor],
      dragonfly: {
        manager: hub.dragonfly.manager,
        schedulerClusterId: maxCluster + 1,
        proxyPort: dm.dragonfly.proxyPort,
        idc: name,
        location: `${area}|${opts.cloudRegion ?? name}`,
        ...(dm.dragonfly.storageDir ? { storageDir: dm.dragonfly.storageDir } : {}),
        ...(dm.dragonfly.gc ? { gc: dm.dragonfly.gc } : {}),
        ...(dm.dragonfly.disableBackToSource !== undefined ? { disableBackToSource: dm.dragonfly.disableBackToSource } : {}),
      },
      ...(dm.dialTimeout ? { dialTimeout: dm.dialTimeout } : {}),
    },
  };
  if (provider !== 'idc') {
    todo.unshift(`cloud.vpcId and cloud.routeTables${provider === 'huaweicloud' ? ' and cloud.projectId' : ''} of the new VPC`);
  }
  // The header is the comment before the document's first key: the library starts each of its lines with `#`.
  const header = [
    ` yaml-language-server: $schema=../agent/schemas/${SCHEMA_FILE.Region}`,
    ` Region ${name}: ${area}, ${provider}${opts.cloudRegion ? ` ${opts.cloudRegion}` : ''}. Created by \`mirrornet region add\`.`,
    ...(todo.length ? [' Still to fill in before the agent can bring everything up:', ...todo.map((t) => `   - ${t}`)] : []),
  ];
  const doc = new Document();
  const contents = doc.createNode(region);
  contents.commentBefore = header.join('\n');
  doc.contents = contents;
  const content = doc.toString({ lineWidth: 0 });
  return { path: `regions/${name}.yaml`, content, cidr, hub: hubEntry.name, linkType, todo };
}

/** Every value from the command line, before any is used: one plain token each, or a sentence naming the flag. */
function checkCommandLine(opts: RegionAddOptions): void {
  const check = (what: (shown: string) => string, value: string, valid: boolean, alone: string, invalid: string): void => {
    if (CONTROL_CHARACTER.test(value)) throw new ScaffoldError(`${what(JSON.stringify(value))} contains a line break or control character: ${alone}.`);
    if (!valid) throw new ScaffoldError(`${what(JSON.stringify(value))} ${invalid}.`);
  };
  check(
    (v) => `The name ${v} (the argument of region add)`,
    opts.name,
    NAME_PATTERN.test(opts.name),
    'give the region name alone, e.g. eu-frankfurt',
    'is not a valid name: use lowercase letters, digits and dashes, starting with a letter (e.g. eu-frankfurt)',
  );
  check((v) => `--area ${v}`, opts.area, Area.safeParse(opts.area).success, 'give cn or overseas', `is not an area: use ${Area.options.join(' or ')}`);
  check(
    (v) => `--provider ${v}`,
    opts.provider,
    Provider.safeParse(opts.provider).success,
    'give the provider alone',
    `is not a provider: use ${Provider.options.join(', ')}`,
  );
  if (opts.cloudRegion !== undefined) {
    check(
      (v) => `--cloud-region ${v}`,
      opts.cloudRegion,
      CLOUD_REGION_PATTERN.test(opts.cloudRegion),
      'give the cloud region alone, e.g. eu-central-1',
      'is not a cloud region: use lowercase letters, digits and dashes, as the cloud names it (e.g. eu-central-1)',
    );
  }
  if (opts.hub !== undefined) {
    check(
      (v) => `--hub ${v}`,
      opts.hub,
      NAME_PATTERN.test(opts.hub),
      'give the hub name alone, e.g. ap-singapore',
      'is not a valid hub name: use the name of a file under hubs/',
    );
  }
}

/** The ranges a declared CIDR holds: itself and, on the stride of the area that contains it, its growth room (as `occupied`). */
function claimOf(geo: PlanGeometry, cidr: string): { start: number; end: number }[] {
  const p = parseCidr(cidr);
  if (!p.ok) return [];
  const area = geo.areas.find((a) => contains(a.supernet, p.range));
  const growth = area && growthReservation(geo, area, p.range);
  return [{ start: p.range.start, end: p.range.end }, ...(growth ? [growth] : [])];
}

function buildLink(fleet: Fleet, hubEntry: SiteEntry, hub: Hub, name: string, type: LinkType, mtu: number, mssClamp: boolean | number, todo: string[]): Link {
  const common = { to: hubEntry.name, mtu, mssClamp };
  const hubGw = hub.gateways[0]!;
  switch (type) {
    case 'cloud-connect': {
      const instanceId = hub.cloud?.cloudConnectId;
      if (!instanceId)
        throw new ScaffoldError(`The core ${hubEntry.name} has no cloud.cloudConnectId: set it, or use another link type in policies/region-defaults.yaml.`);
      return { ...common, type, instanceId };
    }
    case 'peering':
      throw new ScaffoldError(
        'A peering link needs a peering id that exists only after the peering is created: set linkType to vpn-ipsec or wireguard in ' +
          'policies/region-defaults.yaml, and change the link later.',
      );
    case 'vpn-ipsec': {
      todo.push('links[0].local.nextHop (the VPN gateway of the new VPC) and links[0].local.peerAddress');
      todo.push(`the pre-shared key in MIRRORNET_PSK_${name.toUpperCase().replace(/-/g, '_')} on both gateways`);
      return {
        ...common,
        type,
        psk: `env:MIRRORNET_PSK_${name.toUpperCase().replace(/-/g, '_')}`,
        local: {},
        remote: {
          gateway: hubGw.name,
          ...(hubGw.publicAddress ? { peerAddress: hubGw.publicAddress } : {}),
          ...(hub.cloud?.vpnGatewayId ? { nextHop: hub.cloud.vpnGatewayId } : {}),
        },
      };
    }
    case 'wireguard': {
      // The hub gateway's existing WireGuard key and the next free listen port on that gateway.
      const policy = fleet.policies.linkPolicy?.value;
      const range = policy?.wireguardPorts ?? { from: 51820, to: 51999 };
      const usedPorts = new Set<number>();
      let hubKey: { publicKey?: string; privateKey?: string; nextHop?: string; sourceDestCheck?: boolean } = {};
      for (const fl of fleet.links) {
        if (fl.link.type !== 'wireguard') continue;
        for (const [site, end] of [
          [fl.local, fl.link.local],
          [fl.remote, fl.link.remote],
        ] as const) {
          if (site === hubEntry.name && (end.gateway ?? hubGw.name) === hubGw.name) {
            usedPorts.add(end.listenPort);
            if (end.publicKey && !hubKey.publicKey) {
              // Same gateway, same key and the same ECS behind it (the cloud route tables' next hop).
              hubKey = {
                publicKey: end.publicKey,
                ...(end.privateKey ? { privateKey: end.privateKey } : {}),
                ...(end.nextHop ? { nextHop: end.nextHop } : {}),
                ...(end.sourceDestCheck !== undefined ? { sourceDestCheck: end.sourceDestCheck } : {}),
              };
            }
          }
        }
      }
      let port = range.from;
      while (usedPorts.has(port) && port <= range.to) port++;
      if (port > range.to)
        throw new ScaffoldError(
          `The hub gateway ${hubEntry.name}/${hubGw.name} has no free WireGuard port in ${range.from}..${range.to}: ` +
            'widen wireguardPorts in policies/links.yaml.',
        );
      todo.push(`links[0].local.publicKey: run \`wg genkey | tee /etc/mirrornet/wireguard/${name}.key | wg pubkey\` on the new gateway`);
      if (!hubGw.publicAddress) todo.push(`links[0].remote.endpoint: the public address of ${hubEntry.name}/${hubGw.name}`);
      return {
        ...common,
        type,
        persistentKeepalive: 25,
        local: { gateway: 'gw1', listenPort: 51820, privateKey: `file:/etc/mirrornet/wireguard/${name}.key` },
        remote: {
          gateway: hubGw.name,
          ...(hubGw.publicAddress ? { endpoint: `${hubGw.publicAddress}:${port}` } : {}),
          listenPort: port,
          ...hubKey,
        },
      };
    }
  }
}

/** The same object with some keys first, for a file that reads top-down. */
function keysFirst<T extends object>(obj: T, keys: (keyof T)[]): T {
  const out: Partial<T> = {};
  for (const k of keys) if (k in obj) out[k] = obj[k];
  return Object.assign(out, obj) as T;
}
