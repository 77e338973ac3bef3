// A gateway's memory of its site's hosts: the latest report of each (without its events) and when it came,
// by the gateway's own clock (a host's clock may be wrong). A host that has not reported for more than three
// intervals is stale. Pure: the clock is passed in; toJSON/fromJSON let the gateway keep the book across a
// restart, so hosts that report rarely are not forgotten.
import { z } from 'zod';
import { MirrornetError } from '../../errors.js';
import { HostState, type HostReport } from './schema.js';
import { byHostName } from './summary.js';

/** A host is stale after this many report intervals without a report. */
const STALE_INTERVALS = 3;

const BookJson = z.object({
  version: z.literal(1),
  hosts: z.array(HostState.omit({ stale: true }).refine((h) => !Number.isNaN(Date.parse(h.lastSeen)), { message: 'lastSeen is not a time' })),
});
type BookJson = z.infer<typeof BookJson>;

type Entry = Omit<HostState, 'stale' | 'lastSeen'>;

export class SiteBook {
  private readonly entries = new Map<string, { state: Entry; lastSeen: number }>();

  /** `intervalMs`: how often hosts report (a host is stale after three intervals without a report). */
  constructor(private readonly intervalMs: number) {}

  /** Keep `report` as its host's latest, seen at `now` (milliseconds since the epoch). */
  record(report: HostReport, now: number): void {
    const { events: _events, droppedEvents: _dropped, ...state } = report;
    this.entries.set(report.host, { state, lastSeen: now });
  }

  /** Every host, by name, with when it was last seen and whether it is stale at `now`. */
  hosts(now: number): HostState[] {
    return [...this.entries.values()]
      .sort((a, b) => byHostName(a.state.host, b.state.host))
      .map(({ state, lastSeen }) => ({ ...state, lastSeen: new Date(lastSeen).toISOString(), stale: now - lastSeen > STALE_INTERVALS * this.intervalMs }));
  }

  /** How many hosts the book holds. */
  get size(): number {
    return this.entries.size;
  }

  /** Drop a host (decommissioned); whether it was there. */
  forget(host: string): boolean {
    return this.entries.delete(host);
  }

  /** Drop every host not seen for `ms` before `now` (decommissioned or renamed). */
  forgetSilent(now: number, ms: number): void {
    for (const [host, e] of this.entries) if (now - e.lastSeen > ms) this.entries.delete(host);
  }

  toJSON(): BookJson {
    return {
      version: 1,
      hosts: this.hosts(0).map(({ stale: _stale, ...host }) => host),
    };
  }

  /** The book `toJSON()` wrote; a document that is not one is refused with a MirrornetError. */
  static fromJSON(json: unknown, intervalMs: number): SiteBook {
    const parsed = BookJson.safeParse(json);
    if (!parsed.success) {
      throw new MirrornetError(
        `The saved book of the site's hosts is not valid (${parsed.error.issues[0]?.message ?? 'unknown'}): hosts are known again as they report.`,
        {
          cause: parsed.error,
        },
      );
    }
    const book = new SiteBook(intervalMs);
    for (const { lastSeen, ...state } of parsed.data.hosts) book.entries.set(state.host, { state, lastSeen: Date.parse(lastSeen) });
    return book;
  }
}
