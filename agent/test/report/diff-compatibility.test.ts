// `mirrornet diff` when a pull request changes policies/agent.yaml: the report carries the compatibility data
// the PR comment warns from; a head that needs a newer mirrornet than the one comparing stops with exit 4.
import assert from 'node:assert/strict';
import { diffRevisions } from '../../src/cli/diff.js';
import { renderMarkdown, renderText } from '../../src/report/diff/index.js';
import { cli, createFleetRepo, type FleetRepo } from './fixture.js';

describe('mirrornet diff: the agent a change needs', function () {
  this.timeout(60_000);
  let repo: FleetRepo;
  let base: string;
  before(() => {
    repo = createFleetRepo();
    repo.replace('policies/agent.yaml', 'minAgentVersion: 0.2.0', 'minAgentVersion: 0.1.0');
    base = repo.commit('the fleet may be applied by mirrornet 0.1.0');
  });
  after(() => repo.cleanup());

  it('base 0.1.0 -> head 0.2.0: compatibility says the head needs a newer agent; an unchanged declaration adds nothing', async () => {
    repo.replace('policies/agent.yaml', 'minAgentVersion: 0.1.0', 'minAgentVersion: 0.2.0');
    const head = repo.commit('mirrornet 0.2.0 everywhere: raise the minimum');
    const report = await diffRevisions(repo.fleet, base, head);
    assert.deepEqual(report.compatibility, {
      base: { minAgentVersion: '0.1.0', schemaVersion: 1 },
      head: { minAgentVersion: '0.2.0', schemaVersion: 1 },
      needsNewerAgent: true,
      schemaRaised: false,
    });
    assert.equal((await diffRevisions(repo.fleet, head, head)).compatibility, undefined);
    const warning =
      'This change sets `minAgentVersion` from 0.1.0 to 0.2.0 in `policies/agent.yaml`. It needs mirrornet ≥ 0.2.0: every agent still older ' +
      'refuses it (status `agent-too-old`, `agent --once` exit code 4) and keeps the revision it applied. This assumes the fleet runs at least ' +
      "the base's minimum (0.1.0); merge it only once every agent runs the new version (upgrade them wave by wave first).";
    assert.ok(renderMarkdown(report, { command: 'mirrornet diff' }).includes(`> [!WARNING]\n> **Needs a newer agent.** ${warning}\n`));
    assert.ok(renderText(report).includes(`warning: needs a newer agent: ${warning.replace(/`/g, '')}\n`));
  });

  it('a head that needs a newer mirrornet than the one comparing or publishing: exit 4 and the sentence, not a diff or a bundle', async () => {
    repo.replace('policies/agent.yaml', /minAgentVersion: \d+\.\d+\.\d+/, 'minAgentVersion: 0.3.0');
    const head = repo.commit('raise the minimum to 0.3.0');
    const res = await cli(['diff', '--repo', repo.fleet, '--base', base, '--head', head, '--format', 'json']);
    assert.equal(res.code, 4);
    assert.equal(res.stdout, '');
    assert.equal(
      res.stderr,
      `mirrornet: revision ${head.slice(0, 12)} needs mirrornet ≥ 0.3.0 (repository schema 1); this mirrornet is 0.2.0 (reads repository schema 1): ` +
        'upgrade mirrornet to read it (its files were not validated with the older rules, which would report what is new as errors).\n',
    );
    // Nothing is asked of the registry (there is none at that address): the revision is refused before.
    const published = await cli(['publish', '--repo', repo.fleet, '--revision', head, '--to', 'oci+http://127.0.0.1:9/mirrornet/fleet']);
    assert.deepEqual([published.code, published.stderr], [4, res.stderr]);
  });
});
