// A retiring site's agent (issue 14, decommission), against a real git origin and a --root sandbox: the
// revision that marks its region `lifecycle: retiring` removes every file the agent wrote, the agent reports
// `site-retired` once and ticks no more; started again, it says so in one line and exits 0 touching nothing.
import assert from 'node:assert/strict';
import { createServer } from 'node:net';
import type { TickResult } from '../../src/reconcile/loop.js';
import {
  agentArgs,
  createGitFixture,
  DOCKER_TOML,
  DFDAEMON,
  HARBOR_TOML,
  killChildren,
  listFiles,
  makeAgent,
  REGION_FILE,
  runCli,
  SITE,
  snapshot,
  type GitFixture,
} from './git-fixture.js';

const fixtures: GitFixture[] = [];
const track = (fx: GitFixture): GitFixture => (fixtures.push(fx), fx);

/** A TCP port nobody listens on right now, for the agent's --listen. */
async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as { port: number }).port;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

function retire(fx: GitFixture): string {
  fx.replace(REGION_FILE, 'kind: Region\n', 'kind: Region\nlifecycle: retiring\n');
  return fx.commit('us-virginia is retiring');
}

const retiredLine = (revision: string, stateDir: string) =>
  `mirrornet: us-virginia is retired (revision ${revision.slice(0, 12)}): everything this agent created is removed; nothing left to do. ` +
  `To bring the site back, set lifecycle: active and remove ${stateDir}/state.json before starting the agent again.\n`;

describe('a retiring site: its agent tears down, reports retired and stops', function () {
  this.timeout(120_000);
  afterEach(() => killChildren());
  after(() => {
    killChildren();
    for (const fx of fixtures.splice(0)) fx.cleanup();
  });

  it('the retiring revision removes every file the agent wrote; site-retired once; later ticks and revisions touch nothing', async () => {
    const fx = track(createGitFixture());
    const t = makeAgent(fx);
    assert.deepEqual(await t.agent.tick('test'), { kind: 'applied', revision: fx.originHead(), changes: 3 });
    assert.deepEqual(listFiles(fx.root), [
      'etc/containerd/certs.d/docker.io/hosts.toml',
      'etc/containerd/certs.d/harbor.sg.mirrornet.internal/hosts.toml',
      'etc/dragonfly/dfdaemon.yaml',
    ]);
    t.events.length = 0;

    const retiring = retire(fx);
    const result: TickResult = await t.agent.tick('test');
    assert.deepEqual(result, { kind: 'retired', revision: retiring });
    assert.deepEqual(listFiles(fx.root), [], 'hosts.toml (both registries) and dfdaemon.yaml are gone');
    assert.deepEqual(
      t.events.map((e) => [e.kind, e.message]),
      [
        ['apply-started', `${SITE} is applying ${retiring.slice(0, 12)}: 3 change(s).`],
        ['applied', `${SITE} applied ${retiring.slice(0, 12)}: 3 change(s).`],
        [
          'site-retired',
          `${SITE} retired at ${retiring.slice(0, 12)}: this agent removed everything it had created but its uplink, which it removes once this ` +
            'report is delivered, and stops; its file may now be deleted.',
        ],
      ],
    );
    assert.deepEqual(
      t.events[0]!.changes!.map((c) => [c.provider, c.id, c.action]),
      [
        ['containerd', DOCKER_TOML, 'delete'],
        ['containerd', HARBOR_TOML, 'delete'],
        ['dragonfly', DFDAEMON, 'delete'],
      ],
    );
    const state = fx.state();
    assert.equal(state.appliedRevision, retiring);
    assert.deepEqual(state.retired?.revision, retiring);
    assert.deepEqual(state.inventory, { containerd: [], dragonfly: [] });

    // Retired: whatever comes next, the agent only answers `retired` (no event, no file, no state change).
    const stateText = snapshot(fx.stateDir).get('state.json')!.content;
    fx.replace(REGION_FILE, 'lifecycle: retiring\n', '');
    fx.commit('someone un-retires Virginia without resetting its hosts');
    t.events.length = 0;
    assert.deepEqual(await t.agent.tick('test'), { kind: 'retired', revision: retiring });
    assert.deepEqual(listFiles(fx.root), []);
    assert.deepEqual(t.events, []);
    assert.equal(snapshot(fx.stateDir).get('state.json')!.content, stateText);
  });

  it('the agent command exits 0 with one line once its site retired, and a restart exits the same way without touching anything', async () => {
    const fx = track(createGitFixture());
    assert.equal((await runCli(agentArgs(fx, ['--once']))).code, 0);
    const retiring = retire(fx);

    // Long-running (no --once): it applies the teardown at startup, then ends by itself.
    const port = await freePort();
    const run = await runCli(agentArgs(fx, ['--listen', `127.0.0.1:${port}`, '--interval', '1h']), { timeoutMs: 60_000 });
    assert.equal(run.signal, null, 'the agent ended by itself');
    assert.equal(run.code, 0, run.stderr);
    assert.equal(
      run.stdout
        .split('\n')
        .filter((l) => l.startsWith('mirrornet:'))
        .join('\n') + '\n',
      retiredLine(retiring, fx.stateDir),
    );
    assert.deepEqual(listFiles(fx.root), []);
    assert.equal(fx.state().retired?.revision, retiring);
    // A node with no site tree has nobody to report to: it removed its (empty) uplink at once.
    assert.equal(typeof fx.state().retired?.uplinkRemoved, 'string');

    // Restarted (systemd, a reboot): the same line, exit 0, nothing fetched, written or changed.
    const before = snapshot(fx.dir);
    const again = await runCli(agentArgs(fx, ['--listen', `127.0.0.1:${port}`, '--interval', '1h']));
    assert.equal(again.code, 0, again.stderr);
    assert.equal(again.stdout, retiredLine(retiring, fx.stateDir));
    assert.deepEqual(snapshot(fx.dir), before);
  });
});
