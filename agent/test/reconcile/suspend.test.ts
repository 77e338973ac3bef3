// A suspended site (`mirrornet suspend`): its agents apply no new revision and heal no drift, but still
// report drift; after `mirrornet resume` both happen again.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Guardrails } from '../../src/model/schema.js';
import type { Change } from '../../src/providers/types.js';
import { SourceError } from '../../src/errors.js';
import type { AgentEvent } from '../../src/reconcile/events.js';
import { change, fakeRoutes, routes, stubAgent } from './stub-agent.js';

const guardrails: Guardrails = {
  kind: 'Guardrails',
  name: 'guardrails',
  maxDeletionsPerApply: 10,
  protectedDestinations: [],
  maxSiteRemovals: 2,
  maxLinkRemovals: 4,
  drift: { routes: 'heal', wireguard: 'heal', containerd: 'heal', docker: 'alert', dragonfly: 'heal', cloudRoutes: 'alert', harbor: 'alert' },
};
const A = 'a'.repeat(40);
const B = 'b'.repeat(40);

describe('a suspended site', () => {
  let dir: string;
  beforeEach(() => (dir = mkdtempSync(join(tmpdir(), 'mirrornet-suspend-'))));
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it('reports a hand-made drift without healing it, and leaves a new revision unapplied, until it is resumed', async () => {
    const applied: Change[] = [];
    const events: AgentEvent[] = [];
    const actual = { value: routes('10.20.0.0/16') };
    let drifted = false;
    const provider = fakeRoutes(actual, () => (drifted ? [change('10.20.0.0/16', 'update')] : [change('10.20.0.0/16', 'noop')]), applied);
    let suspended = false;
    const revision = { value: A };
    const agent = stubAgent(dir, provider, revision, { value: guardrails }, events, { options: { suspended: () => suspended } });
    assert.equal((await agent.tick('first')).kind, 'in-sync');

    const seen = events.length;
    suspended = true;
    drifted = true;
    revision.value = B;
    assert.deepEqual(await agent.tick('drift'), { kind: 'suspended', revision: A, offered: B, drifted: ['routes'] });
    assert.deepEqual(applied, [], 'nothing healed, nothing applied');
    assert.deepEqual(
      events.slice(seen).map((e) => [e.kind, e.revision.slice(0, 1), e.component]),
      [['drift-detected', 'a', 'routes']],
    );

    suspended = false;
    const resumed = await agent.tick('resume');
    assert.deepEqual(resumed, { kind: 'applied', revision: B, changes: 1 });
    assert.deepEqual(applied, [change('10.20.0.0/16', 'update')]);
  });

  it('a host that has applied nothing yet waits too', async () => {
    const applied: Change[] = [];
    const provider = fakeRoutes({ value: routes() }, () => [change('10.20.0.0/16', 'create')], applied);
    const agent = stubAgent(dir, provider, { value: A }, { value: guardrails }, [], { options: { suspended: () => true } });
    assert.deepEqual(await agent.tick('first'), { kind: 'suspended', revision: A, offered: A, drifted: [] });
    assert.deepEqual(applied, []);
  });

  it('a suspension that comes while a new revision is validated holds it: nothing applied', async () => {
    const applied: Change[] = [];
    const provider = fakeRoutes({ value: routes('10.20.0.0/16') }, () => [change('10.20.0.0/16', 'noop')], applied);
    let suspended = false;
    const revision = { value: A };
    const desired = { site: 'cn-shanghai', roles: ['gateway' as const], routes: [], wireguard: [] };
    const evaluate = async () => {
      if (revision.value === B) suspended = true; // `mirrornet suspend` arrives during validation
      return { valid: true as const, desired, guardrails };
    };
    const agent = stubAgent(dir, provider, revision, { value: guardrails }, [], { options: { suspended: () => suspended }, evaluate });
    assert.equal((await agent.tick('first')).kind, 'in-sync');
    provider.diff = () => [change('10.20.0.0/16', 'delete')];
    revision.value = B;
    assert.deepEqual(await agent.tick('push'), { kind: 'suspended', revision: A, offered: B, drifted: ['routes'] });
    assert.deepEqual(applied, []);
  });

  it('with its source unreachable, a suspended site still only reports drift', async () => {
    const applied: Change[] = [];
    let drifted = false;
    const provider = fakeRoutes({ value: routes('10.20.0.0/16') }, () => [change('10.20.0.0/16', drifted ? 'update' : 'noop')], applied);
    let suspended = false;
    let down = false;
    const revision = {
      get value(): string {
        if (down) throw new SourceError('the registry does not answer', { unreachable: true });
        return A;
      },
    };
    const agent = stubAgent(dir, provider, revision, { value: guardrails }, [], { options: { suspended: () => suspended } });
    assert.equal((await agent.tick('first')).kind, 'in-sync');
    suspended = true;
    down = true;
    drifted = true;
    assert.deepEqual(await agent.tick('drift'), { kind: 'suspended', revision: A, offered: A, drifted: ['routes'] });
    assert.deepEqual(applied, []);
  });
});
