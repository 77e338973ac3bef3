// A site's gateway is its one voice: two nodes' drift is one chat message naming both, its core hears the
// site (hosts, summary, site events), and the operators' steering reaches every host that gave its URL.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { silentLogger } from '../../../src/log.js';
import type { AgentEvent } from '../../../src/reconcile/events.js';
import { SiteGateway } from '../../../src/report/site/gateway.js';
import { HeldSteering, type SteeringChange } from '../../../src/report/site/held-steering.js';
import type { HostReport, SiteReport, Steering } from '../../../src/report/site/schema.js';

const A = 'a'.repeat(40);
const AT = '2026-12-05T04:00:00.000Z';

function hostReport(host: string, events: HostReport['events'] = [], url?: string): HostReport {
  return {
    site: 'cn-shanghai',
    host,
    roles: ['node'],
    agentVersion: '0.2.0',
    wanted: A,
    applied: A,
    drift: events.length ? { routes: 1 } : {},
    steering: 0,
    suspended: false,
    events,
    droppedEvents: 0,
    at: AT,
    ...(url ? { url } : {}),
  };
}

const drift = (host: string): HostReport['events'][number] => ({
  kind: 'drift-detected',
  site: 'cn-shanghai',
  revision: A,
  message: `cn-shanghai: routes drifted on ${host}`,
  component: 'routes',
  fingerprint: 'fp',
  origin: 'drift',
  at: AT,
});

describe('a site gateway', () => {
  let dir: string;
  beforeEach(() => (dir = mkdtempSync(join(tmpdir(), 'mirrornet-gateway-'))));
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  function gateway(over: { deliver?: (r: SiteReport) => Promise<{ ok: boolean; steering?: unknown }> } = {}) {
    const chat: AgentEvent[] = [];
    const pushed: [string, Steering][] = [];
    const changes: SteeringChange[] = [];
    const gw = new SiteGateway({
      site: 'cn-shanghai',
      area: 'cn',
      host: 'gw1',
      url: 'http://10.1.0.1:9464',
      intervalMs: 60_000,
      stateDir: dir,
      steering: new HeldSteering(dir),
      chat: (e) => chat.push(e),
      ...(over.deliver ? { deliver: over.deliver } : {}),
      push: async (url, steering) => void pushed.push([url, steering]),
      onSteering: (c) => changes.push(c),
      log: silentLogger(),
      batchWindowMs: 30,
      minReportGapMs: 0,
    });
    return { gw, chat, pushed, changes };
  }

  it('two nodes drifting together are one chat message that names both, and the core gets it with the site', async () => {
    const reports: SiteReport[] = [];
    const { gw, chat } = gateway({ deliver: async (r) => (reports.push(r), { ok: true }) });
    for (const h of ['n1', 'n2', 'n3', 'n7']) assert.equal((await gw.receive(hostReport(h))).status, 200);
    await gw.receive(hostReport('n7', [drift('n7')]));
    await gw.receive(hostReport('n3', [drift('n3')]));
    await new Promise((r) => setTimeout(r, 80));
    assert.deepEqual(
      chat.map((e) => [e.kind, e.message, e.hosts]),
      [['drift-detected', '2 of 4 nodes drifted: routes on n3, n7', ['n3', 'n7']]],
    );
    await gw.reportUp();
    const last = reports.at(-1)!;
    assert.deepEqual(
      last.hosts.map((h) => h.host),
      ['n1', 'n2', 'n3', 'n7'],
    );
    assert.deepEqual([last.summary.state, last.summary.drifting], ['drifting', { routes: ['n3', 'n7'] }]);
    assert.ok(
      reports.some((r) => r.events.some((e) => e.message === '2 of 4 nodes drifted: routes on n3, n7')),
      'the site event went up to the core',
    );
    await gw.close();
  });

  it("refuses another site's report and one that is not a report, and keeps nothing of them", async () => {
    const { gw } = gateway();
    assert.equal((await gw.receive({ ...hostReport('n1'), site: 'cn-beijing' })).status, 400);
    assert.equal((await gw.receive({ host: 'n1' })).status, 400);
    assert.deepEqual(gw.book.hosts(Date.now()), []);
    await gw.close();
  });

  it("takes the core's steering once, tells its own host, and pushes it to every host that gave its URL", async () => {
    const { gw, pushed, changes } = gateway();
    await gw.receive(hostReport('n1', [], 'http://10.1.0.11:9464'));
    await gw.receive(hostReport('n2'));
    const suspend: Steering = { generation: 3, suspended: { by: 'alice', reason: 'incident 42', at: AT } };
    await gw.take(suspend);
    await gw.take(suspend);
    assert.deepEqual(pushed, [['http://10.1.0.11:9464', suspend]]);
    assert.deepEqual(changes, [{ changed: true, suspendedChanged: true, reconcileNow: false }]);
    const answer = await gw.receive(hostReport('n2'));
    assert.deepEqual(answer.body, { steering: suspend }, 'a report is answered with the steering the site holds');
    assert.equal(new HeldSteering(dir).suspended(), true, 'the suspension survives a restart');
    await gw.close();
  });

  it('a drift resolved on one host is not resolved for the site while another host still drifts on it', async () => {
    const { gw, chat } = gateway();
    const resolved = (host: string): HostReport['events'][number] => ({ ...drift(host), kind: 'drift-resolved', message: `routes matches again on ${host}` });
    await gw.receive(hostReport('n3', [drift('n3')]));
    await gw.receive(hostReport('n7', [drift('n7')]));
    await new Promise((r) => setTimeout(r, 80));
    await gw.receive({ ...hostReport('n3', [resolved('n3')]), drift: {} });
    await new Promise((r) => setTimeout(r, 80));
    assert.deepEqual(
      chat.map((e) => [e.kind, e.hosts]),
      [['drift-detected', ['n3', 'n7']]],
    );
    await gw.receive({ ...hostReport('n7', [resolved('n7')]), drift: {} });
    await new Promise((r) => setTimeout(r, 80));
    assert.deepEqual(
      chat.map((e) => [e.kind, e.hosts]),
      [
        ['drift-detected', ['n3', 'n7']],
        ['drift-resolved', ['n7']],
      ],
    );
    await gw.close();
  });
});
