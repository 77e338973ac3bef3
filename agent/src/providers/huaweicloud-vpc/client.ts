// The Huawei Cloud VPC route-table API as the provider needs it, on top of the official Node.js SDK
// (@huaweicloud/huaweicloud-sdk-vpc VpcClient, SDK-HMAC-SHA256 signing by -core), with what the SDK lacks:
//
// - Silence: core configures log4js to stdout (level debug) when it is loaded and logs the whole failed
//   request, Authorization header included. `silenceSdkLogging` turns log4js off right after loading core
//   and before the first call.
// - Error bodies: the SDK parses only gateway errors (`error_code`) and loses VPC v1 `{"code","message"}`.
//   Every status is passed through to us (`validateStatus`), the X-Request-Id header is kept with the body,
//   and both body shapes are parsed here.
// - Retries: 429, 5xx, timeouts and connection resets, with exponential backoff and jitter, bounded. An
//   update interrupted in a way that leaves its outcome unknown (5xx, reset, timeout) re-reads the table and
//   sends only what is still missing, so a retry never adds a route twice nor deletes a route it did not see.
// - Hygiene: no access key, secret key or Authorization header in errors or logs.
import { MirrornetError } from '../../errors.js';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import type { Logger } from 'pino';
import type { SecretResolver } from '../../host/secrets.js';
import { silentLogger } from '../../log.js';
import {
  GatewayErrorBody,
  ListRouteTablesBody,
  NestedErrorBody,
  ShowRouteTableBody,
  VpcErrorBody,
  type RouteEntry,
  type RouteTable,
  type RouteTableSummary,
} from './schema.js';

export type { RouteEntry, RouteTable, RouteTableSummary } from './schema.js';

export const ENDPOINT_ENV = 'MIRRORNET_HUAWEICLOUD_VPC_ENDPOINT';
export const AK_ENV = 'HUAWEICLOUD_SDK_AK';
export const SK_ENV = 'HUAWEICLOUD_SDK_SK';
export const USER_AGENT = 'mirrornet/0.1';
export const DEFAULT_TIMEOUT_MS = 10_000;

/** Routes to add and routes to delete in one route table, sent in one PUT. */
export interface RouteBatch {
  add: RouteEntry[];
  /** The routes as last seen (destination, type, next hop, description): a retry deletes only these. */
  del: RouteEntry[];
}

export interface VpcRouteApi {
  readonly projectId: string;
  readonly endpoint: string;
  showRouteTable(id: string): Promise<RouteTable>;
  updateRouteTable(id: string, batch: RouteBatch): Promise<RouteTable>;
  /** Every route table (without routes) of the project, optionally of one VPC; follows limit/marker pages. */
  listRouteTables(opts?: { vpcId?: string; pageSize?: number }): Promise<RouteTableSummary[]>;
}

export type VpcErrorKind =
  'auth' | 'forbidden' | 'not-found' | 'rejected' | 'conflict' | 'throttled' | 'server' | 'network' | 'timeout' | 'response' | 'config';

const RETRYABLE: ReadonlySet<VpcErrorKind> = new Set(['throttled', 'server', 'network', 'timeout']);

export class HuaweiVpcError extends MirrornetError {
  readonly kind: VpcErrorKind;
  readonly retryable: boolean;
  readonly status: number | undefined;
  readonly code: string | undefined;
  readonly requestId: string | undefined;
  readonly operation: string;
  attempts: number;
  constructor(
    init: {
      kind: VpcErrorKind;
      operation: string;
      message: string;
      userMessage: string;
      status?: number;
      code?: string;
      requestId?: string;
      attempts?: number;
    },
    opts?: { cause?: unknown },
  ) {
    super(init.userMessage, { cause: opts?.cause, message: init.message });
    this.kind = init.kind;
    this.retryable = RETRYABLE.has(init.kind);
    this.status = init.status;
    this.code = init.code;
    this.requestId = init.requestId;
    this.operation = init.operation;
    this.attempts = init.attempts ?? 1;
  }
}

export interface RetryOptions {
  /** Attempts in all, the first included (default 4). */
  attempts?: number;
  baseDelayMs?: number;
  maxDelayMs?: number;
  sleep?: (ms: number) => Promise<void>;
  random?: () => number;
}

/** Exponential backoff with jitter: half of the capped exponential delay fixed, half random. */
export function backoffDelay(attempt: number, opts: RetryOptions = {}): number {
  const base = opts.baseDelayMs ?? 250;
  const max = opts.maxDelayMs ?? 4000;
  const cap = Math.min(max, base * 2 ** Math.max(0, attempt - 1));
  return Math.round(cap / 2 + (opts.random ?? Math.random)() * (cap / 2));
}

// --- the SDK, loaded lazily and silenced -------------------------------------------------------------

const require = createRequire(import.meta.url);

interface SdkVpcClient {
  showRouteTable(req: unknown): Promise<unknown>;
  updateRouteTable(req: unknown): Promise<unknown>;
  listRouteTables(req: unknown): Promise<unknown>;
}
interface SdkBuilder {
  withCredential(c: unknown): SdkBuilder;
  withEndpoint(url: string): SdkBuilder;
  withOptions(o: unknown): SdkBuilder;
  build(): SdkVpcClient;
}
interface SdkBasicCredentials {
  withAk(ak: string): SdkBasicCredentials;
  withSk(sk: string): SdkBasicCredentials;
  withProjectId(id: string): SdkBasicCredentials;
}
interface Sdk {
  VpcClient: { newBuilder(): SdkBuilder };
  BasicCredentials: new () => SdkBasicCredentials;
}

let sdk: Sdk | undefined;

/**
 * Turn the SDK's log4js off. core's logger/log4jLogger.js calls log4js.configure (stdout appender, level
 * debug) when it is first required and every SDK logger writes through that default category; configuring
 * the same log4js instance with level `off` afterwards silences all of it. Idempotent.
 */
export function silenceSdkLogging(): void {
  require('@huaweicloud/huaweicloud-sdk-core/logger/log4jLogger.js');
  const coreDir = dirname(require.resolve('@huaweicloud/huaweicloud-sdk-core/package.json'));
  const log4js = createRequire(join(coreDir, 'package.json'))('log4js') as { configure(c: unknown): unknown };
  log4js.configure({ appenders: { off: { type: 'stdout' } }, categories: { default: { appenders: ['off'], level: 'off' } } });
}

function loadSdk(): Sdk {
  if (!sdk) {
    const core = require('@huaweicloud/huaweicloud-sdk-core') as { BasicCredentials: Sdk['BasicCredentials'] };
    silenceSdkLogging();
    const vpc = require('@huaweicloud/huaweicloud-sdk-vpc/v2/VpcClient.js') as { VpcClient: Sdk['VpcClient'] };
    silenceSdkLogging();
    sdk = { VpcClient: vpc.VpcClient, BasicCredentials: core.BasicCredentials };
  }
  return sdk;
}

// --- endpoints and credentials -----------------------------------------------------------------------

/** The VPC endpoint of a region, unless overridden (option, then MIRRORNET_HUAWEICLOUD_VPC_ENDPOINT). */
export function vpcEndpoint(region: string, opts: { override?: string; env?: NodeJS.ProcessEnv } = {}): string {
  const env = opts.env ?? process.env;
  const chosen = opts.override || env[ENDPOINT_ENV] || `https://vpc.${region}.myhuaweicloud.com`;
  return chosen.replace(/\/+$/, '');
}

/**
 * The access key pair: from secret references (env:NAME, file:/path) when given, else from
 * HUAWEICLOUD_SDK_AK / HUAWEICLOUD_SDK_SK.
 */
export async function resolveHuaweiCredentials(
  opts: { secrets?: SecretResolver; akRef?: string; skRef?: string; env?: NodeJS.ProcessEnv } = {},
): Promise<{ ak: string; sk: string }> {
  const env = opts.env ?? process.env;
  const one = async (ref: string | undefined, name: string): Promise<string> => {
    if (ref) {
      if (!opts.secrets) throw configError(`the secret reference for ${name === AK_ENV ? 'the access key' : 'the secret key'} cannot be resolved here`);
      return (await opts.secrets.resolve(ref)).trim();
    }
    const v = env[name];
    if (!v) throw configError(`${name} is not set and no secret reference was given for ${name === AK_ENV ? 'the access key' : 'the secret key'}`);
    return v.trim();
  };
  return { ak: await one(opts.akRef, AK_ENV), sk: await one(opts.skRef, SK_ENV) };
}

function configError(why: string): HuaweiVpcError {
  return new HuaweiVpcError({
    kind: 'config',
    operation: 'configuring the Huawei Cloud client',
    message: why,
    userMessage: `Huawei Cloud credentials are missing: ${why}.`,
  });
}

// --- the client ----------------------------------------------------------------------------------------

export interface VpcClientOptions {
  endpoint: string;
  ak: string;
  sk: string;
  projectId: string;
  timeoutMs?: number;
  log?: Logger;
  retry?: RetryOptions;
}

const REQUEST_ID = Symbol('x-request-id');

interface Raw {
  status: number;
  body: unknown;
  requestId: string | undefined;
}

function describe(op: Operation): string {
  switch (op.name) {
    case 'show':
      return `reading route table ${op.table}`;
    case 'update':
      return `updating route table ${op.table}`;
    case 'list':
      return op.vpcId ? `listing the route tables of VPC ${op.vpcId}` : 'listing the route tables';
  }
}

type Operation = { name: 'show'; table: string } | { name: 'update'; table: string } | { name: 'list'; vpcId?: string };

export function sameRoute(a: RouteEntry, b: RouteEntry): boolean {
  return a.destination === b.destination && a.type === b.type && a.nexthop === b.nexthop && (a.description ?? '') === (b.description ?? '');
}

/**
 * What of `batch` is still to do on a table that now has `current` routes: deletes of routes still there
 * exactly as they were seen, adds not there yet. A destination taken meanwhile by a route that is neither
 * the one we add nor one we delete is a conflict (someone else changed the table): thrown, not overwritten.
 */
export function remainingBatch(tableId: string, batch: RouteBatch, current: readonly RouteEntry[]): RouteBatch {
  const byDst = new Map(current.map((r) => [r.destination, r] as const));
  const del = batch.del.filter((d) => {
    const have = byDst.get(d.destination);
    return have !== undefined && sameRoute(have, d);
  });
  const deleting = new Set(del.map((d) => d.destination));
  const add: RouteEntry[] = [];
  for (const a of batch.add) {
    const have = byDst.get(a.destination);
    if (!have || deleting.has(a.destination)) add.push(a);
    else if (!sameRoute(have, a)) {
      const operation = `updating route table ${tableId}`;
      throw new HuaweiVpcError({
        kind: 'conflict',
        operation,
        message: `route ${a.destination} in table ${tableId} changed while it was being updated`,
        userMessage: `Route table ${tableId} changed while mirrornet was updating it: ${a.destination} now goes to ${have.type} ${have.nexthop}. Nothing was overwritten; the next reconcile plans again from what is there.`,
      });
    }
  }
  return { add, del };
}

export function createVpcClient(opts: VpcClientOptions): VpcRouteApi {
  if (!opts.projectId) throw configError('no project id was given (without one the SDK would ask IAM on the internet)');
  if (!opts.ak || !opts.sk) throw configError('the access key or the secret key is empty');
  let endpoint: string;
  try {
    const u = new URL(opts.endpoint);
    if (u.protocol !== 'http:' && u.protocol !== 'https:') throw new Error('not http(s)');
    endpoint = opts.endpoint.replace(/\/+$/, '');
  } catch (cause) {
    throw new HuaweiVpcError(
      {
        kind: 'config',
        operation: 'configuring the Huawei Cloud client',
        message: `invalid endpoint ${opts.endpoint}`,
        userMessage: `The Huawei Cloud VPC endpoint ${JSON.stringify(opts.endpoint)} is not an http(s) URL.`,
      },
      { cause },
    );
  }
  const log = opts.log ?? silentLogger();
  const timeoutMs = opts.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  const retry = opts.retry ?? {};
  const attempts = Math.max(1, retry.attempts ?? 4);
  const sleep = retry.sleep ?? ((ms: number) => new Promise<void>((r) => setTimeout(r, ms)));
  const secrets = [opts.ak, opts.sk].filter((s) => s.length >= 4);

  /** Never let a key or a signature through, whatever a server or a library put in a message. */
  const scrub = (text: string): string => {
    let out = text;
    for (const s of secrets) out = out.split(s).join('[redacted]');
    return out.replace(/SDK-HMAC-SHA256[^"\n]*/g, 'SDK-HMAC-SHA256 [redacted]').replace(/authorization/gi, 'auth header');
  };

  const { VpcClient, BasicCredentials } = loadSdk();
  silenceSdkLogging();
  const credentials = new BasicCredentials().withAk(opts.ak).withSk(opts.sk).withProjectId(opts.projectId);
  const client = VpcClient.newBuilder()
    .withCredential(credentials)
    .withEndpoint(endpoint)
    .withOptions({
      customUserAgent: USER_AGENT,
      axiosRequestConfig: {
        timeout: timeoutMs,
        // Every status comes back as a response, so VPC v1 error bodies are ours to read.
        validateStatus: () => true,
        // Parse JSON ourselves and keep X-Request-Id with the body (the SDK keeps only the body).
        transformResponse: [
          (data: unknown, headers: Record<string, unknown> | undefined): unknown => {
            let parsed: unknown = data;
            if (typeof data === 'string') {
              try {
                parsed = data.length ? JSON.parse(data) : {};
              } catch {
                parsed = { __text: data.slice(0, 300) };
              }
            }
            if (parsed && typeof parsed === 'object') {
              const rid = headers?.['x-request-id'];
              Object.defineProperty(parsed, REQUEST_ID, { value: typeof rid === 'string' ? rid : undefined, enumerable: false });
            }
            return parsed;
          },
        ],
      },
    })
    .build();

  /**
   * The SDK's exception, reduced to what is safe to keep as a `cause`: its class, scrubbed message, status,
   * code and request id (whatever else a future SDK version might attach, such as the request, stays out).
   */
  const sdkCause = (err: unknown, msg: string): Error => {
    const e = err as { name?: unknown; constructor?: { name?: unknown }; httpStatusCode?: unknown; errorCode?: unknown; requestId?: unknown };
    const name = typeof e?.name === 'string' && e.name !== 'Error' ? e.name : typeof e?.constructor?.name === 'string' ? e.constructor.name : 'Error';
    const cause = new Error(msg);
    cause.name = name;
    Object.assign(cause, {
      ...(typeof e?.httpStatusCode === 'number' ? { httpStatusCode: e.httpStatusCode } : {}),
      ...(typeof e?.errorCode === 'string' ? { errorCode: scrub(e.errorCode) } : {}),
      ...(typeof e?.requestId === 'string' ? { requestId: e.requestId } : {}),
    });
    return cause;
  };

  const transportError = (op: Operation, err: unknown): HuaweiVpcError => {
    const e = err as { errorMsg?: unknown; message?: unknown; httpStatusCode?: unknown; requestId?: unknown; errorCode?: unknown };
    const msg = scrub(String(e?.errorMsg ?? e?.message ?? err));
    const cause = sdkCause(err, msg);
    const what = describe(op);
    if (typeof e?.httpStatusCode === 'number') {
      return statusError(op, {
        status: e.httpStatusCode,
        body: { error_code: e.errorCode, error_msg: msg },
        requestId: typeof e.requestId === 'string' ? e.requestId : undefined,
      });
    }
    if (/timeout of \d+ms exceeded|ETIMEDOUT|ECONNABORTED/i.test(msg)) {
      return new HuaweiVpcError(
        {
          kind: 'timeout',
          operation: what,
          message: `${what}: no answer within ${timeoutMs} ms`,
          userMessage: `The Huawei Cloud VPC endpoint ${endpoint} did not answer within ${timeoutMs} ms while ${what}.`,
        },
        { cause },
      );
    }
    if (/socket hang up|ECONNRESET|ECONNREFUSED|EPIPE|ENOTFOUND|EAI_AGAIN|EHOSTUNREACH|ENETUNREACH|aborted|network/i.test(msg)) {
      return new HuaweiVpcError(
        {
          kind: 'network',
          operation: what,
          message: `${what}: ${msg}`,
          userMessage: `The Huawei Cloud VPC endpoint ${endpoint} could not be reached while ${what} (${msg}).`,
        },
        { cause },
      );
    }
    return new HuaweiVpcError(
      { kind: 'response', operation: what, message: `${what}: ${msg}`, userMessage: `The Huawei Cloud SDK failed while ${what}: ${msg}.` },
      { cause },
    );
  };

  const statusError = (op: Operation, raw: Raw): HuaweiVpcError => {
    const what = describe(op);
    let code: string | undefined;
    let text: string | undefined;
    let requestId = raw.requestId;
    const vpc = VpcErrorBody.safeParse(raw.body);
    const gw = GatewayErrorBody.safeParse(raw.body);
    const nested = NestedErrorBody.safeParse(raw.body);
    if (gw.success) {
      code = gw.data.error_code;
      text = gw.data.error_msg;
      requestId ??= gw.data.request_id;
    } else if (vpc.success) {
      code = vpc.data.code;
      text = vpc.data.message;
    } else if (nested.success) {
      code = nested.data.error.code;
      text = nested.data.error.message;
    }
    text = text ? scrub(text) : undefined;
    const s = raw.status;
    const detail = `HTTP ${s}${code ? ` ${code}` : ''}${text ? `: ${text}` : ''}`;
    const rid = requestId ? ` (request id ${requestId})` : '';
    let kind: VpcErrorKind;
    let userMessage: string;
    if (s === 429) {
      kind = 'throttled';
      userMessage = `Huawei Cloud throttled mirrornet while ${what} (${detail})${rid}.`;
    } else if (s >= 500) {
      kind = 'server';
      userMessage = `Huawei Cloud failed while ${what} (${detail})${rid}.`;
    } else if (s === 401) {
      kind = 'auth';
      userMessage = `Huawei Cloud did not accept mirrornet's access key while ${what} (${detail})${rid}. Check the access key and secret key given to the agent (${AK_ENV} / ${SK_ENV} or its secret references); note that five bad signatures in a row lock a key for five minutes.`;
    } else if (s === 403) {
      kind = 'forbidden';
      userMessage = `Huawei Cloud refused ${what} (${detail})${rid}: the IAM user of this access key needs vpc:routeTables:get and vpc:routeTables:update on project ${opts.projectId}.`;
    } else if (s === 404 && op.name !== 'list') {
      kind = 'not-found';
      userMessage = `Route table ${op.table} does not exist in project ${opts.projectId} (${detail})${rid}. Check cloud.routeTables and cloud.projectId in the repository.`;
    } else if (s === 409 || /conflict|already/i.test(text ?? '')) {
      kind = 'conflict';
      userMessage = `Huawei Cloud rejected ${what} (${detail})${rid}.`;
    } else {
      kind = 'rejected';
      userMessage = `Huawei Cloud rejected ${what} (${detail})${rid}.`;
    }
    return new HuaweiVpcError({
      kind,
      operation: what,
      message: `${what}: ${detail}${rid}`,
      userMessage,
      status: s,
      ...(code ? { code } : {}),
      ...(requestId ? { requestId } : {}),
    });
  };

  /** One HTTP exchange through the SDK. */
  const once = async (op: Operation, call: () => Promise<unknown>): Promise<Raw> => {
    const started = performance.now();
    let result: unknown;
    try {
      result = await call();
    } catch (err) {
      const e = transportError(op, err);
      log.debug({ operation: describe(op), kind: e.kind, ms: Math.round(performance.now() - started) }, 'huaweicloud vpc call failed');
      throw e;
    }
    const r = (result ?? {}) as Record<string | symbol, unknown>;
    const status = typeof r['httpStatusCode'] === 'number' ? r['httpStatusCode'] : 200;
    const requestId = typeof r[REQUEST_ID] === 'string' ? (r[REQUEST_ID] as string) : undefined;
    log.debug({ operation: describe(op), status, requestId, ms: Math.round(performance.now() - started) }, 'huaweicloud vpc call');
    return { status, body: result, requestId };
  };

  const bodyOf = <T>(
    op: Operation,
    raw: Raw,
    schema: { safeParse(v: unknown): { success: true; data: T } | { success: false; error: { message: string } } },
  ): T => {
    if (raw.status < 200 || raw.status >= 300) throw statusError(op, raw);
    const parsed = schema.safeParse(raw.body);
    if (!parsed.success) {
      const what = describe(op);
      throw new HuaweiVpcError({
        kind: 'response',
        operation: what,
        message: `${what}: unexpected response body`,
        userMessage: `Huawei Cloud answered ${what} with a body mirrornet does not understand${raw.requestId ? ` (request id ${raw.requestId})` : ''}.`,
        status: raw.status,
        ...(raw.requestId ? { requestId: raw.requestId } : {}),
      });
    }
    return parsed.data;
  };

  /** Retry retryable failures; `beforeRetry` runs after the backoff and may end the loop with a value. */
  const withRetry = async <T>(
    op: Operation,
    attempt1: () => Promise<T>,
    beforeRetry?: (err: HuaweiVpcError) => Promise<{ done: T } | undefined>,
  ): Promise<T> => {
    for (let attempt = 1; ; attempt++) {
      try {
        return await attempt1();
      } catch (err) {
        if (!(err instanceof HuaweiVpcError)) throw err;
        err.attempts = attempt;
        if (!err.retryable || attempt >= attempts) {
          if (attempt > 1 && err.retryable) {
            throw new HuaweiVpcError(
              {
                kind: err.kind,
                operation: err.operation,
                message: `${err.message} (after ${attempt} attempts)`,
                userMessage: `${err.userMessage} Gave up after ${attempt} attempts; the next reconcile tries again.`,
                ...(err.status !== undefined ? { status: err.status } : {}),
                ...(err.code ? { code: err.code } : {}),
                ...(err.requestId ? { requestId: err.requestId } : {}),
                attempts: attempt,
              },
              { cause: err },
            );
          }
          throw err;
        }
        const delay = backoffDelay(attempt, retry);
        log.warn(
          { operation: err.operation, kind: err.kind, status: err.status, code: err.code, requestId: err.requestId, attempt, delayMs: delay },
          'huaweicloud vpc call failed; retrying',
        );
        await sleep(delay);
        if (beforeRetry) {
          const r = await beforeRetry(err);
          if (r) return r.done;
        }
      }
    }
  };

  const show = (id: string): Promise<RouteTable> => {
    const op: Operation = { name: 'show', table: id };
    return withRetry(op, async () => bodyOf(op, await once(op, () => client.showRouteTable({ routetable_id: id })), ShowRouteTableBody).routetable);
  };

  const api: VpcRouteApi = {
    projectId: opts.projectId,
    endpoint,
    showRouteTable: show,

    async updateRouteTable(id, batch) {
      const op: Operation = { name: 'update', table: id };
      let pending: RouteBatch = { add: [...batch.add], del: [...batch.del] };
      if (!pending.add.length && !pending.del.length) return show(id);
      return withRetry(
        op,
        async () => {
          const routes = {
            ...(pending.add.length
              ? {
                  add: pending.add.map((r) => ({
                    type: r.type,
                    destination: r.destination,
                    nexthop: r.nexthop,
                    ...(r.description !== undefined ? { description: r.description } : {}),
                  })),
                }
              : {}),
            ...(pending.del.length ? { del: pending.del.map((r) => ({ destination: r.destination })) } : {}),
          };
          const raw = await once(op, () => client.updateRouteTable({ routetable_id: id, body: { routetable: { routes } } }));
          return bodyOf(op, raw, ShowRouteTableBody).routetable;
        },
        async (err) => {
          // A throttled request never reached the service: send it again as it is. Anything else may
          // have been applied: look, and send only the rest.
          if (err.kind === 'throttled') return undefined;
          const fresh = await show(id);
          pending = remainingBatch(id, pending, fresh.routes);
          if (!pending.add.length && !pending.del.length) {
            log.info({ table: id }, 'the interrupted route table update had been applied');
            return { done: fresh };
          }
          return undefined;
        },
      );
    },

    async listRouteTables(o = {}) {
      const out: RouteTableSummary[] = [];
      const limit = o.pageSize ?? 200;
      let marker: string | undefined;
      for (let page = 0; page < 10_000; page++) {
        const op: Operation = { name: 'list', ...(o.vpcId ? { vpcId: o.vpcId } : {}) };
        const req = { limit, ...(marker ? { marker } : {}), ...(o.vpcId ? { vpc_id: o.vpcId } : {}) };
        const rows = await withRetry(op, async () => bodyOf(op, await once(op, () => client.listRouteTables(req)), ListRouteTablesBody).routetables);
        out.push(...rows);
        if (rows.length < limit) break;
        marker = rows[rows.length - 1]!.id;
      }
      return out;
    },
  };
  return api;
}
