// The guardrails that judge a revision are those of the revision applied before it: a commit that deletes
// a lot cannot raise its own limit in the same commit (like Argo CD's protected settings).
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Guardrails } from '../../src/model/schema.js';
import type { Change } from '../../src/providers/types.js';
import type { AgentEvent } from '../../src/reconcile/events.js';
import { change, fakeRoutes, routes, stubAgent } from './stub-agent.js';

const limit = (maxDeletionsPerApply: number): Guardrails => ({
  kind: 'Guardrails',
  name: 'guardrails',
  maxDeletionsPerApply,
  protectedDestinations: [],
  maxSiteRemovals: 2,
  maxLinkRemovals: 4,
  drift: { routes: 'alert', wireguard: 'alert', containerd: 'alert', docker: 'alert', dragonfly: 'alert', cloudRoutes: 'alert', harbor: 'alert' },
});

describe('guardrails in force', () => {
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'mn-guardrails-'));
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it('a revision that deletes three routes and raises the limit to 10 is judged by the old limit of 1, and applies nothing', async () => {
    const applied: Change[] = [];
    const events: AgentEvent[] = [];
    const actual = { value: routes('10.1.0.0/16', '10.2.0.0/16', '10.3.0.0/16') };
    let deleting = false;
    const deletions = () => (deleting ? ['10.1.0.0/16', '10.2.0.0/16', '10.3.0.0/16'].map((d) => change(d, 'delete')) : []);
    const revision = { value: '1'.repeat(40) };
    const guardrails = { value: limit(1) };
    const agent = stubAgent(dir, fakeRoutes(actual, deletions, applied), revision, guardrails, events);
    assert.equal((await agent.tick('first')).kind, 'in-sync');

    revision.value = '2'.repeat(40);
    guardrails.value = limit(10);
    deleting = true;
    const result = await agent.tick('second');
    assert.equal(result.kind, 'blocked');
    assert.deepEqual(result.kind === 'blocked' ? result.reasons : [], [
      'the plan deletes 3 resources; the guardrail allows 1 per apply (policies/guardrails.yaml maxDeletionsPerApply). ' +
        'If this is intended, raise the limit in a pull request of its own first: agents judge a revision by the guardrails applied before it.',
    ]);
    assert.deepEqual(applied, []);
  });

  it('a raised limit takes effect one revision later', async () => {
    const applied: Change[] = [];
    const actual = { value: routes('10.1.0.0/16', '10.2.0.0/16', '10.3.0.0/16') };
    let deleting = false;
    const deletions = () => (deleting ? ['10.1.0.0/16', '10.2.0.0/16', '10.3.0.0/16'].map((d) => change(d, 'delete')) : []);
    const revision = { value: '1'.repeat(40) };
    const guardrails = { value: limit(1) };
    const agent = stubAgent(dir, fakeRoutes(actual, deletions, applied), revision, guardrails, []);
    assert.equal((await agent.tick('first')).kind, 'in-sync');
    // Only the limit changes: applied, and from now on the limit is 10.
    revision.value = '2'.repeat(40);
    guardrails.value = limit(10);
    assert.equal((await agent.tick('raise')).kind, 'in-sync');
    // The deletions come in the next revision and pass.
    revision.value = '3'.repeat(40);
    deleting = true;
    assert.deepEqual(await agent.tick('delete'), { kind: 'applied', revision: '3'.repeat(40), changes: 3 });
    assert.deepEqual(
      applied.map((c) => `${c.action} ${c.id}`),
      ['delete 10.1.0.0/16', 'delete 10.2.0.0/16', 'delete 10.3.0.0/16'],
    );
  });
});
