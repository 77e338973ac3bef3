// What every chat notifier shares: the notice it renders, the request it builds and how it reads the
// vendor's answer. Notifiers are pure (no I/O); the dispatcher sends what they build.
import { retryAfterMs } from '../../host/retry.js';
import type { NotificationChannel } from '../../model/schema.js';
import type { AgentEvent } from '../../reconcile/events.js';

export type ChannelType = NotificationChannel['type'];

/**
 * Why a message is sent: the first `alert` of an event, a `reminder` that a drift still lasts, or the
 * `resolved` end of a drift.
 */
export type Occurrence = 'alert' | 'reminder' | 'resolved';

/** Which language a channel reads: Chinese, English, or both (each label in Chinese then English). */
export type Language = 'zh' | 'en' | 'both';

/** Whom one message @-mentions, merged from its channel and routes; each vendor shapes it its own way. */
export interface Mentions {
  users: string[];
  mobiles: string[];
  groups: string[];
  all: boolean;
}

/** Where a message points: the commit, the pull request and the event kind's runbook (absolute URLs). */
export interface NoticeLinks {
  commit?: string;
  pullRequest?: string;
  runbook?: string;
}

/**
 * One message to render: the event and what the dispatcher knows about it. `language`, `mentions` and
 * `links` are the channel's presentation (present.ts), set just before it is rendered.
 */
export interface Notice {
  event: AgentEvent;
  /** The site's area (cn, overseas) when known. */
  area?: string;
  occurrence: Occurrence;
  /** Drift: when it was first detected (ISO 8601). */
  since?: string;
  /** Identical events (same fingerprint) left out within the dedup window before this one. */
  suppressed?: number;
  /** When the message is sent (ISO 8601); defaults to the event's time. */
  sentAt?: string;
  /** Stable id of this message across retries (the generic webhook sends it as a header). */
  deliveryId?: string;
  /** The pull request that brought the revision, when known. */
  pullRequest?: number;
  language?: Language;
  mentions?: Mentions;
  links?: NoticeLinks;
}

/** A channel with its secrets resolved. Never logged. */
export interface Target {
  channel: string;
  url: string;
  secret?: string;
}

export interface HttpRequest {
  url: string;
  headers: Record<string, string>;
  body: string;
}

/** How a delivery attempt went, read from the status and the body (vendors answer 200 with an error code). */
export type Outcome =
  | { ok: true }
  | {
      ok: false;
      /** Worth another attempt (rate limited, busy, 5xx, network); false for configuration errors. */
      retryable: boolean;
      /** Short, secret-free: the vendor's code and message. */
      reason: string;
      /** The vendor asked to wait this long (Retry-After). */
      retryAfterMs?: number;
    };

export interface Notifier {
  type: ChannelType;
  /** Whether the vendor checks a signature made with `secret`. */
  signs: boolean;
  /** The JSON body, without signature fields. Pure. */
  render(notice: Notice): unknown;
  /** The HTTP request: body, signature and headers. `nowMs` is the signing time. Pure. */
  request(target: Target, notice: Notice, nowMs: number): HttpRequest;
  /** Read the vendor's answer. */
  parse(status: number, headers: { get(name: string): string | null }, text: string): Outcome;
}

/** A 200 answer with a body error code, or an HTTP status, as an outcome (shared by the vendors). */
export function httpOutcome(status: number, headers: { get(name: string): string | null }, text: string): Outcome {
  const snippet = oneLine(text, 200);
  const retryAfter = retryAfterMs(headers.get('retry-after'));
  if (status === 429)
    return { ok: false, retryable: true, reason: `HTTP 429 ${snippet}`.trim(), ...(retryAfter !== undefined ? { retryAfterMs: retryAfter } : {}) };
  if (status >= 500) return { ok: false, retryable: true, reason: `HTTP ${status} ${snippet}`.trim() };
  if (status >= 300 && status < 400) return { ok: false, retryable: false, reason: `HTTP ${status}: the webhook URL redirects; use the final URL` };
  return { ok: false, retryable: false, reason: `HTTP ${status} ${snippet}`.trim() };
}

export function oneLine(text: string, max: number): string {
  const flat = text.replace(/\s+/g, ' ').trim();
  return flat.length > max ? `${flat.slice(0, max)}…` : flat;
}
