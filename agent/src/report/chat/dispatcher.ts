// Chat delivery for the agent's events (policies/notifications.yaml): the sink the Agent reports to, the
// reminder timer, the noise-control state on disk, and close(). Nothing here throws into the agent: the
// sink only queues. What to send where is decided in decisions.ts (pure); delivery.ts sends it. A message
// a mute window keeps from a channel is counted (stats().muted) and logged with the window's name.
//
// Events and ticks are handled one at a time, in order. State (open drifts, recent failures) lives in
// memory; `store.load/save` persist it as a small JSON document so an agent restart neither repeats an
// alert nor forgets a reminder.
import type { Logger } from 'pino';
import { messageOf } from '../../errors.js';
import { httpFetch } from '../../host/http.js';
import type { SecretResolver } from '../../host/secrets.js';
import type { Notifications } from '../../model/schema.js';
import type { EventSink } from '../../reconcile/events.js';
import { ChatState, decideEvent, decideReminders, emptyChatState, type RetryOptions, type Routing, type Suppression } from './decisions.js';
import { ChatDelivery } from './delivery.js';
import type { Muted } from './routing.js';

export interface ChatStateStore {
  load(): Promise<unknown> | unknown;
  save(state: ChatState): Promise<void> | void;
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
  /** Messages a mute window kept from a channel (one per channel). */
  muted: number;
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

const SUPPRESSED: Record<Suppression['why'], { field: 'drift' | 'fingerprint' | 'site'; msg: string }> = {
  'drift-open': { field: 'drift', msg: 'drift already reported: no new alert' },
  'drift-resolved': { field: 'drift', msg: 'drift already resolved: no second message' },
  dedup: { field: 'fingerprint', msg: 'identical failure within the dedup window: not sent' },
  'silent-open': { field: 'site', msg: 'site already reported silent: no new alert' },
  'not-silent': { field: 'site', msg: 'site reports again, but no silence was sent: no message' },
};

class Dispatcher implements ChatDispatcher {
  private routing: Routing;
  private readonly log: Logger;
  private readonly clock: () => number;
  private readonly store: ChatStateStore | undefined;
  private readonly delivery: ChatDelivery;
  private current: ChatState = emptyChatState();
  private suppressed = 0;
  private muted = 0;
  private chain: Promise<void>;
  private saving: Promise<void> = Promise.resolve();
  private timer: NodeJS.Timeout | undefined;
  private closing = false;
  private closed: Promise<void> | undefined;

  constructor(opts: ChatDispatcherOptions) {
    this.routing = { policy: opts.policy, siteArea: opts.siteArea };
    this.log = opts.log.child({ component: 'chat' });
    this.clock = opts.clock ?? Date.now;
    this.store = opts.store;
    this.delivery = new ChatDelivery({
      policy: () => this.routing.policy,
      resolve: opts.resolve,
      log: this.log,
      clock: this.clock,
      // Not fetch itself: its implementation (undici) would stay resident in the agent (host/http.ts).
      fetch: opts.fetch ?? ((url, init) => httpFetch(url as string | URL, init ?? {}, opts.timeoutMs ?? 10_000)),
      sleep: opts.sleep,
      random: opts.random ?? Math.random,
      retry: { attempts: opts.retry?.attempts ?? 5, baseMs: opts.retry?.baseMs ?? 2000, maxMs: opts.retry?.maxMs ?? 60_000 },
      timeoutMs: opts.timeoutMs ?? 10_000,
      maxQueue: opts.maxQueue ?? 100,
    });
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
    void this.enqueueWork(() => {
      const { state, decision, save } = decideEvent(this.current, this.routing, event, this.clock());
      this.current = state;
      if (decision.action === 'suppress') {
        const { field, msg } = SUPPRESSED[decision.suppression.why];
        this.suppressed++;
        this.log.debug({ event: event.kind, [field]: decision.suppression.key }, msg);
      }
      if (decision.action === 'send') {
        this.mute(event.kind, decision.notice.occurrence, decision.muted);
        if (decision.channels.length || !decision.muted) this.delivery.send(decision.channels, decision.notice, decision.mentions);
      }
      if (save) this.persist();
    });
  };

  tick(now?: number): Promise<void> {
    if (this.closing) return Promise.resolve();
    return this.enqueueWork(() => {
      const { state, decision: reminders, save } = decideReminders(this.current, this.routing, now ?? this.clock());
      this.current = state;
      for (const reminder of reminders) {
        if (reminder.notice.event.kind === 'site-silent') this.log.info({ site: reminder.notice.event.site }, 'site still silent: reminder');
        else this.log.info({ drift: reminder.drift }, 'drift still present: reminder');
        this.mute(reminder.notice.event.kind, reminder.notice.occurrence, reminder.muted);
        if (reminder.channels.length || !reminder.muted) this.delivery.send(reminder.channels, reminder.notice, reminder.mentions);
      }
      if (save) this.persist();
    });
  }

  setPolicy(policy: Notifications, siteArea?: (site: string) => string | undefined): void {
    this.routing = { policy, siteArea: siteArea ?? this.routing.siteArea };
  }

  async flush(): Promise<void> {
    for (;;) {
      await this.chain;
      const workers = this.delivery.busy();
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
    return { ...this.delivery.counts(), suppressed: this.suppressed, muted: this.muted };
  }

  state(): ChatState {
    return structuredClone(this.current);
  }

  // ---- internals ----

  private mute(event: string, occurrence: string, muted: Muted[] | undefined): void {
    for (const m of muted ?? []) {
      this.muted++;
      this.log.info({ channel: m.channel, event, occurrence, window: m.window }, 'chat message muted by a mute window: not sent');
    }
  }

  private enqueueWork(fn: () => void): Promise<void> {
    const next = this.chain.then(fn).catch((err: unknown) => {
      this.log.error({ reason: messageOf(err) }, 'chat dispatcher failed to handle an event');
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
      this.log.warn({ reason: messageOf(err) }, 'chat state cannot be loaded: starting without it');
    }
  }

  private persist(): void {
    if (!this.store) return;
    const snapshot = this.state();
    const store = this.store;
    this.saving = this.saving
      .then(() => store.save(snapshot))
      .catch((err: unknown) => {
        this.log.warn({ reason: messageOf(err) }, 'chat state not saved');
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
      const left = this.delivery.abort();
      this.log.warn({ dropped: left }, 'chat dispatcher closed before every message was delivered: the rest is dropped');
      await this.flush();
    }
    await this.saving;
  }
}

export function createChatDispatcher(opts: ChatDispatcherOptions): ChatDispatcher {
  return new Dispatcher(opts);
}
