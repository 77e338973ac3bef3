// The rollout controller's decisions (issue 14), pure: given the rollout policy's waves, the revision, each
// site's health as its core reports it, the clock and the emergency mark, which sites' tags move now, which
// wave soaks since when, waits for its change window until when, is done, or halted and why — and what to
// tell people (each once: the state remembers it). The publisher does the I/O (cli/rollout-driver.ts).
//
// - A revision reaches wave N+1 only after every site of wave N was healthy for soakTime without a break.
// - A site of the current wave that fails on the revision (a host's error newer than what it applied) halts the
//   rollout: later waves keep the revision they have, and rollout-halted is said once. A halted rollout stays
//   halted; a newer revision starts a rollout of its own from wave 1.
// - A site whose area has change windows gets the revision only inside one, unless the commit is an emergency.
// - Only an error about applying the revision halts (apply, a guardrail's or the validator's refusal, a too old
//   agent); an error of another step (the source, a fetch from the mirror) leaves the site not healthy yet: the wave waits.
// - A retired site takes no revision: it counts as healthy and its tag is not moved.
// - When the channel holds another revision (a rollback or a publish by hand), the rollout is superseded: no tag moves.
import { z } from 'zod';
import { windowState } from '../../model/rollout.js';
import type { HealthCheck, RolloutPolicy } from '../../model/schema-rollout.js';
import { goDurationNs } from '../../model/go-duration.js';
import type { FleetStatus } from '../site/schema.js';

/** What the controller reads of a site in a core's status (FleetStatus). */
export interface SiteHealth {
  /** The revision most hosts want, how many hosts there are and how many applied it. */
  revision?: string;
  hosts: number;
  applied: number;
  failing: string[];
  drifting: number;
  stale: number;
  silent: boolean;
  suspended: boolean;
  /** The first failing host's last error, for the halt's sentence. */
  lastError?: string;
  /** A host's error that is not about applying the revision (e.g. `fetch: ETIMEDOUT`): not healthy yet, no halt. */
  waitingOn?: string;
  /** Every host of the site retired (`lifecycle: retiring`): it takes no revision. */
  retired?: boolean;
}

/** The steps whose error is about applying the revision itself: they halt a rollout. */
const REVISION_STEPS: ReadonlySet<string> = new Set(['apply', 'hook', 'blocked', 'refused', 'validate', 'agent-too-old']);

/**
 * A site's health from its core's answer to GET /v1/status. `offered`: the manifest its tag points at for the
 * rollout's revision — a host that refused it before its signature checked out names it by that digest.
 */
export function healthOf(site: FleetStatus['sites'][number], offered?: { digest: string; revision: string }): SiteHealth {
  const { summary } = site;
  const named = (r: string | undefined) => (offered && r === offered.digest ? offered.revision : r);
  const revision = named(summary.revision);
  const erring = site.hosts.filter((h) => summary.failing.includes(h.host) && h.lastError);
  // A host fails the revision when its error is about applying the revision most hosts want.
  const onRevision = erring.filter((h) => REVISION_STEPS.has(h.lastError!.step) && named(h.wanted) === revision);
  const other = erring.find((h) => !onRevision.includes(h));
  const first = onRevision[0];
  return {
    ...(revision !== undefined ? { revision } : {}),
    hosts: summary.hosts,
    applied: summary.applied,
    failing: onRevision.map((h) => h.host),
    drifting: new Set(Object.values(summary.drifting).flat()).size,
    stale: summary.stale.length,
    silent: site.silent,
    suspended: summary.suspended,
    ...(first?.lastError ? { lastError: `${first.lastError.step}: ${first.lastError.message}` } : {}),
    ...(other?.lastError ? { waitingOn: `${other.host}: ${other.lastError.step}: ${other.lastError.message}` } : {}),
    ...(summary.state === 'retired' ? { retired: true } : {}),
  };
}

const iso = z.string().min(1).max(64);
const WaveState = z.object({
  name: z.string(),
  sites: z.array(z.string()),
  state: z.enum(['pending', 'waiting', 'soaking', 'done', 'halted']),
  /** Sites whose tag was moved to the revision. */
  released: z.array(z.string()).default([]),
  releasedAt: iso.optional(),
  /** Since when every site is healthy (absent: not all are, now). */
  healthySince: iso.optional(),
  /** Waiting for a change window: when one opens next (absent: not within a week). */
  waitingUntil: iso.optional(),
  doneAt: iso.optional(),
  /** Why it halted, or what it waits for (one sentence). */
  reason: z.string().max(2048).optional(),
});
export const RolloutState = z.object({
  version: z.literal(1),
  revision: z.string(),
  emergency: z.string().max(1024).optional(),
  startedAt: iso,
  soakTime: z.string(),
  waves: z.array(WaveState),
  halted: z.object({ wave: z.string(), reason: z.string(), at: iso }).optional(),
  /** The channel holds another revision (a rollback, a publish by hand, a revision without rollout policy): no tag moves. */
  superseded: z.object({ by: z.string(), reason: z.string().max(2048), at: iso }).optional(),
  completeAt: iso.optional(),
  checkedAt: iso,
});
export type RolloutState = z.infer<typeof RolloutState>;
export type WaveStateValue = z.infer<typeof WaveState>;

export interface RolloutInput {
  policy: Pick<RolloutPolicy, 'soakTime' | 'healthy' | 'windows'>;
  /** The waves in order with their sites (model/rollout.ts assignWaves). */
  waves: { name: string; sites: string[] }[];
  /** Each site's area (its change windows). */
  areaOf: Readonly<Record<string, string>>;
  revision: string;
  /** The commit's `Mirrornet-Emergency:` reason: change windows do not hold it. */
  emergency?: string;
  now: number;
  /** Each site's health as the cores report it; a site absent here has not reported (not healthy, not failed). */
  health: ReadonlyMap<string, SiteHealth>;
  /** What the last decision left (another revision's: this one starts over at wave 1). */
  state?: RolloutState;
  /** The revision the channel holds now (its bundle index); another than `revision` supersedes the rollout. */
  channelRevision?: string;
}

export interface RolloutNotice {
  kind: 'rollout-advanced' | 'rollout-halted' | 'rollout-complete' | 'rollout-superseded';
  message: string;
}

export interface RolloutDecision {
  state: RolloutState;
  /** The sites whose `<channel>.<site>` tag moves to the revision now. */
  move: string[];
  notices: RolloutNotice[];
}

const short = (revision: string) => revision.slice(0, 12);

function ms(duration: string): number {
  return Number((goDurationNs(duration) ?? 0n) / 1_000_000n);
}

/** Why `site` is not healthy for `revision` under `checks`, or undefined when it is. */
function unhealthy(site: string, h: SiteHealth | undefined, revision: string, checks: readonly HealthCheck[]): string | undefined {
  if (!h) return `${site} has not reported to its core`;
  if (h.retired) return undefined;
  if (h.waitingOn) return `${site}: ${h.waitingOn}`;
  if (checks.includes('applied') && (h.revision !== revision || h.hosts === 0 || h.applied < h.hosts)) {
    return `${site}: ${h.revision === revision ? h.applied : 0}/${h.hosts} hosts applied ${short(revision)}`;
  }
  if (checks.includes('noDrift') && h.drifting > 0) return `${site}: ${h.drifting} hosts drift`;
  if (checks.includes('ready') && (h.silent || h.stale > 0 || h.suspended)) {
    return `${site}: ${h.silent ? 'its gateway is silent' : h.suspended ? 'suspended' : `${h.stale} hosts stale`}`;
  }
  return undefined;
}

/** Why `site` failed `revision` (a host's apply failed on it), or undefined. */
function failed(site: string, h: SiteHealth | undefined, revision: string): string | undefined {
  if (!h || h.retired || h.revision !== revision || !h.failing.length) return undefined;
  return `${site} failed to apply ${short(revision)} on ${h.failing.join(', ')}${h.lastError ? `: ${h.lastError}` : ''}`;
}

function fresh(input: RolloutInput, at: string): RolloutState {
  return {
    version: 1,
    revision: input.revision,
    ...(input.emergency ? { emergency: input.emergency } : {}),
    startedAt: at,
    soakTime: input.policy.soakTime,
    waves: input.waves.map((w) => ({ name: w.name, sites: [...w.sites], state: 'pending', released: [] })),
    checkedAt: at,
  };
}

/** One step of the rollout of `input.revision` at `input.now`. */
export function decideRollout(input: RolloutInput): RolloutDecision {
  const at = new Date(input.now).toISOString();
  const state: RolloutState = input.state?.revision === input.revision ? structuredClone(input.state) : fresh(input, at);
  state.checkedAt = at;
  const move: string[] = [];
  const notices: RolloutNotice[] = [];
  if (state.halted || state.completeAt || state.superseded) return { state, move, notices };
  const rev = short(input.revision);
  if (input.channelRevision !== undefined && input.channelRevision !== input.revision) {
    const reason = `the channel holds ${short(input.channelRevision)} now (a rollback or a publish by hand): no tag of ${rev} moves any more`;
    state.superseded = { by: input.channelRevision, reason, at };
    notices.push({ kind: 'rollout-superseded', message: `The rollout of ${rev} is superseded: ${reason}.` });
    return { state, move, notices };
  }
  const soakMs = ms(state.soakTime);
  for (let i = 0; i < state.waves.length; i++) {
    const wave = state.waves[i]!;
    if (wave.state === 'done') continue;
    // Release what the windows let through (everything, for an emergency).
    const waiting: string[] = [];
    let opensAt: number | undefined;
    const newly: string[] = [];
    for (const site of wave.sites) {
      // A retired site takes no revision: its tag stays where it is.
      if (wave.released.includes(site) || input.health.get(site)?.retired) continue;
      const window = input.emergency ? ({ open: true } as const) : windowState(input.policy.windows, input.areaOf[site] ?? '', input.now);
      if (window.open) {
        wave.released.push(site);
        newly.push(site);
      } else {
        waiting.push(site);
        if (window.opensAt !== undefined && (opensAt === undefined || window.opensAt < opensAt)) opensAt = window.opensAt;
      }
    }
    if (newly.length) {
      move.push(...newly);
      wave.releasedAt ??= at;
      const which = i === 0 ? 'wave 1' : `wave ${i + 1} after ${state.waves[i - 1]!.name} soaked ${state.soakTime}`;
      notices.push({
        kind: 'rollout-advanced',
        message: `${rev} goes to ${wave.name} (${which}): ${newly.join(', ')}${input.emergency ? ` (emergency: ${input.emergency})` : ''}.`,
      });
    }
    // A failure on any released site halts, whatever the others do.
    const failure = wave.released.map((s) => failed(s, input.health.get(s), input.revision)).find((f) => f !== undefined);
    if (failure) {
      const later = state.waves.slice(i + 1).map((w) => w.name);
      const keep =
        later.length > 1 ? `${later.join(', ')} keep the revision they have` : later.length ? `${later[0]} keeps the revision it has` : 'It was the last wave';
      const reason = `${failure.replace(/[.\s]+$/, '')}. ${keep}; a newer commit starts a new rollout.`;
      wave.state = 'halted';
      wave.reason = reason;
      state.halted = { wave: wave.name, reason, at };
      notices.push({ kind: 'rollout-halted', message: `The rollout of ${rev} is halted in ${wave.name}: ${reason}` });
      return { state, move, notices };
    }
    if (waiting.length) {
      wave.state = 'waiting';
      wave.reason = `${waiting.join(', ')} wait for a change window of ${[...new Set(waiting.map((s) => input.areaOf[s] ?? '?'))].join(', ')}`;
      if (opensAt !== undefined) wave.waitingUntil = new Date(opensAt).toISOString();
      else delete wave.waitingUntil;
      delete wave.healthySince;
      return { state, move, notices };
    }
    delete wave.waitingUntil;
    wave.state = 'soaking';
    // Health was read before these tags moved: the soak is judged from the next step on.
    if (newly.length) return { state, move, notices };
    const sick = wave.sites.map((s) => unhealthy(s, input.health.get(s), input.revision, input.policy.healthy)).find((r) => r !== undefined);
    if (sick) {
      delete wave.healthySince;
      wave.reason = sick;
      return { state, move, notices };
    }
    wave.healthySince ??= at;
    delete wave.reason;
    if (input.now - Date.parse(wave.healthySince) < soakMs) return { state, move, notices };
    wave.state = 'done';
    wave.doneAt = at;
  }
  state.completeAt = at;
  notices.push({ kind: 'rollout-complete', message: `${rev} reached every wave (${state.waves.map((w) => w.name).join(', ')}).` });
  return { state, move, notices };
}
