// Every field of the model that holds an address, a port, a host name, a URL, a cloud id, a key or a host
// path is checked, with a finding that says what is wrong and what a valid value looks like. One row per
// field: the passing fixture fleet-small with one literal bad value, and the exact finding it must give.
//
// The fields, walking model/schema.ts (what checks each):
//   sites     cloud.region (a DNS label: it becomes vpc.<region>.myhuaweicloud.com), cloud.projectId, vpcId,
//             routeTables[], cloudConnectId, vpnGatewayId (cloud ids: they go into API paths),
//             gateways[].address, publicAddress (IPv4, octets 0-255; sites/address: inside the site CIDR)
//   links     mtu (576-9000), wireguard endpoint (host:port), listenPort (1-65535), publicKey
//             (links/wireguard-key: 32 bytes of base64), nextHop (the ECS or VPN gateway id, never an
//             address), vpn-ipsec peerAddress (IPv4), peeringId, instanceId (cloud ids)
//   mirror    dragonfly.manager (http(s) URL), proxyPort (1-65535), storageDir (absolute path)
//   hub       dragonfly.manager (http(s) URL), schedulers[] (host:port), seedPeers[] (IPv4)
//   harbor    hostname (RFC 1123: labels of at most 63, at most 253 in all), externalUrl (http(s) URL),
//             database.host (host) and port, redis.host (host:port list), storage.s3.regionendpoint
//             (http(s) URL), s3.bucket (S3 bucket name), filesystem.rootdirectory (in the registry container),
//             installDir, dataVolume, tls.certificate, tls.privateKey (absolute paths), metrics.port, metrics.path (URL path),
//             endpoints[].url (http(s) URL; the proxy-cache projects' endpoints)
//   policies  links.yaml wireguardPorts (ports, from <= to) and mtu (min <= max), region-defaults.yaml mtu
//   any URL   credentials before the host (secrets/url-credentials, in the rule tests)
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { MODEL_DIRECTORIES, type VirtualFile } from '../../src/model/loader.js';
import { validateFiles } from '../../src/policy/validate.js';

const FIXTURE = fileURLToPath(new URL('../../../test/fixtures/fleet-small', import.meta.url));
const PATHS = MODEL_DIRECTORIES.flatMap((dir) => readdirSync(join(FIXTURE, dir)).map((entry) => `${dir}/${entry}`));
const BASE = new Map(PATHS.map((path) => [path, readFileSync(join(FIXTURE, path), 'utf8')]));

const JAKARTA = 'regions/ap-jakarta.yaml';
const SHANGHAI = 'regions/cn-shanghai.yaml';
const HANGZHOU = 'regions/cn-hangzhou-idc.yaml';
const VIRGINIA = 'regions/us-virginia.yaml';
const SINGAPORE = 'hubs/ap-singapore.yaml';
const HARBOR_BJ = 'harbor/harbor-cn-beijing.yaml';
const HARBOR_SG = 'harbor/harbor-ap-singapore.yaml';
const LINKS = 'policies/links.yaml';
const DEFAULTS = 'policies/region-defaults.yaml';

interface Row {
  field: string;
  file: string;
  /** Text that occurs once in the file, and what replaces it. */
  from: string;
  to: string;
  /** The one error the file then has: rule, line (the first line holding `at`), column, message. */
  expect: { rule: string; at: string; column: number; message: string };
}

/** The errors of the mutated file, as [rule, line, column, message]. */
function errorsAfter(row: Row): [string, number, number, string][] {
  const text = BASE.get(row.file);
  if (text === undefined) throw new Error(`test bug: ${row.file} is not in the fixture`);
  const at = text.indexOf(row.from);
  if (at < 0 || text.indexOf(row.from, at + 1) >= 0) throw new Error(`test bug: ${JSON.stringify(row.from)} is not in ${row.file} exactly once`);
  const mutated = text.slice(0, at) + row.to + text.slice(at + row.from.length);
  const files: VirtualFile[] = PATHS.map((path) => ({ path, content: path === row.file ? mutated : BASE.get(path)! }));
  return validateFiles(files)
    .errors.filter((f) => f.file === row.file)
    .map((f) => [f.rule, f.line, f.column, f.message]);
}

function lineOf(row: Row): number {
  const text = BASE.get(row.file)!;
  const mutated = text.replace(row.from, row.to);
  const at = mutated.indexOf(row.expect.at);
  if (at < 0) throw new Error(`test bug: ${JSON.stringify(row.expect.at)} is not in the mutated ${row.file}`);
  return mutated.slice(0, at).split('\n').length;
}

/** What a cloud id looks like, as the findings say. */
const CLOUD_ID = 'must be a cloud resource id such as vpc-0a1b2c3d or a UUID (letters, digits, dots, dashes and underscores, at most 128 characters)';
const WG_REMOTE_KEY = 'privateKey: file:/etc/mirrornet/wireguard/cn-beijing-gw1.key';
const LABEL_64 = 'a'.repeat(64);
const NAME_254 = `${'a'.repeat(63)}.${'b'.repeat(63)}.${'c'.repeat(63)}.${'d'.repeat(60)}.sg`;

const ROWS: Row[] = [
  // ---- sites ----
  {
    field: 'cloud.region',
    file: SINGAPORE,
    from: 'region: ap-southeast-3',
    to: 'region: ap southeast 3',
    expect: {
      rule: 'schema/format',
      at: 'region: ap southeast 3',
      column: 11,
      message: 'cloud.region must be a cloud region id such as cn-north-4 or eu-central-1 (lowercase letters, digits and dashes); got "ap southeast 3".',
    },
  },
  {
    field: 'cloud.projectId',
    file: SINGAPORE,
    from: 'projectId: 5e1d9c7b3a2f4e8d6c0b1a9f7e5d3c2b',
    to: 'projectId: 5e1d9c7b/../../v2',
    expect: {
      rule: 'schema/format',
      at: 'projectId: 5e1d9c7b/../../v2',
      column: 14,
      message: `cloud.projectId ${CLOUD_ID}; got "5e1d9c7b/../../v2".`,
    },
  },
  {
    field: 'cloud.vpcId',
    file: SINGAPORE,
    from: 'vpcId: vpc-sg-0001',
    to: 'vpcId: "vpc-sg-0001?marker=x"',
    expect: {
      rule: 'schema/format',
      at: 'vpcId: "vpc-sg-0001?marker=x"',
      column: 10,
      message: `cloud.vpcId ${CLOUD_ID}; got "vpc-sg-0001?marker=x".`,
    },
  },
  {
    field: 'cloud.routeTables[]',
    file: SINGAPORE,
    from: 'routeTables: [rtb-sg-0001]',
    to: 'routeTables: [rtb sg 0001]',
    expect: {
      rule: 'schema/format',
      at: 'routeTables: [rtb sg 0001]',
      column: 17,
      message: `cloud.routeTables[0] ${CLOUD_ID}; got "rtb sg 0001".`,
    },
  },
  {
    field: 'cloud.cloudConnectId',
    file: SINGAPORE,
    from: 'cloudConnectId: cc-small',
    to: 'cloudConnectId: cc-small/attach',
    expect: {
      rule: 'schema/format',
      at: 'cloudConnectId: cc-small/attach',
      column: 19,
      message: `cloud.cloudConnectId ${CLOUD_ID}; got "cc-small/attach".`,
    },
  },
  {
    field: 'cloud.vpnGatewayId',
    file: SINGAPORE,
    from: 'vpnGatewayId: vpngw-sg-0001',
    to: 'vpnGatewayId: "-vpngw"',
    expect: {
      rule: 'schema/format',
      at: 'vpnGatewayId: "-vpngw"',
      column: 17,
      message: `cloud.vpnGatewayId ${CLOUD_ID}; got "-vpngw".`,
    },
  },
  {
    field: 'gateways[].address',
    file: SINGAPORE,
    from: 'address: 10.128.0.10',
    to: 'address: 10.128.0.256',
    expect: {
      rule: 'schema/format',
      at: 'address: 10.128.0.256',
      column: 14,
      message: 'gateways[0].address must be an IPv4 address such as 10.128.0.10 (four numbers 0-255); got "10.128.0.256".',
    },
  },
  {
    field: 'gateways[].publicAddress',
    file: SINGAPORE,
    from: 'publicAddress: 203.0.113.20',
    to: 'publicAddress: 203.0.113.020',
    expect: {
      rule: 'schema/format',
      at: 'publicAddress: 203.0.113.020',
      column: 20,
      message: 'gateways[0].publicAddress must be an IPv4 address such as 10.128.0.10 (four numbers 0-255); got "203.0.113.020".',
    },
  },

  // ---- links ----
  {
    field: 'links[].mtu',
    file: HANGZHOU,
    from: 'mtu: 1420',
    to: 'mtu: 65536',
    expect: { rule: 'schema/range', at: 'mtu: 65536', column: 10, message: 'links[0].mtu must be at most 9000; got 65536.' },
  },
  {
    field: 'links[].local/remote.endpoint (wireguard)',
    file: HANGZHOU,
    from: 'endpoint: 203.0.113.10:51820',
    to: 'endpoint: 203.0.113.10',
    expect: {
      rule: 'schema/format',
      at: 'endpoint: 203.0.113.10',
      column: 17,
      message:
        'links[0].remote.endpoint must be host:port with an IPv4 address or RFC 1123 host name and a port 1-65535, for example 203.0.113.10:51820; ' +
        'got "203.0.113.10".',
    },
  },
  {
    field: 'links[].local/remote.listenPort',
    file: HANGZHOU,
    from: '      gateway: gw1\n      listenPort: 51820',
    to: '      gateway: gw1\n      listenPort: 0',
    expect: { rule: 'schema/range', at: 'listenPort: 0', column: 19, message: 'links[0].local.listenPort must be at least 1; got 0.' },
  },
  {
    field: 'links[].local/remote.publicKey',
    file: HANGZHOU,
    from: 'publicKey: Ng+VhSWrmYn91INRYnUHZIiMX1MzNj0Udd9NputQOp8=',
    to: 'publicKey: Ng+VhSWrmYn91INRYnUHZIiMX1MzNj0Udd9NputQOp8',
    expect: {
      rule: 'links/wireguard-key',
      at: 'publicKey: Ng+',
      column: 18,
      message: 'This is not a WireGuard public key (32 bytes of base64, 44 characters ending in "="): paste the output of `wg pubkey`.',
    },
  },
  {
    field: 'links[].local/remote.nextHop (wireguard): an address',
    file: HANGZHOU,
    from: WG_REMOTE_KEY,
    to: `${WG_REMOTE_KEY}\n      nextHop: 10.120.0.10`,
    expect: {
      rule: 'schema/format',
      at: 'nextHop: 10.120.0.10',
      column: 16,
      message:
        'links[0].remote.nextHop must be the cloud resource id of the next hop (the gateway ECS id of a WireGuard end, the VPN gateway id of an IPsec end), ' +
        'such as ecs-bj-gw1-7f3a9c21, not an address: the cloud route table takes the instance; got "10.120.0.10".',
    },
  },
  {
    field: 'links[].local/remote.nextHop (vpn-ipsec)',
    file: VIRGINIA,
    from: 'nextHop: vpngw-sg-0001',
    to: 'nextHop: vpngw sg 0001',
    expect: {
      rule: 'schema/format',
      at: 'nextHop: vpngw sg 0001',
      column: 16,
      message:
        'links[0].remote.nextHop must be the cloud resource id of the next hop (the gateway ECS id of a WireGuard end, the VPN gateway id of an IPsec end), ' +
        'such as ecs-bj-gw1-7f3a9c21, not an address: the cloud route table takes the instance; got "vpngw sg 0001".',
    },
  },
  {
    field: 'links[].local/remote.peerAddress',
    file: VIRGINIA,
    from: 'peerAddress: 198.51.100.30',
    to: 'peerAddress: 198.51.100.300',
    expect: {
      rule: 'schema/format',
      at: 'peerAddress: 198.51.100.300',
      column: 20,
      message: 'links[0].local.peerAddress must be an IPv4 address such as 10.128.0.10 (four numbers 0-255); got "198.51.100.300".',
    },
  },
  {
    field: 'links[].peeringId',
    file: JAKARTA,
    from: 'peeringId: peering-sg-jkt',
    to: 'peeringId: peering sg jkt',
    expect: {
      rule: 'schema/format',
      at: 'peeringId: peering sg jkt',
      column: 16,
      message: `links[0].peeringId ${CLOUD_ID}; got "peering sg jkt".`,
    },
  },
  {
    field: 'links[].instanceId',
    file: SHANGHAI,
    from: 'instanceId: cc-small',
    to: 'instanceId: cc-small#1',
    expect: {
      rule: 'schema/format',
      at: 'instanceId: cc-small#1',
      column: 17,
      message: `links[0].instanceId ${CLOUD_ID}; got "cc-small#1".`,
    },
  },

  // ---- mirror ----
  {
    field: 'mirror.dragonfly.manager',
    file: HANGZHOU,
    from: 'manager: http://10.120.1.10:65003',
    to: 'manager: grpc://10.120.1.10:65003',
    expect: {
      rule: 'schema/format',
      at: 'manager: grpc://',
      column: 14,
      message:
        'mirror.dragonfly.manager must be an http:// or https:// URL with a valid host (IPv4 octets 0-255, RFC 1123 host name) and port (1-65535); ' +
        'got "grpc://10.120.1.10:65003".',
    },
  },
  {
    field: 'mirror.dragonfly.proxyPort',
    file: HANGZHOU,
    from: 'proxyPort: 4001',
    to: 'proxyPort: 65536',
    expect: { rule: 'schema/range', at: 'proxyPort: 65536', column: 16, message: 'mirror.dragonfly.proxyPort must be at most 65535; got 65536.' },
  },
  {
    field: 'mirror.dragonfly.storageDir',
    file: SHANGHAI,
    from: 'storageDir: /var/lib/dragonfly',
    to: 'storageDir: var/lib/dragonfly',
    expect: {
      rule: 'schema/format',
      at: 'storageDir: var/lib/dragonfly',
      column: 17,
      message: 'mirror.dragonfly.storageDir must be an absolute path on the host, such as /opt/harbor; got "var/lib/dragonfly".',
    },
  },

  // ---- hub ----
  {
    field: 'dragonfly.manager (hub)',
    file: SINGAPORE,
    from: 'manager: http://10.128.1.10:65003',
    to: 'manager: http://10.128.1.10:65003x',
    expect: {
      rule: 'schema/format',
      at: 'manager: http://10.128.1.10:65003x',
      column: 12,
      message:
        'dragonfly.manager must be an http:// or https:// URL with a valid host (IPv4 octets 0-255, RFC 1123 host name) and port (1-65535); ' +
        'got "http://10.128.1.10:65003x".',
    },
  },
  {
    field: 'dragonfly.schedulers[]',
    file: SINGAPORE,
    from: 'schedulers: [10.128.1.11:8002]',
    to: 'schedulers: [10.128.1.11:65536]',
    expect: {
      rule: 'schema/format',
      at: 'schedulers: [10.128.1.11:65536]',
      column: 16,
      message:
        'dragonfly.schedulers[0] must be host:port with an IPv4 address or RFC 1123 host name and a port 1-65535, for example 203.0.113.10:51820; ' +
        'got "10.128.1.11:65536".',
    },
  },
  {
    field: 'dragonfly.seedPeers[]',
    file: SINGAPORE,
    from: 'seedPeers: [10.128.1.21]',
    to: 'seedPeers: [10.128.1]',
    expect: {
      rule: 'schema/format',
      at: 'seedPeers: [10.128.1]',
      column: 15,
      message: 'dragonfly.seedPeers[0] must be an IPv4 address such as 10.128.0.10 (four numbers 0-255); got "10.128.1".',
    },
  },

  // ---- harbor ----
  {
    field: 'hostname: a label over 63 characters',
    file: HARBOR_SG,
    from: 'hostname: harbor.sg.small.internal',
    to: `hostname: ${LABEL_64}.sg.small.internal`,
    expect: {
      rule: 'schema/format',
      at: `hostname: ${LABEL_64}`,
      column: 11,
      message:
        'hostname must be an IPv4 address, an IPv6 address or an RFC 1123 host name (letters, digits, dashes and dots); ' +
        `got "${LABEL_64}.sg.small.internal".`,
    },
  },
  {
    field: 'hostname: over 253 characters',
    file: HARBOR_SG,
    from: 'hostname: harbor.sg.small.internal',
    to: `hostname: ${NAME_254}`,
    expect: {
      rule: 'schema/format',
      at: `hostname: ${NAME_254}`,
      column: 11,
      message: `hostname must be an IPv4 address, an IPv6 address or an RFC 1123 host name (letters, digits, dashes and dots); got "${NAME_254}".`,
    },
  },
  {
    field: 'externalUrl',
    file: HARBOR_SG,
    from: 'externalUrl: https://harbor.sg.small.internal',
    to: 'externalUrl: ftp://harbor.sg.small.internal',
    expect: {
      rule: 'schema/format',
      at: 'externalUrl: ftp://',
      column: 14,
      message:
        'externalUrl must be an http:// or https:// URL with a valid host (IPv4 octets 0-255, RFC 1123 host name) and port (1-65535); ' +
        'got "ftp://harbor.sg.small.internal".',
    },
  },
  {
    field: 'database.host',
    file: HARBOR_SG,
    from: 'host: 10.128.2.20',
    to: 'host: db_sg.internal',
    expect: {
      rule: 'schema/format',
      at: 'host: db_sg.internal',
      column: 9,
      message: 'database.host must be an IPv4 address, an IPv6 address or an RFC 1123 host name (letters, digits, dashes and dots); got "db_sg.internal".',
    },
  },
  {
    field: 'database.port',
    file: HARBOR_SG,
    from: 'host: 10.128.2.20',
    to: 'host: 10.128.2.20\n  port: 0',
    expect: { rule: 'schema/range', at: 'port: 0', column: 9, message: 'database.port must be at least 1; got 0.' },
  },
  {
    field: 'redis.host',
    file: HARBOR_SG,
    from: 'host: 10.128.2.30:6379',
    to: 'host: 10.128.2.30:0',
    expect: {
      rule: 'schema/format',
      at: 'host: 10.128.2.30:0',
      column: 9,
      message: 'redis.host must be host:port, or sentinel hosts host:port separated by commas (ports 1-65535); got "10.128.2.30:0".',
    },
  },
  {
    field: 'storage.s3.regionendpoint: no scheme',
    file: HARBOR_BJ,
    from: 'regionendpoint: https://s3.bj.small.internal',
    to: 'regionendpoint: s3.bj.small.internal',
    expect: {
      rule: 'schema/format',
      at: 'regionendpoint: s3.bj.small.internal',
      column: 21,
      message:
        'storage.s3.regionendpoint must be an http:// or https:// URL with a valid host (IPv4 octets 0-255, RFC 1123 host name) and port (1-65535); ' +
        'got "s3.bj.small.internal".',
    },
  },
  {
    field: 'storage.s3.regionendpoint: a port out of range',
    file: HARBOR_BJ,
    from: 'regionendpoint: https://s3.bj.small.internal',
    to: 'regionendpoint: https://s3.bj.small.internal:94430',
    expect: {
      rule: 'schema/format',
      at: 'regionendpoint: https://s3.bj.small.internal:94430',
      column: 21,
      message:
        'storage.s3.regionendpoint must be an http:// or https:// URL with a valid host (IPv4 octets 0-255, RFC 1123 host name) and port (1-65535); ' +
        'got "https://s3.bj.small.internal:94430".',
    },
  },
  {
    field: 'storage.s3.bucket',
    file: HARBOR_BJ,
    from: 'bucket: harbor-cn-beijing',
    to: 'bucket: Harbor_CN_Beijing',
    expect: {
      rule: 'schema/format',
      at: 'bucket: Harbor_CN_Beijing',
      column: 13,
      message:
        'storage.s3.bucket must be an S3 bucket name such as harbor-cn-beijing (3-63 lowercase letters, digits, dots and dashes, not an address); ' +
        'got "Harbor_CN_Beijing".',
    },
  },
  {
    field: 'storage.filesystem.rootdirectory',
    file: HARBOR_SG,
    from: 'rootdirectory: /storage',
    to: 'rootdirectory: storage',
    expect: {
      rule: 'schema/format',
      at: 'rootdirectory: storage',
      column: 20,
      message:
        'storage.filesystem.rootdirectory must be an absolute path inside the registry container, such as /storage (Harbor mounts ' +
        '<dataVolume>/registry there); got "storage".',
    },
  },
  {
    field: 'installDir',
    file: HARBOR_SG,
    from: 'version: v2.15.2',
    to: 'version: v2.15.2\ninstallDir: harbor',
    expect: {
      rule: 'schema/format',
      at: 'installDir: harbor',
      column: 13,
      message: 'installDir must be an absolute path on the host, such as /opt/harbor; got "harbor".',
    },
  },
  {
    field: 'dataVolume',
    file: HARBOR_SG,
    from: 'version: v2.15.2',
    to: 'version: v2.15.2\ndataVolume: ./data',
    expect: {
      rule: 'schema/format',
      at: 'dataVolume: ./data',
      column: 13,
      message: 'dataVolume must be an absolute path on the host, such as /opt/harbor; got "./data".',
    },
  },
  {
    field: 'tls.certificate',
    file: HARBOR_SG,
    from: 'version: v2.15.2',
    to: 'version: v2.15.2\ntls:\n  certificate: harbor.crt\n  privateKey: /etc/harbor/harbor.key',
    expect: {
      rule: 'schema/format',
      at: 'certificate: harbor.crt',
      column: 16,
      message: 'tls.certificate must be an absolute path on the host, such as /opt/harbor; got "harbor.crt".',
    },
  },
  {
    field: 'tls.privateKey',
    file: HARBOR_SG,
    from: 'version: v2.15.2',
    to: 'version: v2.15.2\ntls:\n  certificate: /etc/harbor/harbor.crt\n  privateKey: harbor.key',
    expect: {
      rule: 'schema/format',
      at: 'privateKey: harbor.key',
      column: 15,
      message: 'tls.privateKey must be an absolute path on the host, such as /opt/harbor; got "harbor.key".',
    },
  },
  {
    field: 'metrics.port',
    file: HARBOR_SG,
    from: 'version: v2.15.2',
    to: 'version: v2.15.2\nmetrics:\n  enabled: true\n  port: 90900',
    expect: { rule: 'schema/range', at: 'port: 90900', column: 9, message: 'metrics.port must be at most 65535; got 90900.' },
  },
  {
    field: 'metrics.path',
    file: HARBOR_SG,
    from: 'version: v2.15.2',
    to: 'version: v2.15.2\nmetrics:\n  enabled: true\n  path: metrics',
    expect: { rule: 'schema/format', at: 'path: metrics', column: 9, message: 'metrics.path must be a URL path such as /metrics; got "metrics".' },
  },
  {
    field: 'endpoints[].url (the endpoint of a proxy-cache project)',
    file: HARBOR_SG,
    from: 'url: https://hub.docker.com',
    to: 'url: hub.docker.com',
    expect: {
      rule: 'schema/format',
      at: 'url: hub.docker.com',
      column: 10,
      message:
        'endpoints[0].url must be an http:// or https:// URL with a valid host (IPv4 octets 0-255, RFC 1123 host name) and port (1-65535); ' +
        'got "hub.docker.com".',
    },
  },

  // ---- policies ----
  {
    field: 'links.yaml wireguardPorts.to',
    file: LINKS,
    from: 'to: 51999',
    to: 'to: 75999',
    expect: { rule: 'schema/range', at: 'to: 75999', column: 7, message: 'wireguardPorts.to must be at most 65535; got 75999.' },
  },
  {
    field: 'links.yaml wireguardPorts: from above to',
    file: LINKS,
    from: 'from: 51820\n  to: 51999',
    to: 'from: 51999\n  to: 51820',
    expect: {
      rule: 'schema/range',
      at: 'from: 51999',
      column: 3,
      message: 'wireguardPorts: from is above to: write the lowest port in from and the highest in to, e.g. 51820 and 51999.',
    },
  },
  {
    field: 'links.yaml mtu: min above max',
    file: LINKS,
    from: 'min: 1280\n  max: 1500',
    to: 'min: 1500\n  max: 1280',
    expect: {
      rule: 'schema/range',
      at: 'min: 1500',
      column: 3,
      message: 'mtu: min is above max: write the smallest MTU links may have in min and the largest in max, e.g. 1280 and 1500.',
    },
  },
  {
    field: 'region-defaults.yaml mtu',
    file: DEFAULTS,
    from: 'wireguard: 1420',
    to: 'wireguard: 14200',
    expect: { rule: 'schema/range', at: 'wireguard: 14200', column: 14, message: 'mtu.wireguard must be at most 9000; got 14200.' },
  },
];

describe('fields that hold addresses, ports, host names, URLs, ids, keys and paths', () => {
  it('the fixture is valid as it is', () => {
    const report = validateFiles(PATHS.map((path) => ({ path, content: BASE.get(path)! })));
    assert.deepEqual(report.errors, []);
  });

  for (const row of ROWS) {
    it(`${row.field}: a bad value is an error that says what a valid one looks like`, () => {
      const { rule, column, message } = row.expect;
      assert.deepEqual(errorsAfter(row), [[rule, lineOf(row), column, message]]);
    });
  }
});
