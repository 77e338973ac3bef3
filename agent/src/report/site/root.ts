// A core is the root of its area's site tree: it keeps every site's report (the FleetView, persisted), posts one
// commit status per site that aggregates its hosts (it holds the GitHub credentials; no host in a region needs
// them), raises site-silent when a gateway stops reporting (and site-back when it returns), answers the
// operators (status, suspend, resume, reconcile) and pushes their steering down to the sites' gateways.
import { messageOf } from '../../errors.js';
import type { Logger } from 'pino';
import { HostFiles } from '../../host/files.js';
import { agentEvent, type EventSink } from '../../reconcile/events.js';
import type { FleetView } from './fleet.js';
import { SiteReport, type Steering } from './schema.js';
import { commitStatusOf, type SiteCommitStatus } from './status.js';
import type { SteeringStore } from './steering.js';

export const FLEET_FILE = 'fleet-view.json';
const SAVE_EVERY_MS = 2000;
/**
 * How long a relayed event is remembered: a gateway tries a report again (with a fresh delivery id) when the
 * core's answer was lost, and the events on it must not reach the channels twice. Its retries end in seconds.
 */
const RELAYED_MEMORY_MS = 15 * 60_000;

export interface SiteRootOptions {
  fleet: FleetView;
  steering: SteeringStore;
  stateDir: string;
  /** The core's chat: site-silent / site-back and the operators' suspensions. */
  chat: EventSink;
  /** The site events a gateway reported, relayed to the channels only the core reaches (`sentFrom: core`). */
  relay?: EventSink;
  /** Posts a site's aggregated commit status (`mirrornet/<site>` on `revision`). */
  status?: (site: string, revision: string, status: SiteCommitStatus) => void;
  /** Pushes a Steering to a site's gateway at its URL. */
  push: (site: string, url: string, steering: Steering) => Promise<void>;
  log: Logger;
  now?: () => number;
}

export class SiteRoot {
  private readonly now: () => number;
  /** The last status posted per site (a status is posted when it changes). */
  private readonly posted = new Map<string, string>();
  private timer: NodeJS.Timeout | undefined;
  private saving: Promise<void> = Promise.resolve();
  private saveTimer: NodeJS.Timeout | undefined;
  /** Events relayed lately (site, fingerprint and time: the same event on a report tried again), with when. */
  private readonly relayed = new Map<string, number>();

  constructor(private readonly o: SiteRootOptions) {
    this.now = o.now ?? Date.now;
  }

  /** Check for silent gateways every interval. */
  start(): void {
    if (this.timer) return;
    this.timer = setInterval(() => this.checkSilence(), this.o.fleet.intervalMs);
    this.timer.unref();
  }

  /** A gateway's report of its site (POST /v1/reports, or the core's own gateway in process); the answer is the site's Steering. */
  async receive(site: string, body: unknown): Promise<{ status: number; body: object }> {
    const parsed = SiteReport.safeParse(body);
    if (!parsed.success) return { status: 400, body: { error: `not a site report: ${parsed.error.issues[0]?.message ?? 'invalid'}` } };
    const report = parsed.data;
    if (report.site !== site) return { status: 400, body: { error: `signed for ${site}, but reports ${report.site}` } };
    this.o.fleet.record(report, this.now());
    this.relayOnce(report);
    this.postStatus(report);
    this.checkSilence();
    this.save();
    return { status: 200, body: { steering: this.o.steering.get(site) } };
  }

  /** Relay a report's events, each once: a report a gateway tried again carries the same events. */
  private relayOnce(report: SiteReport): void {
    const now = this.now();
    for (const [key, at] of this.relayed) if (now - at > RELAYED_MEMORY_MS) this.relayed.delete(key);
    for (const event of report.events) {
      const key = `${report.site}\u0000${event.fingerprint}\u0000${event.at}`;
      if (this.relayed.has(key)) continue;
      this.relayed.set(key, now);
      this.o.relay?.({ ...event, site: report.site });
    }
  }

  /** The operators changed a site's steering: say so in chat, and push it to the site's gateway. */
  async steered(site: string, before: Steering, steering: Steering): Promise<void> {
    const last = this.o.fleet.report(site);
    const revision = last?.summary.revision ?? 'unknown';
    if (steering.suspended && !before.suspended) {
      const s = steering.suspended;
      this.o.chat(
        agentEvent(
          'site-suspended',
          site,
          revision,
          `${site} is suspended by ${s.by}: ${s.reason}. Its hosts apply nothing new and heal no drift until \`mirrornet resume --site ${site}\`.`,
          { origin: 'drift' },
        ),
      );
    } else if (!steering.suspended && before.suspended) {
      this.o.chat(agentEvent('site-resumed', site, revision, `${site} is resumed: its hosts apply and heal again.`, { origin: 'drift' }));
    }
    const url = last?.url;
    if (!url) {
      this.o.log.info({ site }, 'no gateway URL known for the site yet: it gets its steering with its next report');
      return;
    }
    await this.o.push(site, url, steering).catch((err: unknown) => {
      this.o.log.warn({ site, err: { message: messageOf(err) } }, 'steering push failed; the gateway gets it with its next report');
    });
  }

  /** Stop the silence check and write the view once more. */
  async close(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    if (this.saveTimer) clearTimeout(this.saveTimer);
    this.saveTimer = undefined;
    await this.saving;
    await this.write();
  }

  private checkSilence(): void {
    const { silent, back } = this.o.fleet.silentTransitions(this.now());
    for (const site of silent) {
      const minutes = Math.round((3 * this.o.fleet.intervalMs) / 60_000);
      this.o.chat(
        agentEvent(
          'site-silent',
          site,
          this.o.fleet.report(site)?.summary.revision ?? 'unknown',
          `The gateway of ${site} has not reported for more than ${minutes} min: check the gateway agent and the link to its core.`,
          {
            origin: 'drift',
            component: 'gateway',
          },
        ),
      );
    }
    for (const site of back) {
      this.o.chat(
        agentEvent('site-back', site, this.o.fleet.report(site)?.summary.revision ?? 'unknown', `The gateway of ${site} reports again.`, {
          origin: 'drift',
          component: 'gateway',
        }),
      );
    }
    if (silent.length || back.length) this.save();
  }

  private postStatus(report: SiteReport): void {
    const revision = report.summary.revision;
    if (!this.o.status || !revision) return;
    const status = commitStatusOf(report.summary, revision);
    // The last status posted per site (one entry per site, however many revisions go by).
    const text = `${revision}\u0000${status.state}\u0000${status.description}`;
    if (this.posted.get(report.site) === text) return;
    this.posted.set(report.site, text);
    this.o.status(report.site, revision, status);
  }

  /** Save the view at most every SAVE_EVERY_MS (a core hears from every site each interval), one write at a time. */
  private save(): void {
    if (this.saveTimer) return;
    this.saveTimer = setTimeout(() => {
      this.saveTimer = undefined;
      this.saving = this.saving.then(() => this.write());
    }, SAVE_EVERY_MS);
    this.saveTimer.unref();
  }

  private async write(): Promise<void> {
    try {
      await new HostFiles(this.o.stateDir).writeAtomic(FLEET_FILE, this.o.fleet.serialize(), { mode: 0o600 });
    } catch (err) {
      this.o.log.warn({ err: { message: messageOf(err) } }, 'the fleet view could not be saved');
    }
  }
}
