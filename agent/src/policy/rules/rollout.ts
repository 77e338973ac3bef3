// policies/rollout.yaml against the fleet: every site in exactly one wave (named by one wave, or else the first
// wave that matches it), no unknown site names, unique wave names, no empty wave (a warning when its match selects
// no site today), and change windows the agent can evaluate (a five-field cron, an IANA time zone, a duration
// above zero). A mistake here would hold a site back forever or let it skip its wave, so each is an error with
// the line to fix.
import { cronProblem, timeZoneProblem } from '../../model/cron.js';
import type { Finding } from '../../model/finding.js';
import { goDurationNs } from '../../model/go-duration.js';
import { assignWaves, rolloutSites } from '../../model/rollout.js';
import { didYouMean } from '../../model/suggest.js';
import { reporter, type RuleContext, type RuleFamily } from '../rule.js';

// A warning: a site removed from the fleet and still named here holds nothing back; a typo leaves the site to a
// wave's match, or in no wave (an error).
const unknownSite = reporter({ id: 'rollout/unknown-site', severity: 'warning' });
const siteWave = reporter({ id: 'rollout/site-wave', severity: 'error' });
const waveName = reporter({ id: 'rollout/wave', severity: 'error' });
const window = reporter({ id: 'rollout/window', severity: 'error' });
// A warning: a match that selects no site today may select a region added later.
const emptyWave = reporter({ id: 'rollout/empty-wave', severity: 'warning' });

function check(ctx: RuleContext): Finding[] {
  const located = ctx.fleet.policies.rollout;
  if (!located) return [];
  const { value: policy, file: f } = located;
  const out: Finding[] = [];
  const names = [...ctx.fleet.sites.keys()].sort();
  const seen = new Map<string, number>();
  policy.waves.forEach((w, i) => {
    const first = seen.get(w.name);
    if (first !== undefined)
      out.push(waveName(f, ['waves', i, 'name'], `Two waves are named ${w.name} (waves ${first + 1} and ${i + 1}): rename one of them.`));
    else seen.set(w.name, i);
    if (!w.sites?.length && !w.match) {
      out.push(waveName(f, ['waves', i], `The wave ${w.name} names no site and matches none: give it sites: [...] or match: {areas: [...]}, or remove it.`));
    }
    (w.sites ?? []).forEach((site, j) => {
      if (ctx.knownOrBroken(site)) return;
      const guess = didYouMean(site, names);
      out.push(
        unknownSite(
          f,
          ['waves', i, 'sites', j],
          `There is no site "${site}" (wave ${w.name})${guess ? `: did you mean "${guess}"?` : `: name regions or cores, one of ${names.join(', ')}.`}`,
        ),
      );
    });
  });
  const assignment = assignWaves(policy, rolloutSites(ctx.fleet));
  assignment.waves.forEach((w, i) => {
    if (w.sites.length || (!policy.waves[i]!.sites?.length && !policy.waves[i]!.match)) return;
    out.push(
      emptyWave(
        f,
        ['waves', i],
        `The wave ${w.name} has no site: its match selects none that an earlier wave does not take. Widen its match or remove the wave.`,
      ),
    );
  });
  for (const problem of assignment.problems) {
    const waves = problem.waves.map((i) => policy.waves[i]!.name).join(' and ');
    const [path, message] =
      problem.kind === 'none'
        ? [['waves'], `The site ${problem.site} is in no wave: it would never get a new revision. Name it in a wave's sites, or widen a wave's match.`]
        : [
            ['waves', problem.waves[1]!, 'sites', policy.waves[problem.waves[1]!]!.sites!.indexOf(problem.site)],
            `The site ${problem.site} is named by the waves ${waves}: keep it in one of them.`,
          ];
    out.push(siteWave(f, path as (string | number)[], message));
  }
  (policy.windows ?? []).forEach((w, i) => {
    const cron = cronProblem(w.schedule);
    if (cron) out.push(window(f, ['windows', i, 'schedule'], `The schedule "${w.schedule}" of the change window ${w.name} ${cron}.`));
    const tz = timeZoneProblem(w.timeZone);
    if (tz) out.push(window(f, ['windows', i, 'timeZone'], `The time zone "${w.timeZone}" of the change window ${w.name} ${tz}.`));
    if (goDurationNs(w.duration) === 0n) {
      out.push(
        window(f, ['windows', i, 'duration'], `The change window ${w.name} has duration ${w.duration}: it would never open. Give it a duration such as 2h.`),
      );
    }
  });
  return out;
}

export const rolloutRules: RuleFamily = {
  id: 'rollout',
  rules: [
    { id: 'rollout/unknown-site', severity: 'warning', summary: "A wave's sites name declared regions or cores.", example: 'sites: [cn-hangzou-idc]' },
    {
      id: 'rollout/site-wave',
      severity: 'error',
      summary: 'Every site is in exactly one wave: named by one wave, or else matched by a wave (the first that matches).',
      example: 'a new region that no wave names or matches',
    },
    { id: 'rollout/wave', severity: 'error', summary: 'Wave names are unique and every wave names or matches sites.', example: 'two waves named china' },
    {
      id: 'rollout/empty-wave',
      severity: 'warning',
      summary: "A wave's match selects at least one site that no earlier wave takes.",
      example: 'match: { providers: [aws] } in a fleet without AWS',
    },
    {
      id: 'rollout/window',
      severity: 'error',
      summary: 'A change window has a five-field cron schedule, an IANA time zone and a duration above zero.',
      example: 'schedule: "0 2 * *", timeZone: Asia/Beijing',
    },
  ],
  check,
};
