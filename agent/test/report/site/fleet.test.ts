// A core's view of its sites (latest report, silent gateways, persisted and read back) and the operators'
// door to it: GET /v1/status and POST /v1/steer, signed by a fresh SSH key; a request without a good
// signature changes nothing.
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { localExec } from '../../../src/host/exec.js';
import { FleetView, operatorHandler, type OperatorHandlerDeps } from '../../../src/report/site/fleet.js';
import { OPERATOR_NONCE_WINDOW_MS, signOperatorRequest, type OperatorRequest } from '../../../src/report/site/operator-auth.js';
import type { Steering } from '../../../src/report/site/schema.js';
import { SteeringStore } from '../../../src/report/site/steering.js';
import { RecentDeliveries } from '../../../src/server/guards.js';
import { missingCommand, need } from '../../support/capabilities.js';
import { host, NOW, operatorKeys, REV_A, siteReport, type OperatorKeys } from './operator-fixture.js';

const EVENT = {
  kind: 'drift-detected' as const,
  site: 'cn-beijing',
  revision: REV_A,
  message: 'routes drifted on n1',
  fingerprint: 'f1',
  at: '2025-03-01T11:59:50.000Z',
};

describe('FleetView', () => {
  const none = (): Steering => ({ generation: 0 });

  it('keeps the latest report of each site without its events, with when it came, by site name', () => {
    const view = new FleetView('core-cn', 30_000);
    view.record(siteReport('cn-shanghai', [host('cn-shanghai', 'gw-sh')]), NOW - 5_000);
    view.record(siteReport('cn-beijing', [host('cn-beijing', 'gw-bj')], { events: [EVENT] }), NOW - 60_000);
    view.record(siteReport('cn-beijing', [host('cn-beijing', 'gw-bj'), host('cn-beijing', 'n1')], { events: [EVENT] }), NOW - 10_000);
    const status = view.status(NOW, (s) => (s === 'cn-beijing' ? { generation: 2 } : none()));
    assert.equal(status.core, 'core-cn');
    assert.equal(status.at, '2025-03-01T12:00:00.000Z');
    assert.deepEqual(
      status.sites.map((s) => [s.site, s.hosts.map((h) => h.host), s.lastSeen, s.silent, s.wantedSteering, 'events' in s]),
      [
        ['cn-beijing', ['gw-bj', 'n1'], '2025-03-01T11:59:50.000Z', false, { generation: 2 }, false],
        ['cn-shanghai', ['gw-sh'], '2025-03-01T11:59:55.000Z', false, { generation: 0 }, false],
      ],
    );
    assert.deepEqual(
      view.status(NOW, none, 'cn-shanghai').sites.map((s) => s.site),
      ['cn-shanghai'],
    );
    assert.deepEqual(view.siteNames(), ['cn-beijing', 'cn-shanghai']);
  });

  it('calls a site silent after three intervals without a report, once, and back when it reports again', () => {
    const view = new FleetView('core-cn', 30_000);
    view.record(siteReport('cn-beijing', [host('cn-beijing', 'gw-bj')]), NOW);
    assert.deepEqual(view.silentTransitions(NOW + 90_000), { silent: [], back: [] });
    assert.equal(view.status(NOW + 90_000, none).sites[0]!.silent, false);
    assert.deepEqual(view.silentTransitions(NOW + 90_001), { silent: ['cn-beijing'], back: [] });
    assert.equal(view.status(NOW + 90_001, none).sites[0]!.silent, true);
    assert.deepEqual(view.silentTransitions(NOW + 200_000), { silent: [], back: [] });
    view.record(siteReport('cn-beijing', [host('cn-beijing', 'gw-bj')]), NOW + 210_000);
    assert.deepEqual(view.silentTransitions(NOW + 210_000), { silent: [], back: ['cn-beijing'] });
    assert.deepEqual(view.silentTransitions(NOW + 211_000), { silent: [], back: [] });
  });

  it('never calls a retired site silent: its gateway stopped reporting on purpose', () => {
    const view = new FleetView('core-overseas', 30_000);
    const gw = host('ap-jakarta', 'gw-jkt', { retired: true });
    const summary = { ...siteReport('ap-jakarta', [gw]).summary, state: 'retired' as const };
    view.record(siteReport('ap-jakarta', [gw], { summary }), NOW);
    assert.deepEqual(view.silentTransitions(NOW + 3_600_000), { silent: [], back: [] });
    assert.equal(view.status(NOW + 3_600_000, none).sites[0]!.silent, false);
  });

  it('reads back what it serialized, silent sites still silent (site-silent is not raised twice)', () => {
    const view = new FleetView('core-cn', 30_000);
    view.record(siteReport('cn-beijing', [host('cn-beijing', 'gw-bj')]), NOW);
    view.silentTransitions(NOW + 100_000);
    const again = FleetView.restore('core-cn', 30_000, view.serialize());
    assert.deepEqual(again.status(NOW + 100_000, none), view.status(NOW + 100_000, none));
    assert.deepEqual(again.silentTransitions(NOW + 100_000), { silent: [], back: [] });
  });

  it('starts empty from a file it cannot read', () => {
    for (const text of [undefined, '', 'not json', '{"version":2,"sites":{}}']) {
      assert.deepEqual(FleetView.restore('core-cn', 30_000, text).siteNames(), []);
    }
  });
});

describe('operatorHandler (GET /v1/status, POST /v1/steer)', function () {
  const exec = localExec();
  let keys: OperatorKeys;
  let stateDir: string;
  let pushes: { site: string; steering: Steering }[];
  let handler: ReturnType<typeof operatorHandler>;

  before(function () {
    need(this, missingCommand('ssh-keygen', 'openssh-client'));
    keys = operatorKeys();
  });
  after(() => {
    if (keys) rmSync(keys.dir, { recursive: true, force: true });
  });
  beforeEach(async () => {
    stateDir = mkdtempSync(join(tmpdir(), 'mn-core-'));
    const fleet = new FleetView('core-cn', 30_000);
    fleet.record(siteReport('cn-beijing', [host('cn-beijing', 'gw-bj')]), NOW - 10_000);
    fleet.record(siteReport('cn-shanghai', [host('cn-shanghai', 'gw-sh')]), NOW - 10_000);
    pushes = [];
    const deps: OperatorHandlerDeps = {
      fleet,
      steering: await SteeringStore.open(stateDir),
      allowedSigners: keys.allowed,
      exec,
      clock: () => NOW,
      nonces: new RecentDeliveries(OPERATOR_NONCE_WINDOW_MS, () => NOW),
      push: (site, steering) => void pushes.push({ site, steering }),
    };
    handler = operatorHandler(deps);
  });
  afterEach(() => rmSync(stateDir, { recursive: true, force: true }));

  async function signed(key: string, method: string, path: string, body = ''): Promise<OperatorRequest> {
    const headers = await signOperatorRequest(exec, key, { method, path, body }, NOW);
    return { method, path, headers, body: Buffer.from(body) };
  }
  const steeringFile = () => join(stateDir, 'steering.json');

  it("answers a signed GET /v1/status with the fleet's status, one site with ?site=", async () => {
    const all = await handler.handle(await signed(keys.alice, 'GET', '/v1/status'));
    assert.equal(all.status, 200);
    assert.deepEqual(
      (all.body as { sites: { site: string }[] }).sites.map((s) => s.site),
      ['cn-beijing', 'cn-shanghai'],
    );
    const one = await handler.handle(await signed(keys.alice, 'GET', '/v1/status?site=cn-shanghai'));
    assert.deepEqual(
      (one.body as { sites: { site: string }[] }).sites.map((s) => s.site),
      ['cn-shanghai'],
    );
  });

  it('suspends a site for a signed POST /v1/steer: 202 with the new Steering, persisted and pushed to the site', async () => {
    const reply = await handler.handle(await signed(keys.alice, 'POST', '/v1/steer', '{"site":"cn-beijing","action":"suspend","reason":"maintenance"}'));
    const steering = { generation: 1740830400, suspended: { by: 'alice@example.org', reason: 'maintenance', at: '2025-03-01T12:00:00.000Z' } };
    assert.deepEqual(reply, { status: 202, body: { sites: [{ site: 'cn-beijing', steering }] } });
    assert.deepEqual(JSON.parse(readFileSync(steeringFile(), 'utf8')), { version: 1, sites: { 'cn-beijing': steering } });
    await new Promise((r) => setImmediate(r));
    assert.deepEqual(pushes, [{ site: 'cn-beijing', steering }]);
    const status = await handler.handle(await signed(keys.alice, 'GET', '/v1/status?site=cn-beijing'));
    assert.deepEqual((status.body as { sites: { wantedSteering: Steering }[] }).sites[0]!.wantedSteering, steering);
  });

  it('refuses an unsigned or wrongly signed request with 401, and changes nothing', async () => {
    const body = '{"site":"cn-beijing","action":"suspend","reason":"maintenance"}';
    assert.deepEqual(await handler.handle({ method: 'POST', path: '/v1/steer', headers: {}, body: Buffer.from(body) }), {
      status: 401,
      body: {
        error:
          'The request is refused: the request is not signed: X-Mirrornet-Operator-Timestamp, X-Mirrornet-Operator-Nonce and ' +
          'X-Mirrornet-Operator-Signature are required.',
      },
    });
    assert.deepEqual(await handler.handle(await signed(keys.mallory, 'POST', '/v1/steer', body)), {
      status: 401,
      body: { error: "The request is refused: the request is not signed by a key in the core's operators file." },
    });
    assert.deepEqual(await handler.handle(await signed(keys.mallory, 'GET', '/v1/status')), {
      status: 401,
      body: { error: "The request is refused: the request is not signed by a key in the core's operators file." },
    });
    await new Promise((r) => setImmediate(r));
    assert.equal(existsSync(steeringFile()), false);
    assert.deepEqual(pushes, []);
    assert.equal((await handler.handle(await signed(keys.alice, 'POST', '/v1/steer', body))).status, 202);
    const held = readFileSync(steeringFile(), 'utf8');
    assert.equal((await handler.handle(await signed(keys.mallory, 'POST', '/v1/steer', '{"site":"cn-beijing","action":"resume"}'))).status, 401);
    assert.equal(readFileSync(steeringFile(), 'utf8'), held);
  });

  it('answers 400 with a sentence for a body that is not a steer request', async () => {
    assert.deepEqual(await handler.handle(await signed(keys.alice, 'POST', '/v1/steer', '{"site":"cn-beijing","action":"suspend"}')), {
      status: 400,
      body: { error: 'The steer request is invalid: a suspension needs a reason.' },
    });
    assert.deepEqual(await handler.handle(await signed(keys.alice, 'POST', '/v1/steer', '{"site":"cn-beijing","action":"pause"}')), {
      status: 400,
      body: { error: 'The steer request is invalid: action: Invalid option: expected one of "suspend"|"resume"|"reconcile".' },
    });
    assert.deepEqual(await handler.handle(await signed(keys.alice, 'POST', '/v1/steer', 'site=cn-beijing')), {
      status: 400,
      body: { error: 'The steer request is not JSON: send { "site": NAME | "all": true, "action": "suspend" | "resume" | "reconcile", "reason": TEXT }.' },
    });
    assert.equal(existsSync(steeringFile()), false);
  });

  it('answers 404 naming the known sites for a site the core does not know', async () => {
    assert.deepEqual(await handler.handle(await signed(keys.alice, 'POST', '/v1/steer', '{"site":"ap-singapore","action":"reconcile"}')), {
      status: 404,
      body: { error: 'This core knows no site "ap-singapore" (its sites: cn-beijing, cn-shanghai); nothing was changed.' },
    });
  });

  it('answers 405 for another method and 404 for another path, before any signature is checked', async () => {
    assert.deepEqual(await handler.handle({ method: 'POST', path: '/v1/status', headers: {}, body: '' }), {
      status: 405,
      body: { error: '/v1/status answers GET only.' },
    });
    assert.deepEqual(await handler.handle({ method: 'GET', path: '/v1/fleet', headers: {}, body: '' }), {
      status: 404,
      body: { error: 'There is no /v1/fleet on a core: use GET /v1/status or POST /v1/steer.' },
    });
  });
});
