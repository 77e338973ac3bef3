// A gateway's hosts' events become site events: one per kind, component and revision within a window
// (2 s from the first), naming every host; a drift found and healed within the window is one drift-healed;
// the fingerprint is the site's (kind, site, component; and, but for drift, the revision), whoever the hosts. Fixed clocks, literal events;
// the timer wrapper last, on a short real window.
import assert from 'node:assert/strict';
import type { AgentEvent } from '../../../src/reconcile/events.js';
import { batchSiteEvents, SiteEventBatcher } from '../../../src/report/site/batch.js';
import type { ReportedEvent } from '../../../src/report/site/schema.js';

const T0 = Date.parse('2025-03-01T02:00:00.000Z');
const REV = '3f9c2a7be81d4c6a9e05b7d2c1f0a8e4d6b3c9f1';
const OLD = '5d1e0b2c9a8f7e6d5c4b3a291807f6e5d4c3b2a1';
const ROUTE = { provider: 'routes', id: '10.136.0.0/16', action: 'create', reason: 'missing' };

function hostEvent(kind: ReportedEvent['kind'], host: string, over: Partial<ReportedEvent> = {}): ReportedEvent {
  const messages: Partial<Record<ReportedEvent['kind'], string>> = {
    'drift-detected': 'cn-shanghai: routes drifted from 3f9c2a7be81d: 10.136.0.0/16 (missing).',
    'drift-resolved': 'cn-shanghai: routes matches 3f9c2a7be81d again.',
    applied: 'cn-shanghai applied 3f9c2a7be81d: 2 change(s).',
    'apply-failed': `cn-shanghai failed to apply 3f9c2a7be81d (routes) on ${host}: RTNETLINK answers: Network is unreachable`,
  };
  return {
    kind,
    site: 'cn-shanghai',
    revision: REV,
    message: messages[kind] ?? kind,
    ...(kind.startsWith('drift') || kind === 'apply-failed' ? { component: 'routes' } : {}),
    ...(kind === 'drift-detected' ? { changes: [ROUTE] } : {}),
    fingerprint: `${kind}-${host}`,
    origin: kind.startsWith('drift') ? 'drift' : 'revision',
    hosts: [host],
    at: '2025-03-01T01:59:59.000Z',
    ...over,
  };
}

describe('site event batcher', () => {
  it('drift from two nodes within the window: one event when the window ends, naming both, counting the site', () => {
    const b = new SiteEventBatcher('cn-shanghai');
    b.add('n7', hostEvent('drift-detected', 'n7'), T0);
    b.add('n3', hostEvent('drift-detected', 'n3'), T0 + 1500);
    assert.equal(b.nextDue(), T0 + 2000);
    assert.deepEqual(b.flush(T0 + 1999, 10), []);
    const expected: AgentEvent = {
      kind: 'drift-detected',
      site: 'cn-shanghai',
      revision: REV,
      message: '2 of 10 nodes drifted: routes on n3, n7',
      component: 'routes',
      changes: [ROUTE],
      hosts: ['n3', 'n7'],
      fingerprint: 'a1da711c7e1d71da',
      origin: 'drift',
      at: '2025-03-01T02:00:02.000Z',
    };
    assert.deepEqual(b.flush(T0 + 2000, 10), [expected]);
    assert.equal(b.nextDue(), undefined);
    assert.deepEqual(b.flush(T0 + 9000, 10), []);
  });

  it("the fingerprint is the site's: other hosts drifting later give the same one", () => {
    const b = new SiteEventBatcher('cn-shanghai');
    b.add('n5', hostEvent('drift-detected', 'n5'), T0);
    const [later] = b.flush(T0 + 2000, 10);
    assert.deepEqual([later?.message, later?.hosts, later?.fingerprint], ['1 of 10 nodes drifted: routes on n5', ['n5'], 'a1da711c7e1d71da']);
  });

  it('applied: how many of the site applied the revision; a host twice in a window counts once', () => {
    const b = new SiteEventBatcher('cn-shanghai');
    for (const h of ['n1', 'n2', 'n3']) b.add(h, hostEvent('applied', h), T0);
    b.add('n2', hostEvent('applied', 'n2'), T0 + 100);
    assert.deepEqual(b.flush(T0 + 2000, 10), [
      {
        kind: 'applied',
        site: 'cn-shanghai',
        revision: REV,
        message: '3 of 10 hosts applied 3f9c2a7',
        hosts: ['n1', 'n2', 'n3'],
        fingerprint: '024f26fb2b1fd507',
        origin: 'revision',
        at: '2025-03-01T02:00:02.000Z',
      },
    ]);
    const all = new SiteEventBatcher('cn-shanghai');
    const ten = ['n1', 'n2', 'n3', 'n4', 'n5', 'n6', 'n7', 'n8', 'n9', 'n10'];
    for (const h of ten) all.add(h, hostEvent('applied', h), T0);
    const [event] = all.flush(T0 + 2000, 10);
    assert.deepEqual([event?.message, event?.hosts], ['10 of 10 hosts applied 3f9c2a7', ['n1', 'n2', 'n3', 'n4', 'n5', 'n6', 'n7', 'n8', 'n9', 'n10']]);
  });

  it("apply-failed names the hosts and says the first one's message", () => {
    const b = new SiteEventBatcher('cn-shanghai');
    b.add('n7', hostEvent('apply-failed', 'n7'), T0);
    b.add('n3', hostEvent('apply-failed', 'n3'), T0 + 10);
    assert.deepEqual(b.flush(T0 + 2000, 10), [
      {
        kind: 'apply-failed',
        site: 'cn-shanghai',
        revision: REV,
        message: 'apply failed on n3, n7: cn-shanghai failed to apply 3f9c2a7be81d (routes) on n3: RTNETLINK answers: Network is unreachable',
        component: 'routes',
        hosts: ['n3', 'n7'],
        fingerprint: '031432db94b3e79e',
        origin: 'revision',
        at: '2025-03-01T02:00:02.000Z',
      },
    ]);
  });

  it('a drift found and healed on a host within the window is one drift-healed; the rest stay what they were', () => {
    const b = new SiteEventBatcher('cn-shanghai');
    b.add('n3', hostEvent('drift-detected', 'n3'), T0);
    b.add('n7', hostEvent('drift-detected', 'n7'), T0);
    b.add('n3', hostEvent('drift-resolved', 'n3'), T0 + 500);
    assert.deepEqual(b.flush(T0 + 2000, 10), [
      {
        kind: 'drift-detected',
        site: 'cn-shanghai',
        revision: REV,
        message: '1 of 10 nodes drifted: routes on n7',
        component: 'routes',
        changes: [ROUTE],
        hosts: ['n7'],
        fingerprint: 'a1da711c7e1d71da',
        origin: 'drift',
        at: '2025-03-01T02:00:02.000Z',
      },
    ]);
    assert.deepEqual(b.flush(T0 + 2500, 10), [
      {
        kind: 'drift-healed',
        site: 'cn-shanghai',
        revision: REV,
        message: 'routes drifted on n3 and was healed',
        component: 'routes',
        changes: [ROUTE],
        hosts: ['n3'],
        fingerprint: '10aeadc3299f23c8',
        origin: 'drift',
        at: '2025-03-01T02:00:02.500Z',
      },
    ]);
  });

  it('found and healed on every drifting host: no drift-detected and no drift-resolved at all', () => {
    const b = new SiteEventBatcher('cn-shanghai');
    for (const h of ['n7', 'n3']) {
      b.add(h, hostEvent('drift-detected', h), T0);
      b.add(h, hostEvent('drift-resolved', h), T0);
    }
    const events = b.flush(T0 + 2000, 10);
    assert.deepEqual(
      events.map((e) => [e.kind, e.message, e.hosts]),
      [['drift-healed', 'routes drifted on n3, n7 and was healed', ['n3', 'n7']]],
    );
  });

  it('a drift resolved after its window was flushed is a drift-resolved; other components and revisions are other events', () => {
    const b = new SiteEventBatcher('cn-shanghai');
    b.add('n3', hostEvent('drift-detected', 'n3'), T0);
    b.flush(T0 + 2000, 10);
    b.add('n3', hostEvent('drift-resolved', 'n3'), T0 + 60_000);
    b.add('n4', hostEvent('drift-resolved', 'n4', { component: 'wireguard' }), T0 + 60_000);
    b.add('n5', hostEvent('applied', 'n5'), T0 + 60_000);
    b.add('n6', hostEvent('applied', 'n6', { revision: OLD }), T0 + 60_000);
    assert.deepEqual(
      b.flush(T0 + 62_000, 10).map((e) => [e.kind, e.revision.slice(0, 7), e.message, e.fingerprint]),
      [
        ['drift-resolved', '3f9c2a7', '1 of 10 nodes are back in sync: routes on n3', '580b8dda22b019cf'],
        ['drift-resolved', '3f9c2a7', '1 of 10 nodes are back in sync: wireguard on n4', '865d568132ec1a5d'],
        ['applied', '3f9c2a7', '1 of 10 hosts applied 3f9c2a7', '024f26fb2b1fd507'],
        ['applied', '5d1e0b2', '1 of 10 hosts applied 5d1e0b2', '9c9b7b7ef420adb2'],
      ],
    );
  });

  it('names at most ten hosts in a message (event.hosts has them all); never fewer hosts in the site than in the event', () => {
    const b = new SiteEventBatcher('cn-shanghai');
    const hosts = Array.from({ length: 12 }, (_, i) => `n${String(i + 1).padStart(2, '0')}`);
    for (const h of hosts) b.add(h, hostEvent('drift-detected', h), T0);
    const [event] = b.flush(T0 + 2000, 0);
    assert.equal(event?.message, '12 of 12 nodes drifted: routes on n01, n02, n03, n04, n05, n06, n07, n08, n09, n10 +2 more');
    assert.equal(event?.hosts?.length, 12);
  });

  it('on a timer: site events go to the sink when the window ends; close() sends what waits at once', async () => {
    const got: AgentEvent[] = [];
    const batching = batchSiteEvents({ site: 'cn-shanghai', windowMs: 20, hostCount: () => 4, sink: (e) => got.push(e) });
    batching.add('n3', hostEvent('drift-detected', 'n3'));
    batching.add('n7', hostEvent('drift-detected', 'n7'));
    assert.equal(got.length, 0);
    await new Promise((r) => setTimeout(r, 80));
    assert.deepEqual(
      got.map((e) => e.message),
      ['2 of 4 nodes drifted: routes on n3, n7'],
    );
    batching.add('n1', hostEvent('applied', 'n1'));
    batching.close();
    assert.deepEqual(
      got.map((e) => e.message),
      ['2 of 4 nodes drifted: routes on n3, n7', '1 of 4 hosts applied 3f9c2a7'],
    );
  });
});
