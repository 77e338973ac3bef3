// The constraint inventory of Huawei Cloud's VPC route-table API (v1, as the huaweicloud-vpc provider calls
// it through @huaweicloud/huaweicloud-sdk-vpc 3.1.x): every request field and query parameter, the route
// types and what each next hop needs before traffic flows, and the quotas. The service is closed source:
// the upstream of each entry is Huawei's published API reference or FAQ page (read in December 2026).
import type { Constraint, Upstream } from './types.js';

/** Route types UpdateRouteTable takes on add and mod; `local` is the system route type and never accepted. */
export const HUAWEI_ROUTE_TYPES = ['ecs', 'eni', 'vip', 'nat', 'peering', 'vpn', 'dc', 'cc', 'egw'] as const;
export type HuaweiRouteType = (typeof HUAWEI_ROUTE_TYPES)[number];

/** Default quotas (raised on request): routes per table, route tables per VPC, routes in all tables of one VPC. */
export const HUAWEI_VPC_QUOTAS = { routesPerTable: 200, tablesPerVpc: 5, routesPerVpc: 1000 } as const;

/** What the cloud needs, outside the route table, before it forwards through a next hop of each type. */
export const HUAWEI_NEXT_HOP_PREREQUISITES: Readonly<Record<HuaweiRouteType, string>> = {
  ecs: 'the source/destination check of the ECS network interface is off (allowed_address_pairs 1.1.1.1/0), or the ECS drops what it forwards',
  eni: 'the extension network interface belongs to an ECS of this VPC with the source/destination check off',
  vip: 'the virtual IP is bound to the ECS network interfaces that serve it; EIPs bound to it stop working',
  nat: 'the NAT gateway is in this VPC',
  peering: 'the peering connection is accepted (ACTIVE) and the peer VPC routes the way back',
  vpn: 'the VPN gateway is in this VPC and its connection is up; the gateway also delivers its own routes into the default route table',
  dc: 'the Direct Connect virtual gateway is attached to this VPC',
  cc: 'this VPC is loaded into the Cloud Connect instance, and cross-region bandwidth is assigned to it',
  egw: 'the VPC endpoint (gateway type) is in this VPC',
};

const DOCS = 'https://support.huaweicloud.com';
const doc = (path: string, ref: string, at?: string): Upstream => ({ repo: DOCS, path, ref, ...(at ? { at } : {}) });
const UPDATE = doc('/intl/en-us/api-vpc/vpc_apiroutetab_0004.html', 'updated 2025-12-16', 'Updating a Route Table: tables 3-7');
const SHOW = doc('/intl/en-us/api-vpc/vpc_apiroutetab_0002.html', 'December 2026', 'Querying a Route Table');
const LIMITS = doc('/vpc_faq/vpc_faq_0064.html', 'December 2026', '路由表有什么限制? (5 route tables and 1000 routes per VPC)');
const PORT = doc('/intl/en-us/api-vpc/vpc_port01_0004.html', 'updated 2025-12-23', 'Updating a Port: allowed_address_pairs 1.1.1.1/0');
const ROUTES = doc('/intl/en-us/usermanual-vpc/vpc_route01_0001.html', 'December 2026', 'Route Tables and Routes: system and custom routes');
const SDK: Upstream = { repo: 'npm:@huaweicloud/huaweicloud-sdk-vpc', path: 'v2/model/ListRouteTablesRequest.d.ts', ref: '3.1.173' };

const TABLE = 'PUT /v1/{project_id}/routetables/{routetable_id}';
const ADD = `${TABLE} body.routetable.routes.add[]`;

const c = (key: string, e: Omit<Constraint, 'consumer' | 'key'>): Constraint => ({ consumer: 'huaweicloud-vpc', key, ...e });

export const HUAWEI_VPC_CONSTRAINTS: readonly Constraint[] = [
  c(`${ADD}.type`, {
    type: 'string',
    range: `${HUAWEI_ROUTE_TYPES.join(', ')} (local is the system type: refused)`,
    requires: ['nexthop of that type'],
    from: ['Link.type of a link whose end is a Huawei Cloud site (cloud-connect -> cc, peering -> peering, vpn-ipsec -> vpn, wireguard -> ecs)'],
    rule: 'cloud/next-hop',
    note: `Each type forwards only once its prerequisite holds: ${Object.entries(HUAWEI_NEXT_HOP_PREREQUISITES)
      .map(([t, p]) => `${t}: ${p}`)
      .join('; ')}.`,
    upstream: [UPDATE, PORT],
  }),
  c(`${ADD}.destination`, {
    type: 'string',
    syntax: 'IPv4 CIDR, host bits zero',
    range: 'unique in the table; must not overlap a system (local) route; cannot be modified (delete, then add)',
    from: ['the CIDR of the site reached over the link (Region.cidr, Hub.cidr, routes[].destination)'],
    rule: 'routing/self-route',
    upstream: [UPDATE, ROUTES],
  }),
  c(`${ADD}.nexthop`, {
    type: 'string',
    syntax:
      'the next hop instance id: ECS id (ecs), network interface id (eni), IP address (vip), NAT gateway id (nat), peering id (peering), ' +
      'VPN gateway id (vpn), Direct Connect gateway id (dc), Cloud Connect id (cc), VPC endpoint id (egw)',
    requires: ['type'],
    from: ['Link.instanceId (cc)', 'Link.peeringId (peering)', 'Link.local|remote.nextHop or cloud.vpnGatewayId (vpn)', 'WireguardEnd.nextHop (ecs)'],
    rule: 'cloud/next-hop',
    note:
      'An ecs next hop also needs the ECS source/destination check off, which the route table API does not see ' +
      '(WireguardEnd.sourceDestCheck: false records it).',
    upstream: [UPDATE, PORT],
  }),
  c(`${ADD}.description`, {
    type: 'string',
    range: '0-255 characters, no < or >',
    from: [],
    note: 'mirrornet writes its ownership marker `mirrornet:<site> <link id>` (site and link names are at most 63 characters: it always fits).',
    upstream: [UPDATE],
  }),
  c(`${TABLE} body.routetable.routes.del[].destination`, {
    type: 'string',
    syntax: 'IPv4 CIDR',
    range: 'a custom route of the table (system routes cannot be deleted)',
    from: [],
    upstream: [UPDATE],
  }),
  c(`${TABLE} body.routetable.routes`, {
    type: 'count',
    range: `at most ${HUAWEI_VPC_QUOTAS.routesPerTable} custom routes per table after the update (system routes do not count)`,
    from: ['the routes computed for the site', 'cloud.routeTables'],
    rule: 'cloud/route-quota',
    note: 'The provider refuses a change over the quota before any call; the validator warns first.',
    upstream: [UPDATE],
  }),
  c('quota vpcContainRoutetable', {
    type: 'count',
    range:
      `at most ${HUAWEI_VPC_QUOTAS.tablesPerVpc} route tables per VPC (1 default and 4 custom), ` +
      `and ${HUAWEI_VPC_QUOTAS.routesPerVpc} routes in all of a VPC's tables together`,
    from: ['cloud.routeTables', 'cloud.vpcId'],
    rule: 'cloud/route-quota',
    note: 'mirrornet writes the same routes into every table it manages: routes x tables counts against the per-VPC total.',
    upstream: [LIMITS],
  }),
  c('GET /v1/{project_id}/routetables query.vpc_id', { type: 'string', range: 'a VPC id', from: ['cloud.vpcId'], upstream: [SDK] }),
  c('GET /v1/{project_id}/routetables query.limit', { type: 'int', range: '> 0; pages follow `marker`', from: [], upstream: [SDK] }),
  c('GET /v1/{project_id}/routetables query.marker', { type: 'string', range: 'the id of the last table of the previous page', from: [], upstream: [SDK] }),
  c('GET /v1/{project_id}/routetables/{routetable_id} path.routetable_id', {
    type: 'string',
    range: 'a route table of the project (404 otherwise)',
    from: ['cloud.routeTables[]'],
    upstream: [SHOW],
  }),
];
