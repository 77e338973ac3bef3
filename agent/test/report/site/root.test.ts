// A core as the root of its area: one aggregated commit status per site (posted when it changes), the site
// events relayed to the channels only the core reaches, site-silent once when a gateway stops reporting and
// site-back when it returns, and the operators' suspensions said in chat and pushed to the site's gateway.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { silentLogger } from '../../../src/log.js';
import type { AgentEvent } from '../../../src/reconcile/events.js';
import { FleetView } from '../../../src/report/site/fleet.js';
import { SiteRoot } from '../../../src/report/site/root.js';
import type { Steering } from '../../../src/report/site/schema.js';
import type { SiteCommitStatus } from '../../../src/report/site/status.js';
import { SteeringStore } from '../../../src/report/site/steering.js';
import { host, NOW, REV_A, siteReport } from './operator-fixture.js';

describe('a core, root of its area', () => {
  let dir: string;
  beforeEach(() => (dir = mkdtempSync(join(tmpdir(), 'mirrornet-root-'))));
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  async function core(now: { value: number }) {
    const chat: AgentEvent[] = [];
    const relayed: AgentEvent[] = [];
    const statuses: [string, string, SiteCommitStatus][] = [];
    const pushes: [string, string, Steering][] = [];
    const root = new SiteRoot({
      fleet: new FleetView('bj-core', 60_000),
      steering: await SteeringStore.open(dir),
      stateDir: dir,
      chat: (e) => void chat.push(e),
      relay: (e) => void relayed.push(e),
      status: (site, revision, status) => void statuses.push([site, revision, status]),
      push: async (site, url, steering) => void pushes.push([site, url, steering]),
      log: silentLogger(),
      now: () => now.value,
    });
    return { root, chat, relayed, statuses, pushes };
  }

  it('posts the aggregated status of a site once per change, and relays each of its events once, also from a report tried again', async () => {
    const now = { value: NOW };
    const c = await core(now);
    const hosts = [host('cn-shanghai', 'n1'), host('cn-shanghai', 'n2')];
    const event = {
      kind: 'drift-detected' as const,
      site: 'cn-shanghai',
      revision: REV_A,
      message: '1 of 2 nodes drifted: routes on n2',
      fingerprint: 'f',
      at: new Date(NOW).toISOString(),
    };
    assert.equal((await c.root.receive('cn-shanghai', siteReport('cn-shanghai', hosts, { events: [event] }))).status, 200);
    // The same report again (the gateway tried again after the core's answer was lost): its event is not relayed twice.
    assert.equal((await c.root.receive('cn-shanghai', siteReport('cn-shanghai', hosts, { events: [event] }))).status, 200);
    assert.equal((await c.root.receive('cn-shanghai', siteReport('cn-shanghai', hosts))).status, 200);
    assert.deepEqual(c.statuses, [['cn-shanghai', REV_A, { state: 'success', description: '2/2 hosts applied 3f9c2a1' }]]);
    assert.deepEqual(
      c.relayed.map((e) => e.message),
      ['1 of 2 nodes drifted: routes on n2'],
    );
    assert.equal((await c.root.receive('cn-beijing', siteReport('cn-shanghai', hosts))).status, 400, 'signed for one site, reporting another');
    await c.root.close();
  });

  it('says once that a site fell silent, and once that it is back', async () => {
    const now = { value: NOW };
    const c = await core(now);
    await c.root.receive('cn-shanghai', siteReport('cn-shanghai', [host('cn-shanghai', 'n1')]));
    now.value += 3 * 60_000 + 1;
    await c.root.receive('cn-hangzhou-idc', siteReport('cn-hangzhou-idc', [host('cn-hangzhou-idc', 'h1')]));
    now.value += 1000;
    await c.root.receive('cn-hangzhou-idc', siteReport('cn-hangzhou-idc', [host('cn-hangzhou-idc', 'h1')]));
    await c.root.receive('cn-shanghai', siteReport('cn-shanghai', [host('cn-shanghai', 'n1')]));
    assert.deepEqual(
      c.chat.map((e) => [e.kind, e.site]),
      [
        ['site-silent', 'cn-shanghai'],
        ['site-back', 'cn-shanghai'],
      ],
    );
    await c.root.close();
  });

  it("says who suspended a site and why, pushes it to the site's gateway, and says when it is resumed", async () => {
    const now = { value: NOW };
    const c = await core(now);
    await c.root.receive('cn-shanghai', siteReport('cn-shanghai', [host('cn-shanghai', 'n1')], { url: 'http://10.1.0.1:9464' }));
    const suspended: Steering = { generation: 1, suspended: { by: 'alice@example.org', reason: 'incident 42', at: new Date(NOW).toISOString() } };
    await c.root.steered('cn-shanghai', { generation: 0 }, suspended);
    await c.root.steered('cn-shanghai', suspended, { generation: 2 });
    assert.deepEqual(
      c.chat.map((e) => [e.kind, e.message]),
      [
        [
          'site-suspended',
          'cn-shanghai is suspended by alice@example.org: incident 42. ' +
            'Its hosts apply nothing new and heal no drift until `mirrornet resume --site cn-shanghai`.',
        ],
        ['site-resumed', 'cn-shanghai is resumed: its hosts apply and heal again.'],
      ],
    );
    assert.deepEqual(
      c.pushes.map(([site, url, st]) => [site, url, st.generation]),
      [
        ['cn-shanghai', 'http://10.1.0.1:9464', 1],
        ['cn-shanghai', 'http://10.1.0.1:9464', 2],
      ],
    );
    await c.root.close();
  });
});
