// A local emulator of Huawei Cloud's VPC v1 route-table API, over real HTTP, for the tests, the lab and
// users who want to try the agent without a cloud (`mirrornet emulate huaweicloud-vpc`).
//
// Like the API gateway in front of the real service it verifies the SDK-HMAC-SHA256 signature exactly as
// the SDK computes it (signing.ts), answers a bad one with 401 {"error_code":"APIGW.0301",...}, locks an
// access key for five minutes after five bad signatures in a row, throttles with 429 APIGW.0308 on demand,
// and puts an X-Request-Id header on every response. Behind it, the route tables follow the VPC v1 rules
// (store.ts): destinations unique per table, no destination change (del + add), 200 routes per table,
// system `local` routes untouchable, route types ecs/eni/vip/nat/peering/vpn/dc/cc/egw, errors as
// {"code":"VPC.xxxx","message"}.
//
// Test and benchmark hooks (no signature needed; the emulator listens on loopback by default):
//   GET /_emulator/log, DELETE /_emulator/log             the request log (method, path, status; no secrets)
//   GET|POST|DELETE /_emulator/faults                     faults for the next matching API requests
//   GET|PUT /_emulator/state                              the whole state
//   PUT /_emulator/projects/{p}/routetables/{id}/routes   replace a table's routes behind the client's back
//   GET /_emulator/health
import { randomUUID } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Logger } from 'pino';
import { parse as parseYaml } from 'yaml';
import { z } from 'zod';
import {
  EmuConfigFile,
  EmuState,
  FaultSpec,
  type EmuCredential,
  type EmuProject,
  type EmuRoute,
  type EmuRouteTable,
  type EmuRouteTableInput,
  type EmuState as EmuStateT,
  type EmuStateInput,
  type Fault,
} from './schema.js';
import { MAX_CLOCK_SKEW_MS, verifySignature, type VerifyFailure } from './signing.js';
import { listTables, RouteTableStore, VpcApiError, VPC_ERRORS, type ListQuery } from './store.js';
import { listenOn, parseListen } from '../http.js';

export { ROUTE_TYPES, DEFAULT_ROUTE_QUOTA, type EmuRoute, type EmuRouteTable, type EmuStateInput, type FaultSpec } from './schema.js';
export { signRequest, formatSdkDate } from './signing.js';
export { VPC_ERRORS } from './store.js';

export const LOCKOUT_FAILURES = 5;
export const LOCKOUT_MS = 5 * 60 * 1000;
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

export interface HuaweiVpcEmulatorOptions {
  /** Default 127.0.0.1:0 (a free port). */
  listen?: { host?: string; port?: number };
  /** Access keys the gateway accepts. */
  credentials: readonly EmuCredential[];
  /** Initial state; `projects` is a shorthand for `seed.projects`. A state file that exists wins over both. */
  seed?: EmuStateInput;
  projects?: Record<string, z.input<typeof EmuProject>>;
  /** Persist the state here (loaded at start, saved atomically on every change). */
  statePath?: string;
  /** Routes per table (default 200, `local` routes not counted). */
  routeQuota?: number;
  /** Create an empty route table on the first request for an unknown id (for trying the agent). */
  autoCreateTables?: boolean;
  /** Faults for the first requests. */
  faults?: FaultSpec[];
  /** The gateway's clock (tests move it to end a lockout). */
  now?: () => number;
  auth?: { maxFailures?: number; lockoutMs?: number; maxClockSkewMs?: number };
  /** The emulator's own log (one line per API request at debug, start/stop at info). */
  logger?: Logger;
  maxLogEntries?: number;
  /** Serve /_emulator/* (default true). */
  control?: boolean;
}

export interface HuaweiVpcEmulator {
  url: string;
  host: string;
  port: number;
  close(): Promise<void>;
  state: {
    snapshot(): EmuStateT;
    tables(projectId: string): EmuRouteTable[];
    table(projectId: string, id: string): EmuRouteTable | undefined;
    putTable(projectId: string, table: EmuRouteTableInput): Promise<EmuRouteTable>;
    /** Replace a table's routes, no API rule applied (drift behind the client's back). */
    setRoutes(projectId: string, id: string, routes: EmuRoute[]): Promise<void>;
    /** Resolves when the state file has every change so far. */
    flushed(): Promise<void>;
  };
  log: {
    entries(): RequestLogEntry[];
    clear(): void;
  };
  faults: {
    /** Queue faults; each is used once, by the first API request it matches. */
    next(faults: FaultSpec[]): void;
    pending(): Fault[];
    clear(): void;
  };
}

interface Reply {
  status: number;
  body: unknown;
}

function gatewayError(status: number, code: string, msg: string, requestId: string): Reply {
  return { status, body: { error_code: code, error_msg: msg, request_id: requestId } };
}

const AUTH_DETAIL: Record<VerifyFailure, string> = {
  'missing-authorization': 'the request carries no signature',
  'malformed-authorization': 'the signature header is not in the SDK-HMAC-SHA256 format',
  'unknown-ak': 'the access key does not exist',
  'missing-date': 'the X-Sdk-Date header is missing',
  'bad-date': 'the X-Sdk-Date header is not YYYYMMDDTHHmmssZ',
  expired: 'the request has expired: X-Sdk-Date is more than 15 minutes away from the server time',
  'unsigned-required-header': 'host and x-sdk-date must be signed headers',
  'signature-mismatch': 'verify aksk signature fail',
};

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

function firstValues(raw: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of new URLSearchParams(raw)) if (!(k in out)) out[k] = v;
  return out;
}

function decodeSegment(s: string): string {
  try {
    return decodeURIComponent(s);
  } catch {
    return s;
  }
}

function errorCodeOf(body: unknown): string | undefined {
  if (!body || typeof body !== 'object') return undefined;
  const b = body as Record<string, unknown>;
  const c = b['error_code'] ?? b['code'];
  return typeof c === 'string' ? c : undefined;
}

export async function startHuaweiVpcEmulator(opts: HuaweiVpcEmulatorOptions): Promise<HuaweiVpcEmulator> {
  const now = opts.now ?? Date.now;
  const seed: EmuStateInput = { ...(opts.seed ?? {}), projects: { ...(opts.seed?.projects ?? {}), ...(opts.projects ?? {}) } };
  const store = await RouteTableStore.open({
    seed,
    ...(opts.statePath ? { statePath: opts.statePath } : {}),
    ...(opts.routeQuota ? { routeQuota: opts.routeQuota } : {}),
    now,
  });
  const creds = new Map(opts.credentials.map((c) => [c.ak, c] as const));
  const maxFailures = opts.auth?.maxFailures ?? LOCKOUT_FAILURES;
  const lockoutMs = opts.auth?.lockoutMs ?? LOCKOUT_MS;
  const maxSkew = opts.auth?.maxClockSkewMs ?? MAX_CLOCK_SKEW_MS;
  const failures = new Map<string, number>();
  const lockedUntil = new Map<string, number>();
  const log: RequestLogEntry[] = [];
  const maxLog = opts.maxLogEntries ?? 100_000;
  let seq = 0;
  let faults: Fault[] = (opts.faults ?? []).map((f) => FaultSpec.parse(f));
  const logger = opts.logger;
  const control = opts.control ?? true;

  const takeFault = (method: string, path: string): Fault | undefined => {
    const at = faults.findIndex((f) => (!f.match?.method || f.match.method.toUpperCase() === method) && (!f.match?.path || path.includes(f.match.path)));
    if (at < 0) return undefined;
    const [f] = faults.splice(at, 1);
    return f;
  };

  /** The API gateway: signature, lockout. Returns the AK or an error reply. */
  const authenticate = (req: http.IncomingMessage, path: string, rawQuery: string, body: Buffer, requestId: string): { ak: string } | Reply => {
    const t = now();
    const claimed = /Access=([^,\s]+)/.exec(String(req.headers['authorization'] ?? ''))?.[1];
    if (claimed && creds.has(claimed)) {
      const until = lockedUntil.get(claimed);
      if (until !== undefined && t < until) {
        return gatewayError(
          401,
          'APIGW.0301',
          `Incorrect IAM authentication information: the access key is locked for ${Math.round(lockoutMs / 60000)} minutes after ${maxFailures} failed signature verifications in a row; try again later`,
          requestId,
        );
      }
      if (until !== undefined) {
        lockedUntil.delete(claimed);
        failures.delete(claimed);
      }
    }
    const result = verifySignature({
      method: req.method ?? 'GET',
      path,
      rawQuery,
      headers: req.headers,
      body,
      secretOf: (ak) => creds.get(ak)?.sk,
      now: t,
      maxSkewMs: maxSkew,
    });
    if (result.ok) {
      failures.delete(result.ak);
      return { ak: result.ak };
    }
    if (result.ak) {
      const n = (failures.get(result.ak) ?? 0) + 1;
      failures.set(result.ak, n);
      if (n >= maxFailures) lockedUntil.set(result.ak, t + lockoutMs);
    }
    return gatewayError(401, 'APIGW.0301', `Incorrect IAM authentication information: ${AUTH_DETAIL[result.reason]}`, requestId);
  };

  const api = async (req: http.IncomingMessage, ak: string, segments: string[], rawQuery: string, body: Buffer): Promise<Reply> => {
    const method = req.method ?? 'GET';
    // /v1/{project_id}/routetables[/{id}]
    const [, projectId, , tableId] = segments.map(decodeSegment);
    const cred = creds.get(ak)!;
    const headerProject = req.headers['x-project-id'];
    if (
      !projectId ||
      (typeof headerProject === 'string' && headerProject !== projectId) ||
      (cred.projects && !cred.projects.includes(projectId)) ||
      (!store.hasProject(projectId) && !opts.autoCreateTables)
    ) {
      const e = VpcApiError.of('tenantMismatch', 'urlTenantId is not equal tokenTenantId');
      return { status: e.status, body: e.body() };
    }
    try {
      if (tableId === undefined) {
        if (method !== 'GET') throw new VpcApiError(404, 'APIGW.0101', 'The API does not exist or has not been published in the environment');
        const q = firstValues(rawQuery) as ListQuery;
        return { status: 200, body: { routetables: listTables(store.tables(projectId), q).map((t) => ({ ...t, tenant_id: projectId })) } };
      }
      if (method === 'GET') {
        let t = store.table(projectId, tableId);
        if (!t && opts.autoCreateTables) t = await store.putTable(projectId, { id: tableId, name: tableId });
        if (!t) throw VpcApiError.of('routeTableNotFound', `RouteTable ${tableId} is not exist.`);
        return { status: 200, body: { routetable: { ...t, tenant_id: projectId } } };
      }
      if (method === 'PUT') {
        let parsed: unknown;
        try {
          parsed = JSON.parse(body.toString('utf8') || 'null');
        } catch {
          throw VpcApiError.of('invalidParam', 'Param is invalid: the request body is not JSON.');
        }
        if (!store.table(projectId, tableId) && opts.autoCreateTables) await store.putTable(projectId, { id: tableId, name: tableId });
        const t = await store.update(projectId, tableId, parsed);
        return { status: 200, body: { routetable: { ...t, tenant_id: projectId } } };
      }
      throw new VpcApiError(404, 'APIGW.0101', 'The API does not exist or has not been published in the environment');
    } catch (err) {
      if (err instanceof VpcApiError) {
        if (err.code.startsWith('APIGW.')) return { status: err.status, body: { error_code: err.code, error_msg: err.message } };
        return { status: err.status, body: err.body() };
      }
      throw err;
    }
  };

  const controlApi = async (method: string, path: string, body: Buffer): Promise<Reply> => {
    const json = (): unknown => {
      try {
        return JSON.parse(body.toString('utf8') || 'null');
      } catch {
        throw new VpcApiError(400, 'EMULATOR.0001', 'the body is not JSON');
      }
    };
    if (path === '/_emulator/health' && method === 'GET') return { status: 200, body: { status: 'ok' } };
    if (path === '/_emulator/log') {
      if (method === 'GET') return { status: 200, body: { entries: log } };
      if (method === 'DELETE') {
        log.length = 0;
        return { status: 200, body: { entries: [] } };
      }
    }
    if (path === '/_emulator/faults') {
      if (method === 'GET') return { status: 200, body: { faults } };
      if (method === 'DELETE') {
        faults = [];
        return { status: 200, body: { faults } };
      }
      if (method === 'POST') {
        const raw = json();
        const list = Array.isArray(raw) ? raw : (raw as { faults?: unknown } | null)?.faults;
        const parsed = z.array(FaultSpec).safeParse(list);
        if (!parsed.success) return { status: 400, body: { error: `faults: ${parsed.error.message}` } };
        faults.push(...parsed.data);
        return { status: 200, body: { faults } };
      }
    }
    if (path === '/_emulator/state') {
      if (method === 'GET') return { status: 200, body: store.snapshot() };
      if (method === 'PUT') {
        const parsed = EmuState.safeParse(json());
        if (!parsed.success) return { status: 400, body: { error: `state: ${parsed.error.message}` } };
        await store.replaceState(parsed.data);
        return { status: 200, body: store.snapshot() };
      }
    }
    const m = /^\/_emulator\/projects\/([^/]+)\/routetables\/([^/]+)\/routes$/.exec(path);
    if (m && method === 'PUT') {
      const routes = z
        .array(z.object({ type: z.string(), destination: z.string(), nexthop: z.string().default(''), description: z.string().optional() }))
        .safeParse(json());
      if (!routes.success) return { status: 400, body: { error: `routes: ${routes.error.message}` } };
      const pid = decodeSegment(m[1]!);
      const id = decodeSegment(m[2]!);
      if (!store.table(pid, id)) await store.putTable(pid, { id });
      await store.setRoutes(pid, id, routes.data);
      return { status: 200, body: { routetable: store.table(pid, id) } };
    }
    return { status: 404, body: { error: `no emulator endpoint ${method} ${path}` } };
  };

  const send = (res: http.ServerResponse, reply: Reply): void => {
    const text = JSON.stringify(reply.body);
    res.statusCode = reply.status;
    res.setHeader('Content-Type', 'application/json;charset=UTF-8');
    res.setHeader('Content-Length', Buffer.byteLength(text));
    res.end(text);
  };

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
        send(res, await controlApi(method, path, body));
      } catch (err) {
        send(res, { status: err instanceof VpcApiError ? err.status : 500, body: { error: (err as Error).message } });
      }
      return;
    }
    const entry: RequestLogEntry = { seq: ++seq, time: new Date(now()).toISOString(), method, path, query: rawQuery, status: 0, requestId, durationMs: 0 };
    let reset = false;
    let reply: Reply | undefined;
    try {
      const fault = takeFault(method, path);
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
          const auth = authenticate(req, path, rawQuery, body, requestId);
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
  const { url, address } = await listenOn(server, parseListen(opts.listen));
  logger?.info({ url, statePath: opts.statePath }, 'Huawei Cloud VPC emulator listening');

  return {
    url,
    host: address.address,
    port: address.port,
    async close() {
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      });
      await store.flushed();
    },
    state: {
      snapshot: () => store.snapshot(),
      tables: (p) => structuredClone(store.tables(p)),
      table: (p, id) => {
        const t = store.table(p, id);
        return t ? structuredClone(t) : undefined;
      },
      putTable: (p, t) => store.putTable(p, t),
      setRoutes: (p, id, routes) => store.setRoutes(p, id, routes),
      flushed: () => store.flushed(),
    },
    log: {
      entries: () => log.map((e) => ({ ...e })),
      clear: () => {
        log.length = 0;
      },
    },
    faults: {
      next: (list) => {
        faults.push(...list.map((f) => FaultSpec.parse(f)));
      },
      pending: () => faults.map((f) => ({ ...f })),
      clear: () => {
        faults = [];
      },
    },
  };
}

/** `127.0.0.1:8080`, `:8080`, `8080`, `[::1]:8080`, `0.0.0.0:0`. */
export function parseListenAddress(text: string): { host: string; port: number } {
  return parseListen(text);
}

/** Read an emulator configuration file (JSON or YAML): listen, state, credentials, projects, routeQuota. */
export async function loadHuaweiVpcEmulatorConfig(path: string): Promise<EmuConfigFile> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (cause) {
    throw new Error(`The emulator configuration ${path} cannot be read (${(cause as NodeJS.ErrnoException).code ?? 'error'}).`, { cause });
  }
  let raw: unknown;
  try {
    raw = parseYaml(text);
  } catch (cause) {
    throw new Error(`The emulator configuration ${path} is neither JSON nor YAML: ${(cause as Error).message}`, { cause });
  }
  const parsed = EmuConfigFile.safeParse(raw ?? {});
  if (!parsed.success) throw new Error(`The emulator configuration ${path} is not valid: ${z.prettifyError(parsed.error)}`);
  return parsed.data;
}

export interface EmulatorCliArgs {
  listen?: string;
  state?: string;
  config?: string;
  ak?: string;
  sk?: string;
  autoCreate?: boolean;
}

/**
 * Options for `mirrornet emulate huaweicloud-vpc`: flags win over the configuration file; credentials come
 * from the file, from --ak/--sk, or from HUAWEICLOUD_SDK_AK / HUAWEICLOUD_SDK_SK (the variables the agent
 * reads too, so one environment serves both).
 */
export async function huaweiVpcEmulatorOptionsFromCli(args: EmulatorCliArgs, env: NodeJS.ProcessEnv = process.env): Promise<HuaweiVpcEmulatorOptions> {
  const file = args.config ? await loadHuaweiVpcEmulatorConfig(args.config) : undefined;
  const credentials: EmuCredential[] = [...(file?.credentials ?? [])];
  const ak = args.ak ?? env['HUAWEICLOUD_SDK_AK'];
  const sk = args.sk ?? env['HUAWEICLOUD_SDK_SK'];
  if (ak && sk && !credentials.some((c) => c.ak === ak)) credentials.push({ ak, sk });
  if (!credentials.length) {
    throw new Error(
      'The emulator needs at least one access key: give --ak and --sk, set HUAWEICLOUD_SDK_AK and HUAWEICLOUD_SDK_SK, or list credentials in --config.',
    );
  }
  const listen = args.listen ?? file?.listen;
  const statePath = args.state ?? file?.state;
  return {
    credentials,
    ...(listen ? { listen: parseListenAddress(listen) } : {}),
    ...(statePath ? { statePath } : {}),
    ...(file ? { projects: file.projects } : {}),
    ...(file?.routeQuota ? { routeQuota: file.routeQuota } : {}),
    ...((args.autoCreate ?? file?.autoCreateTables) ? { autoCreateTables: true } : {}),
  };
}
