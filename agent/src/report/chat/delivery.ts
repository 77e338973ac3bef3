// Delivery of chat messages in the background: one queue per channel, one message at a time per channel
// (an alert is never overtaken by its "resolved"), channels in parallel.
//
// - rate limits (decisions.ts): excess messages are QUEUED in order (one log line when a channel starts
//   waiting) and sent as the window frees; each channel keeps at most `maxQueue` waiting messages and
//   drops the oldest beyond that, with a log line. Every HTTP attempt, retries included, counts.
// - failures (network, 429, 5xx, vendor error codes that another attempt can fix, e.g. rate limited)
//   are retried with the one retry policy (host/retry.ts: exponential backoff and jitter, Retry-After),
//   at most `retry.attempts` times; configuration errors (bad signature, unknown key) are not retried.
// - every failure is logged with the channel's name only: URLs and secrets never reach a log line.
// - what a message says goes through the one redaction layer (redact.ts) before it is rendered, and what a
//   vendor answers before it is logged: no credential reaches a chat group, no webhook URL or key a log.
// - each message is shown as its channel wants it (present.ts: language, mentions, links) just before it is
//   rendered; `sendOnce` is that one attempt, which `mirrornet notify test` uses as well.
import { randomUUID } from 'node:crypto';
import type { Logger } from 'pino';
import { MirrornetError } from '../../errors.js';
import { networkErrorCode } from '../../host/network.js';
import { retrying } from '../../host/retry.js';
import { redactDeep, redactText } from '../../redact.js';
import type { SecretResolver } from '../../host/secrets.js';
import type { NotificationChannel, NotificationMentions, Notifications } from '../../model/schema.js';
import { channelLimits, Limiter, type RetryOptions } from './decisions.js';
import { present } from './present.js';
import { NOTIFIERS } from './registry.js';
import type { Notice, Outcome, Target } from './types.js';

/** A failed attempt, as the vendor's answer says it. */
type Failure = Extract<Outcome, { ok: false }>;

/** What happened to the messages so far. */
export interface DeliveryCounts {
  sent: number;
  failed: number;
  dropped: number;
  retries: number;
}

export interface ChatDeliveryOptions {
  /** The current policy: channels are looked up when a message is queued and again when it goes out. */
  policy: () => Notifications;
  resolve: SecretResolver;
  /** The chat logger. */
  log: Logger;
  clock: () => number;
  fetch: typeof fetch;
  /** Backoff and rate-limit waits (default: a timer that abort() cuts short). */
  sleep?: (ms: number) => Promise<void>;
  random: () => number;
  retry: Required<RetryOptions>;
  /** Per HTTP attempt. */
  timeoutMs: number;
  /** Waiting messages per channel before the oldest is dropped. */
  maxQueue: number;
}

interface Job {
  id: string;
  notice: Notice;
  /** The mentions its routes add for this channel. */
  mentions?: NotificationMentions[];
}

interface ChannelRuntime {
  queue: Job[];
  worker?: Promise<void>;
  limiter: Limiter;
  limitKey: string;
}

/** A network error as a short reason that cannot contain the URL (Node's messages may). */
function networkReason(err: unknown, timeoutMs: number): string {
  if (err instanceof Error && err.name === 'AbortError') return 'aborted (dispatcher closing)';
  const code = networkErrorCode(err);
  if (code === 'ETIMEDOUT') return `no answer within ${timeoutMs} ms`;
  return code ? `network error (${code})` : 'network error';
}

function isHttpUrl(url: string): boolean {
  try {
    const u = new URL(url);
    return u.protocol === 'https:' || u.protocol === 'http:';
  } catch {
    return false;
  }
}

export class ChatDelivery {
  private readonly log: Logger;
  private readonly sleepFn: (ms: number) => Promise<void>;
  private readonly abortController = new AbortController();
  private readonly channels = new Map<string, ChannelRuntime>();
  private aborted = false;
  private readonly counters: DeliveryCounts = { sent: 0, failed: 0, dropped: 0, retries: 0 };

  constructor(private readonly opts: ChatDeliveryOptions) {
    this.log = opts.log;
    this.sleepFn = opts.sleep ?? ((ms) => this.timerSleep(ms));
  }

  /** Queue `notice` for each declared channel of `channels` (with the mentions its routes add there); never waits. */
  send(channels: string[], notice: Notice, mentions: Record<string, NotificationMentions[]> = {}): void {
    if (!channels.length) {
      this.log.debug({ event: notice.event.kind, occurrence: notice.occurrence }, 'no route for this event');
      return;
    }
    const policy = this.opts.policy();
    for (const name of channels) {
      const channel = policy.channels.find((c) => c.name === name);
      if (!channel) {
        this.log.warn({ channel: name, event: notice.event.kind }, 'a route names a channel the policy does not declare: not sent');
        continue;
      }
      if (this.aborted) {
        this.counters.dropped++;
        continue;
      }
      const rt = this.runtime(name, channel);
      const extra = mentions[name];
      rt.queue.push({ id: randomUUID(), notice, ...(extra ? { mentions: extra } : {}) });
      while (rt.queue.length > this.opts.maxQueue) {
        const old = rt.queue.shift()!;
        this.counters.dropped++;
        this.log.warn({ channel: name, event: old.notice.event.kind, maxQueue: this.opts.maxQueue }, 'chat channel queue full: oldest message dropped');
      }
      if (!rt.worker) rt.worker = this.work(name, rt);
    }
  }

  /** The channels' workers still running (each settles when its queue is empty). */
  busy(): Promise<void>[] {
    return [...this.channels.values()].flatMap((c) => (c.worker ? [c.worker] : []));
  }

  /** Drop every waiting message, cut waits and requests short, refuse new messages; returns how many were dropped. */
  abort(): number {
    this.aborted = true;
    let left = 0;
    for (const rt of this.channels.values()) {
      left += rt.queue.length;
      rt.queue.length = 0;
    }
    this.counters.dropped += left;
    this.abortController.abort();
    return left;
  }

  counts(): DeliveryCounts {
    return { ...this.counters };
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

  private async work(name: string, rt: ChannelRuntime): Promise<void> {
    await Promise.resolve();
    try {
      while (rt.queue.length && !this.aborted) {
        const job = rt.queue.shift()!;
        try {
          await this.deliver(name, rt, job);
        } catch (err) {
          this.counters.failed++;
          this.log.error(
            { channel: name, event: job.notice.event.kind, reason: err instanceof Error ? err.name : typeof err },
            'chat delivery failed unexpectedly',
          );
        }
      }
    } finally {
      rt.worker = undefined;
    }
  }

  private async deliver(name: string, rt: ChannelRuntime, job: Job): Promise<void> {
    const { event, occurrence } = job.notice;
    const fields = { channel: name, event: event.kind, occurrence };
    const policy = this.opts.policy();
    const channel = policy.channels.find((c) => c.name === name);
    if (!channel) {
      this.counters.dropped++;
      this.log.warn(fields, 'chat channel no longer in the policy: message dropped');
      return;
    }
    let target: Target;
    try {
      target = await channelTarget(channel, this.opts.resolve);
    } catch (err) {
      this.counters.failed++;
      const reason = err instanceof MirrornetError ? err.userMessage : 'a secret reference cannot be resolved';
      this.log.warn({ ...fields, reason }, 'chat message not sent: the channel URL or secret cannot be resolved');
      return;
    }
    // The vendor may echo the URL, its key or token, or the signing secret.
    const redacted = (reason: string) => redactText(reason, { secrets: [target.url, target.secret] });
    const notice = { ...job.notice, deliveryId: job.id };
    const send = { fetch: this.opts.fetch, clock: this.opts.clock, timeoutMs: this.opts.timeoutMs, signal: this.abortController.signal };
    const done = await retrying<'sent' | 'dropped', Failure>(
      { ...this.opts.retry, sleep: this.sleepFn, random: this.opts.random },
      async () => {
        await this.acquire(name, rt);
        if (this.aborted) return { ok: true, value: 'dropped' };
        const { outcome } = await sendOnce(policy, channel, target, notice, send, job.mentions);
        if (outcome.ok) return { ok: true, value: 'sent' };
        const retryAfter = outcome.retryAfterMs !== undefined ? { retryAfterMs: outcome.retryAfterMs } : {};
        return { ok: false, failure: outcome, retryable: outcome.retryable && !this.aborted, ...retryAfter };
      },
      (outcome, attempt, wait) => {
        this.counters.retries++;
        this.log.warn({ ...fields, attempt, reason: redacted(outcome.reason), retryInMs: wait }, 'chat delivery failed; retrying');
      },
    );
    if (done.ok && done.value === 'dropped') {
      this.counters.dropped++;
    } else if (done.ok) {
      this.counters.sent++;
      this.log.info({ ...fields, attempt: done.attempts }, 'chat message sent');
    } else {
      this.counters.failed++;
      const { reason, retryable } = done.failure;
      this.log.warn({ ...fields, attempt: done.attempts, reason: redacted(reason), retryable }, 'chat message not delivered');
    }
  }

  /** Wait for the channel's rate limit; one log line when it makes the message wait. */
  private async acquire(name: string, rt: ChannelRuntime): Promise<void> {
    let told = false;
    for (;;) {
      if (this.aborted) return;
      const now = this.opts.clock();
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

  private timerSleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const signal = this.abortController.signal;
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
}

/** A channel's webhook URL and signing secret, resolved on this host; throws a MirrornetError that says why not. */
export async function channelTarget(channel: NotificationChannel, resolve: SecretResolver): Promise<Target> {
  const url = await resolve.resolve(channel.url);
  const secret = channel.secret ? await resolve.resolve(channel.secret) : undefined;
  if (!isHttpUrl(url)) throw new MirrornetError(`The value of ${channel.url} (the URL of the channel ${channel.name}) is not an http(s) URL.`);
  return { channel: channel.name, url, ...(secret ? { secret } : {}) };
}

export interface SendOptions {
  fetch: typeof fetch;
  /** The signing time. */
  clock: () => number;
  /** Per attempt. */
  timeoutMs: number;
  /** Cuts the request short (the dispatcher closing). */
  signal?: AbortSignal;
}

/** One attempt: the vendor's answer as it came (status and body, secrets redacted; no status when there was none) and as its notifier reads it. */
export interface Attempt {
  status?: number;
  body: string;
  outcome: Outcome;
}

/**
 * One attempt to deliver `notice` to `channel` at `target`: redacted, shown as the channel wants it (with the
 * mentions its routes add), rendered and signed by the vendor's notifier, posted once. Never throws.
 */
export async function sendOnce(
  policy: Notifications,
  channel: NotificationChannel,
  target: Target,
  notice: Notice,
  opts: SendOptions,
  mentions?: readonly NotificationMentions[],
): Promise<Attempt> {
  const secrets = [target.url, target.secret];
  const notifier = NOTIFIERS[channel.type];
  const req = notifier.request(target, present(policy, channel, redactDeep(notice, { secrets }), mentions), opts.clock());
  const { timeoutMs } = opts;
  let res: Response;
  try {
    res = await opts.fetch(req.url, {
      method: 'POST',
      headers: req.headers,
      body: req.body,
      redirect: 'manual',
      signal: AbortSignal.any([...(opts.signal ? [opts.signal] : []), AbortSignal.timeout(timeoutMs)]),
    });
  } catch (err) {
    return { body: '', outcome: { ok: false, retryable: true, reason: networkReason(err, timeoutMs) } };
  }
  let text: string;
  try {
    text = (await res.text()).slice(0, 64 * 1024);
  } catch (err) {
    return { status: res.status, body: '', outcome: { ok: false, retryable: true, reason: `reading the answer failed: ${networkReason(err, timeoutMs)}` } };
  }
  return { status: res.status, body: redactText(text, { secrets }), outcome: notifier.parse(res.status, res.headers, text) };
}
