// Chat delivery for the agent's events (policies/notifications.yaml): routing, noise control and
// delivery in the background. Nothing here throws into the agent: the sink only queues.
//
// Routing: a route matches an event when each of its lists that is present contains the event's area
// (of its site), site and kind; an event goes once to the union of the channels of the matching routes.
// `apply-started` never goes to chat, nor an `applied` that changed nothing.
//
// Noise control:
// - drift (per site and component): `drift-detected` alerts once; while it lasts a reminder goes out
//   every `reminder` (default 24h, checked by tick()); `drift-resolved` sends one "resolved" (to the
//   routes of drift-resolved and to every channel that heard the alert), a second one is dropped. A
//   drift that changes (new fingerprint) alerts again.
// - failures (apply-failed, revision-refused, guardrail-blocked) with the same fingerprint are sent
//   once per `dedupWindow` (default 5m); the next one sent says how many were left out.
// - rate limit per channel: `rateLimit.perMinute`, else the vendor's documented limit (DingTalk and
//   WeCom 20/min, Feishu 100/min and 5/s, Slack 60/min; none for the generic webhook). Excess messages
//   are QUEUED in order (one log line when a channel starts waiting) and sent as the window frees;
//   each channel keeps at most `maxQueue` (default 100) waiting messages and drops the oldest beyond
//   that, with a log line. Every HTTP attempt, retries included, counts against the limit.
// - delivery: one message at a time per channel (an alert is never overtaken by its "resolved"),
//   channels in parallel; failures (network, 429, 5xx, vendor error codes that another attempt can
//   fix, e.g. rate limited) are retried with exponential backoff and jitter, at most `retry.attempts`
//   times; configuration errors (bad signature, unknown key) are not retried. Every failure is logged
//   with the channel's name only: URLs and secrets never reach a log line or an error.
//
// State (open drifts, recent failures) lives in memory; `store.load/save` persist it as a small JSON
// document so an agent restart neither repeats an alert nor forgets a reminder.
import { MirrornetError } from '../../errors.js';
import { randomUUID } from 'node:crypto';
import type { Logger } from 'pino';
import { z } from 'zod';
import type { SecretResolver } from '../../host/secrets.js';
import type { NotificationChannel, Notifications } from '../../model/schema.js';
import type { AgentEvent, EventKind, EventSink } from '../../reconcile/events.js';
import { NOTIFIERS } from './registry.js';
import type { Notice, Notifier, Outcome, Target, VendorLimit } from './types.js';

// ---- Durations ------------------------------------------------------------------------------------

const UNIT_MS = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 } as const;

/** "30s", "5m", "24h", "7d", "250ms" -> milliseconds. */
export function parseDuration(text: string): number {
  const m = /^(\d+)(ms|s|m|h|d)$/.exec(text.trim());
  if (!m) throw new Error(`not a duration: ${JSON.stringify(text)} (e.g. 30s, 5m, 24h, 7d)`);
  return Number(m[1]) * UNIT_MS[m[2] as keyof typeof UNIT_MS];
}

/** No channels, no routes: the policy to start with until the agent knows its applied revision's. */
export const NO_NOTIFICATIONS: Notifications = { kind: 'Notifications', name: 'none', channels: [], routes: [], reminder: '24h', dedupWindow: '5m' };

// ---- Routing --------------------------------------------------------------------------------------

/** Whether an event is worth a chat message at all. */
export function chatWorthy(event: AgentEvent): boolean {
  if (event.kind === 'apply-started') return false;
  if (event.kind === 'applied' && !event.changes?.length) return false;
  return true;
}

/** The channels (by name, each once, in route order) that hear about `kind` on `site` in `area`. */
export function route(policy: Pick<Notifications, 'routes'>, kind: EventKind, site: string, area: string | undefined): string[] {
  const out = new Set<string>();
  for (const r of policy.routes) {
    const m = r.match ?? {};
    if (m.areas && (area === undefined || !(m.areas as string[]).includes(area))) continue;
    if (m.regions && !m.regions.includes(site)) continue;
    if (m.events && !(m.events as string[]).includes(kind)) continue;
    for (const c of r.channels) out.add(c);
  }
  return [...out];
}

// ---- State ----------------------------------------------------------------------------------------

const StoredEvent = z.object({
  kind: z.enum(['apply-started', 'applied', 'apply-failed', 'revision-refused', 'guardrail-blocked', 'drift-detected', 'drift-resolved']),
  site: z.string(),
  revision: z.string(),
  message: z.string(),
  component: z.string().optional(),
  changes: z.array(z.object({ provider: z.string(), id: z.string(), action: z.string(), reason: z.string() })).optional(),
  fingerprint: z.string(),
  at: z.string(),
});

export const ChatState = z.object({
  version: z.literal(1),
  /** Open drifts by `<site>/<component>`. Times are the dispatcher clock's milliseconds. */
  drifts: z.record(
    z.string(),
    z.object({ fingerprint: z.string(), since: z.number(), lastSent: z.number(), channels: z.array(z.string()), event: StoredEvent }),
  ),
  /** Drifts whose "resolved" was sent, and when (a second drift-resolved is dropped). */
  resolved: z.record(z.string(), z.number()),
  /** Failures by fingerprint: when one was last sent, and how many were left out since. */
  recent: z.record(z.string(), z.object({ at: z.number(), suppressed: z.number() })),
});
export type ChatState = z.infer<typeof ChatState>;

export interface ChatStateStore {
  load(): Promise<unknown> | unknown;
  save(state: ChatState): Promise<void> | void;
}

function emptyState(): ChatState {
  return { version: 1, drifts: {}, resolved: {}, recent: {} };
}

const MAX_STORED_CHANGES = 50;

// ---- Rate limits ----------------------------------------------------------------------------------

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
  const vendor = NOTIFIERS[channel.type].limits;
  if (!channel.rateLimit) return [...vendor];
  return [{ max: channel.rateLimit.perMinute, perMs: 60_000 }, ...vendor.filter((l) => l.perMs < 60_000)];
}

// ---- The dispatcher -------------------------------------------------------------------------------

export interface RetryOptions {
  /** Attempts per message, the first included (default 5). */
  attempts?: number;
  /** First backoff (default 2s); doubles per attempt up to maxMs (default 60s), with jitter. */
  baseMs?: number;
  maxMs?: number;
}

export interface ChatDispatcherOptions {
  /** The Notifications policy of the applied revision (setPolicy() replaces it). */
  policy: Notifications;
  /** The area of a site (from the applied revision's fleet); undefined when unknown. */
  siteArea: (site: string) => string | undefined;
  resolve: SecretResolver;
  log: Logger;
  /** Milliseconds since the epoch (default Date.now): drift reminders, dedup, rate limits, signatures. */
  clock?: () => number;
  fetch?: typeof fetch;
  /** Backoff and rate-limit waits (default: a timer that close() cuts short). Tests pass one that advances their clock. */
  sleep?: (ms: number) => Promise<void>;
  /** 0..1 for the jitter (default Math.random). */
  random?: () => number;
  retry?: RetryOptions;
  /** Per HTTP attempt (default 10s). */
  timeoutMs?: number;
  /** Waiting messages per channel before the oldest is dropped (default 100). */
  maxQueue?: number;
  store?: ChatStateStore;
  /** How often reminders are checked in the background (default 60s); 0: only when tick() is called. */
  tickIntervalMs?: number;
}

export interface ChatStats {
  sent: number;
  failed: number;
  dropped: number;
  suppressed: number;
  retries: number;
}

export interface ChatDispatcher {
  /** Give this to the Agent. Never throws; only queues. */
  sink: EventSink;
  /** Send the reminders that are due at `now` (default: the clock); resolves once they are queued. */
  tick(now?: number): Promise<void>;
  /** Use the policy (and site areas) of a newly applied revision. */
  setPolicy(policy: Notifications, siteArea?: (site: string) => string | undefined): void;
  /** Resolves when every event so far is handled and every queued message delivered or given up. */
  flush(): Promise<void>;
  /** Stop the background timer, deliver what is queued for up to `timeoutMs` (default 10s), drop the rest. */
  close(opts?: { timeoutMs?: number }): Promise<void>;
  stats(): ChatStats;
  /** A copy of the noise-control state (what `store.save` receives). */
  state(): ChatState;
}

interface Job {
  id: string;
  notice: Notice;
}

interface ChannelRuntime {
  queue: Job[];
  worker?: Promise<void>;
  limiter: Limiter;
  limitKey: string;
}

const DEDUPED: ReadonlySet<EventKind> = new Set(['apply-failed', 'revision-refused', 'guardrail-blocked']);

function driftId(event: AgentEvent): string {
  return `${event.site}/${event.component ?? event.fingerprint}`;
}

function slim(event: AgentEvent): AgentEvent {
  return event.changes && event.changes.length > MAX_STORED_CHANGES ? { ...event, changes: event.changes.slice(0, MAX_STORED_CHANGES) } : { ...event };
}

/** A network error as a short reason that cannot contain the URL (Node's messages may). */
function networkReason(err: unknown, timeoutMs: number): string {
  const e = err as { name?: string; cause?: { code?: unknown; name?: string } };
  if (e?.name === 'TimeoutError' || e?.cause?.name === 'TimeoutError') return `no answer within ${timeoutMs} ms`;
  if (e?.name === 'AbortError') return 'aborted (dispatcher closing)';
  const code = typeof e?.cause?.code === 'string' ? e.cause.code : undefined;
  return code ? `network error (${code})` : 'network error';
}

/** Replace anything secret the vendor might echo (URL, key, token, signing secret). */
function scrub(text: string, target: Target): string {
  const secrets = [target.url, target.secret];
  try {
    const u = new URL(target.url);
    secrets.push(u.pathname, u.search, ...u.searchParams.values());
  } catch {
    // not a URL: the whole string is already in the list
  }
  let out = text;
  for (const s of secrets) if (s && s.length >= 6) out = out.split(s).join('(secret)');
  return out;
}

function isHttpUrl(url: string): boolean {
  try {
    const u = new URL(url);
    return u.protocol === 'https:' || u.protocol === 'http:';
  } catch {
    return false;
  }
}

class Dispatcher implements ChatDispatcher {
  private policy: Notifications;
  private siteArea: (site: string) => string | undefined;
  private readonly log: Logger;
  private readonly clock: () => number;
  private readonly fetchFn: typeof fetch;
  private readonly sleepFn: (ms: number) => Promise<void>;
  private readonly random: () => number;
  private readonly retry: Required<RetryOptions>;
  private readonly timeoutMs: number;
  private readonly maxQueue: number;
  private readonly store: ChatStateStore | undefined;
  private readonly abort = new AbortController();
  private readonly channels = new Map<string, ChannelRuntime>();
  private current: ChatState = emptyState();
  private chain: Promise<void>;
  private saving: Promise<void> = Promise.resolve();
  private timer: NodeJS.Timeout | undefined;
  private closing = false;
  private aborted = false;
  private closed: Promise<void> | undefined;
  private readonly counters: ChatStats = { sent: 0, failed: 0, dropped: 0, suppressed: 0, retries: 0 };

  constructor(private readonly opts: ChatDispatcherOptions) {
    this.policy = opts.policy;
    this.siteArea = opts.siteArea;
    this.log = opts.log.child({ component: 'chat' });
    this.clock = opts.clock ?? Date.now;
    this.fetchFn = opts.fetch ?? globalThis.fetch;
    this.sleepFn = opts.sleep ?? ((ms) => this.timerSleep(ms));
    this.random = opts.random ?? Math.random;
    this.retry = { attempts: opts.retry?.attempts ?? 5, baseMs: opts.retry?.baseMs ?? 2000, maxMs: opts.retry?.maxMs ?? 60_000 };
    this.timeoutMs = opts.timeoutMs ?? 10_000;
    this.maxQueue = opts.maxQueue ?? 100;
    this.store = opts.store;
    this.chain = this.load();
    const every = opts.tickIntervalMs ?? 60_000;
    if (every > 0) {
      this.timer = setInterval(() => void this.tick(), every);
      this.timer.unref();
    }
  }

  readonly sink: EventSink = (event) => {
    if (this.closing) {
      this.log.debug({ event: event.kind }, 'chat dispatcher closed: event not sent');
      return;
    }
    this.enqueueWork(() => this.handle(event));
  };

  tick(now?: number): Promise<void> {
    if (this.closing) return Promise.resolve();
    return this.enqueueWork(() => this.remind(now ?? this.clock()));
  }

  setPolicy(policy: Notifications, siteArea?: (site: string) => string | undefined): void {
    this.policy = policy;
    if (siteArea) this.siteArea = siteArea;
  }

  async flush(): Promise<void> {
    for (;;) {
      await this.chain;
      const workers = [...this.channels.values()].flatMap((c) => (c.worker ? [c.worker] : []));
      if (!workers.length) break;
      await Promise.allSettled(workers);
    }
    await this.saving;
  }

  close(opts: { timeoutMs?: number } = {}): Promise<void> {
    this.closed ??= this.shutdown(opts.timeoutMs ?? 10_000);
    return this.closed;
  }

  stats(): ChatStats {
    return { ...this.counters };
  }

  state(): ChatState {
    return structuredClone(this.current);
  }

  // ---- internals ----

  private enqueueWork(fn: () => void): Promise<void> {
    const next = this.chain.then(fn).catch((err: unknown) => {
      this.log.error({ reason: (err as Error)?.message }, 'chat dispatcher failed to handle an event');
    });
    this.chain = next;
    return next;
  }

  private async load(): Promise<void> {
    if (!this.store) return;
    try {
      const raw = await this.store.load();
      if (raw === undefined || raw === null) return;
      const parsed = ChatState.safeParse(raw);
      if (parsed.success) this.current = parsed.data;
      else this.log.warn({ issues: parsed.error.issues.length }, 'chat state is not valid: starting without it');
    } catch (err) {
      this.log.warn({ reason: (err as Error)?.message }, 'chat state cannot be loaded: starting without it');
    }
  }

  private persist(): void {
    if (!this.store) return;
    const snapshot = this.state();
    const store = this.store;
    this.saving = this.saving
      .then(() => store.save(snapshot))
      .catch((err: unknown) => {
        this.log.warn({ reason: (err as Error)?.message }, 'chat state not saved');
      });
  }

  private get reminderMs(): number {
    return parseDuration(this.policy.reminder ?? '24h');
  }

  private get dedupMs(): number {
    return parseDuration(this.policy.dedupWindow ?? '5m');
  }

  private handle(event: AgentEvent): void {
    if (!chatWorthy(event)) return;
    const now = this.clock();
    const area = this.siteArea(event.site);
    const state = this.current;
    this.prune(now);
    switch (event.kind) {
      case 'drift-detected': {
        const id = driftId(event);
        const open = state.drifts[id];
        if (open && open.fingerprint === event.fingerprint) {
          this.counters.suppressed++;
          this.log.debug({ event: event.kind, drift: id }, 'drift already reported: no new alert');
          return;
        }
        const channels = route(this.policy, event.kind, event.site, area);
        const since = open?.since ?? now;
        state.drifts[id] = { fingerprint: event.fingerprint, since, lastSent: now, channels, event: slim(event) };
        delete state.resolved[id];
        this.send(channels, { event, area, occurrence: 'alert', ...(open ? { since: new Date(since).toISOString() } : {}) });
        break;
      }
      case 'drift-resolved': {
        const id = driftId(event);
        const open = state.drifts[id];
        if (!open && state.resolved[id] !== undefined) {
          this.counters.suppressed++;
          this.log.debug({ event: event.kind, drift: id }, 'drift already resolved: no second message');
          return;
        }
        const known = new Set(this.policy.channels.map((c) => c.name));
        const channels = [...new Set([...route(this.policy, event.kind, event.site, area), ...(open?.channels ?? []).filter((c) => known.has(c))])];
        delete state.drifts[id];
        state.resolved[id] = now;
        this.send(channels, { event, area, occurrence: 'resolved', ...(open ? { since: new Date(open.since).toISOString() } : {}) });
        break;
      }
      default: {
        let suppressed: number | undefined;
        if (DEDUPED.has(event.kind)) {
          const seen = state.recent[event.fingerprint];
          if (seen && now - seen.at < this.dedupMs) {
            seen.suppressed++;
            this.counters.suppressed++;
            this.log.debug({ event: event.kind, fingerprint: event.fingerprint }, 'identical failure within the dedup window: not sent');
            this.persist();
            return;
          }
          suppressed = seen?.suppressed || undefined;
          state.recent[event.fingerprint] = { at: now, suppressed: 0 };
        }
        this.send(route(this.policy, event.kind, event.site, area), { event, area, occurrence: 'alert', ...(suppressed ? { suppressed } : {}) });
      }
    }
    this.persist();
  }

  private remind(now: number): void {
    const every = this.reminderMs;
    let changed = this.prune(now);
    for (const [id, drift] of Object.entries(this.current.drifts)) {
      if (now - drift.lastSent < every) continue;
      drift.lastSent = now;
      changed = true;
      const event = drift.event as AgentEvent;
      const area = this.siteArea(event.site);
      this.log.info({ drift: id }, 'drift still present: reminder');
      this.send(route(this.policy, 'drift-detected', event.site, area), { event, area, occurrence: 'reminder', since: new Date(drift.since).toISOString() });
    }
    if (changed) this.persist();
  }

  /** Forget what no longer matters: failures past the window (kept a day longer when some were left out), old resolutions. */
  private prune(now: number): boolean {
    let changed = false;
    const dedup = this.dedupMs;
    for (const [fp, r] of Object.entries(this.current.recent)) {
      if (now - r.at >= dedup + (r.suppressed ? 86_400_000 : 0)) {
        delete this.current.recent[fp];
        changed = true;
      }
    }
    const keep = this.reminderMs;
    for (const [id, at] of Object.entries(this.current.resolved)) {
      if (now - at >= keep) {
        delete this.current.resolved[id];
        changed = true;
      }
    }
    return changed;
  }

  private runtime(name: string, channel: NotificationChannel): ChannelRuntime {
    const limits = channelLimits(channel);
    const key = JSON.stringify(limits);
    let rt = this.channels.get(name);
    if (!rt) {
      rt = { queue: [], limiter: new Limiter(limits), limitKey: key };
      this.channels.set(name, rt);
    } else if (rt.limitKey !== key) {
      rt.limiter = new Limiter(limits);
      rt.limitKey = key;
    }
    return rt;
  }

  private send(channels: string[], notice: Notice): void {
    if (!channels.length) {
      this.log.debug({ event: notice.event.kind, occurrence: notice.occurrence }, 'no route for this event');
      return;
    }
    for (const name of channels) {
      const channel = this.policy.channels.find((c) => c.name === name);
      if (!channel) {
        this.log.warn({ channel: name, event: notice.event.kind }, 'a route names a channel the policy does not declare: not sent');
        continue;
      }
      if (this.aborted) {
        this.counters.dropped++;
        continue;
      }
      const rt = this.runtime(name, channel);
      rt.queue.push({ id: randomUUID(), notice });
      while (rt.queue.length > this.maxQueue) {
        const old = rt.queue.shift()!;
        this.counters.dropped++;
        this.log.warn({ channel: name, event: old.notice.event.kind, maxQueue: this.maxQueue }, 'chat channel queue full: oldest message dropped');
      }
      if (!rt.worker) rt.worker = this.work(name, rt);
    }
  }

  private async work(name: string, rt: ChannelRuntime): Promise<void> {
    await Promise.resolve();
    try {
      while (rt.queue.length && !this.aborted) {
        const job = rt.queue.shift()!;
        try {
          await this.deliver(name, rt, job);
        } catch (err) {
          this.counters.failed++;
          this.log.error({ channel: name, event: job.notice.event.kind, reason: (err as Error)?.name }, 'chat delivery failed unexpectedly');
        }
      }
    } finally {
      rt.worker = undefined;
    }
  }

  private async target(channel: NotificationChannel): Promise<Target> {
    const url = await this.opts.resolve.resolve(channel.url);
    const secret = channel.secret ? await this.opts.resolve.resolve(channel.secret) : undefined;
    return { channel: channel.name, url, ...(secret ? { secret } : {}) };
  }

  private async deliver(name: string, rt: ChannelRuntime, job: Job): Promise<void> {
    const { event, occurrence } = job.notice;
    const fields = { channel: name, event: event.kind, occurrence };
    const channel = this.policy.channels.find((c) => c.name === name);
    if (!channel) {
      this.counters.dropped++;
      this.log.warn(fields, 'chat channel no longer in the policy: message dropped');
      return;
    }
    const notifier = NOTIFIERS[channel.type];
    let target: Target;
    try {
      target = await this.target(channel);
    } catch (err) {
      this.counters.failed++;
      const reason = err instanceof MirrornetError ? err.userMessage : 'a secret reference cannot be resolved';
      this.log.warn({ ...fields, reason }, 'chat message not sent: the channel secret cannot be resolved');
      return;
    }
    if (!isHttpUrl(target.url)) {
      this.counters.failed++;
      this.log.warn({ ...fields, reason: `the value of ${channel.url} is not an http(s) URL` }, 'chat message not sent');
      return;
    }
    for (let attempt = 1; ; attempt++) {
      await this.acquire(name, rt);
      if (this.aborted) {
        this.counters.dropped++;
        return;
      }
      const req = notifier.request(target, { ...job.notice, deliveryId: job.id }, this.clock());
      const outcome = await this.post(req.url, req.headers, req.body, notifier.parse);
      if (outcome.ok) {
        this.counters.sent++;
        this.log.info({ ...fields, attempt }, 'chat message sent');
        return;
      }
      const last = !outcome.retryable || attempt >= this.retry.attempts || this.aborted;
      const reason = scrub(outcome.reason, target);
      if (last) {
        this.counters.failed++;
        this.log.warn({ ...fields, attempt, reason, retryable: outcome.retryable }, 'chat message not delivered');
        return;
      }
      const wait = this.backoff(attempt, outcome.retryAfterMs);
      this.counters.retries++;
      this.log.warn({ ...fields, attempt, reason, retryInMs: wait }, 'chat delivery failed; retrying');
      await this.sleepFn(wait);
    }
  }

  /** Wait for the channel's rate limit; one log line when it makes the message wait. */
  private async acquire(name: string, rt: ChannelRuntime): Promise<void> {
    let told = false;
    for (;;) {
      if (this.aborted) return;
      const now = this.clock();
      const wait = rt.limiter.wait(now);
      if (wait <= 0) {
        rt.limiter.take(now);
        return;
      }
      if (!told) {
        this.log.info({ channel: name, waitMs: wait, waiting: rt.queue.length + 1 }, 'chat channel rate limit reached: message queued');
        told = true;
      }
      await this.sleepFn(wait);
    }
  }

  /** Exponential backoff with equal jitter, at least what the vendor asked for (capped at maxMs). */
  private backoff(attempt: number, retryAfterMs?: number): number {
    const base = Math.min(this.retry.maxMs, this.retry.baseMs * 2 ** (attempt - 1));
    const jittered = Math.round(base / 2 + (this.random() * base) / 2);
    return Math.max(jittered, Math.min(retryAfterMs ?? 0, this.retry.maxMs));
  }

  private async post(url: string, headers: Record<string, string>, body: string, parse: Notifier['parse']): Promise<Outcome> {
    let res: Response;
    try {
      res = await this.fetchFn(url, {
        method: 'POST',
        headers,
        body,
        redirect: 'manual',
        signal: AbortSignal.any([this.abort.signal, AbortSignal.timeout(this.timeoutMs)]),
      });
    } catch (err) {
      return { ok: false, retryable: true, reason: networkReason(err, this.timeoutMs) };
    }
    let text: string;
    try {
      text = await res.text();
    } catch (err) {
      return { ok: false, retryable: true, reason: `reading the answer failed: ${networkReason(err, this.timeoutMs)}` };
    }
    return parse(res.status, res.headers, text.slice(0, 64 * 1024));
  }

  private timerSleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const signal = this.abort.signal;
      if (signal.aborted) return resolve();
      const done = () => {
        clearTimeout(t);
        signal.removeEventListener('abort', done);
        resolve();
      };
      const t = setTimeout(done, ms);
      signal.addEventListener('abort', done, { once: true });
    });
  }

  private async shutdown(timeoutMs: number): Promise<void> {
    this.closing = true;
    if (this.timer) clearInterval(this.timer);
    let deadline: NodeJS.Timeout | undefined;
    const timedOut = await Promise.race([
      this.flush().then(() => false),
      new Promise<boolean>((resolve) => {
        deadline = setTimeout(() => resolve(true), timeoutMs);
        deadline.unref();
      }),
    ]);
    if (deadline) clearTimeout(deadline);
    if (timedOut) {
      this.aborted = true;
      let left = 0;
      for (const rt of this.channels.values()) {
        left += rt.queue.length;
        rt.queue.length = 0;
      }
      this.counters.dropped += left;
      this.abort.abort();
      this.log.warn({ dropped: left }, 'chat dispatcher closed before every message was delivered: the rest is dropped');
      await this.flush();
    }
    await this.saving;
  }
}

export function createChatDispatcher(opts: ChatDispatcherOptions): ChatDispatcher {
  return new Dispatcher(opts);
}
