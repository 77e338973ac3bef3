// Huawei Cloud route tables: what the cloud needs that its route-table API cannot show, and its default
// quotas (model/constraints/huaweicloud-vpc.ts, from Huawei's API reference and FAQ). Warnings: the
// repository cannot check a quota raised by ticket or an ECS setting, but each one bites once merged.
import { cloudRouteOf } from '../../model/cloud-route.js';
import { HUAWEI_NEXT_HOP_PREREQUISITES, HUAWEI_VPC_QUOTAS } from '../../model/constraints/huaweicloud-vpc.js';
import type { Finding } from '../../model/finding.js';
import type { SiteEntry } from '../../model/fleet.js';
import { reporter, type RuleContext, type RuleFamily } from '../rule.js';

const routeQuota = reporter({ id: 'cloud/route-quota', severity: 'warning' });
const nextHop = reporter({ id: 'cloud/next-hop', severity: 'warning' });

type Cloud = NonNullable<SiteEntry['value']['cloud']>;

/** The cloud location of a site whose route tables the agent programs (desired/compile.ts needs both). */
function managedCloud(site: SiteEntry | undefined): Cloud | undefined {
  const cloud = site?.value.cloud;
  return site?.value.provider === 'huaweicloud' && cloud?.projectId && cloud.routeTables?.length ? cloud : undefined;
}

function checkQuotas(ctx: RuleContext, site: SiteEntry, cloud: Cloud, out: Finding[]): void {
  const tables = cloud.routeTables!.length;
  const routes = (ctx.routes.tables.get(site.name) ?? []).filter(
    (r) => cloudRouteOf(r.link.link, r.link.local === site.name ? 'local' : 'remote', cloud).nexthop !== undefined,
  ).length;
  const { routesPerTable, tablesPerVpc, routesPerVpc } = HUAWEI_VPC_QUOTAS;
  const at = ['cloud', 'routeTables'];
  if (routes > routesPerTable) {
    out.push(
      routeQuota(
        site.file,
        at,
        `${site.name} needs ${routes} routes in each of its route tables and Huawei Cloud takes ${routesPerTable} per table by default ` +
          '(quota routetableContainRoutes): the agent refuses the change until the quota is raised. Ask Huawei Cloud for a higher quota first.',
      ),
    );
  }
  if (tables > tablesPerVpc) {
    out.push(
      routeQuota(
        site.file,
        at,
        `${site.name} lists ${tables} route tables; a Huawei Cloud VPC has at most ${tablesPerVpc} by default (1 default and 4 custom, ` +
          'quota vpcContainRoutetable): list the tables that exist, or raise the quota.',
      ),
    );
  }
  if (routes * tables > routesPerVpc) {
    out.push(
      routeQuota(
        site.file,
        at,
        `${site.name} writes ${routes} routes into each of ${tables} tables (${routes * tables}), and a Huawei Cloud VPC holds ` +
          `${routesPerVpc} custom routes in all its tables together by default: program fewer tables, or raise the quota.`,
      ),
    );
  }
}

function check(ctx: RuleContext): Finding[] {
  const out: Finding[] = [];
  const { fleet } = ctx;
  for (const site of fleet.sites.values()) {
    const cloud = managedCloud(site);
    if (cloud) checkQuotas(ctx, site, cloud, out);
  }
  for (const fl of fleet.links) {
    for (const end of ['local', 'remote'] as const) {
      const siteName = end === 'local' ? fl.local : fl.remote;
      const cloud = managedCloud(fleet.sites.get(siteName));
      if (!cloud || fl.local === fl.remote) continue;
      const route = cloudRouteOf(fl.link, end, cloud);
      if (!route.nexthop) continue;
      const at = ['links', fl.index, end, 'nextHop'];
      if (fl.link.type === 'wireguard' && fl.link[end].sourceDestCheck !== false) {
        out.push(
          nextHop(
            fl.file,
            at,
            `${siteName}'s route tables send traffic to the ECS ${route.nexthop}, and Huawei Cloud forwards through an ECS only when ` +
              `${HUAWEI_NEXT_HOP_PREREQUISITES.ecs}. The route table API cannot show it: turn the check off on that ECS's network ` +
              'interface, then set sourceDestCheck: false on this end.',
          ),
        );
      }
      if (route.type === 'vpn' && cloud.vpnGatewayId && route.nexthop !== cloud.vpnGatewayId) {
        out.push(
          nextHop(
            fl.file,
            at,
            `The ${siteName} end routes into the VPN gateway ${route.nexthop}, but ${siteName}'s VPC has ${cloud.vpnGatewayId} ` +
              `(cloud.vpnGatewayId); Huawei Cloud needs ${HUAWEI_NEXT_HOP_PREREQUISITES.vpn}. Use the VPC's gateway, or correct cloud.vpnGatewayId.`,
          ),
        );
      }
    }
  }
  return out;
}

export const cloudRules: RuleFamily = {
  id: 'cloud',
  rules: [
    {
      id: 'cloud/route-quota',
      severity: 'warning',
      summary: 'A Huawei Cloud site stays within the default quotas: 200 routes per route table, 5 tables and 1000 routes per VPC.',
      example: 'a core with 230 routes, or cloud.routeTables listing 6 tables',
    },
    {
      id: 'cloud/next-hop',
      severity: 'warning',
      summary:
        "A cloud route's next hop is ready to forward: an ECS next hop has its source/destination check off (sourceDestCheck: false); " +
        "a VPN next hop is the VPC's VPN gateway.",
      example: 'a WireGuard end with nextHop: ecs-bj-gw1-7f3a9c21 and no sourceDestCheck: false',
    },
  ],
  check,
};
