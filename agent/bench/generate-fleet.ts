// Generates a large, valid fleet for the benchmark: two cores, N regions on mixed providers (Huawei Cloud
// over Cloud Connect, AWS over IPsec VPN, self-managed IDCs over WireGuard), every region linked to its
// area's core, some region-to-region p2p peers, two Harbor instances with replication, and the policies.
// The files look like the example fleet (schema header, comments, flow lists) so parsing costs the same.
//
// The example plan (a /16 every 8th /16) holds only a few dozen regions per area, so the generated plan
// gives every site a /24 and keeps the next three /24s for growth (a /22 stride block): 8,192 blocks per
// /9 supernet, minus the reserved ranges.
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { formatIp, hex, ip, mulberry32, uuid, wgKey } from './fleet-values.js';
import { harborFile } from './generate-fleet-harbor.js';

export interface GenerateOptions {
  regions: number;
  /** Share of regions in China; the rest are overseas. */
  cnShare?: number;
  /** Seed of the deterministic generator (keys, ids). */
  seed?: number;
}

export interface GeneratedFleet {
  root: string;
  files: number;
  bytes: number;
  regions: number;
  links: number;
  byProvider: Record<'huaweicloud' | 'aws' | 'idc', number>;
  p2pPairs: number;
}

type Area = 'cn' | 'overseas';
type Provider = 'huaweicloud' | 'aws' | 'idc';

const PREFIX = 24;
const STRIDE = 4;
const BLOCK = STRIDE * 2 ** (32 - PREFIX);
const WG_PORT_FROM = 51820;
const WG_PORT_TO = 51999;
const WG_PORTS_PER_GATEWAY = WG_PORT_TO - WG_PORT_FROM + 1;

const RESERVED = [
  { cidr: '10.0.0.0/13', reason: 'legacy Beijing office network', start: ip('10.0.0.0'), end: ip('10.7.255.255') },
  { cidr: '10.248.0.0/13', reason: 'Kubernetes pod and service ranges of every cluster', start: ip('10.248.0.0'), end: ip('10.255.255.255') },
];

interface AreaSpec {
  area: Area;
  supernet: { start: number; end: number };
  allocation: 'ascending' | 'descending';
  hub: string;
  hubCidrStart: number;
  harbor: string;
  hubCloudRegion: string;
  cities: string[];
  huaweiRegions: string[];
  awsRegions: string[];
  /** Last octet of the core's first gateway's public address (203.0.113.x). */
  hubPublicBase: number;
}

const AREAS: Record<Area, AreaSpec> = {
  cn: {
    area: 'cn',
    supernet: { start: ip('10.0.0.0'), end: ip('10.127.255.255') },
    allocation: 'descending',
    hub: 'cn-beijing',
    hubCidrStart: ip('10.120.0.0'),
    harbor: 'harbor-cn-beijing',
    hubCloudRegion: 'cn-north-4',
    cities: ['shanghai', 'guangzhou', 'shenzhen', 'chengdu', 'wuhan', 'hangzhou', 'nanjing', 'xian', 'tianjin', 'chongqing', 'guiyang', 'ulanqab'],
    huaweiRegions: ['cn-east-3', 'cn-south-1', 'cn-southwest-2', 'cn-north-9', 'cn-east-4'],
    awsRegions: ['cn-north-1', 'cn-northwest-1'],
    hubPublicBase: 10,
  },
  overseas: {
    area: 'overseas',
    supernet: { start: ip('10.128.0.0'), end: ip('10.255.255.255') },
    allocation: 'ascending',
    hub: 'ap-singapore',
    hubCidrStart: ip('10.128.0.0'),
    harbor: 'harbor-ap-singapore',
    hubCloudRegion: 'ap-southeast-3',
    cities: [
      'ap-jakarta',
      'ap-bangkok',
      'ap-tokyo',
      'ap-seoul',
      'eu-frankfurt',
      'eu-amsterdam',
      'eu-dublin',
      'us-virginia',
      'us-oregon',
      'sa-saopaulo',
      'me-riyadh',
      'af-johannesburg',
    ],
    huaweiRegions: ['ap-southeast-1', 'ap-southeast-2', 'ap-southeast-4', 'eu-west-101', 'af-south-1', 'la-south-2', 'me-east-1'],
    awsRegions: ['us-east-1', 'us-west-2', 'eu-central-1', 'eu-west-1', 'ap-northeast-1', 'sa-east-1'],
    hubPublicBase: 110,
  },
};

interface RegionSpec {
  name: string;
  area: Area;
  provider: Provider;
  index: number;
  cidrStart: number;
  cloudRegion?: string;
  p2p: string[];
  /** WireGuard: hub gateway (1-based) and listen port on it. */
  hubGateway?: number;
  hubPort?: number;
  behindNat?: boolean;
  docker?: boolean;
  alsoDockerHub?: boolean;
}

export function generateFleet(root: string, opts: GenerateOptions): GeneratedFleet {
  const rand = mulberry32(opts.seed ?? 20261125);
  const cnCount = Math.round(opts.regions * (opts.cnShare ?? 0.4));
  const counts: Record<Area, number> = { cn: cnCount, overseas: opts.regions - cnCount };

  const regions: RegionSpec[] = [];
  const wgPerHub: Record<Area, number> = { cn: 0, overseas: 0 };
  const byProvider: Record<Provider, number> = { huaweicloud: 0, aws: 0, idc: 0 };
  let p2pPairs = 0;
  for (const area of ['cn', 'overseas'] as const) {
    const spec = AREAS[area];
    const blocks = freeBlocks(spec, counts[area]);
    const list: RegionSpec[] = [];
    for (let i = 0; i < counts[area]; i++) {
      // Half on Huawei Cloud, a quarter on AWS, a quarter in self-managed IDCs.
      const provider: Provider = i % 4 === 0 || i % 4 === 2 ? 'huaweicloud' : i % 4 === 1 ? 'aws' : 'idc';
      byProvider[provider]++;
      const city = spec.cities[i % spec.cities.length]!;
      const base = area === 'cn' ? `cn-${city}` : city;
      const r: RegionSpec = {
        name: `${base}${provider === 'idc' ? '-idc' : ''}-${String(i + 1).padStart(4, '0')}`,
        area,
        provider,
        index: i,
        cidrStart: blocks[i]!,
        p2p: [],
      };
      if (provider === 'huaweicloud') r.cloudRegion = spec.huaweiRegions[i % spec.huaweiRegions.length]!;
      if (provider === 'aws') r.cloudRegion = spec.awsRegions[i % spec.awsRegions.length]!;
      if (provider === 'idc') {
        const n = wgPerHub[area]++;
        r.hubGateway = 1 + Math.floor(n / WG_PORTS_PER_GATEWAY);
        r.hubPort = WG_PORT_FROM + (n % WG_PORTS_PER_GATEWAY);
        r.behindNat = n % 2 === 0;
        r.docker = n % 4 === 1;
      }
      r.alsoDockerHub = !r.docker && i % 5 === 3;
      list.push(r);
    }
    // Every tenth region exchanges P2P traffic with the next one (declared on both sides).
    for (let i = 0; i + 1 < list.length; i += 10) {
      list[i]!.p2p.push(list[i + 1]!.name);
      list[i + 1]!.p2p.push(list[i]!.name);
      p2pPairs++;
    }
    regions.push(...list);
  }

  const hubGateways: Record<Area, number> = {
    cn: Math.max(1, Math.ceil(wgPerHub.cn / WG_PORTS_PER_GATEWAY)),
    overseas: Math.max(1, Math.ceil(wgPerHub.overseas / WG_PORTS_PER_GATEWAY)),
  };
  const hubKeys: Record<Area, string[]> = {
    cn: Array.from({ length: hubGateways.cn }, () => wgKey(rand)),
    overseas: Array.from({ length: hubGateways.overseas }, () => wgKey(rand)),
  };

  let files = 0;
  let bytes = 0;
  const write = (rel: string, text: string) => {
    writeFileSync(join(root, rel), text);
    files++;
    bytes += Buffer.byteLength(text);
  };
  for (const dir of ['hubs', 'regions', 'harbor', 'policies']) mkdirSync(join(root, dir), { recursive: true });

  for (const [rel, text] of policyFiles()) write(rel, text);
  write('hubs/cn-beijing.yaml', hubFile(AREAS.cn, hubGateways.cn, rand));
  write('hubs/ap-singapore.yaml', hubFile(AREAS.overseas, hubGateways.overseas, rand));
  write(
    'harbor/harbor-cn-beijing.yaml',
    harborFile(AREAS.cn, (host) => hubAddr(AREAS.cn, host)),
  );
  write(
    'harbor/harbor-ap-singapore.yaml',
    harborFile(AREAS.overseas, (host) => hubAddr(AREAS.overseas, host)),
  );
  regions.forEach((r, k) => write(`regions/${r.name}.yaml`, regionFile(r, k + 1, hubKeys[r.area], rand)));

  return { root, files, bytes, regions: regions.length, links: regions.length + 1, byProvider, p2pPairs };
}

/** The first `count` stride blocks of an area in its allocation order, skipping reserved ranges and the core's block. */
function freeBlocks(spec: AreaSpec, count: number): number[] {
  const out: number[] = [];
  const total = (spec.supernet.end - spec.supernet.start + 1) / BLOCK;
  for (let k = 0; k < total && out.length < count; k++) {
    const i = spec.allocation === 'descending' ? total - 1 - k : k;
    const start = spec.supernet.start + i * BLOCK;
    const end = start + BLOCK - 1;
    if (RESERVED.some((r) => r.start <= end && start <= r.end)) continue;
    if (spec.hubCidrStart >= start && spec.hubCidrStart <= end) continue;
    out.push(start);
  }
  if (out.length < count)
    throw new Error(`the ${spec.area} area holds only ${out.length} regions with a /${PREFIX} every ${STRIDE} blocks; asked for ${count}`);
  return out;
}

function policyFiles(): [string, string][] {
  return [
    [
      'policies/address-plan.yaml',
      `# yaml-language-server: $schema=../agent/schemas/address-plan.schema.json
# Benchmark plan: China counts down from 10.127, overseas counts up from 10.128. Every site takes one /${PREFIX}
# and keeps the next ${STRIDE - 1} free for growth, so thousands of regions fit in each /9.
kind: AddressPlan
name: address-plan
areas:
  cn:
    supernet: 10.0.0.0/9
    allocation: descending
  overseas:
    supernet: 10.128.0.0/9
    allocation: ascending
regionPrefixLength: ${PREFIX}
stride: ${STRIDE}
reserved:
${RESERVED.map((r) => `  - cidr: ${r.cidr}\n    reason: ${r.reason}`).join('\n')}
`,
    ],
    [
      'policies/links.yaml',
      `# yaml-language-server: $schema=../agent/schemas/link-policy.schema.json
# Which link types may join which providers, and the MTU every link must stay within.
kind: LinkPolicy
name: links
mtu:
  min: 1280
  max: 1500
wireguardPorts:
  from: ${WG_PORT_FROM}
  to: ${WG_PORT_TO}
allowed:
  - providers: [huaweicloud, huaweicloud]
    types: [cloud-connect, peering, vpn-ipsec, wireguard]
  - providers: [huaweicloud, aws]
    types: [vpn-ipsec, wireguard]
  - providers: [huaweicloud, idc]
    types: [vpn-ipsec, wireguard]
  - providers: [aws, aws]
    types: [peering, vpn-ipsec, wireguard]
  - providers: [aws, idc]
    types: [vpn-ipsec, wireguard]
  - providers: [idc, idc]
    types: [wireguard]
`,
    ],
    [
      'policies/routing.yaml',
      `# yaml-language-server: $schema=../agent/schemas/routing-policy.schema.json
# Hub-spoke, with opt-in region-to-region peers for cross-region P2P image distribution.
kind: RoutingPolicy
name: routing
mode: hub-spoke
regionPeering: opt-in
crossAreaPeering: false
`,
    ],
    [
      'policies/guardrails.yaml',
      `# yaml-language-server: $schema=../agent/schemas/guardrails.schema.json
kind: Guardrails
name: guardrails
maxDeletionsPerApply: 20
protectedDestinations:
  - ${formatIp(AREAS.cn.hubCidrStart)}/${PREFIX}
  - ${formatIp(AREAS.overseas.hubCidrStart)}/${PREFIX}
drift:
  routes: heal
  wireguard: heal
  containerd: heal
  docker: alert
  dragonfly: heal
  cloudRoutes: alert
  harbor: alert
`,
    ],
    [
      'policies/region-defaults.yaml',
      `# yaml-language-server: $schema=../agent/schemas/region-defaults.schema.json
kind: RegionDefaults
name: region-defaults
linkType:
  huaweicloud: cloud-connect
  aws: vpn-ipsec
  idc: wireguard
mtu:
  cloud-connect: 1500
  peering: 1500
  vpn-ipsec: 1400
  wireguard: 1420
mssClamp: true
gatewayHost: 10
mirror:
  runtime: containerd
  dialTimeout: 2s
  dragonfly:
    proxyPort: 4001
    storageDir: /var/lib/dragonfly
    gc:
      interval: 15m
      taskTTL: 6h
      diskHighThresholdPercent: 85
      diskLowThresholdPercent: 70
`,
    ],
  ];
}

function hubAddr(spec: AreaSpec, host: number): string {
  return formatIp(spec.hubCidrStart + host);
}

function hubPublic(spec: AreaSpec, gateway: number): string {
  return `203.0.113.${spec.hubPublicBase + gateway - 1}`;
}

function hubFile(spec: AreaSpec, gateways: number, rand: () => number): string {
  const isCn = spec.area === 'cn';
  const gw = Array.from(
    { length: gateways },
    (_, k) => `  - name: gw${k + 1}\n    address: ${hubAddr(spec, 10 + k)}\n    publicAddress: ${hubPublic(spec, k + 1)}`,
  ).join('\n');
  const link = isCn
    ? `links:
  - to: ap-singapore
    type: cloud-connect
    description: Beijing <-> Singapore dedicated line (Huawei Cloud Connect)
    instanceId: cc-mirrornet-global
    mtu: 1500
    mssClamp: true
`
    : '';
  const summary = isCn
    ? 'The China core: builds push here; Harbor replicates to Singapore over Cloud Connect.'
    : "The overseas core: receives Beijing's images by replication and serves every overseas region.";
  return `# yaml-language-server: $schema=../agent/schemas/hub.schema.json
# ${summary}
kind: Hub
name: ${spec.hub}
description: ${isCn ? 'China core, Huawei Cloud Beijing 4' : 'Overseas core, Huawei Cloud Singapore'}
area: ${spec.area}
provider: huaweicloud
cloud:
  region: ${spec.hubCloudRegion}
  projectId: ${hex(rand, 32)}
  vpcId: ${uuid(rand)}
  routeTables: [rtb-${isCn ? 'bj' : 'sg'}-core-0001, rtb-${isCn ? 'bj' : 'sg'}-core-0002]
  cloudConnectId: cc-mirrornet-global
  vpnGatewayId: vpngw-${isCn ? 'bj' : 'sg'}-0001
cidr: ${formatIp(spec.hubCidrStart)}/${PREFIX}
gateways:
${gw}
dragonfly:
  manager: http://${hubAddr(spec, 100)}:65003
  schedulers: [${hubAddr(spec, 101)}:8002, ${hubAddr(spec, 102)}:8002]
  seedPeers: [${hubAddr(spec, 111)}, ${hubAddr(spec, 112)}]
${link}labels:
  team: network
`;
}

function regionFile(r: RegionSpec, clusterId: number, hubKeys: string[], rand: () => number): string {
  const spec = AREAS[r.area];
  const cidr = `${formatIp(r.cidrStart)}/${PREFIX}`;
  const gwAddr = formatIp(r.cidrStart + 10);
  const city = r.name.replace(/^(cn-)?/, '').replace(/(-idc)?-\d+$/, '');
  const lines: string[] = ['# yaml-language-server: $schema=../agent/schemas/region.schema.json'];
  if (r.provider === 'idc')
    lines.push(
      `# A self-managed data centre${r.behindNat ? ' behind NAT: it dials the' : ', on WireGuard to the'} ` +
        `${spec.hub} gateway${r.behindNat ? ' over WireGuard' : ''}.`,
    );
  if (r.provider === 'aws') lines.push(`# AWS ${r.cloudRegion}: a different provider, so no dedicated line to Huawei: a site-to-site IPsec VPN.`);
  lines.push('kind: Region', `name: ${r.name}`, `description: ${city} clusters (${r.provider})`, `area: ${r.area}`, `provider: ${r.provider}`);
  if (r.provider === 'huaweicloud') {
    lines.push(
      'cloud:',
      `  region: ${r.cloudRegion}`,
      `  projectId: ${hex(rand, 32)}`,
      `  vpcId: ${uuid(rand)}`,
      `  routeTables: [rtb-${hex(rand, 8)}]`,
      '  cloudConnectId: cc-mirrornet-global',
    );
  } else if (r.provider === 'aws') {
    lines.push('cloud:', `  region: ${r.cloudRegion}`, `  vpcId: vpc-${hex(rand, 17)}`, `  routeTables: [rtb-${hex(rand, 17)}, rtb-${hex(rand, 17)}]`);
  }
  lines.push(`cidr: ${cidr}`, 'gateways:', '  - name: gw1', `    address: ${gwAddr}`);
  const ownPublic = `198.51.100.${1 + (r.index % 254)}`;
  if (r.provider === 'idc' && !r.behindNat) lines.push(`    publicAddress: ${ownPublic}`);
  lines.push('links:', `  - to: ${spec.hub}`);
  switch (r.provider) {
    case 'huaweicloud':
      lines.push('    type: cloud-connect', '    instanceId: cc-mirrornet-global', '    mtu: 1500', '    mssClamp: true');
      break;
    case 'aws':
      lines.push(
        '    type: vpn-ipsec',
        `    psk: env:MIRRORNET_PSK_${r.name.toUpperCase().replace(/-/g, '_')}`,
        '    mtu: 1400',
        '    mssClamp: 1360',
        '    local:',
        `      peerAddress: ${ownPublic}`,
        `      nextHop: vgw-${hex(rand, 17)}`,
        '    remote:',
        '      gateway: gw1',
        `      peerAddress: ${hubPublic(spec, 1)}`,
        `      nextHop: vpngw-${r.area === 'cn' ? 'bj' : 'sg'}-0001`,
      );
      break;
    case 'idc': {
      const g = r.hubGateway!;
      lines.push(
        '    type: wireguard',
        '    mtu: 1420',
        '    mssClamp: true',
        '    persistentKeepalive: 25',
        '    local:',
        '      gateway: gw1',
        ...(r.behindNat ? [] : [`      endpoint: ${ownPublic}:51820`]),
        '      listenPort: 51820',
        `      publicKey: ${wgKey(rand)}`,
        `      privateKey: file:/etc/mirrornet/wireguard/${r.name}.key`,
        '    remote:',
        `      gateway: gw${g}`,
        `      endpoint: ${hubPublic(spec, g)}:${r.hubPort}`,
        `      listenPort: ${r.hubPort}`,
        `      publicKey: ${hubKeys[g - 1]}`,
        `      privateKey: file:/etc/mirrornet/wireguard/${spec.hub}-gw${g}.key`,
      );
      break;
    }
  }
  if (r.p2p.length) lines.push(`p2p: [${r.p2p.join(', ')}]`);
  const registries = r.docker ? ['docker.io'] : r.alsoDockerHub ? [spec.harbor, 'docker.io'] : [spec.harbor];
  lines.push('mirror:');
  if (r.docker) lines.push('  # Docker hosts: registry-mirrors only covers Docker Hub, so this site mirrors Docker Hub only.');
  lines.push(`  runtime: ${r.docker ? 'docker' : 'containerd'}`, `  registries: [${registries.join(', ')}]`);
  if (!r.docker) lines.push('  dialTimeout: 2s');
  lines.push(
    '  dragonfly:',
    `    manager: http://${hubAddr(spec, 100)}:65003`,
    `    schedulerClusterId: ${clusterId}`,
    '    proxyPort: 4001',
    `    idc: ${r.name}`,
    `    location: ${r.area}|${city}|${r.name}`,
    '    storageDir: /var/lib/dragonfly',
  );
  if (r.index % 3 === 0) {
    lines.push('    gc:', '      interval: 15m', '      taskTTL: 6h', '      diskHighThresholdPercent: 85', '      diskLowThresholdPercent: 70');
  }
  lines.push('labels:', `  team: platform-${r.area === 'cn' ? 'cn' : 'intl'}`, `  tier: ${r.index % 7 === 0 ? 'production' : 'standard'}`);
  return `${lines.join('\n')}\n`;
}
