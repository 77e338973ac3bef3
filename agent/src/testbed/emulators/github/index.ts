// A local GitHub REST API emulator (real HTTP on 127.0.0.1) for what mirrornet reports: issue (pull
// request) comments and commit statuses. Every request is routed through GitHub's published OpenAPI
// description (api.github.com.json: @octokit/openapi's, trimmed to what it serves): an unknown path or method is GitHub's 404, a path parameter of the wrong
// type a 404, a body that does not match the operation's requestBody schema GitHub's 422 "Invalid request."
// Then GitHub's own rules on top (blank or too-long comment bodies, 140-character status descriptions,
// unknown commits). Auth by token with GitHub's 401 bodies; primary and secondary rate limits (403/429 with
// `retry-after` or `x-ratelimit-reset`) and server errors can be injected; every request is logged
// (method, path, status, operation and body — never the token). `pathPrefix: '/api/v3'` serves it like
// GitHub Enterprise Server.
//
// This file starts the emulator and holds its HTTP front (body limit, GitHub's rate-limit headers); the
// routing is router.ts, the operations comments.ts and statuses.ts, the JSON shapes render.ts.
import { randomBytes } from 'node:crypto';
import http from 'node:http';
import { RATE_LIMIT, FaultList, type FaultSpec } from './faults.js';
import { loadGithubSpec, type OpenApiSpec, type SpecName } from './openapi.js';
import { HttpReply, error, type Reply } from './replies.js';
import { route, type RequestLogEntry } from './router.js';
import { githubTime, type CommitStatus, type GithubState, type GithubUser, type IssueComment } from './state.js';
import { closeServer, listenOn, parseListen, readBody } from '../http.js';

const MAX_BODY_BYTES = 5 * 1024 * 1024;

export interface GithubEmulatorOptions {
  /** The token(s) accepted (Authorization: token X or Bearer X). */
  token: string | string[];
  /** `host:port`, `:port`, a port, or { host, port }; default 127.0.0.1 on a free port. */
  listen?: string | number | { host?: string; port?: number };
  /** Who the token is (comment authors, status creators); default github-actions[bot]. */
  user?: Partial<GithubUser>;
  /** Which description to check against (api.github.com, the one kept in the repository). */
  spec?: SpecName;
  /** Base path of the API: '' (api.github.com) or '/api/v3' (GitHub Enterprise Server). */
  pathPrefix?: string;
  /** Repositories (owner/name) that exist; default: any. */
  repos?: string[];
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

export async function startGithubEmulator(opts: GithubEmulatorOptions): Promise<GithubEmulator> {
  const spec = loadGithubSpec(opts.spec ?? 'api.github.com');
  const tokens = Array.isArray(opts.token) ? opts.token : [opts.token];
  if (!tokens.length || tokens.some((t) => !t)) throw new Error('startGithubEmulator: a non-empty token is required');
  const state: GithubState = {
    user: { login: 'github-actions[bot]', id: 41898282, type: 'Bot', ...opts.user },
    repos: opts.repos ? new Set(opts.repos.map((r) => r.toLowerCase())) : undefined,
    comments: new Map<number, IssueComment>(),
    statuses: [],
    nextCommentId: 1_000_000_001,
    nextStatusId: 2_000_000_001,
    origin: '',
    prefix: (opts.pathPrefix ?? '').replace(/\/+$/, ''),
  };
  const requests: RequestLogEntry[] = [];
  const faults = new FaultList();
  let used = 0;
  const resetAt = () => Math.floor(Date.now() / 1000) + 3600;

  const server = http.createServer((req, res) => {
    void readBody(req, MAX_BODY_BYTES).then(({ text: raw, tooLarge }) => {
      const method = (req.method ?? 'GET').toUpperCase();
      const url = new URL(req.url ?? '/', 'http://emulator.invalid');
      const entry: RequestLogEntry = { time: new Date().toISOString(), method, path: url.pathname, query: url.search.replace(/^\?/, ''), status: 0 };
      let reply: Reply;
      try {
        reply = tooLarge ? error(413, 'Payload Too Large') : route({ spec, tokens, state, faults }, method, url, raw, req.headers.authorization, entry);
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

  const listening = await listenOn(server, parseListen(opts.listen));
  state.origin = listening.url;
  const { origin, prefix } = state;
  const address = listening.address;

  const matches = (o?: string, r?: string) => (x: { owner: string; repo: string }) =>
    (o === undefined || x.owner.toLowerCase() === o.toLowerCase()) && (r === undefined || x.repo.toLowerCase() === r.toLowerCase());

  return {
    url: `${origin}${prefix}`,
    port: address.port,
    spec,
    requests,
    comments: (o, r, n) =>
      [...state.comments.values()]
        .filter(matches(o, r))
        .filter((c) => n === undefined || c.issueNumber === n)
        .sort((a, b) => a.id - b.id),
    statuses: (o, r, sha) => state.statuses.filter(matches(o, r)).filter((s) => sha === undefined || s.sha === sha),
    seedComment(c) {
      const now = githubTime();
      const author: GithubUser = { login: 'octocat', id: 583231, type: 'User', ...c.user };
      const comment: IssueComment = {
        id: state.nextCommentId++,
        owner: c.owner,
        repo: c.repo,
        issueNumber: c.issueNumber,
        body: c.body,
        user: author,
        createdAt: now,
        updatedAt: now,
      };
      state.comments.set(comment.id, comment);
      return comment;
    },
    fault(f) {
      faults.add(f);
    },
    clearFaults() {
      faults.clear();
    },
    clearLog() {
      requests.length = 0;
    },
    close: () => closeServer(server),
  };
}
