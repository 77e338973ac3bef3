// Links: declared once between two existing sites, of a type the providers allow, with sane MTU and MSS,
// valid WireGuard keys and ports, and enough data for the agent to bring them up.
import type { Finding } from '../../model/finding.js';
import type { FleetLink } from '../../model/fleet.js';
import { locate } from '../../model/source.js';
import { didYouMean } from '../../model/suggest.js';
import type { LinkPolicy, Provider } from '../../model/schema.js';
import { reporter, type RuleContext, type RuleFamily } from '../rule.js';

const unknownSite = reporter({ id: 'links/unknown-site', severity: 'error' });
const self = reporter({ id: 'links/self', severity: 'error' });
const duplicate = reporter({ id: 'links/duplicate', severity: 'error' });
const providerMismatch = reporter({ id: 'links/provider-mismatch', severity: 'error' });
const notAllowed = reporter({ id: 'links/type-not-allowed', severity: 'error' });
const mtu = reporter({ id: 'links/mtu', severity: 'error' });
const mss = reporter({ id: 'links/mss', severity: 'error' });
const wgKey = reporter({ id: 'links/wireguard-key', severity: 'error' });
const listenPort = reporter({ id: 'links/listen-port', severity: 'error' });
const unknownGateway = reporter({ id: 'links/unknown-gateway', severity: 'error' });
const endpoint = reporter({ id: 'links/endpoint', severity: 'error' });
const cloudId = reporter({ id: 'links/cloud-id', severity: 'error' });
const incomplete = reporter({ id: 'links/incomplete', severity: 'warning' });

/** A WireGuard key is 32 bytes, i.e. 44 characters of standard base64 ending in "=". */
function isWireguardKey(key: string): boolean {
  if (!/^[A-Za-z0-9+/]{42}[AEIMQUYcgkosw048]=$/.test(key)) return false;
  return Buffer.from(key, 'base64').length === 32;
}

function allowedTypes(policy: LinkPolicy | undefined, a: Provider, b: Provider): string[] | undefined {
  if (!policy) return undefined;
  const types = new Set<string>();
  for (const entry of policy.allowed) {
    const [x, y] = entry.providers;
    if ((x === a && y === b) || (x === b && y === a)) entry.types.forEach((t) => types.add(t));
  }
  return [...types];
}

function check(ctx: RuleContext): Finding[] {
  const out: Finding[] = [];
  const { fleet } = ctx;
  const policy = fleet.policies.linkPolicy?.value;
  const first = new Map<string, FleetLink>();
  // listen ports per "site/gateway"
  const ports = new Map<string, { link: FleetLink; end: 'local' | 'remote' }>();

  for (const fl of fleet.links) {
    const base = ['links', fl.index];
    const { link } = fl;
    if (fl.local === fl.remote) {
      out.push(self(fl.file, [...base, 'to'], `A site cannot link to itself: set \`to\` to the site at the other end.`));
      continue;
    }
    const local = fleet.sites.get(fl.local)!;
    const remote = fleet.sites.get(fl.remote);
    if (!remote) {
      if (!fleet.brokenNames.has(fl.remote)) {
        const guess = didYouMean(fl.remote, [...fleet.sites.keys()]);
        const hint = guess ? ` Did you mean "${guess}"?` : ` Cores: ${[...fleet.hubs.keys()].sort().join(', ')}.`;
        out.push(unknownSite(fl.file, [...base, 'to'], `There is no site "${fl.remote}": link to an existing site, or add the site first.${hint}`));
      }
      continue;
    }
    const prior = first.get(fl.id);
    if (prior) {
      const pos = locate(prior.file, ['links', prior.index]);
      out.push(
        duplicate(
          fl.file,
          [...base, 'to'],
          `The link ${fl.local} <-> ${fl.remote} is already declared in ${prior.file.path}:${pos.line}: declare each link once, in one of its two sites.`,
        ),
      );
      continue;
    }
    first.set(fl.id, fl);

    // Provider compatibility.
    const pa = local.value.provider;
    const pb = remote.value.provider;
    let typeOk = true;
    if (link.type === 'cloud-connect' || link.type === 'peering') {
      if (pa !== pb || pa === 'idc') {
        typeOk = false;
        out.push(
          providerMismatch(
            fl.file,
            [...base, 'type'],
            `A ${link.type} link only joins sites of the same cloud provider (${fl.local} is ${pa}, ${fl.remote} is ${pb}): use vpn-ipsec or wireguard.`,
          ),
        );
      }
    }
    const types = allowedTypes(policy, pa, pb);
    if (typeOk && types && !types.includes(link.type)) {
      out.push(
        notAllowed(
          fl.file,
          [...base, 'type'],
          types.length
            ? `The link policy allows ${types.join(', ')} between ${pa} and ${pb}, not ${link.type}.`
            : `The link policy allows no link between ${pa} and ${pb}: add an entry to policies/links.yaml or choose other sites.`,
        ),
      );
    }

    // MTU and MSS.
    if (policy && (link.mtu < policy.mtu.min || link.mtu > policy.mtu.max)) {
      out.push(
        mtu(
          fl.file,
          [...base, 'mtu'],
          `MTU ${link.mtu} is outside the policy's ${policy.mtu.min}..${policy.mtu.max}: VPNs rewrite packets, so pick the path MTU ` +
            '(e.g. 1420 for WireGuard, 1400 for IPsec).',
        ),
      );
    }
    if (typeof link.mssClamp === 'number' && link.mssClamp > link.mtu - 40) {
      out.push(
        mss(
          fl.file,
          [...base, 'mssClamp'],
          `MSS ${link.mssClamp} does not fit MTU ${link.mtu}: the MSS is at most MTU - 40 (${link.mtu - 40}), ` +
            'or write mssClamp: true to clamp to the path MTU.',
        ),
      );
    } else if (link.mssClamp === false && (link.type === 'vpn-ipsec' || link.type === 'wireguard')) {
      out.push(
        mss(fl.file, [...base, 'mssClamp'], `A ${link.type} link without MSS clamping shows up as hangs on large transfers: write mssClamp: true.`, {
          severity: 'warning',
        }),
      );
    }

    // Gateways.
    for (const endName of ['local', 'remote'] as const) {
      const site = endName === 'local' ? local : remote;
      const end = link[endName];
      if (end?.gateway && !site.value.gateways.some((g) => g.name === end.gateway)) {
        out.push(
          unknownGateway(
            fl.file,
            [...base, endName, 'gateway'],
            `${site.name} has no gateway "${end.gateway}": use one of ${site.value.gateways.map((g) => g.name).join(', ')}.`,
          ),
        );
      }
    }

    // Type-specific data.
    switch (link.type) {
      case 'wireguard': {
        for (const endName of ['local', 'remote'] as const) {
          const end = link[endName];
          const site = endName === 'local' ? local : remote;
          if (end.publicKey !== undefined && !isWireguardKey(end.publicKey)) {
            out.push(
              wgKey(
                fl.file,
                [...base, endName, 'publicKey'],
                `This is not a WireGuard public key (32 bytes of base64, 44 characters ending in "="): paste the output of \`wg pubkey\`.`,
              ),
            );
          }
          if (end.publicKey === undefined || end.privateKey === undefined) {
            const what = [end.publicKey === undefined ? 'publicKey' : '', end.privateKey === undefined ? 'privateKey' : ''].filter(Boolean).join(' and ');
            out.push(
              incomplete(
                fl.file,
                [...base, endName],
                `The ${site.name} end has no ${what}: the tunnel cannot come up until you run \`wg genkey | tee KEYFILE | wg pubkey\` on its ` +
                  'gateway and set publicKey and privateKey: file:KEYFILE.',
              ),
            );
          }
          const range = policy?.wireguardPorts;
          if (range && (end.listenPort < range.from || end.listenPort > range.to)) {
            out.push(
              listenPort(
                fl.file,
                [...base, endName, 'listenPort'],
                `Port ${end.listenPort} is outside the WireGuard ports of the link policy (${range.from}..${range.to}): ` +
                  'pick a free port in that range, or widen wireguardPorts in policies/links.yaml.',
              ),
            );
          }
          const gw = end.gateway ?? site.value.gateways[0]?.name ?? '';
          const key = `${site.name}/${gw}/${end.listenPort}`;
          const clash = ports.get(key);
          if (clash) {
            const pos = locate(clash.link.file, ['links', clash.link.index, clash.end, 'listenPort']);
            out.push(
              listenPort(
                fl.file,
                [...base, endName, 'listenPort'],
                `Port ${end.listenPort} on ${site.name}/${gw} is already used by the link ${clash.link.id} (${clash.link.file.path}:${pos.line}): ` +
                  'each WireGuard interface needs its own port.',
              ),
            );
          } else {
            ports.set(key, { link: fl, end: endName });
          }
        }
        if (!link.local.endpoint && !link.remote.endpoint) {
          out.push(
            endpoint(
              fl.file,
              base,
              'Neither end has an endpoint: at least one end must be dialable (set endpoint: <public address>:<port> on the end that is not behind NAT).',
            ),
          );
        }
        break;
      }
      case 'vpn-ipsec': {
        for (const endName of ['local', 'remote'] as const) {
          const site = endName === 'local' ? local : remote;
          const end = link[endName];
          if (site.value.provider !== 'idc' && !end.nextHop) {
            out.push(
              incomplete(
                fl.file,
                [...base, endName],
                `The ${site.name} end has no nextHop: set the VPN gateway id so the agent can route ${site.name}'s cloud route table into the tunnel.`,
              ),
            );
          }
          if (!end.peerAddress) {
            out.push(
              incomplete(fl.file, [...base, endName], `The ${site.name} end has no peerAddress: the tunnel cannot be set up without its public address.`),
            );
          }
        }
        break;
      }
      case 'cloud-connect': {
        for (const site of [local, remote]) {
          const declared = site.value.cloud?.cloudConnectId;
          if (declared && declared !== link.instanceId) {
            out.push(
              cloudId(
                fl.file,
                [...base, 'instanceId'],
                `${site.name} is attached to Cloud Connect ${declared}, not ${link.instanceId}: use the instance both VPCs are attached to.`,
              ),
            );
          }
        }
        break;
      }
      case 'peering':
        break;
    }
  }
  return out;
}

export const linkRules: RuleFamily = {
  id: 'links',
  rules: [
    { id: 'links/unknown-site', severity: 'error', summary: 'Both ends of a link exist.', example: 'to: ap-singapor' },
    { id: 'links/self', severity: 'error', summary: 'A site does not link to itself.', example: 'a region with to: <its own name>' },
    {
      id: 'links/duplicate',
      severity: 'error',
      summary: 'A link is declared once, in one of its two sites; the other end is derived.',
      example: 'the same link in both region and hub files',
    },
    {
      id: 'links/provider-mismatch',
      severity: 'error',
      summary: 'cloud-connect and peering only join sites of the same cloud provider.',
      example: 'cloud-connect between Huawei Beijing and AWS Singapore',
    },
    {
      id: 'links/type-not-allowed',
      severity: 'error',
      summary: 'The link type is allowed by policies/links.yaml for the two providers.',
      example: 'peering between aws and aws when only vpn-ipsec is allowed',
    },
    { id: 'links/mtu', severity: 'error', summary: "The MTU is within the policy's bounds.", example: 'mtu: 9000 on a VPN' },
    { id: 'links/mss', severity: 'error', summary: 'An MSS fits the MTU (<= MTU - 40); VPN links clamp MSS (warning).', example: 'mtu: 1400, mssClamp: 1400' },
    { id: 'links/wireguard-key', severity: 'error', summary: 'WireGuard public keys are 32 bytes of base64.', example: 'publicKey: abc' },
    {
      id: 'links/listen-port',
      severity: 'error',
      summary: "WireGuard listen ports are unique per gateway and inside the policy's wireguardPorts.",
      example: 'two tunnels on the hub gateway, both on 51820',
    },
    { id: 'links/unknown-gateway', severity: 'error', summary: 'A link end names a gateway of its site.', example: 'gateway: gw9 where the site has gw1' },
    {
      id: 'links/endpoint',
      severity: 'error',
      summary: 'At least one end of a WireGuard link has an endpoint to dial.',
      example: 'both ends without endpoint',
    },
    {
      id: 'links/cloud-id',
      severity: 'error',
      summary: 'A cloud-connect link uses the Cloud Connect instance its sites are attached to.',
      example: 'instanceId: cc-2 where the hub says cloudConnectId: cc-1',
    },
    {
      id: 'links/incomplete',
      severity: 'warning',
      summary: 'A link has what the agent needs to bring it up (keys, next hops, peer addresses).',
      example: 'a WireGuard end without publicKey',
    },
  ],
  check,
};
