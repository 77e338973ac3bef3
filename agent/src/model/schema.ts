// The zod schemas of every kind of object in the configuration repository. They reject unknown keys
// (dfdaemon silently ignores misspelled keys; mirrornet must not) and never accept a plaintext secret.
// `mirrornet schema` turns them into the JSON Schemas under agent/schemas/ that editors use.
import { z } from 'zod';
import { DEFAULT_MAX_LINK_REMOVALS, DEFAULT_MAX_SITE_REMOVALS } from './guardrail-defaults.js';
import { Area, Cidr, CloudId, CloudRegion, Duration, HostPath, HostPort, HttpUrl, Ipv4, Name, NextHop, Port, Provider, SecretRef } from './field-formats.js';
import { AgentCompatibility } from './compatibility.js';
import { HarborInstance, quotaBytes } from './schema-harbor.js';
import { RolloutPolicy } from './schema-rollout.js';

export { Area, Provider };
export const LinkType = z.enum(['cloud-connect', 'peering', 'vpn-ipsec', 'wireguard']);
const Labels = z.record(z.string(), z.string());
const LIFECYCLE =
  'active (default) or retiring: being decommissioned. It keeps only its uplink (the links to the sites it links to directly, at both ends) and ' +
  'every other site drops what points to it; its agents remove everything else they created, report retired over the uplink, then remove it and exit. ' +
  'Only then may a later change delete the file (`mirrornet validate --base`; its neighbours drop their side), outside the removal limits. Cores never retire.';

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
  sourceDestCheck: z
    .boolean()
    .optional()
    .describe(
      "false once the source/destination check of the nextHop ECS's network interface is off (Huawei Cloud: allowed_address_pairs " +
        '1.1.1.1/0): an ECS with the check on drops what the route sends it. Left out on a cloud next hop, validate warns (cloud/next-hop).',
    ),
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
  lifecycle: z.enum(['active', 'retiring']).optional().describe(LIFECYCLE),
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
  mtu: z.strictObject({ 'cloud-connect': LinkMtu, peering: LinkMtu, 'vpn-ipsec': LinkMtu, wireguard: LinkMtu }),
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

/** What the agent tells users about (notifications route them); `apply-started` only sets a pending commit status. */
const NOTIFIED_EVENT_KINDS = [
  'applied',
  'apply-failed',
  'revision-refused',
  'guardrail-blocked',
  'drift-detected',
  'drift-resolved',
  'agent-stalled',
  'agent-recovered',
  'drift-healed',
  'site-silent',
  'site-back',
  'site-suspended',
  'site-resumed',
  'rollout-advanced',
  'rollout-halted',
  'rollout-complete',
  'rollout-superseded',
  'site-retired',
] as const;
/** Every kind of event the agent reports (reconcile/events.ts). */
export const EVENT_KINDS = ['apply-started', ...NOTIFIED_EVENT_KINDS] as const;

const EventKind = z.enum(NOTIFIED_EVENT_KINDS);

/** How urgent a notification is, least first (a route's minSeverity compares in this order). */
export const NOTIFICATION_SEVERITIES = ['info', 'warning', 'critical'] as const;
export type NotificationSeverity = (typeof NOTIFICATION_SEVERITIES)[number];
const NotificationSeverity = z.enum(NOTIFICATION_SEVERITIES);

/** The one table of how urgent each kind of event is: routes, mute windows and mentions filter on it. */
export const EVENT_SEVERITY: Readonly<Record<(typeof EVENT_KINDS)[number], NotificationSeverity>> = {
  'apply-started': 'info',
  applied: 'info',
  'apply-failed': 'critical',
  'revision-refused': 'critical',
  'agent-stalled': 'critical',
  'guardrail-blocked': 'warning',
  'drift-detected': 'warning',
  'drift-resolved': 'info',
  'agent-recovered': 'info',
  'drift-healed': 'info',
  'site-silent': 'critical',
  'site-back': 'info',
  'site-suspended': 'warning',
  'site-resumed': 'info',
  'rollout-advanced': 'info',
  'rollout-halted': 'critical',
  'rollout-complete': 'info',
  'rollout-superseded': 'info',
  'site-retired': 'info',
};

/**
 * What an event's `component` names: a provider (drift, failed changes), or the agent's step that failed or
 * stalled (`hook` and `command` stand for "hook <name>" and a running command). A route matches the first word.
 */
const PROVIDER_COMPONENTS = ['routes', 'wireguard', 'containerd', 'docker', 'dragonfly', 'huaweicloud-vpc', 'harbor-config', 'postgres', 'harbor-api'] as const;
const STEP_COMPONENTS = ['source', 'fetch', 'verify', 'validate', 'read', 'state', 'apply', 'lock', 'reconcile', 'publish', 'hook', 'command', 'idle'] as const;
const NOTIFIED_COMPONENTS = [...PROVIDER_COMPONENTS, ...STEP_COMPONENTS] as const;

const NotificationMatch = z.strictObject({
  severities: z.array(NotificationSeverity).optional().describe('Event severities: critical, warning, info (one table, by event kind).'),
  events: z.array(EventKind).optional(),
  components: z.array(z.enum(NOTIFIED_COMPONENTS)).optional().describe('Providers (routes, wireguard, ...) or agent steps (fetch, apply, hook, ...).'),
  areas: z.array(Area).optional(),
  sites: z.array(Name).optional().describe('Sites (regions or cores) by name.'),
  regions: z.array(Name).optional().describe('The same as sites (the older name).'),
});

const MentionList = z.array(z.string().regex(/^[A-Za-z0-9_.@+-]{1,64}$/, { error: 'must be an id or a number without spaces' }));

const Mentions = z
  .strictObject({
    users: MentionList.optional().describe('Feishu open_id (ou_...), DingTalk userId, Slack member id (U...), WeCom userid.'),
    mobiles: MentionList.optional().describe('Mobile numbers of group members (DingTalk).'),
    groups: MentionList.optional().describe('Slack user groups (S...).'),
    all: z.boolean().optional().describe('Everyone in the group (Feishu, DingTalk, Slack @channel).'),
  })
  .describe('Who is @-mentioned, shaped per vendor; never on resolved or recovered messages.');

const MentionOn = z.array(NotificationSeverity).optional().describe('The severities that mention (default [critical]).');

const Language = z.enum(['zh', 'en', 'both']);

export const NotificationChannel = z.strictObject({
  name: Name,
  type: z.enum(['slack', 'feishu', 'dingtalk', 'wecom', 'webhook']),
  url: SecretRef.describe('The webhook URL as a secret reference: for Slack and WeCom the URL itself is the credential.'),
  secret: SecretRef.optional().describe('Signing secret: Feishu/Lark and DingTalk (SEC...) bots, and the generic webhook (HMAC-SHA256).'),
  rateLimit: z.strictObject({ perMinute: z.int().min(1).max(600) }).optional(),
  language: Language.optional().describe('zh, en or both (default: both for Feishu, DingTalk and WeCom; en for Slack and the generic webhook).'),
  mentions: Mentions.optional(),
  mentionOn: MentionOn,
  sentFrom: z
    .enum(['gateway', 'core'])
    .optional()
    .describe("Who sends to this channel: each site's gateway (default), or its core, for a channel only the core's side of the border reaches."),
});

const NotificationRoute = z.strictObject({
  name: Name.optional().describe('Mute windows name routes by it.'),
  description: z.string().optional(),
  match: NotificationMatch.default({}).describe('Every key present must match (an absent key matches anything).'),
  exclude: NotificationMatch.optional().describe('Events matching every key present here are left out of this route.'),
  minSeverity: NotificationSeverity.optional(),
  channels: z.array(Name).min(1),
  mentions: Mentions.optional().describe("Mentioned on this route's messages, besides the channel's own mentions."),
  mentionOn: MentionOn,
});

const MuteWindow = z.strictObject({
  name: Name,
  description: z.string().optional(),
  schedule: z.string().min(1).describe('When each window starts: a five-field cron expression (minute hour day-of-month month day-of-week), e.g. "0 2 * * 6".'),
  duration: Duration.describe('How long each window lasts (at most 31d).'),
  timeZone: z.string().min(1).describe('The IANA time zone of the schedule, e.g. Asia/Shanghai or UTC.'),
  routes: z.array(Name).optional().describe('Only messages of these routes (by name); default every route.'),
  channels: z.array(Name).optional().describe('Only messages to these channels; default every channel.'),
  severities: z.array(NotificationSeverity).optional().describe('Only messages of these severities; default every severity.'),
});

/** A runbook URL per event kind (an object of the kinds, so a misspelled kind gets a suggestion). */
const Runbooks = z.strictObject(
  Object.fromEntries(NOTIFIED_EVENT_KINDS.map((k) => [k, HttpUrl.optional()])) as {
    [K in (typeof NOTIFIED_EVENT_KINDS)[number]]: z.ZodOptional<typeof HttpUrl>;
  },
);

const LinkTemplate = HttpUrl.describe('A URL with {revision}, {pullRequest} or {site} in it.');

export const Notifications = z.strictObject({
  kind: z.literal('Notifications'),
  name: Name,
  description: z.string().optional(),
  channels: z.array(NotificationChannel).default([]),
  routes: z.array(NotificationRoute).default([]),
  reminder: Duration.default('24h').describe('How often an unresolved drift is reminded (it alerts once when it appears).'),
  dedupWindow: Duration.default('5m').describe('Identical failures within this window are sent once.'),
  muteWindows: z.array(MuteWindow).optional().describe('Recurring windows (maintenance) in which matching messages are not sent: counted and logged.'),
  links: z
    .strictObject({
      repository: HttpUrl.optional().describe('The configuration repository, e.g. https://github.com/ORG/fleet: commit and pull request links follow.'),
      commit: LinkTemplate.optional().describe('e.g. https://github.com/ORG/fleet/commit/{revision} (overrides the one from repository).'),
      pullRequest: LinkTemplate.optional().describe('e.g. https://github.com/ORG/fleet/pull/{pullRequest} (overrides the one from repository).'),
    })
    .optional(),
  runbooks: Runbooks.optional().describe('A runbook URL per event kind, linked from its messages.'),
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
  AgentCompatibility,
  RolloutPolicy,
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
  AgentCompatibility: 'policies',
  RolloutPolicy: 'policies',
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
  AgentCompatibility: 'agent-compatibility.schema.json',
  RolloutPolicy: 'rollout-policy.schema.json',
};

export type Region = z.infer<typeof Region>;
export type Hub = z.infer<typeof Hub>;
export type Link = z.infer<typeof Link>;
export type WireguardEnd = z.infer<typeof WireguardEnd>;
export type AddressPlan = z.infer<typeof AddressPlan>;
export type LinkPolicy = z.infer<typeof LinkPolicy>;
export type RoutingPolicy = z.infer<typeof RoutingPolicy>;
export type Guardrails = z.infer<typeof Guardrails>;
export { HarborInstance, quotaBytes };
export type RegionDefaults = z.infer<typeof RegionDefaults>;
export type Notifications = z.infer<typeof Notifications>;
export type AcknowledgedRemovals = z.infer<typeof AcknowledgedRemovals>;
export type NotificationChannel = z.infer<typeof NotificationChannel>;
export type NotificationMatch = z.infer<typeof NotificationMatch>;
export type NotificationMentions = z.infer<typeof Mentions>;
export type MuteWindow = z.infer<typeof MuteWindow>;
export type Area = z.infer<typeof Area>;
export type Provider = z.infer<typeof Provider>;
export type LinkType = z.infer<typeof LinkType>;
