// How the lab's configuration reaches its agents. `bundle` (the default, the fleet-scale path): one core's
// agent is the publisher — it alone follows the git origin and publishes each new valid revision as a signed
// bundle into its core's registry; Harbor's event-based replication (the emulator, on the registry's push
// notification) copies it to the other core; every other agent follows its site's manifest in its core's
// registry, a region's layer through the region's peer, its nodes told by their gateway. `git`: every agent
// clones the origin (the small-fleet path, kept for the tests that exercise it).
import { execFileSync } from 'node:child_process';
import { chmodSync, copyFileSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { parseOciReference } from '../../bundle/oci.js';
import { publishRevision } from '../../cli/publish.js';
import { siteRoot } from './layout.js';
import { HOST_ADDRESS } from './network.js';
import type { AgentRecord, LabState } from './processes.js';
import { siteOf, type LabSite, type LabTopology } from './topology.js';

export type Delivery = 'bundle' | 'git';

/** The repository the bundles go to in every core's registry, and the channel the agents follow. */
export const BUNDLE_REPOSITORY = 'mirrornet/fleet';
export const BUNDLE_CHANNEL = 'main';
/** The environment variables of the site fan-out token and the registry webhook token. */
export const FANOUT_TOKEN_ENV = 'MIRRORNET_LAB_FANOUT_TOKEN';
export const REGISTRY_HOOK_TOKEN_ENV = 'MIRRORNET_LAB_REGISTRY_HOOK_TOKEN';
/** The token the cores' registries send their notifications with (not an agent's). */
export const REGISTRY_EVENTS_TOKEN_ENV = 'MIRRORNET_LAB_REGISTRY_EVENTS_TOKEN';

export interface BundleRecord {
  /** The core whose agent publishes. */
  publisher: string;
  /** The publisher's private key (file) and the allowed-signers file every other agent checks bundles with. */
  key: string;
  allowedSigners: string;
  /**
   * The cores' agents' --listen addresses, chosen before any agent starts: the publisher asks every core for its
   * sites' health (rollout waves, when the fleet has policies/rollout.yaml) and may start before the other core.
   */
  coreListen?: Record<string, string>;
}

/** The core that publishes: the overseas core (it reaches github.com best), else the first core. */
export function publisherCore(t: LabTopology): LabSite {
  const cores = t.sites.filter((s) => s.role === 'hub');
  return cores.find((c) => c.area !== 'cn') ?? cores[0]!;
}

/** The core whose registry a site follows: itself for a core; a region's registry core, else its area's core. */
export function bundleCore(t: LabTopology, s: LabSite): LabSite {
  if (s.role === 'hub') return s;
  if (s.registrySite) return siteOf(t, s.registrySite);
  const cores = t.sites.filter((c) => c.role === 'hub');
  return cores.find((c) => c.area === s.area) ?? cores[0]!;
}

/** `oci+http://<core registry>/mirrornet/fleet:main` */
function channelRef(core: LabSite): string {
  return `oci+http://${core.registry!.host}:${core.registry!.port}/${BUNDLE_REPOSITORY}:${BUNDLE_CHANNEL}`;
}

/** Where the publisher's agent finds its signing key, under its --root (a secret reference is read there). */
const SIGNING_KEY_PATH = '/etc/mirrornet/bundle-signing.key';

/**
 * The publisher's SSH key (in its site's sandbox, where its agent reads `file:` references) and the
 * allowed-signers file with its public key (under the lab directory, given to every other agent).
 */
export function makePublisherKey(dir: string, publisher: string): BundleRecord {
  const keys = join(dir, 'keys');
  mkdirSync(keys, { recursive: true, mode: 0o700 });
  const key = join(keys, 'publisher');
  execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', `publisher@${publisher}`, '-f', key]);
  const inSandbox = join(siteRoot(dir, publisher), SIGNING_KEY_PATH);
  mkdirSync(dirname(inSandbox), { recursive: true, mode: 0o700 });
  copyFileSync(key, inSandbox);
  chmodSync(inSandbox, 0o600);
  const allowedSigners = join(keys, 'allowed_signers');
  writeFileSync(allowedSigners, `publisher@${publisher}.lab ${readFileSync(`${key}.pub`, 'utf8')}`);
  return { publisher, key, allowedSigners };
}

/**
 * The first revision into every core's registry, before any agent runs (as a fleet's bootstrap does: the
 * replication and the tunnels it crosses come from the agents, which need a bundle first). Later revisions
 * go the publisher's way.
 */
export async function publishFirst(state: LabState, revision: string): Promise<void> {
  const b = state.bundle!;
  const key = readFileSync(b.key, 'utf8');
  for (const core of state.topology!.sites.filter((s) => s.role === 'hub')) {
    const target = parseOciReference(channelRef(core));
    if ('error' in target) throw new Error(target.error);
    await publishRevision({ repo: state.origin, revision, target, signingKey: key });
  }
}

/** An agent's source flags: the git origin (the publisher, or every agent with `git` delivery) or its core's channel. */
export function sourceFlags(state: LabState, s: LabSite, rec: AgentRecord): string[] {
  const t = state.topology!;
  const b = state.bundle;
  if (!b) return ['--repo-url', state.origin];
  const flags: string[] = [];
  // The publisher follows the origin to publish, and applies from its own bundles like everyone else.
  if (rec.role === 'gateway' && s.name === b.publisher) {
    flags.push('--repo-url', state.origin, '--publish-to', channelRef(s), '--sign-key', `file:${SIGNING_KEY_PATH}`);
    // Rollout waves: the publisher reads the sites' health from every core as the lab's operator does.
    if (b.coreListen && state.operator) {
      for (const listen of Object.values(b.coreListen)) flags.push('--rollout-core', `http://${listen}`);
      flags.push('--rollout-key', state.operator.key);
    }
  }
  flags.push('--source', channelRef(bundleCore(t, s)), '--allowed-signers', b.allowedSigners, '--fanout-token', `env:${FANOUT_TOKEN_ENV}`);
  if (s.role === 'region' && s.proxyPort !== undefined && s.registrySite) flags.push('--registry-mirror', `http://${s.wan}:${s.proxyPort}`);
  if (rec.role === 'gateway') flags.push('--registry-hook-token', `env:${REGISTRY_HOOK_TOKEN_ENV}`);
  else {
    const gateway = state.agents.find((a) => a.role === 'gateway' && a.site === s.name);
    if (gateway) flags.push('--gateway', `http://${gateway.listen}`);
  }
  return flags;
}

/** Whether an agent follows the git origin (a push webhook is for it). */
export function followsGit(state: LabState, rec: AgentRecord): boolean {
  return !state.bundle || (rec.role === 'gateway' && rec.site === state.bundle.publisher);
}

/** Where a core's registry sends its notifications: the lab's services, on the host address. */
export function registryEventsUrl(port: number, core: string): string {
  return `http://${HOST_ADDRESS}:${port}/registry-events/${encodeURIComponent(core)}`;
}
