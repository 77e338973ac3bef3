// The routes of issue 13 on the agent endpoint: reports from a site's agents to their parent (POST /v1/reports),
// steering pushed from a parent to a child (POST /v1/steering), both signed with the site's token; and the
// operators' routes on a core (GET /v1/status, POST /v1/steer), whose SSH signatures the operator endpoint checks
// itself. This file only bounds and verifies: a per-source rate limit, the signing headers' shapes before a body
// is read, the body's size, the signature, the timestamp and the delivery id, the JSON; what a body means is the
// callbacks' to say. A refused request changes nothing (no callback runs) and its connection is closed.
import type { IncomingHttpHeaders, IncomingMessage, ServerResponse } from 'node:http';
import type { Logger } from 'pino';
import { MAX_SITE_BODY_BYTES, SITE_CLOCK_SKEW_S, siteHeadersOf, verifySiteRequest } from '../report/site/signing.js';
import { AddressRateLimiter, RecentDeliveries, type RateLimit } from './guards.js';
import { refuse, send, sendJson, type BodyReads, type Refusal } from './respond.js';

/** An operator's request (GET /v1/status, POST /v1/steer) is at most this many bytes. */
const MAX_OPERATOR_BYTES = 64 * 1024;

/** A delivery id is remembered this long: a timestamp 300 s ahead stays acceptable for 600 s. */
const SITE_REPLAY_WINDOW_MS = (2 * SITE_CLOCK_SKEW_S + 60) * 1000;
/** Delivery ids remembered at most (a site of 1000 hosts reporting every minute sends 11 000 in the window). */
const SITE_REPLAY_MAX = 50_000;

/** The receiver of a signed route: the token a site signs with (undefined: not a site of ours) and what to do with a verified body. */
export interface SignedReceiver {
  tokenFor(site: string): string | undefined;
  /** Called once per verified request with its parsed JSON; validates it (400) and answers (a report's reply is the parent's Steering). */
  accept(site: string, body: unknown): Promise<{ status: number; body: object }>;
}

/** An operator's request as the endpoint received it; `path` is the request target (path and query) as signed. */
export interface OperatorRequest {
  method: string;
  path: string;
  headers: IncomingHttpHeaders;
  body: Buffer;
}

/** GET /v1/status and POST /v1/steer: authenticates the operator (SSH signature) and answers. */
export interface OperatorEndpoint {
  handle(req: OperatorRequest): Promise<{ status: number; body: object | string }>;
}

export interface SiteRouteDeps {
  log: Logger;
  reports?: SignedReceiver;
  siteReports?: SignedReceiver;
  steering?: SignedReceiver;
  operator?: OperatorEndpoint;
  now: () => number;
  siteRate: RateLimit;
  operatorRate: RateLimit;
  bodyReads: BodyReads;
  refused: (reason: Refusal) => void;
}

const COUNTED: Partial<Record<number, Refusal>> = { 400: 'malformed', 401: 'bad-signature', 413: 'too-large', 429: 'rate-limited' };

/** The request target in origin form (path and query), or '/' when it has none. */
function targetOf(url: string | undefined): string {
  if (!url) return '/';
  if (url.startsWith('/')) return url.split('#', 1)[0]!;
  try {
    const u = new URL(url);
    return `${u.pathname}${u.search}`;
  } catch {
    return '/';
  }
}

export function createSiteRoutes(deps: SiteRouteDeps) {
  const siteRate = new AddressRateLimiter(deps.siteRate, deps.now);
  const operatorRate = new AddressRateLimiter(deps.operatorRate, deps.now);
  const replay = new RecentDeliveries(SITE_REPLAY_WINDOW_MS, deps.now, SITE_REPLAY_MAX);

  /** Refuses with `status`, counted by what it means. */
  function refusal(res: ServerResponse, status: number, body: string, headers: Record<string, string> = {}): void {
    const reason = COUNTED[status];
    if (reason) deps.refused(reason);
    refuse(res, status, body, headers);
  }

  /** 0 when the source may go ahead; else it was answered 429. */
  function limited(limiter: AddressRateLimiter, req: IncomingMessage, res: ServerResponse): boolean {
    const retryAfter = limiter.take(req.socket.remoteAddress ?? 'unknown');
    if (retryAfter <= 0) return false;
    refusal(res, 429, 'too many requests\n', { 'retry-after': String(retryAfter) });
    return true;
  }

  /** The body up to `limit`, or undefined when the request was answered (413, 503) or the client left. */
  async function bodyOf(req: IncomingMessage, res: ServerResponse, limit: number): Promise<Buffer | undefined> {
    const body = await deps.bodyReads.read(req, limit);
    if (body.kind === 'body') return body.bytes;
    if (body.kind === 'aborted') res.destroy();
    else if (body.kind === 'busy') {
      deps.refused('busy');
      refuse(res, 503, 'busy\n', { 'retry-after': '1' });
    } else refusal(res, 413, 'payload too large\n');
    return undefined;
  }

  async function signed(
    what: 'report' | 'site report' | 'steering',
    receiver: SignedReceiver | undefined,
    req: IncomingMessage,
    res: ServerResponse,
  ): Promise<void> {
    if (!receiver) return refuse(res, 404, `this agent takes no ${what}\n`);
    if (limited(siteRate, req, res)) return;
    if (!siteHeadersOf(req.headers)) return refusal(res, 401, 'missing or malformed X-Mirrornet-Site, -Timestamp, -Delivery or -Signature-256\n');
    const bytes = await bodyOf(req, res, MAX_SITE_BODY_BYTES);
    if (!bytes) return;
    const verdict = verifySiteRequest(req.headers, bytes, (site) => receiver.tokenFor(site), deps.now(), replay);
    if (!verdict.ok) {
      deps.log.debug({ address: req.socket.remoteAddress, site: req.headers['x-mirrornet-site'], reason: verdict.reason }, `${what} refused`);
      deps.refused(verdict.refusal);
      return refuse(res, verdict.status, `${verdict.reason}\n`);
    }
    let body: unknown;
    try {
      body = JSON.parse(bytes.toString('utf8'));
    } catch {
      return refusal(res, 400, `the ${what} is not JSON\n`);
    }
    const named = typeof body === 'object' && body !== null && 'site' in body ? body.site : verdict.site;
    if (named !== verdict.site) return refusal(res, 400, `the ${what} names another site than the one that signed it\n`);
    const answer = await receiver.accept(verdict.site, body);
    deps.log.debug({ site: verdict.site, delivery: verdict.delivery, status: answer.status }, what);
    if (answer.status >= 400) return refusal(res, answer.status, JSON.stringify(answer.body), { 'content-type': 'application/json' });
    return sendJson(res, answer.status, answer.body);
  }

  return {
    /** POST /v1/reports: a child's report (a node's to its gateway, a gateway's to its core). */
    reports: (req: IncomingMessage, res: ServerResponse) => signed('report', deps.reports, req, res),
    /** POST /v1/site-reports: a gateway's report of its site to its core (signed with the site's gateway token). */
    siteReports: (req: IncomingMessage, res: ServerResponse) => signed('site report', deps.siteReports, req, res),
    /** POST /v1/steering: the parent pushes a site's Steering to a child. */
    steering: (req: IncomingMessage, res: ServerResponse) => signed('steering', deps.steering, req, res),
    /** GET /v1/status, POST /v1/steer. */
    async operator(req: IncomingMessage, res: ServerResponse): Promise<void> {
      const operator = deps.operator;
      if (!operator) return refuse(res, 404, 'this agent is not a core: no fleet status or steering here\n');
      if (limited(operatorRate, req, res)) return;
      const body = await bodyOf(req, res, MAX_OPERATOR_BYTES);
      if (!body) return;
      const answer = await operator.handle({ method: req.method ?? 'GET', path: targetOf(req.url), headers: req.headers, body });
      const [text, headers] = typeof answer.body === 'string' ? [answer.body, {}] : [JSON.stringify(answer.body), { 'content-type': 'application/json' }];
      if (answer.status >= 400) return refusal(res, answer.status, text, headers);
      return send(res, answer.status, text, headers);
    },
  };
}
