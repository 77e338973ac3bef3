// An agent's place in the site tree (issue 13), from its flags: a node reports to its site's gateway
// (--report-to), a gateway keeps its site and reports it to its core (--site-token, --report-to), a core is
// the root of its area (--report-secret, --operators). Only the gateway speaks for a site in chat; only the
// core posts commit statuses. Without these flags an agent reports alone, as before.
import { hostname } from 'node:os';
import type { Logger } from 'pino';
import { httpRequest } from '../host/http.js';
import type { Exec } from '../host/exec.js';
import type { SecretResolver } from '../host/secrets.js';
import type { Role } from '../desired/types.js';
import type { EventSink } from '../reconcile/events.js';
import type { TickResult } from '../reconcile/loop.js';
import type { StateStore } from '../reconcile/state.js';
import { FleetView, operatorHandler } from '../report/site/fleet.js';
import { SiteGateway } from '../report/site/gateway.js';
import { HeldSteering, type SteeringChange } from '../report/site/held-steering.js';
import { SiteMember } from '../report/site/member.js';
import { FLEET_FILE, SiteRoot } from '../report/site/root.js';
import type { Steering } from '../report/site/schema.js';
import { gatewayToken, siteToken } from '../report/site/signing.js';
import type { SiteCommitStatus } from '../report/site/status.js';
import { SteeringStore } from '../report/site/steering.js';
import { SiteUplink } from '../report/site/uplink.js';
import { RecentDeliveries } from '../server/guards.js';
import type { SignedReceiver, OperatorEndpoint } from '../server/site-routes.js';
import { UsageError } from './errors.js';
import { AGENT_VERSION } from '../version.js';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';

export interface SiteTreeFlags {
  hostName?: string;
  reportTo?: string;
  siteToken?: string;
  /** A gateway: the token it signs its site's reports to its core with (`mirrornet site-token --gateway`). */
  gatewayToken?: string;
  fanoutToken?: string;
  reportSecret?: string;
  operators?: string;
  advertise?: string;
}

export interface SiteTreeContext {
  site: string;
  roles: Role[];
  stateDir: string;
  intervalMs: number;
  secrets: SecretResolver;
  exec: Exec;
  log: Logger;
  store: StateStore;
  lastResult: () => TickResult | undefined;
  /** The agent's listen address (host:port), for the URL its parent pushes steering to. */
  listen: string;
  /** Run a reconcile now (a reconcile request, a resume). */
  trigger: (reason: string) => void;
  /** The agent's chat sink (the gateway's and the core's voice). */
  chat: EventSink;
  /** A core: where its sites' events are relayed (the channels only the core reaches). */
  relay?: EventSink;
  /** The core's commit statuses of a site (absent: no --github-repo). */
  status?: (site: string, revision: string, status: SiteCommitStatus) => void;
}

/** What the agent needs of its place in the tree. */
export interface SiteTree {
  /** Where the loop's events go instead of chat and per-host statuses. */
  sink: EventSink;
  suspended(): boolean;
  /** Who suspended the site, while it is suspended. */
  suspendedBy(): string | undefined;
  /** After each tick: report the host's state. */
  afterTick(): void;
  /**
   * Report this retired host up the tree; true once it was delivered: a node's gateway answered; a gateway's
   * whole site retired (or `waitedOut`: its bounded wait for its hosts is over) and its core answered; a node,
   * once its gateway answered or its bounded wait is over.
   */
  reportRetired(waitedOut: boolean): Promise<boolean>;
  server: { reports?: SignedReceiver; siteReports?: SignedReceiver; steering?: SignedReceiver; operator?: OperatorEndpoint };
  close(): Promise<void>;
}

function advertisedUrl(flags: SiteTreeFlags, listen: string): string | undefined {
  if (flags.advertise) return flags.advertise;
  const m = /^(.*):(\d+)$/.exec(listen);
  const host = m?.[1]?.replace(/^\[|\]$/g, '');
  if (!m || !host || host === '0.0.0.0' || host === '::') return undefined;
  return `http://${host.includes(':') ? `[${host}]` : host}:${m[2]}`;
}

export async function siteTreeOf(flags: SiteTreeFlags, ctx: SiteTreeContext): Promise<SiteTree> {
  const { site, log } = ctx;
  const host = flags.hostName ?? hostname();
  const url = advertisedUrl(flags, ctx.listen);
  const secret = flags.reportSecret ? await ctx.secrets.resolve(flags.reportSecret) : undefined;
  const tokenRef = flags.siteToken ?? flags.fanoutToken;
  const token = secret ? siteToken(secret, site) : tokenRef ? await ctx.secrets.resolve(tokenRef) : undefined;
  const isGateway = ctx.roles.includes('gateway') || ctx.roles.includes('hub') || Boolean(secret);
  if (!token) throw new UsageError("--report-to needs the site token: --site-token REF (or the core's --report-secret REF).");
  const gwToken = secret ? gatewayToken(secret, site) : flags.gatewayToken ? await ctx.secrets.resolve(flags.gatewayToken) : undefined;
  if (isGateway && flags.reportTo && !gwToken) {
    throw new UsageError("A gateway reports to its core with the site's gateway token: give --gateway-token REF (`mirrornet site-token --gateway`).");
  }
  if (!isGateway && !flags.reportTo) throw new UsageError('A node reports to its gateway: give --report-to http://GATEWAY:PORT.');
  if (flags.operators && !secret) throw new UsageError('--operators is for a core: give it with --report-secret.');
  const held = new HeldSteering(ctx.stateDir);
  const onSteering = (change: SteeringChange): void => {
    if (change.reconcileNow || change.suspendedChanged) ctx.trigger(change.reconcileNow ? 'reconcile' : 'steering');
  };
  const uplink = (to: string, forSite: string, tokenOf: string) => new SiteUplink({ url: to, site: forSite, token: tokenOf, request: httpRequest, log });
  const push = (to: string, forSite: string, tokenOf: string, steering: Steering) =>
    uplink(to, forSite, tokenOf)
      .post('/v1/steering', steering)
      .then(() => undefined);
  const facts = async () => {
    const state = await ctx.store.load();
    return { site, host, roles: [...ctx.roles], agentVersion: AGENT_VERSION, state, last: ctx.lastResult(), url };
  };

  let root: SiteRoot | undefined;
  let gateway: SiteGateway | undefined;
  let operator: OperatorEndpoint | undefined;
  if (secret) {
    const fleetText = await readFile(join(ctx.stateDir, FLEET_FILE), 'utf8').catch(() => undefined);
    const fleet = FleetView.restore(host, ctx.intervalMs, fleetText);
    const steering = await SteeringStore.open(ctx.stateDir);
    const seen = new Map<string, Steering>();
    root = new SiteRoot({
      fleet,
      steering,
      stateDir: ctx.stateDir,
      chat: ctx.chat,
      ...(ctx.relay ? { relay: ctx.relay } : {}),
      ...(ctx.status ? { status: ctx.status } : {}),
      push: (s, to, st) => (s === site ? gateway!.take(st).then(() => undefined) : push(to, s, gatewayToken(secret, s), st)),
      log,
    });
    const r = root;
    operator = flags.operators
      ? operatorHandler({
          fleet,
          steering,
          allowedSigners: flags.operators,
          exec: ctx.exec,
          clock: Date.now,
          nonces: new RecentDeliveries(11 * 60_000),
          push: (s, st) => {
            const before = seen.get(s) ?? { generation: 0 };
            seen.set(s, st);
            return r.steered(s, before, st);
          },
        })
      : undefined;
    for (const s of steering.steeredSites()) seen.set(s, steering.get(s));
  }
  if (isGateway) {
    const r = root;
    const parent = flags.reportTo && gwToken ? uplink(flags.reportTo, site, gwToken) : undefined;
    gateway = new SiteGateway({
      site,
      host,
      url,
      intervalMs: ctx.intervalMs,
      stateDir: ctx.stateDir,
      steering: held,
      chat: ctx.chat,
      ...(r
        ? { deliver: async (report) => ({ ok: true, steering: ((await r.receive(site, report)).body as { steering?: unknown }).steering }) }
        : parent
          ? { deliver: async (report) => answerOf(await parent.post('/v1/site-reports', report)) }
          : {}),
      push: (to, st) => push(to, site, token, st),
      onSteering,
      log,
    });
  }
  const g = gateway;
  const member = new SiteMember({
    facts,
    deliver: g
      ? async (report) => {
          const a = await g.receive(report);
          return { ok: a.status === 200, status: a.status, steering: (a.body as { steering?: unknown }).steering };
        }
      : async (report) => answerOf(await uplink(flags.reportTo!, site, token).post('/v1/reports', report)),
    steering: held,
    onSteering,
    log,
  });
  const r = root;
  const serverOf: SiteTree['server'] = {
    // A gateway (and a core, for its own site) hears its site's hosts, signed with the site token.
    ...(g ? { reports: { tokenFor: (s) => (s === site ? token : undefined), accept: (_s, body) => g.receive(body) } } : {}),
    // A core hears its sites' gateways, each signed with its site's gateway token, which no node holds.
    ...(r && secret ? { siteReports: { tokenFor: (s: string) => gatewayToken(secret, s), accept: (s: string, body: unknown) => r.receive(s, body) } } : {}),
    ...(!secret
      ? {
          steering: g
            ? // A gateway takes the steering its core pushes (signed with the gateway token) and hands it on.
              {
                tokenFor: (s) => (s === site ? gwToken : undefined),
                accept: async (_s, body) => {
                  const change = await g.take(body);
                  return change ? { status: 200, body: { taken: change.changed } } : { status: 400, body: { error: 'not a steering' } };
                },
              }
            : // A node holds the site token its fellow nodes hold too: a push only makes it ask its gateway now, and it
              // takes the steering from its gateway's answer.
              {
                tokenFor: (s) => (s === site ? token : undefined),
                accept: async () => {
                  void member.report();
                  return { status: 202, body: { asking: true } };
                },
              },
        }
      : {}),
    ...(operator ? { operator } : {}),
  };
  g?.start();
  root?.start();
  return {
    sink: member.sink,
    suspended: () => held.suspended(),
    suspendedBy: () => held.steering.suspended?.by,
    afterTick: () => void member.report(),
    reportRetired: async (waitedOut) => {
      const answered = await member.reportAnswered();
      // A node whose gateway no longer answers (it retired and stopped first) stops waiting after the bounded
      // wait too: its gateway reported the site without it.
      if (!g) return answered || waitedOut;
      if (!waitedOut && g.siteReport().summary.state !== 'retired') return false;
      return g.reportUpAnswered();
    },
    server: serverOf,
    close: async () => {
      await member.report();
      await g?.close();
      await root?.close();
    },
  };
}

function answerOf(answer: { status: number; json?: unknown }): { ok: boolean; status: number; steering?: unknown } {
  const ok = answer.status >= 200 && answer.status < 300;
  const steering = (answer.json as { steering?: unknown } | undefined)?.steering;
  return { ok, status: answer.status, ...(steering !== undefined ? { steering } : {}) };
}
