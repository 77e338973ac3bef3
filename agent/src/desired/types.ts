// The desired state of one host: what the agent should make true, per provider. Pure data.
import type { HarborInstance } from '../model/schema.js';
import type { DesiredHarborObjects } from './harbor.js';
import type { HuaweiRouteType } from '../model/constraints/huaweicloud-vpc.js';

export type Role = 'gateway' | 'node' | 'hub';
export const ROLES: readonly Role[] = ['gateway', 'node', 'hub'];

export interface DesiredRoute {
  destination: string;
  /** The WireGuard interface the route goes into. */
  dev: string;
  linkId: string;
  /** Site that owns the destination, or 'static'. */
  target: string;
}

interface DesiredPeer {
  publicKey: string;
  endpoint?: string;
  allowedIps: string[];
  persistentKeepalive?: number;
}

export interface DesiredWireguard {
  name: string;
  linkId: string;
  remoteSite: string;
  listenPort: number;
  /** Secret reference, resolved on apply. */
  privateKey: string;
  mtu: number;
  /** true = clamp to PMTU, a number = set the MSS, false = no clamping. */
  mssClamp: boolean | number;
  peer: DesiredPeer;
}

export interface DesiredRegistryMirror {
  /** Directory name under config_path: host or host:port. */
  host: string;
  /** The registry itself, the fallback (`server`). */
  server: string;
  /** dfdaemon's proxy, tried first. */
  mirror: string;
  dialTimeout?: string;
}

export interface DesiredContainerd {
  registries: DesiredRegistryMirror[];
}

export interface DesiredDocker {
  /** The value of daemon.json `registry-mirrors` (Docker Hub only). */
  registryMirrors: string[];
  /** Registries asked for that Docker cannot mirror, to explain. */
  unsupported: string[];
}

export interface DesiredDragonfly {
  path: string;
  config: Record<string, unknown>;
}

/** Huawei Cloud VPC route types (VPC v1 route tables; the inventory's HUAWEI_ROUTE_TYPES). */
type CloudRouteType = HuaweiRouteType;

export interface DesiredCloudRoute {
  destination: string;
  type: CloudRouteType;
  nexthop: string;
  /** Carries the ownership marker: routes without it are never touched. */
  description: string;
}

interface DesiredRouteTable {
  id: string;
  routes: DesiredCloudRoute[];
}

export interface DesiredCloud {
  provider: 'huaweicloud';
  region: string;
  projectId: string;
  vpcId?: string;
  /** Prefix of the description of every route mirrornet owns in these tables. */
  marker: string;
  tables: DesiredRouteTable[];
}

export interface DesiredHarbor {
  /** The HarborInstance of this core, as in the repository (secrets as references): harbor.yml and its database. */
  instance: HarborInstance;
  /** The Harbor objects it asks for through Harbor's API (desired/harbor.ts), endpoints to its peers included. */
  objects: DesiredHarborObjects;
}

export interface Desired {
  site: string;
  roles: Role[];
  routes: DesiredRoute[];
  wireguard: DesiredWireguard[];
  containerd?: DesiredContainerd;
  docker?: DesiredDocker;
  dragonfly?: DesiredDragonfly;
  cloud?: DesiredCloud;
  harbor?: DesiredHarbor;
  /** Things the agent cannot do for this site, for the user (e.g. AWS route tables are not managed). */
  notes?: string[];
  /**
   * The site is retiring (`lifecycle: retiring`): only its uplink is desired, so the agent removes everything
   * else its inventory holds, then reports the site retired over the uplink.
   */
  retiring?: true;
  /**
   * Set only by the agent of a retired site, never compiled: its last step, which keeps nothing, not even the
   * uplink. The guard's protected-destination and lockout checks do not hold this plan (and only this one).
   */
  teardown?: true;
}
