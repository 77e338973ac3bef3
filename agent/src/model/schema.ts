// The zod schemas of every kind of object in the configuration repository. They reject unknown keys
// (dfdaemon silently ignores misspelled keys; mirrornet must not) and never accept a plaintext secret.
// `mirrornet schema` turns them into the JSON Schemas under agent/schemas/ that editors use.
import { z } from 'zod';
import { SECRET_REFERENCE } from '../redact.js';
import { Cidr, CloudId, CloudRegion, Duration, Host, HostPath, HostPort, HostPortList, HttpUrl, Ipv4, NextHop, Port } from './field-formats.js';

export const NAME_PATTERN = /^[a-z][a-z0-9-]{0,61}[a-z0-9]$/;

/** Marker in messages that a string failed the secret-reference pattern (used to pick the rule id). */
export const SECRET_REF_MESSAGE =
  'is not a secret reference: secrets never live in the repository; write env:NAME (an environment variable on the host) ' +
  'or file:/absolute/path (a file on the host)';

const Name = z.string().regex(NAME_PATTERN, { error: 'must be lowercase letters, digits and dashes, start with a letter, at most 63 characters' });

const SecretRef = z
  .string()
  .regex(SECRET_REFERENCE, { error: SECRET_REF_MESSAGE })
  .describe('A secret reference: env:NAME or file:/absolute/path. Never the secret itself.');

export const Area = z.enum(['cn', 'overseas']);
export const Provider = z.enum(['huaweicloud', 'aws', 'idc']);
export const LinkType = z.enum(['cloud-connect', 'peering', 'vpn-ipsec', 'wireguard']);
const Labels = z.record(z.string(), z.string());

const CloudLocation = z.strictObject({
  region: CloudRegion.describe('The cloud region, e.g. cn-north-4, ap-southeast-3 or eu-central-1.'),
  projectId: CloudId.optional().describe('Huawei Cloud project id of the region (always set it: without it the SDK asks IAM).'),
  vpcId: CloudId.optional(),
  routeTables: z.array(CloudId).optional().describe('Route tables the agent programs for this site.'),
  cloudConnectId: CloudId.optional().describe('The Cloud Connect instance this VPC is attached to.'),
  vpnGatewayId: CloudId.optional().describe('The VPN gateway of this VPC, next hop of vpn-ipsec links.'),
});

const Gateway = z.strictObject({
  name: Name,
  address: Ipv4.describe('Private address of the gateway host inside the site CIDR.'),
  publicAddress: Ipv4.optional().describe('Public address peers dial (WireGuard endpoints, IPsec peers).'),
});

const MssClamp = z
  .union([z.boolean(), z.int().min(536).max(9000)])
  .describe('true clamps TCP MSS to the path MTU; a number sets the MSS; false disables clamping (not recommended).');

const LinkMtu = z.int().min(576).max(9000);

const LinkCommon = {
  to: Name.describe('The site at the other end. A link is declared once, in one of its two sites.'),
  description: z.string().optional(),
  mtu: LinkMtu.describe('MTU of the path; VPNs need less than 1500.'),
  mssClamp: MssClamp,
};

const PlainEnd = z.strictObject({
  gateway: Name.optional().describe('Gateway of this end (defaults to the first gateway of the site).'),
});

export const WireguardEnd = z.strictObject({
  gateway: Name.optional().describe('Gateway of this end (defaults to the first gateway of the site).'),
  endpoint: HostPort.optional().describe('host:port peers dial; leave out for an end behind NAT.'),
  listenPort: Port,
  publicKey: z.string().optional().describe('WireGuard public key (44 characters of base64).'),
  privateKey: SecretRef.optional(),
  nextHop: NextHop.optional().describe('Cloud route-table next hop for this end (the gateway ECS id).'),
});

const VpnEnd = z.strictObject({
  gateway: Name.optional(),
  peerAddress: Ipv4.optional().describe('Public address of this end of the tunnel.'),
  nextHop: NextHop.optional().describe('Cloud route-table next hop for this end (VPN gateway id).'),
});

const WireguardLink = z.strictObject({
  ...LinkCommon,
  type: z.literal('wireguard'),
  persistentKeepalive: z.int().min(0).max(65535).optional(),
  local: WireguardEnd,
  remote: WireguardEnd,
});

const VpnIpsecLink = z.strictObject({
  ...LinkCommon,
  type: z.literal('vpn-ipsec'),
  psk: SecretRef,
  local: VpnEnd,
  remote: VpnEnd,
});

const PeeringLink = z.strictObject({
  ...LinkCommon,
  type: z.literal('peering'),
  peeringId: CloudId,
  local: PlainEnd.optional(),
  remote: PlainEnd.optional(),
});

const CloudConnectLink = z.strictObject({
  ...LinkCommon,
  type: z.literal('cloud-connect'),
  instanceId: CloudId.describe('The Cloud Connect instance both VPCs are attached to.'),
  local: PlainEnd.optional(),
  remote: PlainEnd.optional(),
});

export const Link = z.discriminatedUnion('type', [WireguardLink, VpnIpsecLink, PeeringLink, CloudConnectLink]);

const StaticRoute = z.strictObject({
  destination: Cidr,
  via: Name.describe('A directly linked site that forwards this destination.'),
  description: z.string().optional(),
});

const SiteCommon = {
  name: Name,
  description: z.string().optional(),
  area: Area,
  provider: Provider,
  cloud: CloudLocation.optional(),
  cidr: Cidr,
  gateways: z.array(Gateway).min(1),
  links: z.array(Link).default([]),
  routes: z.array(StaticRoute).default([]).describe('Extra static routes beyond the computed hub-spoke routes.'),
  labels: Labels.optional(),
};

const DragonflyGc = z.strictObject({
  interval: Duration.optional(),
  taskTTL: Duration.optional(),
  diskHighThresholdPercent: z.number().min(1).max(100).optional(),
  diskLowThresholdPercent: z.number().min(1).max(100).optional(),
});

const Mirror = z.strictObject({
  runtime: z.enum(['containerd', 'docker']),
  registries: z.array(z.string().min(1)).min(1).describe('HarborInstance names to mirror through Dragonfly, or docker.io for Docker Hub.'),
  dragonfly: z.strictObject({
    manager: HttpUrl.describe('Manager gRPC address, e.g. http://10.128.1.10:65003.'),
    schedulerClusterId: z.int().min(1).optional(),
    proxyPort: Port.default(4001),
    idc: z.string().optional(),
    location: z.string().optional().describe('|-separated, up to 5 levels, e.g. overseas|de|frankfurt.'),
    storageDir: HostPath.optional(),
    gc: DragonflyGc.optional(),
    disableBackToSource: z.boolean().optional(),
  }),
  dialTimeout: Duration.optional().describe('containerd dial_timeout for the dfdaemon host: how fast a down peer falls back.'),
});

export const Region = z.strictObject({
  kind: z.literal('Region'),
  ...SiteCommon,
  p2p: z.array(Name).default([]).describe('Regions this region exchanges P2P traffic with directly (opt-in).'),
  mirror: Mirror,
});

export const Hub = z.strictObject({
  kind: z.literal('Hub'),
  ...SiteCommon,
  dragonfly: z.strictObject({
    manager: HttpUrl,
    schedulers: z.array(HostPort).min(1),
    seedPeers: z.array(Ipv4).default([]),
  }),
});

// ---- Harbor -------------------------------------------------------------------------------------

const HarborS3 = z.strictObject({
  accesskey: SecretRef,
  secretkey: SecretRef,
  region: z.string().min(1),
  regionendpoint: HttpUrl.optional().describe('The S3 endpoint, e.g. https://obs.cn-north-4.myhuaweicloud.com (forces path-style requests).'),
  bucket: z.string().regex(/^(?![0-9.]+$)[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/, {
    error: 'must be an S3 bucket name such as harbor-cn-beijing (3-63 lowercase letters, digits, dots and dashes, not an address)',
  }),
  encrypt: z.boolean().optional(),
  keyid: z.string().optional(),
  secure: z.boolean().optional(),
  skipverify: z.boolean().optional(),
  v4auth: z.boolean().optional(),
  chunksize: z.int().optional().describe('5 MiB .. 5 GiB, in bytes.'),
  multipartcopychunksize: z.int().optional(),
  multipartcopymaxconcurrency: z.int().optional(),
  multipartcopythresholdsize: z.int().optional(),
  rootdirectory: z.string().optional(),
  storageclass: z.string().optional(),
});

const HarborProject = z.strictObject({
  name: z.string().regex(/^[a-z0-9]+(?:[._-][a-z0-9]+)*$/, { error: 'must be a Harbor project name: lowercase, digits, . _ -' }),
  public: z.boolean().default(false),
  quota: z
    .string()
    .regex(/^(-1|\d+(Ki|Mi|Gi|Ti)?)$/, { error: 'must be a size such as 500Gi, or -1 for unlimited' })
    .optional(),
  proxyCache: z
    .strictObject({ endpoint: z.string().min(1) })
    .optional()
    .describe('Makes this a proxy-cache project of an endpoint; cannot change later.'),
});

const HarborEndpoint = z.strictObject({
  name: z.string().min(1),
  type: z.enum(['docker-hub', 'docker-registry', 'harbor']),
  url: HttpUrl,
  accessKey: z.string().optional(),
  accessSecret: SecretRef.optional(),
  insecure: z.boolean().default(false),
});

const HarborRobot = z.strictObject({
  name: z.string().regex(/^[a-z0-9]+(?:[._-][a-z0-9]+)*$/, { error: 'must be lowercase letters, digits, . _ -' }),
  description: z.string().optional(),
  duration: z.int().min(-1).default(-1).describe('Days; -1 never expires.'),
  secret: SecretRef,
  permissions: z
    .array(
      z.strictObject({
        project: z.string().min(1).describe('A project name or * for all.'),
        access: z.array(z.string().regex(/^[a-z-]+:[a-z-]+$/, { error: 'must be resource:action, e.g. repository:pull' })).min(1),
      }),
    )
    .min(1),
});

const ReplicationRule = z.strictObject({
  name: z.string().min(1),
  description: z.string().optional(),
  source: Name.describe('HarborInstance images come from.'),
  destination: Name.describe('HarborInstance images go to.'),
  destinationNamespace: z.string().optional(),
  filters: z
    .array(
      z.strictObject({ type: z.enum(['name', 'tag', 'label', 'resource']), value: z.string().min(1), decoration: z.enum(['matches', 'excludes']).optional() }),
    )
    .default([]),
  trigger: z.strictObject({
    type: z.enum(['manual', 'event_based', 'scheduled']),
    cron: z.string().optional().describe("Harbor's 6-field cron, seconds first: '0 0 */2 * * *'."),
  }),
  deletion: z.boolean().default(false),
  override: z.boolean().default(true),
  speedKbps: z.int().min(-1).default(-1),
  copyByChunk: z.boolean().default(false),
  enabled: z.boolean().default(true),
});

export const HarborInstance = z.strictObject({
  kind: z.literal('HarborInstance'),
  name: Name,
  description: z.string().optional(),
  hub: Name.describe('The core site this Harbor runs in.'),
  version: z.string().regex(/^v?\d+\.\d+\.\d+$/, { error: 'must be a Harbor version such as v2.15.2' }),
  hostname: Host,
  externalUrl: HttpUrl,
  loadBalancer: z.strictObject({ mode: z.enum(['l4', 'l7-tls-offload']) }),
  installDir: HostPath.default('/opt/harbor'),
  dataVolume: HostPath.optional().describe("Harbor's data_volume on the host (default /data)."),
  tls: z
    .strictObject({ certificate: HostPath, privateKey: HostPath })
    .optional()
    .describe('Certificate and key paths on the Harbor host, for loadBalancer mode l4 (Harbor terminates TLS).'),
  adminPassword: SecretRef,
  database: z.strictObject({
    host: Host,
    port: Port.default(5432),
    dbName: z.string().min(1),
    username: z.string().min(1),
    password: SecretRef,
    sslMode: z.enum(['disable', 'allow', 'prefer', 'require', 'verify-ca', 'verify-full']).default('disable'),
    maxIdleConns: z.int().min(0).optional(),
    maxOpenConns: z.int().min(0).optional(),
    connMaxLifetime: Duration.optional(),
    connMaxIdleTime: Duration.optional(),
  }),
  redis: z.strictObject({
    host: HostPortList.describe('host:port, or sentinel hosts separated by commas.'),
    username: z.string().optional(),
    password: SecretRef.optional(),
    sentinelMasterSet: z.string().optional(),
    registryDbIndex: z.int().min(1).optional(),
    jobserviceDbIndex: z.int().min(1).optional(),
    trivyDbIndex: z.int().min(1).optional(),
    harborDbIndex: z.int().min(1).optional(),
    cacheLayerDbIndex: z.int().min(1).optional(),
    idleTimeoutSeconds: z.int().min(0).optional(),
  }),
  storage: z.strictObject({
    s3: HarborS3.optional(),
    filesystem: z.strictObject({ rootdirectory: HostPath }).optional(),
    redirect: z.strictObject({ disable: z.boolean() }).optional(),
  }),
  metrics: z
    .strictObject({
      enabled: z.boolean(),
      port: Port.default(9090),
      path: z
        .string()
        .regex(/^\/\S*$/, { error: 'must be a URL path such as /metrics' })
        .default('/metrics'),
    })
    .optional(),
  endpoints: z.array(HarborEndpoint).default([]).describe('Registry endpoints besides the other core (created from replication rules).'),
  projects: z.array(HarborProject).default([]),
  robots: z.array(HarborRobot).default([]),
  replication: z.array(ReplicationRule).default([]),
});

// ---- Policies -----------------------------------------------------------------------------------

export const AddressPlan = z.strictObject({
  kind: z.literal('AddressPlan'),
  name: Name,
  description: z.string().optional(),
  areas: z.strictObject({
    cn: z.strictObject({ supernet: Cidr, allocation: z.enum(['ascending', 'descending']) }),
    overseas: z.strictObject({ supernet: Cidr, allocation: z.enum(['ascending', 'descending']) }),
  }),
  regionPrefixLength: z.int().min(8).max(28),
  stride: z.int().min(1).describe('Blocks of regionPrefixLength per site: the site uses the first and keeps the rest for growth.'),
  reserved: z.array(z.strictObject({ cidr: Cidr, reason: z.string().min(1) })).default([]),
});

const ProviderPair = z.tuple([Provider, Provider]);

export const LinkPolicy = z.strictObject({
  kind: z.literal('LinkPolicy'),
  name: Name,
  description: z.string().optional(),
  mtu: z
    .strictObject({ min: z.int().min(576), max: z.int().max(9000) })
    .refine((m) => m.min <= m.max, { error: 'min is above max: write the smallest MTU links may have in min and the largest in max, e.g. 1280 and 1500' }),
  allowed: z
    .array(z.strictObject({ providers: ProviderPair, types: z.array(LinkType).min(1) }))
    .min(1)
    .describe('Link types allowed between two providers (order does not matter).'),
  wireguardPorts: z
    .strictObject({ from: Port, to: Port })
    .refine((r) => r.from <= r.to, { error: 'from is above to: write the lowest port in from and the highest in to, e.g. 51820 and 51999' })
    .default({ from: 51820, to: 51999 }),
});

export const RoutingPolicy = z.strictObject({
  kind: z.literal('RoutingPolicy'),
  name: Name,
  description: z.string().optional(),
  mode: z.literal('hub-spoke'),
  regionPeering: z.enum(['off', 'opt-in']).describe('opt-in: regions may list p2p peers; off: p2p peers are an error.'),
  crossAreaPeering: z.boolean().default(false),
});

const DriftMode = z.enum(['alert', 'heal']);

export const Guardrails = z.strictObject({
  kind: z.literal('Guardrails'),
  name: Name,
  description: z.string().optional(),
  maxDeletionsPerApply: z.int().min(0),
  protectedDestinations: z.array(Cidr).default([]),
  drift: z.strictObject({
    routes: DriftMode,
    wireguard: DriftMode,
    containerd: DriftMode,
    docker: DriftMode,
    dragonfly: DriftMode,
    cloudRoutes: DriftMode,
    harbor: DriftMode,
  }),
});

export const RegionDefaults = z.strictObject({
  kind: z.literal('RegionDefaults'),
  name: Name,
  description: z.string().optional(),
  linkType: z.strictObject({ huaweicloud: LinkType, aws: LinkType, idc: LinkType }).describe('Link to the core used by `region add`, per provider.'),
  mtu: z.strictObject({ 'cloud-connect': LinkMtu, peering: LinkMtu, 'vpn-ipsec': LinkMtu, wireguard: LinkMtu }),
  mssClamp: MssClamp,
  gatewayHost: z.int().min(1).max(254).default(10).describe('Last octet of the gateway address in the first /24 of the region.'),
  mirror: Mirror.omit({ registries: true }).extend({
    dragonfly: Mirror.shape.dragonfly.omit({ manager: true }),
  }),
});

const EventKind = z.enum([
  'applied',
  'apply-failed',
  'revision-refused',
  'guardrail-blocked',
  'drift-detected',
  'drift-resolved',
  'agent-stalled',
  'agent-recovered',
]);

export const NotificationChannel = z.strictObject({
  name: Name,
  type: z.enum(['slack', 'feishu', 'dingtalk', 'wecom', 'webhook']),
  url: SecretRef.describe('The webhook URL as a secret reference: for Slack and WeCom the URL itself is the credential.'),
  secret: SecretRef.optional().describe('Signing secret: Feishu/Lark and DingTalk (SEC...) bots, and the generic webhook (HMAC-SHA256).'),
  rateLimit: z.strictObject({ perMinute: z.int().min(1).max(600) }).optional(),
});

const NotificationRoute = z.strictObject({
  description: z.string().optional(),
  match: z
    .strictObject({
      areas: z.array(Area).optional(),
      regions: z.array(Name).optional().describe('Sites (regions or cores) by name.'),
      events: z.array(EventKind).optional(),
    })
    .default({}),
  channels: z.array(Name).min(1),
});

export const Notifications = z.strictObject({
  kind: z.literal('Notifications'),
  name: Name,
  description: z.string().optional(),
  channels: z.array(NotificationChannel).default([]),
  routes: z.array(NotificationRoute).default([]),
  reminder: Duration.default('24h').describe('How often an unresolved drift is reminded (it alerts once when it appears).'),
  dedupWindow: Duration.default('5m').describe('Identical failures within this window are sent once.'),
});

export const KINDS = {
  Region,
  Hub,
  HarborInstance,
  AddressPlan,
  LinkPolicy,
  RoutingPolicy,
  Guardrails,
  RegionDefaults,
  Notifications,
} as const;

export type KindName = keyof typeof KINDS;
export const KIND_NAMES = Object.keys(KINDS) as KindName[];

/** The directory each kind lives in. */
export const KIND_DIRECTORY: Record<KindName, string> = {
  Region: 'regions',
  Hub: 'hubs',
  HarborInstance: 'harbor',
  AddressPlan: 'policies',
  LinkPolicy: 'policies',
  RoutingPolicy: 'policies',
  Guardrails: 'policies',
  RegionDefaults: 'policies',
  Notifications: 'policies',
};

export const SCHEMA_FILE: Record<KindName, string> = {
  Region: 'region.schema.json',
  Hub: 'hub.schema.json',
  HarborInstance: 'harbor-instance.schema.json',
  AddressPlan: 'address-plan.schema.json',
  LinkPolicy: 'link-policy.schema.json',
  RoutingPolicy: 'routing-policy.schema.json',
  Guardrails: 'guardrails.schema.json',
  RegionDefaults: 'region-defaults.schema.json',
  Notifications: 'notifications.schema.json',
};

export type Region = z.infer<typeof Region>;
export type Hub = z.infer<typeof Hub>;
export type Link = z.infer<typeof Link>;
export type WireguardEnd = z.infer<typeof WireguardEnd>;
export type HarborInstance = z.infer<typeof HarborInstance>;
export type AddressPlan = z.infer<typeof AddressPlan>;
export type LinkPolicy = z.infer<typeof LinkPolicy>;
export type RoutingPolicy = z.infer<typeof RoutingPolicy>;
export type Guardrails = z.infer<typeof Guardrails>;
export type RegionDefaults = z.infer<typeof RegionDefaults>;
export type Notifications = z.infer<typeof Notifications>;
export type NotificationChannel = z.infer<typeof NotificationChannel>;
export type Area = z.infer<typeof Area>;
export type Provider = z.infer<typeof Provider>;
export type LinkType = z.infer<typeof LinkType>;
