// The Harbor emulator's HTTP front: reads the request, serves the `/_emulator/*` hooks (request log,
// faults), applies injected faults before and after the API, authenticates (basic auth as the admin or a
// robot; robots may only read), hands the request to the API router, persists changed state and answers
// with Harbor's headers and error bodies. Every API request is logged (never credentials).
import { randomUUID } from 'node:crypto';
import http from 'node:http';
import { API_BASE, type ApiEnv, type Principal, type Reply } from './api/common.js';
import { handleApi, isAnonymousEndpoint } from './api/router.js';
import { STATUS_CODES, errorBody, type FaultList, type FaultSpec } from './faults.js';
import { HarborFault, hashSecret, iso } from './store.js';
import { readBody, sameSecret } from '../http.js';
import type { HarborRequest } from './openapi.js';

const MAX_BODY = 1024 * 1024;

export interface RequestLogEntry {
  time: string;
  method: string;
  /** Path without the query string. */
  path: string;
  /** The query string (never holds credentials: Harbor takes them in the Authorization header). */
  query: string;
  status: number;
  ms: number;
  /** `reset` when an injected fault dropped the connection. */
  fault?: string;
}

export interface HarborServerContext {
  env: ApiEnv;
  admin: { username: string; password: string };
  robotPrefix: string;
  now: () => Date;
  /** external_url in /systeminfo; default: the Host the request came to. */
  externalUrl: string | undefined;
  /** The request log (live), kept at most `logLimit` long. */
  log: RequestLogEntry[];
  logLimit: number;
  faults: FaultList;
  /** Persist the state (after a request changed it). */
  save: () => Promise<void>;
  /** Checks every API request (e.g. against Harbor's API description); a request with problems is answered 422. */
  requestCheck?: ((req: HarborRequest) => string[]) | undefined;
  /** The requests the check refused (live). */
  violations: RequestViolation[];
}

/** An API request `requestCheck` refused: what it was and why (never its body or headers). */
export interface RequestViolation {
  method: string;
  path: string;
  problems: string[];
}

/** Who the Authorization header says the caller is; `invalid` for credentials that match nobody. */
function principalOf(ctx: HarborServerContext, header: string | undefined): Principal | 'invalid' {
  if (!header) return { kind: 'anonymous' };
  const m = /^Basic\s+(\S+)$/i.exec(header);
  if (!m) return 'invalid';
  const decoded = Buffer.from(m[1]!, 'base64').toString('utf8');
  const i = decoded.indexOf(':');
  if (i < 0) return 'invalid';
  const user = decoded.slice(0, i);
  const pass = decoded.slice(i + 1);
  if (sameSecret(user, ctx.admin.username) && sameSecret(pass, ctx.admin.password)) return { kind: 'admin', username: user };
  if (user.startsWith(ctx.robotPrefix)) {
    const robot = ctx.env.state.robots.find((r) => `${ctx.robotPrefix}${r.name}` === user);
    const nowSec = Math.floor(ctx.now().getTime() / 1000);
    if (robot && !robot.disable && (robot.expires_at === -1 || robot.expires_at > nowSec) && sameSecret(hashSecret(pass, robot.salt), robot.secret_hash))
      return { kind: 'robot', robot };
  }
  return 'invalid';
}

function send(res: http.ServerResponse, reply: Reply, requestId: string, head: boolean): void {
  const headers: Record<string, string> = { 'X-Request-Id': requestId, ...(reply.headers ?? {}) };
  let payload = '';
  if (reply.text !== undefined) {
    headers['Content-Type'] = 'text/plain';
    payload = reply.text;
  } else if (reply.body !== undefined) {
    headers['Content-Type'] = 'application/json; charset=utf-8';
    payload = `${JSON.stringify(reply.body)}\n`;
  }
  headers['Content-Length'] = String(Buffer.byteLength(payload));
  res.writeHead(reply.status, headers);
  res.end(head ? undefined : payload);
}

/** `GET|DELETE /_emulator/log` and `POST|DELETE /_emulator/faults`. */
function control(ctx: HarborServerContext, req: http.IncomingMessage, res: http.ServerResponse, path: string, body: unknown): void {
  const json = (status: number, b: unknown) => {
    res.writeHead(status, { 'Content-Type': 'application/json; charset=utf-8' });
    res.end(`${JSON.stringify(b)}\n`);
  };
  if (path === '/_emulator/log' && req.method === 'GET') return json(200, { entries: ctx.log });
  if (path === '/_emulator/log' && req.method === 'DELETE') {
    ctx.log.length = 0;
    return json(200, {});
  }
  if (path === '/_emulator/faults' && req.method === 'POST') {
    const f = (body ?? {}) as FaultSpec & { path?: string };
    ctx.faults.inject({ ...f });
    return json(201, {});
  }
  if (path === '/_emulator/faults' && req.method === 'DELETE') {
    ctx.faults.clear();
    return json(200, {});
  }
  json(404, { errors: [{ code: 'NOT_FOUND', message: `no emulator endpoint ${req.method} ${path}` }] });
}

export function createHarborServer(ctx: HarborServerContext): http.Server {
  const { env, now, faults } = ctx;
  const record = (entry: RequestLogEntry): void => {
    ctx.log.push(entry);
    if (ctx.log.length > ctx.logLimit) ctx.log.splice(0, ctx.log.length - ctx.logLimit);
  };

  const server = http.createServer((req, res) => {
    const started = Date.now();
    void (async () => {
      const { text, tooLarge } = await readBody(req, MAX_BODY);
      const url = new URL(req.url ?? '/', 'http://emulator');
      const method = (req.method ?? 'GET').toUpperCase();
      const requestId = (typeof req.headers['x-request-id'] === 'string' && req.headers['x-request-id']) || randomUUID();
      const entry = (status: number, fault?: string): RequestLogEntry => ({
        time: iso(now()),
        method,
        path: url.pathname,
        query: url.search.replace(/^\?/, ''),
        status,
        ms: Date.now() - started,
        ...(fault ? { fault } : {}),
      });
      let body: unknown;
      let bodyError = false;
      if (text.trim()) {
        try {
          body = JSON.parse(text);
        } catch {
          bodyError = true;
        }
      }
      if (url.pathname.startsWith('/_emulator/')) return control(ctx, req, res, url.pathname, body);
      const problems = bodyError ? [] : (ctx.requestCheck?.({ method, path: url.pathname, query: url.searchParams, headers: req.headers, body }) ?? []);
      if (problems.length) {
        ctx.violations.push({ method, path: url.pathname, problems });
        send(
          res,
          { status: 422, body: { errors: [{ code: 'UNPROCESSABLE_ENTITY', message: `validation failure list:\n${problems.join('\n')}` }] } },
          requestId,
          false,
        );
        record(entry(422));
        return;
      }
      const before = faults.take(method, url.pathname, 'before');
      if (before) {
        if (before.delayMs) await new Promise((r) => setTimeout(r, before.delayMs));
        if (before.reset) {
          record(entry(0, 'reset'));
          req.socket.destroy();
          return;
        }
        if (before.status) {
          const code = STATUS_CODES[before.status] ?? 'UNKNOWN';
          const message = before.status >= 500 ? 'internal server error' : before.status === 429 ? 'too many requests' : 'injected fault';
          res.writeHead(before.status, { 'Content-Type': 'application/json; charset=utf-8', 'X-Request-Id': requestId });
          res.end(errorBody(code, message));
          record(entry(before.status, 'status'));
          return;
        }
      }
      let reply: Reply;
      try {
        if (tooLarge) throw new HarborFault(413, 'REQUEST_ENTITY_TOO_LARGE', 'the request body is too large');
        if (!url.pathname.startsWith(`${API_BASE}/`)) throw new HarborFault(404, 'NOT_FOUND', `path ${url.pathname} was not found`);
        const path = url.pathname.slice(API_BASE.length).replace(/\/+$/, '') || '/';
        if (bodyError) throw new HarborFault(400, 'BAD_REQUEST', 'parsing body body from "" failed, because invalid character in JSON');
        const auth = principalOf(ctx, typeof req.headers.authorization === 'string' ? req.headers.authorization : undefined);
        const anonymousOk = isAnonymousEndpoint(method, path);
        if (auth === 'invalid') {
          if (!anonymousOk || path === '/projects') throw new HarborFault(401, 'UNAUTHORIZED', 'unauthorized');
        }
        const principal: Principal = auth === 'invalid' ? { kind: 'anonymous' } : auth;
        if (principal.kind === 'anonymous' && !anonymousOk) throw new HarborFault(401, 'UNAUTHORIZED', 'unauthorized');
        if (principal.kind === 'robot' && method !== 'GET' && method !== 'HEAD') throw new HarborFault(403, 'FORBIDDEN', 'forbidden');
        const apiReq = {
          method: method === 'HEAD' && path !== '/projects' ? 'GET' : method,
          path,
          query: url.searchParams,
          headers: req.headers,
          body,
          principal,
        };
        env.externalUrl = ctx.externalUrl ?? `http://${req.headers.host ?? 'localhost'}`;
        reply = await handleApi(env, apiReq);
        if (reply.mutated) await ctx.save();
      } catch (err) {
        if (err instanceof HarborFault) reply = { status: err.status, body: { errors: [{ code: err.code, message: err.message }] } };
        else reply = { status: 500, body: { errors: [{ code: 'UNKNOWN', message: 'internal server error' }] } };
      }
      const after = faults.take(method, url.pathname, 'after');
      if (after) {
        if (after.delayMs) await new Promise((r) => setTimeout(r, after.delayMs));
        if (after.reset) {
          record(entry(0, 'reset'));
          req.socket.destroy();
          return;
        }
        if (after.status)
          reply = { status: after.status, body: { errors: [{ code: STATUS_CODES[after.status] ?? 'UNKNOWN', message: 'internal server error' }] } };
      }
      send(res, reply, requestId, method === 'HEAD');
      record(entry(reply.status, after ? 'status' : undefined));
    })().catch(() => {
      if (!res.headersSent) {
        res.writeHead(500, { 'Content-Type': 'application/json; charset=utf-8' });
        res.end(errorBody('UNKNOWN', 'internal server error'));
      }
    });
  });
  server.keepAliveTimeout = 5_000;
  return server;
}
