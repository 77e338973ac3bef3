// Faults injected into the GitHub emulator: primary and secondary rate limits (403/429 with GitHub's
// messages and `retry-after` or `x-ratelimit-reset`) and server errors, each for a number of matching
// requests (method; operationId, path template, path prefix or pattern).
import { randomBytes } from 'node:crypto';
import type { Operation } from './openapi.js';
import { error, type Reply } from './replies.js';
import type { GithubUser } from './state.js';

/** The primary rate limit the emulator reports (requests per hour). */
export const RATE_LIMIT = 5000;

export type FaultKind = 'secondary-rate-limit' | 'rate-limit' | 'error';

export interface FaultSpec {
  /** secondary-rate-limit: 403 (or 429) with retry-after; rate-limit: 403 with x-ratelimit-remaining 0; error: 5xx. */
  kind: FaultKind;
  /** Status to answer (secondary: 403 default or 429; rate-limit: 403 or 429; error: 500 default). */
  status?: number;
  /** Seconds: the retry-after header (secondary) or until x-ratelimit-reset (primary); default 1. */
  retryAfter?: number;
  /** How many matching requests it answers (default 1). */
  times?: number;
  method?: string;
  /** An operationId, a path template, a path prefix (without the API prefix), or a regular expression on the path. */
  path?: string | RegExp;
}

export class FaultList {
  private readonly faults: (FaultSpec & { left: number })[] = [];

  add(spec: FaultSpec): void {
    this.faults.push({ ...spec, left: spec.times ?? 1 });
  }

  clear(): void {
    this.faults.length = 0;
  }

  /** The first fault that answers this request, counted as used. */
  take(method: string, path: string, op: Operation): FaultSpec | undefined {
    for (const f of this.faults) {
      if (f.left <= 0) continue;
      if (f.method && f.method.toUpperCase() !== method) continue;
      if (f.path !== undefined) {
        const ok = f.path instanceof RegExp ? f.path.test(path) : f.path === op.operationId || f.path === op.template || path.startsWith(f.path);
        if (!ok) continue;
      }
      f.left--;
      return f;
    }
    return undefined;
  }
}

/** GitHub's answer for a fault, as the user the token belongs to sees it. */
export function faultReply(f: FaultSpec, op: Operation, user: GithubUser): Reply {
  const after = Math.max(0, f.retryAfter ?? 1);
  const requestId = randomBytes(8).toString('hex').toUpperCase();
  switch (f.kind) {
    case 'secondary-rate-limit':
      return {
        ...error(
          f.status ?? 403,
          'You have exceeded a secondary rate limit. Please wait a few minutes before you try again. ' +
            `If you reach out to GitHub Support for help, please include the request ID ${requestId}.`,
          'https://docs.github.com/free-pro-team@latest/rest/overview/rate-limits-for-the-rest-api#about-secondary-rate-limits',
        ),
        headers: { 'retry-after': String(after) },
      };
    case 'rate-limit':
      return {
        ...error(
          f.status ?? 403,
          `API rate limit exceeded for user ID ${user.id}. If you reach out to GitHub Support for help, please include the request ID ${requestId}.`,
          'https://docs.github.com/rest/overview/rate-limits-for-the-rest-api',
        ),
        headers: { 'x-ratelimit-remaining': '0', 'x-ratelimit-used': String(RATE_LIMIT), 'x-ratelimit-reset': String(Math.floor(Date.now() / 1000) + after) },
      };
    case 'error':
      return error(f.status ?? 500, 'Server Error', op.docsUrl);
  }
}
