// What the chat dispatcher decides, as pure functions of (state, event, now): which channels hear an
// event, whether noise control lets it through, which drift reminders are due and when a channel may send
// (how long to back off after a failure is the one retry policy's, host/retry.ts). No I/O and no timers:
// dispatcher.ts and delivery.ts act on these decisions.
//
// Routing, mute windows and the routes' mentions are routing.ts's; an event goes once to each channel
// that a matching route names and no open mute window silences (those are counted and logged instead).
// `apply-started` never goes to chat, nor an `applied` that changed nothing.
//
// Noise control:
// - drift (per site and component): `drift-detected` alerts once; while it lasts a reminder goes out
//   every `reminder` (default 24h); `drift-resolved` sends one "resolved" (to the routes of
//   drift-resolved and to every channel that heard the alert), a second one is dropped. A drift that
//   changes (new fingerprint) alerts again.
// - a silent site (per site): `site-silent` alerts once and is reminded of like a drift; `site-back` sends
//   one "resolved" (to its routes and the channels that heard the alert), and nothing when no silence was
//   sent.
// - failures (apply-failed, revision-refused, guardrail-blocked), stalls (agent-stalled, agent-recovered)
//   and healed drifts (drift-healed: found and healed within one window, never open) with the same
//   fingerprint are sent once per `dedupWindow` (default 5m); the next one sent says how many were left out.
// - rate limit per channel: `rateLimit.perMinute`, else the vendor's documented limit
//   (model/chat-vendors.ts); the vendor's shorter windows always apply.
import { z } from 'zod';
import { CHAT_VENDOR_LIMITS, type VendorLimit } from '../../model/chat-vendors.js';
import { EVENT_KINDS, type NotificationChannel, type Notifications } from '../../model/schema.js';
import type { AgentEvent, EventKind } from '../../reconcile/events.js';
import { address, parseDuration, type Addressed, type Muted } from './routing.js';
import type { Notice } from './types.js';

/** No channels, no routes: the policy to start with until the agent knows its applied revision's. */
export const NO_NOTIFICATIONS: Notifications = { kind: 'Notifications', name: 'none', channels: [], routes: [], reminder: '24h', dedupWindow: '5m' };

// ---- Routing --------------------------------------------------------------------------------------

/** Whether an event is worth a chat message at all. */
export function chatWorthy(event: AgentEvent): boolean {
  if (event.kind === 'apply-started') return false;
  if (event.kind === 'applied' && !event.changes?.length) return false;
  return true;
}

/** What routing needs to know: the applied policy and the area of a site (undefined when unknown). */
export interface Routing {
  policy: Notifications;
  siteArea: (site: string) => string | undefined;
}

// ---- State ----------------------------------------------------------------------------------------

const StoredEvent = z.object({
  kind: z.enum(EVENT_KINDS),
  site: z.string(),
  revision: z.string(),
  message: z.string(),
  component: z.string().optional(),
  hosts: z.array(z.string()).optional(),
  changes: z.array(z.object({ provider: z.string(), id: z.string(), action: z.string(), reason: z.string() })).optional(),
  diff: z.string().optional(),
  fingerprint: z.string(),
  at: z.string(),
});

export const ChatState = z.object({
  version: z.literal(1),
  /** Open drifts by `<site>/<component>`, and silent sites by `<site>/site-silent`. Times are the dispatcher clock's milliseconds. */
  drifts: z.record(
    z.string(),
    z.object({ fingerprint: z.string(), since: z.number(), lastSent: z.number(), channels: z.array(z.string()), event: StoredEvent }),
  ),
  /** Drifts whose "resolved" was sent, and when (a second drift-resolved is dropped). */
  resolved: z.record(z.string(), z.number()),
  /** Failures by fingerprint: when one was last sent, and how many were left out since. */
  recent: z.record(z.string(), z.object({ at: z.number(), suppressed: z.number() })),
  /** Sites whose "agent stalled" was sent and whose "recovered" was not yet: each recovery answers one stall. */
  stalled: z.record(z.string(), z.number()).default({}),
});
export type ChatState = z.infer<typeof ChatState>;

export function emptyChatState(): ChatState {
  return { version: 1, drifts: {}, resolved: {}, recent: {}, stalled: {} };
}

const MAX_STORED_CHANGES = 50;
const DAY_MS = 86_400_000;
const DEDUPED: ReadonlySet<EventKind> = new Set(['apply-failed', 'revision-refused', 'guardrail-blocked', 'agent-stalled', 'drift-healed']);

/** What an event opens or closes: a drift by `<site>/<component>`, a silent site by `<site>/site-silent`. */
function openId(event: AgentEvent): string {
  if (event.kind === 'site-silent' || event.kind === 'site-back') return `${event.site}/site-silent`;
  return `${event.site}/${event.component ?? event.fingerprint}`;
}

/** The event as the state keeps it: at most MAX_STORED_CHANGES changes. */
function slim(event: AgentEvent): AgentEvent {
  return event.changes && event.changes.length > MAX_STORED_CHANGES ? { ...event, changes: event.changes.slice(0, MAX_STORED_CHANGES) } : { ...event };
}

function without<T>(record: Record<string, T>, key: string): Record<string, T> {
  const out = { ...record };
  delete out[key];
  return out;
}

const reminderMs = (policy: Notifications): number => parseDuration(policy.reminder ?? '24h');
const dedupMs = (policy: Notifications): number => parseDuration(policy.dedupWindow ?? '5m');

/**
 * Forget what no longer matters at `now`: failures past the dedup window (kept a day longer when some
 * were left out) and resolutions older than the reminder interval.
 */
export function prune(state: ChatState, policy: Notifications, now: number): { state: ChatState; changed: boolean } {
  const dedup = dedupMs(policy);
  const keep = reminderMs(policy);
  const recent = Object.entries(state.recent).filter(([, r]) => now - r.at < dedup + (r.suppressed ? DAY_MS : 0));
  const resolved = Object.entries(state.resolved).filter(([, at]) => now - at < keep);
  const changed = recent.length !== Object.keys(state.recent).length || resolved.length !== Object.keys(state.resolved).length;
  if (!changed) return { state, changed };
  return { state: { ...state, recent: Object.fromEntries(recent), resolved: Object.fromEntries(resolved) }, changed };
}

// ---- Decisions ------------------------------------------------------------------------------------

/**
 * Messages to queue: one notice to each of `channels` (names, possibly undeclared ones); `mentions`, per
 * channel, the mentions its routes add; `muted`, the channels a mute window kept it from.
 */
interface Delivery {
  channels: string[];
  notice: Notice;
  mentions?: Addressed['mentions'];
  muted?: Muted[];
}

/** A delivery to the addressed channels, with mentions and mutes only when there are some. */
function delivery(to: Addressed, notice: Notice): Delivery {
  return {
    channels: to.channels,
    notice,
    ...(Object.keys(to.mentions).length ? { mentions: to.mentions } : {}),
    ...(to.muted.length ? { muted: to.muted } : {}),
  };
}

/** Why an event sends nothing although it is chat-worthy; `key` is the drift id or the fingerprint. */
export interface Suppression {
  why: 'drift-open' | 'drift-resolved' | 'dedup' | 'silent-open' | 'not-silent';
  key: string;
}

export type EventDecision = { action: 'ignore' } | { action: 'suppress'; suppression: Suppression } | ({ action: 'send' } & Delivery);

/** The state after an event or a tick, and whether it is worth saving. */
export interface Decided<D> {
  state: ChatState;
  decision: D;
  save: boolean;
}

/** What one event does to the state and which channels hear about it, at `now`. */
export function decideEvent(before: ChatState, routing: Routing, event: AgentEvent, now: number): Decided<EventDecision> {
  if (!chatWorthy(event)) return { state: before, decision: { action: 'ignore' }, save: false };
  const { policy } = routing;
  const area = routing.siteArea(event.site);
  const state = prune(before, policy, now).state;
  switch (event.kind) {
    case 'drift-detected':
    case 'site-silent': {
      const id = openId(event);
      const open = state.drifts[id];
      if (open && event.kind === 'site-silent') {
        return { state, decision: { action: 'suppress', suppression: { why: 'silent-open', key: event.site } }, save: false };
      }
      if (open && open.fingerprint === event.fingerprint) {
        return { state, decision: { action: 'suppress', suppression: { why: 'drift-open', key: id } }, save: false };
      }
      const to = address(policy, event, area, 'alert', now);
      const since = open?.since ?? now;
      const next: ChatState = {
        ...state,
        drifts: { ...state.drifts, [id]: { fingerprint: event.fingerprint, since, lastSent: now, channels: to.channels, event: slim(event) } },
        resolved: without(state.resolved, id),
      };
      const notice: Notice = { event, area, occurrence: 'alert', ...(open ? { since: new Date(since).toISOString() } : {}) };
      return { state: next, decision: { action: 'send', ...delivery(to, notice) }, save: true };
    }
    case 'drift-resolved':
    case 'site-back': {
      const id = openId(event);
      const open = state.drifts[id];
      // Said exactly when its silence was said (like agent-recovered).
      if (!open && event.kind === 'site-back') {
        return { state, decision: { action: 'suppress', suppression: { why: 'not-silent', key: event.site } }, save: false };
      }
      if (!open && state.resolved[id] !== undefined) {
        return { state, decision: { action: 'suppress', suppression: { why: 'drift-resolved', key: id } }, save: false };
      }
      const known = new Set(policy.channels.map((c) => c.name));
      const heard = (open?.channels ?? []).filter((c) => known.has(c));
      const to = address(policy, event, area, 'resolved', now, heard);
      const next: ChatState = { ...state, drifts: without(state.drifts, id), resolved: { ...state.resolved, [id]: now } };
      const notice: Notice = { event, area, occurrence: 'resolved', ...(open ? { since: new Date(open.since).toISOString() } : {}) };
      return { state: next, decision: { action: 'send', ...delivery(to, notice) }, save: true };
    }
    case 'agent-recovered': {
      // Said exactly when its stall was said (a stall left out by the dedup window has no recovery to announce).
      if (state.stalled[event.site] === undefined)
        return { state, decision: { action: 'suppress', suppression: { why: 'dedup', key: event.site } }, save: false };
      const next: ChatState = { ...state, stalled: without(state.stalled, event.site) };
      const notice: Notice = { event, area, occurrence: 'alert' };
      return { state: next, decision: { action: 'send', ...delivery(address(policy, event, area, 'alert', now), notice) }, save: true };
    }
    default: {
      let suppressed: number | undefined;
      let next = state;
      if (DEDUPED.has(event.kind)) {
        const seen = state.recent[event.fingerprint];
        if (seen && now - seen.at < dedupMs(policy)) {
          const counted: ChatState = { ...state, recent: { ...state.recent, [event.fingerprint]: { ...seen, suppressed: seen.suppressed + 1 } } };
          return { state: counted, decision: { action: 'suppress', suppression: { why: 'dedup', key: event.fingerprint } }, save: true };
        }
        suppressed = seen?.suppressed || undefined;
        next = { ...state, recent: { ...state.recent, [event.fingerprint]: { at: now, suppressed: 0 } } };
      }
      if (event.kind === 'agent-stalled') next = { ...next, stalled: { ...next.stalled, [event.site]: now } };
      const notice: Notice = { event, area, occurrence: 'alert', ...(suppressed ? { suppressed } : {}) };
      return { state: next, decision: { action: 'send', ...delivery(address(policy, event, area, 'alert', now), notice) }, save: true };
    }
  }
}

/** A reminder that the drift (or silent site) `drift` (its id) still lasts. */
export interface Reminder extends Delivery {
  drift: string;
}

/** The reminders due at `now` (one per open drift or silent site not reminded within the interval), and the state after them. */
export function decideReminders(before: ChatState, routing: Routing, now: number): Decided<Reminder[]> {
  const every = reminderMs(routing.policy);
  const pruned = prune(before, routing.policy, now);
  const drifts = { ...pruned.state.drifts };
  const reminders: Reminder[] = [];
  for (const [id, drift] of Object.entries(drifts)) {
    if (now - drift.lastSent < every) continue;
    drifts[id] = { ...drift, lastSent: now };
    const event = drift.event as AgentEvent;
    const area = routing.siteArea(event.site);
    const notice: Notice = { event, area, occurrence: 'reminder', since: new Date(drift.since).toISOString() };
    reminders.push({ drift: id, ...delivery(address(routing.policy, event, area, notice.occurrence, now), notice) });
  }
  if (!reminders.length) return { state: pruned.state, decision: reminders, save: pruned.changed };
  return { state: { ...pruned.state, drifts }, decision: reminders, save: true };
}

// ---- Rate limits and retries -----------------------------------------------------------------------

/** A sliding-window limiter over several windows (e.g. 100 per minute and 5 per second). */
export class Limiter {
  private stamps: number[] = [];
  constructor(readonly windows: readonly VendorLimit[]) {}

  /** Milliseconds until the next request may go (0: now). */
  wait(now: number): number {
    const longest = Math.max(0, ...this.windows.map((w) => w.perMs));
    this.stamps = this.stamps.filter((t) => now - t < longest);
    let wait = 0;
    for (const w of this.windows) {
      const inside = this.stamps.filter((t) => now - t < w.perMs);
      if (inside.length >= w.max) wait = Math.max(wait, inside[inside.length - w.max]! + w.perMs - now);
    }
    return wait;
  }

  take(now: number): void {
    this.stamps.push(now);
  }
}

/** The windows of a channel: its `rateLimit.perMinute`, else the vendor's; the vendor's shorter windows always. */
export function channelLimits(channel: Pick<NotificationChannel, 'type' | 'rateLimit'>): VendorLimit[] {
  const vendor = CHAT_VENDOR_LIMITS[channel.type];
  if (!channel.rateLimit) return [...vendor];
  return [{ max: channel.rateLimit.perMinute, perMs: 60_000 }, ...vendor.filter((l) => l.perMs < 60_000)];
}

/** How delivery retries a message (the policy itself is host/retry.ts's). */
export interface RetryOptions {
  /** Attempts per message, the first included (default 5). */
  attempts?: number;
  /** First backoff (default 2s); doubles per attempt up to maxMs (default 60s), with jitter. */
  baseMs?: number;
  maxMs?: number;
}
