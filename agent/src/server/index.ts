// The agent's HTTP endpoint: GitHub webhook receiver (HMAC-SHA256, constant-time), health, readiness and
// Prometheus metrics. Everything it does to the agent goes through the callbacks it is given. The port is meant to be
// reachable and the agent runs as root, so every request, however malformed, ends in a status or a clean close:
// short timeouts and a connection cap bound what slow clients hold, the signature's shape is checked before a body is
// read, a per-source token bucket answers floods with 429, and a replayed delivery id does not reconcile twice.
// Every refusal is counted by reason (mirrornet_http_refused_total), so an operator sees an attack in /metrics.
// The routes between a site's agents and their parent, and the operators' routes on a core, are in site-routes.ts.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import { verify } from '@octokit/webhooks-methods';
import type { Logger } from 'pino';
import { Counter, type Registry } from 'prom-client';
import type { Health } from '../reconcile/health.js';
import { AddressRateLimiter, deliveryIdOf, RecentDeliveries, wellFormedSignature, type RateLimit } from './guards.js';
import { BodyReads, LINGER_MS, readBody, refuse, REFUSALS, send, type Refusal } from './respond.js';
import { createSiteRoutes, type OperatorEndpoint, type SignedReceiver } from './site-routes.js';

export const MAX_WEBHOOK_BYTES = 1024 * 1024;

/** What one client may cost the agent. Every field has a safe default (see DEFAULT_LIMITS). */
export interface ServerLimits {
  /** Time to receive a request's headers (Node's `headersTimeout`). */
  headersTimeoutMs: number;
  /** Time to receive a whole request, body included (Node's `requestTimeout`). */
  requestTimeoutMs: number;
  /** How long an idle keep-alive connection is kept between requests. */
  keepAliveTimeoutMs: number;
  /** A socket with no traffic for this long is closed. */
  socketTimeoutMs: number;
  maxHeadersCount: number;
  /** Bytes of request line and headers together. */
  maxHeaderBytes: number;
  /** Open connections; further ones are closed as they arrive. */
  maxConnections: number;
  /** Webhook, report and operator bodies being received at once (each up to MAX_WEBHOOK_BYTES); further ones answer 503. */
  maxBodyReads: number;
  /** Per source address, on /hooks/github. */
  webhookRate: RateLimit;
  /** Per source address, on /v1/reports and /v1/steering. */
  siteRate: RateLimit;
  /** Per source address, on /v1/status and /v1/steer (each costs an ssh-keygen). */
  operatorRate: RateLimit;
  /** A delivery id seen within this window is acknowledged without a second reconcile. */
  deliveryWindowMs: number;
}

export const DEFAULT_LIMITS: ServerLimits = {
  headersTimeoutMs: 10_000,
  requestTimeoutMs: 30_000,
  keepAliveTimeoutMs: 5_000,
  socketTimeoutMs: 30_000,
  maxHeadersCount: 64,
  maxHeaderBytes: 16 * 1024,
  maxConnections: 64,
  maxBodyReads: 8,
  webhookRate: { burst: 20, perSecond: 1 },
  siteRate: { burst: 60, perSecond: 2 },
  operatorRate: { burst: 10, perSecond: 0.5 },
  deliveryWindowMs: 60 * 60_000,
};

/** The longest a long-poll on /v1/bundle is held (below the socket timeout). */
const MAX_LONG_POLL_MS = 25_000;

export interface ServerDeps {
  log: Logger;
  registry: Registry;
  /** The webhook secret (resolved); without one, /hooks/github answers 404. */
  webhookSecret?: string;
  /** The branch the agent follows: pushes to other branches are acknowledged and ignored. */
  branch: string;
  trigger: (reason: string) => void;
  /** /healthz: 200 when ok (with a `warning:` line when the agent is outdated), else 503 with the reason. */
  health: () => Health | Promise<Health>;
  ready: () => boolean;
  /** Overrides of the defaults (tests make the timeouts short). */
  limits?: Partial<ServerLimits>;
  /** GET /v1/bundle: a gateway hands its site's bundle head to the site's node agents (long-poll); absent: 404. */
  fanout?: {
    authorized(authorization: string | undefined): boolean;
    /** The head (JSON) once it is not `after`, or undefined after `waitMs`. */
    wait(after: string | undefined, waitMs: number, signal: AbortSignal): Promise<object | undefined>;
  };
  /** POST /hooks/registry: a registry's push or replication webhook (Harbor's auth header, distribution's notification headers). */
  registryHook?: { authorized(authorization: string | undefined): boolean };
  /** POST /v1/reports: the reports of this agent's children (site-token signed); absent: 404. */
  reports?: SignedReceiver;
  /** POST /v1/site-reports on a core: its sites' gateways' reports (gateway-token signed); absent: 404. */
  siteReports?: SignedReceiver;
  /** POST /v1/steering: the Steering this agent's parent pushes (site-token signed); absent: 404. */
  steering?: SignedReceiver;
  /** GET /v1/status, POST /v1/steer on a core (operator-signed, checked by `handle`); absent: 404. */
  operator?: OperatorEndpoint;
  /** The clock of the rate limiters, the delivery memories and the signed routes' timestamp window. */
  now?: () => number;
}

/** The refusal counter in `registry` (one per registry: a second server on it shares the counter), every reason at 0. */
function refusalCounter(registry: Registry): Counter<'reason'> {
  const name = 'mirrornet_http_refused_total';
  const existing = registry.getSingleMetric(name) as Counter<'reason'> | undefined;
  if (existing) return existing;
  const counter = new Counter({
    name,
    help:
      'Requests and connections the agent endpoint refused, by reason: rate-limited (429), too-large (413, 431), busy (503), ' +
      'bad-signature (401), replayed (a delivery id seen before), connection-cap, timeout (408 or idle), malformed (400).',
    labelNames: ['reason'] as const,
    registers: [registry],
  });
  for (const reason of REFUSALS) counter.inc({ reason }, 0);
  return counter;
}

/** The path of a request target (origin or absolute form), or undefined when it is not one. */
function pathOf(target: string | undefined): string | undefined {
  if (!target) return undefined;
  if (target.startsWith('/')) return target.split(/[?#]/, 1)[0];
  try {
    return new URL(target).pathname;
  } catch {
    return undefined;
  }
}

const STATUS_LINE: Record<string, string> = {
  HPE_HEADER_OVERFLOW: '431 Request Header Fields Too Large',
  ERR_HTTP_REQUEST_TIMEOUT: '408 Request Timeout',
};

function createAgentHandler(deps: ServerDeps, limits: ServerLimits, log: Logger, refused: (reason: Refusal) => void) {
  const rate = new AddressRateLimiter(limits.webhookRate, deps.now);
  const deliveries = new RecentDeliveries(limits.deliveryWindowMs, deps.now);
  const bodyReads = new BodyReads(limits.maxBodyReads);
  const site = createSiteRoutes({
    log,
    reports: deps.reports,
    siteReports: deps.siteReports,
    steering: deps.steering,
    operator: deps.operator,
    now: deps.now ?? Date.now,
    siteRate: limits.siteRate,
    operatorRate: limits.operatorRate,
    bodyReads,
    refused,
  });

  async function verified(signature: string, body: Buffer): Promise<boolean> {
    try {
      return await verify(deps.webhookSecret!, body.toString('utf8'), signature);
    } catch {
      return false;
    }
  }

  async function webhook(req: IncomingMessage, res: ServerResponse): Promise<void> {
    if (!deps.webhookSecret) return refuse(res, 404, 'webhooks are not enabled on this agent\n');
    const retryAfter = rate.take(req.socket.remoteAddress ?? 'unknown');
    if (retryAfter > 0) {
      log.debug({ address: req.socket.remoteAddress }, 'webhook rate limited');
      refused('rate-limited');
      return refuse(res, 429, 'too many requests\n', { 'retry-after': String(retryAfter) });
    }
    const signature = req.headers['x-hub-signature-256'];
    if (!wellFormedSignature(signature)) {
      refused('bad-signature');
      return refuse(res, 401, 'missing or malformed X-Hub-Signature-256\n');
    }
    const body = await bodyReads.read(req, MAX_WEBHOOK_BYTES);
    if (body.kind === 'busy') {
      refused('busy');
      return refuse(res, 503, 'busy\n', { 'retry-after': '1' });
    }
    if (body.kind === 'aborted') return void res.destroy();
    if (body.kind === 'too-large') {
      refused('too-large');
      return refuse(res, 413, 'payload too large\n');
    }
    const result = await answerWebhook(req.headers, signature, body.bytes);
    log.info({ status: result.status, event: req.headers['x-github-event'], delivery: req.headers['x-github-delivery'] }, 'webhook');
    return send(res, result.status, `${result.message}\n`);
  }

  async function answerWebhook(headers: IncomingMessage['headers'], signature: string, body: Buffer): Promise<{ status: number; message: string }> {
    if (!(await verified(signature, body))) {
      refused('bad-signature');
      return { status: 401, message: 'bad signature' };
    }
    const delivery = deliveryIdOf(headers['x-github-delivery']);
    if (delivery !== undefined && deliveries.seenBefore(delivery)) {
      refused('replayed');
      return { status: 200, message: `delivery ${delivery} already handled` };
    }
    const event = String(headers['x-github-event'] ?? '');
    if (event === 'ping') return { status: 200, message: 'pong' };
    if (event !== 'push') return { status: 202, message: `ignored event ${event.slice(0, 64)}` };
    let ref = '';
    try {
      ref = String((JSON.parse(body.toString('utf8')) as { ref?: unknown } | null)?.ref ?? '');
    } catch {
      return { status: 400, message: 'the payload is not JSON' };
    }
    if (ref !== `refs/heads/${deps.branch}`) return { status: 202, message: `ignored push to ${ref.slice(0, 256)}` };
    deps.trigger('webhook');
    return { status: 202, message: 'reconcile triggered' };
  }

  /** A registry says an artifact was pushed or replicated: reconcile now (the tick's cheap check decides whether anything is new). */
  async function registryHook(req: IncomingMessage, res: ServerResponse): Promise<void> {
    if (!deps.registryHook) return refuse(res, 404, 'registry webhooks are not enabled on this agent\n');
    const retryAfter = rate.take(req.socket.remoteAddress ?? 'unknown');
    if (retryAfter > 0) {
      refused('rate-limited');
      return refuse(res, 429, 'too many requests\n', { 'retry-after': String(retryAfter) });
    }
    if (!deps.registryHook.authorized(req.headers.authorization)) {
      refused('bad-signature');
      return refuse(res, 401, 'missing or wrong Authorization\n');
    }
    const body = await readBody(req, MAX_WEBHOOK_BYTES);
    if (body.kind === 'aborted') return void res.destroy();
    if (body.kind === 'too-large') {
      refused('too-large');
      return refuse(res, 413, 'payload too large\n');
    }
    deps.trigger('registry');
    return send(res, 202, 'reconcile triggered\n');
  }

  /** A node agent long-polls its gateway for the site's bundle head. */
  async function fanout(req: IncomingMessage, res: ServerResponse): Promise<void> {
    if (!deps.fanout) return refuse(res, 404, 'this agent hands out no bundle\n');
    if (!deps.fanout.authorized(req.headers.authorization)) {
      refused('bad-signature');
      return refuse(res, 401, 'missing or wrong fan-out token\n');
    }
    const query = new URL(req.url ?? '/', 'http://agent').searchParams;
    const after = query.get('after') ?? undefined;
    const waitMs = Math.min(Math.max(Number(query.get('wait') ?? 0) || 0, 0), MAX_LONG_POLL_MS);
    const closed = new AbortController();
    res.once('close', () => closed.abort());
    const head = await deps.fanout.wait(after, waitMs, closed.signal);
    if (closed.signal.aborted) return;
    if (!head) return void res.writeHead(204).end();
    return send(res, 200, JSON.stringify(head), { 'content-type': 'application/json' });
  }

  async function route(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const path = pathOf(req.url);
    if (path === undefined) {
      refused('malformed');
      return refuse(res, 400, 'bad request target\n');
    }
    const get = req.method === 'GET' || req.method === 'HEAD';
    if (path === '/hooks/github') return req.method === 'POST' ? webhook(req, res) : refuse(res, 405, 'method not allowed\n', { allow: 'POST' });
    if (path === '/hooks/registry') return req.method === 'POST' ? registryHook(req, res) : refuse(res, 405, 'method not allowed\n', { allow: 'POST' });
    if (path === '/v1/bundle' && req.method === 'GET') return fanout(req, res);
    if (path === '/v1/reports') return req.method === 'POST' ? site.reports(req, res) : refuse(res, 405, 'method not allowed\n', { allow: 'POST' });
    if (path === '/v1/site-reports') return req.method === 'POST' ? site.siteReports(req, res) : refuse(res, 405, 'method not allowed\n', { allow: 'POST' });
    if (path === '/v1/steering') return req.method === 'POST' ? site.steering(req, res) : refuse(res, 405, 'method not allowed\n', { allow: 'POST' });
    if (path === '/v1/steer') return req.method === 'POST' ? site.operator(req, res) : refuse(res, 405, 'method not allowed\n', { allow: 'POST' });
    if (path === '/v1/status' && req.method === 'GET') return site.operator(req, res);
    if (path === '/healthz' && get) {
      const health = await deps.health();
      // Healthy but outdated (the offered revision needs a newer mirrornet): still 200, with the sentence why.
      if (health.ok) return send(res, 200, health.warning ? `ok\nwarning: ${health.warning}\n` : 'ok\n');
      return send(res, 503, `${health.reason ?? 'not healthy'}\n`);
    }
    if (path === '/readyz' && get) return deps.ready() ? send(res, 200, 'ready\n') : send(res, 503, 'not reconciled yet\n');
    if (path === '/metrics' && get) return send(res, 200, await deps.registry.metrics(), { 'content-type': deps.registry.contentType });
    if (req.method !== 'GET' && req.method !== 'HEAD') return refuse(res, 404, 'not found\n');
    return send(res, 404, 'not found\n');
  }

  return (req: IncomingMessage, res: ServerResponse): void => {
    res.on('error', (err) => log.debug({ err: { message: err.message } }, 'response failed'));
    route(req, res).catch((err: unknown) => {
      log.error({ err: { message: err instanceof Error ? err.message : String(err) }, method: req.method }, 'request failed');
      send(res, 500, 'internal error\n');
    });
  };
}

/** A request the HTTP parser refused (bad target, header, method; timeout): a status if nothing was answered yet, then close. */
function answerClientError(log: Logger, err: NodeJS.ErrnoException, socket: Socket, refused: (reason: Refusal) => void): void {
  log.debug({ code: err.code }, 'client error');
  if (err.code === 'ERR_HTTP_REQUEST_TIMEOUT') refused('timeout');
  else if (err.code === 'HPE_HEADER_OVERFLOW') refused('too-large');
  else if (err.code !== 'ECONNRESET' && err.code !== 'HPE_INVALID_EOF_STATE') refused('malformed'); // not when the client just left
  if (socket.writable && socket.bytesWritten === 0 && err.code !== 'ECONNRESET') {
    const status = STATUS_LINE[err.code ?? ''] ?? '400 Bad Request';
    socket.end(`HTTP/1.1 ${status}\r\nconnection: close\r\ncontent-length: 0\r\n\r\n`);
    setTimeout(() => socket.destroy(), LINGER_MS).unref();
    return;
  }
  socket.destroy();
}

export function createAgentServer(deps: ServerDeps): Server {
  const log = deps.log.child({ component: 'server' });
  const limits: ServerLimits = { ...DEFAULT_LIMITS, ...deps.limits };
  const counter = refusalCounter(deps.registry);
  const refused = (reason: Refusal) => counter.inc({ reason });
  const server = createServer(
    {
      headersTimeout: limits.headersTimeoutMs,
      requestTimeout: limits.requestTimeoutMs,
      keepAliveTimeout: limits.keepAliveTimeoutMs,
      maxHeaderSize: limits.maxHeaderBytes,
      connectionsCheckingInterval: Math.max(50, Math.min(1000, Math.floor(limits.headersTimeoutMs / 4))),
    },
    createAgentHandler(deps, limits, log, refused),
  );
  server.maxHeadersCount = limits.maxHeadersCount;
  server.maxConnections = limits.maxConnections;
  server.maxRequestsPerSocket = 100;
  server.setTimeout(limits.socketTimeoutMs, (socket: Socket) => {
    refused('timeout');
    socket.destroy();
  });
  server.on('clientError', (err: NodeJS.ErrnoException, socket: Socket) => answerClientError(log, err, socket, refused));
  // After listen, a server error (an accept failing with EMFILE, say) is logged; without a listener it would end the agent.
  server.on('error', (err: NodeJS.ErrnoException) => log.error({ err: { message: err.message, code: err.code } }, 'server error'));
  server.on('drop', () => {
    refused('connection-cap');
    log.debug('connection dropped: too many open connections');
  });
  return server;
}
