// An operator's `mirrornet apply` by hand moves the host to a newer revision than the one the agent kept the
// desired state of (desired.json). The agent must then evaluate that revision again, never heal the host back
// to the older one it remembers.
import assert from 'node:assert/strict';
import { parse as parseToml } from 'smol-toml';
import { createGitFixture, HARBOR_TOML, makeAgent, REGION_FILE, runCli, SITE, type GitFixture } from './git-fixture.js';

const fixtures: GitFixture[] = [];

function dialTimeout(fx: GitFixture): string | undefined {
  const host = parseToml(fx.hostText(HARBOR_TOML)!) as { host: Record<string, { dial_timeout?: string }> };
  return host.host['http://127.0.0.1:4001']!.dial_timeout;
}

describe('the agent after an apply by hand', function () {
  this.timeout(60_000);
  after(() => {
    for (const fx of fixtures.splice(0)) fx.cleanup();
  });

  it('evaluates the revision applied by hand instead of healing the host back to the one it applied itself', async () => {
    const fx = createGitFixture();
    fixtures.push(fx);
    const t = makeAgent(fx);
    assert.equal((await t.agent.tick('test')).kind, 'applied');
    assert.equal(dialTimeout(fx), '2s');

    // A newer revision, applied by an operator with the CLI (the same state directory), not by the agent.
    fx.replace(REGION_FILE, 'dialTimeout: 2s', 'dialTimeout: 3s');
    const newer = fx.commit('us-virginia: dial timeout 3s');
    const apply = await runCli(['apply', '--region', SITE, '--roles', 'node', '--repo', fx.work, '--root', fx.root, '--state-dir', fx.stateDir]);
    assert.equal(apply.code, 0, apply.stderr);
    assert.equal(fx.state().appliedRevision, newer);
    assert.equal(dialTimeout(fx), '3s');

    // The agent's next tick: the host matches `newer`; nothing is put back to 2s.
    const r = await t.agent.tick('test');
    assert.deepEqual([r.kind, r.revision], ['in-sync', newer]);
    assert.equal(dialTimeout(fx), '3s');
    assert.equal(fx.state().appliedRevision, newer);
  });
});
