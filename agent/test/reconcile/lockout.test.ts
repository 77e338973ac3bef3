// The lockout guard, without root: a plan that would delete or redirect the route carrying the agent's own
// connection to its git remote is refused — for a new revision and when healing drift.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Guardrails } from '../../src/model/schema.js';
import type { ActualRoutes } from '../../src/providers/routes/index.js';
import type { Change, Provider } from '../../src/providers/types.js';
import { hostSecrets } from '../../src/host/secrets.js';
import { silentLogger } from '../../src/log.js';
import type { Desired } from '../../src/desired/types.js';
import type { HostFiles } from '../../src/host/files.js';
import { DEFAULT_COMMANDS } from '../../src/providers/types.js';
import { guard, reconcileHost, type HostDeps, type HostPlan } from '../../src/reconcile/engine.js';
import { EMPTY_STATE, type StateStore } from '../../src/reconcile/state.js';
import type { AgentEvent } from '../../src/reconcile/events.js';
import { change, fakeRoutes, REMOTE, routes, stubAgent } from './stub-agent.js';

const guardrails: Guardrails = {
  kind: 'Guardrails',
  name: 'guardrails',
  maxDeletionsPerApply: 10,
  protectedDestinations: [],
  maxSiteRemovals: 2,
  maxLinkRemovals: 4,
  drift: { routes: 'heal', wireguard: 'heal', containerd: 'heal', docker: 'alert', dragonfly: 'heal', cloudRoutes: 'alert', harbor: 'alert' },
};

function plan(changes: Change[], actual: ActualRoutes): HostPlan {
  return { site: 's', revision: 'r', changes, notes: [], actual: new Map([['routes', actual]]) };
}

describe('lockout guard', () => {
  it('refuses to delete or redirect the most specific route to the git remote, and names it', () => {
    const actual = routes('10.0.0.0/8', '10.9.0.0/16', '10.20.0.0/16');
    assert.deepEqual(guard(plan([change('10.9.0.0/16', 'delete')], actual), guardrails, { remoteAddress: REMOTE })?.reasons, [
      "the plan would delete the route to 10.9.0.0/16, which carries this agent's connection to its git remote (10.9.8.7); that would lock the agent out.",
    ]);
    assert.deepEqual(guard(plan([change('10.9.0.0/16', 'update')], actual), guardrails, { remoteAddress: REMOTE })?.reasons, [
      "the plan would update the route to 10.9.0.0/16, which carries this agent's connection to its git remote (10.9.8.7); that would lock the agent out.",
    ]);
  });

  it("lets only a retired site's last step (removing its uplink) delete that route: its agent needs no source any more", () => {
    const actual = routes('10.0.0.0/8', '10.9.0.0/16', '10.20.0.0/16');
    const changes = [change('10.9.0.0/16', 'delete'), change('10.0.0.0/8', 'delete')];
    const teardown: HostPlan = { ...plan(changes, actual), teardown: true };
    assert.equal(guard(teardown, guardrails, { remoteAddress: REMOTE }), undefined);
    assert.deepEqual(guard(plan(changes, actual), guardrails, { remoteAddress: REMOTE })?.reasons, [
      "the plan would delete the route to 10.9.0.0/16, which carries this agent's connection to its git remote (10.9.8.7); that would lock the agent out.",
    ]);
  });

  it('lets other routes change, and a route that only the less specific one would carry', () => {
    const actual = routes('10.0.0.0/8', '10.9.0.0/16', '10.20.0.0/16');
    assert.equal(guard(plan([change('10.20.0.0/16', 'delete'), change('10.0.0.0/8', 'update')], actual), guardrails, { remoteAddress: REMOTE }), undefined);
    assert.equal(guard(plan([change('10.9.0.0/16', 'create')], actual), guardrails, { remoteAddress: REMOTE }), undefined);
  });

  it('knows a host route written without a prefix, and does nothing without a remote address', () => {
    const actual = routes('10.9.8.7');
    assert.match(guard(plan([change('10.9.8.7/32', 'delete')], actual), guardrails, { remoteAddress: REMOTE })?.reasons[0] ?? '', /route to 10\.9\.8\.7\/32/);
    assert.equal(guard(plan([change('10.9.8.7/32', 'delete')], actual), guardrails), undefined);
  });
});

describe('lockout guard in the engine (reconcileHost)', () => {
  const desired: Desired = { site: 's', roles: ['gateway'], routes: [], wireguard: [] };
  const store = { save: async () => undefined } as unknown as StateStore;
  const deps = (provider: Provider<unknown>): HostDeps => ({
    providers: [provider],
    exec: { run: async () => ({ code: 0, stdout: '', stderr: '' }) } as unknown as HostDeps['exec'],
    files: {} as HostFiles,
    secrets: hostSecrets({ env: {} }),
    log: silentLogger(),
    commands: DEFAULT_COMMANDS,
  });

  it('looks the git remote up only when there is something to apply, and refuses to heal the route that carries it', async () => {
    let lookups = 0;
    const remoteAddress = async () => {
      lookups++;
      return REMOTE;
    };
    const applied: Change[] = [];
    const actual = { value: routes('10.9.0.0/16') };
    let wanted = [change('10.9.0.0/16', 'noop')];
    const provider = fakeRoutes(actual, () => wanted, applied);
    const input = { desired, revision: 'r', guardrails, remoteAddress };
    const inSync = await reconcileHost(input, deps(provider), store, structuredClone(EMPTY_STATE));
    assert.deepEqual([inSync.kind, lookups], ['applied', 0]);

    wanted = [change('10.9.0.0/16', 'update')];
    const select = (p: HostPlan) => p.changes.filter((c) => c.action !== 'noop');
    const healing = await reconcileHost(input, deps(provider), store, structuredClone(EMPTY_STATE), { select });
    assert.equal(lookups, 1);
    assert.deepEqual(healing.kind === 'blocked' && healing.refusal.reasons, [
      "the plan would update the route to 10.9.0.0/16, which carries this agent's connection to its git remote (10.9.8.7); that would lock the agent out.",
    ]);
    assert.deepEqual(applied, []);

    const nothingChosen = await reconcileHost(input, deps(provider), store, structuredClone(EMPTY_STATE), { select: () => [] });
    assert.deepEqual([nothingChosen.kind, lookups, applied], ['applied', 1, []]);
  });
});

describe('lockout guard in the agent', () => {
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'mn-lockout-'));
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  const agentWith = (provider: Provider<unknown>, revision: { value: string }, events: AgentEvent[]) =>
    stubAgent(dir, provider, revision, { value: guardrails }, events);

  it('blocks a new revision that would delete the route to its git remote, and applies nothing', async () => {
    const applied: Change[] = [];
    const events: AgentEvent[] = [];
    const actual = { value: routes('10.9.0.0/16') };
    const agent = agentWith(
      fakeRoutes(actual, () => [change('10.9.0.0/16', 'delete')], applied),
      { value: 'a'.repeat(40) },
      events,
    );
    const result = await agent.tick('test');
    assert.equal(result.kind, 'blocked');
    assert.deepEqual(applied, []);
    assert.deepEqual(
      events.map((e) => e.kind),
      ['guardrail-blocked'],
    );
  });

  it('does not heal drift by redirecting the route to its git remote: it alerts and leaves the route alone', async () => {
    const applied: Change[] = [];
    const events: AgentEvent[] = [];
    const actual = { value: routes('10.9.0.0/16') };
    let drifted = false;
    const provider = fakeRoutes(actual, () => (drifted ? [change('10.9.0.0/16', 'update')] : [change('10.9.0.0/16', 'noop')]), applied);
    const agent = agentWith(provider, { value: 'b'.repeat(40) }, events);
    assert.equal((await agent.tick('first')).kind, 'in-sync');
    drifted = true; // someone pointed the route elsewhere by hand; healing would change the route the agent uses
    const result = await agent.tick('drift');
    assert.deepEqual(applied, []);
    assert.deepEqual(result, { kind: 'drift', revision: 'b'.repeat(40), healed: [], alerted: ['routes'] });
    const blocked = events.filter((e) => e.kind === 'guardrail-blocked');
    assert.equal(blocked.length, 1);
    assert.match(blocked[0]!.message, /did not heal drift: the plan would update the route to 10\.9\.0\.0\/16, which carries this agent's connection/);
  });
});
