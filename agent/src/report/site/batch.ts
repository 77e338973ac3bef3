// A gateway turns its hosts' events into site events: the events of one kind, component and revision that
// arrive within a short window (default 2 s from the first) become one event naming every host involved
// ("2 of 10 nodes drifted: routes on n3, n7"), so chat hears about a site once, not once per node. A
// drift-detected and its drift-resolved from the same host and component within the window are one
// `drift-healed` ("found and healed"), and neither is said on its own. A site event's fingerprint is its
// kind, site and component (not its hosts; and, but for drift, its revision): the chat dispatcher's dedup,
// reminders and resolutions hold per site. SiteEventBatcher is pure (the clock is passed in); batchSiteEvents runs it on a timer.
import { agentEvent, fingerprint, type AgentEvent, type EventKind, type EventSink } from '../../reconcile/events.js';
import { truncateChars } from '../chat/text.js';
import type { ReportedEvent } from './schema.js';
import { byHostName, nameList, shortRevision } from './summary.js';

const DEFAULT_WINDOW_MS = 2000;
/** Names a message spells out; the rest are counted (event.hosts names them all, up to MAX_HOSTS). */
const NAMED = 10;
/** Limits of a reported event (schema.ts). */
const MAX_HOSTS = 1000;
const MAX_CHANGES = 50;
const MAX_MESSAGE = 4096;

interface Group {
  kind: EventKind;
  component: string | undefined;
  revision: string;
  /** When the window that the group's first event opened ends. */
  due: number;
  /** The first event of each host, in arrival order. */
  members: Map<string, ReportedEvent>;
}

/** The one sentence of a site event about `hosts` (sorted) of a site of `total` hosts; `first` is the first host's own message. */
function sentence(g: Group, hosts: string[], total: number, first: string): string {
  const names = nameList(hosts, NAMED);
  const n = `${hosts.length} of ${total}`;
  const component = g.component ?? 'a component';
  const rev = shortRevision(g.revision);
  switch (g.kind) {
    case 'drift-detected':
      return `${n} nodes drifted: ${component} on ${names}`;
    case 'drift-resolved':
      return `${n} nodes are back in sync: ${component} on ${names}`;
    case 'drift-healed':
      return `${component} drifted on ${names} and was healed`;
    case 'applied':
      return `${n} hosts applied ${rev}`;
    case 'apply-started':
      return `${n} hosts are applying ${rev}`;
    case 'apply-failed':
      return `apply failed on ${names}: ${first}`;
    case 'revision-refused':
      return `${rev} refused on ${names}: ${first}`;
    case 'guardrail-blocked':
      return `blocked by a guardrail on ${names}: ${first}`;
    case 'agent-stalled':
      return `agent stalled on ${names}: ${first}`;
    case 'agent-recovered':
      return `agent recovered on ${names}: ${first}`;
    default:
      return `${g.kind} on ${names}: ${first}`;
  }
}

/** The changes of every member, each once, at most MAX_CHANGES. */
function changesOf(members: Iterable<ReportedEvent>): AgentEvent['changes'] {
  const seen = new Map<string, NonNullable<AgentEvent['changes']>[number]>();
  for (const e of members) for (const c of e.changes ?? []) seen.set(`${c.provider}\u0000${c.id}\u0000${c.action}`, c);
  return seen.size ? [...seen.values()].slice(0, MAX_CHANGES) : undefined;
}

/** Collects host events into groups and makes one site event of each group whose window ended. */
const DRIFT_KINDS: ReadonlySet<EventKind> = new Set(['drift-detected', 'drift-resolved', 'drift-healed']);

export class SiteEventBatcher {
  private readonly groups = new Map<string, Group>();

  constructor(
    private readonly site: string,
    private readonly windowMs = DEFAULT_WINDOW_MS,
  ) {}

  /** `event`, reported by `host`, arrived at `now`. */
  add(host: string, event: ReportedEvent, now: number): void {
    if (event.kind === 'drift-resolved') {
      const detected = [...this.groups.entries()].find(([, g]) => g.kind === 'drift-detected' && g.component === event.component && g.members.has(host));
      if (detected) {
        const [key, g] = detected;
        const found = g.members.get(host)!;
        g.members.delete(host);
        if (!g.members.size) this.groups.delete(key);
        this.join('drift-healed', event.component, event.revision, host, { ...found, origin: 'drift' }, now);
        return;
      }
    }
    this.join(event.kind, event.component, event.revision, host, event, now);
  }

  /** When the earliest window ends (undefined: nothing waits). */
  nextDue(): number | undefined {
    let due: number | undefined;
    for (const g of this.groups.values()) due = due === undefined ? g.due : Math.min(due, g.due);
    return due;
  }

  /**
   * The site events of the groups whose window ended by `now` (every group when `all`), oldest first;
   * `siteHosts` is how many hosts the site has (the gateway's SiteBook).
   */
  flush(now: number, siteHosts: number, all = false): AgentEvent[] {
    const out: AgentEvent[] = [];
    for (const [key, g] of this.groups) {
      if (!all && g.due > now) continue;
      this.groups.delete(key);
      out.push(this.siteEvent(g, now, siteHosts));
    }
    return out;
  }

  private join(kind: EventKind, component: string | undefined, revision: string, host: string, event: ReportedEvent, now: number): void {
    const key = [kind, component ?? '', revision].join('\u0000');
    let g = this.groups.get(key);
    if (!g) {
      g = { kind, component, revision, due: now + this.windowMs, members: new Map() };
      this.groups.set(key, g);
    }
    if (!g.members.has(host)) g.members.set(host, event);
  }

  private siteEvent(g: Group, now: number, siteHosts: number): AgentEvent {
    const hosts = [...g.members.keys()].sort(byHostName);
    const first = g.members.get(hosts[0]!)!;
    const changes = changesOf(g.members.values());
    const origin = g.kind === 'drift-healed' ? 'drift' : first.origin;
    return agentEvent(g.kind, this.site, g.revision, truncateChars(sentence(g, hosts, Math.max(siteHosts, hosts.length), first.message), MAX_MESSAGE), {
      ...(g.component !== undefined ? { component: g.component } : {}),
      ...(changes ? { changes } : {}),
      // The first host's diff: the hosts of a site drift alike, and a chat message holds one.
      ...(first.diff && g.kind === 'drift-detected' ? { diff: first.diff } : {}),
      hosts: hosts.slice(0, MAX_HOSTS),
      // Drift is one open thing per site and component (reminders, one resolution); a failure or refusal is
      // also about its revision, so a new revision's failure is never taken for the last one's.
      fingerprint: fingerprint([g.kind, this.site, g.component ?? '', ...(DRIFT_KINDS.has(g.kind) ? [] : [g.revision])]),
      ...(origin ? { origin } : {}),
      at: new Date(now).toISOString(),
    });
  }
}

export interface SiteEventBatching {
  /** A host's event, as its report brought it. */
  add(host: string, event: ReportedEvent): void;
  /** Send what waits now and stop the timer. */
  close(): void;
}

export interface SiteEventBatchingOptions {
  site: string;
  /** Default 2000. */
  windowMs?: number;
  /** How many hosts the site has now. */
  hostCount: () => number;
  /** Where the site events go (the gateway's chat dispatcher, its report to the core). */
  sink: EventSink;
  /** Milliseconds since the epoch (default Date.now). */
  clock?: () => number;
}

/** A SiteEventBatcher on a timer: site events go to `sink` when their window ends. */
export function batchSiteEvents(opts: SiteEventBatchingOptions): SiteEventBatching {
  const clock = opts.clock ?? Date.now;
  const batcher = new SiteEventBatcher(opts.site, opts.windowMs);
  let timer: NodeJS.Timeout | undefined;
  const emit = (all: boolean) => {
    for (const e of batcher.flush(clock(), opts.hostCount(), all)) opts.sink(e);
  };
  const schedule = () => {
    const due = batcher.nextDue();
    if (timer || due === undefined) return;
    timer = setTimeout(
      () => {
        timer = undefined;
        emit(false);
        schedule();
      },
      Math.max(1, due - clock()),
    );
    timer.unref();
  };
  return {
    add(host, event) {
      batcher.add(host, event, clock());
      schedule();
    },
    close() {
      if (timer) clearTimeout(timer);
      timer = undefined;
      emit(true);
    },
  };
}
