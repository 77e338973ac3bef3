// What plan, apply and agent share: the options that name the host, turned into its providers' configuration
// and the host dependencies the reconcile engine runs with.
import { join } from 'node:path';
import type { Logger } from 'pino';
import { ROLES, type Role } from '../desired/types.js';
import { localExec } from '../host/exec.js';
import { HostFiles } from '../host/files.js';
import { hostSecrets } from '../host/secrets.js';
import { isSecretReference, registerSecret } from '../redact.js';
import { buildProviders, type ProviderConfig } from '../providers/registry.js';
import { DEFAULT_COMMANDS, type HostCommands } from '../providers/types.js';
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
  /** Seconds a reload/restart hook may run. */
  hookTimeout?: string;
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

/**
 * Options (and environment variables) that take a secret reference: a value that is not one may be the
 * secret itself, so it is refused with a sentence that never repeats it, and masked from then on.
 */
export function checkSecretReferences(given: Record<string, string | undefined>): void {
  for (const [option, value] of Object.entries(given)) {
    if (value === undefined || isSecretReference(value)) continue;
    registerSecret(value);
    throw new UsageError(
      `${option} takes a secret reference, env:NAME (an environment variable on this host) or file:/absolute/path (a file on it), ` +
        'never the secret itself; the value given is not one and is not repeated here. If it was the secret, rotate it: ' +
        'it may be in the shell history or the process list.',
    );
  }
}

/** The providers' configuration from the flags and the environment. */
function providerConfig(opts: HostOptions, roles: Role[]): ProviderConfig {
  const env = process.env;
  checkSecretReferences({
    '--huaweicloud-ak': opts.huaweicloudAk,
    '--huaweicloud-sk': opts.huaweicloudSk,
    '--pg-admin-password': opts.pgAdminPassword,
    MIRRORNET_PG_ADMIN_PASSWORD: env['MIRRORNET_PG_ADMIN_PASSWORD'],
    '--harbor-password': opts.harborPassword,
    MIRRORNET_HARBOR_PASSWORD_REF: env['MIRRORNET_HARBOR_PASSWORD_REF'],
  });
  const endpoint = opts.huaweicloudEndpoint ?? env['MIRRORNET_HUAWEICLOUD_VPC_ENDPOINT'];
  const pgUrl = opts.pgAdminUrl ?? env['MIRRORNET_PG_ADMIN_URL'];
  const pgPasswordRef = opts.pgAdminPassword ?? env['MIRRORNET_PG_ADMIN_PASSWORD'];
  if (pgUrl && roles.includes('hub')) {
    try {
      new URL(pgUrl);
    } catch {
      throw new UsageError(`--pg-admin-url ${pgUrl} is not a URL (postgres://user@host:5432/postgres).`);
    }
  }
  const harborUrl = opts.harborUrl ?? env['MIRRORNET_HARBOR_URL'];
  if (roles.includes('hub')) {
    if (harborUrl) checkHttpUrl('--harbor-url', harborUrl);
    for (const pair of [...(opts.harborPeerUrl ?? []), env['MIRRORNET_HARBOR_PEER_URLS'] ?? ''].join(',').split(',').filter(Boolean)) {
      checkHttpUrl('--harbor-peer-url', pair.slice(pair.indexOf('=') + 1), pair.includes('=') ? undefined : 'give NAME=URL');
    }
  }
  const username = opts.harborUsername ?? env['MIRRORNET_HARBOR_USERNAME'];
  const harborPasswordRef = opts.harborPassword ?? env['MIRRORNET_HARBOR_PASSWORD_REF'];
  return {
    secrets: hostSecrets({ root: opts.root }),
    ...(opts.skipCloud ? { skipCloud: true } : {}),
    huaweicloud: {
      ...(endpoint ? { endpoint } : {}),
      ...(opts.huaweicloudAk ? { akRef: opts.huaweicloudAk } : {}),
      ...(opts.huaweicloudSk ? { skRef: opts.huaweicloudSk } : {}),
    },
    ...(pgUrl ? { pgAdmin: { url: pgUrl, ...(pgPasswordRef ? { passwordRef: pgPasswordRef } : {}) } } : {}),
    harbor: {
      ...(harborUrl ? { url: harborUrl } : {}),
      ...(username ? { username } : {}),
      ...(harborPasswordRef ? { passwordRef: harborPasswordRef } : {}),
      peerUrls: [...(opts.harborPeerUrl ?? []), env['MIRRORNET_HARBOR_PEER_URLS'] ?? ''].filter(Boolean).join(','),
    },
  };
}

/** A URL option the Harbor client takes: http or https, with a host. */
function checkHttpUrl(flag: string, value: string, problem?: string): void {
  let ok = false;
  try {
    const u = new URL(value);
    ok = (u.protocol === 'http:' || u.protocol === 'https:') && u.hostname !== '';
  } catch {
    /* not a URL */
  }
  if (!ok || problem) throw new UsageError(`${flag} ${value}: ${problem ?? 'not an http(s) URL'}; write e.g. https://harbor.sg.example.internal.`);
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

function commandsOf(opts: Pick<HostOptions, 'dockerReload' | 'dragonflyRestart' | 'harborApply' | 'hookTimeout'>): HostCommands {
  const timeout = opts.hookTimeout ?? process.env['MIRRORNET_HOOK_TIMEOUT'];
  const seconds = timeout === undefined ? undefined : Number(timeout);
  if (seconds !== undefined && !(Number.isInteger(seconds) && seconds > 0 && seconds <= 86_400)) {
    throw new UsageError(`--hook-timeout ${timeout} is not a number of seconds between 1 and 86400.`);
  }
  return {
    ...(seconds ? { hookTimeoutMs: seconds * 1000 } : {}),
    dockerReload: opts.dockerReload ?? process.env['MIRRORNET_DOCKER_RELOAD'] ?? DEFAULT_COMMANDS.dockerReload,
    dragonflyRestart: opts.dragonflyRestart ?? process.env['MIRRORNET_DFDAEMON_RESTART'] ?? DEFAULT_COMMANDS.dragonflyRestart,
    harborApply: opts.harborApply ?? process.env['MIRRORNET_HARBOR_APPLY'] ?? DEFAULT_COMMANDS.harborApply,
  };
}

/** A host's dependencies; `stop` aborted (the agent stopping) kills the host commands still running. */
export function hostDeps(opts: HostOptions, log: Logger, stop?: AbortSignal): HostDeps {
  const roles = parseRoles(opts.roles);
  const { providers, notes } = buildProviders(providerConfig(opts, roles), roles);
  return {
    providers,
    notes,
    exec: localExec({ ...(opts.netns ? { netns: opts.netns } : {}), ...(stop ? { stop } : {}) }),
    files: new HostFiles(opts.root),
    secrets: hostSecrets({ root: opts.root }),
    log,
    commands: commandsOf(opts),
  };
}
