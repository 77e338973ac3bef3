// `mirrornet notify test`: does this channel work from this host? Sends one sample event to one channel of
// the repository's notifications policy through the agent's own sender (report/chat sendOnce: the same
// rendering, mentions, links, signature and redaction), with the channel's secret references resolved on
// this host, and prints what the vendor answered. Exit 0 when the vendor accepted it, 1 otherwise.
import { MirrornetError } from '../errors.js';
import { hostSecrets } from '../host/secrets.js';
import { buildFleet } from '../model/fleet.js';
import { loadRepo, RepoNotFoundError } from '../model/loader.js';
import { EVENT_KINDS, type Notifications } from '../model/schema.js';
import { didYouMean } from '../model/suggest.js';
import { agentEvent, type AgentEvent, type EventKind } from '../reconcile/events.js';
import { channelTarget, sendOnce } from '../report/chat/delivery.js';
import { address, route } from '../report/chat/routing.js';
import type { Notice } from '../report/chat/types.js';
import { revisionOf } from '../source/git.js';
import { UsageError, UserError } from './errors.js';
import type { Io } from './io.js';

export interface NotifyTestOptions {
  channel: string;
  /** An event kind, or a short name (drift, failed, ...). Default drift-detected. */
  event?: string;
  repo: string;
  /** The site the sample is about (default: the first site the channel hears about). */
  site?: string;
  /** A pull request number, for its link. */
  pr?: string;
}

/** What the command reads from its surroundings (tests pass their own). */
export interface NotifyDeps {
  env?: NodeJS.ProcessEnv;
  /** Prefix of file: secret references (default /). */
  root?: string;
  fetch?: typeof fetch;
  clock?: () => number;
}

const SHORT: Readonly<Record<string, EventKind>> = {
  drift: 'drift-detected',
  resolved: 'drift-resolved',
  failed: 'apply-failed',
  refused: 'revision-refused',
  blocked: 'guardrail-blocked',
  stalled: 'agent-stalled',
  recovered: 'agent-recovered',
  healed: 'drift-healed',
  silent: 'site-silent',
  back: 'site-back',
  suspended: 'site-suspended',
  resumed: 'site-resumed',
};

/** A component each kind of event is usually about. */
const COMPONENT: Partial<Record<EventKind, string>> = {
  'drift-detected': 'routes',
  'drift-resolved': 'routes',
  'apply-failed': 'routes',
  'agent-stalled': 'hook',
  'agent-recovered': 'hook',
  'drift-healed': 'routes',
};

function eventKind(name: string | undefined): EventKind {
  const wanted = name ?? 'drift';
  const kinds = EVENT_KINDS.filter((k) => k !== 'apply-started');
  const kind = SHORT[wanted] ?? kinds.find((k) => k === wanted);
  if (kind) return kind;
  const guess = didYouMean(wanted, [...Object.keys(SHORT), ...kinds]);
  throw new UsageError(
    `--event ${wanted} is not an event: use one of ${[...Object.keys(SHORT), ...kinds].join(', ')}${guess ? ` (did you mean ${guess}?)` : ''}.`,
  );
}

function loadPolicy(repo: string): { policy: Notifications; fleet: ReturnType<typeof buildFleet>['fleet'] } {
  let load;
  try {
    load = loadRepo(repo);
  } catch (err) {
    if (err instanceof RepoNotFoundError) throw new UserError(err.userMessage, 2, { cause: err });
    throw err;
  }
  const { fleet } = buildFleet(load);
  const policy = fleet.policies.notifications?.value;
  if (!policy) throw new UserError(`${repo} has no valid policies/notifications.yaml: run mirrornet validate --repo ${repo} to see why.`);
  return { policy, fleet };
}

/** The sample event: on `site`, at the repository's revision, about the site's gateways. */
function sample(kind: EventKind, site: string, revision: string, hosts: string[]): AgentEvent {
  const component = COMPONENT[kind];
  const changes = kind === 'drift-detected' || kind === 'applied' ? [{ provider: 'routes', id: '10.0.0.0/16', action: 'create', reason: 'sample' }] : undefined;
  return agentEvent(kind, site, revision, `mirrornet notify test: a sample ${kind} event for ${site}, sent by hand. Nothing happened.`, {
    ...(component ? { component } : {}),
    ...(changes ? { changes } : {}),
    ...(hosts.length ? { hosts } : {}),
  });
}

export async function notifyTestCommand(opts: NotifyTestOptions, io: Io, deps: NotifyDeps = {}): Promise<number> {
  const kind = eventKind(opts.event);
  const pr = opts.pr === undefined ? undefined : Number(opts.pr);
  if (pr !== undefined && !(Number.isInteger(pr) && pr > 0)) throw new UsageError(`--pr ${opts.pr} is not a pull request number.`);
  const { policy, fleet } = loadPolicy(opts.repo);
  const channel = policy.channels.find((c) => c.name === opts.channel);
  if (!channel) {
    const names = policy.channels.map((c) => c.name);
    const guess = didYouMean(opts.channel, names);
    throw new UsageError(
      `There is no channel "${opts.channel}" in policies/notifications.yaml${guess ? `: did you mean ${guess}?` : `; channels: ${names.join(', ')}.`}`,
    );
  }
  const areaOf = (site: string) => fleet.sites.get(site)?.value.area;
  const sites = [...fleet.sites.keys()].sort();
  if (opts.site !== undefined && !fleet.sites.has(opts.site)) throw new UsageError(`There is no site "${opts.site}": use one of ${sites.join(', ')}.`);
  const site =
    opts.site ??
    sites.find((s) => route(policy, { kind, site: s, ...(COMPONENT[kind] ? { component: COMPONENT[kind] } : {}) }, areaOf(s)).includes(channel.name)) ??
    sites[0];
  if (site === undefined) throw new UserError(`${opts.repo} has no sites to send a sample event about.`);
  const revision = (await revisionOf(opts.repo).catch(() => 'working-tree')).replace(/\+dirty$/, '');
  const hosts = fleet.sites.get(site)?.value.gateways.map((g) => g.name) ?? [];
  const event = sample(kind, site, revision, hosts);
  const clock = deps.clock ?? Date.now;
  const area = areaOf(site);
  const notice: Notice = {
    event,
    ...(area ? { area } : {}),
    occurrence: kind === 'drift-resolved' || kind === 'site-back' ? 'resolved' : 'alert',
    ...(pr ? { pullRequest: pr } : {}),
  };
  const to = address(policy, event, area, notice.occurrence, clock());
  const muted = to.muted.find((m) => m.channel === channel.name);

  let target;
  try {
    target = await channelTarget(channel, hostSecrets({ env: deps.env ?? process.env, root: deps.root ?? '/' }));
  } catch (err) {
    if (err instanceof MirrornetError) throw new UserError(`The channel ${channel.name} cannot be used from this host: ${err.userMessage}`, 1, { cause: err });
    throw err;
  }
  io.stdout(`sending a sample ${kind} event for ${site} to ${channel.name} (${channel.type})\n`);
  if (muted) io.stdout(`note: the mute window ${muted.window} is open now: the agent would not send this message; this test sends it anyway\n`);
  const attempt = await sendOnce(
    policy,
    channel,
    target,
    notice,
    { fetch: deps.fetch ?? globalThis.fetch, clock, timeoutMs: 10_000 },
    to.mentions[channel.name],
  );
  io.stdout(`answer: ${attempt.status === undefined ? 'none' : `HTTP ${attempt.status}`}\n`);
  if (attempt.body) io.stdout(`${attempt.body.trimEnd()}\n`);
  if (attempt.outcome.ok) {
    io.stdout(`${channel.type} accepted the message\n`);
    return 0;
  }
  io.stdout(`${channel.type} did not accept the message: ${attempt.outcome.reason}\n`);
  return 1;
}
