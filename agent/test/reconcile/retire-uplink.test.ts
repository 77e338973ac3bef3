// A retiring site keeps its uplink until its retired report was delivered (issue 14, part 3): the retiring
// revision removes everything but the route to its core, the agent reports retired over it, and only once its
// parent in the site tree answered does it remove the uplink, through the engine with a desired state that
// keeps nothing. In process, against a real git origin, a real Agent and SiteMember; the host's route table is
// an in-memory stand-in (the real one needs root), the site-tree parent a fake that fails, then answers.
import assert from 'node:assert/strict';
import { buildProviders } from '../../src/providers/registry.js';
import type { Change, Provider } from '../../src/providers/types.js';
import { silentLogger } from '../../src/log.js';
import { Agent } from '../../src/reconcile/loop.js';
import { createMetrics } from '../../src/reconcile/metrics.js';
import { finishRetirement } from '../../src/reconcile/retire.js';
import { gitRevisions } from '../../src/reconcile/source.js';
import { StateStore } from '../../src/reconcile/state.js';
import { HeldSteering } from '../../src/report/site/held-steering.js';
import { SiteMember } from '../../src/report/site/member.js';
import type { HostReport } from '../../src/report/site/schema.js';
import { GitSource } from '../../src/source/clone.js';
import { join } from 'node:path';
import { createGitFixture, listFiles, makeAgent, type GitFixture } from './git-fixture.js';

const SITE = 'eu-amsterdam-idc';
const fixtures: GitFixture[] = [];

/** The host's kernel route table, in memory: the `routes` provider's diff and apply over a set of destinations. */
function routeTable(table: Set<string>): Provider<string[]> {
  return {
    id: 'routes',
    wants: (d) => d.routes.length > 0,
    read: async () => [...table].sort(),
    diff: (d, actual, owned) => {
      const want = new Set(d.routes.map((r) => r.destination));
      const changes: Change[] = [];
      for (const dest of want) if (!actual.includes(dest)) changes.push({ provider: 'routes', id: dest, action: 'create', reason: 'desired' });
      for (const dest of actual)
        if (owned.has(dest) && !want.has(dest)) changes.push({ provider: 'routes', id: dest, action: 'delete', reason: 'not desired' });
      return changes;
    },
    apply: async (_ctx, changes) => {
      for (const c of changes) {
        if (c.action === 'delete') table.delete(c.id);
        else table.add(c.id);
      }
      return { applied: changes, deleted: changes.filter((c) => c.action === 'delete').map((c) => c.id) };
    },
  };
}

/**
 * Amsterdam's gateway-and-node agent: the route table stand-in, then the file providers (under the fixture's
 * root); no tunnel provider (wireguard-go needs root), so only the route stands for the uplink here.
 */
function amsterdamAgent(fx: GitFixture, table: Set<string>): { agent: Agent; store: StateStore } {
  const base = makeAgent(fx, { site: SITE });
  const deps = {
    ...base.deps,
    providers: [
      routeTable(table),
      ...buildProviders({ secrets: base.deps.secrets }, ['node']).providers.filter((p) => p.id !== 'routes' && p.id !== 'wireguard'),
    ],
  };
  const source = new GitSource({ url: fx.origin, branch: 'main', dir: join(fx.stateDir, 'repo') });
  const store = new StateStore(fx.stateDir);
  const agent = new Agent({ site: SITE, roles: ['gateway', 'node'] }, gitRevisions(source), store, deps, silentLogger(), createMetrics(), () => {});
  return { agent, store };
}

describe('a retiring site keeps its uplink until its retired report is answered', function () {
  this.timeout(120_000);
  after(() => {
    for (const fx of fixtures.splice(0)) fx.cleanup();
  });

  it('removes the route to its core only after the gateway answered; a failed report leaves it and is retried; then state retired', async () => {
    const fx = createGitFixture();
    fixtures.push(fx);
    const table = new Set<string>();
    const { agent, store } = amsterdamAgent(fx, table);
    const first = await agent.tick('test');
    assert.equal(first.kind, 'applied', JSON.stringify(first));
    assert.deepEqual([...table].sort(), ['10.128.0.0/16', '10.136.0.0/16']);
    assert.deepEqual(listFiles(fx.root), ['etc/containerd/certs.d/harbor.sg.mirrornet.internal/hosts.toml', 'etc/dragonfly/dfdaemon.yaml']);

    fx.replace(`regions/${SITE}.yaml`, 'kind: Region\n', 'kind: Region\nlifecycle: retiring\n');
    const retiring = fx.commit('Amsterdam is retiring');
    assert.deepEqual(await agent.tick('test'), { kind: 'retired', revision: retiring });
    // The retiring revision removed the mirror and the route to Jakarta; the uplink (to Singapore, which the
    // example guardrails protect) stays, and the state says retired, its uplink not yet removed.
    assert.deepEqual([...table], ['10.128.0.0/16']);
    assert.deepEqual(listFiles(fx.root), []);
    assert.equal(fx.state().retired?.revision, retiring);
    assert.equal(fx.state().retired?.uplinkRemoved, undefined);

    // Its gateway fails twice (down, then overloaded), then answers.
    const answers = [{ ok: false }, { ok: false, status: 503 }, { ok: true }];
    const delivered: { retired: boolean | undefined; tableThen: string[] }[] = [];
    const member = new SiteMember({
      facts: async () => ({ site: SITE, host: 'ams-gw1', roles: ['gateway', 'node'], agentVersion: 'test', state: await store.load(), last: undefined }),
      deliver: async (report: HostReport) => {
        delivered.push({ retired: report.retired, tableThen: [...table] });
        return answers.shift() ?? { ok: true };
      },
      steering: new HeldSteering(fx.stateDir),
      onSteering: () => {},
      log: silentLogger(),
    });
    const done = await finishRetirement({ report: () => member.reportAnswered(), removeUplink: () => agent.removeUplink(), waitMs: 0, retryMs: 1 });
    assert.equal(done, true);
    assert.deepEqual(delivered, [
      { retired: true, tableThen: ['10.128.0.0/16'] },
      { retired: true, tableThen: ['10.128.0.0/16'] },
      { retired: true, tableThen: ['10.128.0.0/16'] },
    ]);
    assert.deepEqual([...table], []);
    const state = fx.state();
    assert.equal(state.retired?.revision, retiring);
    assert.equal(typeof state.retired?.uplinkRemoved, 'string');
    assert.deepEqual(state.inventory.routes, []);

    // Done: later calls and ticks touch nothing.
    assert.equal(await agent.removeUplink(), true);
    assert.deepEqual(await agent.tick('test'), { kind: 'retired', revision: retiring });
    assert.deepEqual([...table], []);
  });

  it('with one attempt only (--once), a report that fails leaves the uplink for the next run', async () => {
    const fx = createGitFixture();
    fixtures.push(fx);
    const table = new Set<string>();
    const { agent } = amsterdamAgent(fx, table);
    await agent.tick('test');
    fx.replace(`regions/${SITE}.yaml`, 'kind: Region\n', 'kind: Region\nlifecycle: retiring\n');
    fx.commit('Amsterdam is retiring');
    assert.equal((await agent.tick('test')).kind, 'retired');
    let removals = 0;
    const removeUplink = () => (removals++, agent.removeUplink());
    assert.equal(await finishRetirement({ report: async () => false, removeUplink, waitMs: 0, retryMs: 1, once: true }), false);
    assert.equal(removals, 0);
    assert.deepEqual([...table], ['10.128.0.0/16']);
    assert.equal(fx.state().retired?.uplinkRemoved, undefined);
    assert.equal(await finishRetirement({ report: async () => true, removeUplink, waitMs: 0, retryMs: 1, once: true }), true);
    assert.deepEqual([...table], []);
  });
});
