// `mirrornet agent`: the reconcile loop of one host, with its webhook/health/metrics endpoint.
import { AGENT_VERSION } from '../version.js';
import { AGENT_TOO_OLD_EXIT } from '../model/compatibility.js';
import { redactDeep } from '../redact.js';
import { hostSecrets } from '../host/secrets.js';
import { createLogger } from '../log.js';
import type { Logger } from 'pino';
import type { EventSink } from '../reconcile/events.js';
import type { Applied } from '../reconcile/applied.js';
import { Agent, type TickResult } from '../reconcile/loop.js';
import { createMetrics, reportOffers } from '../reconcile/metrics.js';
import { intervalMs, intervalToCron, scheduleTicks } from '../reconcile/schedule.js';
import { finishRetirement } from '../reconcile/retire.js';
import { StateStore } from '../reconcile/state.js';
import { createAgentServer, DEFAULT_LIMITS, type ServerLimits } from '../server/index.js';
import { localExec } from '../host/exec.js';
import { fanoutEndpoint, publisherOf, registryHookEndpoint, sourcesOf } from './agent-sources.js';
import { DEFAULT_LISTEN, resolveListen, webhookSecretProblem } from './agent-endpoint.js';
import { UsageError, UserError } from './errors.js';
import { checkSecretReferences, hostDeps, parseRoles, stateDirOf, type HostOptions } from './host.js';
import type { Io } from './io.js';
import type { SiteTree, SiteTreeFlags } from './agent-site.js';
import type { GithubStatusSink } from '../report/github/status.js';

export interface AgentCliOptions extends Omit<HostOptions, 'repo' | 'format'> {
  repoUrl?: string;
  /** A bundle channel, `oci://HOST/PROJECT/REPO[:CHANNEL]`, instead of the git repository. */
  source?: string;
  registryMirror?: string;
  registryUsername?: string;
  registryPassword?: string;
  /** Node hosts: learn of new revisions from the site's gateway agent at this URL. */
  gateway?: string;
  /** The site's fan-out token (a secret reference): a gateway asks it of its nodes, a node sends it. */
  fanoutToken?: string;
  /** Token a registry's webhook must send (a secret reference): enables POST /hooks/registry. */
  registryHookToken?: string;
  /** The publisher role: publish each new valid revision of the git repository here. */
  publishTo?: string;
  signKey?: string;
  /** Publisher: only publish commits signed by a key in this allowed-signers file. */
  commitSigners?: string;
  /** Publisher with policies/rollout.yaml: the cores asked for their sites' health, and its operator key. */
  rolloutCore?: string[];
  rolloutKey?: string;
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
  /** The site tree (issue 13): this host's name, its parent's URL, the site token, a core's report secret and operators. */
  hostName?: string;
  reportTo?: string;
  siteToken?: string;
  gatewayToken?: string;
  reportSecret?: string;
  operators?: string;
  advertise?: string;
  maxConnections?: string;
  webhookRate?: string;
}

/** Whether the flags put the agent in a site tree (its place is then built by agent-site.ts, loaded only then). */
function inSiteTree(flags: SiteTreeFlags): boolean {
  return Boolean(flags.reportTo || flags.siteToken || flags.reportSecret);
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
): Promise<{
  sink: EventSink;
  chat: EventSink;
  /** A core: the site events it relays to the channels only it reaches (`sentFrom: core`). */
  relay?: EventSink;
  status?: GithubStatusSink['site'];
  onApplied: (a: Applied) => void;
  close: (timeoutMs: number) => Promise<void>;
}> {
  const list: Reporter[] = [];
  let chatSink: EventSink = () => undefined;
  let status: GithubStatusSink['site'] | undefined;
  let onApplied: (a: Applied) => void = () => undefined;
  let relay: EventSink | undefined;
  if (opts.chat !== false) {
    const { createChatDispatcher, fileStateStore, NO_NOTIFICATIONS, sentFrom } = await import('../report/chat/index.js');
    // In a site tree a gateway sends to the channels it reaches, and a core relays its sites' events to the rest.
    const tree = inSiteTree(opts);
    let area: string | undefined;
    const dispatcher = (store: string) =>
      createChatDispatcher({
        policy: NO_NOTIFICATIONS,
        siteArea: () => area,
        resolve: hostSecrets({ root: opts.root }),
        log: log.child({ component: 'chat' }),
        store: fileStateStore(stateDir, store),
      });
    const chat = dispatcher('chat-state.json');
    const relayed = opts.reportSecret ? dispatcher('chat-relay-state.json') : undefined;
    onApplied = (a) => {
      area = a.area;
      const policy = a.notifications ?? NO_NOTIFICATIONS;
      chat.setPolicy(tree ? sentFrom(policy, 'gateway') : policy, () => a.area);
      relayed?.setPolicy(sentFrom(policy, 'core'), () => a.area);
    };
    list.push(chat, ...(relayed ? [relayed] : []));
    chatSink = chat.sink;
    relay = relayed?.sink;
  }
  if (opts.githubRepo) {
    const { createGithubStatusSink, parseRepoSlug } = await import('../report/github/index.js');
    const slug = parseRepoSlug(opts.githubRepo);
    if (!slug) throw new UsageError(`--github-repo ${opts.githubRepo} must be owner/name.`);
    const token = await hostSecrets({ root: opts.root }).resolve(opts.githubToken ?? 'env:GITHUB_TOKEN');
    const baseUrl = opts.githubApiUrl ?? process.env['GITHUB_API_URL'];
    const github = createGithubStatusSink({
      token,
      ...(baseUrl ? { baseUrl } : {}),
      owner: slug.owner,
      repo: slug.repo,
      log: log.child({ component: 'github' }),
    });
    list.push(github);
    status = github.site;
  }
  return {
    sink: (e) => {
      for (const r of list) r.sink(e);
    },
    chat: (e) => chatSink(e),
    ...(relay ? { relay } : {}),
    ...(status ? { status } : {}),
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

/** What --max-connections and --webhook-rate BURST/PER_SECOND change of the endpoint's limits (server/index.ts). */
export function serverLimitsOf(opts: Pick<AgentCliOptions, 'maxConnections' | 'webhookRate'>): Partial<ServerLimits> {
  const limits: Partial<ServerLimits> = {};
  if (opts.maxConnections !== undefined) {
    const n = Number(opts.maxConnections);
    if (!/^\d+$/.test(opts.maxConnections) || n < 1 || n > 65_535) {
      throw new UsageError(`--max-connections ${opts.maxConnections} is not a whole number between 1 and 65535 (default ${DEFAULT_LIMITS.maxConnections}).`);
    }
    limits.maxConnections = n;
  }
  if (opts.webhookRate !== undefined) {
    const m = /^(\d+)\/(\d+(?:\.\d+)?)$/.exec(opts.webhookRate);
    const burst = Number(m?.[1]);
    const perSecond = Number(m?.[2]);
    if (!m || burst < 1 || burst > 10_000 || perSecond <= 0 || perSecond > 1000) {
      const { burst: b, perSecond: p } = DEFAULT_LIMITS.webhookRate;
      throw new UsageError(
        `--webhook-rate ${opts.webhookRate} is not BURST/PER_SECOND: webhooks one source may send at once (1 to 10000), then per second ` +
          `(more than 0, at most 1000), e.g. ${b}/${p} (the default) or 5/0.1.`,
      );
    }
    limits.webhookRate = { burst, perSecond };
  }
  return limits;
}

/**
 * Node's flags for a long-running agent: it trades a little GC time for memory (a small young generation,
 * size-optimised code) and runs without V8's optimizing compiler (`--no-opt`): an agent's work is short bursts
 * of I/O and small JSON, where TurboFan's code and compile buffers cost ~7 MB of resident memory and its
 * compiling more CPU than it saves (issue 15; the heavy one-off work, validating a fleet, runs in children
 * without these flags). They take effect only on node's command line — V8 sizes its heap before any code
 * runs, so setting them from the agent itself does nothing — hence agent/deploy/mirrornet-agent.service
 * starts `node` with them, and so do the lab and the benchmarks.
 */
export const AGENT_NODE_FLAGS = ['--max-semi-space-size=1', '--optimize-for-size', '--no-opt'] as const;

/** How long a reconcile that runs when the agent is told to stop may go on before its commands are killed. */
const STOP_GRACE_MS = 5000;

export async function agentCommand(opts: AgentCliOptions, io: Io): Promise<number> {
  const limits = serverLimitsOf(opts);
  const roles = parseRoles(opts.roles);
  intervalToCron(opts.interval); // fail fast on a bad interval
  const endpoint = resolveListen(opts.listen ?? DEFAULT_LISTEN);
  opts = { ...opts, listen: endpoint.listen };
  const listen = parseListen(endpoint.listen);
  checkSecretReferences({
    '--webhook-secret': opts.webhookSecret,
    '--github-token': opts.githubToken,
    '--registry-password': opts.registryPassword,
    '--fanout-token': opts.fanoutToken,
    '--site-token': opts.siteToken,
    '--gateway-token': opts.gatewayToken,
    '--report-secret': opts.reportSecret,
    '--registry-hook-token': opts.registryHookToken,
    '--sign-key': opts.signKey,
  });
  const log = createLogger().child({ component: 'agent', site: opts.region });
  const stateDir = stateDirOf(opts);
  const store = new StateStore(stateDir);
  const secrets = hostSecrets({ root: opts.root });
  // A guessable webhook secret stops the agent before it does anything (--once serves no webhook).
  const webhookSecret = opts.webhookSecret && !opts.once ? await secrets.resolve(opts.webhookSecret) : undefined;
  const weak = webhookSecret !== undefined ? webhookSecretProblem(webhookSecret, opts.webhookSecret!) : undefined;
  if (weak) throw new UserError(weak);
  const interval = intervalMs(opts.interval);
  const metrics = createMetrics({ site: opts.region, roles, version: AGENT_VERSION, intervalMs: interval });
  // What the state file recorded before a restart (the loop reports an apply or a refusal once, when it happens).
  const recorded = await store.load().catch(() => undefined);
  if (recorded?.retired?.uplinkRemoved) {
    // A retired site's agent touches nothing: started again (systemd, a reboot), it says so and exits. (Retired
    // but with its uplink still there, it runs on: its first tick says retired, and it finishes below.)
    io.stdout(`${retiredLine(opts.region, recorded.retired.revision, stateDir)}\n`);
    return 0;
  }
  if (recorded?.appliedRevision) metrics.revision(recorded.appliedRevision);
  metrics.refused(recorded?.refused?.revision, recorded?.refused?.code);
  const stopping = new AbortController();
  const deps = hostDeps({ ...opts, repo: '', format: 'text' }, log, stopping.signal);
  const sources = await sourcesOf(opts, roles, stateDir, secrets, localExec());
  const report = await reporters(opts, stateDir, log);
  // In a site tree the loop's events go up to the site's gateway (the one voice of the site); the core posts statuses.
  let tick: (reason: string) => Promise<TickResult> = async (reason) => loop.tick(reason);
  const tree: SiteTree | undefined = inSiteTree(opts)
    ? await (
        await import('./agent-site.js')
      ).siteTreeOf(opts, {
        site: opts.region,
        roles,
        stateDir,
        intervalMs: interval,
        secrets,
        exec: localExec(),
        log,
        store,
        lastResult: (): TickResult | undefined => loop.lastResult,
        listen: opts.listen,
        trigger: (reason) => void tick(reason),
        chat: report.chat,
        ...(report.relay ? { relay: report.relay } : {}),
        ...(report.status ? { status: report.status } : {}),
      })
    : undefined;
  const sink: EventSink = (e) => {
    metrics.observe(e);
    (tree?.sink ?? report.sink)(e);
  };
  const revisions = reportOffers(sources.revisions, metrics);
  const loop: Agent = new Agent(
    { site: opts.region, roles, intervalMs: interval, ...(tree ? { suspended: () => tree.suspended() } : {}) },
    revisions,
    store,
    deps,
    log,
    metrics,
    sink,
    report.onApplied,
  );
  metrics.follow(() => loop.lastResult);
  const publisher = opts.publishTo ? await publisherOf(opts, stateDir, secrets, log, report.sink) : undefined;
  // The publisher publishes first, so its own tick applies what it published; a gateway hands a head on as the
  // signature of its layer checks out (agent-sources.ts, onVerified), not here.
  tick = async (reason: string) => {
    await publisher?.run(reason);
    const result = await loop.tick(reason);
    tree?.afterTick();
    if (tree) metrics.suspended(tree.suspendedBy());
    // The state file has the last word: a revision applied by `mirrornet apply` by hand, which the loop keeps
    // without an event, is no longer counted as refused.
    const state = await store.load().catch(() => undefined);
    if (state?.appliedRevision) metrics.revision(state.appliedRevision);
    return result;
  };

  /**
   * Once its site retired: report it up the site tree until delivered (a gateway: its whole site, waiting at most
   * three intervals for its hosts), then remove the uplink that carried the report, say so in one line and end
   * (as SIGTERM does). A report that fails leaves the uplink; both are tried again.
   */
  let retire: (() => void) | undefined;
  let retiring = false;
  let ending = false;
  const retirement = (once: boolean) =>
    finishRetirement({
      ...(tree ? { report: (waitedOut: boolean) => tree.reportRetired(waitedOut) } : {}),
      removeUplink: () => loop.removeUplink(),
      waitMs: 3 * interval,
      retryMs: Math.min(interval, 5000),
      once,
      stopped: () => ending,
    });
  const ticked = tick;
  tick = async (reason: string) => {
    const result = await ticked(reason);
    if (result.kind === 'retired' && !opts.once && !retiring) {
      retiring = true;
      void retirement(false).then((done) => {
        if (!done) return;
        io.stdout(`${retiredLine(opts.region, result.revision, stateDir)}\n`);
        retire?.();
      });
    }
    return result;
  };

  if (opts.once) {
    const result = await tick('once');
    if (result.kind === 'retired') await retirement(true);
    io.stdout(`${JSON.stringify(redactDeep(result))}\n`);
    await tree?.close();
    await report.close(10_000);
    if (result.kind === 'outdated') return AGENT_TOO_OLD_EXIT;
    return result.kind === 'failed' ? 1 : result.kind === 'refused' || result.kind === 'blocked' ? 3 : 0;
  }

  if (endpoint.note) log.warn(endpoint.note);
  const hookToken = opts.registryHookToken ? await secrets.resolve(opts.registryHookToken) : undefined;
  // A stall is visible (/healthz 503, the stall gauge, the log, chat): no reconcile completed within two
  // intervals, or the state cannot be read; checked on a timer too, so nobody needs to probe for it.
  const unwatch = loop.health.watch();
  const server = createAgentServer({
    log,
    registry: metrics.registry,
    ...(webhookSecret ? { webhookSecret } : {}),
    branch: opts.branch,
    trigger: (reason) => void tick(reason),
    health: () => loop.health.check(),
    ready: () => loop.ready,
    limits,
    ...(sources.broadcast && sources.fanoutToken ? { fanout: fanoutEndpoint(sources.broadcast, sources.fanoutToken) } : {}),
    ...(hookToken ? { registryHook: registryHookEndpoint(hookToken) } : {}),
    ...tree?.server,
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
  log.info({ listen: opts.listen, interval: opts.interval, source: opts.source ?? opts.repoUrl, branch: opts.branch }, 'agent started');
  void tick('startup');
  const task = scheduleTicks(opts.interval, () => tick('interval'));
  // A node learns of a new revision from its gateway at once (long-poll), besides its own interval.
  const feedStop = new AbortController();
  const watching = sources.feed?.watch(() => void tick('gateway'), feedStop.signal);
  await new Promise<void>((resolve) => {
    let stopped = false;
    const stop = (signal: string) => {
      if (stopped) return;
      stopped = true;
      ending = true;
      process.removeListener('SIGTERM', onTerm);
      process.removeListener('SIGINT', onInt);
      log.info({ signal }, 'agent stopping');
      unwatch();
      void task.stop();
      // A reconcile that runs now gets a short grace to finish (a restart hook usually does); then what it
      // still runs (a hook that hangs) is killed, so the agent stops promptly, as systemd expects.
      const grace = setTimeout(() => stopping.abort(), STOP_GRACE_MS);
      const idle = loop.stop().then(() => clearTimeout(grace));
      const closed = new Promise<void>((r) => server.close(() => r()));
      // Nodes waiting on a long-poll (/v1/bundle) would hold the server open: they ask again elsewhere.
      server.closeAllConnections();
      feedStop.abort();
      // The site's last batched events go out through chat before chat closes.
      void Promise.all([closed, idle.then(() => tree?.close()).then(() => report.close(5000)), watching]).then(() => resolve());
      // Whatever still runs by then (a validation child, a remote call) does not keep the process: exit.
      setTimeout(() => {
        log.warn('the agent did not finish stopping within its grace; exiting');
        process.exit(0);
      }, STOP_GRACE_MS + 3000).unref();
    };
    const onTerm = () => stop('SIGTERM');
    const onInt = () => stop('SIGINT');
    process.once('SIGTERM', onTerm);
    process.once('SIGINT', onInt);
    retire = () => stop('retired');
  });
  return 0;
}

/** The one line a retired site's agent ends with. */
function retiredLine(site: string, revision: string, stateDir: string): string {
  return (
    `mirrornet: ${site} is retired (revision ${revision.slice(0, 12)}): everything this agent created is removed; nothing left to do. ` +
    `To bring the site back, set lifecycle: active and remove ${stateDir}/state.json before starting the agent again.`
  );
}
