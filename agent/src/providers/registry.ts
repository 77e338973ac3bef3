// The one provider registry: which providers a host runs, in apply order (tunnels before the routes that
// use them), built with their clients passed in, and what the guardrails need to know about each — its key
// in policies/guardrails.yaml `drift`, how its changes count as deletions, and (for host routes) which
// route carries the agent's own connection and what to call it. The reconcile engine asks here and never
// names a provider; the pull request's removal estimate (report/diff/guardrails.ts) counts through the engine.
import type { Role } from '../desired/types.js';
import { MirrornetError } from '../errors.js';
import type { SecretResolver } from '../host/secrets.js';
import { containerdProvider } from './containerd/index.js';
import { dockerProvider } from './docker/index.js';
import { dragonflyProvider } from './dragonfly/index.js';
import { lazyProvider } from './lazy.js';
import { routeCarrying, routesProvider, type ActualRoutes } from './routes/index.js';
import type { Change, Provider, ProviderId } from './types.js';
import { wireguardProvider } from './wireguard/index.js';

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
