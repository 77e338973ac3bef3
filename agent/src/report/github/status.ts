// Commit statuses from the agent's events: `mirrornet/<site>` on the revision the event is about.
//   apply-started                                       -> pending
//   applied                                             -> success
//   apply-failed, revision-refused, guardrail-blocked   -> failure, the reason as the description
//   drift-detected, drift-resolved                      -> nothing (chat tells about drift)
//   agent-stalled, agent-recovered                      -> nothing (about the agent, not a commit: chat and /healthz)
// Reporting never blocks reconciling: the sink only queues (bounded; a newer state of the same commit and
// site replaces a queued older one, and when the queue is full the oldest is dropped), one worker posts in
// order through octokit (retries, rate-limit throttling), and a failure is logged, never thrown.
// Descriptions go through the one redaction layer (redact.ts) before they are cut to GitHub's length, so a
// credential is masked whole, never half.
import type { Logger } from 'pino';
import { messageOf } from '../../errors.js';
import { redactText } from '../../redact.js';
import type { AgentEvent, EventSink } from '../../reconcile/events.js';
import { createGithubClient, describeGithubError, type GithubClientOptions, type Octokit } from './octokit.js';

type StatusState = 'pending' | 'success' | 'failure' | 'error';

/** GitHub's limit on a status description, in characters. */
const STATUS_DESCRIPTION_LIMIT = 140;
const STATUS_CONTEXT_PREFIX = 'mirrornet/';
const COMMIT_RE = /^(?:[0-9a-f]{40}|[0-9a-f]{64})$/;

interface StatusUpdate {
  sha: string;
  context: string;
  state: StatusState;
  description: string;
  targetUrl?: string;
}

export interface GithubStatusSinkOptions {
  /** A ready client, or a token (a value: resolve secret references first) and base URL to build one. */
  octokit?: Octokit;
  token?: string;
  baseUrl?: string;
  /** Client tuning when it is built here (retries, rate-limit waits, timeouts). */
  client?: Omit<GithubClientOptions, 'token' | 'baseUrl' | 'log'>;
  owner: string;
  repo: string;
  log: Logger;
  /** The status link: a URL, or one per event (e.g. the agent's metrics page or a runbook). */
  targetUrl?: string | ((event: AgentEvent) => string | undefined);
  /** Context prefix; the site follows (default `mirrornet/`). */
  contextPrefix?: string;
  /** Most updates waiting to be posted (default 100). */
  maxQueue?: number;
}

export interface GithubStatusSink {
  sink: EventSink;
  /** A site's aggregated status (`mirrornet/<site>` on `sha`), as its core computes it from the site's hosts. */
  site(site: string, sha: string, status: { state: StatusState; description: string }): void;
  /** Resolves when every queued update was posted or failed (never rejects). */
  flush(): Promise<void>;
  /** Stop accepting events; post what is queued for at most `timeoutMs` (default 10 s), then drop the rest. */
  close(opts?: { timeoutMs?: number }): Promise<void>;
  /** Counters, for tests and metrics. */
  stats(): { posted: number; failed: number; dropped: number; queued: number; skipped: number };
}

/** Cut to GitHub's 140 characters (not inside a surrogate pair), with an ellipsis when cut. */
export function truncateDescription(text: string, limit = STATUS_DESCRIPTION_LIMIT): string {
  const clean = text.replace(/\s+/g, ' ').trim();
  const chars = Array.from(clean);
  if (chars.length <= limit) return clean;
  return `${chars
    .slice(0, limit - 1)
    .join('')
    .trimEnd()}…`;
}

/** The status an event sets, or undefined for events that set none. */
function statusForEvent(event: AgentEvent, opts: { contextPrefix?: string; targetUrl?: string } = {}): StatusUpdate | undefined {
  // Healing an applied revision (or failing to) says nothing new about the commit itself.
  if (event.origin === 'drift') return undefined;
  let state: StatusState;
  let description: string;
  switch (event.kind) {
    case 'apply-started':
      state = 'pending';
      description = event.message || `Applying on ${event.site}`;
      break;
    case 'applied':
      state = 'success';
      description = event.message || `Applied on ${event.site}`;
      break;
    case 'apply-failed':
      state = 'failure';
      description = `Apply failed: ${event.message}`;
      break;
    case 'revision-refused':
      state = 'failure';
      description = `Refused: ${event.message}`;
      break;
    case 'guardrail-blocked':
      state = 'failure';
      description = `Guardrail: ${event.message}`;
      break;
    default:
      return undefined;
  }
  return {
    sha: event.revision,
    context: `${opts.contextPrefix ?? STATUS_CONTEXT_PREFIX}${event.site}`,
    state,
    description: truncateDescription(redactText(description)),
    ...(opts.targetUrl ? { targetUrl: opts.targetUrl } : {}),
  };
}

export function createGithubStatusSink(opts: GithubStatusSinkOptions): GithubStatusSink {
  const log = opts.log.child({ component: 'github-status', repo: `${opts.owner}/${opts.repo}` });
  let octokit = opts.octokit;
  if (!octokit) {
    if (!opts.token) throw new Error('createGithubStatusSink: pass an octokit or a token');
    octokit = createGithubClient({ token: opts.token, ...(opts.baseUrl ? { baseUrl: opts.baseUrl } : {}), log, ...opts.client });
  }
  const client = octokit;
  const maxQueue = Math.max(1, opts.maxQueue ?? 100);
  const queue: StatusUpdate[] = [];
  const counters = { posted: 0, failed: 0, dropped: 0, skipped: 0 };
  let closed = false;
  let running: Promise<void> | undefined;
  const idleWaiters: (() => void)[] = [];

  const post = async (u: StatusUpdate): Promise<void> => {
    try {
      await client.request('POST /repos/{owner}/{repo}/statuses/{sha}', {
        owner: opts.owner,
        repo: opts.repo,
        sha: u.sha,
        state: u.state,
        context: u.context,
        description: u.description,
        ...(u.targetUrl ? { target_url: u.targetUrl } : {}),
      });
      counters.posted++;
      log.debug({ sha: u.sha, context: u.context, state: u.state }, 'commit status posted');
    } catch (err) {
      counters.failed++;
      log.warn({ sha: u.sha, context: u.context, state: u.state, reason: describeGithubError(err) }, 'commit status not posted');
    }
  };

  const drain = async (): Promise<void> => {
    while (queue.length) {
      const next = queue.shift()!;
      await post(next);
    }
  };

  const kick = (): void => {
    if (running) return;
    running = drain()
      .catch((err: unknown) => log.error({ reason: messageOf(err) }, 'commit status worker failed'))
      .finally(() => {
        running = undefined;
        if (queue.length && !closed) kick();
        else for (const w of idleWaiters.splice(0)) w();
      });
  };

  const enqueue = (u: StatusUpdate): void => {
    const same = queue.findIndex((q) => q.sha === u.sha && q.context === u.context);
    if (same >= 0) {
      // GitHub shows the latest status of a context: a queued older one needs no post.
      queue[same] = u;
    } else {
      if (queue.length >= maxQueue) {
        const old = queue.shift()!;
        counters.dropped++;
        log.warn({ sha: old.sha, context: old.context, state: old.state, maxQueue }, 'commit status queue full: dropped the oldest update');
      }
      queue.push(u);
    }
    kick();
  };

  const site = (name: string, sha: string, status: { state: StatusState; description: string }): void => {
    if (closed || !COMMIT_RE.test(sha)) {
      counters.skipped++;
      return;
    }
    enqueue({
      sha,
      context: `${opts.contextPrefix ?? STATUS_CONTEXT_PREFIX}${name}`,
      state: status.state,
      description: truncateDescription(redactText(status.description)),
      ...(typeof opts.targetUrl === 'string' ? { targetUrl: opts.targetUrl } : {}),
    });
  };

  const sink: EventSink = (event) => {
    try {
      if (closed) return;
      const target = typeof opts.targetUrl === 'function' ? opts.targetUrl(event) : opts.targetUrl;
      const u = statusForEvent(event, { ...(opts.contextPrefix ? { contextPrefix: opts.contextPrefix } : {}), ...(target ? { targetUrl: target } : {}) });
      if (!u) return;
      if (!COMMIT_RE.test(u.sha)) {
        counters.skipped++;
        log.debug({ revision: u.sha, kind: event.kind }, 'no commit status: the revision is not a commit id');
        return;
      }
      enqueue(u);
    } catch (err) {
      log.warn({ reason: messageOf(err) }, 'commit status sink failed');
    }
  };

  const flush = (): Promise<void> =>
    new Promise<void>((resolve) => {
      if (!running && !queue.length) resolve();
      else idleWaiters.push(resolve);
    });

  return {
    sink,
    site,
    flush,
    async close(o = {}) {
      closed = true;
      const timeoutMs = o.timeoutMs ?? 10_000;
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([flush(), new Promise<void>((r) => (timer = setTimeout(r, timeoutMs)))]);
      clearTimeout(timer);
      if (queue.length) {
        counters.dropped += queue.length;
        log.warn({ dropped: queue.length }, 'commit statuses not posted before shutdown');
        queue.length = 0;
      }
    },
    stats: () => ({ ...counters, queued: queue.length }),
  };
}
