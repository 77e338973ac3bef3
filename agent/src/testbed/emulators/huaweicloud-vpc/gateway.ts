// The API gateway in front of the emulated VPC service: it verifies the SDK-HMAC-SHA256 signature exactly as
// the SDK computes it (signing.ts), answers a bad one with 401 {"error_code":"APIGW.0301",...} and locks an
// access key after a run of bad signatures, like Huawei Cloud's APIG.
import type http from 'node:http';
import type { EmuCredential } from './schema.js';
import { MAX_CLOCK_SKEW_MS, verifySignature, type VerifyFailure } from './signing.js';

const LOCKOUT_FAILURES = 5;
const LOCKOUT_MS = 5 * 60 * 1000;

/** An answer of the emulator, before it is written as JSON. */
export interface Reply {
  status: number;
  body: unknown;
}

/** The gateway's own error body (APIGW.xxxx), with the request id. */
export function gatewayError(status: number, code: string, msg: string, requestId: string): Reply {
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

export interface GatewayOptions {
  credentials: ReadonlyMap<string, EmuCredential>;
  now: () => number;
  /** Bad signatures in a row that lock an access key (default 5). */
  maxFailures?: number | undefined;
  /** How long a lock lasts (default five minutes). */
  lockoutMs?: number | undefined;
  maxClockSkewMs?: number | undefined;
}

/** Checks signatures and keeps the per-key failure counts and locks. */
export class Gateway {
  private readonly failures = new Map<string, number>();
  private readonly lockedUntil = new Map<string, number>();
  private readonly maxFailures: number;
  private readonly lockoutMs: number;
  private readonly maxSkew: number;

  constructor(private readonly opts: GatewayOptions) {
    this.maxFailures = opts.maxFailures ?? LOCKOUT_FAILURES;
    this.lockoutMs = opts.lockoutMs ?? LOCKOUT_MS;
    this.maxSkew = opts.maxClockSkewMs ?? MAX_CLOCK_SKEW_MS;
  }

  /** The access key of a correctly signed request, or the gateway's error reply. */
  authenticate(req: http.IncomingMessage, path: string, rawQuery: string, body: Buffer, requestId: string): { ak: string } | Reply {
    const { failures, lockedUntil, maxFailures, lockoutMs } = this;
    const creds = this.opts.credentials;
    const t = this.opts.now();
    const claimed = /Access=([^,\s]+)/.exec(String(req.headers['authorization'] ?? ''))?.[1];
    if (claimed && creds.has(claimed)) {
      const until = lockedUntil.get(claimed);
      if (until !== undefined && t < until) {
        return gatewayError(
          401,
          'APIGW.0301',
          `Incorrect IAM authentication information: the access key is locked for ${Math.round(lockoutMs / 60000)} minutes ` +
            `after ${maxFailures} failed signature verifications in a row; try again later`,
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
      maxSkewMs: this.maxSkew,
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
  }
}
