// The client end of the signed transport between a site's agents and their parent: a node posting its report to
// its gateway, a gateway posting its site's report to its core, a parent pushing steering to a child. One JSON
// POST, signed with the site's token (signing.ts), a fresh delivery id per attempt; network failures, 5xx and 429
// are tried again (host/retry.ts), any other answer is the caller's. The HTTP client is injected: on an agent it
// is host/http.ts's httpRequest (node:http, not fetch, for memory).
import { randomUUID } from 'node:crypto';
import type { Logger } from 'pino';
import { MirrornetError, messageOf } from '../../errors.js';
import { describeNetworkError, networkErrorCode } from '../../host/network.js';
import { retrying, retryAfterMs, type RetryPolicy } from '../../host/retry.js';
import { AGENT_VERSION } from '../../version.js';
import { MAX_SITE_BODY_BYTES, signSiteRequest } from './signing.js';

/** What the uplink needs of an HTTP client (host/http.ts's httpRequest is one). */
export type UplinkRequest = (
  url: string,
  init: { method: string; headers: Record<string, string>; body: Buffer; timeoutMs: number },
) => Promise<{ status: number; headers: { get(name: string): string | null }; body: AsyncIterable<Buffer> & { cancel(): Promise<void> } }>;

export interface SiteUplinkOptions {
  /** The parent's (or the child's, for a push) base URL: its --listen URL. */
  url: string;
  site: string;
  /** The site's token (never logged). */
  token: string;
  request: UplinkRequest;
  /** No answer (or no data) for this long ends an attempt; default 10 s. */
  timeoutMs?: number;
  /** Default: 3 attempts, 1 s doubling up to 10 s. */
  retry?: Partial<RetryPolicy>;
  now?: () => number;
  /** Default: a random UUID. */
  deliveryId?: () => string;
  log?: Logger;
}

/** An answer: its status, its body parsed when it is JSON, else its text (first 1 KiB). */
export interface UplinkAnswer {
  status: number;
  json?: unknown;
  text?: string;
}

/** An answer's body is read up to this many bytes; a longer one is cut (and is no JSON). */
const MAX_ANSWER_BYTES = 1024 * 1024;

const DEFAULT_RETRY: RetryPolicy = { attempts: 3, baseMs: 1000, maxMs: 10_000 };

async function answerOf(res: Awaited<ReturnType<UplinkRequest>>): Promise<UplinkAnswer> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const c of res.body) {
    size += c.length;
    if (size > MAX_ANSWER_BYTES) {
      await res.body.cancel();
      return { status: res.status, text: 'the answer was longer than 1 MiB' };
    }
    chunks.push(c);
  }
  const text = Buffer.concat(chunks).toString('utf8');
  if (/\bjson\b/i.test(res.headers.get('content-type') ?? '')) {
    try {
      return { status: res.status, json: JSON.parse(text) as unknown };
    } catch {
      // not JSON after all: the text says what it is
    }
  }
  return { status: res.status, text: text.slice(0, 1024) };
}

type Failure = { answer: UplinkAnswer } | { err: unknown };

/** Posts signed JSON to one agent. */
export class SiteUplink {
  private readonly base: string;

  constructor(private readonly opts: SiteUplinkOptions) {
    this.base = opts.url.replace(/\/+$/, '');
  }

  /**
   * POST `body` as JSON to `path` (e.g. '/v1/reports'), signed. Resolves with the answer — after the last attempt
   * too, when that was a 5xx or 429 — and throws a MirrornetError when no attempt got an answer, or before sending
   * a body over MAX_SITE_BODY_BYTES (4 MiB).
   */
  async post(path: string, body: object): Promise<UplinkAnswer> {
    const url = `${this.base}${path}`;
    const bytes = Buffer.from(JSON.stringify(body), 'utf8');
    if (bytes.length > MAX_SITE_BODY_BYTES) {
      throw new MirrornetError(
        `The request to ${url} is ${Math.ceil(bytes.length / 1024)} KiB, more than the ${MAX_SITE_BODY_BYTES / 1024} KiB an agent accepts; ` +
          'it was not sent. This is a bug in what the agent puts in it: report it.',
      );
    }
    const now = this.opts.now ?? Date.now;
    const deliveryId = this.opts.deliveryId ?? randomUUID;
    const timeoutMs = this.opts.timeoutMs ?? 10_000;
    const policy: RetryPolicy = { ...DEFAULT_RETRY, ...this.opts.retry };
    const result = await retrying<UplinkAnswer, Failure>(
      policy,
      async () => {
        const headers = {
          'content-type': 'application/json',
          'user-agent': `mirrornet/${AGENT_VERSION}`,
          ...signSiteRequest(this.opts.token, this.opts.site, bytes, now(), deliveryId()),
        };
        let res;
        try {
          res = await this.opts.request(url, { method: 'POST', headers, body: bytes, timeoutMs });
        } catch (err) {
          if (networkErrorCode(err) === undefined) throw err;
          return { ok: false, failure: { err }, retryable: true };
        }
        const answer = await answerOf(res);
        if (answer.status < 500 && answer.status !== 429) return { ok: true, value: answer };
        return { ok: false, failure: { answer }, retryable: true, retryAfterMs: retryAfterMs(res.headers.get('retry-after'), now()) };
      },
      (failure, attempt, delayMs) =>
        this.opts.log?.warn(
          { url, attempt, delayMs, ...('answer' in failure ? { status: failure.answer.status } : { code: networkErrorCode(failure.err) }) },
          'site request failed; trying again',
        ),
    );
    if (result.ok) return result.value;
    if ('answer' in result.failure) return result.failure.answer;
    const err = result.failure.err;
    throw (
      describeNetworkError('the agent', url, err) ??
      new MirrornetError(`Cannot reach the agent at ${url} (${result.attempts} attempts): ${messageOf(err)}`, { cause: err })
    );
  }
}
