// The harbor-api provider: the Harbor objects of a core (hub role) - projects (with their quota, and
// proxy-cache projects of an endpoint), registry endpoints (declared ones and one to each other core its
// replication rules name), replication policies, and robot accounts whose secret is pinned from a secret
// reference - kept as the repository says through Harbor's API. This file wires the jobs together and
// builds the Harbor clients the agent uses:
//
// desired  desired/harbor.ts (pure, computed in compile(), shared with the pull request diff): the objects the
//          repository asks for; this host's URLs for the other cores are laid over them in diff.ts.
// read     read.ts: one paged list per kind, and fingerprints of the secrets the host resolves.
// diff     diff.ts (pure): Changes per object, `<instance>/<kind>/<name>`, with reasons; secrets never in
//          before/after. Ownership by a marker in the description (marker.ts).
// apply    apply.ts: in dependency order (orderHarborChanges, changes.ts), secrets resolved and pinned.
import type { Logger } from 'pino';
import type { httpRequest } from '../../host/http.js';
import type { SecretResolver } from '../../host/secrets.js';
import type { HarborInstance } from '../../model/schema.js';
import type { Provider } from '../types.js';
import { applyHarborChanges } from './apply.js';
import { EMPTY_ACTUAL, PROVIDER_ID, type ActualHarbor } from './changes.js';
import { HarborApiClient, type HarborApi } from './client.js';
import { diffHarbor, type HarborApiOptions } from './diff.js';
import { readHarbor } from './read.js';

/**
 * The provider. `clientFor` gives the Harbor client of an instance (harborClientFactory for the agent);
 * `secrets` resolves secret references (default: the context's resolver).
 */
export function createHarborApiProvider(
  clientFor: (instance: HarborInstance) => HarborApi,
  secrets?: SecretResolver,
  opts: HarborApiOptions = {},
): Provider<ActualHarbor> {
  return {
    id: PROVIDER_ID,
    wants: (d) => d.harbor !== undefined,
    read: (ctx, desired) => readHarbor(ctx, desired, clientFor, secrets ?? ctx.secrets, opts),
    diff: (desired, actual, owned) => diffHarbor(desired, actual ?? EMPTY_ACTUAL, owned, opts),
    apply: (ctx, changes, desired, actual) => applyHarborChanges(ctx, changes, desired, actual, clientFor, secrets ?? ctx.secrets),
  };
}

export interface HarborClientFactoryOptions {
  /** Resolves the password's secret reference on the host. */
  secrets: SecretResolver;
  /**
   * Where this core's Harbor API is: a URL for every instance, a function, or nothing (the instance's
   * externalUrl). Wire to `--harbor-url` / MIRRORNET_HARBOR_URL.
   */
  url?: string | ((instance: HarborInstance) => string | undefined);
  /** Default `admin` (MIRRORNET_HARBOR_USERNAME). */
  username?: string;
  /** A secret reference for the password instead of the instance's adminPassword (MIRRORNET_HARBOR_PASSWORD_REF). */
  passwordRef?: string;
  log?: Logger;
  http?: typeof httpRequest;
  sleep?: (ms: number) => Promise<void>;
  retries?: number;
  timeoutMs?: number;
}

/** `clientFor` for createHarborApiProvider: one client per instance, the password resolved on first use. */
export function harborClientFactory(opts: HarborClientFactoryOptions): (instance: HarborInstance) => HarborApi {
  const cache = new Map<string, HarborApi>();
  return (instance) => {
    const hit = cache.get(instance.name);
    if (hit) return hit;
    const url = (typeof opts.url === 'function' ? opts.url(instance) : opts.url) ?? instance.externalUrl;
    const ref = opts.passwordRef ?? instance.adminPassword;
    const client = new HarborApiClient({
      url,
      username: opts.username ?? 'admin',
      password: () => opts.secrets.resolve(ref),
      ...(opts.log ? { log: opts.log.child({ harbor: instance.name }) } : {}),
      ...(opts.http ? { http: opts.http } : {}),
      ...(opts.sleep ? { sleep: opts.sleep } : {}),
      ...(opts.retries !== undefined ? { retries: opts.retries } : {}),
      ...(opts.timeoutMs !== undefined ? { timeoutMs: opts.timeoutMs } : {}),
    });
    cache.set(instance.name, client);
    return client;
  };
}

/** `name=url,name=url` (e.g. MIRRORNET_HARBOR_PEER_URLS) into a map. */
export function parseUrlMap(text: string | undefined): Map<string, string> {
  const out = new Map<string, string>();
  for (const part of (text ?? '').split(',')) {
    const i = part.indexOf('=');
    if (i <= 0) continue;
    out.set(part.slice(0, i).trim(), part.slice(i + 1).trim());
  }
  return out;
}
