// The fleet-wide guardrail: removing more sites or links than policies/guardrails.yaml allows, compared with
// the revision before, or deleting a site that did not retire first (`mirrornet validate --base`, which reports
// the first three rules here), and an acknowledgement of removals that names what still exists (checked on
// every revision).
import type { Finding } from '../../model/finding.js';
import { linkId } from '../../model/fleet.js';
import { reporter, type RuleContext, type RuleFamily } from '../rule.js';

const stale = reporter({ id: 'guardrails/acknowledged-exists', severity: 'error' });

function check(ctx: RuleContext): Finding[] {
  const { fleet } = ctx;
  const ack = fleet.policies.acknowledgedRemovals;
  if (!ack) return [];
  const links = new Set(fleet.links.map((l) => l.id));
  const out: Finding[] = [];
  ack.value.removals.forEach((r, i) => {
    r.sites.forEach((site, j) => {
      const s = fleet.sites.get(site);
      if (!s) return;
      out.push(
        stale(
          ack.file,
          ['removals', i, 'sites', j],
          `${site} is acknowledged as removed, but ${s.file.path} still defines it: an acknowledgement left in place would let a later ` +
            `change delete ${site} without review. Take ${site} out of this list, or delete the site in this change.`,
        ),
      );
    });
    r.links.forEach(([a, b], j) => {
      if (!links.has(linkId(a, b))) return;
      out.push(
        stale(
          ack.file,
          ['removals', i, 'links', j],
          `The link ${a} — ${b} is acknowledged as removed, but a site still declares it: take it out of this list, or remove the link in this change.`,
        ),
      );
    });
  });
  return out;
}

export const guardrailRules: RuleFamily = {
  id: 'guardrails',
  rules: [
    {
      id: 'guardrails/fleet-removal',
      severity: 'error',
      summary:
        'With `--base REV`: a change removes at most maxSiteRemovals sites and maxLinkRemovals links of the base (its guardrails), and never ' +
        'every region, core or link, unless the sites were `lifecycle: retiring` at the base or policies/acknowledged-removals.yaml names them.',
      example: 'a pull request that deletes regions/*.yaml (and raises maxSiteRemovals in the same change)',
    },
    {
      id: 'guardrails/not-retired',
      severity: 'error',
      summary:
        'With `--base REV`: a change deletes the file of a site only if the site was `lifecycle: retiring` at the base (merge it once its ' +
        'agents reported retired), or policies/acknowledged-removals.yaml names it. A publisher refuses such a revision too.',
      example: 'a pull request that deletes regions/ap-jakarta.yaml while ap-jakarta is active',
    },
    {
      id: 'guardrails/changed',
      severity: 'notice',
      summary: 'With `--base REV`: the guardrails change, and take effect one revision after the change is applied.',
      example: 'maxDeletionsPerApply: 20 → 50',
    },
    {
      id: 'guardrails/acknowledged-exists',
      severity: 'error',
      summary: 'policies/acknowledged-removals.yaml names only sites and links that are gone: a stale acknowledgement would excuse a later removal.',
      example: 'removals: [{sites: [ap-jakarta], reason: ...}] while regions/ap-jakarta.yaml still exists',
    },
  ],
  check,
};
