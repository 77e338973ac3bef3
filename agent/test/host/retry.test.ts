// The one retry policy (host/retry.ts) without a network or a timer: the backoff delays, the reading of
// Retry-After, and how attempts end (a value, a failure that is not worth another attempt, the last failure
// after the bounded attempts, an unexpected error at once), with the waits recorded by an injected sleep.
import assert from 'node:assert/strict';
import { backoffMs, retryAfterMs, retrying, type Attempt } from '../../src/host/retry.js';

/** A policy whose sleep records the waits instead of waiting. */
function policy(
  attempts: number,
  random = 1,
): { waits: number[]; attempts: number; baseMs: number; maxMs: number; sleep(ms: number): Promise<void>; random(): number } {
  const waits: number[] = [];
  return { waits, attempts, baseMs: 100, maxMs: 300, sleep: async (ms) => void waits.push(ms), random: () => random };
}

/** Attempts that answer from `script` in turn (a string is a failure, retryable unless it starts with "final"). */
function scripted(script: (string | number)[]): { calls: number[]; attempt(n: number): Promise<Attempt<number, string>> } {
  const calls: number[] = [];
  return {
    calls,
    attempt: async (n) => {
      calls.push(n);
      const next = script[n - 1]!;
      if (typeof next === 'number') return { ok: true, value: next };
      const retryAfter = /after (\d+)/.exec(next);
      return { ok: false, failure: next, retryable: !next.startsWith('final'), ...(retryAfter ? { retryAfterMs: Number(retryAfter[1]) } : {}) };
    },
  };
}

describe('the one retry policy', () => {
  it('backs off exponentially with equal jitter, capped, and at least the Retry-After (capped too)', () => {
    const chat = { baseMs: 1000, maxMs: 8000 };
    assert.deepEqual(
      [backoffMs(chat, 1, 0), backoffMs(chat, 1, 0.5), backoffMs(chat, 1, 1), backoffMs(chat, 3, 1), backoffMs(chat, 5, 0), backoffMs(chat, 5, 1)],
      [500, 750, 1000, 4000, 4000, 8000],
    );
    assert.equal(backoffMs(chat, 1, 0, 3000), 3000);
    assert.equal(backoffMs(chat, 1, 0, 30_000), 8000);
    const vpc = { baseMs: 100, maxMs: 1000 };
    assert.deepEqual(
      [1, 2, 3, 4, 5, 6].map((n) => backoffMs(vpc, n, 0)),
      [50, 100, 200, 400, 500, 500],
    );
    assert.deepEqual(
      [1, 2, 3, 4, 5, 6].map((n) => backoffMs(vpc, n, 0.999999)),
      [100, 200, 400, 800, 1000, 1000],
    );
  });

  it('reads Retry-After as seconds or as an HTTP date, and nothing else', () => {
    const now = Date.parse('2025-01-02T03:04:05Z');
    assert.equal(retryAfterMs('5', now), 5000);
    assert.equal(retryAfterMs(' 2 ', now), 2000);
    assert.equal(retryAfterMs('0', now), 0);
    assert.equal(retryAfterMs('Thu, 02 Jan 2025 03:04:08 GMT', now), 3000);
    assert.equal(retryAfterMs('Thu, 02 Jan 2025 03:04:00 GMT', now), 0, 'a date already past: at once');
    assert.equal(retryAfterMs('soon', now), undefined);
    assert.equal(retryAfterMs('1.5', now), undefined);
    assert.equal(retryAfterMs('', now), undefined);
    assert.equal(retryAfterMs(null, now), undefined);
  });

  it('retries a retryable failure until an attempt succeeds, waiting through the injected sleep', async () => {
    const p = policy(4);
    const run = scripted(['busy', 'busy', 7]);
    const told: string[] = [];
    const done = await retrying(p, run.attempt, (failure, attempt, delay) => void told.push(`${failure} #${attempt}, then ${delay} ms`));
    assert.deepEqual(done, { ok: true, value: 7, attempts: 3 });
    assert.deepEqual(run.calls, [1, 2, 3]);
    assert.deepEqual(p.waits, [100, 200]);
    assert.deepEqual(told, ['busy #1, then 100 ms', 'busy #2, then 200 ms']);
  });

  it('gives up after the bounded attempts with the last failure', async () => {
    const p = policy(3);
    const done = await retrying(p, scripted(['busy 1', 'busy 2', 'busy 3', 9]).attempt);
    assert.deepEqual(done, { ok: false, failure: 'busy 3', attempts: 3 });
    assert.deepEqual(p.waits, [100, 200]);
  });

  it('makes one attempt only when it fails for good, or when the policy allows one', async () => {
    const p = policy(5);
    assert.deepEqual(await retrying(p, scripted(['final: refused', 1]).attempt), { ok: false, failure: 'final: refused', attempts: 1 });
    assert.deepEqual(await retrying(policy(1), scripted(['busy', 1]).attempt), { ok: false, failure: 'busy', attempts: 1 });
    assert.deepEqual(p.waits, []);
  });

  it('waits at least what the server asked for (Retry-After), capped at the longest backoff', async () => {
    const p = policy(3, 0);
    assert.deepEqual(await retrying(p, scripted(['busy, after 250', 'busy, after 5000', 3]).attempt), { ok: true, value: 3, attempts: 3 });
    assert.deepEqual(p.waits, [250, 300]);
  });

  it('an error thrown by an attempt is not a failure: it ends the attempts at once and is thrown on', async () => {
    const p = policy(4);
    let calls = 0;
    const bug = new RangeError('a bug');
    await assert.rejects(
      retrying(p, async () => {
        calls++;
        throw bug;
      }),
      (err: unknown) => err === bug,
    );
    assert.equal(calls, 1);
    assert.deepEqual(p.waits, []);
  });
});
