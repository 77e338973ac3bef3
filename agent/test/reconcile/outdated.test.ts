// An agent older than what a revision's policies/agent.yaml asks for (simulated by a repository that declares
// 99.0.0, with a file of a kind this agent does not know): it refuses with the dedicated outcome instead of
// "invalid revision", changes nothing on the host, says so once, and shows it in metrics and /healthz; the
// CLI's --once, validate and plan end with exit code 4 and the same sentence.
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { TickResult } from '../../src/reconcile/loop.js';
import { hostReportOf } from '../../src/report/site/host-report.js';
import { agentArgs, createGitFixture, makeAgent, REGION_FILE, runCli, snapshot, SITE, type GitFixture, type Run } from './git-fixture.js';

const TOO_NEW = '# written by a newer mirrornet\nkind: AgentCompatibility\nname: agent\nminAgentVersion: 99.0.0\nschemaVersion: 2\nrolloutWaves: [canary]\n';
/** A kind this agent's schema does not know: by its own rules the revision would be invalid. */
const NEW_KIND = 'kind: RolloutWaves\nname: rollout\nwaves: [canary, rest]\n';

/** Commit a revision that needs mirrornet 99.0.0 (repository schema 2), with a change for this host. */
function commitTooNew(fx: GitFixture): string {
  fx.write('policies/agent.yaml', TOO_NEW);
  fx.write('policies/rollout.yaml', NEW_KIND);
  fx.replace(REGION_FILE, 'proxyPort: 4001', 'proxyPort: 4011');
  return fx.commit('needs a newer mirrornet');
}

const reasonFor = (revision: string) =>
  `revision ${revision.slice(0, 12)} needs mirrornet ≥ 99.0.0 (repository schema 2); this agent is 0.2.0 (reads repository schema 1): ` +
  'upgrade mirrornet on this host';

function cliResult(run: Run): TickResult {
  const line = run.stdout.trim().split('\n').filter(Boolean).pop();
  assert.ok(line, `the CLI printed no result (exit ${run.code}); stderr:\n${run.stderr}`);
  return JSON.parse(line) as TickResult;
}

describe('an agent older than the repository needs', function () {
  this.timeout(120_000);
  const fixtures: GitFixture[] = [];
  after(() => {
    for (const fx of fixtures.splice(0)) fx.cleanup();
  });
  const fixture = (): GitFixture => {
    const fx = createGitFixture();
    fixtures.push(fx);
    return fx;
  };

  it('git: refuses as outdated, keeps the applied revision and the host, says it once, shows it in metrics and /healthz', async () => {
    const fx = fixture();
    const good = fx.originHead();
    const t = makeAgent(fx);
    assert.equal((await t.agent.tick('test')).kind, 'applied');
    t.events.length = 0;
    const before = snapshot(fx.root);
    const bad = commitTooNew(fx);

    assert.deepEqual(await t.agent.tick('test'), { kind: 'outdated', revision: bad, reason: reasonFor(bad) });
    assert.deepEqual(snapshot(fx.root), before, 'nothing on the host changed');
    assert.deepEqual(
      t.events.map((e) => [e.kind, e.component, e.revision, e.message]),
      [['revision-refused', 'agent-version', bad, `${SITE}: ${reasonFor(bad)}; it keeps applying ${good.slice(0, 12)}.`]],
    );
    const state = fx.state();
    assert.equal(state.appliedRevision, good);
    assert.deepEqual(
      { ...state.refused, at: undefined },
      { revision: bad, reason: reasonFor(bad), at: undefined, code: 'agent-too-old', agentVersion: '0.2.0' },
    );

    for (const e of t.events) t.metrics.observe(e);
    const metrics = await t.metrics.registry.metrics();
    assert.deepEqual(
      metrics.split('\n').filter((l) => l.startsWith('mirrornet_agent_outdated')),
      [`mirrornet_agent_outdated{revision="${bad}"} 1`],
    );
    assert.deepEqual(await t.agent.health.check(), { ok: true, warning: reasonFor(bad) });

    // The next tick keeps the applied revision true and says nothing more.
    assert.deepEqual(await t.agent.tick('test'), { kind: 'in-sync', revision: good });
    assert.equal(t.events.length, 1, 'the refusal is said once');
    assert.deepEqual(snapshot(fx.root), before);

    // Refused by another version of mirrornet (as after an upgrade): looked at again, not held.
    const file = join(fx.stateDir, 'state.json');
    const saved = JSON.parse(readFileSync(file, 'utf8')) as { refused: { agentVersion: string } };
    saved.refused.agentVersion = '0.1.0';
    writeFileSync(file, JSON.stringify(saved));
    assert.deepEqual(await t.agent.tick('test'), { kind: 'outdated', revision: bad, reason: reasonFor(bad) });
    assert.equal(t.events.length, 2);
  });

  it('git, the CLI: agent --once exits 4 with the outdated result; validate and plan exit 4 with the sentence, no findings', async () => {
    const fx = fixture();
    const good = fx.originHead();
    const ok = await runCli(agentArgs(fx, ['--once', '--no-chat']));
    assert.equal(ok.code, 0, ok.stderr);
    const before = snapshot(fx.root);
    const bad = commitTooNew(fx);

    const run = await runCli(agentArgs(fx, ['--once', '--no-chat']));
    assert.equal(run.code, 4, `${run.stdout}${run.stderr}`);
    assert.deepEqual(cliResult(run), { kind: 'outdated', revision: bad, reason: reasonFor(bad) });
    assert.deepEqual(snapshot(fx.root), before);
    assert.equal(fx.state().appliedRevision, good);

    const sentence =
      `mirrornet: the repository at ${fx.work} needs mirrornet ≥ 99.0.0 (repository schema 2); this mirrornet is 0.2.0 (reads repository ` +
      'schema 1): upgrade mirrornet to read it (its files were not validated with the older rules, which would report what is new as errors).\n';
    const validate = await runCli(['validate', '--repo', fx.work]);
    assert.deepEqual([validate.code, validate.stdout, validate.stderr], [4, '', sentence]);
    const plan = await runCli(['plan', '--region', SITE, '--roles', 'node', '--repo', fx.work, '--root', fx.root, '--state-dir', fx.stateDir]);
    assert.deepEqual([plan.code, plan.stdout, plan.stderr], [4, '', sentence]);
  });
});

describe("an outdated host's report to its site (mirrornet status)", () => {
  const A = 'a'.repeat(40);
  const B = 'b'.repeat(40);
  const now = new Date('2026-12-05T04:00:00.000Z');
  const facts = {
    site: 'cn-shanghai',
    host: 'n3',
    roles: ['node'],
    agentVersion: '0.2.0',
    steering: 0,
    suspended: false,
  };

  it('says agent-too-old as its last error, on the tick that refused and on those after it, and wants the refused revision', () => {
    const reason = reasonFor(B);
    const refused = { revision: B, reason, at: '2026-12-05T03:30:00.000Z', code: 'agent-too-old' };
    const first = hostReportOf({ ...facts, state: { appliedRevision: A, drift: {}, refused }, last: { kind: 'outdated', revision: B, reason } }, [], now);
    assert.deepEqual([first.wanted, first.applied, first.lastError], [B, A, { step: 'agent-too-old', message: reason, at: '2026-12-05T04:00:00.000Z' }]);
    const later = hostReportOf({ ...facts, state: { appliedRevision: A, drift: {}, refused }, last: { kind: 'in-sync', revision: A } }, [], now);
    assert.deepEqual([later.wanted, later.applied, later.lastError], [B, A, { step: 'agent-too-old', message: reason, at: '2026-12-05T03:30:00.000Z' }]);
  });
});
