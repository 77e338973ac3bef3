// `mirrornet status` against two real local cores (operatorHandler behind node:http), signed with a fresh SSH
// key at a fixed time: the table, the JSON, the exit codes, and the sentences for a refused key and an
// unreachable core.
import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import { createServer, type AddressInfo } from 'node:net';
import type { Io } from '../../src/cli/io.js';
import { run } from '../../src/cli/main.js';
import { statusCommand, type StatusOptions } from '../../src/cli/status.js';
import { missingCommand, need } from '../support/capabilities.js';
import { host, NOW, operatorKeys, REV_A, REV_B, siteReport, startCore, type Core, type OperatorKeys } from '../report/site/operator-fixture.js';

function capture(): { io: Io; out: { stdout: string; stderr: string } } {
  const out = { stdout: '', stderr: '' };
  return { io: { stdout: (s) => (out.stdout += s), stderr: (s) => (out.stderr += s), color: false }, out };
}

const iso = (msBeforeNow: number) => new Date(NOW - msBeforeNow).toISOString();
const deps = { clock: () => NOW };

/** A port nothing listens on. */
async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise((resolve) => server.close(resolve));
  return port;
}

describe('mirrornet status', function () {
  let keys: OperatorKeys;
  let cn: Core;
  let overseas: Core;

  before(async function () {
    need(this, missingCommand('ssh-keygen', 'openssh-client'));
    keys = operatorKeys();
    const beijing = siteReport(
      'cn-beijing',
      [
        host('cn-beijing', 'gw-bj', { roles: ['gateway', 'node'] }),
        host('cn-beijing', 'n1', {
          applied: REV_B,
          drift: { routes: 2, mirrors: 0 },
          lastError: { step: 'apply', message: 'RTNETLINK answers: File exists', at: iso(180_000) },
          lastSeen: iso(45_000),
        }),
        host('cn-beijing', 'n2', { stale: true, lastSeen: iso(600_000) }),
      ],
      { summary: { hosts: 3, revision: REV_A, applied: 2, failing: ['n1'], drifting: { routes: ['n1'] }, stale: ['n2'], suspended: false, state: 'failing' } },
    );
    cn = await startCore('core-cn', keys, [
      { report: beijing, msBeforeNow: 10_000 },
      { report: siteReport('cn-shanghai', [host('cn-shanghai', 'gw-sh', { roles: ['gateway'] })]), msBeforeNow: 5_000 },
      // Retired 20 minutes ago: its gateway reports no more, and that is fine.
      {
        report: siteReport('cn-guangzhou', [host('cn-guangzhou', 'gw-gz', { roles: ['gateway'], retired: true, lastSeen: iso(1_210_000) })], {
          summary: { hosts: 1, revision: REV_A, applied: 1, failing: [], drifting: {}, stale: [], suspended: false, state: 'retired' },
        }),
        msBeforeNow: 1_200_000,
      },
    ]);
    overseas = await startCore('core-sg', keys, [
      { report: siteReport('ap-singapore', [host('ap-singapore', 'gw-sg', { roles: ['gateway'], lastSeen: iso(1_210_000) })]), msBeforeNow: 1_200_000 },
    ]);
    await overseas.steering.apply({ site: 'ap-singapore', action: 'suspend', reason: 'registry migration' }, 'alice@example.org', NOW - 300_000, [
      'ap-singapore',
    ]);
  });
  after(async () => {
    await cn?.close();
    await overseas?.close();
    if (keys) rmSync(keys.dir, { recursive: true, force: true });
  });

  const opts = (over: Partial<StatusOptions> = {}): StatusOptions => ({ core: [cn.url, overseas.url], key: keys.alice, format: 'text', ...over });

  it('prints one aligned row per host of every core, then what needs a human, and exits 2 when anything is not in sync', async () => {
    const { io, out } = capture();
    assert.equal(await statusCommand(opts(), io, deps), 2);
    assert.equal(
      out.stdout,
      [
        'SITE          HOST   ROLES         VERSION  WANTED        APPLIED       SEEN     DRIFT     STATE',
        'cn-beijing    gw-bj  gateway,node  0.2.0    3f9c2a1b7d4e  3f9c2a1b7d4e  20s ago  -         in-sync',
        'cn-beijing    n1     node          0.2.0    3f9c2a1b7d4e  0b1c2d3e4f5a  45s ago  routes=2  failing,drifting,pending',
        'cn-beijing    n2     node          0.2.0    3f9c2a1b7d4e  3f9c2a1b7d4e  10m ago  -         stale',
        'cn-guangzhou  gw-gz  gateway       0.2.0    3f9c2a1b7d4e  3f9c2a1b7d4e  20m ago  -         retired',
        'cn-shanghai   gw-sh  gateway       0.2.0    3f9c2a1b7d4e  3f9c2a1b7d4e  20s ago  -         in-sync',
        'ap-singapore  gw-sg  gateway       0.2.0    3f9c2a1b7d4e  3f9c2a1b7d4e  20m ago  -         silent',
        '',
        'cn-beijing/n1: last error in apply 3m ago: RTNETLINK answers: File exists',
        'cn-guangzhou: retired: its agents removed everything they created; its file may be deleted',
        'ap-singapore: silent: its gateway gw-sg last reported 20m ago',
        'ap-singapore: suspended by alice@example.org 5m ago: registry migration',
        'ap-singapore: steering generation 1740830100 not yet taken by the gateway (it holds 0)',
        '',
      ].join('\n'),
    );
    assert.equal(out.stderr, '');
  });

  it('exits 0 when every site asked for is in sync', async () => {
    const { io, out } = capture();
    assert.equal(await statusCommand(opts({ site: 'cn-shanghai' }), io, deps), 0);
    assert.equal(
      out.stdout,
      [
        'SITE         HOST   ROLES    VERSION  WANTED        APPLIED       SEEN     DRIFT  STATE',
        'cn-shanghai  gw-sh  gateway  0.2.0    3f9c2a1b7d4e  3f9c2a1b7d4e  20s ago  -      in-sync',
        '',
      ].join('\n'),
    );
  });

  it('exits 0 for a retired site: its hosts show retired, not silent or stale', async () => {
    const { io, out } = capture();
    assert.equal(await statusCommand(opts({ site: 'cn-guangzhou' }), io, deps), 0);
    assert.equal(
      out.stdout,
      [
        'SITE          HOST   ROLES    VERSION  WANTED        APPLIED       SEEN     DRIFT  STATE',
        'cn-guangzhou  gw-gz  gateway  0.2.0    3f9c2a1b7d4e  3f9c2a1b7d4e  20m ago  -      retired',
        '',
        'cn-guangzhou: retired: its agents removed everything they created; its file may be deleted',
        '',
      ].join('\n'),
    );
  });

  it('prints the fleet status of each core as JSON', async () => {
    const { io, out } = capture();
    assert.equal(await statusCommand(opts({ site: 'ap-singapore', format: 'json' }), io, deps), 2);
    const parsed = JSON.parse(out.stdout) as {
      core: string;
      at: string;
      sites: { site: string; silent: boolean; lastSeen: string; wantedSteering: unknown }[];
    }[];
    assert.deepEqual(
      parsed.map((s) => [s.core, s.at, s.sites.map((x) => [x.site, x.silent, x.lastSeen, x.wantedSteering])]),
      [
        ['core-cn', '2025-03-01T12:00:00.000Z', []],
        [
          'core-sg',
          '2025-03-01T12:00:00.000Z',
          [
            [
              'ap-singapore',
              true,
              '2025-03-01T11:40:00.000Z',
              { generation: 1740830100, suspended: { by: 'alice@example.org', reason: 'registry migration', at: '2025-03-01T11:55:00.000Z' } },
            ],
          ],
        ],
      ],
    );
  });

  it('exits 1 for a site no core has heard from', async () => {
    const { io, out } = capture();
    assert.equal(await statusCommand(opts({ site: 'eu-frankfurt' }), io, deps), 1);
    assert.equal(out.stderr, `mirrornet: No site "eu-frankfurt" has reported to ${cn.url}, ${overseas.url} yet.\n`);
  });

  it('says what to do when a core refuses the key, prints what the others answered, and exits 1', async () => {
    const { io, out } = capture();
    assert.equal(await statusCommand(opts({ key: keys.mallory, core: [cn.url] }), io, deps), 1);
    assert.equal(out.stdout, '');
    assert.equal(
      out.stderr,
      `mirrornet: The core ${cn.url} refused the request (HTTP 401): The request is refused: the request is not signed by a key in the core's ` +
        `operators file. If your key is not in the core's --operators file, add its public key there as a line ` +
        '`you@example.org namespaces="mirrornet-operator" ssh-ed25519 AAAA...`.\n',
    );
    assert.doesNotMatch(out.stderr, /PRIVATE KEY/);
  });

  it('names an unreachable core and still shows the others', async () => {
    const closed = await freePort();
    const { io, out } = capture();
    assert.equal(await statusCommand(opts({ core: [`http://127.0.0.1:${closed}`, cn.url], site: 'cn-shanghai' }), io, deps), 1);
    assert.equal(
      out.stderr,
      `mirrornet: Cannot reach the core's agent at http://127.0.0.1:${closed}: the connection was refused (nothing listens on that port). ` +
        "Check that the core's agent runs there and that the address and port are right.\n",
    );
    assert.match(out.stdout, /^cn-shanghai {2}gw-sh /m);
  });

  it('is the command `mirrornet status`: a key it cannot read is an error (exit 1), and so is a core that is not a URL', async () => {
    const a = capture();
    assert.equal(await run(['status', '--core', cn.url, '--key', '/nonexistent/key'], a.io), 1);
    assert.equal(
      a.out.stderr,
      'mirrornet: Cannot read --key /nonexistent/key (ENOENT): name your SSH private key, or its .pub while ssh-agent holds the key.\n',
    );
    const b = capture();
    assert.equal(await run(['status', '--core', 'core-cn:9464', '--key', keys.alice], b.io), 1);
    assert.equal(b.out.stderr, 'mirrornet: --core core-cn:9464 is not an http:// or https:// URL.\n');
  });
});
