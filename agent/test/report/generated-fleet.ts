// A small fixture generator for tests that need a large fleet: the example fleet plus Huawei Cloud regions
// joined to their area's core over Cloud Connect, until the fleet has `regions` regions. The address plan
// keeps its /16s but allocates every /16 (stride 1), so 60 regions fit. Deterministic: same input, same files.
import type { FleetRepo } from './fixture.js';

const EXAMPLE_REGIONS = 6;

const AREA = {
  overseas: {
    core: 'ap-singapore',
    harbor: 'harbor-ap-singapore',
    manager: 'http://10.128.1.10:65003',
    cluster: 11,
    cloudRegion: 'ap-southeast-1',
    first: 160,
  },
  cn: { core: 'cn-beijing', harbor: 'harbor-cn-beijing', manager: 'http://10.120.1.10:65003', cluster: 1, cloudRegion: 'cn-east-3', first: 60 },
} as const;

function regionFile(name: string, area: keyof typeof AREA, octet: number, n: number): string {
  const a = AREA[area];
  const hex = n.toString(16).padStart(4, '0');
  return [
    '# yaml-language-server: $schema=../agent/schemas/region.schema.json',
    'kind: Region',
    `name: ${name}`,
    `description: generated region ${n}`,
    `area: ${area}`,
    'provider: huaweicloud',
    'cloud:',
    `  region: ${a.cloudRegion}`,
    `  projectId: 'a${hex}${'0'.repeat(27)}'`,
    `  vpcId: ${hex}0000-0000-4000-8000-000000000000`,
    `  routeTables: [rtb-gen-${hex}]`,
    '  cloudConnectId: cc-mirrornet-global',
    `cidr: 10.${octet}.0.0/16`,
    'gateways:',
    '  - name: gw1',
    `    address: 10.${octet}.0.10`,
    'links:',
    `  - to: ${a.core}`,
    '    type: cloud-connect',
    '    instanceId: cc-mirrornet-global',
    '    mtu: 1500',
    '    mssClamp: true',
    'mirror:',
    '  runtime: containerd',
    `  registries: [${a.harbor}]`,
    '  dialTimeout: 2s',
    '  dragonfly:',
    `    manager: ${a.manager}`,
    `    schedulerClusterId: ${a.cluster}`,
    '    proxyPort: 4001',
    `    idc: ${name}`,
    `    location: ${area}|gen|${name}`,
    '    storageDir: /var/lib/dragonfly',
    '',
  ].join('\n');
}

/** Adds regions `gen-<area>-NN` to the example fleet in `repo` until it has `regions` regions (not committed). */
export function growFleet(repo: FleetRepo, regions: number): string[] {
  repo.replace('policies/address-plan.yaml', 'stride: 8', 'stride: 1');
  const names: string[] = [];
  for (let i = 0; i < regions - EXAMPLE_REGIONS; i++) {
    const area = i % 2 === 0 ? 'overseas' : 'cn';
    const k = Math.floor(i / 2);
    const name = `gen-${area}-${String(k + 1).padStart(2, '0')}`;
    repo.write(`regions/${name}.yaml`, regionFile(name, area, AREA[area].first + k, i + 1));
    names.push(name);
  }
  return names;
}
