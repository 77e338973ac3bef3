// Retries of the VPC client, with the one retry policy (host/retry.ts): throttling (429), server errors,
// timeouts and connection resets are retried a bounded number of times; before a retry, the caller may look
// at what the interrupted attempt did (an update re-reads its table, see batch.ts) and end there.
import type { Logger } from 'pino';
import { retrying, type Attempt } from '../../host/retry.js';
import { HuaweiVpcError } from './errors.js';

export interface RetryOptions {
  /** Attempts in all, the first included (default 4). */
  attempts?: number;
  /** The first backoff (default 250 ms), doubling up to maxDelayMs (default 4 s). */
  baseDelayMs?: number;
  maxDelayMs?: number;
  sleep?: (ms: number) => Promise<void>;
  random?: () => number;
}

/** Retry retryable failures; `beforeRetry` runs after the backoff and may end the attempts with a value. */
export async function withRetry<T>(
  retry: RetryOptions,
  log: Logger,
  call: () => Promise<T>,
  beforeRetry?: (err: HuaweiVpcError) => Promise<{ done: T } | undefined>,
): Promise<T> {
  let last: HuaweiVpcError | undefined;
  const once = async (attempt: number): Promise<Attempt<T, HuaweiVpcError>> => {
    if (last && beforeRetry) {
      const r = await beforeRetry(last);
      if (r) return { ok: true, value: r.done };
    }
    try {
      return { ok: true, value: await call() };
    } catch (err) {
      if (!(err instanceof HuaweiVpcError)) throw err;
      err.attempts = attempt;
      last = err;
      return { ok: false, failure: err, retryable: err.retryable };
    }
  };
  const policy = {
    attempts: Math.max(1, retry.attempts ?? 4),
    baseMs: retry.baseDelayMs ?? 250,
    maxMs: retry.maxDelayMs ?? 4000,
    ...(retry.sleep ? { sleep: retry.sleep } : {}),
    ...(retry.random ? { random: retry.random } : {}),
  };
  const done = await retrying(policy, once, (err, attempt, delay) =>
    log.warn(
      { operation: err.operation, kind: err.kind, status: err.status, code: err.code, requestId: err.requestId, attempt, delayMs: delay },
      'huaweicloud vpc call failed; retrying',
    ),
  );
  if (done.ok) return done.value;
  const err = done.failure;
  if (err.attempts > 1 && err.retryable) {
    throw new HuaweiVpcError(
      {
        kind: err.kind,
        operation: err.operation,
        message: `${err.message} (after ${err.attempts} attempts)`,
        userMessage: `${err.userMessage} Gave up after ${err.attempts} attempts; the next reconcile tries again.`,
        ...(err.status !== undefined ? { status: err.status } : {}),
        ...(err.code ? { code: err.code } : {}),
        ...(err.requestId ? { requestId: err.requestId } : {}),
        attempts: err.attempts,
      },
      { cause: err },
    );
  }
  throw err;
}
