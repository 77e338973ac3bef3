// The site tree over real HTTP on loopback, with real ssh-keygen signatures: a node reports to its gateway,
// the gateway to its core; an operator reads the fleet from the core, suspends a site, and the suspension
// reaches the node; a node's drift is one site message in the gateway's chat, naming the host.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer as netServer, type AddressInfo } from 'node:net';
import type { Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Registry } from 'prom-client';
import { siteTreeOf, type SiteTree, type SiteTreeFlags } from '../../src/cli/agent-site.js';
import { statusCommand } from '../../src/cli/status.js';
import { steerCommand } from '../../src/cli/steer.js';
import type { Role } from '../../src/desired/types.js';
import { localExec } from '../../src/host/exec.js';
import { hostSecrets } from '../../src/host/secrets.js';
import { silentLogger } from '../../src/log.js';
import { agentEvent, type AgentEvent } from '../../src/reconcile/events.js';
import { StateStore, EMPTY_STATE } from '../../src/reconcile/state.js';
import { gatewayToken, siteToken } from '../../src/report/site/signing.js';
import { createAgentServer } from '../../src/server/index.js';
import { httpRequest } from '../../src/host/http.js';
import { SiteUplink } from '../../src/report/site/uplink.js';
import { operatorKeys, type OperatorKeys } from '../report/site/operator-fixture.js';

const A = 'a'.repeat(40);
const SECRET = 'fleet-report-secret-for-tests';

function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const s = netServer().listen(0, '127.0.0.1', () => {
      const { port } = s.address() as AddressInfo;
      s.close(() => resolve(port));
    });
  });
}

interface Member {
  tree: SiteTree;
  server: Server;
  url: string;
  chat: AgentEvent[];
  triggers: string[];
}

async function until<T>(what: string, fn: () => T | undefined | false, ms = 10_000): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = fn();
    if (v) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

describe('the site tree over HTTP (node -> gateway -> core, operators on the core)', function () {
  this.timeout(60_000);
  let dir: string;
  let keys: OperatorKeys;
  const members: Member[] = [];
  const env = { REPORT_SECRET: SECRET, SITE_TOKEN: siteToken(SECRET, 'cn-shanghai'), GATEWAY_TOKEN: gatewayToken(SECRET, 'cn-shanghai') };

  async function member(name: string, site: string, roles: Role[], flags: SiteTreeFlags): Promise<Member> {
    const port = await freePort();
    const stateDir = join(dir, name);
    const store = new StateStore(stateDir);
    await store.save({ ...EMPTY_STATE, appliedRevision: A, appliedAt: '2026-12-05T03:00:00.000Z' });
    const chat: AgentEvent[] = [];
    const triggers: string[] = [];
    const tree = await siteTreeOf(
      { hostName: name, ...flags },
      {
        site,
        roles,
        stateDir,
        intervalMs: 60_000,
        secrets: hostSecrets({ env }),
        exec: localExec(),
        log: silentLogger(),
        store,
        lastResult: () => ({ kind: 'in-sync', revision: A }),
        listen: `127.0.0.1:${port}`,
        trigger: (reason) => void triggers.push(reason),
        chat: (e) => void chat.push(e),
      },
    );
    const server = createAgentServer({
      log: silentLogger(),
      registry: new Registry(),
      branch: 'main',
      trigger: () => undefined,
      health: () => ({ ok: true }),
      ready: () => true,
      limits: { operatorRate: { burst: 1000, perSecond: 100 } },
      ...tree.server,
    });
    await new Promise<void>((r) => server.listen(port, '127.0.0.1', () => r()));
    const m = { tree, server, url: `http://127.0.0.1:${port}`, chat, triggers };
    members.push(m);
    return m;
  }

  const io = () => {
    const out: string[] = [];
    const err: string[] = [];
    return { out, err, io: { stdout: (s: string) => void out.push(s), stderr: (s: string) => void err.push(s), color: false } };
  };

  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'mirrornet-site-tree-'));
    keys = operatorKeys();
  });
  after(async () => {
    for (const m of members) {
      await m.tree.close().catch(() => undefined);
      m.server.closeAllConnections();
      await new Promise((r) => m.server.close(() => r(undefined)));
    }
    rmSync(dir, { recursive: true, force: true });
    rmSync(keys.dir, { recursive: true, force: true });
  });

  it('a retired node whose gateway no longer answers stops waiting for it once its bounded wait is over', async () => {
    const gone = `http://127.0.0.1:${await freePort()}`;
    const node = await member('n9', 'cn-shanghai', ['node'], { siteToken: 'env:SITE_TOKEN', reportTo: gone });
    assert.equal(await node.tree.reportRetired(false), false, 'within the wait: the report is not delivered, the uplink stays');
    assert.equal(await node.tree.reportRetired(true), true, 'after the wait: the node goes on to remove its uplink');
  });

  it('reports climb the tree; an operator reads them, suspends the site, and the node holds', async () => {
    const core = await member('bj-core', 'cn-beijing', ['gateway', 'hub'], { reportSecret: 'env:REPORT_SECRET', operators: keys.allowed });
    const gateway = await member('sh-gw', 'cn-shanghai', ['gateway'], { siteToken: 'env:SITE_TOKEN', gatewayToken: 'env:GATEWAY_TOKEN', reportTo: core.url });
    const node = await member('n3', 'cn-shanghai', ['node'], { siteToken: 'env:SITE_TOKEN', reportTo: gateway.url });
    core.tree.afterTick();
    gateway.tree.afterTick();
    node.tree.afterTick();

    // The operator's view: one request to the core, the region's two hosts (reports are on their way: ask again).
    type Status = { core: string; sites: { site: string; hosts: { host: string; applied?: string }[]; summary: { state: string } }[] }[];
    const shanghai = (json: Status | undefined) => json?.flatMap((c) => c.sites).find((s) => s.site === 'cn-shanghai');
    let json: Status | undefined;
    for (let i = 0; i < 200 && shanghai(json)?.hosts.length !== 2; i++) {
      const o = io();
      await statusCommand({ core: [core.url], key: keys.alice, format: 'json' }, o.io);
      if (o.out.length) json = JSON.parse(o.out.join('')) as Status;
      await new Promise((r) => setTimeout(r, 100));
    }
    assert.deepEqual(
      json?.map((c) => c.core),
      ['bj-core'],
    );
    const sh = shanghai(json)!;
    assert.deepEqual(
      sh.hosts.map((h) => [h.host, h.applied]),
      [
        ['n3', A],
        ['sh-gw', A],
      ],
    );
    assert.equal(sh.summary.state, 'in-sync');

    // A key the core does not list changes nothing.
    const refused = io();
    assert.equal(await steerCommand('suspend', { core: [core.url], key: keys.mallory, site: 'cn-shanghai', reason: 'no' }, refused.io), 1);
    assert.equal(node.tree.suspended(), false);

    // Suspend: the core says so in chat, the gateway and the node hold it.
    const ok = io();
    assert.equal(await steerCommand('suspend', { core: [core.url], key: keys.alice, site: 'cn-shanghai', reason: 'incident 42' }, ok.io), 0, ok.err.join(''));
    await until('the node to hold the suspension', () => node.tree.suspended());
    assert.equal(gateway.tree.suspended(), true);
    // The gateway pokes its node (which may have taken the suspension from its own report's answer a moment before).
    await until('the gateway to poke its node', () => node.triggers.length > 0);
    assert.deepEqual(node.triggers, ['steering']);
    assert.deepEqual(
      core.chat.filter((e) => e.kind === 'site-suspended').map((e) => [e.site, e.message.split(':')[0]]),
      [['cn-shanghai', 'cn-shanghai is suspended by alice@example.org']],
    );

    // A node holds the site token, not the gateway's: it cannot report for its site to the core, nor steer its
    // fellow nodes (a push only makes a node ask its gateway, whose answer it takes).
    const asNode = (url: string) => new SiteUplink({ url, site: 'cn-shanghai', token: env.SITE_TOKEN, request: httpRequest, retry: { attempts: 1 } });
    assert.equal((await asNode(core.url).post('/v1/site-reports', { site: 'cn-shanghai' })).status, 401);
    const forged = await asNode(node.url).post('/v1/steering', { generation: 9_999_999_999_999 });
    assert.equal(forged.status, 202);
    await new Promise((r) => setTimeout(r, 300));
    assert.equal(node.tree.suspended(), true, "the gateway's answer still holds the site");

    // A node's drift is one message of its site, from the gateway, naming the host.
    node.tree.sink(agentEvent('drift-detected', 'cn-shanghai', A, 'cn-shanghai: routes drifted', { component: 'routes', origin: 'drift' }));
    const message = await until('the site message', () => gateway.chat.find((e) => e.kind === 'drift-detected'), 8000);
    assert.deepEqual([message.site, message.hosts, message.message], ['cn-shanghai', ['n3'], '1 of 2 nodes drifted: routes on n3']);
    assert.deepEqual(node.chat, [], 'a node sends no chat of its own');
  });

  it("`mirrornet site-token` prints the site's token as its core derives it, and never takes the secret itself", () => {
    const bin = fileURLToPath(new URL('../../../bin/mirrornet.js', import.meta.url));
    const env = { ...process.env, MIRRORNET_TEST_REPORT_SECRET: 'x' };
    const ok = spawnSync(process.execPath, [bin, 'site-token', '--site', 'cn-shanghai', '--report-secret', 'env:MIRRORNET_TEST_REPORT_SECRET'], {
      encoding: 'utf8',
      env,
    });
    // printf 'mirrornet-site-token:cn-shanghai' | openssl dgst -sha256 -hmac x
    assert.deepEqual([ok.status, ok.stdout], [0, '932a1e12ddccf33e1d4be1797e5dcf92de1d82052ebc0e9890c98d2cff34c682\n']);
    const literal = spawnSync(process.execPath, [bin, 'site-token', '--site', 'cn-shanghai', '--report-secret', 'x'], { encoding: 'utf8', env });
    assert.equal(literal.status, 2);
    assert.match(literal.stderr, /--report-secret takes a secret reference/);
  });
});
