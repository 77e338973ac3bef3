// What a pull request that retires a region shows (`mirrornet diff`, the comment's data): the teardown per
// site — the retiring region marked `retiring`, keeping its uplink to its core; sites beyond its core losing
// what points to it — and the guardrails its agents will apply: maxDeletionsPerApply counts the teardown (the
// sentence says what to do); its route to its core (a protected destination) stays, so it is no trip.
import assert from 'node:assert/strict';
import { cli, createFleetRepo, type FleetRepo } from './fixture.js';

interface DiffJson {
  sites: { site: string; status: string; retiring?: true; counts: { add: number; change: number; remove: number } }[];
  guardrails: { guardrail: string; site?: string; message: string }[];
}

describe('diff: a region retiring', function () {
  this.timeout(60_000);
  let repo: FleetRepo;

  beforeEach(() => {
    repo = createFleetRepo();
  });
  afterEach(() => repo.cleanup());

  async function diff(base: string, head: string): Promise<DiffJson> {
    const r = await cli(['diff', '--repo', repo.fleet, '--base', base, '--head', head, '--format', 'json']);
    assert.equal(r.code, 2, r.stderr);
    return JSON.parse(r.stdout) as DiffJson;
  }

  it('shows the teardown per site, the region marked retiring, its core unchanged (the uplink stays); its route to its core is kept', async () => {
    const base = repo.commit('base');
    repo.replace('regions/eu-amsterdam-idc.yaml', 'kind: Region\n', 'kind: Region\nlifecycle: retiring\n');
    const head = repo.commit('Amsterdam is retiring');
    const d = await diff(base, head);
    assert.deepEqual(
      d.sites.map((s) => [s.site, s.status, s.retiring ?? false, s.counts.remove]),
      [
        ['ap-jakarta', 'changed', false, 1],
        ['eu-amsterdam-idc', 'changed', true, 15],
      ],
    );
    // The example guardrails protect 10.128.0.0/16 (Singapore): Amsterdam's gateway keeps that route (its uplink), so no trip.
    assert.deepEqual(d.guardrails, []);
  });

  it('says when maxDeletionsPerApply would refuse the teardown, and what to do', async () => {
    repo.replace('policies/guardrails.yaml', 'maxDeletionsPerApply: 20', 'maxDeletionsPerApply: 1');
    const base = repo.commit('a strict limit');
    repo.replace('regions/eu-amsterdam-idc.yaml', 'kind: Region\n', 'kind: Region\nlifecycle: retiring\n');
    const head = repo.commit('Amsterdam is retiring');
    const d = await diff(base, head);
    // Its core deletes nothing (the uplink stays), Jakarta one cloud route, Amsterdam's gateway one route (to
    // Jakarta): within the limit. Its nodes delete a mirror and dfdaemon.yaml: two, one too many.
    assert.deepEqual(d.guardrails, [
      {
        guardrail: 'maxDeletionsPerApply',
        site: 'eu-amsterdam-idc',
        message:
          'eu-amsterdam-idc: its node would delete about 2 resources (1 containerd mirror, 1 dfdaemon configuration), more than ' +
          'maxDeletionsPerApply: 1 (policies/guardrails.yaml of the base); its agent will refuse this revision and apply nothing. Raise the ' +
          'limit in a change of its own first (agents judge a revision by the guardrails applied before it), then retire the site.',
      },
    ]);
  });
});
