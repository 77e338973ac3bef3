// The send limits each chat vendor documents for one robot (webhook URL). Both the validator (a
// channel's rateLimit.perMinute must stay within them) and the chat dispatcher (a channel's default
// rate limit) need them, so they live here, below both, as plain data.
import type { NotificationChannel } from './schema.js';

/** A request limit the vendor documents for one robot: at most `max` requests per `perMs`. */
export interface VendorLimit {
  max: number;
  perMs: number;
}

/** The documented limits per channel type (none for the generic webhook). */
export const CHAT_VENDOR_LIMITS: Readonly<Record<NotificationChannel['type'], readonly VendorLimit[]>> = {
  // "1 per second, short bursts allowed" for incoming webhooks.
  slack: [{ max: 60, perMs: 60_000 }],
  feishu: [
    { max: 100, perMs: 60_000 },
    { max: 5, perMs: 1_000 },
  ],
  dingtalk: [{ max: 20, perMs: 60_000 }],
  wecom: [{ max: 20, perMs: 60_000 }],
  webhook: [],
};

/** The documented per-minute limit of one robot of a vendor (undefined: none documented). */
export function vendorPerMinute(type: NotificationChannel['type']): number | undefined {
  return CHAT_VENDOR_LIMITS[type].find((l) => l.perMs === 60_000)?.max;
}
