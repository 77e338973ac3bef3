// Mirror settings of each region: what it mirrors exists and is reachable over the private network, the
// runtime can actually use it, and the dfdaemon settings are ones the Rust client understands (mirror-dragonfly.ts).
import type { Finding } from '../../model/finding.js';
import { GO_MAX_DURATION_NS, goDurationNs } from '../../model/go-duration.js';
import { didYouMean } from '../../model/suggest.js';
import { parseCidr, parseIpv4, containsAddress } from '../../net/cidr.js';
import { reporter, type RuleContext, type RuleFamily } from '../rule.js';
import { dragonflyFindings, dragonflyRules } from './mirror-dragonfly.js';

const unknownRegistry = reporter({ id: 'mirror/unknown-registry', severity: 'error' });
const dockerPrivate = reporter({ id: 'mirror/docker-private-registry', severity: 'error' });
const unreachable = reporter({ id: 'mirror/unreachable', severity: 'error' });
const crossArea = reporter({ id: 'mirror/cross-area', severity: 'warning' });
const dialTimeout = reporter({ id: 'mirror/dial-timeout', severity: 'error' });

const DOCKER_HUB = 'docker.io';

function check(ctx: RuleContext): Finding[] {
  const out: Finding[] = [];
  const { fleet } = ctx;
  // Regions without a path to their own core are reported by routing/unreachable; do not pile on. A retiring
  // region needs no path: it mirrors nothing any more.
  const cutOff = new Set(ctx.routes.unreachable.filter((p) => p.reason === 'core').map((p) => p.a));
  for (const [name, region] of fleet.regions) if (region.value.lifecycle === 'retiring') cutOff.add(name);
  for (const [name, region] of fleet.regions) {
    const m = region.value.mirror;
    const f = region.file;
    const own = parseCidr(region.value.cidr);
    m.registries.forEach((reg, i) => {
      const path = ['mirror', 'registries', i];
      if (reg === DOCKER_HUB) return;
      const harbor = fleet.harbors.get(reg);
      if (!harbor) {
        if (!fleet.brokenNames.has(reg)) {
          const known = [...fleet.harbors.keys(), DOCKER_HUB];
          const guess = didYouMean(reg, known);
          out.push(
            unknownRegistry(f, path, `"${reg}" is not a declared Harbor: mirror one of ${known.join(', ')}.${guess ? ` Did you mean "${guess}"?` : ''}`),
          );
        }
        return;
      }
      if (m.runtime === 'docker') {
        out.push(
          dockerPrivate(
            f,
            path,
            `Docker's registry-mirrors only mirrors Docker Hub, so mirroring ${reg} with runtime: docker would do nothing. Use runtime: ` +
              `containerd (hosts.toml mirrors any registry), or keep docker and mirror only ${DOCKER_HUB}; for Harbor images Docker needs dfdaemon ` +
              'as an HTTP proxy with a trusted CA, which mirrornet does not set up.',
          ),
        );
      }
      const hub = fleet.hubs.get(harbor.value.hub);
      if (!hub) return; // harbor rules report the dangling hub
      if (hub.value.area !== region.value.area) {
        out.push(
          crossArea(
            f,
            path,
            `${reg} is the ${hub.value.area} core's Harbor; ${name} is in ${region.value.area}: pulls would cross between areas. ` +
              `Mirror your own area's Harbor.`,
          ),
        );
      }
      const target = parseCidr(hub.value.cidr);
      if (target.ok && own.ok && !cutOff.has(name)) {
        const walk = ctx.forwarding.walk(name, target.range.start);
        if (walk.kind !== 'delivered' || walk.at !== harbor.value.hub) {
          out.push(
            unreachable(
              f,
              path,
              `${name} has no route to ${harbor.value.hub}, where ${reg} runs; image traffic stays on the private network: ` +
                `link ${name} to ${harbor.value.hub} or mirror a reachable Harbor.`,
            ),
          );
        }
      }
    });

    const df = m.dragonfly;
    out.push(...dragonflyFindings(f, region.value));
    const managerHost = /^https?:\/\/([^:/]+)/.exec(df.manager)?.[1];
    const managerAddr = managerHost ? parseIpv4(managerHost) : undefined;
    if (managerHost && managerAddr === undefined) {
      out.push(
        unreachable(
          f,
          ['mirror', 'dragonfly', 'manager'],
          `The manager address ${managerHost} must be a private IPv4 address: image traffic stays on the private network.`,
        ),
      );
    } else if (managerAddr !== undefined && own.ok && !cutOff.has(name) && !containsAddress(own.range, managerAddr)) {
      const walk = ctx.forwarding.walk(name, managerAddr);
      if (walk.kind !== 'delivered') {
        out.push(
          unreachable(
            f,
            ['mirror', 'dragonfly', 'manager'],
            `${name} has no route to the Dragonfly manager ${managerHost}: use the manager of a core ${name} is linked to.`,
          ),
        );
      }
    }
  }
  return out;
}

/** dialTimeout becomes hosts.toml's dial_timeout, which containerd parses with Go's time.ParseDuration (model/constraints/containerd.ts). */
function checkDialTimeout(ctx: RuleContext): Finding[] {
  const out: Finding[] = [];
  for (const region of ctx.fleet.regions.values()) {
    const m = region.value.mirror;
    if (m.dialTimeout === undefined) continue;
    const at = ['mirror', 'dialTimeout'];
    if (m.runtime === 'docker') {
      out.push(
        dialTimeout(
          region.file,
          at,
          `dialTimeout: ${m.dialTimeout} does nothing with runtime: docker: it is containerd's hosts.toml dial_timeout, and Docker's ` +
            'daemon.json has no such setting. Remove it, or use runtime: containerd.',
          { severity: 'warning' },
        ),
      );
      continue;
    }
    const ns = goDurationNs(m.dialTimeout);
    if (ns === 0n) {
      out.push(
        dialTimeout(
          region.file,
          at,
          `dialTimeout: ${m.dialTimeout} is no timeout at all for containerd (dial_timeout = 0 is a Go dialer without a timeout): a dfdaemon ` +
            "that does not answer holds every pull until the kernel's TCP connect timeout, about 2 minutes, before the fallback to the " +
            "registry. Write a positive duration such as 2s, or leave dialTimeout out for containerd's 30s.",
        ),
      );
    } else if (ns !== undefined && ns > GO_MAX_DURATION_NS) {
      out.push(
        dialTimeout(
          region.file,
          at,
          `dialTimeout: ${m.dialTimeout} is longer than Go's time.ParseDuration can hold (2562047h): containerd fails to decode ` +
            'hosts.toml and ignores the whole file, so nodes pull straight from the registry. Write a duration such as 2s.',
        ),
      );
    }
  }
  return out;
}

export const mirrorRules: RuleFamily = {
  id: 'mirror',
  rules: [
    {
      id: 'mirror/unknown-registry',
      severity: 'error',
      summary: 'Registries to mirror are declared HarborInstances (or docker.io).',
      example: 'registries: [harbor-frankfurt] with no such Harbor',
    },
    {
      id: 'mirror/docker-private-registry',
      severity: 'error',
      summary: 'runtime: docker cannot mirror a private Harbor (registry-mirrors covers Docker Hub only).',
      example: 'runtime: docker, registries: [harbor-ap-singapore]',
    },
    {
      id: 'mirror/unreachable',
      severity: 'error',
      summary: 'The mirrored Harbor and the Dragonfly manager are reachable over the private network.',
      example: 'an overseas region mirroring the Beijing Harbor without a route to Beijing',
    },
    {
      id: 'mirror/cross-area',
      severity: 'warning',
      summary: "Regions mirror their own area's Harbor.",
      example: 'a China region mirroring the Singapore Harbor',
    },
    {
      id: 'mirror/dial-timeout',
      severity: 'error',
      summary: "dialTimeout is above 0 (containerd's 0 is no timeout) and at most 2562047h (Go's limit); runtime: docker ignores it (warning).",
      example: 'dialTimeout: 0s',
    },
    ...dragonflyRules,
  ],
  check: (ctx) => [...check(ctx), ...checkDialTimeout(ctx)],
};
