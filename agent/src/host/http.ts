// The HTTP client of long-running agents, on node:http and node:https: what the registry client
// (bundle/oci.ts), a node's view of its gateway (bundle/feed.ts), the site tree, the Huawei Cloud VPC, Harbor and
// GitHub clients need of fetch — a status, headers, a body read as it arrives, redirects (a registry may send
// blobs to its storage; the Authorization header is not sent to another host), a timeout — without loading
// fetch's implementation (undici), which costs an agent 20 to 30 MB of resident memory on its own.
import http, { type IncomingMessage } from 'node:http';
import https from 'node:https';
import { messageOf } from '../errors.js';
import { networkErrorCode } from './network.js';

export interface HttpInit {
  method?: string;
  headers?: Record<string, string>;
  body?: Buffer | string;
  /** No answer (or no data) for this long ends the request with a NoAnswer (TimeoutError). */
  timeoutMs: number;
  signal?: AbortSignal;
  /** `manual`: a redirect is the answer, as fetch's `redirect: 'manual'` (default: followed). */
  redirect?: 'follow' | 'manual';
}

export interface HttpResponse {
  status: number;
  /** `entries`: every header, lower-case names (for a client that copies them all, as octokit does). */
  headers: { get(name: string): string | null; entries?(): [string, string][] };
  /** The body as it arrives; `cancel()` drops the rest. */
  body: AsyncIterable<Buffer> & { cancel(): Promise<void> };
  text(): Promise<string>;
  json(): Promise<unknown>;
}

const REDIRECTS = new Set([301, 302, 303, 307, 308]);
const MAX_REDIRECTS = 5;

/** A request that ended without an answer: no data for `timeoutMs` (TimeoutError), or aborted by its signal (AbortError). */
export class NoAnswer extends Error {
  constructor(
    override readonly name: 'TimeoutError' | 'AbortError',
    message: string,
  ) {
    super(message);
  }
}

/** Why a request failed, for a sentence: the network's code (ECONNREFUSED ...), else the error's own words. */
export function failureOf(err: unknown): string {
  if (err instanceof NoAnswer) return err.message;
  return networkErrorCode(err) ?? messageOf(err);
}

function once(url: URL, init: HttpInit): Promise<IncomingMessage> {
  return new Promise((resolve, reject) => {
    const lib = url.protocol === 'https:' ? https : http;
    const body = init.body === undefined ? undefined : Buffer.isBuffer(init.body) ? init.body : Buffer.from(init.body);
    const req = lib.request(url, {
      method: init.method ?? 'GET',
      headers: { ...init.headers, ...(body ? { 'content-length': String(body.length) } : {}) },
      ...(init.signal ? { signal: init.signal } : {}),
    });
    req.setTimeout(init.timeoutMs, () => req.destroy(new NoAnswer('TimeoutError', `no answer within ${init.timeoutMs} ms`)));
    req.once('response', (res) => {
      // The same idle limit while the body arrives; cleared once it has, or a kept-alive socket's timer would keep
      // the process (`agent --once`) running until it fires.
      res.setTimeout(init.timeoutMs, () => res.destroy(new NoAnswer('TimeoutError', `the body stalled for ${init.timeoutMs} ms`)));
      res.once('close', () => req.setTimeout(0));
      // A HEAD's answer has no body to read: done at once, so its socket goes back to the pool.
      if ((init.method ?? 'GET') === 'HEAD') res.resume();
      resolve(res);
    });
    req.once('error', (err: Error) => reject(err.name === 'AbortError' ? new NoAnswer('AbortError', 'aborted') : err));
    req.end(body);
  });
}

function response(res: IncomingMessage): HttpResponse {
  const read = async (): Promise<Buffer> => {
    const chunks: Buffer[] = [];
    for await (const c of res) chunks.push(c as Buffer);
    return Buffer.concat(chunks);
  };
  const body = Object.assign(res as AsyncIterable<Buffer>, {
    cancel: async () => {
      res.resume();
    },
  });
  return {
    status: res.statusCode ?? 0,
    headers: {
      get: (name) => {
        const v = res.headers[name.toLowerCase()];
        return v === undefined ? null : Array.isArray(v) ? v.join(', ') : v;
      },
      entries: () => Object.entries(res.headers).flatMap(([k, v]) => (v === undefined ? [] : [[k, Array.isArray(v) ? v.join(', ') : v] as [string, string]])),
    },
    body,
    text: async () => (await read()).toString('utf8'),
    json: async () => JSON.parse((await read()).toString('utf8')) as unknown,
  };
}

/** One request, following redirects (303 as a GET; the Authorization header stays with the first host). */
export async function httpRequest(target: string | URL, init: HttpInit): Promise<HttpResponse> {
  let url = new URL(target);
  let current = init;
  for (let hop = 0; ; hop++) {
    const res = await once(url, current);
    const location = res.headers.location;
    if (init.redirect === 'manual' || !REDIRECTS.has(res.statusCode ?? 0) || !location || hop >= MAX_REDIRECTS) return response(res);
    res.resume();
    const next = new URL(location, url);
    const headers = { ...current.headers };
    // Credentials stay with the first host, whatever case the caller wrote them in (a signer's `Authorization`).
    if (next.host !== url.host) {
      for (const name of Object.keys(headers)) if (/^(authorization|cookie|proxy-authorization)$/i.test(name)) delete headers[name];
    }
    const { body: _body, ...rest } = current;
    current = res.statusCode === 303 ? { ...rest, method: 'GET', headers } : { ...current, headers };
    url = next;
  }
}

/**
 * fetch's shape on httpRequest, for libraries that take a fetch (octokit, the chat notifiers): status, url,
 * headers (get, and iterable), the body read whole as text or bytes; `redirect: 'manual'` and a signal are
 * honoured, a string body only. `timeoutMs` applies when the call gives no signal of its own, as idle time.
 */
export async function httpFetch(url: string | URL, init: RequestInit, timeoutMs: number): Promise<Response> {
  const { body } = init;
  if (body !== undefined && body !== null && typeof body !== 'string') throw new TypeError('httpFetch sends a string body only');
  const { signal } = init;
  let res: HttpResponse;
  const chunks: Buffer[] = [];
  try {
    res = await httpRequest(url, {
      method: init.method ?? 'GET',
      headers: (init.headers ?? {}) as Record<string, string>,
      ...(typeof body === 'string' ? { body } : {}),
      timeoutMs,
      ...(signal ? { signal } : {}),
      ...(init.redirect === 'manual' ? { redirect: 'manual' as const } : {}),
    });
    for await (const c of res.body) chunks.push(c);
  } catch (err) {
    // As fetch: a request ended by its signal fails with the signal's reason (a TimeoutError for AbortSignal.timeout).
    throw signal?.aborted ? signal.reason : err;
  }
  const bytes = Buffer.concat(chunks);
  const entries = res.headers.entries?.() ?? [];
  // Only what these libraries read of a Response; a cast, as the real class would load undici.
  return {
    status: res.status,
    ok: res.status >= 200 && res.status < 300,
    statusText: '',
    url: String(url),
    headers: { get: res.headers.get, has: (n: string) => res.headers.get(n) !== null, [Symbol.iterator]: () => entries[Symbol.iterator]() },
    text: async () => bytes.toString('utf8'),
    json: async () => JSON.parse(bytes.toString('utf8')) as unknown,
    arrayBuffer: async () => bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength),
  } as unknown as Response;
}
