// What policies/rollout.yaml means for a set of sites, pure: which wave each site is in (the validator, the
// publisher's rollout controller and the PR comment read the same answer), and whether an area's change
// window is open at an instant, or when it opens next (model/cron.ts evaluates the schedules, as for mute windows).
import { lastFire, nextFire, parseCron } from './cron.js';
import type { Fleet } from './fleet.js';
import { goDurationNs } from './go-duration.js';
import type { ChangeWindow, RolloutPolicy, RolloutWave } from './schema-rollout.js';

/** What a wave's `match` looks at of a site. */
export interface RolloutSite {
  name: string;
  area: string;
  provider: string;
  role: 'hub' | 'region';
  labels?: Readonly<Record<string, string>>;
}

/** A site that is not in exactly one wave: in none, or named by two waves. */
interface WaveProblem {
  site: string;
  kind: 'none' | 'named-twice';
  /** The indexes of the waves involved. */
  waves: number[];
}

export interface WaveAssignment {
  /** Per wave (in order), its sites by name, sorted. */
  waves: { name: string; sites: string[] }[];
  /** Site -> its wave's name. */
  waveOf: Map<string, string>;
  problems: WaveProblem[];
}

function matches(wave: RolloutWave, site: RolloutSite): boolean {
  const m = wave.match;
  if (!m) return false;
  if (m.areas && !m.areas.includes(site.area as never)) return false;
  if (m.providers && !m.providers.includes(site.provider as never)) return false;
  if (m.roles && !m.roles.includes(site.role)) return false;
  return Object.entries(m.labels ?? {}).every(([k, v]) => site.labels?.[k] === v);
}

/**
 * Each site's wave: the wave that names it; else the first wave (in order) whose `match` selects it, so a
 * canary wave that matches a label can come before a wave that matches the whole area. A site named by two
 * waves, or in no wave, is a problem and is left out of every wave.
 */
export function assignWaves(policy: Pick<RolloutPolicy, 'waves'>, sites: Iterable<RolloutSite>): WaveAssignment {
  const waves = policy.waves.map((w) => ({ name: w.name, sites: [] as string[] }));
  const waveOf = new Map<string, string>();
  const problems: WaveProblem[] = [];
  for (const site of [...sites].sort((a, b) => a.name.localeCompare(b.name))) {
    const named = policy.waves.flatMap((w, i) => (w.sites?.includes(site.name) ? [i] : []));
    const first = policy.waves.findIndex((w) => matches(w, site));
    const chosen = named.length ? named : first >= 0 ? [first] : [];
    if (chosen.length !== 1) {
      problems.push({ site: site.name, kind: chosen.length ? 'named-twice' : 'none', waves: chosen });
      continue;
    }
    waves[chosen[0]!]!.sites.push(site.name);
    waveOf.set(site.name, policy.waves[chosen[0]!]!.name);
  }
  return { waves, waveOf, problems };
}

/** An area's change windows at an instant: open (or the area has none), else when one opens next (undefined: not within a week). */
export type WindowState = { open: true } | { open: false; opensAt?: number };

const WEEK_MS = 7 * 86_400_000;

function durationMs(w: ChangeWindow): number {
  return Number((goDurationNs(w.duration) ?? 0n) / 1_000_000n);
}

/** Whether `area` may take a new revision at `now`: it has no window, or one of its windows is open. An invalid window never opens. */
export function windowState(windows: readonly ChangeWindow[] | undefined, area: string, now: number): WindowState {
  const mine = (windows ?? []).filter((w) => w.area === area);
  if (!mine.length) return { open: true };
  let opensAt: number | undefined;
  for (const w of mine) {
    const cron = parseCron(w.schedule);
    if (!cron) continue;
    try {
      if (lastFire(cron, w.timeZone, now, now - durationMs(w)) !== undefined) return { open: true };
      const next = nextFire(cron, w.timeZone, now, now + WEEK_MS);
      if (next !== undefined && (opensAt === undefined || next < opensAt)) opensAt = next;
    } catch {
      // a time zone this host does not know (the validator reports it): the window never opens
    }
  }
  return opensAt === undefined ? { open: false } : { open: false, opensAt };
}

/** A fleet's rollout: its policy, the waves with their sites, each site's area; undefined when it has no rollout policy. */
export interface RolloutPlan {
  policy: RolloutPolicy;
  waves: { name: string; sites: string[] }[];
  /** Each site's area (a plain record: the plan crosses from the publishing child as JSON). */
  areaOf: Record<string, string>;
}

/** The rollout plan of a (valid) fleet. */
export function rolloutPlan(fleet: Fleet): RolloutPlan | undefined {
  const policy = fleet.policies.rollout?.value;
  if (!policy) return undefined;
  const sites = rolloutSites(fleet);
  return { policy, waves: assignWaves(policy, sites).waves, areaOf: Object.fromEntries(sites.map((s) => [s.name, s.area])) };
}

/** The fleet's sites as a wave's match sees them. */
export function rolloutSites(fleet: Fleet): RolloutSite[] {
  return [...fleet.sites.values()].map((s) => ({
    name: s.name,
    area: s.value.area,
    provider: s.value.provider,
    role: s.role,
    ...(s.value.labels ? { labels: s.value.labels } : {}),
  }));
}

/** Site -> the name of its wave under the fleet's rollout policy (the PR comment's "which wave"); undefined without a policy. */
export function waveOfSites(fleet: Fleet): Map<string, string> | undefined {
  const policy = fleet.policies.rollout?.value;
  return policy && assignWaves(policy, rolloutSites(fleet)).waveOf;
}
