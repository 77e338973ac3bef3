// The Huawei Cloud VPC route-table API as the provider needs it, on top of the official Node.js SDK
// (@huaweicloud/huaweicloud-sdk-vpc VpcClient, SDK-HMAC-SHA256 signing by -core), with what the SDK lacks:
//
// - Silence: core configures log4js to stdout (level debug) when it is loaded and logs the whole failed
//   request, Authorization header included. `silenceSdkLogging` turns log4js off right after loading core
//   and before the first call.
// - Error bodies: every status is passed through to us (`validateStatus`), the X-Request-Id header is kept
//   with the body, and classify.ts makes a HuaweiVpcError of it.
// - Retries (retry.ts): 429, 5xx, timeouts and connection resets, bounded. An update interrupted in a way
//   that leaves its outcome unknown re-reads the table and sends only what is still missing (batch.ts).
// - Hygiene: no access key, secret key or Authorization header in errors or logs: the key pair is registered
//   with the redaction layer (redact.ts) and every message from the SDK or the service goes through it.
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import type { Logger } from 'pino';
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
  const facts: ClientFacts = { endpoint, projectId: opts.projectId, timeoutMs, scrub: scrubber([opts.ak, opts.sk]) };

  /** One HTTP exchange through the SDK. */
  const once = async (op: Operation, call: () => Promise<unknown>): Promise<VpcAnswer> => {
    const started = performance.now();
    let result: unknown;
    try {
      result = await call();
    } catch (err) {
      const e = transportError(facts, op, err);
      log.debug({ operation: describeOperation(op), kind: e.kind, ms: Math.round(performance.now() - started) }, 'huaweicloud vpc call failed');
      throw e;
    }
    const r = (result ?? {}) as Record<string | symbol, unknown>;
    const status = typeof r['httpStatusCode'] === 'number' ? r['httpStatusCode'] : 200;
    const requestId = typeof r[REQUEST_ID] === 'string' ? (r[REQUEST_ID] as string) : undefined;
    log.debug({ operation: describeOperation(op), status, requestId, ms: Math.round(performance.now() - started) }, 'huaweicloud vpc call');
    return { status, body: result, requestId };
  };

  const show = (id: string): Promise<RouteTable> => {
    const op: Operation = { name: 'show', table: id };
    return withRetry(
      retry,
      log,
      async () => answerBody(facts, op, await once(op, () => client.showRouteTable({ routetable_id: id })), ShowRouteTableBody).routetable,
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
          const raw = await once(op, () => client.updateRouteTable({ routetable_id: id, body: { routetable: { routes } } }));
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
        const req = { limit, ...(marker ? { marker } : {}), ...(o.vpcId ? { vpc_id: o.vpcId } : {}) };
        const rows = await withRetry(
          retry,
          log,
          async () => answerBody(facts, op, await once(op, () => client.listRouteTables(req)), ListRouteTablesBody).routetables,
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
