// Where an agent's revisions come from, from its flags: the git repository (--repo-url), or a bundle channel
// in a registry (--source oci://...), optionally learnt from the site's gateway (--gateway) and handed on to
// the site's nodes (--fanout-token on a gateway); and the publisher role (--publish-to).
import { join } from 'node:path';
import type { Logger } from 'pino';
import { GatewayFeed, HeadBroadcast, bearerMatches, headMessage } from '../bundle/feed.js';
import { OciClient, parseOciReference } from '../bundle/oci.js';
import { BundleSource } from '../bundle/source.js';
import type { Role } from '../desired/types.js';
import type { Exec } from '../host/exec.js';
import type { SecretResolver } from '../host/secrets.js';
import type { EventSink } from '../reconcile/events.js';
import { gitRevisions, type RevisionSource } from '../reconcile/source.js';
import { GitSource } from '../source/clone.js';
import type { AgentCliOptions } from './agent.js';
import { UsageError } from './errors.js';
import type { Publisher } from './publisher.js';

export interface AgentSources {
  revisions: RevisionSource;
  bundle?: BundleSource;
  /** A node's gateway, long-polled for new revisions. */
  feed?: GatewayFeed;
  /** A gateway's hand-out of the site's head to its nodes (with the token they must send). */
  broadcast?: HeadBroadcast;
  fanoutToken?: string;
}

function httpUrl(flag: string, value: string): string {
  try {
    const u = new URL(value);
    if (u.protocol === 'http:' || u.protocol === 'https:') return u.toString();
  } catch {
    /* below */
  }
  throw new UsageError(`${flag} ${value} is not an http:// or https:// URL.`);
}

export async function sourcesOf(opts: AgentCliOptions, roles: Role[], stateDir: string, secrets: SecretResolver, exec: Exec): Promise<AgentSources> {
  // A publisher follows git to publish (--repo-url) and may apply from what it published (--source).
  if (opts.source === undefined ? opts.repoUrl === undefined : opts.repoUrl !== undefined && opts.publishTo === undefined) {
    throw new UsageError(
      'Give the agent one source: --repo-url (the git repository) or --source oci://HOST/PROJECT/REPO[:CHANNEL] (published bundles); ' +
        'both only with --publish-to (a publisher that applies from its own bundles).',
    );
  }
  if (opts.source === undefined) {
    for (const flag of ['registryMirror', 'gateway', 'fanoutToken'] as const) {
      if (opts[flag] !== undefined)
        throw new UsageError(`--${flag.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)} goes with --source (bundles), not --repo-url.`);
    }
    const git = new GitSource({
      url: opts.repoUrl!,
      branch: opts.branch,
      dir: join(stateDir, 'repo'),
      ...(opts.allowedSigners ? { allowedSigners: opts.allowedSigners } : {}),
    });
    return { revisions: gitRevisions(git) };
  }
  const target = parseOciReference(opts.source!);
  if ('error' in target) throw new UsageError(`--source: ${target.error}.`);
  if (!opts.allowedSigners) {
    throw new UsageError('--source needs --allowed-signers FILE: a bundle is applied only when a key in that file signed it.');
  }
  if ((opts.registryUsername === undefined) !== (opts.registryPassword === undefined))
    throw new UsageError('--registry-username and --registry-password go together.');
  const fanoutToken = opts.fanoutToken ? await secrets.resolve(opts.fanoutToken) : undefined;
  if (opts.gateway !== undefined && !fanoutToken) throw new UsageError('--gateway needs --fanout-token REF, the token the site’s gateway asks of its nodes.');
  const feed = opts.gateway !== undefined ? new GatewayFeed(httpUrl('--gateway', opts.gateway), fanoutToken!) : undefined;
  // A gateway (not a node that follows one) hands the site's head on to its nodes, as soon as it verified it.
  const broadcast = feed === undefined && fanoutToken !== undefined && roles.includes('gateway') ? new HeadBroadcast() : undefined;
  const bundle = new BundleSource({
    target,
    site: opts.region,
    allowedSigners: opts.allowedSigners,
    exec,
    ...(opts.registryMirror ? { mirror: httpUrl('--registry-mirror', opts.registryMirror) } : {}),
    ...(opts.registryUsername !== undefined ? { username: opts.registryUsername, password: await secrets.resolve(opts.registryPassword!) } : {}),
    ...(feed ? { feed } : {}),
    ...(broadcast ? { onVerified: (head) => broadcast.offer(head) } : {}),
  });
  const revisions: RevisionSource = {
    remoteRevision: () => bundle.remoteRevision(),
    offer: () => bundle.latest()?.digest,
    remoteHost: () => target.host.replace(/:\d+$/, '').replace(/^\[|\]$/g, ''),
    load: (revision, ctx) => bundle.load(revision, { roles: ctx.roles, ...(ctx.applied?.origin ? { applied: ctx.applied.origin } : {}), step: ctx.step }),
  };
  return { revisions, bundle, ...(feed ? { feed } : {}), ...(broadcast ? { broadcast, fanoutToken } : {}) };
}

/** The endpoint a gateway serves its nodes from. */
export function fanoutEndpoint(broadcast: HeadBroadcast, token: string) {
  return {
    authorized: (authorization: string | undefined) => bearerMatches(authorization, token),
    wait: async (after: string | undefined, waitMs: number, signal: AbortSignal) => {
      const head = await broadcast.wait(after, waitMs, signal);
      return head ? headMessage(head) : undefined;
    },
  };
}

/**
 * POST /hooks/registry's check: Harbor's webhook policy sends its auth header as it was configured, so both
 * `Bearer <token>` and the bare token are taken; distribution's notifications send whatever header is set.
 */
export function registryHookEndpoint(token: string) {
  return { authorized: (authorization: string | undefined) => bearerMatches(authorization, token) || bearerMatches(`Bearer ${authorization ?? ''}`, token) };
}

export async function publisherOf(opts: AgentCliOptions, stateDir: string, secrets: SecretResolver, log: Logger, emit: EventSink): Promise<Publisher> {
  const target = parseOciReference(opts.publishTo!);
  if ('error' in target) throw new UsageError(`--publish-to: ${target.error}.`);
  if (opts.repoUrl === undefined) throw new UsageError('--publish-to needs --repo-url: the publisher follows the git repository.');
  if (!opts.signKey) throw new UsageError('--publish-to needs --sign-key REF: agents apply only signed bundles.');
  // Commits are checked against --commit-signers; --allowed-signers means commits only when the agent applies from git.
  const commitSigners = opts.commitSigners ?? (opts.source === undefined ? opts.allowedSigners : undefined);
  const git = new GitSource({
    url: opts.repoUrl,
    branch: opts.branch,
    dir: join(stateDir, 'publish'),
    ...(commitSigners ? { allowedSigners: commitSigners } : {}),
  });
  if ((opts.rolloutCore === undefined) !== (opts.rolloutKey === undefined)) {
    throw new UsageError("--rollout-core and --rollout-key go together: the publisher asks the cores for their sites' health with that operator key.");
  }
  // Loaded only by the publisher: it validates and compiles the fleet, which no other agent's process does.
  const { Publisher } = await import('./publisher.js');
  const { RolloutDriver } = await import('./rollout-driver.js');
  const credentials =
    opts.registryUsername !== undefined ? { username: opts.registryUsername, password: await secrets.resolve(opts.registryPassword!) } : undefined;
  const client = new OciClient(target, { ...credentials, credentialFlags: '--registry-username and --registry-password REF' });
  const plog = log.child({ component: 'publisher' });
  return new Publisher({
    site: opts.region,
    git,
    target,
    signingKey: await secrets.resolve(opts.signKey),
    ...credentials,
    log: plog,
    emit,
    rollout: new RolloutDriver({
      site: opts.region,
      stateDir,
      client,
      ...(opts.rolloutCore && opts.rolloutKey ? { cores: { core: opts.rolloutCore, key: opts.rolloutKey } } : {}),
      emit,
      log: plog.child({ component: 'rollout' }),
    }),
  });
}
