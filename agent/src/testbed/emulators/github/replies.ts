// What the GitHub emulator's operations share: the call they get (the routed operation, its path
// parameters, the checked body), the reply they give, GitHub's error bodies (with the operation's docs URL)
// and list pages with GitHub's Link header.
import { GITHUB_DOCS, type Operation } from './openapi.js';
import type { GithubState } from './state.js';

export interface Reply {
  status: number;
  body?: unknown;
  headers?: Record<string, string>;
}

/** Thrown by a handler to answer at once. Not a MirrornetError: the stand-in's HTTP reply, not an error of mirrornet's. */
export class HttpReply extends Error {
  constructor(readonly reply: Reply) {
    super(`HTTP ${reply.status}`);
  }
}

/** A request routed to an operation and past authentication and body validation. */
export interface OperationCall {
  state: GithubState;
  op: Operation;
  params: Record<string, string>;
  url: URL;
  body: Record<string, unknown>;
  /** The request's time, as GitHub writes it. */
  now: string;
}

export type OperationHandler = (call: OperationCall) => Reply;

export function error(status: number, message: string, docsUrl = GITHUB_DOCS, extra: Record<string, unknown> = {}): Reply {
  return { status, body: { message, ...extra, documentation_url: docsUrl, status: String(status) } };
}

export function validationFailed(op: Operation, resource: string, field: string, message: string, code = 'custom'): Reply {
  return error(422, 'Validation Failed', op.docsUrl, { errors: [{ resource, code, field, message }] });
}

/** One page of a list (`per_page`, `page`), with GitHub's Link header. */
export function paginate<T>(items: T[], url: URL, origin: string): Reply {
  const perPage = Math.min(100, Math.max(1, Number(url.searchParams.get('per_page') ?? 30) || 30));
  const page = Math.max(1, Number(url.searchParams.get('page') ?? 1) || 1);
  const last = Math.max(1, Math.ceil(items.length / perPage));
  const slice = items.slice((page - 1) * perPage, page * perPage);
  const link = (p: number) => {
    const u = new URL(url.toString());
    u.searchParams.set('per_page', String(perPage));
    u.searchParams.set('page', String(p));
    return `<${origin}${u.pathname}${u.search}>`;
  };
  const rels: string[] = [];
  if (page > 1) rels.push(`${link(page - 1)}; rel="prev"`);
  if (page < last) rels.push(`${link(page + 1)}; rel="next"`, `${link(last)}; rel="last"`);
  if (page > 1) rels.push(`${link(1)}; rel="first"`);
  return { status: 200, body: slice, headers: rels.length ? { link: rels.join(', ') } : {} };
}
