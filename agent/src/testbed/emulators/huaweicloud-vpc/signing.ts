// SDK-HMAC-SHA256, exactly as @huaweicloud/huaweicloud-sdk-core's AKSKSigner computes it (auth/AKSKSigner.js):
//   canonical request = METHOD \n URI \n QUERY \n HEADERS \n SIGNED-HEADERS \n PAYLOAD-HASH
//   - URI: the request path split on `/`, every segment encoded with the SDK's urlEncode (RFC 3986
//     unreserved characters kept, everything else %XX in upper case; applied to the path as sent, so an
//     already-encoded `%` becomes `%25`), and a trailing `/` always appended;
//   - QUERY: keys sorted (JavaScript default sort), `key=value` with both encoded, the values of a repeated
//     key sorted, joined by `&`;
//   - HEADERS: `name:value\n` for each signed header, names lower case, in the signed-header order;
//   - PAYLOAD-HASH: the `X-Sdk-Content-Sha256` header when present (e.g. `UNSIGNED-PAYLOAD`), else the sha256
//     hex of the body (the empty body hashes to e3b0c442...b855);
//   string to sign = `SDK-HMAC-SHA256\n<X-Sdk-Date>\n<sha256 hex of the canonical request>`;
//   Authorization: `SDK-HMAC-SHA256 Access=<ak>, SignedHeaders=<a;b;c>, Signature=<hex hmac-sha256(sk)>`.
// The emulator verifies with `verifySignature`; tests craft raw requests (good and bad) with `signRequest`.
import { createHash, createHmac, timingSafeEqual } from 'node:crypto';

const ALGORITHM = 'SDK-HMAC-SHA256';
const EMPTY_BODY_SHA256 = 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855';
/** How far X-Sdk-Date may be from the gateway's clock (the API gateway allows 15 minutes). */
export const MAX_CLOCK_SKEW_MS = 15 * 60 * 1000;

/** The SDK's urlEncode: RFC 3986 unreserved characters stay, everything else is percent-encoded (UTF-8). */
function sdkUrlEncode(value: string): string {
  return encodeURIComponent(value).replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);
}

export function canonicalUri(path: string): string {
  const encoded = path
    .split('/')
    .map((segment) => sdkUrlEncode(segment))
    .join('/');
  return encoded.endsWith('/') ? encoded : `${encoded}/`;
}

/** `query` is decoded: key -> value(s). */
function canonicalQuery(query: ReadonlyMap<string, readonly string[]> | Record<string, string | readonly string[]>): string {
  const entries: [string, readonly string[]][] =
    query instanceof Map
      ? [...(query as ReadonlyMap<string, readonly string[]>).entries()]
      : Object.entries(query).map(([k, v]) => [k, typeof v === 'string' ? [v] : v] as [string, readonly string[]]);
  const keys = entries.map(([k]) => k).sort();
  const byKey = new Map(entries);
  const parts: string[] = [];
  for (const key of keys) {
    const values = [...(byKey.get(key) ?? [])];
    if (values.length > 1) values.sort();
    for (const v of values) parts.push(`${sdkUrlEncode(key)}=${sdkUrlEncode(v)}`);
  }
  return parts.join('&');
}

/** Decode a raw query string (as sent on the wire) into key -> values, in order of appearance. */
function parseQuery(raw: string): Map<string, string[]> {
  const out = new Map<string, string[]>();
  for (const [k, v] of new URLSearchParams(raw)) {
    const list = out.get(k) ?? [];
    list.push(v);
    out.set(k, list);
  }
  return out;
}

function sha256Hex(data: string | Buffer): string {
  return createHash('sha256').update(data).digest('hex');
}

function hmacHex(key: string, data: string): string {
  return createHmac('sha256', key).update(data).digest('hex');
}

interface CanonicalInput {
  method: string;
  /** The request path as sent (without the query). */
  path: string;
  query: ReadonlyMap<string, readonly string[]>;
  /** Lower-case header name -> value. */
  headers: Readonly<Record<string, string | undefined>>;
  signedHeaders: readonly string[];
  body: string | Buffer;
}

function canonicalRequest(input: CanonicalInput): string {
  const headerLines = input.signedHeaders.map((h) => `${h}:${input.headers[h] ?? ''}\n`).join('');
  const payload = input.headers['x-sdk-content-sha256'] ?? (input.body.length ? sha256Hex(input.body) : EMPTY_BODY_SHA256);
  return [input.method.toUpperCase(), canonicalUri(input.path), canonicalQuery(input.query), headerLines, input.signedHeaders.join(';'), payload].join('\n');
}

function stringToSign(date: string, canonical: string): string {
  return [ALGORITHM, date, sha256Hex(canonical)].join('\n');
}

/** `YYYYMMDDTHHmmssZ` (UTC), the X-Sdk-Date format. */
function formatSdkDate(ms: number): string {
  return new Date(ms)
    .toISOString()
    .replace(/[-:]/g, '')
    .replace(/\.\d{3}Z$/, 'Z');
}

export function parseSdkDate(text: string): number | undefined {
  const m = /^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z$/.exec(text);
  if (!m) return undefined;
  const ms = Date.UTC(Number(m[1]), Number(m[2]) - 1, Number(m[3]), Number(m[4]), Number(m[5]), Number(m[6]));
  return Number.isNaN(ms) ? undefined : ms;
}

interface ParsedAuthorization {
  ak: string;
  signedHeaders: string[];
  signature: string;
}

function parseAuthorization(header: string | undefined): ParsedAuthorization | undefined {
  if (!header) return undefined;
  const m = /^SDK-HMAC-SHA256\s+Access=([^,\s]+),\s*SignedHeaders=([^,\s]+),\s*Signature=([0-9a-fA-F]+)\s*$/.exec(header);
  if (!m) return undefined;
  return { ak: m[1]!, signedHeaders: m[2]!.split(';').filter(Boolean), signature: m[3]!.toLowerCase() };
}

export type VerifyFailure =
  | 'missing-authorization'
  | 'malformed-authorization'
  | 'unknown-ak'
  | 'missing-date'
  | 'bad-date'
  | 'expired'
  | 'unsigned-required-header'
  | 'signature-mismatch';

export type VerifyResult = { ok: true; ak: string } | { ok: false; ak?: string; reason: VerifyFailure };

export interface VerifyInput {
  method: string;
  path: string;
  rawQuery: string;
  headers: Readonly<Record<string, string | string[] | undefined>>;
  body: Buffer;
  /** The SK of an AK, or undefined when the AK is unknown. */
  secretOf(ak: string): string | undefined;
  now: number;
  maxSkewMs?: number;
}

function flatHeaders(headers: VerifyInput['headers']): Record<string, string | undefined> {
  const out: Record<string, string | undefined> = {};
  for (const [k, v] of Object.entries(headers)) out[k.toLowerCase()] = Array.isArray(v) ? v.join(',') : v;
  return out;
}

export function verifySignature(input: VerifyInput): VerifyResult {
  const headers = flatHeaders(input.headers);
  const raw = headers['authorization'];
  if (!raw) return { ok: false, reason: 'missing-authorization' };
  const auth = parseAuthorization(raw);
  if (!auth) return { ok: false, reason: 'malformed-authorization' };
  const sk = input.secretOf(auth.ak);
  if (sk === undefined) return { ok: false, reason: 'unknown-ak' };
  const date = headers['x-sdk-date'];
  if (!date) return { ok: false, ak: auth.ak, reason: 'missing-date' };
  const when = parseSdkDate(date);
  if (when === undefined) return { ok: false, ak: auth.ak, reason: 'bad-date' };
  if (Math.abs(input.now - when) > (input.maxSkewMs ?? MAX_CLOCK_SKEW_MS)) return { ok: false, ak: auth.ak, reason: 'expired' };
  if (!auth.signedHeaders.includes('host') || !auth.signedHeaders.includes('x-sdk-date')) return { ok: false, ak: auth.ak, reason: 'unsigned-required-header' };
  const canonical = canonicalRequest({
    method: input.method,
    path: input.path,
    query: parseQuery(input.rawQuery),
    headers,
    signedHeaders: auth.signedHeaders,
    body: input.body,
  });
  const expected = Buffer.from(hmacHex(sk, stringToSign(date, canonical)), 'hex');
  const given = Buffer.from(auth.signature, 'hex');
  if (expected.length !== given.length || !timingSafeEqual(expected, given)) return { ok: false, ak: auth.ak, reason: 'signature-mismatch' };
  return { ok: true, ak: auth.ak };
}

export interface SignInput {
  method: string;
  /** Full URL of the request (its host:port is signed as `host`). */
  url: string;
  headers?: Record<string, string>;
  body?: string;
  ak: string;
  sk: string;
  date?: number;
}

/**
 * Sign like the SDK does (same canonical request): returns the headers to send. For tests and tools that
 * talk to the emulator without the SDK.
 */
export function signRequest(input: SignInput): Record<string, string> {
  const url = new URL(input.url);
  const headers: Record<string, string> = {};
  for (const [k, v] of Object.entries(input.headers ?? {})) headers[k.toLowerCase()] = v;
  headers['host'] = url.host;
  headers['x-sdk-date'] = formatSdkDate(input.date ?? Date.now());
  const signed = Object.keys(headers).sort();
  const canonical = canonicalRequest({
    method: input.method,
    path: url.pathname,
    query: parseQuery(url.search.replace(/^\?/, '')),
    headers,
    signedHeaders: signed,
    body: input.body ?? '',
  });
  const signature = hmacHex(input.sk, stringToSign(headers['x-sdk-date'], canonical));
  return { ...headers, authorization: `${ALGORITHM} Access=${input.ak}, SignedHeaders=${signed.join(';')}, Signature=${signature}` };
}
