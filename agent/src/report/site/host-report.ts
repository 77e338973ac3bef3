// One host's report to its site's gateway, built from what the agent knows after a tick: its state file
// (applied revision, open drift), the tick's result (what it was offered, what failed or was refused) and the
// events since the last report. Pure: the caller sends it (uplink) or keeps it (the gateway's own host).
import type { ReportedEvent, HostReport } from './schema.js';
import { MAX_EVENTS_PER_REPORT } from './schema.js';

/** What a tick ended with, as far as a report needs it (reconcile/loop.ts TickResult). */
type TickOutcome =
  | { kind: 'applied' | 'in-sync'; revision: string }
  | { kind: 'drift'; revision: string; alerted: string[] }
  | { kind: 'refused' | 'outdated'; revision: string; reason: string }
  | { kind: 'blocked'; revision: string; reasons: string[] }
  | { kind: 'failed'; revision: string; step: string; reason: string }
  | { kind: 'suspended'; revision: string; offered: string; drifted: string[] }
  | { kind: 'retired'; revision: string };

export interface HostFacts {
  site: string;
  host: string;
  roles: string[];
  agentVersion: string;
  /**
   * The state file: the revision applied last, when, the components whose drift is open (not healed), and the
   * newest revision refused (the refusal holds until another revision is applied).
   */
  state: {
    appliedRevision?: string | undefined;
    appliedAt?: string | undefined;
    drift: Record<string, string>;
    /** `code` agent-too-old: the revision needs a newer mirrornet (the report's lastError step says so). */
    refused?: { revision: string; reason: string; at: string; code?: string | undefined } | undefined;
    retired?: { revision: string; at: string } | undefined;
  };
  last: TickOutcome | undefined;
  /** The Steering generation the host holds, and whether it holds a suspension. */
  steering: number;
  suspended: boolean;
  url?: string | undefined;
}

/** The report of `facts` at `now`, carrying `events` (the newest MAX_EVENTS_PER_REPORT; the rest counted as dropped). */
export function hostReportOf(facts: HostFacts, events: readonly ReportedEvent[], now: Date): HostReport {
  const { state, last } = facts;
  // The ticks after a refusal keep the applied revision and say nothing more: the refusal still holds (the
  // host wants the refused revision, and says why) until another revision is applied.
  const held = (last?.kind === 'in-sync' || last?.kind === 'drift') && state.refused?.revision !== state.appliedRevision ? state.refused : undefined;
  const wanted = last?.kind === 'suspended' ? last.offered : held ? held.revision : last?.revision !== 'unknown' ? last?.revision : undefined;
  const drift: Record<string, number> = {};
  for (const component of Object.keys(state.drift).sort()) drift[component] = 1;
  if (last?.kind === 'suspended') for (const component of last.drifted) drift[component] = Math.max(drift[component] ?? 0, 1);
  const error = held ? { step: held.code ?? 'refused', message: held.reason.slice(0, 2048), at: held.at } : lastErrorOf(last, now);
  const kept = withinBudget(events.slice(-MAX_EVENTS_PER_REPORT).map(boundedEvent));
  return {
    site: facts.site,
    host: facts.host,
    roles: [...facts.roles],
    agentVersion: facts.agentVersion,
    ...(wanted ? { wanted } : {}),
    ...(state.appliedRevision ? { applied: state.appliedRevision } : {}),
    ...(state.appliedAt ? { appliedAt: state.appliedAt } : {}),
    drift,
    ...(error ? { lastError: error } : {}),
    steering: facts.steering,
    suspended: facts.suspended,
    ...(last?.kind === 'retired' || state.retired ? { retired: true } : {}),
    events: [...kept],
    droppedEvents: events.length - kept.length,
    at: now.toISOString(),
    ...(facts.url ? { url: facts.url } : {}),
  };
}

function lastErrorOf(last: TickOutcome | undefined, now: Date): HostReport['lastError'] {
  const at = now.toISOString();
  if (last?.kind === 'failed' && last.step !== 'lock' && last.step !== 'stop') return { step: last.step, message: last.reason.slice(0, 2048), at };
  if (last?.kind === 'refused') return { step: 'refused', message: last.reason.slice(0, 2048), at };
  if (last?.kind === 'outdated') return { step: 'agent-too-old', message: last.reason.slice(0, 2048), at };
  if (last?.kind === 'blocked') return { step: 'blocked', message: last.reasons.join(' ').slice(0, 2048), at };
  return undefined;
}

/** The events of one report take at most this many bytes of JSON; the oldest go first. */
const EVENTS_BUDGET_BYTES = 128 * 1024;

/** An event cut to what a report carries: its message, its changes and its hosts within the schema's bounds. */
export function boundedEvent(event: ReportedEvent): ReportedEvent {
  const { changes, hosts } = event;
  return {
    ...event,
    message: event.message.length > 4096 ? `${event.message.slice(0, 4095)}…` : event.message,
    ...(changes ? { changes: changes.slice(0, 50).map(boundedChange) } : {}),
    ...(hosts ? { hosts: hosts.slice(0, 1000) } : {}),
  };
}

type Change = NonNullable<ReportedEvent['changes']>[number];
const boundedChange = (c: Change): Change => ({
  provider: c.provider.slice(0, 64),
  id: c.id.slice(0, 512),
  action: c.action.slice(0, 32),
  reason: c.reason.slice(0, 1024),
});

function withinBudget(events: ReportedEvent[]): ReportedEvent[] {
  let bytes = events.reduce((n, e) => n + Buffer.byteLength(JSON.stringify(e)), 0);
  let first = 0;
  while (bytes > EVENTS_BUDGET_BYTES && first < events.length) bytes -= Buffer.byteLength(JSON.stringify(events[first++]));
  return events.slice(first);
}
