// A site in numbers and names from its hosts' states (the revision most want, who applied it, who fails,
// drifts, is stale; one state by precedence), and the commit status a core posts from it: its state and a
// description of at most 140 characters that names hosts, shortening lists with "+N more".
import assert from 'node:assert/strict';
import { NO_STEERING, type HostState, type SiteSummary, type Steering } from '../../../src/report/site/schema.js';
import { commitStatusOf } from '../../../src/report/site/status.js';
import { summarize } from '../../../src/report/site/summary.js';

const REV = '3f9c2a7be81d4c6a9e05b7d2c1f0a8e4d6b3c9f1';
const OLD = '5d1e0b2c9a8f7e6d5c4b3a291807f6e5d4c3b2a1';
const SUSPENDED: Steering = { generation: 3, suspended: { by: 'alice@example.com', reason: 'network maintenance', at: '2025-03-01T01:00:00.000Z' } };

function host(name: string, over: Partial<HostState> = {}): HostState {
  return {
    site: 'cn-shanghai',
    host: name,
    roles: ['node'],
    agentVersion: '0.2.0',
    wanted: REV,
    applied: REV,
    appliedAt: '2025-03-01T01:59:00.000Z',
    drift: {},
    steering: 0,
    suspended: false,
    at: '2025-03-01T01:59:59.000Z',
    lastSeen: '2025-03-01T02:00:00.000Z',
    stale: false,
    ...over,
  };
}

const tenHosts = (over: Record<string, Partial<HostState>> = {}): HostState[] =>
  ['n1', 'n2', 'n3', 'n4', 'n5', 'n6', 'n7', 'n8', 'n9', 'n10'].map((n) => host(n, over[n]));

const failed = { lastError: { step: 'apply', message: 'routes: RTNETLINK answers: Network is unreachable', at: '2025-03-01T01:59:30.000Z' } };

describe('site summary', () => {
  it('every host applied what it wants: in-sync', () => {
    assert.deepEqual(summarize('cn-shanghai', tenHosts(), NO_STEERING), {
      hosts: 10,
      revision: REV,
      applied: 10,
      failing: [],
      drifting: {},
      stale: [],
      suspended: false,
      state: 'in-sync',
    });
  });

  it('the revision most hosts want; a tie goes to the newest report', () => {
    const older = { wanted: OLD, applied: OLD, at: '2025-03-01T01:00:00.000Z' };
    const most = summarize('cn-shanghai', [host('n1', older), host('n2', older), host('n3', older), host('n4'), host('n5')], NO_STEERING);
    assert.deepEqual([most.revision, most.applied, most.state], [OLD, 3, 'pending']);
    const tie = summarize('cn-shanghai', [host('n1', older), host('n2', older), host('n4', { applied: OLD }), host('n5')], NO_STEERING);
    assert.deepEqual([tie.revision, tie.applied, tie.state], [REV, 1, 'pending']);
  });

  it('failing: a last error newer than what the host applied, or one that kept it from the revision it wants', () => {
    const summary = summarize(
      'cn-shanghai',
      [
        host('n1', failed),
        host('n2', { ...failed, appliedAt: '2025-03-01T01:59:45.000Z' }),
        host('n3', { ...failed, applied: OLD, appliedAt: '2025-03-01T01:59:45.000Z' }),
        host('n4', { ...failed, applied: undefined, appliedAt: undefined }),
      ],
      NO_STEERING,
    );
    assert.deepEqual(summary, {
      hosts: 4,
      revision: REV,
      applied: 2,
      failing: ['n1', 'n3', 'n4'],
      drifting: {},
      stale: [],
      suspended: false,
      state: 'failing',
    });
  });

  it('drifting hosts per component, stale hosts, and hosts of another site left out', () => {
    const summary = summarize(
      'cn-shanghai',
      [
        host('n7', { drift: { routes: 1, wireguard: 0 } }),
        host('n3', { drift: { routes: 4, containerd: 1 } }),
        host('n9', { stale: true }),
        host('x1', { site: 'cn-beijing', drift: { routes: 1 } }),
      ],
      NO_STEERING,
    );
    assert.deepEqual(summary, {
      hosts: 3,
      revision: REV,
      applied: 3,
      failing: [],
      drifting: { containerd: ['n3'], routes: ['n3', 'n7'] },
      stale: ['n9'],
      suspended: false,
      state: 'stale',
    });
  });

  it('the state, first that holds: empty, retired, suspended, failing, stale, drifting, pending, in-sync', () => {
    const cases: [string, HostState[], Steering, SiteSummary['state']][] = [
      ['no hosts', [], SUSPENDED, 'empty'],
      ['every host retired (they report no more: stale)', [host('n1', { retired: true, stale: true }), host('n2', { retired: true })], SUSPENDED, 'retired'],
      ['a retired host that reports no more is not stale', [host('n1', { retired: true, stale: true }), host('n2')], NO_STEERING, 'in-sync'],
      ['suspended and failing', [host('n1', failed), host('n2', { stale: true })], SUSPENDED, 'suspended'],
      ['failing and stale', [host('n1', failed), host('n2', { stale: true })], NO_STEERING, 'failing'],
      ['stale and drifting', [host('n1', { drift: { routes: 1 } }), host('n2', { stale: true })], NO_STEERING, 'stale'],
      ['drifting and pending', [host('n1', { drift: { routes: 1 } }), host('n2', { applied: OLD })], NO_STEERING, 'drifting'],
      ['pending', [host('n1'), host('n2', { applied: OLD })], NO_STEERING, 'pending'],
      ['no host wants anything yet', [host('n1', { wanted: undefined, applied: undefined, appliedAt: undefined })], NO_STEERING, 'pending'],
      ['in sync', [host('n1'), host('n2')], NO_STEERING, 'in-sync'],
    ];
    assert.deepEqual(
      cases.map(([what, hosts, steering]) => [what, summarize('cn-shanghai', hosts, steering).state]),
      cases.map(([what, , , state]) => [what, state]),
    );
  });
});

describe('site commit status', () => {
  const statusOf = (hosts: HostState[], steering: Steering = NO_STEERING, revision = REV) =>
    commitStatusOf(summarize('cn-shanghai', hosts, steering), revision);

  it('success when every host applied the revision, pending while some have not, failure naming the hosts that failed', () => {
    assert.deepEqual(statusOf(tenHosts()), { state: 'success', description: '10/10 hosts applied 3f9c2a7' });
    assert.deepEqual(statusOf(tenHosts({ n2: { applied: OLD }, n5: { applied: OLD }, n8: { applied: OLD } })), {
      state: 'pending',
      description: '7/10 hosts applied 3f9c2a7',
    });
    assert.deepEqual(statusOf(tenHosts({ n3: { ...failed, applied: OLD }, n7: { ...failed, applied: OLD } })), {
      state: 'failure',
      description: '8/10 hosts applied 3f9c2a7; failed: n3, n7',
    });
  });

  it('drift, stale hosts and a suspension are named; drift does not change the state', () => {
    assert.deepEqual(statusOf(tenHosts({ n3: { drift: { routes: 2 } }, n7: { drift: { routes: 1, wireguard: 1 } } })), {
      state: 'success',
      description: '10/10 hosts applied 3f9c2a7; 2/10 hosts drift (routes: n3, n7; wireguard: n7)',
    });
    assert.deepEqual(statusOf(tenHosts({ n1: { applied: OLD }, n9: { stale: true } }), SUSPENDED), {
      state: 'pending',
      description: '9/10 hosts applied 3f9c2a7; suspended; stale: n9',
    });
  });

  it('no hosts yet, or a revision the site does not want: pending', () => {
    assert.deepEqual(statusOf([]), { state: 'pending', description: 'no host has reported yet' });
    assert.deepEqual(statusOf(tenHosts(), NO_STEERING, OLD), { state: 'pending', description: 'most hosts want 3f9c2a7, not 5d1e0b2' });
  });

  it('long lists end in "+N more" to fit 140 characters; a description that cannot fit is cut', () => {
    const names = Array.from({ length: 40 }, (_, i) => `cn-shanghai-node-${String(i + 1).padStart(2, '0')}`);
    const many = statusOf(names.map((n, i) => host(n, i < 30 ? { ...failed, applied: OLD } : {})));
    assert.deepEqual(many, {
      state: 'failure',
      description: '10/40 hosts applied 3f9c2a7; failed: cn-shanghai-node-01, cn-shanghai-node-02, cn-shanghai-node-03, cn-shanghai-node-04 +26 more',
    });
    const long = statusOf([host('h'.repeat(150), { ...failed, applied: OLD }), host('n2')]);
    assert.deepEqual(long, { state: 'failure', description: `1/2 hosts applied 3f9c2a7; failed: ${'h'.repeat(104)}…` });
    assert.equal(Array.from(long.description).length, 140);
  });
});
