// The one signature of requests between a site's agents and their parent (reports up, steering down): which
// token a site holds, the headers a sender adds, and the checks a receiver runs before it believes a byte.
// A site's token is derived from the fleet's report secret, so a core verifies every site without a file per
// site. The signature covers the timestamp, the delivery id and the raw body; a receiver refuses a stale or
// future timestamp (±300 s) and a delivery id it saw within the window, and checks the headers' shapes
// before any HMAC work. The site header is not signed: a site's token signs for that site only.
import { createHmac, timingSafeEqual } from 'node:crypto';
import { NAME_PATTERN } from '../../model/field-formats.js';

/** A report or a steering push is at most this many bytes (the receiver answers 413 past it; the sender refuses to send it). */
export const MAX_SITE_BODY_BYTES = 4 * 1024 * 1024;

/** How far a request's timestamp may be from the receiver's clock, either way. */
export const SITE_CLOCK_SKEW_S = 300;

/** The headers, lowercase (as node:http hands them to a receiver). */
const SITE_HEADERS = {
  site: 'x-mirrornet-site',
  timestamp: 'x-mirrornet-timestamp',
  delivery: 'x-mirrornet-delivery',
  signature: 'x-mirrornet-signature-256',
} as const;

const TIMESTAMP = /^\d{1,12}$/;
const DELIVERY = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const SIGNATURE = /^sha256=([0-9a-f]{64})$/i;

/** hex(HMAC-SHA256(reportSecret, "mirrornet-site-token:" + site)): the token of `site`, derived from the fleet's report secret. */
export function siteToken(reportSecret: string, site: string): string {
  return createHmac('sha256', reportSecret).update(`mirrornet-site-token:${site}`).digest('hex');
}

function mac(token: string, timestamp: string, delivery: string, body: Buffer): Buffer {
  return createHmac('sha256', token).update(`${timestamp}.${delivery}.`).update(body).digest();
}

/** The headers that sign `body` for `site` at `nowMs` (milliseconds since the epoch), with the delivery id `deliveryId` (a UUID). */
/**
 * The token a site's gateway signs its reports to its core with (and its core the steering it pushes to the
 * gateway): derived apart from the site token the site's nodes hold, so a node cannot speak for its site.
 */
export function gatewayToken(reportSecret: string, site: string): string {
  return createHmac('sha256', reportSecret).update(`mirrornet-gateway-token:${site}`).digest('hex');
}

export function signSiteRequest(token: string, site: string, body: Buffer, nowMs: number, deliveryId: string): Record<string, string> {
  const timestamp = String(Math.floor(nowMs / 1000));
  return {
    [SITE_HEADERS.site]: site,
    [SITE_HEADERS.timestamp]: timestamp,
    [SITE_HEADERS.delivery]: deliveryId,
    [SITE_HEADERS.signature]: `sha256=${mac(token, timestamp, deliveryId, body).toString('hex')}`,
  };
}

type Headers = Readonly<Record<string, string | readonly string[] | undefined>>;

/** The four headers of a signed request when each is present once and has its shape; else undefined. */
export interface SiteHeaders {
  site: string;
  timestamp: string;
  delivery: string;
  /** The 32 bytes of the signature. */
  signature: Buffer;
}

function one(headers: Headers, name: string): string | undefined {
  const v = headers[name];
  return typeof v === 'string' ? v : undefined;
}

/** The signing headers of a request (keys lowercase), or undefined when one is missing, repeated or malformed: checked before a body is read. */
export function siteHeadersOf(headers: Headers): SiteHeaders | undefined {
  const site = one(headers, SITE_HEADERS.site);
  const timestamp = one(headers, SITE_HEADERS.timestamp);
  const delivery = one(headers, SITE_HEADERS.delivery);
  const signature = SIGNATURE.exec(one(headers, SITE_HEADERS.signature) ?? '')?.[1];
  if (site === undefined || !NAME_PATTERN.test(site)) return undefined;
  if (timestamp === undefined || !TIMESTAMP.test(timestamp)) return undefined;
  if (delivery === undefined || !DELIVERY.test(delivery)) return undefined;
  if (signature === undefined) return undefined;
  return { site, timestamp, delivery, signature: Buffer.from(signature, 'hex') };
}

/** Why a signed request was refused, as the label of mirrornet_http_refused_total (missing or malformed headers: bad-signature, like a webhook's). */
type SiteRefusal = 'bad-signature' | 'replayed';

export type SiteVerdict = { ok: true; site: string; delivery: string } | { ok: false; status: 401; refusal: SiteRefusal; reason: string };

/** The memory of delivery ids (server/guards.ts's RecentDeliveries): true when `id` was seen, else records it. */
export interface ReplayMemory {
  seenBefore(id: string): boolean;
}

/**
 * Whether `body` with `headers` was signed by the token of the site it names, at a time within ±300 s of `nowMs`,
 * and was not delivered before. Every refusal is 401 (nothing changes). The delivery id is remembered (per site)
 * only once the signature holds, so unsigned requests cannot spend ids.
 */
export function verifySiteRequest(
  headers: Headers,
  body: Buffer,
  tokenFor: (site: string) => string | undefined,
  nowMs: number,
  replay: ReplayMemory,
): SiteVerdict {
  const refuse = (refusal: SiteRefusal, reason: string): SiteVerdict => ({ ok: false, status: 401, refusal, reason });
  const h = siteHeadersOf(headers);
  if (!h) return refuse('bad-signature', 'missing or malformed X-Mirrornet-Site, -Timestamp, -Delivery or -Signature-256');
  const skew = Math.abs(Math.floor(nowMs / 1000) - Number(h.timestamp));
  if (skew > SITE_CLOCK_SKEW_S) return refuse('bad-signature', `the timestamp is ${skew} s from this agent's clock (at most ${SITE_CLOCK_SKEW_S} s)`);
  const token = tokenFor(h.site);
  if (token === undefined) return refuse('bad-signature', `no token for site ${h.site} here`);
  if (!timingSafeEqual(mac(token, h.timestamp, h.delivery, body), h.signature)) return refuse('bad-signature', 'bad signature');
  if (replay.seenBefore(`${h.site} ${h.delivery}`)) return refuse('replayed', `delivery ${h.delivery} was already received`);
  return { ok: true, site: h.site, delivery: h.delivery };
}
