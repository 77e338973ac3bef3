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
//
// This file starts the emulator: options, the state store, and the pieces wired together — the gateway
// (gateway.ts), the route-table API (api.ts), the hooks (control.ts) and the HTTP front (server.ts).
import type { Logger } from 'pino';
import type { z } from 'zod';
import { routeTableApi, type RouteTableApi } from './api.js';
import { controlApi } from './control.js';
import { FaultQueue } from './faults.js';
import { Gateway } from './gateway.js';
import {
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
import { createVpcServer, type RequestLogEntry } from './server.js';
import { RouteTableStore } from './store.js';
import { closeServer, listenOn, parseListen } from '../http.js';

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
  /**
   * Sees every authenticated API request before the API answers it (tests collect the keys a client sends,
   * for the constraint inventory). The body is the parsed JSON, undefined when there is none.
   */
  onRequest?: (req: { method: string; path: string; query: string; body: unknown }) => void;
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

/** The API, with `onRequest` told about each request first. */
function observed(api: RouteTableApi, onRequest: HuaweiVpcEmulatorOptions['onRequest']): RouteTableApi {
  if (!onRequest) return api;
  return (req, ak, segments, rawQuery, body) => {
    let parsed: unknown;
    try {
      parsed = body.length ? JSON.parse(body.toString('utf8')) : undefined;
    } catch {
      parsed = undefined;
    }
    onRequest({ method: req.method ?? 'GET', path: `/${segments.join('/')}`, query: rawQuery, body: parsed });
    return api(req, ak, segments, rawQuery, body);
  };
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
  const gateway = new Gateway({ credentials: creds, now, ...opts.auth });
  const log: RequestLogEntry[] = [];
  const faults = new FaultQueue();
  faults.add((opts.faults ?? []).map((f) => FaultSpec.parse(f)));
  const logger = opts.logger;
  const server = createVpcServer({
    now,
    gateway,
    api: observed(routeTableApi({ store, credentials: creds, autoCreateTables: opts.autoCreateTables }), opts.onRequest),
    control: (opts.control ?? true) ? controlApi({ store, log, faults }) : undefined,
    faults,
    log,
    maxLog: opts.maxLogEntries ?? 100_000,
    logger,
  });
  const { url, address } = await listenOn(server, parseListen(opts.listen));
  logger?.info({ url, statePath: opts.statePath }, 'Huawei Cloud VPC emulator listening');

  return {
    url,
    host: address.address,
    port: address.port,
    async close() {
      await closeServer(server);
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
        faults.add(list.map((f) => FaultSpec.parse(f)));
      },
      pending: () => faults.list().map((f) => ({ ...f })),
      clear: () => {
        faults.clear();
      },
    },
  };
}
