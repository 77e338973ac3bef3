// The Huawei Cloud route a link gives one of its ends: the route type the VPC route table takes and the next
// hop instance (constraints/huaweicloud-vpc.ts says what each type needs). One mapping for the desired state
// (desired/compile.ts) and the validator's cloud rules.
import type { HuaweiRouteType } from './constraints/huaweicloud-vpc.js';
import type { Hub, Link } from './schema.js';

type CloudLocation = NonNullable<Hub['cloud']>;

export interface CloudRouteOf {
  type: HuaweiRouteType;
  /** Undefined when the repository does not name it (the route cannot be programmed). */
  nexthop: string | undefined;
}

/** The route type and next hop of `link` in the route tables of the site at its `end`. */
export function cloudRouteOf(link: Link, end: 'local' | 'remote', cloud: CloudLocation): CloudRouteOf {
  switch (link.type) {
    case 'cloud-connect':
      return { type: 'cc', nexthop: link.instanceId };
    case 'peering':
      return { type: 'peering', nexthop: link.peeringId };
    case 'vpn-ipsec':
      return { type: 'vpn', nexthop: link[end]?.nextHop ?? cloud.vpnGatewayId };
    case 'wireguard':
      // Into the gateway ECS that runs the tunnel.
      return { type: 'ecs', nexthop: link[end].nextHop };
  }
}
