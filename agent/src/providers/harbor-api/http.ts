// How the Harbor client talks HTTP: basic auth with the password resolved on first use, the one retry
// policy (host/retry.ts, honouring Retry-After) on 429, 5xx and connection resets (a POST only when that
// cannot duplicate anything), responses checked with zod, lists paged through with page_size=100 following
// the `Link: <...>; rel="next"` header, creates that survive a retried POST, deletes that accept a 404. It
// never logs or puts into an error the password, a robot secret or any request body (they carry secrets);
// logs hold method, path, status and attempt only.
import type { Logger } from 'pino';
import type { z } from 'zod';
import { httpRequest, type HttpResponse } from '../../host/http.js';
import { retrying, retryAfterMs, type Attempt, type RetryPolicy } from '../../host/retry.js';
import { HarborApiError, httpError, isHarborError, networkCode } from './errors.js';

export const API_PREFIX = '/api/v2.0';
const PAGE_SIZE = 100;

export interface HarborClientOptions {
  /** Harbor's URL (its external URL, or an override); `/api/v2.0` may be included or not. */
  url: string;
  username: string;
  /** The password, or how to get it (resolved on first use, never logged). */
  password: string | (() => Promise<string>);
  /** The HTTP client (default host/http.ts: node:http, not fetch, for the agent's memory). */
  http?: typeof httpRequest;
  /** Injectable for tests (default setTimeout). */
  sleep?: (ms: number) => Promise<void>;
  random?: () => number;
  /** Retries after the first attempt (default 4). */
  retries?: number;
  baseDelayMs?: number;
  maxDelayMs?: number;
  timeoutMs?: number;
  log?: Logger;
  userAgent?: string;
}

/** `idempotent`: retried; `create`: a POST whose duplicate is a 409, so it may be retried; `once`: not retried. */
export type RetryMode = 'idempotent' | 'create' | 'once';

export interface HarborResponse {
  status: number;
  headers: HttpResponse['headers'];
  text: string;
  attempts: number;
}

/** The id at the end of a Location header (`.../projects/12`). */
export function idFromLocation(location: string | null): number | undefined {
  const m = location ? /\/(\d+)\/?$/.exec(location) : null;
  return m ? Number(m[1]) : undefined;
}

/** The rel="next" URL of a Link header (`<url>; rel="prev" , <url>; rel="next"`). */
export function nextLink(header: string | null): string | undefined {
  if (!header) return undefined;
  for (const part of header.split(/,(?=\s*<)/)) {
    const m = /<([^>]*)>\s*;(.*)$/.exec(part.trim());
    if (m && /\brel\s*=\s*"?next"?/i.test(m[2]!)) return m[1];
  }
  return undefined;
}

export class HarborHttp {
  readonly baseUrl: string;
  private readonly origin: string;
  /** The API root: baseUrl + /api/v2.0. */
  private readonly api: string;
  private readonly http: typeof httpRequest;
  private readonly retry: RetryPolicy;
  private readonly timeoutMs: number;
  private password?: Promise<string>;

  constructor(private readonly opts: HarborClientOptions) {
    const u = new URL(opts.url);
    const path = u.pathname.replace(/\/+$/, '').replace(/\/api\/v2\.0$/, '');
    this.origin = u.origin;
    this.baseUrl = `${u.origin}${path}`;
    this.api = `${this.baseUrl}${API_PREFIX}`;
    this.http = opts.http ?? httpRequest;
    this.retry = {
      attempts: 1 + Math.max(0, opts.retries ?? 4),
      baseMs: opts.baseDelayMs ?? 250,
      maxMs: opts.maxDelayMs ?? 8_000,
      ...(opts.sleep ? { sleep: opts.sleep } : {}),
      ...(opts.random ? { random: opts.random } : {}),
    };
    this.timeoutMs = opts.timeoutMs ?? 30_000;
  }

  private async authorization(): Promise<string> {
    this.password ??= Promise.resolve(typeof this.opts.password === 'function' ? this.opts.password() : this.opts.password);
    let pw: string;
    try {
      pw = await this.password;
    } catch (err) {
      this.password = undefined;
      throw err;
    }
    return `Basic ${Buffer.from(`${this.opts.username}:${pw}`).toString('base64')}`;
  }

  /** The admin password (resolved once), the key of the secrets' fingerprints. */
  async adminPassword(): Promise<string> {
    this.password ??= Promise.resolve(typeof this.opts.password === 'function' ? this.opts.password() : this.opts.password);
    return this.password;
  }

  /** One call with bounded retries (host/retry.ts). `create`: a POST whose duplicate is a 409, so it may be retried. */
  async request(
    method: string,
    pathAndQuery: string,
    opts: { body?: unknown; headers?: Record<string, string>; retry?: RetryMode } = {},
  ): Promise<HarborResponse> {
    const mode: RetryMode = opts.retry ?? (method === 'POST' ? 'once' : 'idempotent');
    const url = pathAndQuery.startsWith('http') ? pathAndQuery : `${this.api}${pathAndQuery}`;
    const path = new URL(url).pathname;
    const headers: Record<string, string> = {
      Accept: 'application/json',
      'User-Agent': this.opts.userAgent ?? 'mirrornet-agent',
      ...(opts.body !== undefined ? { 'Content-Type': 'application/json' } : {}),
      ...(opts.headers ?? {}),
      Authorization: await this.authorization(),
    };
    const body = opts.body === undefined ? undefined : JSON.stringify(opts.body);
    const log = this.opts.log;
    const once = async (attempt: number): Promise<Attempt<HarborResponse, HarborApiError>> => {
      const started = Date.now();
      let res: HttpResponse;
      try {
        res = await this.http(url, {
          method,
          headers,
          ...(body !== undefined ? { body } : {}),
          timeoutMs: this.timeoutMs,
          redirect: 'manual',
        });
      } catch (err) {
        const code = networkCode(err);
        // A POST that is not a create is retried only when it surely never reached Harbor.
        const failure = new HarborApiError(method, path, 0, code, '', this.baseUrl, attempt, { cause: err });
        return { ok: false, failure, retryable: mode !== 'once' || code === 'ECONNREFUSED' };
      }
      const text = await res.text().catch(() => '');
      log?.debug({ method, path, status: res.status, attempt, ms: Date.now() - started }, 'Harbor request');
      if (res.status >= 200 && res.status < 300) return { ok: true, value: { status: res.status, headers: res.headers, text, attempts: attempt } };
      const transient = res.status === 429 || res.status === 500 || res.status === 502 || res.status === 503 || res.status === 504;
      const retryAfter = retryAfterMs(res.headers.get('retry-after'));
      return {
        ok: false,
        failure: httpError(method, path, res.status, text, this.baseUrl, attempt),
        retryable: transient && (mode !== 'once' || res.status === 429 || res.status === 503),
        ...(retryAfter !== undefined ? { retryAfterMs: retryAfter } : {}),
      };
    };
    const done = await retrying(this.retry, once, (failure, attempt, delay) => {
      const why = failure.status ? { status: failure.status } : { code: failure.code };
      log?.warn({ method, path, ...why, attempt, delayMs: delay }, 'Harbor request failed; retrying');
    });
    if (!done.ok) throw done.failure;
    return done.value;
  }

  /** The body of an answer, checked against its schema. */
  parse<S extends z.ZodType>(schema: S, res: HarborResponse, method: string, path: string): z.infer<S> {
    let data: unknown;
    try {
      data = JSON.parse(res.text);
    } catch (cause) {
      throw new HarborApiError(method, path, res.status, 'INVALID_RESPONSE', 'not JSON', this.baseUrl, res.attempts, { cause });
    }
    const r = schema.safeParse(data);
    if (!r.success) {
      const issue = r.error.issues[0];
      throw new HarborApiError(
        method,
        path,
        res.status,
        'INVALID_RESPONSE',
        `${issue?.path.join('.') ?? ''}: ${issue?.message ?? 'unexpected shape'}`,
        this.baseUrl,
        res.attempts,
        { cause: r.error },
      );
    }
    return r.data;
  }

  /** Every page of a list: page_size=100, following Link rel="next". */
  async listAll<S extends z.ZodType>(path: string, item: S, query: Record<string, string> = {}): Promise<z.infer<S>[]> {
    const q = new URLSearchParams({ ...query, page: '1', page_size: String(PAGE_SIZE) });
    let next: string | undefined = `${this.api}${path}?${q.toString()}`;
    const out: z.infer<S>[] = [];
    const seen = new Set<string>();
    const arraySchema = (item as z.ZodType).array();
    while (next && !seen.has(next) && seen.size < 1000) {
      seen.add(next);
      const res = await this.request('GET', next);
      const page = this.parse(arraySchema, res, 'GET', path) as z.infer<S>[];
      out.push(...page);
      const link = nextLink(res.headers.get('link'));
      next = link && page.length ? new URL(link, this.origin).toString() : undefined;
    }
    return out;
  }

  /** POST that creates a named object; a 409 after a retried attempt means our earlier attempt got through. */
  async create(
    path: string,
    body: unknown,
    lookup: () => Promise<number | undefined>,
    headers?: Record<string, string>,
  ): Promise<{ id: number | undefined; res?: HarborResponse }> {
    try {
      const res = await this.request('POST', path, { body, retry: 'create', ...(headers ? { headers } : {}) });
      return { id: idFromLocation(res.headers.get('location')) ?? (await lookup()), res };
    } catch (err) {
      if (isHarborError(err, 'conflict') && err.retried) {
        const id = await lookup();
        if (id !== undefined) {
          this.opts.log?.info({ path }, 'Harbor create was retried and the object exists: using it');
          return { id };
        }
      }
      throw err;
    }
  }

  /** DELETE; false when the object was already gone. */
  async remove(path: string, headers?: Record<string, string>): Promise<boolean> {
    try {
      await this.request('DELETE', path, headers ? { headers } : {});
      return true;
    } catch (err) {
      if (isHarborError(err, 'not-found')) return false;
      throw err;
    }
  }
}
