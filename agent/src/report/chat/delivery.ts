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
import { randomUUID } from 'node:crypto';
import type { Logger } from 'pino';
import { MirrornetError } from '../../errors.js';
import { networkErrorCode } from '../../host/network.js';
import { retrying } from '../../host/retry.js';
import { redactDeep, redactText } from '../../redact.js';
import type { SecretResolver } from '../../host/secrets.js';
import type { NotificationChannel, Notifications } from '../../model/schema.js';
import { channelLimits, Limiter, type RetryOptions } from './decisions.js';
import { NOTIFIERS } from './registry.js';
import type { Notice, Notifier, Outcome, Target } from './types.js';

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

  /** Queue `notice` for each declared channel of `channels`; never waits. */
  send(channels: string[], notice: Notice): void {
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
      rt.queue.push({ id: randomUUID(), notice });
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

  private async target(channel: NotificationChannel): Promise<Target> {
    const url = await this.opts.resolve.resolve(channel.url);
    const secret = channel.secret ? await this.opts.resolve.resolve(channel.secret) : undefined;
    return { channel: channel.name, url, ...(secret ? { secret } : {}) };
  }

  private async deliver(name: string, rt: ChannelRuntime, job: Job): Promise<void> {
    const { event, occurrence } = job.notice;
    const fields = { channel: name, event: event.kind, occurrence };
    const channel = this.opts.policy().channels.find((c) => c.name === name);
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
    // The vendor may echo the URL, its key or token, or the signing secret.
    const redacted = (reason: string) => redactText(reason, { secrets: [target.url, target.secret] });
    const policy = { ...this.opts.retry, sleep: this.sleepFn, random: this.opts.random };
    const done = await retrying<'sent' | 'dropped', Failure>(
      policy,
      async () => {
        await this.acquire(name, rt);
        if (this.aborted) return { ok: true, value: 'dropped' };
        const req = notifier.request(target, { ...redactDeep(job.notice, { secrets: [target.url, target.secret] }), deliveryId: job.id }, this.opts.clock());
        const outcome = await this.post(req.url, req.headers, req.body, notifier.parse);
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

  private async post(url: string, headers: Record<string, string>, body: string, parse: Notifier['parse']): Promise<Outcome> {
    const timeoutMs = this.opts.timeoutMs;
    let res: Response;
    try {
      res = await this.opts.fetch(url, {
        method: 'POST',
        headers,
        body,
        redirect: 'manual',
        signal: AbortSignal.any([this.abortController.signal, AbortSignal.timeout(timeoutMs)]),
      });
    } catch (err) {
      return { ok: false, retryable: true, reason: networkReason(err, timeoutMs) };
    }
    let text: string;
    try {
      text = await res.text();
    } catch (err) {
      return { ok: false, retryable: true, reason: `reading the answer failed: ${networkReason(err, timeoutMs)}` };
    }
    return parse(res.status, res.headers, text.slice(0, 64 * 1024));
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
