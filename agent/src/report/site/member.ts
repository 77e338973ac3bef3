// A host's place in its site: it reports its state and events to its site's gateway after every tick (and
// when an event comes between ticks), and takes the Steering the gateway answers with. Nothing here throws into
// the agent: a gateway that does not answer keeps the events queued (bounded) for the next report.
import { messageOf } from '../../errors.js';
import type { Logger } from 'pino';
import type { AgentEvent } from '../../reconcile/events.js';
import { folded } from './folded.js';
import { hostReportOf, type HostFacts } from './host-report.js';
import type { HeldSteering, SteeringChange } from './held-steering.js';
import { Steering, type HostReport, type ReportedEvent } from './schema.js';

/** Events kept for the next report while the gateway does not answer; the oldest go first. */
const MAX_QUEUED_EVENTS = 1000;
/** An event between ticks is reported this long after it (events of one tick go with the report after the tick). */
const EVENT_REPORT_DELAY_MS = 1000;

export interface SiteMemberOptions {
  /** What the host knows now, without its steering (the member adds it). */
  facts: () => Promise<Omit<HostFacts, 'steering' | 'suspended'>>;
  /** Delivers a report to the gateway and returns its answer's Steering (a node: the uplink; the gateway itself: in process). */
  deliver: (report: HostReport) => Promise<{ ok: boolean; status?: number; steering?: unknown }>;
  steering: HeldSteering;
  /** Told what a Steering changed (suspend, resume, reconcile now). */
  onSteering: (change: SteeringChange) => void;
  log: Logger;
  now?: () => number;
}

export class SiteMember {
  private queue: ReportedEvent[] = [];

  constructor(private readonly o: SiteMemberOptions) {}

  /**
   * The agent's event sink: queued, and sent with the next report — the one after the tick that raised it, or,
   * for an event between ticks (a stall), one EVENT_REPORT_DELAY_MS later.
   */
  readonly sink = (event: AgentEvent): void => {
    this.queue.push(event);
    if (this.queue.length > MAX_QUEUED_EVENTS) this.queue.splice(0, this.queue.length - MAX_QUEUED_EVENTS);
    this.timer ??= setTimeout(() => void this.report(), EVENT_REPORT_DELAY_MS).unref();
  };

  private timer: NodeJS.Timeout | undefined;
  /** Whether the last report was answered by the gateway. */
  private answered = false;
  private readonly send = folded(() => this.sendOnce());

  /** Send a report now (folded into one more when one is on its way); resolves when it is done. */
  report(): Promise<void> {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    return this.send();
  }

  /** Send a report now; true when the gateway answered it (a retired host removes its uplink only then). */
  async reportAnswered(): Promise<boolean> {
    await this.report();
    return this.answered;
  }

  /** Take a Steering pushed by the gateway (POST /v1/steering). */
  async take(steering: unknown): Promise<SteeringChange | undefined> {
    const parsed = Steering.safeParse(steering);
    if (!parsed.success) return undefined;
    const change = await this.o.steering.offer(parsed.data);
    if (change.changed) this.o.onSteering(change);
    return change;
  }

  private async sendOnce(): Promise<void> {
    const events = this.queue.slice();
    this.answered = false;
    try {
      const facts = await this.o.facts();
      const held = this.o.steering;
      const report = hostReportOf({ ...facts, steering: held.steering.generation, suspended: held.suspended() }, events, new Date((this.o.now ?? Date.now)()));
      const answer = await this.o.deliver(report);
      if (!answer.ok && answer.status !== undefined && answer.status >= 400 && answer.status < 500 && answer.status !== 429) {
        // Refused as it is (not a network or server failure): sending the same events again would be refused again.
        this.o.log.warn({ status: answer.status, events: events.length }, 'the gateway refused the report; its events are dropped');
        this.queue.splice(0, Math.min(events.length, this.queue.length));
        return;
      }
      if (!answer.ok) return;
      this.answered = true;
      // Sent: those events are the gateway's now (new ones may have come meanwhile).
      this.queue.splice(0, Math.min(events.length, this.queue.length));
      if (answer.steering !== undefined) await this.take(answer.steering);
    } catch (err) {
      this.o.log.warn({ err: { message: messageOf(err) } }, 'report to the gateway failed; kept for the next one');
    }
  }
}
