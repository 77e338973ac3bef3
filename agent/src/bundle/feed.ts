// A site's gateway hands its nodes the site's bundle head, so node agents never ask the core: the gateway
// keeps the head whose layer it verified last (HeadBroadcast) and answers long-polls with it as soon as it
// changes; a node (GatewayFeed) long-polls its gateway over the private network, authenticated by the site's
// fan-out token, fetches the layer through the region's mirror (which the gateway's fetch filled) and still
// checks its signature itself with its own allowed signers. Requests to a core per revision grow with the
// number of sites, not hosts.
import { timingSafeEqual } from 'node:crypto';
import { backoffMs } from '../host/retry.js';
import { failureOf, httpRequest, type HttpResponse } from '../host/http.js';
import { RegistryError } from './oci.js';
import { HeadMessageSchema, type HeadMessage } from './schema.js';
import type { HeadFeed, SiteHead } from './source.js';

/** The head a gateway hands out: the last one it verified, and who waits for the next. */
export class HeadBroadcast {
  private head: SiteHead | undefined;
  private waiters = new Set<(head: SiteHead) => void>();

  current(): SiteHead | undefined {
    return this.head;
  }

  /** A head whose layer's signature checked out; waiters are answered when it is new. */
  offer(head: SiteHead | undefined): void {
    if (!head || head.digest === this.head?.digest) return;
    this.head = head;
    for (const w of this.waiters) w(head);
    this.waiters.clear();
  }

  /** The head once it is not `after` (at once when it already is not), or undefined after `timeoutMs`. */
  wait(after: string | undefined, timeoutMs: number, signal?: AbortSignal): Promise<SiteHead | undefined> {
    if (this.head && this.head.digest !== after) return Promise.resolve(this.head);
    // A node that went away before its wait began gets no waiter: an abort that already happened never fires.
    if (signal?.aborted) return Promise.resolve(undefined);
    return new Promise((resolve) => {
      const done = (head: SiteHead | undefined) => {
        clearTimeout(timer);
        this.waiters.delete(done);
        signal?.removeEventListener('abort', abort);
        resolve(head);
      };
      const abort = () => done(undefined);
      const timer = setTimeout(() => done(undefined), timeoutMs);
      signal?.addEventListener('abort', abort);
      this.waiters.add(done);
    });
  }
}

/** Whether `given` (an Authorization header) carries `token` as a Bearer token (the scheme in any case); constant time. */
export function bearerMatches(given: string | undefined, token: string): boolean {
  const m = /^Bearer (.+)$/i.exec(given ?? '');
  if (!m) return false;
  const a = Buffer.from(m[1]!);
  const b = Buffer.from(token);
  return a.length === b.length && timingSafeEqual(a, b);
}

export function headMessage(head: SiteHead): HeadMessage {
  return { digest: head.digest, manifest: head.manifest.toString('base64') };
}

function headOf(m: unknown, host: string): SiteHead {
  const parsed = HeadMessageSchema.safeParse(m);
  if (!parsed.success) throw new RegistryError(`The gateway at ${host} answered something that is not a bundle head.`);
  return { digest: parsed.data.digest, manifest: Buffer.from(parsed.data.manifest, 'base64') };
}

/** The path the gateway serves heads on. */
const FANOUT_PATH = '/v1/bundle';
/** How long a gateway holds a long-poll open with nothing new. */
const LONG_POLL_MS = 20_000;
/** The longest wait of a node before it connects to its gateway again. */
const RECONNECT_MAX_MS = 60_000;

/** A node's view of its gateway: the head now, and a long-poll loop that calls back when it changes. */
export class GatewayFeed implements HeadFeed {
  private last: SiteHead | undefined;

  constructor(
    readonly url: string,
    private readonly token: string,
  ) {}

  private async ask(after: string | undefined, waitMs: number, signal?: AbortSignal): Promise<SiteHead | undefined> {
    const u = new URL(FANOUT_PATH, this.url);
    if (after) u.searchParams.set('after', after);
    u.searchParams.set('wait', String(waitMs));
    let res: HttpResponse;
    try {
      // The gateway holds a long-poll for up to `waitMs`: silence for longer than that and a margin is a failure.
      res = await httpRequest(u, { headers: { authorization: `Bearer ${this.token}` }, timeoutMs: waitMs + 10_000, ...(signal ? { signal } : {}) });
    } catch (cause) {
      throw new RegistryError(`Cannot reach the site's gateway at ${u.host} (${failureOf(cause)}).`, { cause, unreachable: true });
    }
    if (res.status !== 200) await res.body.cancel();
    if (res.status === 204) return undefined;
    if (res.status === 401)
      throw new RegistryError(`The gateway at ${u.host} refused this node's fan-out token: give every agent of the site the same --fanout-token.`);
    if (res.status !== 200) {
      throw new RegistryError(`The gateway at ${u.host} answered HTTP ${res.status} for the site's bundle.`, { unreachable: res.status >= 500 });
    }
    const head = headOf(await res.json().catch(() => undefined), u.host);
    this.last = head;
    return head;
  }

  /** The gateway's head now (no waiting); the last one seen when the gateway has none yet. */
  async current(): Promise<SiteHead | undefined> {
    return (await this.ask(undefined, 0)) ?? this.last;
  }

  /**
   * Long-poll until `signal` aborts; `changed` is called for every new head. Not a retry with an end: after a
   * failure it connects again, as the one retry policy backs off (host/retry.ts: about `retryMs` at first,
   * doubling up to RECONNECT_MAX_MS while the gateway stays away, with jitter so a site's nodes spread out).
   */
  async watch(changed: (head: SiteHead) => void, signal: AbortSignal, retryMs = 5000): Promise<void> {
    let failures = 0;
    while (!signal.aborted) {
      try {
        const before = this.last?.digest;
        const head = await this.ask(before, LONG_POLL_MS, signal);
        failures = 0;
        if (head && head.digest !== before) changed(head);
      } catch {
        if (signal.aborted) return;
        const wait = backoffMs({ baseMs: retryMs, maxMs: Math.max(retryMs, RECONNECT_MAX_MS) }, ++failures, Math.random());
        await new Promise((r) => setTimeout(r, wait).unref());
      }
    }
  }
}
