// The core's steering store: what each request does to a site's Steering, what it writes to steering.json,
// what a restarted core reads back, and the refusal of a site the core does not know.
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SteeringStore } from '../../../src/report/site/steering.js';

const T0 = Date.parse('2025-03-01T12:00:00.000Z');
const SITES = ['cn-beijing', 'cn-shanghai'];

describe('SteeringStore (steering.json)', () => {
  let dir: string;
  beforeEach(() => (dir = mkdtempSync(join(tmpdir(), 'mn-steering-'))));
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it('suspends a site by whom and why, bumping its generation, and writes it atomically with mode 0600', async () => {
    const store = await SteeringStore.open(dir);
    assert.deepEqual(store.get('cn-beijing'), { generation: 0 });
    const out = await store.apply({ site: 'cn-beijing', action: 'suspend', reason: 'maintenance window' }, 'alice@example.org', T0, SITES);
    assert.deepEqual(out, {
      ok: true,
      sites: [
        {
          site: 'cn-beijing',
          steering: { generation: 1740830400, suspended: { by: 'alice@example.org', reason: 'maintenance window', at: '2025-03-01T12:00:00.000Z' } },
        },
      ],
    });
    assert.deepEqual(JSON.parse(readFileSync(join(dir, 'steering.json'), 'utf8')), {
      version: 1,
      sites: { 'cn-beijing': { generation: 1740830400, suspended: { by: 'alice@example.org', reason: 'maintenance window', at: '2025-03-01T12:00:00.000Z' } } },
    });
    assert.equal(statSync(join(dir, 'steering.json')).mode & 0o777, 0o600);
    assert.deepEqual(store.get('cn-shanghai'), { generation: 0 });
  });

  it('resumes a suspended site (generation bumped again), and a reconcile keeps a suspension', async () => {
    const store = await SteeringStore.open(dir);
    await store.apply({ site: 'cn-beijing', action: 'suspend', reason: 'maintenance' }, 'alice@example.org', T0, SITES);
    const reconciled = await store.apply({ site: 'cn-beijing', action: 'reconcile' }, 'bob@example.org', T0 + 60_000, SITES);
    assert.deepEqual(reconciled, {
      ok: true,
      sites: [
        {
          site: 'cn-beijing',
          steering: {
            generation: 1740830460,
            suspended: { by: 'alice@example.org', reason: 'maintenance', at: '2025-03-01T12:00:00.000Z' },
            reconcile: { generation: 1740830460, by: 'bob@example.org', at: '2025-03-01T12:01:00.000Z' },
          },
        },
      ],
    });
    const resumed = await store.apply({ site: 'cn-beijing', action: 'resume' }, 'alice@example.org', T0 + 120_000, SITES);
    assert.deepEqual(resumed, {
      ok: true,
      sites: [
        {
          site: 'cn-beijing',
          steering: { generation: 1740830520, reconcile: { generation: 1740830460, by: 'bob@example.org', at: '2025-03-01T12:01:00.000Z' } },
        },
      ],
    });
  });

  it('asks every known site to reconcile with all: true, each at its own next generation', async () => {
    const store = await SteeringStore.open(dir);
    await store.apply({ site: 'cn-shanghai', action: 'reconcile' }, 'alice@example.org', T0 + 1000, SITES);
    const out = await store.apply({ all: true, action: 'reconcile' }, 'alice@example.org', T0 + 1000, SITES);
    assert.deepEqual(out, {
      ok: true,
      sites: [
        {
          site: 'cn-beijing',
          steering: { generation: 1740830401, reconcile: { generation: 1740830401, by: 'alice@example.org', at: '2025-03-01T12:00:01.000Z' } },
        },
        {
          site: 'cn-shanghai',
          steering: { generation: 1740830402, reconcile: { generation: 1740830402, by: 'alice@example.org', at: '2025-03-01T12:00:01.000Z' } },
        },
      ],
    });
  });

  it('refuses a site it does not know, naming those it knows, and changes nothing', async () => {
    const store = await SteeringStore.open(dir);
    assert.deepEqual(await store.apply({ site: 'cn-beijnig', action: 'reconcile' }, 'alice@example.org', T0, SITES), {
      ok: false,
      status: 404,
      reason: 'This core knows no site "cn-beijnig" (its sites: cn-beijing, cn-shanghai); nothing was changed.',
    });
    assert.deepEqual(await store.apply({ all: true, action: 'reconcile' }, 'alice@example.org', T0, []), {
      ok: false,
      status: 404,
      reason: 'This core knows no site to steer (no site has reported to it yet); nothing was changed.',
    });
    assert.throws(() => statSync(join(dir, 'steering.json')), { code: 'ENOENT' });
  });

  it('reads back what a previous core wrote', async () => {
    const first = await SteeringStore.open(dir);
    await first.apply({ site: 'cn-beijing', action: 'suspend', reason: 'maintenance' }, 'alice@example.org', T0, SITES);
    const again = await SteeringStore.open(dir);
    assert.deepEqual(again.get('cn-beijing'), {
      generation: 1740830400,
      suspended: { by: 'alice@example.org', reason: 'maintenance', at: '2025-03-01T12:00:00.000Z' },
    });
    assert.deepEqual(again.steeredSites(), ['cn-beijing']);
  });

  it('keeps two requests that arrive together, one after the other', async () => {
    const store = await SteeringStore.open(dir);
    await Promise.all([
      store.apply({ site: 'cn-beijing', action: 'reconcile' }, 'alice@example.org', T0, SITES),
      store.apply({ site: 'cn-beijing', action: 'suspend', reason: 'hold' }, 'bob@example.org', T0, SITES),
    ]);
    assert.deepEqual((await SteeringStore.open(dir)).get('cn-beijing'), {
      generation: 1740830401,
      suspended: { by: 'bob@example.org', reason: 'hold', at: '2025-03-01T12:00:00.000Z' },
      reconcile: { generation: 1740830400, by: 'alice@example.org', at: '2025-03-01T12:00:00.000Z' },
    });
  });

  it('starts above every generation it handed out before when its file was moved away', async () => {
    const first = await SteeringStore.open(dir);
    await first.apply({ site: 'cn-beijing', action: 'suspend', reason: 'maintenance' }, 'alice@example.org', T0, SITES);
    await first.apply({ site: 'cn-beijing', action: 'resume' }, 'alice@example.org', T0, SITES);
    assert.equal(first.get('cn-beijing').generation, 1740830401);
    rmSync(join(dir, 'steering.json'));
    const fresh = await SteeringStore.open(dir);
    const out = await fresh.apply({ site: 'cn-beijing', action: 'suspend', reason: 'again' }, 'alice@example.org', T0 + 5000, SITES);
    assert.deepEqual(out, {
      ok: true,
      sites: [
        { site: 'cn-beijing', steering: { generation: 1740830405, suspended: { by: 'alice@example.org', reason: 'again', at: '2025-03-01T12:00:05.000Z' } } },
      ],
    });
  });

  it('refuses to start from a corrupt file rather than forget a suspension', async () => {
    writeFileSync(join(dir, 'steering.json'), '{"version":1,"sites":{"cn-beijing":{"generation":-1}}}');
    await assert.rejects(SteeringStore.open(dir), {
      userMessage: `The steering file ${join(dir, 'steering.json')} is corrupt; fix it, or move it away to forget every suspension and reconcile request.`,
    });
  });
});
