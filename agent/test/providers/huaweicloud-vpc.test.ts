// The Huawei Cloud VPC route-table provider against the emulator, through the real SDK: plan, apply,
// idempotence, drift, ownership, quota, faults (429, 500, resets, timeouts) and secret hygiene.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { inspect } from 'node:util';
import type { Logger } from 'pino';
import type { Desired, DesiredCloudRoute } from '../../src/desired/types.js';
import { startHuaweiVpcEmulator, type HuaweiVpcEmulator } from '../../src/testbed/emulators/huaweicloud-vpc/index.js';
import { HUAWEI_VPC_CONSTRAINTS } from '../../src/model/constraints/huaweicloud-vpc.js';
import { requestKeys } from '../support/inventory-keys.js';
import type { EmuRoute } from '../../src/testbed/emulators/huaweicloud-vpc/schema.js';
import { hostSecrets } from '../../src/host/secrets.js';
import { createLogger } from '../../src/log.js';
import { remainingBatch } from '../../src/providers/huaweicloud-vpc/batch.js';
import { createVpcClient, silenceSdkLogging, type VpcRouteApi } from '../../src/providers/huaweicloud-vpc/client.js';
import { resolveHuaweiCredentials, vpcEndpoint } from '../../src/providers/huaweicloud-vpc/credentials.js';
import { HuaweiVpcError } from '../../src/providers/huaweicloud-vpc/errors.js';
import type { RetryOptions } from '../../src/providers/huaweicloud-vpc/retry.js';
import {
  cloudRouteDeletions,
  CloudRoutesApplyError,
  createHuaweiVpcProvider,
  diffCloudRoutes,
  huaweiVpcClientFactory,
  isOwned,
  planTable,
  RouteQuotaRefusal,
  type ActualCloud,
  type CloudChangeData,
} from '../../src/providers/huaweicloud-vpc/index.js';
import { DEFAULT_COMMANDS, type Change, type Provider, type ProviderContext } from '../../src/providers/types.js';
import { applyHost, pendingChanges, planHost } from '../../src/reconcile/engine.js';
import { StateStore } from '../../src/reconcile/state.js';

const require = createRequire(import.meta.url);

const PID = '5e6f7a8b9c0d1e2f3a4b5c6d7e8f9a0b';
const AK = 'MNTESTAKQWERTYUIOP12';
const SK = 'mn-test-sk-Zx8Vq2Lp9Rt4Wm7Yn3Kd6Hs1';
const SITE = 'ap-jakarta';
const MARKER = `mirrornet:${SITE}`;
const LOCALS: EmuRoute[] = [
  { type: 'local', destination: '192.168.0.0/16', nexthop: 'local' },
  { type: 'local', destination: '100.64.0.0/10', nexthop: 'local' },
];
const FOREIGN: EmuRoute = { type: 'nat', destination: '0.0.0.0/0', nexthop: 'nat-gw-1', description: 'internet egress (by hand)' };

function route(destination: string, nexthop = 'vpngw-1', type: DesiredCloudRoute['type'] = 'vpn', link = 'jakarta-core'): DesiredCloudRoute {
  return { destination, type, nexthop, description: `${MARKER} ${link}` };
}

function desiredWith(routes: DesiredCloudRoute[], tables: string[] = ['rtb-1']): Desired {
  return {
    site: SITE,
    roles: ['gateway'],
    routes: [],
    wireguard: [],
    cloud: { provider: 'huaweicloud', region: 'ap-southeast-4', projectId: PID, marker: MARKER, tables: tables.map((id) => ({ id, routes })) },
  };
}

/** `n` distinct /24 destinations. */
function many(n: number, nexthop = 'vpngw-1'): DesiredCloudRoute[] {
  return Array.from({ length: n }, (_, i) => route(`10.${100 + Math.floor(i / 256)}.${i % 256}.0/24`, nexthop));
}

const WANT = [route('10.1.0.0/16'), route('10.2.0.0/16', 'peer-1', 'peering', 'peer-link'), route('10.3.0.0/16', 'cc-1', 'cc', 'cc-link')];

/** The inventory keys of every request the provider sent to an emulator of this file. */
const SENT = new Set<string>();
function recordKeys(r: { method: string; path: string; query: string; body: unknown }): void {
  const template = r.path.split('/').length > 4 ? '/v1/{project_id}/routetables/{routetable_id}' : '/v1/{project_id}/routetables';
  for (const k of requestKeys({ method: r.method, template, query: new URLSearchParams(r.query), body: r.body })) SENT.add(k);
}

async function emulator(tables: Record<string, EmuRoute[]> = { 'rtb-1': [...LOCALS, FOREIGN], 'rtb-2': [...LOCALS] }): Promise<HuaweiVpcEmulator> {
  return startHuaweiVpcEmulator({
    onRequest: recordKeys,
    credentials: [{ ak: AK, sk: SK }],
    projects: { [PID]: { routetables: Object.entries(tables).map(([id, routes]) => ({ id, vpc_id: 'vpc-1', routes })) } },
  });
}

function quiet(): RetryOptions & { delays: number[] } {
  const delays: number[] = [];
  return { delays, attempts: 4, sleep: async (ms) => void delays.push(ms) };
}

function client(emu: HuaweiVpcEmulator, o: { sk?: string; retry?: RetryOptions; timeoutMs?: number; log?: Logger } = {}): VpcRouteApi {
  return createVpcClient({
    endpoint: emu.url,
    ak: AK,
    sk: o.sk ?? SK,
    projectId: PID,
    timeoutMs: o.timeoutMs ?? 3000,
    retry: o.retry ?? quiet(),
    ...(o.log ? { log: o.log } : {}),
  });
}

function context(
  notes: string[],
  inventory: Iterable<string>,
  log: Logger = createLogger({ level: 'silent', destination: { write: () => undefined } }),
): ProviderContext {
  return { exec: {} as never, files: {} as never, secrets: hostSecrets({ env: {} }), log, commands: DEFAULT_COMMANDS, notes, inventory: [...inventory] };
}

interface Tick {
  changes: Change[];
  pending: Change[];
  notes: string[];
  actual: ActualCloud;
  error?: Error;
}

/** One reconcile as the engine runs it: read, diff, write-ahead inventory, apply, inventory after. */
async function tick(provider: Provider<ActualCloud>, desired: Desired, inventory: Set<string>, log?: Logger): Promise<Tick> {
  const notes: string[] = [];
  const ctx = context(notes, inventory, log);
  const actual = await provider.read(ctx, desired);
  const changes = provider.diff(desired, actual, inventory);
  const pending = changes.filter((c) => c.action !== 'noop');
  const out: Tick = { changes, pending, notes, actual };
  for (const c of pending) if (c.action === 'create' || c.action === 'update') inventory.add(c.id);
  if (pending.length) {
    try {
      const outcome = await provider.apply(context([], inventory, log), pending, desired, actual);
      for (const id of outcome.deleted) inventory.delete(id);
    } catch (err) {
      out.error = err as Error;
    }
  }
  return out;
}

function routesOf(emu: HuaweiVpcEmulator, id = 'rtb-1'): EmuRoute[] {
  return [...emu.state.table(PID, id)!.routes].sort((a, b) => (a.destination < b.destination ? -1 : 1));
}

/** The table holds exactly the foreign routes given plus the desired routes, once each. */
function assertConverged(emu: HuaweiVpcEmulator, desired: DesiredCloudRoute[], others: EmuRoute[], id = 'rtb-1'): void {
  const have = routesOf(emu, id);
  const dsts = have.map((r) => r.destination);
  assert.equal(new Set(dsts).size, dsts.length, 'no duplicate destination');
  const expected = [...others, ...desired.map((r) => ({ type: r.type, destination: r.destination, nexthop: r.nexthop, description: r.description }))].sort(
    (a, b) => (a.destination < b.destination ? -1 : 1),
  );
  assert.deepEqual(have, expected);
}

function calls(emu: HuaweiVpcEmulator): { gets: number; puts: number; total: number } {
  const e = emu.log.entries();
  return { gets: e.filter((x) => x.method === 'GET').length, puts: e.filter((x) => x.method === 'PUT').length, total: e.length };
}

describe('huaweicloud-vpc provider', function () {
  let emu: HuaweiVpcEmulator;
  afterEach(async () => {
    await emu?.close();
  });

  describe('diff (pure)', () => {
    it('plans one change per table: adds, del + add for a changed next hop, prunes marked routes only', () => {
      const desired = desiredWith([route('10.1.0.0/16', 'vpngw-2'), route('10.2.0.0/16'), route('10.9.0.0/16')], ['rtb-1', 'rtb-2']);
      const actual: ActualCloud = {
        projectId: PID,
        endpoint: 'http://x',
        marker: MARKER,
        tables: [
          {
            id: 'rtb-1',
            found: true,
            routes: [
              ...LOCALS,
              FOREIGN,
              { type: 'vpn', destination: '10.1.0.0/16', nexthop: 'vpngw-1', description: `${MARKER} jakarta-core` },
              { type: 'vpn', destination: '10.2.0.0/16', nexthop: 'vpngw-1', description: `${MARKER} jakarta-core` },
              { type: 'vpn', destination: '10.7.0.0/16', nexthop: 'vpngw-1', description: `${MARKER} old-link` },
              { type: 'vpn', destination: '10.8.0.0/16', nexthop: 'vpngw-1', description: 'mirrornet:ap-jakarta-2 other-site' },
              { type: 'ecs', destination: '10.9.0.0/16', nexthop: 'ecs-9', description: 'hand-made' },
            ],
          },
          {
            id: 'rtb-2',
            found: true,
            routes: [...LOCALS, { type: 'vpn', destination: '10.1.0.0/16', nexthop: 'vpngw-2', description: `${MARKER} jakarta-core` }],
          },
          { id: 'rtb-old', found: true, routes: [{ type: 'vpn', destination: '10.5.0.0/16', nexthop: 'g', description: `${MARKER} x` }, FOREIGN] },
          { id: 'rtb-gone', found: false, routes: [] },
        ],
      };
      const changes = diffCloudRoutes(desired, actual, new Set(['rtb-1', 'rtb-old', 'rtb-gone']));
      assert.deepEqual(
        changes.map((c) => [c.id, c.action]),
        [
          ['rtb-1', 'update'],
          ['rtb-2', 'update'],
          ['rtb-gone', 'delete'],
          ['rtb-old', 'delete'],
        ],
      );
      const d1 = changes[0]!.data as CloudChangeData;
      assert.deepEqual(
        d1.add.map((r) => `${r.destination} ${r.nexthop}`),
        ['10.1.0.0/16 vpngw-2'],
      );
      assert.deepEqual(
        d1.del.map((r) => r.destination),
        ['10.1.0.0/16', '10.7.0.0/16'],
      );
      assert.match(changes[0]!.reason, /replace 10\.1\.0\.0\/16/);
      assert.match(changes[0]!.reason, /remove 10\.7\.0\.0\/16/);
      assert.match(changes[0]!.reason, /CONFLICT on 10\.9\.0\.0\/16/);
      assert.match(changes[0]!.reason, /left alone: 3 routes without the mirrornet marker and 2 local routes/);
      const d2 = changes[1]!.data as CloudChangeData;
      assert.deepEqual(
        d2.add.map((r) => r.destination),
        ['10.2.0.0/16', '10.9.0.0/16'],
      );
      assert.deepEqual(
        (changes[3]!.data as CloudChangeData).del.map((r) => r.destination),
        ['10.5.0.0/16'],
      );
      assert.deepEqual((changes[2]!.data as CloudChangeData).del, []);
      assert.ok(!isOwned({ type: 'vpn', destination: 'x', nexthop: 'y', description: 'mirrornet:ap-jakarta-2 l' }, MARKER));
      assert.ok(!isOwned({ type: 'local', destination: 'x', nexthop: 'y', description: MARKER }, MARKER));
      // A desired table that does not exist: reported, nothing to apply.
      const missing = diffCloudRoutes(desiredWith(WANT, ['rtb-gone']), actual, new Set());
      assert.equal(missing[0]!.action, 'noop');
      assert.match(missing[0]!.reason, /does not exist/);
    });

    it('checks the 200-route quota (local routes not counted)', () => {
      const table = { id: 'rtb-1', found: true, routes: [...LOCALS, FOREIGN] };
      assert.equal(planTable('rtb-1', many(199), table, MARKER).refusal, undefined);
      const over = planTable('rtb-1', many(200), table, MARKER);
      assert.match(over.refusal!, /would have 201 routes \(1 not mirrornet's, 200 of mirrornet\); Huawei Cloud allows 200/);
      const shrinking = planTable('rtb-1', [], { ...table, routes: [...table.routes, ...many(250).map((r) => ({ ...r }))] }, MARKER);
      assert.equal(shrinking.refusal, undefined, 'a change that shrinks an over-full table is allowed');
    });
  });

  describe('against the emulator', () => {
    it('applies, then the second plan is empty (idempotent); foreign and local routes untouched', async () => {
      emu = await emulator();
      const provider = createHuaweiVpcProvider(client(emu));
      const desired = desiredWith(WANT, ['rtb-1', 'rtb-2']);
      const inventory = new Set<string>();
      const first = await tick(provider, desired, inventory);
      assert.equal(first.error, undefined);
      assert.deepEqual(
        first.pending.map((c) => [c.id, c.action]),
        [
          ['rtb-1', 'update'],
          ['rtb-2', 'update'],
        ],
      );
      assert.deepEqual(calls(emu), { gets: 4, puts: 2, total: 6 }, 'read 2 tables, re-read each before its one PUT');
      assertConverged(
        emu,
        WANT,
        [...LOCALS, FOREIGN].sort((a, b) => (a.destination < b.destination ? -1 : 1)),
      );
      assertConverged(emu, WANT, [...LOCALS], 'rtb-2');
      assert.deepEqual([...inventory].sort(), ['rtb-1', 'rtb-2']);

      emu.log.clear();
      const second = await tick(provider, desired, inventory);
      assert.deepEqual(second.pending, []);
      assert.match(second.changes[0]!.reason, /in sync: 3 routes of mirrornet; left alone: 1 route without the mirrornet marker and 2 local routes/);
      assert.deepEqual(calls(emu), { gets: 2, puts: 0, total: 2 });
    });

    it('a no-op reconcile of a 200-route table makes at most 2 API calls and no write', async () => {
      const desiredRoutes = many(200);
      emu = await emulator({ 'rtb-1': [...LOCALS, ...desiredRoutes.map((r) => ({ ...r }))] });
      const provider = createHuaweiVpcProvider(client(emu));
      const t = await tick(provider, desiredWith(desiredRoutes), new Set(['rtb-1']));
      assert.deepEqual(t.pending, []);
      const c = calls(emu);
      assert.ok(c.total <= 2, `${c.total} calls`);
      assert.equal(c.puts, 0);
      assert.match(t.changes[0]!.reason, /in sync: 200 routes/);
    });

    it('refuses a change beyond the 200-route quota before any call', async () => {
      emu = await emulator();
      const provider = createHuaweiVpcProvider(client(emu));
      const desired = desiredWith(many(200));
      const notes: string[] = [];
      const actual = await provider.read(context(notes, []), desired);
      assert.ok(notes.some((n) => /would have 201 routes/.test(n)));
      const changes = provider.diff(desired, actual, new Set());
      assert.match(changes[0]!.reason, /^REFUSED: /);
      emu.log.clear();
      await assert.rejects(
        provider.apply(context([], []), pendingChanges({ site: SITE, revision: 'r', changes, notes: [], actual: new Map() }), desired, actual),
        (e: CloudRoutesApplyError) => {
          assert.ok(e instanceof CloudRoutesApplyError);
          assert.ok(e.cause instanceof RouteQuotaRefusal);
          assert.match(e.userMessage, /Huawei Cloud allows 200 per table, so mirrornet refuses/);
          return true;
        },
      );
      assert.equal(emu.log.entries().length, 0, 'no API call at all');
    });

    it('heals drift: a route changed, deleted or added behind the agent back; foreign routes stay', async () => {
      emu = await emulator();
      const provider = createHuaweiVpcProvider(client(emu));
      const desired = desiredWith(WANT);
      const inventory = new Set<string>();
      await tick(provider, desired, inventory);
      const stray = { type: 'vpn', destination: '10.66.0.0/16', nexthop: 'vpngw-1', description: `${MARKER} removed-link` };
      const byHand = { type: 'ecs', destination: '10.77.0.0/16', nexthop: 'ecs-7', description: 'ops team' };
      await emu.state.setRoutes(PID, 'rtb-1', [
        ...LOCALS,
        FOREIGN,
        { ...WANT[0]!, nexthop: 'vpngw-OLD' }, // next hop changed
        // WANT[1] deleted
        { ...WANT[2]! },
        stray,
        byHand,
      ]);
      const drift = await tick(provider, desired, inventory);
      assert.equal(drift.error, undefined);
      assert.equal(drift.pending.length, 1);
      const data = drift.pending[0]!.data as CloudChangeData;
      assert.deepEqual(data.add.map((r) => r.destination).sort(), ['10.1.0.0/16', '10.2.0.0/16']);
      assert.deepEqual(data.del.map((r) => r.destination).sort(), ['10.1.0.0/16', '10.66.0.0/16']);
      assertConverged(
        emu,
        WANT,
        [...LOCALS, FOREIGN, byHand].sort((a, b) => (a.destination < b.destination ? -1 : 1)),
      );
      assert.deepEqual((await tick(provider, desired, inventory)).pending, []);
    });

    it('reports a foreign or local route on a wanted destination as a conflict and never overwrites it', async () => {
      const squatter = { type: 'ecs', destination: '10.2.0.0/16', nexthop: 'ecs-2', description: 'someone else' };
      emu = await emulator({ 'rtb-1': [...LOCALS, squatter] });
      const provider = createHuaweiVpcProvider(client(emu));
      const desired = desiredWith([...WANT, route('192.168.0.0/16')]);
      const t = await tick(provider, desired, new Set());
      assert.equal(t.error, undefined);
      assert.ok(
        t.notes.some((n) =>
          /10\.2\.0\.0\/16 should go to peering peer-1, but it is taken by a route mirrornet does not own \(ecs ecs-2, "someone else"\); mirrornet does not overwrite it/.test(
            n,
          ),
        ),
      );
      assert.ok(t.notes.some((n) => /192\.168\.0\.0\/16 .* taken by a system \(local\) route/.test(n)));
      const have = routesOf(emu);
      assert.deepEqual(
        have.find((r) => r.destination === '10.2.0.0/16'),
        squatter,
      );
      assert.ok(have.some((r) => r.destination === '10.1.0.0/16') && have.some((r) => r.destination === '10.3.0.0/16'));
      const again = await tick(provider, desired, new Set(['rtb-1']));
      assert.deepEqual(again.pending, []);
      assert.match(again.changes[0]!.reason, /CONFLICT on 10\.2\.0\.0\/16, 192\.168\.0\.0\/16/);
    });

    it('prunes only marked routes of tables in the inventory; other tables and other sites are left alone', async () => {
      const otherSite = { type: 'vpn', destination: '10.8.0.0/16', nexthop: 'g', description: 'mirrornet:ap-jakarta-2 x' };
      emu = await emulator({
        'rtb-1': [...LOCALS, FOREIGN, otherSite],
        'rtb-2': [...LOCALS],
        'rtb-3': [{ type: 'vpn', destination: '10.1.0.0/16', nexthop: 'vpngw-1', description: `${MARKER} jakarta-core` }],
      });
      const provider = createHuaweiVpcProvider(client(emu));
      const inventory = new Set<string>();
      await tick(provider, desiredWith(WANT, ['rtb-1', 'rtb-2']), inventory);
      // rtb-2 leaves the repository; rtb-3 never was mirrornet's table.
      const t = await tick(provider, desiredWith(WANT, ['rtb-1']), inventory);
      assert.deepEqual(
        t.pending.map((c) => [c.id, c.action]),
        [['rtb-2', 'delete']],
      );
      assert.equal(t.error, undefined);
      assert.deepEqual(
        routesOf(emu, 'rtb-2'),
        [...LOCALS].sort((a, b) => (a.destination < b.destination ? -1 : 1)),
      );
      assert.deepEqual([...inventory], ['rtb-1']);
      assert.equal(routesOf(emu, 'rtb-3').length, 1, 'a table not in the inventory is never pruned');
      assert.ok(
        routesOf(emu).some((r) => r.description === otherSite.description),
        "another site's marker is not ours",
      );
      // The cloud section removed altogether: the inventory still drives the pruning.
      const gone: Desired = { site: SITE, roles: ['gateway'], routes: [], wireguard: [] };
      const last = await tick(provider, gone, inventory);
      assert.deepEqual(
        last.pending.map((c) => [c.id, c.action]),
        [['rtb-1', 'delete']],
      );
      assert.deepEqual(
        routesOf(emu),
        [...LOCALS, FOREIGN, otherSite].sort((a, b) => (a.destination < b.destination ? -1 : 1)),
      );
      assert.deepEqual([...inventory], []);
    });

    it('applies a stale plan safely: never more than planned, never a route changed since', async () => {
      emu = await emulator();
      const provider = createHuaweiVpcProvider(client(emu));
      const inventory = new Set<string>();
      await tick(provider, desiredWith(WANT), inventory);
      // Plan: drop 10.1 and 10.2, add 10.4 and 10.5.
      const desired = desiredWith([WANT[2]!, route('10.4.0.0/16'), route('10.5.0.0/16')]);
      const notes: string[] = [];
      const actual = await provider.read(context(notes, inventory), desired);
      const changes = provider.diff(desired, actual, inventory);
      assert.deepEqual(changes.flatMap(cloudRouteDeletions), ['10.1.0.0/16', '10.2.0.0/16']);
      // Before the apply, someone repoints 10.1 (still marked) and adds a stray marked route.
      const repointed = { ...WANT[0]!, nexthop: 'vpngw-by-hand' };
      const stray = { type: 'vpn', destination: '10.6.0.0/16', nexthop: 'x', description: `${MARKER} stray` };
      const now = routesOf(emu).map((r) => (r.destination === '10.1.0.0/16' ? repointed : r));
      await emu.state.setRoutes(PID, 'rtb-1', [...now, stray]);
      const outcome = await provider.apply(
        context([], inventory),
        pendingChanges({ site: SITE, revision: 'r', changes, notes, actual: new Map() }),
        desired,
        actual,
      );
      assert.equal(outcome.applied.length, 1);
      const have = routesOf(emu);
      assert.deepEqual(
        have.find((r) => r.destination === '10.1.0.0/16'),
        repointed,
        'not deleted: it changed since the plan',
      );
      assert.ok(!have.some((r) => r.destination === '10.2.0.0/16'));
      assert.ok(have.some((r) => r.destination === '10.4.0.0/16') && have.some((r) => r.destination === '10.5.0.0/16'));
      assert.ok(
        have.some((r) => r.destination === '10.6.0.0/16'),
        'not in the plan: left for the next tick',
      );
      // The next tick finishes the job.
      await tick(provider, desired, inventory);
      assertConverged(
        emu,
        [WANT[2]!, route('10.4.0.0/16'), route('10.5.0.0/16')],
        [...LOCALS, FOREIGN].sort((a, b) => (a.destination < b.destination ? -1 : 1)),
      );
    });

    it('absorbs 429 and 500 within a tick: retried with backoff, no duplicate', async () => {
      emu = await emulator();
      const retry = quiet();
      const provider = createHuaweiVpcProvider(client(emu, { retry }));
      emu.faults.next([
        { kind: '429', match: { method: 'PUT' } },
        { kind: '500', match: { method: 'PUT' } },
        { kind: '429', match: { method: 'GET' } },
      ]);
      const t = await tick(provider, desiredWith(WANT), new Set());
      assert.equal(t.error, undefined);
      assertConverged(
        emu,
        WANT,
        [...LOCALS, FOREIGN].sort((a, b) => (a.destination < b.destination ? -1 : 1)),
      );
      assert.deepEqual(
        emu.log.entries().map((e) => `${e.method} ${e.status}`),
        ['GET 429', 'GET 200', 'GET 200', 'PUT 429', 'PUT 500', 'GET 200', 'PUT 200'],
      );
      assert.equal(retry.delays.length, 3);
    });

    it('a connection reset after the server applied the update: re-read, nothing sent twice', async () => {
      emu = await emulator();
      const provider = createHuaweiVpcProvider(client(emu));
      emu.faults.next([{ kind: 'reset', when: 'after', match: { method: 'PUT' } }]);
      const t = await tick(provider, desiredWith(WANT), new Set());
      assert.equal(t.error, undefined);
      assert.deepEqual(
        emu.log.entries().map((e) => `${e.method} ${e.status}`),
        ['GET 200', 'GET 200', 'PUT 0', 'GET 200'],
      );
      assertConverged(
        emu,
        WANT,
        [...LOCALS, FOREIGN].sort((a, b) => (a.destination < b.destination ? -1 : 1)),
      );
    });

    it('a reset before the update, with a replaced route: the retry sends the rest, nothing lost', async () => {
      emu = await emulator();
      const provider = createHuaweiVpcProvider(client(emu));
      const inventory = new Set<string>();
      await tick(provider, desiredWith(WANT), inventory);
      const moved = [{ ...WANT[0]!, nexthop: 'vpngw-2' }, WANT[1]!, WANT[2]!];
      emu.log.clear();
      emu.faults.next([{ kind: 'reset', match: { method: 'PUT' } }]);
      const t = await tick(provider, desiredWith(moved), inventory);
      assert.equal(t.error, undefined);
      assert.deepEqual(
        emu.log.entries().map((e) => `${e.method} ${e.status}`),
        ['GET 200', 'GET 200', 'PUT 0', 'GET 200', 'PUT 200'],
      );
      assertConverged(
        emu,
        moved,
        [...LOCALS, FOREIGN].sort((a, b) => (a.destination < b.destination ? -1 : 1)),
      );
    });

    it('faults beyond the retries fail the tick; the next tick converges with no duplicate and no lost route', async () => {
      emu = await emulator();
      const provider = createHuaweiVpcProvider(client(emu, { retry: { attempts: 1 } }));
      const desired = desiredWith(WANT, ['rtb-1', 'rtb-2']);
      const inventory = new Set<string>();
      const others1 = [...LOCALS, FOREIGN].sort((a, b) => (a.destination < b.destination ? -1 : 1));
      const others2 = [...LOCALS].sort((a, b) => (a.destination < b.destination ? -1 : 1));

      // 429 on rtb-1's update: rtb-2 still applied, rtb-1 left to the next tick.
      emu.faults.next([{ kind: '429', match: { method: 'PUT', path: 'rtb-1' } }]);
      let t = await tick(provider, desired, inventory);
      assert.ok(t.error instanceof CloudRoutesApplyError);
      assert.match((t.error as CloudRoutesApplyError).userMessage, /1 of 2 Huawei Cloud route tables could not be updated/);
      assert.match(
        (t.error as CloudRoutesApplyError).userMessage,
        /rtb-1: Huawei Cloud throttled mirrornet while updating route table rtb-1 \(HTTP 429 APIGW\.0308/,
      );
      assertConverged(emu, WANT, others2, 'rtb-2');
      t = await tick(provider, desired, inventory);
      assert.equal(t.error, undefined);
      assertConverged(emu, WANT, others1);

      // A 500 after the server applied: the tick fails, the next finds nothing left to do.
      const moved = [route('10.1.0.0/16', 'vpngw-9'), WANT[2]!, route('10.4.0.0/16')];
      const desired2 = desiredWith(moved, ['rtb-1', 'rtb-2']);
      emu.faults.next([{ kind: '500', when: 'after', match: { method: 'PUT', path: 'rtb-1' } }]);
      t = await tick(provider, desired2, inventory);
      assert.ok(t.error);
      assert.match((t.error as CloudRoutesApplyError).userMessage, /HTTP 500 VPC\.0105: Neutron Error\./);
      emu.log.clear();
      t = await tick(provider, desired2, inventory);
      assert.equal(t.error, undefined);
      assert.deepEqual(
        t.pending.map((c) => c.id),
        [],
        'rtb-1 was applied before the 500, rtb-2 in the same tick',
      );
      assert.equal(calls(emu).puts, 0);
      assertConverged(emu, moved, others1);
      assertConverged(emu, moved, others2, 'rtb-2');

      // A reset before the update reached the service: the next tick applies it, once.
      const desired3 = desiredWith(WANT, ['rtb-1', 'rtb-2']);
      emu.faults.next([{ kind: 'reset', match: { method: 'PUT' } }]);
      t = await tick(provider, desired3, inventory);
      assert.ok(t.error);
      t = await tick(provider, desired3, inventory);
      assert.equal(t.error, undefined);
      assertConverged(emu, WANT, others1);
      assertConverged(emu, WANT, others2, 'rtb-2');
      assert.ok(!emu.log.entries().some((e) => e.status === 400 || e.status === 409), 'never a duplicate or a stale delete');
    });

    it('retries a timed-out read and gives up with a clear error after the last attempt', async () => {
      emu = await emulator();
      const retry = quiet();
      const api = client(emu, { retry, timeoutMs: 250 });
      emu.faults.next([{ kind: 'delay', ms: 600 }]);
      const t = await api.showRouteTable('rtb-1');
      assert.equal(t.id, 'rtb-1');
      assert.equal(retry.delays.length, 1);
      emu.faults.next([{ kind: '500' }, { kind: '500' }, { kind: '500' }, { kind: '500' }]);
      await assert.rejects(api.showRouteTable('rtb-1'), (e: HuaweiVpcError) => {
        assert.equal(e.kind, 'server');
        assert.equal(e.attempts, 4);
        assert.equal(e.code, 'VPC.0105');
        assert.match(e.requestId!, /^[0-9a-f]{32}$/);
        assert.match(e.userMessage, /Gave up after 4 attempts; the next reconcile tries again\./);
        return true;
      });
    });

    it('reads VPC v1 error bodies the SDK loses: code, message and request id', async () => {
      emu = await emulator();
      const api = client(emu);
      await assert.rejects(api.showRouteTable('rtb-nope'), (e: HuaweiVpcError) => {
        assert.equal(e.kind, 'not-found');
        assert.equal(e.status, 404);
        assert.equal(e.code, 'VPC.2802');
        assert.match(e.requestId!, /^[0-9a-f]{32}$/);
        assert.match(
          e.userMessage,
          /Route table rtb-nope does not exist in project 5e6f.*\(HTTP 404 VPC\.2802: RouteTable rtb-nope is not exist\.\) \(request id [0-9a-f]{32}\)/,
        );
        return true;
      });
      await assert.rejects(
        api.updateRouteTable('rtb-1', { add: [{ type: 'vip', destination: '10.5.0.0/16', nexthop: 'not-an-ip' }], del: [] }),
        (e: HuaweiVpcError) => {
          assert.equal(e.kind, 'rejected');
          assert.equal(e.code, 'VPC.2800');
          assert.equal(e.attempts, 1, 'a 400 is not retried');
          return true;
        },
      );
      await assert.rejects(
        client(emu, { sk: 'wrong' }).showRouteTable('rtb-1'),
        (e: HuaweiVpcError) => e.kind === 'auth' && e.code === 'APIGW.0301' && /five bad signatures in a row lock a key/.test(e.userMessage),
      );
      // The provider reports a desired table that does not exist instead of failing the tick.
      const provider = createHuaweiVpcProvider(api);
      const t = await tick(provider, desiredWith(WANT, ['rtb-nope']), new Set());
      assert.equal(t.error, undefined);
      assert.ok(t.notes.some((n) => /route table rtb-nope does not exist in project/.test(n)));
    });

    it('runs in the reconcile engine: plan, apply, inventory, empty second plan', async () => {
      emu = await emulator();
      const dir = mkdtempSync(join(tmpdir(), 'mn-vpc-engine-'));
      try {
        const provider = createHuaweiVpcProvider(client(emu)) as Provider<unknown>;
        const log = createLogger({ level: 'silent', destination: { write: () => undefined } });
        const deps = { providers: [provider], exec: {} as never, files: {} as never, secrets: hostSecrets({ env: {} }), log, commands: DEFAULT_COMMANDS };
        const store = new StateStore(dir);
        const state = await store.load();
        const desired = desiredWith(WANT);
        const plan = await planHost(desired, 'rev1', deps, state);
        assert.deepEqual(
          pendingChanges(plan).map((c) => [c.provider, c.id, c.action]),
          [['huaweicloud-vpc', 'rtb-1', 'update']],
        );
        const result = await applyHost(plan, desired, deps, store, state);
        assert.equal(result.error, undefined);
        assert.deepEqual((await store.load()).inventory['huaweicloud-vpc'], ['rtb-1']);
        assert.deepEqual(pendingChanges(await planHost(desired, 'rev1', deps, state)), []);
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    });

    it('builds its client from secret references or the environment, with the endpoint overridable', async () => {
      emu = await emulator();
      const dir = mkdtempSync(join(tmpdir(), 'mn-vpc-cred-'));
      try {
        writeFileSync(join(dir, 'sk'), `${SK}\n`);
        const secrets = hostSecrets({ env: { MY_AK: AK } });
        assert.deepEqual(await resolveHuaweiCredentials({ secrets, akRef: 'env:MY_AK', skRef: `file:${join(dir, 'sk')}` }), { ak: AK, sk: SK });
        assert.deepEqual(await resolveHuaweiCredentials({ env: { HUAWEICLOUD_SDK_AK: 'a', HUAWEICLOUD_SDK_SK: 's' } }), { ak: 'a', sk: 's' });
        await assert.rejects(
          resolveHuaweiCredentials({ env: {} }),
          (e: HuaweiVpcError) => e.kind === 'config' && /HUAWEICLOUD_SDK_AK is not set/.test(e.userMessage),
        );
        assert.equal(vpcEndpoint('ap-southeast-4', { env: {} }), 'https://vpc.ap-southeast-4.myhuaweicloud.com');
        assert.equal(vpcEndpoint('ap-southeast-4', { env: { MIRRORNET_HUAWEICLOUD_VPC_ENDPOINT: `${emu.url}/` } }), emu.url);
        assert.equal(vpcEndpoint('x', { override: 'http://o:1', env: { MIRRORNET_HUAWEICLOUD_VPC_ENDPOINT: 'http://e:1' } }), 'http://o:1');

        const factory = huaweiVpcClientFactory({ env: { MIRRORNET_HUAWEICLOUD_VPC_ENDPOINT: emu.url, HUAWEICLOUD_SDK_AK: AK, HUAWEICLOUD_SDK_SK: SK } });
        const provider = createHuaweiVpcProvider(factory);
        const t = await tick(provider, desiredWith(WANT), new Set());
        assert.equal(t.error, undefined);
        assert.equal(t.actual.endpoint, emu.url);
        assertConverged(
          emu,
          WANT,
          [...LOCALS, FOREIGN].sort((a, b) => (a.destination < b.destination ? -1 : 1)),
        );
        assert.throws(() => createVpcClient({ endpoint: emu.url, ak: AK, sk: SK, projectId: '' }), /project id/);
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    });
  });

  describe('retries', () => {
    it('recomputes an interrupted batch from the table as it is now', () => {
      const a = { type: 'vpn', destination: '10.1.0.0/16', nexthop: 'new', description: `${MARKER} l` };
      const old = { type: 'vpn', destination: '10.1.0.0/16', nexthop: 'old', description: `${MARKER} l` };
      const b = { type: 'vpn', destination: '10.2.0.0/16', nexthop: 'g', description: `${MARKER} l` };
      const gone = { type: 'vpn', destination: '10.3.0.0/16', nexthop: 'g', description: `${MARKER} l` };
      const batch = { add: [a, b], del: [old, gone] };
      assert.deepEqual(remainingBatch('t', batch, [old, gone]), batch, 'nothing applied yet');
      assert.deepEqual(remainingBatch('t', batch, [a, b]), { add: [], del: [] }, 'all applied');
      assert.deepEqual(remainingBatch('t', batch, [old]), { add: [a, b], del: [old] });
      assert.throws(
        () => remainingBatch('t', batch, [{ ...b, nexthop: 'someone-else' }, old]),
        (e: HuaweiVpcError) => e.kind === 'conflict' && /Nothing was overwritten/.test(e.userMessage),
      );
    });
  });

  describe('secret hygiene', () => {
    interface Capture {
      text(): string;
      restore(): void;
    }
    function captureOutput(): Capture {
      const chunks: string[] = [];
      const out = process.stdout.write;
      const err = process.stderr.write;
      const grab = (chunk: unknown): boolean => {
        chunks.push(typeof chunk === 'string' ? chunk : Buffer.from(chunk as Uint8Array).toString('utf8'));
        return true;
      };
      process.stdout.write = grab as typeof process.stdout.write;
      process.stderr.write = grab as typeof process.stderr.write;
      return {
        text: () => chunks.join(''),
        restore: () => {
          process.stdout.write = out;
          process.stderr.write = err;
        },
      };
    }
    const FORBIDDEN = [AK, SK, 'SDK-HMAC-SHA256 Access=', 'wrong-secret-key-123'];
    function assertClean(where: string, text: string): void {
      for (const s of FORBIDDEN) assert.ok(!text.includes(s), `${where} contains ${s === AK ? 'the AK' : s === SK ? 'the SK' : s}`);
      assert.ok(!/authorization/i.test(text), `${where} mentions an Authorization header`);
    }

    it('the SDK itself leaks the Authorization header on errors unless silenced (FACTS)', async () => {
      emu = await emulator();
      const core = require('@huaweicloud/huaweicloud-sdk-core');
      const { VpcClient } = require('@huaweicloud/huaweicloud-sdk-vpc/v2/VpcClient.js');
      const coreDir = join(require.resolve('@huaweicloud/huaweicloud-sdk-core/package.json'), '..');
      const log4js = createRequire(join(coreDir, 'package.json'))('log4js') as { configure(c: unknown): void };
      const sdk = VpcClient.newBuilder()
        .withCredential(new core.BasicCredentials().withAk(AK).withSk(SK).withProjectId(PID))
        .withEndpoint(emu.url)
        .withOptions({ customUserAgent: 'mirrornet-test' })
        .build();
      emu.faults.next([{ kind: 'reset' }]);
      // What core configures at load: stdout, level debug.
      log4js.configure({
        appenders: { console: { type: 'stdout', layout: { type: 'basic' } } },
        categories: { default: { appenders: ['console'], level: 'debug' } },
      });
      const cap = captureOutput();
      try {
        await assert.rejects(sdk.showRouteTable({ routetable_id: 'rtb-1' }));
      } finally {
        cap.restore();
        silenceSdkLogging();
      }
      assert.match(cap.text(), /SDK-HMAC-SHA256 Access=MNTESTAK/, 'the unsilenced SDK prints the signed header');
      emu.faults.next([{ kind: 'reset' }]);
      const cap2 = captureOutput();
      try {
        await assert.rejects(sdk.showRouteTable({ routetable_id: 'rtb-1' }));
      } finally {
        cap2.restore();
      }
      assert.equal(cap2.text(), '', 'silenced');
    });

    it('no AK, SK or Authorization in stdout, stderr, logs or errors: success, bad SK, 500s, resets, timeouts', async () => {
      emu = await emulator();
      const logged: string[] = [];
      const log = createLogger({ level: 'debug', destination: { write: (s: string) => void logged.push(s) } });
      const savedDebug = process.env['DEBUG'];
      process.env['DEBUG'] = 'DEBUG'; // the SDK's own loggers at debug: log4js must still stay silent
      const errors: unknown[] = [];
      const cap = captureOutput();
      try {
        const good = createHuaweiVpcProvider(client(emu, { log, retry: { attempts: 2, sleep: async () => undefined } }));
        const bad = createHuaweiVpcProvider(client(emu, { sk: 'wrong-secret-key-123', log, retry: { attempts: 2, sleep: async () => undefined } }));
        const slow = createHuaweiVpcProvider(client(emu, { log, timeoutMs: 150, retry: { attempts: 2, sleep: async () => undefined } }));
        const desired = desiredWith(WANT);
        const inventory = new Set<string>();
        // success
        errors.push((await tick(good, desired, inventory, log)).error);
        // bad SK (401 APIGW.0301)
        await tick(bad, desired, inventory, log).catch((e: unknown) => errors.push(e));
        // 500s on the update beyond the retries
        emu.faults.next([
          { kind: '500', match: { method: 'PUT' } },
          { kind: '500', match: { method: 'PUT' } },
        ]);
        errors.push((await tick(good, desiredWith([route('10.9.0.0/16')]), inventory, log)).error);
        // resets on the read beyond the retries (the SDK's error path that logs the whole request)
        emu.faults.next([{ kind: 'reset' }, { kind: 'reset' }]);
        await tick(good, desired, inventory, log).catch((e: unknown) => errors.push(e));
        // timeouts
        emu.faults.next([
          { kind: 'delay', ms: 400 },
          { kind: 'delay', ms: 400 },
        ]);
        await tick(slow, desired, inventory, log).catch((e: unknown) => errors.push(e));
      } finally {
        cap.restore();
        if (savedDebug === undefined) delete process.env['DEBUG'];
        else process.env['DEBUG'] = savedDebug;
      }
      const real = errors.filter(Boolean) as Error[];
      assert.equal(real.length, 4, `expected 4 failures, got ${real.map((e) => e.message).join(' | ')}`);
      assert.ok(real.some((e) => e instanceof HuaweiVpcError && e.kind === 'auth'));
      assert.ok(real.some((e) => e instanceof HuaweiVpcError && e.kind === 'network'));
      assert.ok(real.some((e) => e instanceof HuaweiVpcError && e.kind === 'timeout'));
      assert.ok(
        logged.some((l) => /retrying/.test(l)),
        'the pino log did record the retries',
      );
      assertClean('stdout/stderr', cap.text());
      assertClean('pino logs', logged.join('\n'));
      for (const e of real) {
        assertClean(
          `error ${e.message}`,
          `${e.message}\n${(e as { userMessage?: string }).userMessage ?? ''}\n${inspect(e, { depth: 10, showHidden: true })}\n${e.stack ?? ''}`,
        );
      }
      assert.equal(cap.text(), '', 'nothing at all printed by the SDK');
    });
  });

  describe('the constraint inventory', () => {
    it('has an entry for every field and query parameter the provider sends (model/constraints/huaweicloud-vpc.ts)', () => {
      assert.ok(SENT.has('PUT /v1/{project_id}/routetables/{routetable_id} body.routetable.routes.add[].nexthop'), [...SENT].join('\n'));
      const missing = [...SENT].filter((k) => !HUAWEI_VPC_CONSTRAINTS.some((c) => c.key === k)).sort();
      assert.deepEqual(missing, []);
    });
  });
});
