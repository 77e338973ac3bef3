// What plan, apply and agent share: options naming the host, and the path from a repository checkout to
// a plan for this host.
import { join } from 'node:path';
import type { Logger } from 'pino';
import { ROLES, type Role } from '../desired/types.js';
import { localExec } from '../host/exec.js';
import { HostFiles } from '../host/files.js';
import { hostSecrets } from '../host/secrets.js';
import { containerdProvider } from '../providers/containerd/index.js';
import { dockerProvider } from '../providers/docker/index.js';
import { dragonflyProvider } from '../providers/dragonfly/index.js';
import { lazyProvider } from '../providers/lazy.js';
import { routesProvider } from '../providers/routes/index.js';
import { DEFAULT_COMMANDS, type HostCommands, type Provider } from '../providers/types.js';
import { wireguardProvider } from '../providers/wireguard/index.js';
import type { HostDeps } from '../reconcile/engine.js';
import { UsageError } from './errors.js';

export interface HostOptions {
  region: string;
  roles: string;
  repo: string;
  root: string;
  netns?: string;
  stateDir?: string;
  format: 'text' | 'json';
  dockerReload?: string;
  dragonflyRestart?: string;
  harborApply?: string;
  /** Huawei Cloud: endpoint override (e.g. the emulator) and credential references. */
  huaweicloudEndpoint?: string;
  huaweicloudAk?: string;
  huaweicloudSk?: string;
  /** Do not manage cloud route tables from this host. */
  skipCloud?: boolean;
  /** PostgreSQL admin connection for the Harbor database bootstrap (hub role). */
  pgAdminUrl?: string;
  pgAdminPassword?: string;
  /** Harbor API: URL override (e.g. the emulator), user and password reference; peer URLs NAME=URL. */
  harborUrl?: string;
  harborUsername?: string;
  harborPassword?: string;
  harborPeerUrl?: string[];
}

/** The providers of this host, in apply order, with their clients built from the options. */
export function buildProviders(opts: HostOptions, roles: Role[]): { providers: Provider<unknown>[]; notes: string[] } {
  const notes: string[] = [];
  const providers: Provider<unknown>[] = [wireguardProvider as Provider<unknown>, routesProvider as Provider<unknown>];
  // Service providers are loaded on first use: a host without cloud routes or Harbor never loads their SDKs.
  if (roles.includes('gateway') && !opts.skipCloud) {
    const endpoint = opts.huaweicloudEndpoint ?? process.env['MIRRORNET_HUAWEICLOUD_VPC_ENDPOINT'];
    providers.push(
      lazyProvider(
        'huaweicloud-vpc',
        (d) => d.cloud !== undefined,
        async () => {
          const { createHuaweiVpcProvider, huaweiVpcClientFactory } = await import('../providers/huaweicloud-vpc/index.js');
          return createHuaweiVpcProvider(
            huaweiVpcClientFactory({
              ...(endpoint ? { endpoint } : {}),
              ...(opts.huaweicloudAk ? { akRef: opts.huaweicloudAk } : {}),
              ...(opts.huaweicloudSk ? { skRef: opts.huaweicloudSk } : {}),
            }),
          ) as Provider<unknown>;
        },
      ),
    );
  }
  providers.push(containerdProvider as Provider<unknown>, dockerProvider as Provider<unknown>, dragonflyProvider as Provider<unknown>);
  if (roles.includes('hub')) {
    const url = opts.pgAdminUrl ?? process.env['MIRRORNET_PG_ADMIN_URL'];
    const passwordRef = opts.pgAdminPassword ?? process.env['MIRRORNET_PG_ADMIN_PASSWORD'];
    if (url) {
      const secrets = hostSecrets({ root: opts.root });
      try {
        new URL(url);
      } catch {
        throw new UsageError(`--pg-admin-url ${url} is not a URL (postgres://user@host:5432/postgres).`);
      }
      providers.push(
        lazyProvider(
          'postgres',
          (d) => d.harbor !== undefined,
          async () => {
            const { adminFromUrl, createPostgresProvider, pgConnector } = await import('../providers/postgres/index.js');
            let admin;
            try {
              admin = adminFromUrl(url, passwordRef ? () => secrets.resolve(passwordRef) : undefined);
            } catch (err) {
              throw new UsageError(`--pg-admin-url: ${(err as Error).message}.`);
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
        async () => (await import('../providers/harbor-config/index.js')).harborConfigProvider as Provider<unknown>,
      ),
    );
    const secrets = hostSecrets({ root: opts.root });
    const harborUrl = opts.harborUrl ?? process.env['MIRRORNET_HARBOR_URL'];
    const username = opts.harborUsername ?? process.env['MIRRORNET_HARBOR_USERNAME'];
    const harborPasswordRef = opts.harborPassword ?? process.env['MIRRORNET_HARBOR_PASSWORD_REF'];
    const peerText = [...(opts.harborPeerUrl ?? []), process.env['MIRRORNET_HARBOR_PEER_URLS'] ?? ''].filter(Boolean).join(',');
    providers.push(
      lazyProvider(
        'harbor-api',
        (d) => d.harbor !== undefined,
        async () => {
          const { createHarborApiProvider, harborClientFactory, parseUrlMap } = await import('../providers/harbor-api/index.js');
          const clientFor = harborClientFactory({
            secrets,
            ...(harborUrl ? { url: harborUrl } : {}),
            ...(username ? { username } : {}),
            ...(harborPasswordRef ? { passwordRef: harborPasswordRef } : {}),
          });
          const peers = parseUrlMap(peerText);
          return createHarborApiProvider(clientFor, secrets, { peerUrl: (p) => peers.get(p.name) }) as Provider<unknown>;
        },
      ),
    );
  }
  return { providers, notes };
}

export function parseRoles(text: string): Role[] {
  const roles = text
    .split(',')
    .map((r) => r.trim())
    .filter(Boolean);
  for (const r of roles) if (!(ROLES as string[]).includes(r)) throw new UsageError(`Unknown role "${r}": use a comma-separated list of ${ROLES.join(', ')}.`);
  if (!roles.length) throw new UsageError(`--roles needs at least one of ${ROLES.join(', ')}.`);
  return [...new Set(roles)] as Role[];
}

export function stateDirOf(opts: Pick<HostOptions, 'root' | 'stateDir'>): string {
  return opts.stateDir ?? join(opts.root, 'var/lib/mirrornet');
}

export function commandsOf(opts: Pick<HostOptions, 'dockerReload' | 'dragonflyRestart' | 'harborApply'>): HostCommands {
  return {
    dockerReload: opts.dockerReload ?? process.env['MIRRORNET_DOCKER_RELOAD'] ?? DEFAULT_COMMANDS.dockerReload,
    dragonflyRestart: opts.dragonflyRestart ?? process.env['MIRRORNET_DFDAEMON_RESTART'] ?? DEFAULT_COMMANDS.dragonflyRestart,
    harborApply: opts.harborApply ?? process.env['MIRRORNET_HARBOR_APPLY'] ?? DEFAULT_COMMANDS.harborApply,
  };
}

export function hostDeps(opts: HostOptions, log: Logger): HostDeps {
  const { providers, notes } = buildProviders(opts, parseRoles(opts.roles));
  return {
    providers,
    notes,
    exec: localExec(opts.netns ? { netns: opts.netns } : {}),
    files: new HostFiles(opts.root),
    secrets: hostSecrets({ root: opts.root }),
    log,
    commands: commandsOf(opts),
  };
}
