// The zod schemas of every kind of object in the configuration repository. They reject unknown keys
// (dfdaemon silently ignores misspelled keys; mirrornet must not) and never accept a plaintext secret.
// `mirrornet schema` turns them into the JSON Schemas under agent/schemas/ that editors use.
import { z } from 'zod';
import { HOST_PORT_LIST } from './address-patterns.js';
import { DEFAULT_MAX_LINK_REMOVALS, DEFAULT_MAX_SITE_REMOVALS } from './guardrail-defaults.js';
import { Cidr, Duration, Host, HostPort, HttpUrl, Ipv4, Name, SecretRef } from './schema-primitives.js';

export const Area = z.enum(['cn', 'overseas']);
export const Provider = z.enum(['huaweicloud', 'aws', 'idc']);
export const LinkType = z.enum(['cloud-connect', 'peering', 'vpn-ipsec', 'wireguard']);
const Port = z.int().min(1).max(65535);
const Labels = z.record(z.string(), z.string());

const CloudLocation = z.strictObject({
  region: z.string().min(1).describe('The cloud region, e.g. cn-north-4, ap-southeast-3 or eu-central-1.'),
  projectId: z.string().min(1).optional().describe('Huawei Cloud project id of the region (always set it: without it the SDK asks IAM).'),
  vpcId: z.string().min(1).optional(),
  routeTables: z.array(z.string().min(1)).optional().describe('Route tables the agent programs for this site.'),
  cloudConnectId: z.string().min(1).optional().describe('The Cloud Connect instance this VPC is attached to.'),
  vpnGatewayId: z.string().min(1).optional().describe('The VPN gateway of this VPC, next hop of vpn-ipsec links.'),
});

const Gateway = z.strictObject({
  name: Name,
  address: Ipv4.describe('Private address of the gateway host inside the site CIDR.'),
  publicAddress: Ipv4.optional().describe('Public address peers dial (WireGuard endpoints, IPsec peers).'),
});

const MssClamp = z
  .union([z.boolean(), z.int().min(536).max(9000)])
  .describe('true clamps TCP MSS to the path MTU; a number sets the MSS; false disables clamping (not recommended).');

const LinkCommon = {
  to: Name.describe('The site at the other end. A link is declared once, in one of its two sites.'),
  description: z.string().optional(),
  mtu: z.int().min(576).max(9000).describe('MTU of the path; VPNs need less than 1500.'),
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
  nextHop: z.string().optional().describe('Cloud route-table next hop for this end (the gateway ECS id).'),
});

const VpnEnd = z.strictObject({
  gateway: Name.optional(),
  peerAddress: Ipv4.optional().describe('Public address of this end of the tunnel.'),
  nextHop: z.string().optional().describe('Cloud route-table next hop for this end (VPN gateway id).'),
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
  peeringId: z.string().min(1),
  local: PlainEnd.optional(),
  remote: PlainEnd.optional(),
});

const CloudConnectLink = z.strictObject({
  ...LinkCommon,
  type: z.literal('cloud-connect'),
  instanceId: z.string().min(1).describe('The Cloud Connect instance both VPCs are attached to.'),
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
  lifecycle: z
    .enum(['active', 'retiring'])
    .optional()
    .describe(
      'active (default) or retiring: being decommissioned. A site retiring in the revision before a change may be deleted by it (file and ' +
        'links) without counting against the removal limits of policies/guardrails.yaml. Only a marker for now; decommissioning builds on it.',
    ),
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
    storageDir: z.string().optional(),
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
  regionendpoint: HttpUrl.optional(),
  bucket: z.string().min(1),
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
  installDir: z.string().default('/opt/harbor'),
  dataVolume: z.string().optional().describe("Harbor's data_volume on the host (default /data)."),
  tls: z
    .strictObject({ certificate: z.string().min(1), privateKey: z.string().min(1) })
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
    host: z
      .string()
      .regex(new RegExp(`^${HOST_PORT_LIST}$`), {
        error: 'must be host:port, or sentinel hosts host:port separated by commas (ports 1-65535)',
      })
      .describe('host:port, or sentinel hosts separated by commas.'),
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
    filesystem: z.strictObject({ rootdirectory: z.string().min(1) }).optional(),
    redirect: z.strictObject({ disable: z.boolean() }).optional(),
  }),
  metrics: z.strictObject({ enabled: z.boolean(), port: Port.default(9090), path: z.string().default('/metrics') }).optional(),
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
  mtu: z.strictObject({ min: z.int().min(576), max: z.int().max(9000) }),
  allowed: z
    .array(z.strictObject({ providers: ProviderPair, types: z.array(LinkType).min(1) }))
    .min(1)
    .describe('Link types allowed between two providers (order does not matter).'),
  wireguardPorts: z.strictObject({ from: Port, to: Port }).default({ from: 51820, to: 51999 }),
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
  maxDeletionsPerApply: z.int().min(0).describe('Resources one apply on one host may delete (routes, tunnels, files, cloud routes, Harbor objects).'),
  protectedDestinations: z.array(Cidr).default([]).describe('Routes to these ranges are never deleted by an agent.'),
  maxSiteRemovals: z
    .int()
    .min(0)
    .default(DEFAULT_MAX_SITE_REMOVALS)
    .describe(
      `Fleet-wide: sites (regions and cores) one revision may remove (default ${DEFAULT_MAX_SITE_REMOVALS}). Removing every region, every ` +
        'core or every link is refused whatever this says. Sites marked lifecycle: retiring in the revision before, and sites named in ' +
        'policies/acknowledged-removals.yaml, do not count. `mirrornet validate --base` and every agent use the value of the revision ' +
        'before the change, so raising it takes effect one revision later.',
    ),
  maxLinkRemovals: z
    .int()
    .min(0)
    .default(DEFAULT_MAX_LINK_REMOVALS)
    .describe(
      `Fleet-wide: links one revision may remove (default ${DEFAULT_MAX_LINK_REMOVALS}). Links of a retiring or acknowledged site, and links ` +
        'named in policies/acknowledged-removals.yaml, do not count. Like maxSiteRemovals, the value of the revision before the change applies.',
    ),
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
  mtu: z.strictObject({ 'cloud-connect': z.int(), peering: z.int(), 'vpn-ipsec': z.int(), wireguard: z.int() }),
  mssClamp: MssClamp,
  gatewayHost: z.int().min(1).max(254).default(10).describe('Last octet of the gateway address in the first /24 of the region.'),
  mirror: Mirror.omit({ registries: true }).extend({
    dragonfly: Mirror.shape.dragonfly.omit({ manager: true }),
  }),
});

export const AcknowledgedRemovals = z.strictObject({
  kind: z.literal('AcknowledgedRemovals'),
  name: Name,
  description: z.string().optional(),
  removals: z
    .array(
      z.strictObject({
        sites: z.array(Name).default([]).describe('Sites this change deletes on purpose (their links go with them).'),
        links: z
          .array(z.tuple([Name, Name]))
          .default([])
          .describe('Links this change deletes on purpose, each as its two sites: [cn-shanghai, cn-beijing].'),
        reason: z.string().min(1).describe('Why: the reviewer reads it in the diff, and it stays in the history.'),
      }),
    )
    .default([])
    .describe(
      'Removals beyond maxSiteRemovals/maxLinkRemovals that a change makes on purpose, added in the same change that deletes them ' +
        'so that a reviewer sees it. Only what is named here is excused; naming a site or link that still exists is an error.',
    ),
});

const EventKind = z.enum(['applied', 'apply-failed', 'revision-refused', 'guardrail-blocked', 'drift-detected', 'drift-resolved']);

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
  AcknowledgedRemovals,
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
  AcknowledgedRemovals: 'policies',
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
  AcknowledgedRemovals: 'acknowledged-removals.schema.json',
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
export type AcknowledgedRemovals = z.infer<typeof AcknowledgedRemovals>;
export type NotificationChannel = z.infer<typeof NotificationChannel>;
export type Area = z.infer<typeof Area>;
export type Provider = z.infer<typeof Provider>;
export type LinkType = z.infer<typeof LinkType>;
