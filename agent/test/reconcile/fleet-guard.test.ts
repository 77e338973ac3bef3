// The fleet-wide guardrail as a pure judgement: which removals count, which are excused (retiring in the
// revision before, or acknowledged by the change), when the limits of the earlier revision are exceeded, and
// that removing every region, core or link is refused whatever the limits.
import assert from 'node:assert/strict';
import { guardrailChanges, judgeRemovals, type FleetOutline } from '../../src/reconcile/fleet-guard.js';
import type { Guardrails } from '../../src/model/schema.js';

const site = (name: string, role: 'hub' | 'region' = 'region', retiring = false) => ({ name, role, ...(retiring ? { retiring: true as const } : {}) });

/** Two cores and four regions, each region linked to its core. */
const BASE: FleetOutline = {
  sites: [site('core-a', 'hub'), site('core-b', 'hub'), site('r1'), site('r2'), site('r3'), site('r4')],
  links: ['core-a--core-b', 'core-a--r1', 'core-a--r2', 'core-b--r3', 'core-b--r4'],
  guardrailsFile: 'policies/guardrails.yaml',
};

/** BASE without these sites and without every link to them. */
function without(...gone: string[]): FleetOutline {
  return {
    sites: BASE.sites.filter((s) => !gone.includes(s.name)),
    links: BASE.links.filter((l) => !l.split('--').some((e) => gone.includes(e))),
    guardrailsFile: 'policies/guardrails.yaml',
  };
}

const limits = { maxSiteRemovals: 2, maxLinkRemovals: 4 };
const WAYS_OUT_SITES =
  ' To remove them on purpose, either mark each `lifecycle: retiring` in its file in a change of its own and let the agents apply it ' +
  'before the change that deletes it, or name them with a reason in policies/acknowledged-removals.yaml in the change that deletes them.';

describe('fleet-wide removal guardrail (judgeRemovals)', () => {
  it("reads a link's ends from the outline, not from its id: a site named with -- does not excuse a link of another site", () => {
    // Sites `a`, `eu` (retiring) and `eu--x`; the link a--eu--x is between `a` and `eu--x`, not `eu`.
    const base: FleetOutline = {
      sites: [site('a', 'hub'), site('eu', 'region', true), site('eu--x')],
      links: ['a--eu', 'a--eu--x'],
      linkEnds: { 'a--eu': ['a', 'eu'], 'a--eu--x': ['a', 'eu--x'] },
    };
    const head: FleetOutline = { sites: [site('a', 'hub'), site('eu--x')], links: [], linkEnds: {} };
    const verdict = judgeRemovals(base, head, { maxSiteRemovals: 2, maxLinkRemovals: 0 });
    assert.deepEqual(verdict.excused, [
      { item: 'eu', why: 'retiring' },
      { item: 'a--eu', why: 'retiring' },
    ]);
    assert.deepEqual(
      verdict.trips.map((t) => t.counted),
      [['a--eu--x']],
    );
  });

  it('passes a change that removes nothing, and one within the limits, listing what it removes', () => {
    assert.deepEqual(judgeRemovals(BASE, BASE, limits), { removed: { sites: [], links: [] }, unretired: [], excused: [], trips: [] });
    assert.deepEqual(judgeRemovals(BASE, without('r1', 'r2'), limits), {
      removed: { sites: ['r1', 'r2'], links: ['core-a--r1', 'core-a--r2'] },
      unretired: ['r1', 'r2'],
      excused: [],
      trips: [],
    });
  });

  it('trips maxSiteRemovals on one site too many, naming the sites, the limit and where it is set, and the two ways out', () => {
    const { trips } = judgeRemovals(BASE, without('r1', 'r2', 'r3'), limits);
    assert.deepEqual(trips, [
      {
        guardrail: 'maxSiteRemovals',
        counted: ['r1', 'r2', 'r3'],
        limit: 2,
        message:
          'This revision removes 3 sites (r1, r2, r3), more than the fleet-wide limit (maxSiteRemovals: 2 in policies/guardrails.yaml of the ' +
          `revision before it).${WAYS_OUT_SITES}`,
      },
    ]);
  });

  it('refuses removing every region whatever the limit, and every core (with every link)', () => {
    const noRegions = judgeRemovals(BASE, without('r1', 'r2', 'r3', 'r4'), { maxSiteRemovals: 100, maxLinkRemovals: 100 });
    assert.deepEqual(
      noRegions.trips.map((t) => [t.guardrail, t.everything, t.counted]),
      [['maxSiteRemovals', 'regions', ['r1', 'r2', 'r3', 'r4']]],
    );
    assert.match(noRegions.trips[0]!.message, /^This revision removes every region \(r1, r2, r3, r4\), which takes the fleet down: refused whatever the limit/);
    const noCores = judgeRemovals(BASE, without('core-a', 'core-b'), { maxSiteRemovals: 100, maxLinkRemovals: 100 });
    assert.deepEqual(
      noCores.trips.map((t) => [t.guardrail, t.everything]),
      [
        ['maxSiteRemovals', 'cores'],
        ['maxLinkRemovals', 'links'],
      ],
    );
  });

  it('refuses removing every link whatever the limit', () => {
    const head: FleetOutline = { ...BASE, links: [] };
    const { trips } = judgeRemovals(BASE, head, { maxSiteRemovals: 100, maxLinkRemovals: 100 });
    assert.deepEqual(
      trips.map((t) => [t.guardrail, t.everything, t.counted.length]),
      [['maxLinkRemovals', 'links', 5]],
    );
  });

  it('trips maxLinkRemovals on links removed between sites that stay', () => {
    const head: FleetOutline = { ...BASE, links: ['core-a--core-b'] };
    const { trips } = judgeRemovals(BASE, head, { maxSiteRemovals: 2, maxLinkRemovals: 3 });
    assert.equal(trips.length, 1);
    assert.equal(
      trips[0]!.message,
      'This revision removes 4 links (core-a--r1, core-a--r2, core-b--r3, core-b--r4), more than the fleet-wide limit (maxLinkRemovals: 3 in ' +
        'policies/guardrails.yaml of the revision before it). To remove them on purpose, either retire a site at one end first ' +
        '(`lifecycle: retiring`, applied by the agents before the change that deletes it), or name the links with a reason in ' +
        'policies/acknowledged-removals.yaml in the change that deletes them.',
    );
  });

  it('excuses sites retiring in the base, with their links; a site that retires in the head itself is not excused', () => {
    const base: FleetOutline = { ...BASE, sites: BASE.sites.map((s) => (['r1', 'r2', 'r3'].includes(s.name) ? { ...s, retiring: true as const } : s)) };
    const judged = judgeRemovals(base, without('r1', 'r2', 'r3'), { maxSiteRemovals: 0, maxLinkRemovals: 0 });
    assert.deepEqual(judged.trips, []);
    assert.deepEqual(judged.excused, [
      { item: 'r1', why: 'retiring' },
      { item: 'r2', why: 'retiring' },
      { item: 'r3', why: 'retiring' },
      { item: 'core-a--r1', why: 'retiring' },
      { item: 'core-a--r2', why: 'retiring' },
      { item: 'core-b--r3', why: 'retiring' },
    ]);
    // Removing every region stays refused unless each of them retired first.
    const allButOne = judgeRemovals(base, without('r1', 'r2', 'r3', 'r4'), { maxSiteRemovals: 100, maxLinkRemovals: 100 });
    assert.deepEqual(
      allButOne.trips.map((t) => [t.everything, t.counted]),
      [['regions', ['r4']]],
    );
  });

  it('excuses exactly what the acknowledgement names: its sites with their links, and its links; other names do not count', () => {
    const acknowledged = (sites: string[], links: string[] = []): FleetOutline => ({
      ...without('r1', 'r2', 'r3'),
      acknowledged: { file: 'policies/acknowledged-removals.yaml', sites, links },
    });
    const strict = { maxSiteRemovals: 0, maxLinkRemovals: 0 };
    assert.deepEqual(judgeRemovals(BASE, acknowledged(['r1', 'r2', 'r3']), strict).trips, []);
    const others = judgeRemovals(BASE, acknowledged(['r4', 'eu-frankfurt']), strict);
    assert.deepEqual(
      others.trips.map((t) => [t.guardrail, t.counted]),
      [
        ['maxSiteRemovals', ['r1', 'r2', 'r3']],
        ['maxLinkRemovals', ['core-a--r1', 'core-a--r2', 'core-b--r3']],
      ],
    );
    const partly = judgeRemovals(BASE, acknowledged(['r1'], ['core-a--r2']), strict);
    assert.deepEqual(
      partly.trips.map((t) => [t.guardrail, t.counted]),
      [
        ['maxSiteRemovals', ['r2', 'r3']],
        ['maxLinkRemovals', ['core-b--r3']],
      ],
    );
  });

  it('uses the defaults (2 sites, 4 links) when the earlier revision has no limits, and says so', () => {
    const base: FleetOutline = { sites: BASE.sites, links: BASE.links };
    const { trips } = judgeRemovals(base, without('r1', 'r2', 'r3'), undefined);
    assert.deepEqual(
      trips.map((t) => [t.guardrail, t.limit]),
      [['maxSiteRemovals', 2]],
    );
    assert.match(trips[0]!.message, /\(maxSiteRemovals: 2, the default: the revision before it has no guardrails\)/);
    assert.deepEqual(judgeRemovals(base, without('r1', 'r2'), {}).trips, []);
  });

  it('lists eight names and counts the rest', () => {
    const many: FleetOutline = { sites: [site('core', 'hub'), ...Array.from({ length: 12 }, (_, i) => site(`r${String(i).padStart(2, '0')}`))], links: [] };
    const head: FleetOutline = { sites: many.sites.slice(0, 2), links: [] };
    const { trips } = judgeRemovals(many, head, limits);
    assert.match(trips[0]!.message, /^This revision removes 11 sites \(r01, r02, r03, r04, r05, r06, r07, r08 and 3 more\)/);
  });
});

describe('guardrail changes between two revisions (guardrailChanges)', () => {
  const g = (o: Partial<Guardrails> = {}): Guardrails => ({
    kind: 'Guardrails',
    name: 'guardrails',
    maxDeletionsPerApply: 20,
    protectedDestinations: ['10.120.0.0/16'],
    maxSiteRemovals: 2,
    maxLinkRemovals: 4,
    drift: { routes: 'heal', wireguard: 'heal', containerd: 'heal', docker: 'alert', dragonfly: 'heal', cloudRoutes: 'alert', harbor: 'alert' },
    ...o,
  });

  it('lists each changed value as key: before → after, and nothing for a description', () => {
    assert.deepEqual(guardrailChanges(g(), g({ description: 'new words' })), []);
    assert.deepEqual(guardrailChanges(g(), g({ maxSiteRemovals: 10, protectedDestinations: [], drift: { ...g().drift, docker: 'heal' } })), [
      'drift.docker: alert → heal',
      'maxSiteRemovals: 2 → 10',
      'protectedDestinations: [10.120.0.0/16] → []',
    ]);
    assert.deepEqual(guardrailChanges(undefined, g()).slice(0, 2), ['drift.cloudRoutes: (unset) → alert', 'drift.containerd: (unset) → heal']);
  });
});
