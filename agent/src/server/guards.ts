// What keeps a hostile client from costing the agent more than a few bytes: a per-source token bucket for the
// webhook (an IPv4 address, or an IPv6 /64: one client owns a whole /64 and rotates inside it freely), the memory
// of recent delivery ids (GitHub redelivers; a replayed delivery must not reconcile twice), and the
// signature-format check that runs before any body is read. Pure bookkeeping over an injected clock.
import { createRequire } from 'node:module';
import { isIPv6 } from 'node:net';

const require = createRequire(import.meta.url);
type IpNum = typeof import('ip-num');
let ipNum: IpNum | undefined;
/** ip-num costs the long-running agent ~15 MB: loaded only when an IPv6 client shows up. */
function ipnum(): IpNum {
  return (ipNum ??= require('ip-num') as IpNum);
}

/**
 * The bucket a source address counts against: an IPv4 address itself, an IPv4-mapped IPv6 address
 * (`::ffff:a.b.c.d`, how a dual-stack socket reports IPv4 clients) as that IPv4 address, any other IPv6
 * address as its /64 (`2001:db8:1:2::/64`). Anything else is its own key.
 */
export function rateLimitKey(address: string): string {
  if (!isIPv6(address)) return address;
  const { IPv4, IPv6, IPv6CidrRange } = ipnum();
  let ip;
  try {
    ip = IPv6.fromString(address.replace(/%.*$/, ''));
  } catch {
    return address; // Node's notation and ip-num's disagree: the address alone, never a failed request
  }
  if (ip.isIPv4Mapped()) return IPv4.fromNumber(ip.value & 0xffff_ffffn).toString();
  return `${IPv6CidrRange.fromCidr(`${ip.toString()}/64`).getFirst().toString()}/64`;
}

/** The rate of webhook requests one source address may make: a burst, refilled continuously. */
export interface RateLimit {
  /** Requests an idle address may send at once. */
  burst: number;
  /** Requests per second refilled. */
  perSecond: number;
}

interface Bucket {
  tokens: number;
  at: number;
}

/** Per-source token buckets (see rateLimitKey); at most `maxAddresses` are remembered (full buckets are forgotten first). */
export class AddressRateLimiter {
  private readonly buckets = new Map<string, Bucket>();

  constructor(
    private readonly limit: RateLimit,
    private readonly now: () => number = Date.now,
    private readonly maxAddresses = 10_000,
  ) {}

  /** 0 when `address` may go ahead (one token is taken from its source's bucket), else the seconds until it may try again. */
  take(address: string): number {
    const now = this.now();
    const bucket = this.refilled(rateLimitKey(address), now);
    if (bucket.tokens >= 1) {
      bucket.tokens -= 1;
      return 0;
    }
    return Math.max(1, Math.ceil((1 - bucket.tokens) / this.limit.perSecond));
  }

  private refilled(address: string, now: number): Bucket {
    let bucket = this.buckets.get(address);
    if (!bucket) {
      if (this.buckets.size >= this.maxAddresses) this.forgetFull(now);
      bucket = { tokens: this.limit.burst, at: now };
      this.buckets.set(address, bucket);
      return bucket;
    }
    bucket.tokens = Math.min(this.limit.burst, bucket.tokens + ((now - bucket.at) / 1000) * this.limit.perSecond);
    bucket.at = now;
    return bucket;
  }

  /** Drops the buckets that have refilled (they hold nothing); if none has, the oldest half. */
  private forgetFull(now: number): void {
    for (const [address, b] of this.buckets) {
      if (b.tokens + ((now - b.at) / 1000) * this.limit.perSecond >= this.limit.burst) this.buckets.delete(address);
    }
    if (this.buckets.size < this.maxAddresses) return;
    let drop = Math.ceil(this.buckets.size / 2);
    for (const address of this.buckets.keys()) {
      if (drop-- <= 0) break;
      this.buckets.delete(address);
    }
  }
}

/** Delivery ids seen within `windowMs`, at most `max` of them (the oldest go first). */
export class RecentDeliveries {
  private readonly seen = new Map<string, number>();

  constructor(
    private readonly windowMs: number,
    private readonly now: () => number = Date.now,
    private readonly max = 10_000,
  ) {}

  /** True when `id` was already recorded within the window; otherwise records it and answers false. */
  seenBefore(id: string): boolean {
    const now = this.now();
    for (const [old, at] of this.seen) {
      if (now - at < this.windowMs && this.seen.size < this.max) break;
      this.seen.delete(old);
    }
    const at = this.seen.get(id);
    if (at !== undefined && now - at < this.windowMs) return true;
    this.seen.delete(id);
    this.seen.set(id, now);
    return false;
  }
}

const SIGNATURE_FORMAT = /^sha256=[0-9a-f]{64}$/i;

/** Whether an X-Hub-Signature-256 header value has the one shape GitHub sends (so the body is worth reading). */
export function wellFormedSignature(value: string | string[] | undefined): value is string {
  return typeof value === 'string' && SIGNATURE_FORMAT.test(value);
}

/** Delivery ids GitHub sends are GUIDs; anything else is not remembered (and not trusted to deduplicate). */
export function deliveryIdOf(value: string | string[] | undefined): string | undefined {
  return typeof value === 'string' && /^[0-9A-Za-z-]{1,64}$/.test(value) ? value : undefined;
}
