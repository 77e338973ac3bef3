// The pull request's estimate of what a site's agent deletes counts as the agent's guardrails count (the
// provider registry): a host that no longer runs dfdaemon deletes its dfdaemon.yaml (one resource), a changed
// key of it deletes nothing, and harbor.yml is never deleted when a core's Harbor goes.
import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import type { Desired } from '../../src/desired/types.js';
import type { Fleet } from '../../src/model/fleet.js';
import { evaluateRepository } from '../../src/reconcile/pipeline.js';
import { guardrailTrips } from '../../src/report/diff/guardrails.js';
import type { ItemChange, SiteDiff } from '../../src/report/diff/model.js';

const repoRoot = fileURLToPath(new URL('../../../..', import.meta.url));

function siteDiff(site: string, changes: ItemChange[]): SiteDiff {
  return {
    site,
    role: 'region',
    area: 'cn',
    provider: 'idc',
    status: 'changed',
    roles: ['gateway', 'node'],
    changes,
    counts: { add: 0, change: 0, remove: 0 },
    files: [],
    restarts: [],
    notes: [],
  };
}

const item = (category: ItemChange['category'], id: string, action: ItemChange['action']): ItemChange => ({ category, id, action, summary: '', fields: [] });

describe('the pull request removal estimate (report/diff/guardrails.ts)', () => {
  let strict: Fleet;
  let region: Desired;
  let core: Desired;

  before(async () => {
    const { report, sites } = await evaluateRepository({ repo: repoRoot, checkedOut: 'f'.repeat(40) }, 'all');
    const guardrails = report.fleet.policies.guardrails!;
    strict = {
      ...report.fleet,
      policies: { ...report.fleet.policies, guardrails: { ...guardrails, value: { ...guardrails.value, maxDeletionsPerApply: 0 } } },
    };
    const desired = (name: string) => {
      const s = sites.get(name);
      assert.ok(s && 'desired' in s, name);
      return s.desired;
    };
    region = desired('cn-shanghai');
    core = desired('cn-beijing');
  });

  it("counts a node's dfdaemon configuration as one deleted resource when the node no longer runs dfdaemon", () => {
    const { dragonfly: _gone, ...after } = region;
    const { trips } = guardrailTrips(strict, strict, [
      {
        diff: siteDiff('cn-shanghai', [item('dragonfly', 'proxy.server.port', 'remove'), item('dragonfly', 'manager.addr', 'remove')]),
        before: region,
        after,
      },
    ]);
    assert.deepEqual(trips, [
      {
        guardrail: 'maxDeletionsPerApply',
        site: 'cn-shanghai',
        message:
          'cn-shanghai: its node would delete about 1 resource (1 dfdaemon configuration), more than maxDeletionsPerApply: 0 (policies/guardrails.yaml ' +
          'of the base); its agent will refuse this revision and apply nothing. Raise the limit in a change of its own first, or split this change.',
      },
    ]);
  });

  it('counts nothing for a key removed from a dfdaemon configuration the node keeps', () => {
    const { trips } = guardrailTrips(strict, strict, [
      { diff: siteDiff('cn-shanghai', [item('dragonfly', 'gc.interval', 'remove')]), before: region, after: region },
    ]);
    assert.deepEqual(trips, []);
  });

  it("counts nothing for harbor.yml when a core's Harbor goes (it is never deleted), but each of its Harbor objects", () => {
    const { harbor: _gone, ...after } = core;
    const { trips } = guardrailTrips(strict, strict, [
      {
        diff: siteDiff('cn-beijing', [item('harbor-config', 'hostname', 'remove'), item('harbor-projects', 'library', 'remove')]),
        before: core,
        after,
      },
    ]);
    assert.deepEqual(
      trips.map((t) => t.message.split(', more than')[0]),
      ['cn-beijing: its hub would delete about 1 resource (1 Harbor project)'],
    );
  });
});
