// Who hears an event, as pure functions of (policy, event, area, now): the routes that match it (by
// severity, event, component, area and site, minus their exclusions and below their minSeverity), the
// mute windows that silence some of those messages right now, and whom each channel's message mentions
// because of its routes. decisions.ts keeps the state; delivery.ts renders and sends.
//
// - match: every key present must match (an absent key matches anything); `sites` and `regions` are the
//   same list. An event without a component, or a site without a known area, matches no such list.
// - exclude: an event that matches every key present there is left out of that route.
// - severity: one table by event kind (model/schema.ts EVENT_SEVERITY).
// - mute windows: a message is muted on one of its (route, channel) pairs when a window that covers `now`
//   names that route (or no routes), that channel (or no channels) and its severity (or none); a channel
//   hears the event when at least one of its pairs is not muted.
import { lastFire, parseCron, type CronSchedule } from '../../model/cron.js';
import { goDurationNs } from '../../model/go-duration.js';
import {
  EVENT_SEVERITY,
  NOTIFICATION_SEVERITIES,
  type MuteWindow,
  type NotificationMatch,
  type NotificationMentions,
  type NotificationSeverity,
  type Notifications,
} from '../../model/schema.js';
import type { AgentEvent, EventKind } from '../../reconcile/events.js';
import type { Occurrence } from './types.js';

/** "30s", "5m", "24h", "7d", "250ms" -> milliseconds (the model's duration, read once in model/go-duration.ts). */
export function parseDuration(text: string): number {
  const ns = goDurationNs(text.trim());
  if (ns === undefined) throw new Error(`not a duration: ${JSON.stringify(text)} (e.g. 30s, 5m, 24h, 7d)`);
  return Number(ns / 1_000_000n);
}

/** What routing reads of an event. */
export type Subject = Pick<AgentEvent, 'kind' | 'site' | 'component'>;

export function severityOf(kind: EventKind): NotificationSeverity {
  return EVENT_SEVERITY[kind];
}

const rank = (s: NotificationSeverity): number => NOTIFICATION_SEVERITIES.indexOf(s);

/** Whether `subject` in `area` matches every key present in `m`. */
function matches(m: NotificationMatch, subject: Subject, area: string | undefined): boolean {
  const has = (list: readonly string[] | undefined, value: string | undefined) => list === undefined || (value !== undefined && list.includes(value));
  const component = subject.component?.split(' ')[0];
  return (
    has(m.severities, severityOf(subject.kind)) &&
    has(m.events, subject.kind) &&
    has(m.components, component) &&
    has(m.areas, area) &&
    has(m.sites, subject.site) &&
    has(m.regions, subject.site)
  );
}

/** One route's message to one channel: the route's index and name (mute windows name routes). */
interface Hit {
  channel: string;
  route: number;
  name?: string;
}

function hits(policy: Pick<Notifications, 'routes'>, subject: Subject, area: string | undefined): Hit[] {
  const out: Hit[] = [];
  const severity = severityOf(subject.kind);
  policy.routes.forEach((r, i) => {
    if (!matches(r.match ?? {}, subject, area)) return;
    if (r.exclude && matches(r.exclude, subject, area)) return;
    if (r.minSeverity && rank(severity) < rank(r.minSeverity)) return;
    for (const channel of r.channels) out.push({ channel, route: i, ...(r.name ? { name: r.name } : {}) });
  });
  return out;
}

/** The channels (by name, each once, in route order) that hear about `subject` in `area`, mute windows aside. */
export function route(policy: Pick<Notifications, 'routes'>, subject: Subject, area: string | undefined): string[] {
  return [...new Set(hits(policy, subject, area).map((h) => h.channel))];
}

// ---- Mute windows ----------------------------------------------------------------------------------

const schedules = new WeakMap<MuteWindow, CronSchedule | null>();

function scheduleOf(w: MuteWindow): CronSchedule | undefined {
  let s = schedules.get(w);
  if (s === undefined) {
    s = parseCron(w.schedule) ?? null;
    schedules.set(w, s);
  }
  return s ?? undefined;
}

/** Whether window `w` is open at `now`: it opened at a fire time within its duration before. An invalid window never is. */
function windowOpen(w: MuteWindow, now: number): boolean {
  const cron = scheduleOf(w);
  if (!cron) return false;
  try {
    return lastFire(cron, w.timeZone, now, now - parseDuration(w.duration)) !== undefined;
  } catch {
    return false; // a time zone this host does not know (the validator reports it)
  }
}

function mutedBy(windows: readonly MuteWindow[], hit: Hit, severity: NotificationSeverity, now: number): MuteWindow | undefined {
  return windows.find(
    (w) =>
      (w.routes === undefined || (hit.name !== undefined && w.routes.includes(hit.name))) &&
      (w.channels === undefined || w.channels.includes(hit.channel)) &&
      (w.severities === undefined || w.severities.includes(severity)) &&
      windowOpen(w, now),
  );
}

// ---- Addressing --------------------------------------------------------------------------------------

/** A message a mute window kept from a channel. */
export interface Muted {
  channel: string;
  window: string;
}

export interface Addressed {
  /** The channels that hear it (each once, in route order). */
  channels: string[];
  /** Channels that would have heard it but for a mute window (and that no other route reaches). */
  muted: Muted[];
  /** Per channel, the mentions of the routes that reached it (only those whose mentionOn covers the event). */
  mentions: Record<string, NotificationMentions[]>;
}

/** Whether a message of this occurrence may mention anyone: alerts and reminders, never a resolution or recovery. */
export function mentionable(kind: EventKind, occurrence: Occurrence): boolean {
  return occurrence !== 'resolved' && kind !== 'drift-resolved' && kind !== 'agent-recovered' && kind !== 'site-back';
}

/** Whether a mentionOn list (default [critical]) covers `severity`. */
export function mentionsOn(mentionOn: readonly NotificationSeverity[] | undefined, severity: NotificationSeverity): boolean {
  return (mentionOn ?? ['critical']).includes(severity);
}

/**
 * Who hears about `subject` at `now` (an `occurrence` of it), after mute windows, and the routes' mentions per
 * channel. `also`: channels that hear it whatever the routes say (those that heard a drift hear it resolved);
 * only mute windows that name no route apply to them.
 */
export function address(
  policy: Notifications,
  subject: Subject,
  area: string | undefined,
  occurrence: Occurrence,
  now: number,
  also: readonly string[] = [],
): Addressed {
  const severity = severityOf(subject.kind);
  const windows = policy.muteWindows ?? [];
  const open = new Set<string>();
  const silenced = new Map<string, string>();
  const mentions: Record<string, NotificationMentions[]> = {};
  for (const hit of [...hits(policy, subject, area), ...also.map((channel) => ({ channel, route: -1 }))]) {
    const window = windows.length ? mutedBy(windows, hit, severity, now) : undefined;
    if (window) {
      if (!silenced.has(hit.channel)) silenced.set(hit.channel, window.name);
      continue;
    }
    open.add(hit.channel);
    const r = policy.routes[hit.route];
    if (r?.mentions && mentionable(subject.kind, occurrence) && mentionsOn(r.mentionOn, severity)) (mentions[hit.channel] ??= []).push(r.mentions);
  }
  const muted = [...silenced].filter(([channel]) => !open.has(channel)).map(([channel, window]) => ({ channel, window }));
  return { channels: [...open], muted, mentions };
}

/**
 * The part of `policy` one side of a site tree sends (`sentFrom`): a gateway sends to the channels it reaches
 * (the default), its core to those only the core's side of the border reaches, relaying the site's events.
 */
export function sentFrom(policy: Notifications, side: 'gateway' | 'core'): Notifications {
  const mine = new Set(policy.channels.filter((c) => (c.sentFrom ?? 'gateway') === side).map((c) => c.name));
  return {
    ...policy,
    channels: policy.channels.filter((c) => mine.has(c.name)),
    routes: policy.routes.map((r) => ({ ...r, channels: r.channels.filter((c) => mine.has(c)) })),
  };
}
