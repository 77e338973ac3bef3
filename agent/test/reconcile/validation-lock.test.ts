// Validating a new revision never holds the apply lock: a real Agent over stand-ins, with an evaluation the test
// holds open. Meanwhile another agent (or `mirrornet apply`) can take the lock; and when it applied something in
// that time, the agent starts over instead of applying an older revision over a newer one.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Desired } from '../../src/desired/types.js';
import type { AgentEvent } from '../../src/reconcile/events.js';
import type { Guardrails } from '../../src/model/schema.js';
import { StateStore } from '../../src/reconcile/state.js';
import { change, fakeRoutes, routes, stubAgent } from './stub-agent.js';

const REV = '1111111111111111111111111111111111111111';
const GUARDRAILS: { value: Guardrails } = {
  value: {
    kind: 'Guardrails',
    name: 'guardrails',
    maxDeletionsPerApply: 10,
    maxSiteRemovals: 2,
    maxLinkRemovals: 4,
    protectedDestinations: [],
    drift: { routes: 'alert', wireguard: 'alert', containerd: 'alert', docker: 'alert', dragonfly: 'alert', cloudRoutes: 'alert', harbor: 'alert' },
  },
};

/** A promise with its resolve outside. */
function gate(): { promise: Promise<void>; open: () => void } {
  let open!: () => void;
  const promise = new Promise<void>((r) => (open = r));
  return { promise, open };
}

describe('validation and the apply lock', function () {
  let dir: string;
  beforeEach(function () {
    dir = mkdtempSync(join(tmpdir(), 'mn-stall-lock-'));
  });
  afterEach(function () {
    rmSync(dir, { recursive: true, force: true });
  });

  it('while a new revision is validated, another agent (or mirrornet apply) can take the apply lock at once', async function () {
    const validating = gate();
    const finish = gate();
    const applied: ReturnType<typeof change>[] = [];
    const desired: Desired = { site: 'cn-shanghai', roles: ['gateway'], routes: [], wireguard: [] };
    const agent = stubAgent(
      dir,
      fakeRoutes({ value: routes() }, () => [change('10.1.0.0/16', 'create')], applied),
      { value: REV },
      GUARDRAILS,
      [],
      {
        evaluate: async () => {
          validating.open();
          await finish.promise;
          return { valid: true, desired };
        },
      },
    );
    const tick = agent.tick('test');
    await validating.promise;
    let took = false;
    await new StateStore(join(dir, 'state')).withLock(
      async () => {
        took = true;
      },
      { waitMs: 0 },
    );
    assert.equal(took, true, 'the apply lock is free during the validation');
    finish.open();
    assert.deepEqual(await tick, { kind: 'applied', revision: REV, changes: 1 });
    assert.deepEqual(
      applied.map((c) => c.id),
      ['10.1.0.0/16'],
    );
  });

  it('told to stop while it validates, it applies nothing, reports no failure, and starts no further reconcile', async function () {
    const validating = gate();
    const finish = gate();
    const applied: ReturnType<typeof change>[] = [];
    const events: AgentEvent[] = [];
    const desired: Desired = { site: 'cn-shanghai', roles: ['gateway'], routes: [], wireguard: [] };
    const agent = stubAgent(
      dir,
      fakeRoutes({ value: routes() }, () => [change('10.1.0.0/16', 'create')], applied),
      { value: REV },
      GUARDRAILS,
      events,
      {
        evaluate: async () => {
          validating.open();
          await finish.promise;
          return { valid: true, desired };
        },
      },
    );
    const tick = agent.tick('test');
    await validating.promise;
    const stopped = agent.stop();
    finish.open();
    await stopped;
    assert.deepEqual(await tick, { kind: 'failed', revision: 'unknown', step: 'stop', reason: 'the agent is stopping' });
    assert.deepEqual(await agent.tick('webhook'), { kind: 'failed', revision: 'unknown', step: 'stop', reason: 'the agent is stopping' });
    assert.deepEqual(applied, [], 'nothing applied after the stop');
    assert.deepEqual(
      events.map((e) => e.kind),
      [],
      'no apply-failed (or any) event for a reconcile cut short by the stop',
    );
  });

  it('when another agent applied a newer revision during the validation, it does not roll the host back: it starts over, in sync', async function () {
    const REV2 = '2222222222222222222222222222222222222222';
    const validating = gate();
    const finish = gate();
    const applied: ReturnType<typeof change>[] = [];
    const wanted: { value: ReturnType<typeof change>[] } = { value: [change('10.1.0.0/16', 'create')] };
    const remote = { value: REV };
    const desired: Desired = { site: 'cn-shanghai', roles: ['gateway'], routes: [], wireguard: [] };
    let evaluations = 0;
    const agent = stubAgent(
      dir,
      fakeRoutes({ value: routes() }, () => wanted.value, applied),
      remote,
      GUARDRAILS,
      [],
      {
        evaluate: async () => {
          evaluations++;
          validating.open();
          await finish.promise;
          return { valid: true, desired };
        },
      },
    );
    const tick = agent.tick('test');
    await validating.promise;
    // Meanwhile the branch moves on and another agent applies its newest revision, under the lock, as this one would.
    remote.value = REV2;
    const store = new StateStore(join(dir, 'state'));
    await store.withLock(async () => {
      writeFileSync(join(dir, 'state', 'desired.json'), `${JSON.stringify({ desired })}\n`);
      await store.save({ version: 1, appliedRevision: REV2, inventory: { routes: ['10.1.0.0/16'] }, drift: {} });
      wanted.value = [];
    });
    finish.open();
    assert.deepEqual(await tick, { kind: 'in-sync', revision: REV2 });
    assert.equal((await store.load()).appliedRevision, REV2, 'the older revision was not applied over the newer one');
    assert.deepEqual(applied, []);
    assert.equal(evaluations, 1, 'the newer revision, applied already, is not validated again');
  });
});
