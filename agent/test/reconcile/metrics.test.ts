// The metrics the alerting rules need beyond the loop's own (agent/deploy/prometheus): who the agent is, its
// interval, the revision it refuses and whether its last reconcile failed, as the lines /metrics shows.
import assert from 'node:assert/strict';
import { agentEvent } from '../../src/reconcile/events.js';
import { createMetrics, reportOffers, type AgentMetrics } from '../../src/reconcile/metrics.js';
import type { RevisionSource } from '../../src/reconcile/source.js';

const APPLIED = '1111111111111111111111111111111111111111';
const BAD = '9f2c4e1d8b7a6f5e4d3c2b1a0f9e8d7c6b5a4f3e';
const FIX = '2222222222222222222222222222222222222222';

/** The sample lines of metric `name` in the registry's exposition text. */
async function lines(metrics: AgentMetrics, name: string): Promise<string[]> {
  const text = await metrics.registry.metrics();
  return text.split('\n').filter((l) => l.startsWith(`${name} `) || l.startsWith(`${name}{`));
}

describe('agent metrics for alerting', function () {
  it('mirrornet_agent_info says the site, the roles and the version; mirrornet_reconcile_interval_seconds the interval', async function () {
    const metrics = createMetrics({ site: 'us-virginia', roles: ['gateway', 'node'], version: '0.2.0', intervalMs: 30_000 });
    assert.deepEqual(await lines(metrics, 'mirrornet_agent_info'), ['mirrornet_agent_info{site="us-virginia",roles="gateway,node",version="0.2.0"} 1']);
    assert.deepEqual(await lines(metrics, 'mirrornet_reconcile_interval_seconds'), ['mirrornet_reconcile_interval_seconds 30']);
  });

  it('a revision-refused event sets mirrornet_revision_refused to 1 for that revision; the next applied revision sets it back to 0', async function () {
    const metrics = createMetrics();
    assert.deepEqual(await lines(metrics, 'mirrornet_revision_refused'), ['mirrornet_revision_refused 0']);
    metrics.observe(agentEvent('revision-refused', 'us-virginia', BAD, 'us-virginia refused 9f2c4e1d8b7a: the revision is invalid.'));
    assert.deepEqual(await lines(metrics, 'mirrornet_revision_refused'), [`mirrornet_revision_refused{revision="${BAD}"} 1`]);
    // Drift and failures say nothing about the refusal.
    metrics.observe(agentEvent('drift-detected', 'us-virginia', APPLIED, 'us-virginia: routes drifted.', { component: 'routes', origin: 'drift' }));
    metrics.observe(agentEvent('apply-failed', 'us-virginia', APPLIED, 'us-virginia failed to heal routes.', { component: 'routes', origin: 'drift' }));
    assert.deepEqual(await lines(metrics, 'mirrornet_revision_refused'), [`mirrornet_revision_refused{revision="${BAD}"} 1`]);
    metrics.observe(agentEvent('applied', 'us-virginia', FIX, 'us-virginia applied 222222222222: 3 change(s).'));
    assert.deepEqual(await lines(metrics, 'mirrornet_revision_refused'), ['mirrornet_revision_refused 0']);
  });

  it('a guardrail that blocks a new revision counts as a refusal; one that keeps drift from being healed does not', async function () {
    const metrics = createMetrics();
    metrics.observe(agentEvent('guardrail-blocked', 'us-virginia', APPLIED, 'us-virginia did not heal drift: too many deletions.', { origin: 'drift' }));
    assert.deepEqual(await lines(metrics, 'mirrornet_revision_refused'), ['mirrornet_revision_refused 0']);
    metrics.observe(agentEvent('guardrail-blocked', 'us-virginia', BAD, 'us-virginia did not apply 9f2c4e1d8b7a: this revision removes 3 sites.'));
    assert.deepEqual(await lines(metrics, 'mirrornet_revision_refused'), [`mirrornet_revision_refused{revision="${BAD}"} 1`]);
  });

  it('a refusal counts while the source offers the refused revision: not while it offers another (the applied one, rolled back)', async function () {
    const metrics = createMetrics();
    const offered = { value: BAD };
    const inner: RevisionSource = {
      remoteRevision: async () => offered.value,
      load: async () => ({ refused: 'not signed' }),
      remoteHost: () => 'git.example.com',
      offer: () => 'sha256:0123',
    };
    const source = reportOffers(inner, metrics);
    metrics.refused(BAD);
    assert.equal(await source.remoteRevision(), BAD);
    assert.deepEqual(await lines(metrics, 'mirrornet_revision_refused'), [`mirrornet_revision_refused{revision="${BAD}"} 1`]);
    offered.value = APPLIED;
    assert.equal(await source.remoteRevision(), APPLIED);
    assert.deepEqual(await lines(metrics, 'mirrornet_revision_refused'), ['mirrornet_revision_refused 0']);
    // Offered again, it is still refused (the loop does not look at it, nor report it, a second time).
    offered.value = BAD;
    assert.equal(await source.remoteRevision(), BAD);
    assert.deepEqual(await lines(metrics, 'mirrornet_revision_refused'), [`mirrornet_revision_refused{revision="${BAD}"} 1`]);
    // Applied after all (by `mirrornet apply` by hand, which the loop then keeps): no longer refused here.
    metrics.revision(BAD);
    assert.deepEqual(await lines(metrics, 'mirrornet_revision_refused'), ['mirrornet_revision_refused 0']);
    // The rest of the source is the source's own.
    assert.equal(source.remoteHost(), 'git.example.com');
    assert.equal(source.offer?.(), 'sha256:0123');
  });

  it('mirrornet_last_reconcile_failed names the step the last reconcile failed at, and is {step="none"} 0 otherwise (a lock wait included)', async function () {
    const metrics = createMetrics();
    let last: { kind: string; step?: string } | undefined;
    metrics.follow(() => last);
    assert.deepEqual(await lines(metrics, 'mirrornet_last_reconcile_failed'), ['mirrornet_last_reconcile_failed{step="none"} 0']);
    last = { kind: 'failed', step: 'apply' };
    assert.deepEqual(await lines(metrics, 'mirrornet_last_reconcile_failed'), ['mirrornet_last_reconcile_failed{step="apply"} 1']);
    last = { kind: 'failed', step: 'lock' };
    assert.deepEqual(await lines(metrics, 'mirrornet_last_reconcile_failed'), ['mirrornet_last_reconcile_failed{step="none"} 0']);
    last = { kind: 'refused' };
    assert.deepEqual(await lines(metrics, 'mirrornet_last_reconcile_failed'), ['mirrornet_last_reconcile_failed{step="none"} 0']);
  });

  it('mirrornet_site_suspended says who suspended the site, and 0 once it is resumed', async function () {
    const metrics = createMetrics();
    assert.deepEqual(await lines(metrics, 'mirrornet_site_suspended'), ['mirrornet_site_suspended 0']);
    metrics.suspended('alice@example.org');
    assert.deepEqual(await lines(metrics, 'mirrornet_site_suspended'), ['mirrornet_site_suspended{by="alice@example.org"} 1']);
    metrics.suspended(undefined);
    assert.deepEqual(await lines(metrics, 'mirrornet_site_suspended'), ['mirrornet_site_suspended 0']);
  });
});
