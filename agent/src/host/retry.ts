// The one retry policy of every client that talks to a service (Harbor, Huawei Cloud, chat vendors) and the
// one reader of Retry-After. A bounded number of attempts (p-retry counts them); between two, exponential
// backoff with equal jitter — half of the capped delay fixed, half random — and at least what the server asked
// for with Retry-After (capped too). What is worth another attempt is the caller's to say, per attempt: it
// returns a failure with `retryable`, or throws (an unexpected error ends the attempts at once). The waits go
// through an injectable sleep and random, so tests never wait for real.
import pRetry from 'p-retry';

/** The delays: the first is about `baseMs`, doubling per attempt up to `maxMs`. */
export interface Backoff {
  baseMs: number;
  maxMs: number;
}

export interface RetryPolicy extends Backoff {
  /** Attempts in all, the first included (at least 1). */
  attempts: number;
  /** Default: a timer. */
  sleep?: (ms: number) => Promise<void>;
  /** 0..1, the jitter (default Math.random). */
  random?: () => number;
}

/** One attempt's end: a value, or a failure and whether another attempt may help (and when the server asked for it). */
export type Attempt<T, F> = { ok: true; value: T } | { ok: false; failure: F; retryable: boolean; retryAfterMs?: number };

/** How the attempts ended: the value or the last failure, and how many attempts were made. */
export type Retried<T, F> = { ok: true; value: T; attempts: number } | { ok: false; failure: F; attempts: number };

/**
 * The wait after failed attempt `attempt` (1-based): min(maxMs, baseMs * 2^(attempt-1)), half of it fixed and
 * half times `random` (0..1), and at least `retryAfterMs` (capped at maxMs).
 */
export function backoffMs(backoff: Backoff, attempt: number, random: number, retryAfterMs?: number): number {
  const cap = Math.min(backoff.maxMs, backoff.baseMs * 2 ** Math.max(0, attempt - 1));
  const jittered = Math.round(cap / 2 + (random * cap) / 2);
  return Math.max(jittered, Math.min(retryAfterMs ?? 0, backoff.maxMs));
}

/** A Retry-After header (delay-seconds, or an HTTP date) in milliseconds from `now`; undefined when absent or unreadable. */
export function retryAfterMs(value: string | null | undefined, now: number = Date.now()): number | undefined {
  const v = value?.trim();
  if (!v) return undefined;
  if (/^\d+$/.test(v)) return Number(v) * 1000;
  // An HTTP date names its day and month (Date.parse would take "1.5" for a date in 2001).
  const at = /[A-Za-z]/.test(v) ? Date.parse(v) : NaN;
  return Number.isNaN(at) ? undefined : Math.max(0, at - now);
}

/** A failed attempt carried through p-retry (which wants an Error), unwrapped again at the end. */
class Failed<F> extends Error {
  constructor(readonly attempt: Extract<Attempt<unknown, F>, { ok: false }>) {
    super('attempt failed');
  }
}

const timer = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/**
 * Run `attempt` (given its 1-based number) until it succeeds, fails without `retryable`, or `policy.attempts`
 * ran. `beforeWait` sees each failure that is retried, with the wait that follows (to log it). An error thrown
 * by `attempt` or `beforeWait` is not a failure: it ends the attempts and is thrown on.
 */
export async function retrying<T, F>(
  policy: RetryPolicy,
  attempt: (n: number) => Promise<Attempt<T, F>>,
  beforeWait?: (failure: F, attempt: number, delayMs: number) => void,
): Promise<Retried<T, F>> {
  const sleep = policy.sleep ?? timer;
  const random = policy.random ?? Math.random;
  let made = 0;
  try {
    const value = await pRetry(
      async (n) => {
        made = n;
        const a = await attempt(n);
        if (!a.ok) throw new Failed(a);
        return a.value;
      },
      {
        retries: Math.max(0, policy.attempts - 1),
        // The waits are this module's (Retry-After, an injected sleep): p-retry counts and decides, never sleeps.
        minTimeout: 0,
        shouldRetry: async ({ error, attemptNumber }) => {
          if (!(error instanceof Failed) || !error.attempt.retryable) return false;
          const delay = backoffMs(policy, attemptNumber, random(), error.attempt.retryAfterMs);
          beforeWait?.(error.attempt.failure as F, attemptNumber, delay);
          await sleep(delay);
          return true;
        },
      },
    );
    return { ok: true, value, attempts: made };
  } catch (err) {
    if (err instanceof Failed) return { ok: false, failure: err.attempt.failure as F, attempts: made };
    throw err;
  }
}
