// The one provider registry: which providers a host runs, in apply order (tunnels before the routes that
// use them), built with their clients passed in, and what the guardrails need to know about each — its key
// in policies/guardrails.yaml `drift`, how its changes count as deletions, and (for host routes) which
// route carries the agent's own connection and what to call it. The reconcile engine asks here and never
// names a provider; the pull request's removal estimate (report/diff/guardrails.ts) counts through the engine.
// Also what applying a provider's changes restarts or reloads, and the files the providers would write for a
// desired state (their own renderers, secrets as references): the pull request's plan shows both.
import type { Desired, Role } from '../desired/types.js';
import { MirrornetError } from '../errors.js';
import type { SecretResolver } from '../host/secrets.js';
import { containerdProvider, DEFAULT_CONFIG_PATH, hostsTomlPath, renderHostsToml } from './containerd/index.js';
import { DAEMON_JSON, dockerProvider, renderDaemonJson } from './docker/index.js';
import { dragonflyProvider, renderDfdaemon } from './dragonfly/index.js';
import { harborYmlPath, harborYmlShown } from './harbor-config/render.js';
import { lazyProvider } from './lazy.js';
import { routeCarrying, routesProvider, type ActualRoutes } from './routes/index.js';
import { DEFAULT_COMMANDS, type Change, type HostCommands, type Provider, type ProviderId } from './types.js';
import { renderWireguardSettings, wireguardProvider, wireguardSettingsPath } from './wireguard/index.js';

// What `mirrornet doctor` reuses of the providers' own detection (all read-only), so it never keeps a second copy.
export { findConfigPath } from './containerd/index.js';
export { parseDaemonJson } from './docker/index.js';
export { harborYmlPath } from './harbor-config/render.js';
export { resolveHuaweiCredentials } from './huaweicloud-vpc/credentials.js';
export { wireguardImplementation } from './wireguard/index.js';

class ProviderConfigError extends MirrornetError {}

/** What one change removes for good, for the guardrails (max deletions, protected destinations). */
export interface Removal {
  id: string;
  /** Set when the removed thing is a route: which kind, for the refusal's sentence. */
  route?: 'host' | 'cloud';
}

interface GuardrailTraits {
  /** The provider's key under `drift` in policies/guardrails.yaml. */
  driftKey: 'routes' | 'wireguard' | 'containerd' | 'docker' | 'dragonfly' | 'cloudRoutes' | 'harbor';
  countDeletions(change: Change): Removal[];
  /** The resource in the provider's actual state that carries traffic to an IPv4 address: its id, and what a person calls it. */
  carrier?(actual: unknown, address: number): { id: string; name: string } | undefined;
}

const deletesResource = (c: Change): Removal[] => (c.action === 'delete' ? [{ id: c.id }] : []);

const TRAITS: Record<ProviderId, GuardrailTraits> = {
  wireguard: { driftKey: 'wireguard', countDeletions: deletesResource },
  routes: {
    driftKey: 'routes',
    countDeletions: (c) => (c.action === 'delete' ? [{ id: c.id, route: 'host' }] : []),
    carrier: (actual, address) => {
      const id = routeCarrying(actual as ActualRoutes, address);
      return id === undefined ? undefined : { id, name: `the route to ${id}` };
    },
  },
  // One change updates a whole route table; it names the routes it drops.
  'huaweicloud-vpc': {
    driftKey: 'cloudRoutes',
    countDeletions: (c) => (c.deletedRoutes ? c.deletedRoutes.map((id) => ({ id, route: 'cloud' as const })) : deletesResource(c)),
  },
  containerd: { driftKey: 'containerd', countDeletions: deletesResource },
  docker: { driftKey: 'docker', countDeletions: deletesResource },
  dragonfly: { driftKey: 'dragonfly', countDeletions: deletesResource },
  postgres: { driftKey: 'harbor', countDeletions: deletesResource },
  // Never deletes: the harbor.yml of a running Harbor is left alone when its instance goes away.
  'harbor-config': { driftKey: 'harbor', countDeletions: () => [] },
  'harbor-api': { driftKey: 'harbor', countDeletions: deletesResource },
};

export function guardrailTraits(id: ProviderId): GuardrailTraits {
  return TRAITS[id];
}

/**
 * What applying a provider's creates and updates runs on the host besides writing, in words (the hook commands of
 * HostCommands). containerd reads hosts.toml on every pull and WireGuard is reconfigured in place: no restart.
 */
const RESTARTS: Partial<Record<ProviderId, { on: readonly Change['action'][]; if?: (c: Change) => boolean; says: (c: HostCommands) => string }>> = {
  dragonfly: { on: ['create', 'update'], says: (c) => `restart dfdaemon (\`${c.dragonflyRestart}\`): it does not reload dfdaemon.yaml` },
  docker: { on: ['create', 'update', 'delete'], says: (c) => `reload Docker with SIGHUP (\`${c.dockerReload}\`): registry-mirrors needs no restart` },
  'harbor-config': {
    on: ['create', 'update'],
    // A change of the file's mode only tightens it: nothing is regenerated (ApplyData.run).
    if: (c) => (c.data as { run?: boolean } | undefined)?.run !== false,
    says: (c) => `regenerate and restart Harbor (\`${c.harborApply ?? DEFAULT_COMMANDS.harborApply}\` in its install directory)`,
  },
};

/** The restarts and reloads that applying these changes runs, once each, in apply order of the changes. */
export function restartsOf(changes: readonly Pick<Change, 'provider' | 'action' | 'data'>[], commands: HostCommands): string[] {
  const out = new Set<string>();
  for (const c of changes) {
    const r = RESTARTS[c.provider];
    if (r?.on.includes(c.action) && (r.if?.({ ...c, id: '', reason: '' }) ?? true)) out.add(r.says(commands));
  }
  return [...out];
}

/** One file the providers would write for a desired state, as text with secret references (never values). */
export interface RenderedFile {
  provider: ProviderId;
  path: string;
  text: string;
}

/**
 * The files (and WireGuard interface settings) the providers would write for `desired`, by their own renderers,
 * without a host: hosts.toml under containerd's default config_path, daemon.json with only the key mirrornet
 * owns (a host keeps its other keys), harbor.yml and WireGuard private keys with their secret references. Pure.
 */
export function desiredFiles(desired: Desired): RenderedFile[] {
  const out: RenderedFile[] = [];
  for (const w of desired.wireguard) out.push({ provider: 'wireguard', path: wireguardSettingsPath(w.name), text: renderWireguardSettings(w) });
  for (const r of desired.containerd?.registries ?? [])
    out.push({ provider: 'containerd', path: hostsTomlPath(DEFAULT_CONFIG_PATH, r.host), text: renderHostsToml(r, desired.site) });
  if (desired.docker) out.push({ provider: 'docker', path: DAEMON_JSON, text: renderDaemonJson(undefined, desired.docker.registryMirrors) });
  if (desired.dragonfly) out.push({ provider: 'dragonfly', path: desired.dragonfly.path, text: renderDfdaemon(desired) });
  const instance = desired.harbor?.instance;
  if (instance) out.push({ provider: 'harbor-config', path: harborYmlPath(instance), text: harborYmlShown(instance, (ref) => ref) });
  return out;
}

/** How a host's providers reach the services they manage (from flags or the environment). */
export interface ProviderConfig {
  /** Do not manage cloud route tables from this host. */
  skipCloud?: boolean;
  huaweicloud?: { endpoint?: string; akRef?: string; skRef?: string };
  /** PostgreSQL admin connection for the Harbor database bootstrap (hub role): a URL without password. */
  pgAdmin?: { url: string; passwordRef?: string };
  harbor?: { url?: string; username?: string; passwordRef?: string; peerUrls?: string };
  secrets: SecretResolver;
}

/** The providers of a host with these roles, in apply order, and notes on what this host leaves out. */
export function buildProviders(config: ProviderConfig, roles: readonly Role[]): { providers: Provider<unknown>[]; notes: string[] } {
  const notes: string[] = [];
  const providers: Provider<unknown>[] = [wireguardProvider as Provider<unknown>, routesProvider as Provider<unknown>];
  // Service providers are loaded on first use: a host without cloud routes or Harbor never loads their SDKs.
  if (roles.includes('gateway') && !config.skipCloud) {
    const hw = config.huaweicloud ?? {};
    providers.push(
      lazyProvider(
        'huaweicloud-vpc',
        (d) => d.cloud !== undefined,
        async () => {
          const { createHuaweiVpcProvider, huaweiVpcClientFactory } = await import('./huaweicloud-vpc/index.js');
          return createHuaweiVpcProvider(
            huaweiVpcClientFactory({
              ...(hw.endpoint ? { endpoint: hw.endpoint } : {}),
              ...(hw.akRef ? { akRef: hw.akRef } : {}),
              ...(hw.skRef ? { skRef: hw.skRef } : {}),
            }),
          ) as Provider<unknown>;
        },
      ),
    );
  }
  providers.push(containerdProvider as Provider<unknown>, dockerProvider as Provider<unknown>, dragonflyProvider as Provider<unknown>);
  if (!roles.includes('hub')) return { providers, notes };
  const { secrets } = config;
  const pg = config.pgAdmin;
  if (pg) {
    providers.push(
      lazyProvider(
        'postgres',
        (d) => d.harbor !== undefined,
        async () => {
          const { adminFromUrl, createPostgresProvider, pgConnector } = await import('./postgres/index.js');
          let admin;
          try {
            admin = adminFromUrl(pg.url, pg.passwordRef ? () => secrets.resolve(pg.passwordRef!) : undefined);
          } catch (err) {
            throw new ProviderConfigError(`--pg-admin-url: ${(err as Error).message}.`, { cause: err });
          }
          return createPostgresProvider(pgConnector(admin)) as Provider<unknown>;
        },
      ),
    );
  } else {
    notes.push('No --pg-admin-url (or MIRRORNET_PG_ADMIN_URL): the Harbor database and its role are not bootstrapped from this host.');
  }
  providers.push(
    lazyProvider(
      'harbor-config',
      (d) => d.harbor !== undefined,
      async () => (await import('./harbor-config/index.js')).harborConfigProvider as Provider<unknown>,
    ),
  );
  const hb = config.harbor ?? {};
  providers.push(
    lazyProvider(
      'harbor-api',
      (d) => d.harbor !== undefined,
      async () => {
        const { createHarborApiProvider, harborClientFactory, parseUrlMap } = await import('./harbor-api/index.js');
        const clientFor = harborClientFactory({
          secrets,
          ...(hb.url ? { url: hb.url } : {}),
          ...(hb.username ? { username: hb.username } : {}),
          ...(hb.passwordRef ? { passwordRef: hb.passwordRef } : {}),
        });
        const peers = parseUrlMap(hb.peerUrls ?? '');
        return createHarborApiProvider(clientFor, secrets, { peerUrl: (p) => peers.get(p) }) as Provider<unknown>;
      },
    ),
  );
  return { providers, notes };
}
