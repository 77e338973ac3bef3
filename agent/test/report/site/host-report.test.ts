// A host's report says what its gateway needs to aggregate the site: wanted vs applied, open drift, the
// last error (a lock wait is none), suspension, and at most 100 events.
import assert from 'node:assert/strict';
import { hostReportOf, type HostFacts } from '../../../src/report/site/host-report.js';
import { HostReport, type ReportedEvent } from '../../../src/report/site/schema.js';

const A = 'a'.repeat(40);
const B = 'b'.repeat(40);
const NOW = new Date('2026-12-05T04:00:00.000Z');
const facts = (over: Partial<HostFacts>): HostFacts => ({
  site: 'cn-shanghai',
  host: 'n3',
  roles: ['node'],
  agentVersion: '0.2.0',
  state: { appliedRevision: A, appliedAt: '2026-12-05T03:00:00.000Z', drift: {} },
  last: { kind: 'in-sync', revision: A },
  steering: 0,
  suspended: false,
  ...over,
});
const event = (n: number): ReportedEvent => ({
  kind: 'drift-detected',
  site: 'cn-shanghai',
  revision: A,
  message: `drift ${n}`,
  component: 'routes',
  fingerprint: `f${n}`,
  at: '2026-12-05T03:59:00.000Z',
});

describe('a host report', () => {
  it('an in-sync host: wanted and applied the same, no drift, no error', () => {
    assert.deepEqual(hostReportOf(facts({ url: 'http://10.1.0.3:9464' }), [], NOW), {
      site: 'cn-shanghai',
      host: 'n3',
      roles: ['node'],
      agentVersion: '0.2.0',
      wanted: A,
      applied: A,
      appliedAt: '2026-12-05T03:00:00.000Z',
      drift: {},
      steering: 0,
      suspended: false,
      events: [],
      droppedEvents: 0,
      at: '2026-12-05T04:00:00.000Z',
      url: 'http://10.1.0.3:9464',
    });
  });

  it('open drift per component, and a refusal as the last error, wanted the refused revision', () => {
    const r = hostReportOf(
      facts({ state: { appliedRevision: A, drift: { routes: 'fp1', docker: 'fp2' } }, last: { kind: 'refused', revision: B, reason: 'not signed' } }),
      [],
      NOW,
    );
    assert.deepEqual(
      [r.wanted, r.applied, r.drift, r.lastError],
      [B, A, { docker: 1, routes: 1 }, { step: 'refused', message: 'not signed', at: '2026-12-05T04:00:00.000Z' }],
    );
  });

  it('the ticks after a refusal keep the applied revision, and the host still wants the refused one and says why, until another is applied', () => {
    const refused = { revision: B, reason: 'not signed', at: '2026-12-05T03:30:00.000Z' };
    const kept = hostReportOf(facts({ state: { appliedRevision: A, drift: {}, refused }, last: { kind: 'in-sync', revision: A } }), [], NOW);
    assert.deepEqual([kept.wanted, kept.applied, kept.lastError], [B, A, { step: 'refused', message: 'not signed', at: '2026-12-05T03:30:00.000Z' }]);
    const drifting = hostReportOf(facts({ state: { appliedRevision: A, drift: {}, refused }, last: { kind: 'drift', revision: A, alerted: [] } }), [], NOW);
    assert.deepEqual([drifting.wanted, drifting.lastError?.step], [B, 'refused']);
    const appliedLater = hostReportOf(facts({ state: { appliedRevision: B, drift: {}, refused }, last: { kind: 'in-sync', revision: B } }), [], NOW);
    assert.deepEqual([appliedLater.wanted, appliedLater.lastError], [B, undefined]);
  });

  it('a lock wait is no error; a failed apply is; a suspended host wants what it was offered and shows what drifted', () => {
    assert.equal(hostReportOf(facts({ last: { kind: 'failed', revision: A, step: 'lock', reason: 'busy' } }), [], NOW).lastError, undefined);
    assert.deepEqual(hostReportOf(facts({ last: { kind: 'failed', revision: B, step: 'apply', reason: 'ip failed' } }), [], NOW).lastError, {
      step: 'apply',
      message: 'ip failed',
      at: '2026-12-05T04:00:00.000Z',
    });
    const held = hostReportOf(facts({ suspended: true, steering: 4, last: { kind: 'suspended', revision: A, offered: B, drifted: ['routes'] } }), [], NOW);
    assert.deepEqual([held.wanted, held.applied, held.drift, held.suspended, held.steering], [B, A, { routes: 1 }, true, 4]);
  });

  it('says retired once the tick retired the site, and on every report after (from the state file)', () => {
    assert.equal(hostReportOf(facts({ last: { kind: 'retired', revision: A } }), [], NOW).retired, true);
    const restarted = hostReportOf(facts({ state: { appliedRevision: A, drift: {}, retired: { revision: A, at: NOW.toISOString() } } }), [], NOW);
    assert.equal(restarted.retired, true);
    assert.equal(hostReportOf(facts({ last: { kind: 'in-sync', revision: A } }), [], NOW).retired, undefined);
  });

  it('carries the newest 100 events and counts the ones left out', () => {
    const r = hostReportOf(
      facts({}),
      Array.from({ length: 103 }, (_, i) => event(i)),
      NOW,
    );
    assert.equal(r.events.length, 100);
    assert.equal(r.events[0]!.message, 'drift 3');
    assert.equal(r.droppedEvents, 3);
  });

  it("cuts a big apply's event to what a report carries, so the gateway takes it (60 changes, a 5000-character message)", () => {
    const big: ReportedEvent = {
      ...event(0),
      kind: 'applied',
      message: 'm'.repeat(5000),
      changes: Array.from({ length: 60 }, (_, i) => ({ provider: 'routes', id: `10.${i}.0.0/16`, action: 'create', reason: 'new' })),
    };
    const r = hostReportOf(facts({}), [big], NOW);
    assert.equal(HostReport.safeParse(r).success, true);
    assert.deepEqual([r.events[0]!.message.length, r.events[0]!.changes!.length, r.events[0]!.changes![49]!.id], [4096, 50, '10.49.0.0/16']);
  });
});
