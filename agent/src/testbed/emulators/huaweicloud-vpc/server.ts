// The VPC emulator's HTTP front: reads the request (413 past 1 MiB), serves /_emulator/* when enabled,
// applies a queued fault, checks the path is a route-table API, lets the gateway verify the signature and
// the API answer, and writes every answer as JSON with an X-Request-Id header. Every API request is logged
// (method, path, status; no secrets).
import { randomUUID } from 'node:crypto';
import http from 'node:http';
import type { Logger } from 'pino';
import type { RouteTableApi } from './api.js';
import type { ControlApi } from './control.js';
import type { FaultQueue } from './faults.js';
import { gatewayError, type Gateway, type Reply } from './gateway.js';
import type { Fault } from './schema.js';
import { VpcApiError, VPC_ERRORS } from './store.js';

const MAX_BODY = 1024 * 1024;

export interface RequestLogEntry {
  seq: number;
  time: string;
  method: string;
  /** The request path, without the query. */
  path: string;
  /** The raw query string (route-table filters and pagination only; no secrets travel in it). */
  query: string;
  /** HTTP status, or 0 when the connection was reset without an answer. */
  status: number;
  requestId: string;
  durationMs: number;
  /** error_code / code of an error answer. */
  errorCode?: string;
  /** The injected fault, if any. */
  fault?: Fault['kind'];
}

export interface VpcServerOptions {
  now: () => number;
  gateway: Gateway;
  api: RouteTableApi;
  /** The /_emulator/* hooks; absent when they are off. */
  control: ControlApi | undefined;
  faults: FaultQueue;
  /** The request log (live), kept at most `maxLog` long. */
  log: RequestLogEntry[];
  maxLog: number;
  logger: Logger | undefined;
}

function readBody(req: http.IncomingMessage): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (c: Buffer) => {
      size += c.length;
      if (size > MAX_BODY) {
        reject(new VpcApiError(413, 'APIGW.0201', 'Request entity too large'));
        req.destroy();
        return;
      }
      chunks.push(c);
    });
    req.on('end', () => resolve(Buffer.concat(chunks)));
    req.on('error', reject);
  });
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

function errorCodeOf(body: unknown): string | undefined {
  if (!body || typeof body !== 'object') return undefined;
  const b = body as Record<string, unknown>;
  const c = b['error_code'] ?? b['code'];
  return typeof c === 'string' ? c : undefined;
}

function send(res: http.ServerResponse, reply: Reply): void {
  const text = JSON.stringify(reply.body);
  res.statusCode = reply.status;
  res.setHeader('Content-Type', 'application/json;charset=UTF-8');
  res.setHeader('Content-Length', Buffer.byteLength(text));
  res.end(text);
}

export function createVpcServer(opts: VpcServerOptions): http.Server {
  const { now, gateway, api, control, faults, log, maxLog, logger } = opts;
  let seq = 0;

  const handle = async (req: http.IncomingMessage, res: http.ServerResponse): Promise<void> => {
    const requestId = randomUUID().replace(/-/g, '');
    res.setHeader('X-Request-Id', requestId);
    const started = performance.now();
    const method = (req.method ?? 'GET').toUpperCase();
    const url = req.url ?? '/';
    const q = url.indexOf('?');
    const path = q < 0 ? url : url.slice(0, q);
    const rawQuery = q < 0 ? '' : url.slice(q + 1);
    let body: Buffer;
    try {
      body = await readBody(req);
    } catch (err) {
      if (err instanceof VpcApiError && !res.headersSent) send(res, gatewayError(err.status, err.code, err.message, requestId));
      return;
    }
    if (path.startsWith('/_emulator/') && control) {
      try {
        send(res, await control(method, path, body));
      } catch (err) {
        send(res, { status: err instanceof VpcApiError ? err.status : 500, body: { error: (err as Error).message } });
      }
      return;
    }
    const entry: RequestLogEntry = { seq: ++seq, time: new Date(now()).toISOString(), method, path, query: rawQuery, status: 0, requestId, durationMs: 0 };
    let reset = false;
    let reply: Reply | undefined;
    try {
      const fault = faults.take(method, path);
      if (fault) entry.fault = fault.kind;
      let after: Fault | undefined;
      if (fault?.kind === '429')
        reply = gatewayError(429, 'APIGW.0308', 'The throttling threshold has been reached: policy user over ratelimit,limit:20,time:1 second', requestId);
      else if (fault?.kind === 'status')
        reply = {
          status: fault.status,
          body:
            fault.body ??
            (fault.status >= 500
              ? { code: VPC_ERRORS.backend.code, message: 'Neutron Error.' }
              : { error_code: 'APIGW.0000', error_msg: 'injected error', request_id: requestId }),
        };
      else if (fault?.kind === '500' && fault.when === 'before') reply = { status: 500, body: { code: VPC_ERRORS.backend.code, message: 'Neutron Error.' } };
      else if (fault?.kind === 'reset' && fault.when === 'before') reset = true;
      else if (fault?.kind === 'delay') await sleep(fault.ms);
      else if (fault) after = fault;

      if (!reply && !reset) {
        const segments = path.split('/').slice(1); // ['v1', pid, 'routetables', id?]
        if (segments[0] !== 'v1' || segments[2] !== 'routetables' || segments.length < 3 || segments.length > 4 || segments.some((s) => s === '')) {
          reply = gatewayError(404, 'APIGW.0101', 'The API does not exist or has not been published in the environment', requestId);
        } else {
          const auth = gateway.authenticate(req, path, rawQuery, body, requestId);
          reply = 'ak' in auth ? await api(req, auth.ak, segments, rawQuery, body) : auth;
        }
        if (after?.kind === 'reset') reset = true;
        else if (after?.kind === '500') reply = { status: 500, body: { code: VPC_ERRORS.backend.code, message: 'Neutron Error.' } };
      }
    } catch (err) {
      logger?.error({ err: (err as Error).message, requestId }, 'emulator request failed');
      reply = { status: 500, body: { code: VPC_ERRORS.backend.code, message: 'Internal Server Error.' } };
    } finally {
      if (reset || !reply) {
        req.socket.destroy();
        entry.status = 0;
      } else {
        entry.status = reply.status;
        const code = reply.status >= 400 ? errorCodeOf(reply.body) : undefined;
        if (code) entry.errorCode = code;
        if (!res.destroyed && !res.writableEnded) send(res, reply);
      }
      entry.durationMs = Math.round((performance.now() - started) * 1000) / 1000;
      log.push(entry);
      if (log.length > maxLog) log.splice(0, log.length - maxLog);
      logger?.debug({ method, path, status: entry.status, requestId, fault: entry.fault, ms: entry.durationMs }, 'request');
    }
  };

  const server = http.createServer((req, res) => {
    handle(req, res).catch((err: unknown) => {
      logger?.error({ err: (err as Error).message }, 'emulator request failed');
      if (!res.headersSent) {
        res.statusCode = 500;
        res.end();
      }
    });
  });
  return server;
}
