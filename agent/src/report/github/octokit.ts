// The one way mirrornet talks to GitHub: octokit's core with the three plugins mirrornet uses (pagination,
// retries of 5xx and network errors, throttling that waits out primary and secondary rate limits), REST
// calls by their route (`POST /repos/{owner}/{repo}/statuses/{sha}`), its log going to pino and a base URL for
// GitHub Enterprise Server (https://HOST/api/v3) or a local emulator. Not the `octokit` meta-package: its
// app, OAuth, webhooks and GraphQL parts and the generated method table stayed resident in a core's agent
// for the four routes mirrornet calls (issue 15).
import { Octokit as Core } from '@octokit/core';
import { paginateRest } from '@octokit/plugin-paginate-rest';
import { retry } from '@octokit/plugin-retry';
import { throttling } from '@octokit/plugin-throttling';
import { RequestError } from '@octokit/request-error';
import type { Logger } from 'pino';
import { messageOf } from '../../errors.js';
import { AGENT_VERSION } from '../../version.js';
import { httpFetch } from '../../host/http.js';
import { describeNetworkError } from '../../host/network.js';

const GithubClient = Core.plugin(paginateRest, retry, throttling);
export type Octokit = InstanceType<typeof GithubClient>;

export interface GithubClientOptions {
  /** The token (a value, not a reference: resolve references before). */
  token: string;
  /** REST API base URL; default https://api.github.com (GITHUB_API_URL in Actions). */
  baseUrl?: string;
  log?: Logger;
  /** Retries of 5xx and network errors (default 3; octokit waits 1, 4, 9 s times retryBaseMs/1000). */
  retries?: number;
  /** Scale of octokit's retry waits in ms per "second" (default 1000; tests shrink it). */
  retryBaseMs?: number;
  /** Retries of a request answered with a rate limit (default 2). */
  rateLimitRetries?: number;
  /** Scale of the retry-after / reset waits in ms per second (default 1000; tests shrink it). */
  rateLimitBaseMs?: number;
  /** The longest rate-limit wait (seconds) worth waiting for; longer ones fail the request (default 120). */
  maxRateLimitWaitSeconds?: number;
  userAgent?: string;
  /** Per-request timeout in ms (default 30 s). */
  timeoutMs?: number;
}

export const DEFAULT_API_URL = 'https://api.github.com';

/** `owner/name` -> { owner, repo }; undefined when it is not one. */
export function parseRepoSlug(slug: string): { owner: string; repo: string } | undefined {
  const m = /^([A-Za-z0-9](?:[A-Za-z0-9-]{0,38}))\/([A-Za-z0-9._-]{1,100})$/.exec(slug.trim());
  if (!m || m[2] === '.' || m[2] === '..') return undefined;
  return { owner: m[1]!, repo: m[2]!.replace(/\.git$/, '') };
}

export function createGithubClient(opts: GithubClientOptions): Octokit {
  const log = opts.log;
  const maxRetries = opts.rateLimitRetries ?? 2;
  const maxWait = opts.maxRateLimitWaitSeconds ?? 120;
  // The plugin passes the request's retry count; returning true retries (its type says void).
  const onLimit = (kind: string) => (retryAfter: number, options: { method?: string; url?: string }, _octokit: unknown, attempt: number) => {
    const retry = attempt < maxRetries && retryAfter <= maxWait;
    log?.warn(
      { kind, method: options.method, url: options.url, retryAfter, attempt, retry },
      `GitHub ${kind}${retry ? `: retrying in ${retryAfter}s` : ': giving up'}`,
    );
    return retry;
  };
  const timeoutMs = opts.timeoutMs ?? 30_000;
  return new GithubClient({
    auth: opts.token,
    baseUrl: (opts.baseUrl ?? DEFAULT_API_URL).replace(/\/+$/, ''),
    userAgent: opts.userAgent ?? `mirrornet/${AGENT_VERSION}`,
    log: {
      debug: (msg: string) => log?.debug(msg),
      info: (msg: string) => log?.debug(msg),
      warn: (msg: string) => log?.debug(msg),
      error: (msg: string) => log?.warn(msg),
    },
    request: {
      // Not fetch itself: its implementation (undici) would stay resident in a core's agent (host/http.ts).
      fetch: (url: string | URL, init?: RequestInit) => httpFetch(url, init ?? {}, timeoutMs),
    },
    // 429 is the throttling plugin's (it honours retry-after); plugin-retry would retry it blindly after 1 s.
    retry: { retryAfterBaseValue: opts.retryBaseMs ?? 1000, retries: opts.retries ?? 3, doNotRetry: [400, 401, 403, 404, 410, 422, 429, 451] },
    throttle: {
      onRateLimit: onLimit('rate limit'),
      onSecondaryRateLimit: onLimit('secondary rate limit'),
      retryAfterBaseValue: opts.rateLimitBaseMs ?? 1000,
      fallbackSecondaryRateRetryAfter: 60,
    },
  });
}

/** A short reason from an octokit error: status and GitHub's message, or why GitHub could not be reached; never the token. */
export function describeGithubError(err: unknown): string {
  if (!(err instanceof RequestError)) return messageOf(err);
  if (!err.response) {
    // octokit reports a failed fetch as status 500 without a response: say why the network failed instead.
    const network = describeNetworkError('GitHub', err.request.url ? new URL(err.request.url).origin : 'its API URL', err);
    if (network) return network.userMessage.replace(/\.$/, '');
  }
  const data = err.response?.data;
  const said = data && typeof data === 'object' && 'message' in data && typeof data.message === 'string' ? data.message : undefined;
  return err.status ? `HTTP ${err.status}: ${said ?? err.message}` : (said ?? err.message);
}

/** The HTTP status GitHub answered with; undefined when it did not answer (or the error is not octokit's). */
export function githubStatus(err: unknown): number | undefined {
  return err instanceof RequestError && err.response ? err.status : undefined;
}
