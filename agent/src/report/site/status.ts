// The commit status a core posts for a site (context `mirrornet/<site>`) from the site's summary: pending
// while hosts are on an older revision, success when every host applied it, failure naming the hosts that
// failed; the description (GitHub: at most 140 characters) names hosts, shortening its lists with "+N more".
import type { SiteSummary } from './schema.js';
import { nameList, shortRevision } from './summary.js';

/** GitHub's limit on a status description, in characters. */
const DESCRIPTION_LIMIT = 140;

export interface SiteCommitStatus {
  state: 'pending' | 'success' | 'failure' | 'error';
  description: string;
}

/** The description with at most `max` names per list. */
function describe(summary: SiteSummary, rev: string, max: number): string {
  const parts = [`${summary.applied}/${summary.hosts} hosts applied ${rev}`];
  if (summary.suspended) parts.push('suspended');
  if (summary.failing.length) parts.push(`failed: ${nameList(summary.failing, max)}`);
  if (summary.stale.length) parts.push(`stale: ${nameList(summary.stale, max)}`);
  const drifting = Object.entries(summary.drifting);
  if (drifting.length) {
    const count = new Set(drifting.flatMap(([, names]) => names)).size;
    parts.push(`${count}/${summary.hosts} hosts drift (${drifting.map(([component, names]) => `${component}: ${nameList(names, max)}`).join('; ')})`);
  }
  return parts.join('; ');
}

/** The longest lists shortened first, one name at a time, until the description fits; cut with "…" if even one name each does not. */
function fit(summary: SiteSummary, rev: string): string {
  const longest = Math.max(1, summary.failing.length, summary.stale.length, ...Object.values(summary.drifting).map((n) => n.length));
  for (let max = longest; max >= 1; max--) {
    const text = describe(summary, rev, max);
    if (Array.from(text).length <= DESCRIPTION_LIMIT) return text;
  }
  return `${Array.from(describe(summary, rev, 1))
    .slice(0, DESCRIPTION_LIMIT - 1)
    .join('')
    .trimEnd()}…`;
}

/** The status of `revision` on the site `summary` describes. */
export function commitStatusOf(summary: SiteSummary, revision: string): SiteCommitStatus {
  const rev = shortRevision(revision);
  if (summary.hosts === 0) return { state: 'pending', description: 'no host has reported yet' };
  if (summary.revision !== revision) {
    const wanted = summary.revision === undefined ? 'no revision yet' : shortRevision(summary.revision);
    return { state: 'pending', description: `most hosts want ${wanted}, not ${rev}` };
  }
  const description = fit(summary, rev);
  if (summary.failing.length) return { state: 'failure', description };
  return { state: summary.applied === summary.hosts ? 'success' : 'pending', description };
}
