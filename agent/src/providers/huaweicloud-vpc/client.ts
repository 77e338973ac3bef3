// The Huawei Cloud VPC route-table API as the provider needs it: the three calls of the official Node.js SDK's
// VpcClient (@huaweicloud/huaweicloud-sdk-vpc: the same paths, content type and X-Project-Id), signed
// SDK-HMAC-SHA256 by the SDK core's own signer (auth/AKSKSigner.js) and sent with host/http.ts (node:http).
// Only the signer is loaded: the VpcClient with its model classes, axios and log4js cost a long-running gateway
// agent ~18 MB of resident memory, and fetch's undici would cost more still (issue 15). With what the SDK lacks:
//
// - Silence: nothing of the SDK that logs is loaded (core's logger prints the whole failed request,
//   Authorization header included, unless `silenceSdkLogging` turned it off).
// - Error bodies: every status is an answer, the X-Request-Id header is kept with the body, and classify.ts
//   makes a HuaweiVpcError of it.
// - Retries (retry.ts): 429, 5xx, timeouts and connection resets, bounded. An update interrupted in a way
//   that leaves its outcome unknown re-reads the table and sends only what is still missing (batch.ts).
// - Hygiene: no access key, secret key or Authorization header in errors or logs: the key pair is registered
//   with the redaction layer (redact.ts) and every message from the service goes through it.
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import type { Logger } from 'pino';
import { httpRequest } from '../../host/http.js';
import { silentLogger } from '../../log.js';
import { registerSecret } from '../../redact.js';
import { remainingBatch, type RouteBatch } from './batch.js';
import { answerBody, describeOperation, scrubber, transportError, type ClientFacts, type Operation, type VpcAnswer } from './classify.js';
import { configError, HuaweiVpcError } from './errors.js';
import { withRetry, type RetryOptions } from './retry.js';
import { ListRouteTablesBody, ShowRouteTableBody, type RouteTable, type RouteTableSummary } from './schema.js';

const USER_AGENT = 'mirrornet/0.1';
const DEFAULT_TIMEOUT_MS = 10_000;

export interface VpcRouteApi {
  readonly projectId: string;
  readonly endpoint: string;
  showRouteTable(id: string): Promise<RouteTable>;
  updateRouteTable(id: string, batch: RouteBatch): Promise<RouteTable>;
  /** Every route table (without routes) of the project, optionally of one VPC; follows limit/marker pages. */
  listRouteTables(opts?: { vpcId?: string; pageSize?: number }): Promise<RouteTableSummary[]>;
}

// --- the SDK core's signer, loaded lazily --------------------------------------------------------------

const require = createRequire(import.meta.url);

interface SdkSigner {
  sign(
    request: { endpoint: string; method: string; headers: Record<string, string>; queryParams: Record<string, string>; data?: unknown },
    credential: { getAk(): string; getSk(): string },
  ): Record<string, string>;
}

let signer: SdkSigner | undefined;

/**
 * Turn the SDK's log4js off. core's logger/log4jLogger.js calls log4js.configure (stdout appender, level
 * debug) when it is first required and every SDK logger writes through that default category; configuring
 * the same log4js instance with level `off` afterwards silences all of it. Idempotent. The client below loads
 * only core's signer (no logger); this is for code that loads the SDK's clients (the emulator's tests).
 */
export function silenceSdkLogging(): void {
  require('@huaweicloud/huaweicloud-sdk-core/logger/log4jLogger.js');
  const coreDir = dirname(require.resolve('@huaweicloud/huaweicloud-sdk-core/package.json'));
  const log4js = createRequire(join(coreDir, 'package.json'))('log4js') as { configure(c: unknown): unknown };
  log4js.configure({ appenders: { off: { type: 'stdout' } }, categories: { default: { appenders: ['off'], level: 'off' } } });
}

/**
 * core's SDK-HMAC-SHA256 signer alone. The SDK's VpcClient (every model class of the VPC service, axios,
 * log4js) would stay resident in a long-running gateway agent at ~18 MB more for three requests.
 */
function loadSigner(): SdkSigner {
  return (signer ??= (require('@huaweicloud/huaweicloud-sdk-core/auth/AKSKSigner.js') as { AKSKSigner: SdkSigner }).AKSKSigner);
}

/** The request as the SDK's VpcClient sends it: its content type, X-Project-Id, signed by core's signer. */
interface SignedCall {
  method: 'GET' | 'PUT';
  /** The path after /v1/{project_id}. */
  path: string;
  query?: Record<string, string>;
  body?: unknown;
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

export function createVpcClient(opts: VpcClientOptions): VpcRouteApi {
  if (!opts.projectId) throw configError('no project id was given (without one the SDK would ask IAM on the internet)');
  if (!opts.ak || !opts.sk) throw configError('the access key or the secret key is empty');
  registerSecret(opts.ak);
  registerSecret(opts.sk);
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

  const sign = loadSigner();
  const credential = { getAk: () => opts.ak, getSk: () => opts.sk };
  const facts: ClientFacts = { endpoint, projectId: opts.projectId, timeoutMs, scrub: scrubber([opts.ak, opts.sk]) };
  const base = `${endpoint}/v1/${encodeURIComponent(opts.projectId)}`;

  /** One HTTP exchange: every status comes back as an answer (VPC v1 error bodies are ours to read). */
  const send = async (call: SignedCall): Promise<VpcAnswer> => {
    const url = `${base}${call.path}`;
    const query = call.query ?? {};
    const qs = new URLSearchParams(query).toString();
    const body = call.body === undefined ? undefined : JSON.stringify(call.body);
    // What the SDK signs: content-type and X-Project-Id (host and X-Sdk-Date are the signer's); the body is
    // hashed as JSON.stringify of the same object, so it is sent as exactly that string.
    const headers = sign.sign(
      {
        endpoint: url,
        method: call.method,
        headers: { 'content-type': 'application/json', 'X-Project-Id': opts.projectId },
        queryParams: query,
        ...(call.body === undefined ? {} : { data: call.body }),
      },
      credential,
    );
    const res = await httpRequest(qs ? `${url}?${qs}` : url, {
      method: call.method,
      headers: { ...headers, 'User-Agent': USER_AGENT },
      ...(body === undefined ? {} : { body }),
      timeoutMs,
    });
    const text = await res.text();
    let parsed: unknown;
    try {
      parsed = text.length ? JSON.parse(text) : {};
    } catch {
      parsed = { __text: text.slice(0, 300) };
    }
    return { status: res.status, body: parsed, requestId: res.headers.get('x-request-id') ?? undefined };
  };

  /** One call, timed and logged; no answer at all is a HuaweiVpcError (timeout, network). */
  const once = async (op: Operation, call: SignedCall): Promise<VpcAnswer> => {
    const started = performance.now();
    let answer: VpcAnswer;
    try {
      answer = await send(call);
    } catch (err) {
      const e = transportError(facts, op, err);
      log.debug({ operation: describeOperation(op), kind: e.kind, ms: Math.round(performance.now() - started) }, 'huaweicloud vpc call failed');
      throw e;
    }
    log.debug(
      { operation: describeOperation(op), status: answer.status, requestId: answer.requestId, ms: Math.round(performance.now() - started) },
      'huaweicloud vpc call',
    );
    return answer;
  };

  const show = (id: string): Promise<RouteTable> => {
    const op: Operation = { name: 'show', table: id };
    return withRetry(
      retry,
      log,
      async () => answerBody(facts, op, await once(op, { method: 'GET', path: `/routetables/${encodeURIComponent(id)}` }), ShowRouteTableBody).routetable,
    );
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
        retry,
        log,
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
          const raw = await once(op, { method: 'PUT', path: `/routetables/${encodeURIComponent(id)}`, body: { routetable: { routes } } });
          return answerBody(facts, op, raw, ShowRouteTableBody).routetable;
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
        const req = { limit: String(limit), ...(marker ? { marker } : {}), ...(o.vpcId ? { vpc_id: o.vpcId } : {}) };
        const rows = await withRetry(
          retry,
          log,
          async () => answerBody(facts, op, await once(op, { method: 'GET', path: '/routetables', query: req }), ListRouteTablesBody).routetables,
        );
        out.push(...rows);
        if (rows.length < limit) break;
        marker = rows[rows.length - 1]!.id;
      }
      return out;
    },
  };
  return api;
}
