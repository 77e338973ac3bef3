// The agent benchmark's fleet: one core (the gateway under test) with a WireGuard link to each of N IDC
// regions, and S static routes per link on the core (the IDCs' other networks behind their gateways), so
// the core's host route table holds N * (1 + S) routes (50 * 4 = 200) and its WireGuard interfaces N peers
// with 1 + S allowed IPs each. Real key pairs (`wg genkey | wg pubkey`, or X25519 from node:crypto when
// `wg` is missing); every private key is written under `<root>/etc/mirrornet/wireguard/` and referenced as
// `file:/etc/mirrornet/wireguard/<site>.key`, the way a host keeps it.
//
// Site names carry a per-run token: WireGuard interface names derive from them, and wireguard-go's control
// sockets (/var/run/wireguard/<if>.sock) are per machine, not per network namespace.
import { spawnSync } from 'node:child_process';
import { generateKeyPairSync } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { wireguardInterfaceName } from '../src/desired/compile.js';

export interface GatewayFleetOptions {
  /** Lowercase letters and digits, unique per run (goes into site and so interface names). */
  token: string;
  regions: number;
  staticRoutesPerRegion: number;
}

interface KeyPair {
  privateKey: string;
  publicKey: string;
}

export interface GatewayFleet {
  repo: string;
  root: string;
  hub: string;
  regions: string[];
  /** The core's WireGuard interface names, one per region. */
  interfaces: string[];
  /** Routes the core's table should get from mirrornet. */
  hubRoutes: number;
  keySource: 'wg' | 'node:crypto';
}

const HUB_PORT_FROM = 51820;

function hasWg(): boolean {
  return spawnSync('wg', ['--version'], { stdio: 'ignore' }).status === 0;
}

/** A WireGuard key pair: `wg genkey` / `wg pubkey` when available, else X25519 from node:crypto. */
function keyPair(useWg: boolean): KeyPair {
  if (useWg) {
    const gen = spawnSync('wg', ['genkey'], { encoding: 'utf8' });
    if (gen.status !== 0) throw new Error(`wg genkey failed: ${gen.stderr}`);
    const privateKey = gen.stdout.trim();
    const pub = spawnSync('wg', ['pubkey'], { encoding: 'utf8', input: `${privateKey}\n` });
    if (pub.status !== 0) throw new Error(`wg pubkey failed: ${pub.stderr}`);
    return { privateKey, publicKey: pub.stdout.trim() };
  }
  const { privateKey, publicKey } = generateKeyPairSync('x25519');
  const d = privateKey.export({ format: 'jwk' }).d!;
  const x = publicKey.export({ format: 'jwk' }).x!;
  return { privateKey: Buffer.from(d, 'base64url').toString('base64'), publicKey: Buffer.from(x, 'base64url').toString('base64') };
}

const pad = (n: number) => String(n).padStart(2, '0');

/** Writes the fleet into `repo` and the private keys into `root`. */
export function generateGatewayFleet(repo: string, root: string, opts: GatewayFleetOptions): GatewayFleet {
  if (!/^[a-z0-9]{1,20}$/.test(opts.token)) throw new Error(`bad token ${opts.token}`);
  if (opts.regions < 1 || opts.regions > 63) throw new Error('1..63 regions (one /24 every 4 in 10.128.0.0/16)');
  const useWg = hasWg();
  const hub = `ap-${opts.token}-hub`;
  const regions = Array.from({ length: opts.regions }, (_, i) => `eu-${opts.token}-r${pad(i + 1)}`);
  const keyDir = join(root, 'etc/mirrornet/wireguard');
  mkdirSync(keyDir, { recursive: true, mode: 0o700 });
  const keys = new Map<string, KeyPair>();
  for (const site of [hub, ...regions]) {
    const k = keyPair(useWg);
    keys.set(site, k);
    writeFileSync(join(keyDir, `${site}.key`), `${k.privateKey}\n`, { mode: 0o600 });
  }
  for (const dir of ['hubs', 'regions', 'policies']) mkdirSync(join(repo, dir), { recursive: true });
  const write = (rel: string, text: string) => writeFileSync(join(repo, rel), text);

  write(
    'policies/address-plan.yaml',
    `# yaml-language-server: $schema=../agent/schemas/address-plan.schema.json
kind: AddressPlan
name: address-plan
areas:
  cn:
    supernet: 10.0.0.0/9
    allocation: descending
  overseas:
    supernet: 10.128.0.0/9
    allocation: ascending
regionPrefixLength: 24
stride: 4
`,
  );
  write(
    'policies/links.yaml',
    `# yaml-language-server: $schema=../agent/schemas/link-policy.schema.json
kind: LinkPolicy
name: links
mtu:
  min: 1280
  max: 1500
wireguardPorts:
  from: 51820
  to: 51999
allowed:
  - providers: [idc, idc]
    types: [wireguard]
`,
  );
  write(
    'policies/routing.yaml',
    `# yaml-language-server: $schema=../agent/schemas/routing-policy.schema.json
kind: RoutingPolicy
name: routing
mode: hub-spoke
regionPeering: opt-in
crossAreaPeering: false
`,
  );
  write(
    'policies/guardrails.yaml',
    `# yaml-language-server: $schema=../agent/schemas/guardrails.schema.json
kind: Guardrails
name: guardrails
maxDeletionsPerApply: 20
protectedDestinations:
  - 10.128.0.0/24
drift:
  routes: heal
  wireguard: heal
  containerd: heal
  docker: alert
  dragonfly: heal
  cloudRoutes: alert
  harbor: alert
`,
  );
  write(
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
mirror:
  runtime: containerd
  dialTimeout: 2s
  dragonfly:
    proxyPort: 4001
`,
  );

  // The core: its static routes send each IDC's other networks (172.16.0.0/12) into that IDC's tunnel.
  const statics: string[] = [];
  let k = 0;
  regions.forEach((region) => {
    for (let s = 0; s < opts.staticRoutesPerRegion; s++, k++) {
      statics.push(`  - destination: 172.${16 + (k >> 8)}.${k & 255}.0/24\n    via: ${region}\n    description: ${region} server network ${s + 1}`);
    }
  });
  write(
    `hubs/${hub}.yaml`,
    `# yaml-language-server: $schema=../agent/schemas/hub.schema.json
# The gateway under test: one WireGuard tunnel per IDC region, ${statics.length} static routes to the IDCs' other networks.
kind: Hub
name: ${hub}
description: Benchmark core
area: overseas
provider: idc
cidr: 10.128.0.0/24
gateways:
  - name: gw1
    address: 10.128.0.10
    publicAddress: 203.0.113.1
${statics.length ? `routes:\n${statics.join('\n')}\n` : ''}dragonfly:
  manager: http://10.128.0.100:65003
  schedulers: [10.128.0.101:8002]
`,
  );

  const hubKey = keys.get(hub)!;
  regions.forEach((region, i) => {
    const third = 4 * (i + 1);
    const own = keys.get(region)!;
    write(
      `regions/${region}.yaml`,
      `# yaml-language-server: $schema=../agent/schemas/region.schema.json
kind: Region
name: ${region}
description: Benchmark IDC ${i + 1}
area: overseas
provider: idc
cidr: 10.128.${third}.0/24
gateways:
  - name: gw1
    address: 10.128.${third}.10
    publicAddress: 198.51.100.${i + 1}
links:
  - to: ${hub}
    type: wireguard
    mtu: 1420
    mssClamp: true
    local:
      gateway: gw1
      endpoint: 198.51.100.${i + 1}:51820
      listenPort: 51820
      publicKey: ${own.publicKey}
      privateKey: file:/etc/mirrornet/wireguard/${region}.key
    remote:
      gateway: gw1
      endpoint: 203.0.113.1:${HUB_PORT_FROM + i}
      listenPort: ${HUB_PORT_FROM + i}
      publicKey: ${hubKey.publicKey}
      privateKey: file:/etc/mirrornet/wireguard/${hub}.key
mirror:
  runtime: containerd
  registries: [docker.io]
  dialTimeout: 2s
  dragonfly:
    manager: http://10.128.0.100:65003
    proxyPort: 4001
    location: overseas|bench|${region}
`,
    );
  });

  return {
    repo,
    root,
    hub,
    regions,
    interfaces: regions.map((r) => wireguardInterfaceName(hub, r)),
    hubRoutes: opts.regions * (1 + opts.staticRoutesPerRegion),
    keySource: useWg ? 'wg' : 'node:crypto',
  };
}

/** The file of one region in the fleet. */
export function regionFile(fleet: GatewayFleet, region: string): string {
  return join(fleet.repo, 'regions', `${region}.yaml`);
}
