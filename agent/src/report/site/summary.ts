// A site in a few numbers and names, from its hosts' latest reports: the revision most of them want and how
// many applied it, who fails, who drifts (per component), who is stale, whether the site is suspended, and
// one state for all of it. What a commit status, `mirrornet status` and the site's events say comes from here.
import type { HostState, SiteSummary, Steering } from './schema.js';

/** A commit id as people read it (7 characters); other revisions ("working-tree") as they are. */
export function shortRevision(revision: string): string {
  return /^[0-9a-f]{8,64}$/i.test(revision) ? revision.slice(0, 7) : revision;
}

/** "n3, n7", or the first `max` names and how many more: "n1, n2 +8 more". */
export function nameList(names: readonly string[], max = names.length): string {
  const shown = names.slice(0, Math.max(1, max)).join(', ');
  const more = names.length - Math.max(1, max);
  return more > 0 ? `${shown} +${more} more` : shown;
}

const time = (iso: string | undefined): number => (iso === undefined ? Number.NEGATIVE_INFINITY : Date.parse(iso));

/** The revision most hosts want; a tie goes to the revision of the newest report (then the greater id). */
function mostWanted(hosts: readonly HostState[]): string | undefined {
  const wanted = new Map<string, { count: number; newest: number }>();
  for (const h of hosts) {
    if (h.wanted === undefined) continue;
    const w = wanted.get(h.wanted) ?? { count: 0, newest: Number.NEGATIVE_INFINITY };
    wanted.set(h.wanted, { count: w.count + 1, newest: Math.max(w.newest, time(h.at)) });
  }
  let best: [string, { count: number; newest: number }] | undefined;
  for (const entry of wanted) {
    const [rev, w] = entry;
    if (!best || w.count > best[1].count || (w.count === best[1].count && (w.newest > best[1].newest || (w.newest === best[1].newest && rev > best[0])))) {
      best = entry;
    }
  }
  return best?.[0];
}

/** A host fails when its last error is newer than what it applied, or it has not applied what it wants and says why. */
function isFailing(h: HostState): boolean {
  if (!h.lastError) return false;
  if (h.wanted !== h.applied) return true;
  return h.appliedAt === undefined || time(h.lastError.at) > time(h.appliedAt);
}

const collator = new Intl.Collator('en', { numeric: true });
/** Host names as people count them: n2 before n10. */
export const byHostName = (a: string, b: string): number => collator.compare(a, b);

/**
 * `site` from its hosts (hosts of other sites are left out) and the steering it holds. The state, first that
 * holds: empty, retired (every host), suspended, failing, stale, drifting, pending (not every host applied the revision), in-sync.
 */
export function summarize(site: string, hosts: readonly HostState[], steering: Steering): SiteSummary {
  const mine = hosts.filter((h) => h.site === site);
  const revision = mostWanted(mine);
  const applied = revision === undefined ? 0 : mine.filter((h) => h.applied === revision).length;
  const failing = mine
    .filter(isFailing)
    .map((h) => h.host)
    .sort(byHostName);
  const drifting: Record<string, string[]> = {};
  for (const component of [...new Set(mine.flatMap((h) => Object.keys(h.drift)))].sort()) {
    const names = mine
      .filter((h) => (h.drift[component] ?? 0) > 0)
      .map((h) => h.host)
      .sort(byHostName);
    if (names.length) drifting[component] = names;
  }
  // A retired host stopped on purpose: never stale.
  const stale = mine
    .filter((h) => h.stale && !h.retired)
    .map((h) => h.host)
    .sort(byHostName);
  const suspended = steering.suspended !== undefined;
  const state: SiteSummary['state'] = !mine.length
    ? 'empty'
    : mine.every((h) => h.retired)
      ? 'retired'
      : suspended
        ? 'suspended'
        : failing.length
          ? 'failing'
          : stale.length
            ? 'stale'
            : Object.keys(drifting).length
              ? 'drifting'
              : applied < mine.length
                ? 'pending'
                : 'in-sync';
  return { hosts: mine.length, ...(revision !== undefined ? { revision } : {}), applied, failing, drifting, stale, suspended, state };
}
