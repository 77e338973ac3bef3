// A real agent (the CLI over a git fixture) and its /metrics: every metric name the alerting rules, their unit
// tests and the dashboard use is one it exposes; and the gauges the rules need follow it through a refusal, a
// restart, a rollback and a fix.
import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import { freePort } from '../bundle/registry-fixture.js';
import { createGitFixture, killChildren, startCli, agentArgs, waitFor, type GitFixture, type Run } from '../reconcile/git-fixture.js';
import { hook, SECRET, sign } from '../server/harness.js';
import { alertRules, dashboard, metricNames, rulesTest } from './deploy-files.js';

const pushMain = JSON.stringify({ ref: 'refs/heads/main', after: 'deadbeef', repository: { full_name: 'example/fleet' } });

interface RunningAgent {
  base: string;
  child: ChildProcess;
  done: Promise<Run>;
}

/** The agent of the fixture on `port` (interval 1 h: it reconciles at start and on a signed webhook), once ready. */
async function startAgent(fx: GitFixture, port: number): Promise<RunningAgent> {
  const base = `http://127.0.0.1:${port}`;
  const { child, done } = startCli(agentArgs(fx, ['--interval', '1h', '--listen', `127.0.0.1:${port}`, '--webhook-secret', 'env:HOOK_SECRET']), {
    env: { HOOK_SECRET: SECRET },
  });
  await waitFor('/readyz 200', async () => (await fetch(`${base}/readyz`).catch(() => undefined))?.status === 200, 30_000);
  return { base, child, done };
}

async function scrape(base: string): Promise<string[]> {
  return (await (await fetch(`${base}/metrics`)).text()).split('\n');
}

/** Tell the agent of a push, then wait until /metrics has `line`. */
async function pushAndWaitFor(base: string, line: string): Promise<void> {
  const res = await hook(base, pushMain, { 'x-github-event': 'push', 'x-github-delivery': line, 'x-hub-signature-256': sign(SECRET, pushMain) });
  assert.equal(res.status, 202);
  await waitFor(line, async () => (await scrape(base)).includes(line), 30_000);
}

describe('the metrics of a running agent (agent/deploy)', function () {
  this.timeout(120_000);
  const fixtures: GitFixture[] = [];
  afterEach(function () {
    killChildren();
  });
  after(function () {
    for (const fx of fixtures.splice(0)) fx.cleanup();
  });

  it('every metric the alerting rules, their unit tests and the dashboard use is one a running agent exposes', async function () {
    const fx = createGitFixture();
    fixtures.push(fx);
    const agent = await startAgent(fx, await freePort());
    const lines = await scrape(agent.base);
    // Exposed: every sample's name, and every declared metric (a counter with no sample yet, e.g. errors).
    const exposed = new Set(lines.map((l) => (l.startsWith('# TYPE ') ? l.split(' ')[2]! : l.startsWith('#') ? '' : l.split(/[{ ]/)[0]!)));
    const used = new Set([
      ...alertRules().flatMap((r) => metricNames(r.expr)),
      ...rulesTest().tests.flatMap((t) => t.input_series.flatMap((s) => metricNames(s.series))),
      ...dashboard().panels.flatMap((p) => (p.targets ?? []).flatMap((t) => metricNames(t.expr))),
    ]);
    assert.deepEqual([...used].sort(), [
      'mirrornet_agent_info',
      'mirrornet_agent_stalled',
      'mirrornet_drift',
      'mirrornet_errors_total',
      'mirrornet_http_refused_total',
      'mirrornet_last_applied_revision_info',
      'mirrornet_last_reconcile_failed',
      'mirrornet_last_reconcile_timestamp_seconds',
      'mirrornet_reconcile_duration_seconds_bucket',
      'mirrornet_reconcile_interval_seconds',
      'mirrornet_reconciles_total',
      'mirrornet_revision_refused',
      'up',
    ]);
    // `up` is Prometheus's own (whether the scrape worked); every other name is the agent's.
    assert.deepEqual(
      [...used].filter((n) => n !== 'up' && !exposed.has(n)),
      [],
    );
  });

  it('shows site, roles, interval, revisions; a refusal is 1 across a restart, 0 after a rollback, 1 offered again, 0 once a fix applies', async function () {
    const fx = createGitFixture();
    fixtures.push(fx);
    const good = fx.originHead();
    const port = await freePort();
    let agent = await startAgent(fx, port);
    const first = await scrape(agent.base);
    for (const line of [
      'mirrornet_agent_info{site="us-virginia",roles="node",version="0.2.0"} 1',
      'mirrornet_reconcile_interval_seconds 3600',
      `mirrornet_last_applied_revision_info{revision="${good}"} 1`,
      'mirrornet_revision_refused 0',
      'mirrornet_last_reconcile_failed{step="none"} 0',
    ]) {
      assert.ok(first.includes(line), `${line} in /metrics`);
    }

    // Broken YAML in another region's file: the whole revision is refused.
    fx.write('regions/ap-jakarta.yaml', `${fx.read('regions/ap-jakarta.yaml')}  broken: [unclosed\n`);
    const bad = fx.commit('broken yaml');
    await pushAndWaitFor(agent.base, `mirrornet_revision_refused{revision="${bad}"} 1`);

    // A restart: the loop does not report the refusal again, the state file still has it (and the applied revision).
    agent.child.kill('SIGTERM');
    await agent.done;
    agent = await startAgent(fx, port);
    const restarted = await scrape(agent.base);
    assert.ok(restarted.includes(`mirrornet_revision_refused{revision="${bad}"} 1`), 'the refusal after the restart');
    assert.ok(restarted.includes(`mirrornet_last_applied_revision_info{revision="${good}"} 1`), 'the applied revision after the restart');

    // Rolled back to the applied revision: nothing newer is refused.
    fx.git(['reset', '-q', '--hard', good]);
    fx.git(['push', '-q', '-f', 'origin', 'HEAD:refs/heads/main']);
    await pushAndWaitFor(agent.base, 'mirrornet_revision_refused 0');

    // The refused revision offered again: refused again (the loop does not look at it a second time).
    fx.git(['push', '-q', '-f', 'origin', `${bad}:refs/heads/main`]);
    await pushAndWaitFor(agent.base, `mirrornet_revision_refused{revision="${bad}"} 1`);

    // A fix applies.
    fx.git(['reset', '-q', '--hard', bad]);
    fx.write('regions/ap-jakarta.yaml', fx.read('regions/ap-jakarta.yaml').replace('  broken: [unclosed\n', ''));
    const fixed = fx.commit('fix yaml');
    await pushAndWaitFor(agent.base, `mirrornet_last_applied_revision_info{revision="${fixed}"} 1`);
    assert.ok((await scrape(agent.base)).includes('mirrornet_revision_refused 0'));
  });
});
