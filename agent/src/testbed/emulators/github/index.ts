// A local GitHub REST API emulator (real HTTP on 127.0.0.1) for what mirrornet reports: issue (pull
// request) comments and commit statuses. Every request is routed through GitHub's published OpenAPI
// description (@octokit/openapi): an unknown path or method is GitHub's 404, a path parameter of the wrong
// type a 404, a body that does not match the operation's requestBody schema GitHub's 422 "Invalid request."
// Then GitHub's own rules on top (blank or too-long comment bodies, 140-character status descriptions,
// unknown commits). Auth by token with GitHub's 401 bodies; primary and secondary rate limits (403/429 with
// `retry-after` or `x-ratelimit-reset`) and server errors can be injected; every request is logged
// (method, path, status, operation and body — never the token). `pathPrefix: '/api/v3'` serves it like
// GitHub Enterprise Server.
import { randomBytes, timingSafeEqual } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { GITHUB_DOCS, loadGithubSpec, type Operation, type OpenApiSpec, type SpecName } from './openapi.js';
import { listenOn, parseListen } from '../http.js';

export { loadGithubSpec, inspect, type OpenApiSpec, type Operation, type RouteMatch, type SpecName } from './openapi.js';

export interface GithubUser {
  login: string;
  id: number;
  type: 'Bot' | 'User';
}

export interface GithubEmulatorOptions {
  /** The token(s) accepted (Authorization: token X or Bearer X). */
  token: string | string[];
  /** `host:port`, `:port`, a port, or { host, port }; default 127.0.0.1 on a free port. */
  listen?: string | number | { host?: string; port?: number };
  /** Who the token is (comment authors, status creators); default github-actions[bot]. */
  user?: Partial<GithubUser>;
  /** Which description to check against (default api.github.com; e.g. ghes-3.19 for an Enterprise server). */
  spec?: SpecName;
  /** Base path of the API: '' (api.github.com) or '/api/v3' (GitHub Enterprise Server). */
  pathPrefix?: string;
  /** Repositories (owner/name) that exist; default: any. */
  repos?: string[];
}

export interface IssueComment {
  id: number;
  owner: string;
  repo: string;
  issueNumber: number;
  body: string;
  user: GithubUser;
  createdAt: string;
  updatedAt: string;
}

export interface CommitStatus {
  id: number;
  owner: string;
  repo: string;
  sha: string;
  state: 'error' | 'failure' | 'pending' | 'success';
  description: string | null;
  targetUrl: string | null;
  context: string;
  creator: GithubUser;
  createdAt: string;
  updatedAt: string;
}

export interface RequestLogEntry {
  time: string;
  method: string;
  /** Path without the query string (and with the path prefix). */
  path: string;
  query: string;
  status: number;
  /** The OpenAPI operationId the request was routed to. */
  operation?: string;
  /** The parsed JSON body, when there was one. */
  body?: unknown;
  /** The injected fault that answered, if any. */
  fault?: FaultKind;
}

export type FaultKind = 'secondary-rate-limit' | 'rate-limit' | 'error';

export interface FaultSpec {
  /** secondary-rate-limit: 403 (or 429) with retry-after; rate-limit: 403 with x-ratelimit-remaining 0; error: 5xx. */
  kind: FaultKind;
  /** Status to answer (secondary: 403 default or 429; rate-limit: 403 or 429; error: 500 default). */
  status?: number;
  /** Seconds: the retry-after header (secondary) or until x-ratelimit-reset (primary); default 1. */
  retryAfter?: number;
  /** How many matching requests it answers (default 1). */
  times?: number;
  method?: string;
  /** An operationId, a path template, a path prefix (without the API prefix), or a regular expression on the path. */
  path?: string | RegExp;
}

export interface GithubEmulator {
  /** Base URL for octokit's baseUrl (with the path prefix). */
  url: string;
  port: number;
  spec: OpenApiSpec;
  /** Every request, in order. */
  readonly requests: RequestLogEntry[];
  comments(owner?: string, repo?: string, issueNumber?: number): IssueComment[];
  statuses(owner?: string, repo?: string, sha?: string): CommitStatus[];
  /** Add a comment directly (e.g. other people's comments, to page through). */
  seedComment(c: { owner: string; repo: string; issueNumber: number; body: string; user?: Partial<GithubUser> }): IssueComment;
  fault(spec: FaultSpec): void;
  clearFaults(): void;
  /** Forget requests (the state stays). */
  clearLog(): void;
  close(): Promise<void>;
}

const SHA_RE = /^[0-9a-f]{40}$/;
const MAX_BODY_BYTES = 5 * 1024 * 1024;
const COMMENT_MAX_CHARS = 65536;
const STATUS_DESCRIPTION_MAX = 140;
const STATUSES_PER_CONTEXT = 1000;
const RATE_LIMIT = 5000;

interface Reply {
  status: number;
  body?: unknown;
  headers?: Record<string, string>;
}

class HttpReply extends Error {
  constructor(readonly reply: Reply) {
    super(`HTTP ${reply.status}`);
  }
}

function error(status: number, message: string, docsUrl = GITHUB_DOCS, extra: Record<string, unknown> = {}): Reply {
  return { status, body: { message, ...extra, documentation_url: docsUrl, status: String(status) } };
}

function validationFailed(op: Operation, resource: string, field: string, message: string, code = 'custom'): Reply {
  return error(422, 'Validation Failed', op.docsUrl, { errors: [{ resource, code, field, message }] });
}

function sameSecret(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}

function nodeId(prefix: string, id: number): string {
  return `${prefix}_${Buffer.from(`emu:${id}`).toString('base64url')}`;
}

export async function startGithubEmulator(opts: GithubEmulatorOptions): Promise<GithubEmulator> {
  const spec = loadGithubSpec(opts.spec ?? 'api.github.com');
  const tokens = Array.isArray(opts.token) ? opts.token : [opts.token];
  if (!tokens.length || tokens.some((t) => !t)) throw new Error('startGithubEmulator: a non-empty token is required');
  const prefix = (opts.pathPrefix ?? '').replace(/\/+$/, '');
  const user: GithubUser = { login: 'github-actions[bot]', id: 41898282, type: 'Bot', ...opts.user };
  const repos = opts.repos ? new Set(opts.repos.map((r) => r.toLowerCase())) : undefined;
  const requests: RequestLogEntry[] = [];
  const comments = new Map<number, IssueComment>();
  const statuses: CommitStatus[] = [];
  const faults: (FaultSpec & { left: number })[] = [];
  let nextCommentId = 1_000_000_001;
  let nextStatusId = 2_000_000_001;
  let used = 0;
  const resetAt = () => Math.floor(Date.now() / 1000) + 3600;
  let origin = '';

  const userJson = (u: GithubUser) => {
    const base = `${origin}${prefix}/users/${encodeURIComponent(u.login)}`;
    return {
      login: u.login,
      id: u.id,
      node_id: nodeId(u.type === 'Bot' ? 'BOT' : 'U', u.id),
      avatar_url: `${origin}/avatars/u/${u.id}?v=4`,
      gravatar_id: '',
      url: base,
      html_url: `${origin}/${encodeURIComponent(u.login)}`,
      followers_url: `${base}/followers`,
      following_url: `${base}/following{/other_user}`,
      gists_url: `${base}/gists{/gist_id}`,
      starred_url: `${base}/starred{/owner}{/repo}`,
      subscriptions_url: `${base}/subscriptions`,
      organizations_url: `${base}/orgs`,
      repos_url: `${base}/repos`,
      events_url: `${base}/events{/privacy}`,
      received_events_url: `${base}/received_events`,
      type: u.type,
      user_view_type: 'public',
      site_admin: false,
    };
  };
  const commentJson = (c: IssueComment) => ({
    url: `${origin}${prefix}/repos/${c.owner}/${c.repo}/issues/comments/${c.id}`,
    html_url: `${origin}/${c.owner}/${c.repo}/pull/${c.issueNumber}#issuecomment-${c.id}`,
    issue_url: `${origin}${prefix}/repos/${c.owner}/${c.repo}/issues/${c.issueNumber}`,
    id: c.id,
    node_id: nodeId('IC', c.id),
    user: userJson(c.user),
    created_at: c.createdAt,
    updated_at: c.updatedAt,
    author_association: 'NONE',
    body: c.body,
    reactions: {
      url: `${origin}${prefix}/repos/${c.owner}/${c.repo}/issues/comments/${c.id}/reactions`,
      total_count: 0,
      '+1': 0,
      '-1': 0,
      laugh: 0,
      hooray: 0,
      confused: 0,
      heart: 0,
      rocket: 0,
      eyes: 0,
    },
    performed_via_github_app: null,
  });
  const statusJson = (s: CommitStatus) => ({
    url: `${origin}${prefix}/repos/${s.owner}/${s.repo}/statuses/${s.sha}`,
    avatar_url: `${origin}/avatars/u/${s.creator.id}?v=4`,
    id: s.id,
    node_id: nodeId('SC', s.id),
    state: s.state,
    description: s.description,
    target_url: s.targetUrl,
    context: s.context,
    created_at: s.createdAt,
    updated_at: s.updatedAt,
    creator: userJson(s.creator),
  });

  /** One page of a list, with GitHub's Link header. */
  const paginate = <T>(items: T[], url: URL, op: Operation): Reply => {
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
    void op;
    return { status: 200, body: slice, headers: rels.length ? { link: rels.join(', ') } : {} };
  };

  const findComment = (params: Record<string, string>, op: Operation): IssueComment => {
    const c = comments.get(Number(params['comment_id']));
    if (!c || c.owner.toLowerCase() !== params['owner']!.toLowerCase() || c.repo.toLowerCase() !== params['repo']!.toLowerCase())
      throw new HttpReply(error(404, 'Not Found', op.docsUrl));
    return c;
  };

  const checkCommentBody = (op: Operation, body: string): void => {
    if (body.trim() === '') throw new HttpReply(validationFailed(op, 'IssueComment', 'data', 'Body cannot be blank', 'unprocessable'));
    if ([...body].length > COMMENT_MAX_CHARS)
      throw new HttpReply(validationFailed(op, 'IssueComment', 'data', `Body is too long (maximum is ${COMMENT_MAX_CHARS} characters)`, 'unprocessable'));
  };

  const handle = (op: Operation, params: Record<string, string>, url: URL, body: Record<string, unknown>): Reply => {
    const now = new Date().toISOString().replace(/\.\d{3}Z$/, 'Z');
    const owner = params['owner'];
    const repo = params['repo'];
    if (owner !== undefined && repo !== undefined && repos && !repos.has(`${owner}/${repo}`.toLowerCase())) return error(404, 'Not Found', op.docsUrl);
    switch (op.operationId) {
      case 'issues/list-comments': {
        const n = Number(params['issue_number']);
        const since = url.searchParams.get('since');
        const list = [...comments.values()]
          .filter((c) => c.owner.toLowerCase() === owner!.toLowerCase() && c.repo.toLowerCase() === repo!.toLowerCase() && c.issueNumber === n)
          .filter((c) => !since || c.updatedAt >= since)
          .sort((a, b) => a.id - b.id);
        return paginate(list.map(commentJson), url, op);
      }
      case 'issues/create-comment': {
        const text = body['body'] as string;
        checkCommentBody(op, text);
        const c: IssueComment = {
          id: nextCommentId++,
          owner: owner!,
          repo: repo!,
          issueNumber: Number(params['issue_number']),
          body: text,
          user,
          createdAt: now,
          updatedAt: now,
        };
        comments.set(c.id, c);
        const json = commentJson(c);
        return { status: 201, body: json, headers: { location: json.url } };
      }
      case 'issues/get-comment':
        return { status: 200, body: commentJson(findComment(params, op)) };
      case 'issues/update-comment': {
        const c = findComment(params, op);
        const text = body['body'] as string;
        checkCommentBody(op, text);
        if (c.user.login !== user.login) return error(403, 'Must have admin rights to Repository.', op.docsUrl);
        c.body = text;
        c.updatedAt = now;
        return { status: 200, body: commentJson(c) };
      }
      case 'issues/delete-comment': {
        const c = findComment(params, op);
        comments.delete(c.id);
        return { status: 204 };
      }
      case 'repos/create-commit-status': {
        const sha = params['sha']!;
        if (!SHA_RE.test(sha)) return error(422, `No commit found for SHA: ${sha}`, op.docsUrl);
        const description = (body['description'] as string | null | undefined) ?? null;
        if (description !== null && [...description].length > STATUS_DESCRIPTION_MAX) {
          return validationFailed(op, 'Status', 'description', `description is too long (maximum is ${STATUS_DESCRIPTION_MAX} characters)`);
        }
        const context = (body['context'] as string | undefined) ?? 'default';
        const same = statuses.filter(
          (s) =>
            s.sha === sha &&
            s.context.toLowerCase() === context.toLowerCase() &&
            s.owner.toLowerCase() === owner!.toLowerCase() &&
            s.repo.toLowerCase() === repo!.toLowerCase(),
        );
        if (same.length >= STATUSES_PER_CONTEXT)
          return validationFailed(op, 'Status', 'context', 'This SHA and context has reached the maximum number of statuses.');
        const s: CommitStatus = {
          id: nextStatusId++,
          owner: owner!,
          repo: repo!,
          sha,
          state: body['state'] as CommitStatus['state'],
          description,
          targetUrl: (body['target_url'] as string | null | undefined) ?? null,
          context,
          creator: user,
          createdAt: now,
          updatedAt: now,
        };
        statuses.push(s);
        const json = statusJson(s);
        return { status: 201, body: json, headers: { location: json.url } };
      }
      case 'repos/list-commit-statuses-for-ref': {
        const ref = params['ref']!;
        const list = statuses
          .filter((s) => s.sha === ref && s.owner.toLowerCase() === owner!.toLowerCase() && s.repo.toLowerCase() === repo!.toLowerCase())
          .reverse();
        return paginate(list.map(statusJson), url, op);
      }
      case 'repos/get-combined-status-for-ref': {
        const ref = params['ref']!;
        const all = statuses
          .filter((s) => s.sha === ref && s.owner.toLowerCase() === owner!.toLowerCase() && s.repo.toLowerCase() === repo!.toLowerCase())
          .reverse();
        if (!all.length && !SHA_RE.test(ref)) return error(404, 'No commit found for SHA: ' + ref, op.docsUrl);
        const latest = new Map<string, CommitStatus>();
        for (const s of all) if (!latest.has(s.context.toLowerCase())) latest.set(s.context.toLowerCase(), s);
        const list = [...latest.values()];
        const state = list.some((s) => s.state === 'failure' || s.state === 'error')
          ? 'failure'
          : list.length && list.every((s) => s.state === 'success')
            ? 'success'
            : 'pending';
        const repoUrl = `${origin}${prefix}/repos/${owner}/${repo}`;
        return {
          status: 200,
          body: {
            state,
            statuses: list.map(statusJson),
            sha: ref,
            total_count: list.length,
            repository: { id: 1, node_id: nodeId('R', 1), name: repo, full_name: `${owner}/${repo}`, url: repoUrl },
            commit_url: `${repoUrl}/commits/${ref}`,
            url: `${repoUrl}/commits/${ref}/status`,
          },
        };
      }
      default:
        return error(501, `The GitHub emulator does not implement ${op.operationId} (${op.method} ${op.template}).`, op.docsUrl);
    }
  };

  const faultFor = (method: string, path: string, op: Operation): (FaultSpec & { left: number }) | undefined => {
    for (const f of faults) {
      if (f.left <= 0) continue;
      if (f.method && f.method.toUpperCase() !== method) continue;
      if (f.path !== undefined) {
        const ok = f.path instanceof RegExp ? f.path.test(path) : f.path === op.operationId || f.path === op.template || path.startsWith(f.path);
        if (!ok) continue;
      }
      return f;
    }
    return undefined;
  };

  const faultReply = (f: FaultSpec, op: Operation): Reply => {
    const after = Math.max(0, f.retryAfter ?? 1);
    const requestId = randomBytes(8).toString('hex').toUpperCase();
    switch (f.kind) {
      case 'secondary-rate-limit':
        return {
          ...error(
            f.status ?? 403,
            `You have exceeded a secondary rate limit. Please wait a few minutes before you try again. If you reach out to GitHub Support for help, please include the request ID ${requestId}.`,
            'https://docs.github.com/free-pro-team@latest/rest/overview/rate-limits-for-the-rest-api#about-secondary-rate-limits',
          ),
          headers: { 'retry-after': String(after) },
        };
      case 'rate-limit':
        return {
          ...error(
            f.status ?? 403,
            `API rate limit exceeded for user ID ${user.id}. If you reach out to GitHub Support for help, please include the request ID ${requestId}.`,
            'https://docs.github.com/rest/overview/rate-limits-for-the-rest-api',
          ),
          headers: { 'x-ratelimit-remaining': '0', 'x-ratelimit-used': String(RATE_LIMIT), 'x-ratelimit-reset': String(Math.floor(Date.now() / 1000) + after) },
        };
      case 'error':
        return error(f.status ?? 500, 'Server Error', op.docsUrl);
    }
  };

  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    let size = 0;
    let tooLarge = false;
    req.on('data', (d: Buffer) => {
      size += d.length;
      if (size > MAX_BODY_BYTES) tooLarge = true;
      else chunks.push(d);
    });
    req.on('end', () => {
      const method = (req.method ?? 'GET').toUpperCase();
      const url = new URL(req.url ?? '/', 'http://emulator.invalid');
      const entry: RequestLogEntry = { time: new Date().toISOString(), method, path: url.pathname, query: url.search.replace(/^\?/, ''), status: 0 };
      const raw = Buffer.concat(chunks).toString('utf8');
      let reply: Reply;
      try {
        reply = tooLarge ? error(413, 'Payload Too Large') : route(method, url, raw, req.headers.authorization, entry);
      } catch (err) {
        reply = err instanceof HttpReply ? err.reply : error(500, `emulator error: ${(err as Error).message}`);
      }
      entry.status = reply.status;
      requests.push(entry);
      used++;
      const headers: Record<string, string> = {
        'x-github-api-version-selected': '2022-11-28',
        'x-github-request-id': randomBytes(8).toString('hex').toUpperCase(),
        'x-ratelimit-limit': String(RATE_LIMIT),
        'x-ratelimit-remaining': String(Math.max(0, RATE_LIMIT - used)),
        'x-ratelimit-reset': String(resetAt()),
        'x-ratelimit-used': String(used),
        'x-ratelimit-resource': 'core',
        ...reply.headers,
      };
      if (reply.body === undefined) {
        res.writeHead(reply.status, headers);
        res.end();
        return;
      }
      const text = JSON.stringify(reply.body);
      res.writeHead(reply.status, { ...headers, 'content-type': 'application/json; charset=utf-8', 'content-length': String(Buffer.byteLength(text)) });
      res.end(text);
    });
  });

  const route = (method: string, url: URL, raw: string, header: string | undefined, entry: RequestLogEntry): Reply => {
    // Auth first: a wrong token is a 401 on every path, like GitHub.
    if (header !== undefined) {
      const m = /^(?:token|bearer)\s+(\S+)\s*$/i.exec(header);
      if (!m || !tokens.some((t) => sameSecret(t, m[1]!))) return error(401, 'Bad credentials');
    }
    if (prefix && !(url.pathname === prefix || url.pathname.startsWith(`${prefix}/`))) return error(404, 'Not Found');
    const apiPath = url.pathname.slice(prefix.length) || '/';
    const match = spec.match(method, apiPath);
    if (match.kind === 'unknown-path' || match.kind === 'unknown-method') return error(404, 'Not Found');
    if (match.kind === 'bad-parameter') {
      entry.operation = match.operation.operationId;
      return error(404, 'Not Found', match.operation.docsUrl);
    }
    const op = match.operation;
    entry.operation = op.operationId;
    if (header === undefined) return error(401, 'Requires authentication', op.docsUrl);
    let body: Record<string, unknown> = {};
    if (op.requestBody) {
      let data: unknown = {};
      if (raw.trim() !== '') {
        try {
          data = JSON.parse(raw);
        } catch {
          return error(400, 'Problems parsing JSON', op.docsUrl);
        }
      }
      entry.body = data;
      if (op.requestBody.schema) {
        const problems = spec.validate(op.requestBody.schema, data);
        if (problems.length) return error(422, `Invalid request.\n${problems.map((p) => `\n${p}`).join('')}`, op.docsUrl);
      }
      body = (data ?? {}) as Record<string, unknown>;
    }
    const f = faultFor(method, apiPath, op);
    if (f) {
      f.left--;
      entry.fault = f.kind;
      return faultReply(f, op);
    }
    return handle(op, match.params, url, body);
  };

  const listening = await listenOn(server, parseListen(opts.listen));
  origin = listening.url;
  const address = listening.address;

  const matches = (o?: string, r?: string) => (x: { owner: string; repo: string }) =>
    (o === undefined || x.owner.toLowerCase() === o.toLowerCase()) && (r === undefined || x.repo.toLowerCase() === r.toLowerCase());

  return {
    url: `${origin}${prefix}`,
    port: address.port,
    spec,
    requests,
    comments: (o, r, n) =>
      [...comments.values()]
        .filter(matches(o, r))
        .filter((c) => n === undefined || c.issueNumber === n)
        .sort((a, b) => a.id - b.id),
    statuses: (o, r, sha) => statuses.filter(matches(o, r)).filter((s) => sha === undefined || s.sha === sha),
    seedComment(c) {
      const now = new Date().toISOString().replace(/\.\d{3}Z$/, 'Z');
      const author: GithubUser = { login: 'octocat', id: 583231, type: 'User', ...c.user };
      const comment: IssueComment = {
        id: nextCommentId++,
        owner: c.owner,
        repo: c.repo,
        issueNumber: c.issueNumber,
        body: c.body,
        user: author,
        createdAt: now,
        updatedAt: now,
      };
      comments.set(comment.id, comment);
      return comment;
    },
    fault(f) {
      faults.push({ ...f, left: f.times ?? 1 });
    },
    clearFaults() {
      faults.length = 0;
    },
    clearLog() {
      requests.length = 0;
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
