// A site's gateway agent is the one voice of its site: it keeps what every host of the site reported (the
// SiteBook, persisted), turns the hosts' events into site events that name the hosts (one chat message per site
// event, sent by the gateway alone), reports the site to its core (after a change, and as a heartbeat every
// interval), and hands the operators' steering down to its hosts. Nothing here throws into the agent.
import { messageOf } from '../../errors.js';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Logger } from 'pino';
import { HostFiles } from '../../host/files.js';
import type { AgentEvent, EventSink } from '../../reconcile/events.js';
import { batchSiteEvents, type SiteEventBatching } from './batch.js';
import { SiteBook } from './book.js';
import type { HeldSteering, SteeringChange } from './held-steering.js';
import { HostReport, MAX_EVENTS_PER_REPORT, Steering, type ReportedEvent, type SiteReport } from './schema.js';
import { folded } from './folded.js';
import { summarize } from './summary.js';
import { boundedEvent } from './host-report.js';

const BOOK_FILE = 'site-book.json';
/** A host silent this long is forgotten (decommissioned or renamed): it no longer keeps its site stale. */
const FORGET_AFTER_MS = 24 * 3600_000;
/** Reports to the core are at least this far apart (a site of many hosts reports often); the last one carries all. */
const MIN_REPORT_GAP_MS = 2000;
/** The book is written at most this often. */
const SAVE_EVERY_MS = 5000;

export interface SiteGatewayOptions {
  site: string;
  area?: string | undefined;
  /** This gateway's host name. */
  host: string;
  /** This gateway's own --listen URL (its core pushes steering there). */
  url?: string | undefined;
  intervalMs: number;
  stateDir: string;
  steering: HeldSteering;
  /** Site events go here (the gateway's chat dispatcher). */
  chat: EventSink;
  /** Sends the site's report to its core and returns the answer's Steering (absent: a core is its own root). */
  deliver?: (report: SiteReport) => Promise<{ ok: boolean; steering?: unknown }>;
  /** Pushes a Steering to one host of the site at its URL. */
  push: (url: string, steering: Steering) => Promise<void>;
  /** Told what a Steering from the core changed for this gateway's own host (suspend, resume, reconcile now). */
  onSteering: (change: SteeringChange) => void;
  log: Logger;
  now?: () => number;
  batchWindowMs?: number;
  /** Reports to the core at least this far apart (default MIN_REPORT_GAP_MS). */
  minReportGapMs?: number;
}

export class SiteGateway {
  readonly book: SiteBook;
  private readonly batching: SiteEventBatching;
  private readonly now: () => number;
  /** Site events not yet reported to the core. */
  private upward: ReportedEvent[] = [];
  private heartbeat: NodeJS.Timeout | undefined;
  private saving: Promise<void> = Promise.resolve();
  private lastSent = 0;
  private closing = false;
  /** Ends the wait between two reports at once (close: the last report goes out now, not after the gap). */
  private endGap: (() => void) | undefined;
  private dirty = false;
  private saveTimer: NodeJS.Timeout | undefined;

  constructor(private readonly o: SiteGatewayOptions) {
    this.now = o.now ?? Date.now;
    this.book = loadBook(join(o.stateDir, BOOK_FILE), o.intervalMs, o.log);
    this.batching = batchSiteEvents({
      site: o.site,
      ...(o.batchWindowMs !== undefined ? { windowMs: o.batchWindowMs } : {}),
      hostCount: () => this.book.size,
      clock: this.now,
      sink: (event) => this.siteEvent(event),
    });
  }

  /** Start the heartbeat to the core (one report per interval, whatever happened). */
  start(): void {
    if (!this.o.deliver || this.heartbeat) return;
    this.heartbeat = setInterval(() => void this.reportUp(), this.o.intervalMs);
    this.heartbeat.unref();
  }

  /** A host's report (a node's POST /v1/reports, or this gateway's own): recorded, its events batched; the answer is the site's Steering. */
  async receive(body: unknown): Promise<{ status: number; body: object }> {
    const parsed = HostReport.safeParse(body);
    if (!parsed.success) return { status: 400, body: { error: `not a host report: ${parsed.error.issues[0]?.message ?? 'invalid'}` } };
    const report = parsed.data;
    if (report.site !== this.o.site) return { status: 400, body: { error: `this gateway keeps ${this.o.site}, not ${report.site}` } };
    this.book.record(report, this.now());
    for (const event of report.events) this.batching.add(report.host, event);
    void this.saveBook();
    void this.reportUp();
    return { status: 200, body: { steering: this.o.steering.steering } };
  }

  /** The site as it stands (what the core receives). */
  siteReport(events: ReportedEvent[] = []): SiteReport {
    const now = this.now();
    this.book.forgetSilent(now, FORGET_AFTER_MS);
    const hosts = this.book.hosts(now);
    const steering = this.o.steering.steering;
    return {
      site: this.o.site,
      ...(this.o.area ? { area: this.o.area } : {}),
      gateway: this.o.host,
      hosts,
      summary: summarize(this.o.site, hosts, steering),
      events,
      steering,
      at: new Date(now).toISOString(),
      ...(this.o.url ? { url: this.o.url } : {}),
    };
  }

  /** Take a Steering (the core's push, or its answer), and hand it to every host of the site that gave its URL. */
  async take(steering: unknown): Promise<SteeringChange | undefined> {
    const parsed = Steering.safeParse(steering);
    if (!parsed.success) return undefined;
    const change = await this.o.steering.offer(parsed.data);
    if (!change.changed) return change;
    this.o.onSteering(change);
    const hosts = this.book.hosts(this.now()).filter((h) => h.url && h.host !== this.o.host && !h.stale);
    // Not awaited: the core's push is answered at once, whatever the hosts do.
    void Promise.all(
      hosts.map((h) =>
        this.o.push(h.url!, parsed.data).catch((err: unknown) => {
          this.o.log.warn({ host: h.host, err: { message: messageOf(err) } }, 'steering push failed; the host gets it with its next report');
        }),
      ),
    );
    void this.reportUp();
    return change;
  }

  /** Report the site to the core now (folded into one more when one is on its way). */
  reportUp(): Promise<void> {
    return this.o.deliver ? this.reportFolded() : Promise.resolve();
  }

  /** Report the site now; true when the core answered it, or when this gateway reports to no core. */
  async reportUpAnswered(): Promise<boolean> {
    if (!this.o.deliver) return true;
    await this.reportUp();
    return this.answered;
  }

  /** Whether the last report to the core was answered. */
  private answered = false;

  private readonly reportFolded = folded(async () => {
    const wait = this.lastSent + (this.o.minReportGapMs ?? MIN_REPORT_GAP_MS) - this.now();
    if (wait > 0 && !this.closing) {
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, wait).unref();
        this.endGap = () => {
          clearTimeout(timer);
          resolve();
        };
      });
      this.endGap = undefined;
    }
    this.lastSent = this.now();
    await this.sendOnce();
  });

  /** Stop the heartbeat; site events still waiting in the batch go out now. */
  async close(): Promise<void> {
    this.closing = true;
    // A report waiting out the gap would hold an unref'd timer only: the process could end before it is sent.
    this.endGap?.();
    if (this.heartbeat) clearInterval(this.heartbeat);
    this.heartbeat = undefined;
    this.batching.close();
    await this.saveBook(true);
    await this.reportUp();
  }

  private siteEvent(event: AgentEvent): void {
    // A drift resolved on some hosts while others of the site still drift on that component is not resolved yet.
    const stillDrifting =
      event.kind === 'drift-resolved' && event.component !== undefined && this.book.hosts(this.now()).some((h) => (h.drift[event.component!] ?? 0) > 0);
    if (!stillDrifting) this.o.chat(event);
    this.upward.push(boundedEvent(event));
    if (this.upward.length > MAX_EVENTS_PER_REPORT) this.upward.splice(0, this.upward.length - MAX_EVENTS_PER_REPORT);
    void this.reportUp();
  }

  private async sendOnce(): Promise<void> {
    const events = this.upward.slice();
    this.answered = false;
    try {
      const answer = await this.o.deliver!(this.siteReport(events));
      if (!answer.ok) return;
      this.answered = true;
      this.upward.splice(0, Math.min(events.length, this.upward.length));
      if (answer.steering !== undefined) await this.take(answer.steering);
    } catch (err) {
      this.o.log.warn({ err: { message: messageOf(err) } }, 'report to the core failed; the next one carries it');
    }
  }

  /** Save the book at most every SAVE_EVERY_MS (a site's hosts report after every tick), one write at a time. */
  private saveBook(now = false): Promise<void> {
    this.dirty = true;
    if (!now) {
      this.saveTimer ??= setTimeout(() => void this.saveBook(true), SAVE_EVERY_MS).unref();
      return this.saving;
    }
    if (this.saveTimer) clearTimeout(this.saveTimer);
    this.saveTimer = undefined;
    this.saving = this.saving.then(async () => {
      if (!this.dirty) return;
      this.dirty = false;
      try {
        await new HostFiles(this.o.stateDir).writeAtomic(BOOK_FILE, `${JSON.stringify(this.book.toJSON())}\n`, { mode: 0o600 });
      } catch (err) {
        this.o.log.warn({ err: { message: messageOf(err) } }, 'the site book could not be saved');
      }
    });
    return this.saving;
  }
}

function loadBook(path: string, intervalMs: number, log: Logger): SiteBook {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch {
    return new SiteBook(intervalMs);
  }
  try {
    return SiteBook.fromJSON(JSON.parse(text), intervalMs);
  } catch (err) {
    log.warn({ err: { message: messageOf(err) } }, 'the saved site book is unreadable; starting empty');
    return new SiteBook(intervalMs);
  }
}
