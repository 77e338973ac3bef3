// Providers in the order the reconcile loop runs them: tunnels before the routes that use them. Providers
// that talk to a service (cloud, Harbor, PostgreSQL) are built by factories with their clients passed in.
import { containerdProvider } from './containerd/index.js';
import { dockerProvider } from './docker/index.js';
import { dragonflyProvider } from './dragonfly/index.js';
import { routesProvider } from './routes/index.js';
import type { Provider, ProviderId } from './types.js';
import { wireguardProvider } from './wireguard/index.js';

export const PROVIDERS: readonly Provider<unknown>[] = [
  wireguardProvider as Provider<unknown>,
  routesProvider as Provider<unknown>,
  containerdProvider as Provider<unknown>,
  dockerProvider as Provider<unknown>,
  dragonflyProvider as Provider<unknown>,
];

export const PROVIDER_BY_ID: ReadonlyMap<ProviderId, Provider<unknown>> = new Map(PROVIDERS.map((p) => [p.id, p]));
