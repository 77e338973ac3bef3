// The generic webhook: the event as JSON, for audit logs and anything that is not a chat vendor.
//
//   POST <url>
//   Content-Type: application/json
//   X-Mirrornet-Event: drift-detected
//   X-Mirrornet-Delivery: <id, the same on every retry of one message>
//   X-Mirrornet-Timestamp: <Unix seconds>
//   X-Mirrornet-Signature-256: sha256=<hex HMAC-SHA256 of the raw body, key = the channel's secret>
//
// The body repeats the timestamp (`sentAt`), so a receiver that wants replay protection reads it from
// the signed bytes. Verify over the raw body, with a constant-time comparison. Any 2xx is success; 429
// and 5xx are tried again, other statuses are not.
import { createHmac, timingSafeEqual } from 'node:crypto';
import type { AgentEvent } from '../../../reconcile/events.js';
import type { NotificationSeverity } from '../../../model/schema.js';
import { compose } from '../message.js';
import { severityOf } from '../routing.js';
import { httpOutcome, type HttpRequest, type Notice, type NoticeLinks, type Notifier, type Occurrence, type Outcome, type Target } from '../types.js';

export const SIGNATURE_HEADER = 'x-mirrornet-signature-256';
export const TIMESTAMP_HEADER = 'x-mirrornet-timestamp';
export const EVENT_HEADER = 'x-mirrornet-event';
export const DELIVERY_HEADER = 'x-mirrornet-delivery';

/** "sha256=" + hex(HMAC-SHA256(key = secret, message = body)). */
function sign(secret: string, body: string | Buffer): string {
  return `sha256=${createHmac('sha256', secret).update(body).digest('hex')}`;
}

/** Constant-time check of a signature header against the raw body. */
export function verify(secret: string, body: string | Buffer, header: string | undefined): boolean {
  if (!header) return false;
  const want = Buffer.from(sign(secret, body));
  const got = Buffer.from(header);
  return got.length === want.length && timingSafeEqual(got, want);
}

export interface WebhookBody {
  version: 1;
  source: 'mirrornet';
  deliveryId?: string;
  sentAt: string;
  occurrence: Occurrence;
  /** From the event kind (critical, warning, info). */
  severity: NotificationSeverity;
  area?: string;
  since?: string;
  suppressed?: number;
  pullRequest?: number;
  /** The same title and advice the chat vendors show. */
  title: string;
  action: string;
  links?: NoticeLinks;
  event: AgentEvent;
}

/** The JSON body (pure). */
function render(notice: Notice): WebhookBody {
  const card = compose(notice, notice.language ?? 'en');
  return {
    version: 1,
    source: 'mirrornet',
    ...(notice.deliveryId ? { deliveryId: notice.deliveryId } : {}),
    sentAt: notice.sentAt ?? notice.event.at,
    occurrence: notice.occurrence,
    severity: severityOf(notice.event.kind),
    ...(notice.area ? { area: notice.area } : {}),
    ...(notice.since ? { since: notice.since } : {}),
    ...(notice.suppressed ? { suppressed: notice.suppressed } : {}),
    ...(notice.pullRequest !== undefined ? { pullRequest: notice.pullRequest } : {}),
    title: card.title,
    action: card.action.join(' '),
    ...(notice.links ? { links: notice.links } : {}),
    event: notice.event,
  };
}

export function request(target: Target, notice: Notice, nowMs: number): HttpRequest {
  const body = JSON.stringify(render({ ...notice, sentAt: new Date(nowMs).toISOString() }));
  const headers: Record<string, string> = {
    'content-type': 'application/json; charset=utf-8',
    'user-agent': 'mirrornet',
    [EVENT_HEADER]: notice.event.kind,
    [TIMESTAMP_HEADER]: String(Math.floor(nowMs / 1000)),
  };
  if (notice.deliveryId) headers[DELIVERY_HEADER] = notice.deliveryId;
  if (target.secret) headers[SIGNATURE_HEADER] = sign(target.secret, body);
  return { url: target.url, headers, body };
}

function parse(status: number, headers: { get(name: string): string | null }, text: string): Outcome {
  if (status >= 200 && status < 300) return { ok: true };
  return httpOutcome(status, headers, text);
}

export const webhook: Notifier = {
  type: 'webhook',
  signs: true,
  render,
  request,
  parse,
};
