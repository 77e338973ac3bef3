// `mirrornet agent`: the reconcile loop of one host, with its webhook/health/metrics endpoint.
import { redactDeep } from '../redact.js';
import { join } from 'node:path';
import { setFlagsFromString } from 'node:v8';
import { hostSecrets } from '../host/secrets.js';
import { createLogger } from '../log.js';
import type { Logger } from 'pino';
import { evaluateInChild } from '../reconcile/evaluate.js';
import type { EventSink } from '../reconcile/events.js';
import { Agent, type Applied } from '../reconcile/loop.js';
import { createMetrics } from '../reconcile/metrics.js';
import { intervalMs, intervalToCron, scheduleTicks } from '../reconcile/schedule.js';
import { StateStore } from '../reconcile/state.js';
import { createAgentServer } from '../server/index.js';
import { GitSource } from '../source/clone.js';
import { UsageError, UserError } from './errors.js';
import { checkSecretReferences, hostDeps, parseRoles, stateDirOf, type HostOptions } from './host.js';
import type { Io } from './io.js';

export interface AgentCliOptions extends Omit<HostOptions, 'repo' | 'format'> {
  repoUrl: string;
  branch: string;
  interval: string;
  listen: string;
  webhookSecret?: string;
  allowedSigners?: string;
  once?: boolean;
  githubRepo?: string;
  githubToken?: string;
  githubApiUrl?: string;
  chat?: boolean;
}

interface Reporter {
  sink: EventSink;
  close(opts?: { timeoutMs?: number }): Promise<void>;
}

/**
 * Where events go besides the log: chat (routed by the applied revision's Notifications policy) and, with
 * --github-repo, commit statuses. Both deliver in the background and never block reconciling.
 */
async function reporters(
  opts: AgentCliOptions,
  stateDir: string,
  log: Logger,
): Promise<{ sink: EventSink; onApplied: (a: Applied) => void; close: (timeoutMs: number) => Promise<void> }> {
  const list: Reporter[] = [];
  let onApplied: (a: Applied) => void = () => undefined;
  if (opts.chat !== false) {
    const { createChatDispatcher, fileStateStore, NO_NOTIFICATIONS } = await import('../report/chat/index.js');
    let area: string | undefined;
    const chat = createChatDispatcher({
      policy: NO_NOTIFICATIONS,
      siteArea: () => area,
      resolve: hostSecrets({ root: opts.root }),
      log: log.child({ component: 'chat' }),
      store: fileStateStore(stateDir),
    });
    onApplied = (a) => {
      area = a.area;
      chat.setPolicy(a.notifications ?? NO_NOTIFICATIONS, () => a.area);
    };
    list.push(chat);
  }
  if (opts.githubRepo) {
    const { createGithubStatusSink, parseRepoSlug } = await import('../report/github/index.js');
    const slug = parseRepoSlug(opts.githubRepo);
    if (!slug) throw new UsageError(`--github-repo ${opts.githubRepo} must be owner/name.`);
    const token = await hostSecrets({ root: opts.root }).resolve(opts.githubToken ?? 'env:GITHUB_TOKEN');
    const baseUrl = opts.githubApiUrl ?? process.env['GITHUB_API_URL'];
    list.push(createGithubStatusSink({ token, ...(baseUrl ? { baseUrl } : {}), owner: slug.owner, repo: slug.repo, log: log.child({ component: 'github' }) }));
  }
  return {
    sink: (e) => {
      for (const r of list) r.sink(e);
    },
    onApplied: (a) => onApplied(a),
    close: async (timeoutMs) => {
      await Promise.all(list.map((r) => r.close({ timeoutMs }).catch(() => undefined)));
    },
  };
}

function parseListen(text: string): { host: string; port: number } {
  const m = /^(.*):(\d+)$/.exec(text);
  if (!m) throw new UsageError(`--listen ${text} must be host:port, e.g. 127.0.0.1:9464.`);
  return { host: m[1]!.replace(/^\[|\]$/g, '') || '0.0.0.0', port: Number(m[2]) };
}

export async function agentCommand(opts: AgentCliOptions, io: Io): Promise<number> {
  // A long-running agent trades a little GC time for memory: small young generation, size-optimised code.
  setFlagsFromString('--max-semi-space-size=1');
  setFlagsFromString('--optimize-for-size');
  const roles = parseRoles(opts.roles);
  intervalToCron(opts.interval); // fail fast on a bad interval
  const listen = parseListen(opts.listen);
  checkSecretReferences({ '--webhook-secret': opts.webhookSecret, '--github-token': opts.githubToken });
  const log = createLogger().child({ component: 'agent', site: opts.region });
  const stateDir = stateDirOf(opts);
  const store = new StateStore(stateDir);
  const source = new GitSource({
    url: opts.repoUrl,
    branch: opts.branch,
    dir: join(stateDir, 'repo'),
    ...(opts.allowedSigners ? { allowedSigners: opts.allowedSigners } : {}),
  });
  const metrics = createMetrics();
  const deps = hostDeps({ ...opts, repo: '', format: 'text' }, log);
  const report = await reporters(opts, stateDir, log);
  const agent = new Agent({ site: opts.region, roles }, source, store, deps, log, metrics, report.sink, evaluateInChild, report.onApplied);

  if (opts.once) {
    const result = await agent.tick('once');
    io.stdout(`${JSON.stringify(redactDeep(result))}\n`);
    await report.close(10_000);
    return result.kind === 'failed' ? 1 : result.kind === 'refused' || result.kind === 'blocked' ? 3 : 0;
  }

  const webhookSecret = opts.webhookSecret ? await hostSecrets({ root: opts.root }).resolve(opts.webhookSecret) : undefined;
  const interval = intervalMs(opts.interval);
  // A stall is visible: healthy only while some reconcile has completed within the last two intervals.
  let lastTickCompleted = Date.now();
  let stalled = false;
  const tick = (reason: string) =>
    agent.tick(reason).finally(() => {
      lastTickCompleted = Date.now();
      if (stalled) log.info('a reconcile completed again: /healthz answers 200');
      stalled = false;
    });
  const healthy = () => {
    const since = Date.now() - lastTickCompleted;
    if (since <= 2 * interval) return true;
    if (!stalled) log.warn({ sinceMs: since, interval: opts.interval }, 'no reconcile has completed within two intervals: /healthz answers 503');
    stalled = true;
    return false;
  };
  const server = createAgentServer({
    log,
    registry: metrics.registry,
    ...(webhookSecret ? { webhookSecret } : {}),
    branch: opts.branch,
    trigger: (reason) => void tick(reason),
    healthy,
    ready: () => agent.ready,
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', (err: NodeJS.ErrnoException) => {
      const why: Record<string, string> = {
        EADDRINUSE: 'the address is in use (another agent, or another program on that port): stop it or pick another --listen',
        EACCES: 'permission denied (a port below 1024 needs root or CAP_NET_BIND_SERVICE): pick another --listen',
        EADDRNOTAVAIL: 'this host has no such address: pick one of its own addresses for --listen',
      };
      const sentence = err.code ? why[err.code] : undefined;
      reject(sentence ? new UserError(`Cannot listen on ${opts.listen}: ${sentence}.`, 1, { cause: err }) : err);
    });
    server.listen(listen.port, listen.host, () => resolve());
  });
  log.info({ listen: opts.listen, interval: opts.interval, repo: opts.repoUrl, branch: opts.branch }, 'agent started');
  void tick('startup');
  const task = scheduleTicks(opts.interval, () => tick('interval'));
  await new Promise<void>((resolve) => {
    const stop = (signal: string) => {
      log.info({ signal }, 'agent stopping');
      void task.stop();
      const closed = new Promise<void>((r) => server.close(() => r()));
      void Promise.all([closed, report.close(5000)]).then(() => resolve());
      setTimeout(resolve, 8000).unref();
    };
    process.once('SIGTERM', () => stop('SIGTERM'));
    process.once('SIGINT', () => stop('SIGINT'));
  });
  return 0;
}
