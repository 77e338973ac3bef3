import assert from 'node:assert/strict';
import type { Guardrails } from '../../src/model/schema.js';
import type { Change } from '../../src/providers/types.js';
import { guard, type HostPlan } from '../../src/reconcile/engine.js';

const guardrails: Guardrails = {
  kind: 'Guardrails',
  name: 'guardrails',
  maxDeletionsPerApply: 2,
  protectedDestinations: ['10.120.0.0/16'],
  maxSiteRemovals: 2,
  maxLinkRemovals: 4,
  drift: { routes: 'heal', wireguard: 'heal', containerd: 'heal', docker: 'alert', dragonfly: 'heal', cloudRoutes: 'alert', harbor: 'alert' },
};

function plan(changes: Change[]): HostPlan {
  return { site: 's', revision: 'r', changes, notes: [], actual: new Map() };
}

describe('guardrails', () => {
  it('count every route a cloud route-table batch deletes, not the one change that carries them', () => {
    const batch: Change = {
      provider: 'huaweicloud-vpc',
      id: 'rtb-1',
      action: 'update',
      reason: 'x',
      deletedRoutes: ['10.1.0.0/16', '10.2.0.0/16', '10.3.0.0/16'],
    };
    assert.match(guard(plan([batch]), guardrails)?.reasons.join(' ') ?? '', /deletes 3 resources/);
    assert.equal(guard(plan([{ ...batch, deletedRoutes: ['10.1.0.0/16'] }]), guardrails), undefined);
  });

  it('protect a destination whether a host route or a cloud route would go', () => {
    const host: Change = { provider: 'routes', id: '10.120.0.0/16', action: 'delete', reason: 'x' };
    const cloud: Change = { provider: 'huaweicloud-vpc', id: 'rtb-1', action: 'update', reason: 'x', deletedRoutes: ['10.120.0.0/16'] };
    assert.match(guard(plan([host]), guardrails)?.reasons.join(' ') ?? '', /host route to 10\.120\.0\.0\/16, a protected destination/);
    assert.match(guard(plan([cloud]), guardrails)?.reasons.join(' ') ?? '', /cloud route to 10\.120\.0\.0\/16, a protected destination/);
  });

  it("let only a retired site's last step (removing its uplink) delete its routes to protected destinations, still counted by maxDeletionsPerApply", () => {
    const host: Change = { provider: 'routes', id: '10.120.0.0/16', action: 'delete', reason: 'x' };
    const cloud: Change = { provider: 'huaweicloud-vpc', id: 'rtb-1', action: 'update', reason: 'x', deletedRoutes: ['10.120.0.0/16'] };
    const retiring = (changes: Change[]): HostPlan => ({ ...plan(changes), teardown: true });
    assert.equal(guard(retiring([host, cloud]), guardrails), undefined);
    // The retiring revision itself (which keeps the uplink) is held like any other.
    assert.match(guard(plan([host]), guardrails)?.reasons.join(' ') ?? '', /host route to 10\.120\.0\.0\/16, a protected destination/);
    const tunnel: Change = { provider: 'wireguard', id: 'mn264420ab', action: 'delete', reason: 'x' };
    assert.deepEqual(guard(retiring([host, cloud, tunnel]), guardrails)?.reasons, [
      'the plan deletes 3 resources; the guardrail allows 2 per apply (policies/guardrails.yaml maxDeletionsPerApply). If this is intended, raise ' +
        'the limit in a pull request of its own first: agents judge a revision by the guardrails applied before it.',
    ]);
  });

  it('count whole resources a change deletes', () => {
    const del = (id: string): Change => ({ provider: 'wireguard', id, action: 'delete', reason: 'x' });
    assert.equal(guard(plan([del('a'), del('b')]), guardrails), undefined);
    assert.ok(guard(plan([del('a'), del('b'), del('c')]), guardrails));
  });
});
