// Sites and policies as a whole: one core per area, policies present, cloud locations, addresses inside the site.
import type { Finding } from '../../model/finding.js';
import type { SiteEntry } from '../../model/fleet.js';
import { containsAddress, parseCidr, parseIpv4 } from '../../net/cidr.js';
import { reporter, type RuleContext, type RuleFamily } from '../rule.js';

const core = reporter({ id: 'sites/core', severity: 'error' });
const cloud = reporter({ id: 'sites/cloud', severity: 'error' });
const cloudIncomplete = reporter({ id: 'sites/cloud-incomplete', severity: 'warning' });
const address = reporter({ id: 'sites/address', severity: 'error' });
const gateway = reporter({ id: 'sites/gateway', severity: 'error' });
const retiringCore = reporter({ id: 'sites/retiring-core', severity: 'error' });

const REQUIRED_POLICIES = [
  ['addressPlan', 'AddressPlan', 'policies/address-plan.yaml', 'error'],
  ['linkPolicy', 'LinkPolicy', 'policies/links.yaml', 'error'],
  ['routing', 'RoutingPolicy', 'policies/routing.yaml', 'error'],
  ['guardrails', 'Guardrails', 'policies/guardrails.yaml', 'error'],
  ['regionDefaults', 'RegionDefaults', 'policies/region-defaults.yaml', 'warning'],
] as const;

function check(ctx: RuleContext): Finding[] {
  const { fleet } = ctx;
  const out: Finding[] = [];
  for (const [key, kind, path, severity] of REQUIRED_POLICIES) {
    if (fleet.policies[key]) continue;
    // A policy that failed its schema is reported there; do not add "missing" on top.
    if (fleet.brokenKinds.has(kind)) continue;
    out.push({
      rule: 'policy/missing',
      severity,
      file: path,
      line: 1,
      column: 1,
      message: `There is no ${kind}: add ${path} (see the example fleet).${severity === 'warning' ? ' `region add` needs it.' : ''}`,
    });
  }

  for (const [name, hub] of fleet.hubs) {
    if (hub.value.lifecycle !== 'retiring') continue;
    out.push(
      retiringCore(
        hub.file,
        ['lifecycle'],
        `${name} is a core: a core cannot retire (its area's regions, the other core and Harbor replication depend on it). Set ` +
          'lifecycle: active; to replace a core, add the new one and move its regions over first.',
      ),
    );
  }

  for (const area of ['cn', 'overseas'] as const) {
    const hubs = [...fleet.hubs.entries()].filter(([, h]) => h.value.area === area).sort(([a], [b]) => (a < b ? -1 : 1));
    if (hubs.length === 0) {
      const firstRegion = [...fleet.regions.values()].find((r) => r.value.area === area);
      if (firstRegion) out.push(core(firstRegion.file, ['area'], `Area ${area} has no core: add a Hub with area: ${area} under hubs/.`));
    }
    for (const [name, hub] of hubs.slice(1)) {
      out.push(
        core(
          hub.file,
          ['area'],
          `Area ${area} already has the core ${hubs[0]![0]}; hub-spoke routing needs exactly one core per area: change ${name}'s area or make it a Region.`,
        ),
      );
    }
  }

  for (const site of fleet.sites.values()) {
    out.push(...checkSite(site));
  }
  return out;
}

function checkSite(site: SiteEntry): Finding[] {
  const out: Finding[] = [];
  const v = site.value;
  const f = site.file;
  if (v.provider === 'idc' && v.cloud) {
    out.push(cloud(f, ['cloud'], 'A self-managed IDC has no cloud location: remove `cloud` or set the provider.'));
  } else if (v.provider !== 'idc' && !v.cloud) {
    out.push(cloud(f, ['provider'], `A ${v.provider} site needs \`cloud\` with at least its region (e.g. cloud: { region: eu-central-1 }).`));
  } else if (v.cloud) {
    const missingFields: string[] = [];
    if (v.provider === 'huaweicloud' && !v.cloud.projectId) missingFields.push('projectId (without it the Huawei SDK calls IAM on the internet)');
    if (!v.cloud.vpcId) missingFields.push('vpcId');
    if (!v.cloud.routeTables?.length) missingFields.push('routeTables');
    if (missingFields.length) {
      out.push(
        cloudIncomplete(
          f,
          ['cloud'],
          `The agent cannot program this site's cloud routes until cloud has ${missingFields.join(', ')}: fill them in from the cloud console.`,
        ),
      );
    }
  }
  const own = ctxRange(v.cidr);
  const names = new Set<string>();
  v.gateways.forEach((g, i) => {
    if (names.has(g.name)) out.push(gateway(f, ['gateways', i, 'name'], `Gateway name "${g.name}" is used twice in this site: gateway names must be unique.`));
    names.add(g.name);
    const addr = parseIpv4(g.address);
    if (addr === undefined) out.push(address(f, ['gateways', i, 'address'], `${g.address} is not a valid IPv4 address.`));
    else if (own && !containsAddress(own, addr))
      out.push(address(f, ['gateways', i, 'address'], `Gateway address ${g.address} is outside the site CIDR ${v.cidr}: use an address inside it.`));
  });
  if (site.role === 'hub' && 'dragonfly' in v) {
    const hosts: [string, (string | number)[]][] = [];
    const managerHost = /^https?:\/\/([^:/]+)/.exec(v.dragonfly.manager)?.[1];
    if (managerHost) hosts.push([managerHost, ['dragonfly', 'manager']]);
    v.dragonfly.schedulers.forEach((s, i) => hosts.push([s.split(':')[0]!, ['dragonfly', 'schedulers', i]]));
    v.dragonfly.seedPeers.forEach((s, i) => hosts.push([s, ['dragonfly', 'seedPeers', i]]));
    for (const [host, path] of hosts) {
      const addr = parseIpv4(host);
      if (addr === undefined) {
        out.push(address(f, path, `${host} must be a private IPv4 address of the core (image traffic stays on the private network).`));
      } else if (own && !containsAddress(own, addr)) {
        out.push(address(f, path, `${host} is outside the core's CIDR ${v.cidr}: Dragonfly services run inside the core.`));
      }
    }
  }
  return out;
}

function ctxRange(cidr: string) {
  const p = parseCidr(cidr);
  return p.ok ? p.range : p.reason === 'not-aligned' ? p.range : undefined;
}

export const siteRules: RuleFamily = {
  id: 'sites',
  rules: [
    {
      id: 'policy/missing',
      severity: 'error',
      summary: 'The policies exist: AddressPlan, LinkPolicy, RoutingPolicy, Guardrails (RegionDefaults: warning).',
      example: 'no policies/address-plan.yaml',
    },
    { id: 'sites/core', severity: 'error', summary: 'Each area with regions has exactly one core (Hub).', example: 'two hubs with area: overseas' },
    {
      id: 'sites/cloud',
      severity: 'error',
      summary: 'Cloud sites declare `cloud` (at least the region); IDC sites do not.',
      example: 'provider: aws without cloud',
    },
    {
      id: 'sites/cloud-incomplete',
      severity: 'warning',
      summary: 'Cloud sites name their project, VPC and route tables so the agent can program them.',
      example: 'cloud: { region: eu-central-1 } without vpcId',
    },
    {
      id: 'sites/address',
      severity: 'error',
      summary: "Gateways and the core's Dragonfly services have private addresses inside the site CIDR.",
      example: 'gateway 10.200.0.10 in a 10.136.0.0/16 region',
    },
    { id: 'sites/gateway', severity: 'error', summary: 'Gateway names are unique within a site.', example: 'two gateways named gw1' },
    {
      id: 'sites/retiring-core',
      severity: 'error',
      summary: 'Only regions retire (`lifecycle: retiring`): a core carries its area, the other core and Harbor replication.',
      example: 'hubs/cn-beijing.yaml with lifecycle: retiring',
    },
  ],
  check,
};
