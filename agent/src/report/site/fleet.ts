// A core's view of the sites of its area: the latest report of each site's gateway and when it came, which
// sites fell silent (no report for more than three intervals) and which came back, and the operators' door to
// it — GET /v1/status and POST /v1/steer, both signed by an operator's SSH key (operator-auth.ts). Pure over
// a clock passed in; the agent persists the view (serialize / restore) and wires the pushes.
import { z } from 'zod';
import { userMessageOf, MirrornetError } from '../../errors.js';
import type { Exec } from '../../host/exec.js';
import { verifyOperatorRequest, type NonceMemory, type OperatorRequest } from './operator-auth.js';
import { SiteReport, SteerRequest, type FleetStatus, type Steering } from './schema.js';
import type { SteeringStore } from './steering.js';

/** A gateway silent for more than this many report intervals makes its site silent. */
const SILENT_AFTER_INTERVALS = 3;

/** A site's report as the core keeps it (its events were relayed when it came). */
const KeptSite = z.object({ report: SiteReport.omit({ events: true }), lastSeen: z.string(), silent: z.boolean() });
type KeptSite = z.infer<typeof KeptSite>;
const FleetFile = z.object({ version: z.literal(1), sites: z.record(z.string(), KeptSite) });

/** The sites whose gateway just fell silent, and those that were silent and reported again. */
export interface SilentTransitions {
  silent: string[];
  back: string[];
}

export class FleetView {
  private readonly sites = new Map<string, KeptSite>();

  constructor(
    /** The core's own host name (FleetStatus.core). */
    readonly core: string,
    /** How often gateways report (the agents' --interval). */
    readonly intervalMs: number,
  ) {}

  /** The view a previous agent serialized; anything unreadable starts empty (the next reports rebuild it). */
  static restore(core: string, intervalMs: number, text: string | undefined): FleetView {
    const view = new FleetView(core, intervalMs);
    let parsed;
    try {
      parsed = text === undefined ? undefined : FleetFile.safeParse(JSON.parse(text));
    } catch {
      parsed = undefined;
    }
    for (const [site, kept] of Object.entries(parsed?.success ? parsed.data.sites : {})) view.sites.set(site, kept);
    return view;
  }

  serialize(): string {
    return `${JSON.stringify({ version: 1, sites: Object.fromEntries([...this.sites].sort(([a], [b]) => a.localeCompare(b))) })}\n`;
  }

  /** A gateway's report arrived at `nowMs`: it replaces the site's last one. */
  record(report: SiteReport, nowMs: number): void {
    const { events: _events, ...kept } = report;
    const before = this.sites.get(report.site);
    this.sites.set(report.site, { report: kept, lastSeen: new Date(nowMs).toISOString(), silent: before?.silent ?? false });
  }

  /** The sites that ever reported, by name. */
  siteNames(): string[] {
    return [...this.sites.keys()].sort();
  }

  /** The last report of `site`, if it ever reported (its url is where steering is pushed). */
  report(site: string): SiteReport | undefined {
    const kept = this.sites.get(site);
    return kept && { ...kept.report, events: [] };
  }

  /** A retired site (its last report said so) stopped on purpose: it is never silent. */
  private silentAt(kept: KeptSite, nowMs: number): boolean {
    if (kept.report.summary.state === 'retired') return false;
    return nowMs - Date.parse(kept.lastSeen) > SILENT_AFTER_INTERVALS * this.intervalMs;
  }

  /**
   * The sites that went silent or came back since the last call (each transition is answered once, and
   * remembered by serialize, so a restarted core does not raise site-silent twice).
   */
  silentTransitions(nowMs: number): SilentTransitions {
    const out: SilentTransitions = { silent: [], back: [] };
    for (const [site, kept] of [...this.sites].sort(([a], [b]) => a.localeCompare(b))) {
      const silent = this.silentAt(kept, nowMs);
      if (silent === kept.silent) continue;
      kept.silent = silent;
      out[silent ? 'silent' : 'back'].push(site);
    }
    return out;
  }

  /** Every site (or only `site`) as GET /v1/status answers it. */
  status(nowMs: number, wanted: (site: string) => Steering, site?: string): FleetStatus {
    return {
      core: this.core,
      at: new Date(nowMs).toISOString(),
      sites: this.siteNames()
        .filter((name) => site === undefined || name === site)
        .map((name) => {
          const kept = this.sites.get(name)!;
          return { ...kept.report, lastSeen: kept.lastSeen, silent: this.silentAt(kept, nowMs), wantedSteering: wanted(name) };
        }),
    };
  }
}

/** A request to the operators' endpoints, and the answer (`body` is sent as JSON). */
export interface OperatorReply {
  status: number;
  body: object;
}

export interface OperatorHandlerDeps {
  fleet: FleetView;
  steering: SteeringStore;
  /** The --operators allowed-signers file. */
  allowedSigners: string;
  exec: Exec;
  clock: () => number;
  /** Nonces seen within OPERATOR_NONCE_WINDOW_MS (server/guards.ts RecentDeliveries). */
  nonces: NonceMemory;
  /** Push a site's new Steering down to its gateway; fire and forget (it retries and logs on its own). */
  push: (site: string, steering: Steering) => void | Promise<void>;
}

const error = (status: number, sentence: string): OperatorReply => ({ status, body: { error: sentence } });

/** What a request body failed of a schema, in one sentence. */
function zodSentence(err: z.ZodError): string {
  return err.issues.map((i) => (i.path.length ? `${i.path.join('.')}: ${i.message}` : i.message)).join('; ');
}

/** GET /v1/status and POST /v1/steer on a core: operator-signed; an unsigned or wrongly signed request changes nothing. */
export function operatorHandler(deps: OperatorHandlerDeps): { handle(req: OperatorRequest): Promise<OperatorReply> } {
  const steer = async (req: OperatorRequest, principal: string): Promise<OperatorReply> => {
    let json: unknown;
    try {
      json = JSON.parse(req.body.toString());
    } catch {
      return error(400, 'The steer request is not JSON: send { "site": NAME | "all": true, "action": "suspend" | "resume" | "reconcile", "reason": TEXT }.');
    }
    const parsed = SteerRequest.safeParse(json);
    if (!parsed.success) return error(400, `The steer request is invalid: ${zodSentence(parsed.error)}.`);
    const known = [...new Set([...deps.fleet.siteNames(), ...deps.steering.steeredSites()])];
    const outcome = await deps.steering.apply(parsed.data, principal, deps.clock(), known);
    if (!outcome.ok) return error(outcome.status, outcome.reason);
    for (const { site, steering } of outcome.sites) {
      void Promise.resolve()
        .then(() => deps.push(site, steering))
        .catch(() => undefined);
    }
    return { status: 202, body: { sites: outcome.sites } };
  };

  return {
    async handle(req) {
      const url = new URL(req.path, 'http://core.invalid');
      const route = url.pathname === '/v1/status' ? 'GET' : url.pathname === '/v1/steer' ? 'POST' : undefined;
      if (!route) return error(404, `There is no ${url.pathname} on a core: use GET /v1/status or POST /v1/steer.`);
      if (req.method.toUpperCase() !== route) return error(405, `${url.pathname} answers ${route} only.`);
      try {
        const who = await verifyOperatorRequest(req, deps.allowedSigners, deps.exec, deps.clock(), deps.nonces);
        if (!who.ok) return error(who.status, `The request is refused: ${who.reason}.`);
        if (route === 'POST') return await steer(req, who.principal);
        const site = url.searchParams.get('site') ?? undefined;
        return { status: 200, body: deps.fleet.status(deps.clock(), (s) => deps.steering.get(s), site) };
      } catch (err) {
        if (err instanceof MirrornetError) return error(500, userMessageOf(err));
        throw err;
      }
    },
  };
}
