// Retries of the VPC client: throttling (429), server errors, timeouts and connection resets are retried
// with exponential backoff and jitter, a bounded number of times; before a retry, the caller may look at
// what the interrupted attempt did (an update re-reads its table, see batch.ts) and end the loop there.
import type { Logger } from 'pino';
import { HuaweiVpcError } from './errors.js';

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

/** Retry retryable failures; `beforeRetry` runs after the backoff and may end the loop with a value. */
export async function withRetry<T>(
  retry: RetryOptions,
  log: Logger,
  call: () => Promise<T>,
  beforeRetry?: (err: HuaweiVpcError) => Promise<{ done: T } | undefined>,
): Promise<T> {
  const attempts = Math.max(1, retry.attempts ?? 4);
  const sleep = retry.sleep ?? ((ms: number) => new Promise<void>((r) => setTimeout(r, ms)));
  for (let attempt = 1; ; attempt++) {
    try {
      return await call();
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
}
