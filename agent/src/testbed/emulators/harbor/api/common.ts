// What every Harbor API handler shares: the request and reply shapes, the environment handlers work in
// (state, clock, remote checks, the execution runner), body parsing with Harbor's error wording, the
// admin/read checks, path ids, and Harbor's `q=` queries and pagination (`page`, `page_size`,
// `X-Total-Count`, `Link`).
import type { z } from 'zod';
import type { EmulatorState, ExecutionRec, PolicyRec, RobotRec } from '../schema.js';
import { HarborFault, badRequest, forbidden } from '../store.js';

export const API_BASE = '/api/v2.0';

export type Principal = { kind: 'anonymous' } | { kind: 'admin'; username: string } | { kind: 'robot'; robot: RobotRec };

export interface RegistryCheck {
  type: string;
  insecure: boolean;
  credential?: { type: string; access_key: string; access_secret: string } | undefined;
}

/** Whether a remote registry answers (Harbor pings it on create and update). */
export type RemoteCheck = (url: string, registry: RegistryCheck) => Promise<boolean>;

export interface ApiEnv {
  state: EmulatorState;
  now(): Date;
  version: string;
  externalUrl: string;
  robotPrefix: string;
  remoteCheck: RemoteCheck;
  /** Runs a replication execution; the emulator records its result. */
  runExecution(policy: PolicyRec, execution: ExecutionRec): void;
}

export interface ApiRequest {
  method: string;
  /** Path below /api/v2.0, e.g. `/projects/library`. */
  path: string;
  query: URLSearchParams;
  headers: Record<string, string | string[] | undefined>;
  body: unknown;
  principal: Principal;
}

export interface Reply {
  status: number;
  body?: unknown;
  text?: string;
  headers?: Record<string, string>;
  /** Whether the state changed (the emulator persists it). */
  mutated?: boolean;
}

export const ok = (body?: unknown, headers?: Record<string, string>): Reply => ({
  status: 200,
  ...(body !== undefined ? { body } : {}),
  ...(headers ? { headers } : {}),
});
export const created = (location: string, body?: unknown): Reply => ({
  status: 201,
  headers: { Location: location },
  mutated: true,
  ...(body !== undefined ? { body } : {}),
});
export const done = (): Reply => ({ status: 200, mutated: true });

export function parse<S extends z.ZodType>(schema: S, body: unknown): z.infer<S> {
  if (body === undefined) throw new HarborFault(422, 'UNPROCESSABLE_ENTITY', 'validation failure list:\nbody in body is required');
  const r = schema.safeParse(body);
  if (!r.success) {
    const issue = r.error.issues[0];
    const where = issue?.path.length ? issue.path.join('.') : 'body';
    throw badRequest(`parsing body body from "" failed, because ${where}: ${issue?.message ?? 'invalid'}`);
  }
  return r.data;
}

export function requireAdmin(p: Principal): void {
  if (p.kind === 'anonymous') throw new HarborFault(401, 'UNAUTHORIZED', 'unauthorized');
  if (p.kind !== 'admin') throw forbidden();
}

export function requireRead(p: Principal): void {
  if (p.kind === 'anonymous') throw new HarborFault(401, 'UNAUTHORIZED', 'unauthorized');
}

export function idParam(raw: string, what: string): number {
  if (!/^\d+$/.test(raw)) throw new HarborFault(422, 'UNPROCESSABLE_ENTITY', `${what} in path must be of type int64: "${raw}"`);
  return Number(raw);
}

/** `q=name=foo,level=~sys`: exact (`k=v`) and fuzzy (`k=~v`) matches, values optionally quoted. */
export function parseQ(q: string | null): Map<string, { value: string; fuzzy: boolean }> {
  const out = new Map<string, { value: string; fuzzy: boolean }>();
  if (!q) return out;
  for (const part of q.split(',')) {
    const i = part.indexOf('=');
    if (i <= 0) throw badRequest(`invalid query string: ${q}`);
    const key = part.slice(0, i).trim();
    let value = part.slice(i + 1).trim();
    const fuzzy = value.startsWith('~');
    if (fuzzy) value = value.slice(1);
    value = value.replace(/^["'](.*)["']$/, '$1');
    out.set(key, { value, fuzzy });
  }
  return out;
}

export function matches(actual: string | number | undefined, m: { value: string; fuzzy: boolean }): boolean {
  const a = String(actual ?? '');
  return m.fuzzy ? a.includes(m.value) : a === m.value;
}

export function paginate<T>(items: T[], query: URLSearchParams, path: string): Reply {
  const pageRaw = query.get('page');
  const sizeRaw = query.get('page_size');
  const page = pageRaw === null ? 1 : Number(pageRaw);
  const size = sizeRaw === null ? 10 : Number(sizeRaw);
  if (!Number.isInteger(page))
    throw new HarborFault(422, 'UNPROCESSABLE_ENTITY', `validation failure list:\npage in query must be of type int64: "${pageRaw}"`);
  if (!Number.isInteger(size))
    throw new HarborFault(422, 'UNPROCESSABLE_ENTITY', `validation failure list:\npage_size in query must be of type int64: "${sizeRaw}"`);
  if (size > 100) throw new HarborFault(422, 'UNPROCESSABLE_ENTITY', 'validation failure list:\npage_size in query should be less than or equal to 100');
  if (size < 0 || page < 0) throw badRequest('page and page_size must not be negative');
  const p = Math.max(1, page);
  const s = size === 0 ? 10 : size;
  const total = items.length;
  const slice = items.slice((p - 1) * s, p * s);
  const link = (n: number, rel: string): string => {
    const q = new URLSearchParams(query);
    q.set('page', String(n));
    q.set('page_size', String(s));
    // Harbor unescapes the query of its links.
    let qs = q.toString();
    try {
      qs = decodeURIComponent(qs.replace(/\+/g, ' '));
    } catch {
      /* keep it escaped */
    }
    return `<${API_BASE}${path}?${qs}>; rel="${rel}"`;
  };
  const links: string[] = [];
  if (p > 1 && (p - 1) * s < total) links.push(link(p - 1, 'prev'));
  if (s * p < total) links.push(link(p + 1, 'next'));
  const headers: Record<string, string> = { 'X-Total-Count': String(total) };
  if (links.length) headers['Link'] = links.join(' , ');
  return { status: 200, body: slice, headers };
}

type Handler = (env: ApiEnv, req: ApiRequest, m: string[]) => Reply | Promise<Reply>;

export interface Route {
  pattern: RegExp;
  methods: Partial<Record<string, Handler>>;
}
