// The agent loop against real git repositories: a bare origin, a clone that commits and pushes, and the
// node role (hosts.toml, dfdaemon.yaml) under a --root sandbox, so none of this needs root or namespaces.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { parse as parseToml } from 'smol-toml';
import { parse as parseYaml } from 'yaml';
import type { AgentEvent } from '../../src/reconcile/events.js';
import type { TickResult } from '../../src/reconcile/loop.js';
import { intervalToCron, IntervalError } from '../../src/reconcile/schedule.js';
import { StateStore } from '../../src/reconcile/state.js';
import { missingCommand, need } from '../support/capabilities.js';
import { git } from '../support/git.js';
import {
  agentArgs,
  createGitFixture,
  DAEMON_JSON,
  DFDAEMON,
  DOCKER_TOML,
  HARBOR_TOML,
  killChildren,
  listFiles,
  makeAgent,
  REGION_FILE,
  runCli,
  setGuardrails,
  sh,
  SITE,
  snapshot,
  startCli,
  waitFor,
  type GitFixture,
  type Run,
} from './git-fixture.js';

const fixtures: GitFixture[] = [];

const REGIONS = ['ap-jakarta', 'cn-guangzhou', 'cn-hangzhou-idc', 'cn-shanghai', 'eu-amsterdam-idc', 'us-virginia'];
const ACKNOWLEDGED = 'policies/acknowledged-removals.yaml';
const ACK_HEAD =
  '# yaml-language-server: $schema=../agent/schemas/acknowledged-removals.schema.json\nkind: AcknowledgedRemovals\nname: acknowledged-removals\nremovals:\n';
/** Why an agent refuses a revision that deletes every region of the example fleet (limits 1 site, 4 links). */
const WIPE_SITES =
  'This revision removes every region (ap-jakarta, cn-guangzhou, cn-hangzhou-idc, cn-shanghai, eu-amsterdam-idc, us-virginia), which ' +
  'takes the fleet down: refused whatever the limit (maxSiteRemovals: 1 in policies/guardrails.yaml of the revision before it). To remove ' +
  'them on purpose, either mark each `lifecycle: retiring` in its file in a change of its own and let the agents apply it before the ' +
  'change that deletes it, or name them with a reason in policies/acknowledged-removals.yaml in the change that deletes them.';
const WIPE_LINKS =
  'This revision removes 6 links (ap-jakarta--ap-singapore, ap-singapore--eu-amsterdam-idc, ap-singapore--us-virginia, ' +
  'cn-beijing--cn-guangzhou, cn-beijing--cn-hangzhou-idc, cn-beijing--cn-shanghai), more than the fleet-wide limit (maxLinkRemovals: 4 ' +
  'in policies/guardrails.yaml of the revision before it). To remove them on purpose, either retire a site at one end first ' +
  '(`lifecycle: retiring`, applied by the agents before the change that deletes it), or name the links with a reason in ' +
  'policies/acknowledged-removals.yaml in the change that deletes them.';
function track(fx: GitFixture): GitFixture {
  fixtures.push(fx);
  return fx;
}

/** Inside each describe: kill the CLI children a test left running; remove the temp dirs at the end. */
function cleanupHooks(): void {
  afterEach(function () {
    killChildren();
  });
  after(function () {
    killChildren();
    for (const fx of fixtures.splice(0)) fx.cleanup();
  });
}

/** The pid of a process that has exited (and whose pid is not reused right away). */
function deadPid(): number {
  const pid = Number(execFileSync('sh', ['-c', 'echo $$'], { encoding: 'utf8' }).trim());
  assert.ok(pid > 0);
  return pid;
}

/** What users are told about: `apply-started` (commit status pending) is left out here. */
function kinds(events: AgentEvent[]): string[] {
  return events.filter((e) => e.kind !== 'apply-started').map((e) => (e.component ? `${e.kind}:${e.component}` : e.kind));
}

function cliResult(run: Run): TickResult {
  const line = run.stdout.trim().split('\n').filter(Boolean).pop();
  assert.ok(line, `the CLI printed no result (exit ${run.code}, signal ${run.signal}); stderr:\n${run.stderr}`);
  return JSON.parse(line) as TickResult;
}

async function metricsText(t: ReturnType<typeof makeAgent>): Promise<string> {
  return t.metrics.registry.metrics();
}

async function reconcileCount(t: ReturnType<typeof makeAgent>): Promise<number> {
  return (await t.metrics.reconciles.get()).values.reduce((n, v) => n + v.value, 0);
}

/** Parse every managed file; throws when one is truncated or corrupt. */
function parseHostFiles(fx: GitFixture): void {
  for (const p of [HARBOR_TOML, DOCKER_TOML]) parseToml(readFileSync(fx.host(p), 'utf8'));
  const df = parseYaml(readFileSync(fx.host(DFDAEMON), 'utf8')) as { proxy?: unknown };
  if (!df?.proxy) throw new Error(`${DFDAEMON} has no proxy section`);
}

describe('agent loop with real git repositories (node role, --root sandbox)', function () {
  this.timeout(30_000);
  cleanupHooks();

  it('(1) first tick clones and applies the revision; a second tick is in-sync and writes nothing', async function () {
    const fx = track(createGitFixture());
    const sha = fx.originHead();
    const t = makeAgent(fx);

    const first = await t.agent.tick('test');
    assert.deepEqual(first, { kind: 'applied', revision: sha, changes: 3 });
    assert.ok(existsSync(join(fx.stateDir, 'repo', '.git')), 'the agent clones into <state-dir>/repo');
    assert.equal(await git(join(fx.stateDir, 'repo'), ['rev-parse', 'HEAD']), sha);

    const harbor = parseToml(fx.hostText(HARBOR_TOML)!) as { server: string; host: Record<string, { capabilities: string[]; header: Record<string, string> }> };
    assert.equal(harbor.server, 'https://harbor.sg.mirrornet.internal');
    assert.deepEqual(Object.keys(harbor.host), ['http://127.0.0.1:4001']);
    assert.deepEqual(harbor.host['http://127.0.0.1:4001']!.capabilities, ['pull', 'resolve']);
    assert.equal(harbor.host['http://127.0.0.1:4001']!.header['X-Dragonfly-Registry'], 'https://harbor.sg.mirrornet.internal');
    assert.equal((parseToml(fx.hostText(DOCKER_TOML)!) as { server: string }).server, 'https://registry-1.docker.io');
    const df = parseYaml(fx.hostText(DFDAEMON)!) as { proxy: { server: { port: number } }; host: { idc: string } };
    assert.equal(df.proxy.server.port, 4001);
    assert.equal(df.host.idc, SITE);
    assert.deepEqual(listFiles(fx.root), [
      'etc/containerd/certs.d/docker.io/hosts.toml',
      'etc/containerd/certs.d/harbor.sg.mirrornet.internal/hosts.toml',
      'etc/dragonfly/dfdaemon.yaml',
    ]);
    assert.equal(fx.restarts(), 1, 'dfdaemon restarted once after its file was written');

    const state = fx.state();
    assert.equal(state.appliedRevision, sha);
    assert.equal(state.site, SITE);
    assert.deepEqual(state.inventory, { containerd: [DOCKER_TOML, HARBOR_TOML], dragonfly: [DFDAEMON] });
    assert.equal(state.refused, undefined);

    assert.deepEqual(kinds(t.events), ['applied']);
    const applied = t.events[0]!;
    assert.equal(applied.revision, sha);
    assert.equal(applied.site, SITE);
    assert.deepEqual(applied.changes!.map((c) => `${c.provider}:${c.action}:${c.id}`).sort(), [
      `containerd:create:${DOCKER_TOML}`,
      `containerd:create:${HARBOR_TOML}`,
      `dragonfly:create:${DFDAEMON}`,
    ]);
    assert.match(await metricsText(t), new RegExp(`mirrornet_last_applied_revision_info\\{revision="${sha}"\\} 1`));

    const before = snapshot(fx.root);
    const second = await t.agent.tick('test');
    assert.deepEqual(second, { kind: 'in-sync', revision: sha });
    assert.deepEqual(snapshot(fx.root), before, 'an in-sync tick writes no host file (same inode, mtime and content)');
    assert.equal(fx.restarts(), 1, 'no restart when nothing changed');
    assert.deepEqual(kinds(t.events), ['applied'], 'an in-sync tick reports nothing');
    assert.equal(fx.state().appliedRevision, sha);
  });

  it('(2) a pushed valid change is applied exactly: the files it affects, and a restart only when dfdaemon.yaml changed', async function () {
    const fx = track(createGitFixture());
    const t = makeAgent(fx);
    assert.equal((await t.agent.tick('test')).kind, 'applied');
    t.events.length = 0;

    // A change to another region: a new revision, nothing to do on this host.
    fx.replace('regions/ap-jakarta.yaml', 'proxyPort: 4001', 'proxyPort: 4011');
    const other = fx.commit('ap-jakarta: proxy port 4011');
    let before = snapshot(fx.root);
    assert.deepEqual(await t.agent.tick('test'), { kind: 'in-sync', revision: other });
    assert.deepEqual(snapshot(fx.root), before);
    assert.equal(fx.state().appliedRevision, other, 'a revision with nothing to do for this host is recorded as applied');
    // The revision still ends in `applied` (for its commit status), with no changes.
    assert.deepEqual(kinds(t.events), ['applied']);
    assert.deepEqual(t.events.find((e) => e.kind === 'applied')!.changes, []);
    t.events.length = 0;

    // dial timeout: both hosts.toml change, dfdaemon.yaml does not (no restart).
    fx.replace(REGION_FILE, 'dialTimeout: 2s', 'dialTimeout: 3s');
    const dial = fx.commit('us-virginia: dial timeout 3s');
    before = snapshot(fx.root);
    assert.deepEqual(await t.agent.tick('test'), { kind: 'applied', revision: dial, changes: 2 });
    let after = snapshot(fx.root);
    for (const p of [HARBOR_TOML, DOCKER_TOML]) {
      const host = parseToml(fx.hostText(p)!) as { host: Record<string, { dial_timeout?: string }> };
      assert.equal(host.host['http://127.0.0.1:4001']!.dial_timeout, '3s', p);
    }
    assert.deepEqual(after.get(DFDAEMON.slice(1)), before.get(DFDAEMON.slice(1)), 'dfdaemon.yaml untouched');
    assert.equal(fx.restarts(), 1, 'no dfdaemon restart: its file did not change');
    assert.deepEqual(kinds(t.events), ['applied']);
    assert.deepEqual(
      t.events
        .find((e) => e.kind === 'applied')!
        .changes!.map((c) => `${c.action}:${c.id}`)
        .sort(),
      [`update:${DOCKER_TOML}`, `update:${HARBOR_TOML}`],
    );
    assert.equal(fx.state().appliedRevision, dial);

    // proxy port: every file changes, dfdaemon restarts once.
    t.events.length = 0;
    fx.replace(REGION_FILE, 'proxyPort: 4001', 'proxyPort: 4011');
    const port = fx.commit('us-virginia: proxy port 4011');
    assert.deepEqual(await t.agent.tick('test'), { kind: 'applied', revision: port, changes: 3 });
    after = snapshot(fx.root);
    assert.equal((parseYaml(fx.hostText(DFDAEMON)!) as { proxy: { server: { port: number } } }).proxy.server.port, 4011);
    for (const p of [HARBOR_TOML, DOCKER_TOML])
      assert.deepEqual(Object.keys((parseToml(fx.hostText(p)!) as { host: object }).host), ['http://127.0.0.1:4011'], p);
    assert.equal(fx.restarts(), 2, 'one restart for the changed dfdaemon.yaml');
    assert.deepEqual(t.events[0]!.changes!.map((c) => `${c.provider}:${c.action}`).sort(), ['containerd:update', 'containerd:update', 'dragonfly:update']);
    assert.equal(fx.state().appliedRevision, port);
    assert.deepEqual(await t.agent.tick('test'), { kind: 'in-sync', revision: port });
  });

  it('(3) an invalid commit is refused with its reason, nothing changes, the last revision stays; a fix applies', async function () {
    const fx = track(createGitFixture());
    const good = fx.originHead();
    const t = makeAgent(fx);
    assert.equal((await t.agent.tick('test')).kind, 'applied');
    t.events.length = 0;
    const before = snapshot(fx.root);
    const restarts = fx.restarts();

    // Broken YAML in another region's file, together with a change for this host: the whole revision is refused.
    fx.write('regions/ap-jakarta.yaml', `${fx.read('regions/ap-jakarta.yaml')}  broken: [unclosed\n`);
    fx.replace(REGION_FILE, 'proxyPort: 4001', 'proxyPort: 4011');
    const bad = fx.commit('broken yaml');
    const refused = await t.agent.tick('test');
    assert.equal(refused.kind, 'refused');
    assert.equal(refused.revision, bad);
    const reason = (refused as Extract<TickResult, { kind: 'refused' }>).reason;
    assert.match(reason, /regions\/ap-jakarta\.yaml/, 'the reason names the file');
    assert.match(reason, /yaml\/syntax/, 'the reason names the rule');
    assert.deepEqual(kinds(t.events), ['revision-refused']);
    const ev = t.events[0]!;
    assert.equal(ev.revision, bad);
    assert.match(ev.message, /regions\/ap-jakarta\.yaml/);
    assert.match(ev.message, /yaml\/syntax/);
    assert.match(ev.message, new RegExp(good.slice(0, 12)), 'the event says which revision stays applied');

    assert.deepEqual(snapshot(fx.root), before, 'nothing on the host changed');
    assert.equal(fx.restarts(), restarts);
    const state = fx.state();
    assert.equal(state.appliedRevision, good, 'the last applied revision is kept');
    assert.equal(state.refused?.revision, bad);
    assert.match(state.refused!.reason, /yaml\/syntax/);

    // The next tick keeps enforcing the last applied revision and does not report the refusal again.
    const again = await t.agent.tick('test');
    assert.equal(again.kind, 'in-sync');
    assert.equal(again.revision, good);
    assert.deepEqual(kinds(t.events), ['revision-refused'], 'the refusal is reported once');
    assert.deepEqual(snapshot(fx.root), before);

    // A fix applies (the proxy port change that came with the broken commit included).
    fx.write('regions/ap-jakarta.yaml', fx.read('regions/ap-jakarta.yaml').replace('  broken: [unclosed\n', ''));
    const fixed = fx.commit('fix yaml');
    assert.deepEqual(await t.agent.tick('test'), { kind: 'applied', revision: fixed, changes: 3 });
    assert.equal((parseYaml(fx.hostText(DFDAEMON)!) as { proxy: { server: { port: number } } }).proxy.server.port, 4011);
    const s2 = fx.state();
    assert.equal(s2.appliedRevision, fixed);
    assert.equal(s2.refused, undefined, 'the refusal is cleared once a revision applies');
    assert.deepEqual(kinds(t.events), ['revision-refused', 'applied']);
  });

  it('(3b) while the newest revision is refused, drift is still handled with the policy of the applied revision (containerd: heal)', async function () {
    const fx = track(createGitFixture());
    const t = makeAgent(fx);
    assert.equal((await t.agent.tick('test')).kind, 'applied');
    const original = fx.hostText(HARBOR_TOML)!;
    fx.write('regions/ap-jakarta.yaml', `${fx.read('regions/ap-jakarta.yaml')}  broken: [unclosed\n`);
    fx.commit('broken yaml');
    assert.equal((await t.agent.tick('test')).kind, 'refused');
    t.events.length = 0;

    writeFileSync(fx.host(HARBOR_TOML), original.replace(/127\.0\.0\.1:4001/g, '127.0.0.1:5000'));
    const r = await t.agent.tick('test');
    assert.equal(r.kind, 'drift');
    assert.deepEqual((r as Extract<TickResult, { kind: 'drift' }>).healed, ['containerd'], 'policies/guardrails.yaml says containerd: heal');
    assert.equal(fx.hostText(HARBOR_TOML), original, 'the hand edit is healed');
  });

  it('(3c) the CLI agent --once exits 3 for a refused revision and keeps the files of the last one', async function () {
    const fx = track(createGitFixture());
    const good = fx.originHead();
    const ok = await runCli(agentArgs(fx, ['--once']));
    assert.equal(ok.code, 0, ok.stderr);
    assert.deepEqual(cliResult(ok), { kind: 'applied', revision: good, changes: 3 });
    const before = snapshot(fx.root);
    fx.write(REGION_FILE, `${fx.read(REGION_FILE)}\tbroken: [\n`);
    const bad = fx.commit('broken');
    const run = await runCli(agentArgs(fx, ['--once']));
    assert.equal(run.code, 3, `${run.stdout}${run.stderr}`);
    const res = cliResult(run);
    assert.equal(res.kind, 'refused');
    assert.equal(res.revision, bad);
    assert.match((res as Extract<TickResult, { kind: 'refused' }>).reason, new RegExp(REGION_FILE.replace('.', '\\.')));
    assert.deepEqual(snapshot(fx.root), before);
    assert.equal(fx.state().appliedRevision, good);
  });

  it('(4) a commit that deletes more than maxDeletionsPerApply is blocked: nothing deleted; a limit raised first applies it', async function () {
    // The fleet-wide removal limits are out of the way here (see (4b)): only maxDeletionsPerApply speaks.
    const fx = track(createGitFixture({ prepare: (f) => setGuardrails(f, { maxDeletionsPerApply: 1, maxSiteRemovals: 10, maxLinkRemovals: 10 }) }));
    const good = fx.originHead();
    const t = makeAgent(fx);
    assert.equal((await t.agent.tick('test')).kind, 'applied');
    t.events.length = 0;
    const before = snapshot(fx.root);
    const restarts = fx.restarts();

    // Remove most regions (ours stays) and move ours to Docker: both hosts.toml files would be deleted.
    for (const r of ['ap-jakarta', 'cn-guangzhou', 'cn-hangzhou-idc', 'cn-shanghai', 'eu-amsterdam-idc']) fx.remove(`regions/${r}.yaml`);
    fx.replace(REGION_FILE, 'runtime: containerd', 'runtime: docker');
    fx.replace(REGION_FILE, 'registries: [harbor-ap-singapore, docker.io]', 'registries: [docker.io]');
    const big = fx.commit('remove most regions; us-virginia moves to docker');

    const r = await t.agent.tick('test');
    assert.equal(r.kind, 'blocked');
    assert.equal(r.revision, big);
    const reasons = (r as Extract<TickResult, { kind: 'blocked' }>).reasons;
    assert.equal(reasons.length, 1);
    assert.match(reasons[0]!, /deletes 2 resources/);
    assert.match(reasons[0]!, /allows 1/);
    assert.match(reasons[0]!, /maxDeletionsPerApply/);
    assert.deepEqual(kinds(t.events), ['guardrail-blocked']);
    const ev = t.events[0]!;
    assert.equal(ev.revision, big);
    assert.match(ev.message, /maxDeletionsPerApply/);
    assert.deepEqual(
      ev
        .changes!.filter((c) => c.action === 'delete')
        .map((c) => c.id)
        .sort(),
      [DOCKER_TOML, HARBOR_TOML],
    );

    assert.deepEqual(snapshot(fx.root), before, 'nothing deleted or written');
    assert.ok(!existsSync(fx.host(DAEMON_JSON)));
    assert.equal(fx.restarts(), restarts);
    assert.equal(fx.reloads(), 0);
    assert.equal(fx.state().appliedRevision, good);
    assert.equal(fx.state().refused?.revision, big);

    // The next tick stays blocked silently and keeps the last applied revision.
    const again = await t.agent.tick('test');
    assert.equal(again.revision, good);
    assert.deepEqual(kinds(t.events), ['guardrail-blocked']);
    assert.deepEqual(snapshot(fx.root), before);

    // Raising the limit in the next commit, with the deletions still in the tree, does not help: the
    // revision is judged by the guardrails applied before it (limit 1).
    setGuardrails(fx, { maxDeletionsPerApply: 20 });
    const raisedTogether = fx.commit('raise the deletion limit');
    const stillBlocked = await t.agent.tick('test');
    assert.equal(stillBlocked.kind, 'blocked');
    assert.equal(stillBlocked.revision, raisedTogether);
    assert.deepEqual(snapshot(fx.root), before);

    // Intended: the limit first, on its own (the removals undone) ...
    fx.git(['checkout', good, '--', '.']);
    setGuardrails(fx, { maxDeletionsPerApply: 20 });
    const raised = fx.commit('undo the removals; raise the deletion limit');
    assert.equal((await t.agent.tick('test')).kind, 'in-sync');
    assert.equal(fx.state().appliedRevision, raised);
    // ... then the removals, judged by the raised limit.
    for (const r of ['ap-jakarta', 'cn-guangzhou', 'cn-hangzhou-idc', 'cn-shanghai', 'eu-amsterdam-idc']) fx.remove(`regions/${r}.yaml`);
    fx.replace(REGION_FILE, 'runtime: containerd', 'runtime: docker');
    fx.replace(REGION_FILE, 'registries: [harbor-ap-singapore, docker.io]', 'registries: [docker.io]');
    const again2 = fx.commit('remove most regions again; us-virginia moves to docker');
    const applied = await t.agent.tick('test');
    assert.equal(applied.kind, 'applied');
    assert.equal(applied.revision, again2);
    assert.ok(!existsSync(fx.host(HARBOR_TOML)) && !existsSync(fx.host(DOCKER_TOML)), 'the hosts.toml files are pruned now');
    assert.deepEqual(JSON.parse(fx.hostText(DAEMON_JSON)!)['registry-mirrors'], ['http://127.0.0.1:4001']);
    assert.equal(fx.reloads(), 1);
  });

  it('(4b) a commit that deletes every region and raises its own limits is blocked by the fleet-wide guardrail of the applied revision', async function () {
    const fx = track(createGitFixture({ prepare: (f) => setGuardrails(f, { maxSiteRemovals: 1 }) }));
    const good = fx.originHead();
    const t = makeAgent(fx);
    assert.equal((await t.agent.tick('test')).kind, 'applied');
    t.events.length = 0;
    const before = snapshot(fx.root);

    // Hostile: every region goes, this host's own included, and the same commit raises every limit it trips.
    for (const r of REGIONS) fx.remove(`regions/${r}.yaml`);
    setGuardrails(fx, { maxDeletionsPerApply: 1000, maxSiteRemovals: 1000, maxLinkRemovals: 1000 });
    const wipe = fx.commit('remove every region; raise the limits');
    const r = await t.agent.tick('test');
    assert.deepEqual(r, { kind: 'blocked', revision: wipe, reasons: [WIPE_SITES, WIPE_LINKS] });
    assert.deepEqual(kinds(t.events), ['guardrail-blocked']);
    assert.equal(t.events[0]!.message, `us-virginia did not apply ${wipe.slice(0, 12)}: ${WIPE_SITES} ${WIPE_LINKS}`);
    assert.deepEqual(snapshot(fx.root), before, 'nothing planned, deleted or written');
    assert.equal(fx.state().appliedRevision, good);
    assert.equal(fx.state().refused?.revision, wipe);

    // An acknowledgement that names other sites does not excuse these.
    fx.write(ACKNOWLEDGED, `${ACK_HEAD}  - sites: [eu-frankfurt]\n    reason: a region that never existed\n`);
    const otherAck = fx.commit('acknowledge another site');
    assert.deepEqual(await t.agent.tick('test'), { kind: 'blocked', revision: otherAck, reasons: [WIPE_SITES, WIPE_LINKS] });
    assert.deepEqual(snapshot(fx.root), before);

    // On purpose, way 1: the change that deletes three regions names them, with a reason (the limit is 1).
    fx.git(['checkout', good, '--', '.']);
    fx.write(ACKNOWLEDGED, `${ACK_HEAD}  - sites: [ap-jakarta, eu-amsterdam-idc, cn-hangzhou-idc]\n    reason: moved to the cores' VPCs\n`);
    for (const gone of ['ap-jakarta', 'eu-amsterdam-idc', 'cn-hangzhou-idc']) fx.remove(`regions/${gone}.yaml`);
    const acknowledged = fx.commit('decommission Jakarta, Amsterdam and Hangzhou, acknowledged');
    assert.deepEqual(await t.agent.tick('test'), { kind: 'in-sync', revision: acknowledged });
    assert.equal(fx.state().appliedRevision, acknowledged);

    // Way 2: retired in one revision, deleted in the next.
    fx.replace('regions/cn-guangzhou.yaml', 'kind: Region\n', 'kind: Region\nlifecycle: retiring\n');
    fx.replace('regions/cn-shanghai.yaml', 'kind: Region\n', 'kind: Region\nlifecycle: retiring\n');
    const retiring = fx.commit('Guangzhou and Shanghai are retiring');
    assert.deepEqual(await t.agent.tick('test'), { kind: 'in-sync', revision: retiring });
    fx.remove('regions/cn-guangzhou.yaml');
    fx.remove('regions/cn-shanghai.yaml');
    const retired = fx.commit('Guangzhou and Shanghai go');
    assert.deepEqual(await t.agent.tick('test'), { kind: 'in-sync', revision: retired });
    assert.deepEqual(kinds(t.events), ['guardrail-blocked', 'guardrail-blocked', 'applied', 'applied', 'applied']);
  });

  it('(5a) drift with mode heal (containerd): detected once, the file restored, then resolved', async function () {
    const fx = track(createGitFixture());
    const sha = fx.originHead();
    const t = makeAgent(fx);
    assert.equal((await t.agent.tick('test')).kind, 'applied');
    t.events.length = 0;
    const original = fx.hostText(HARBOR_TOML)!;
    const restarts = fx.restarts();

    writeFileSync(fx.host(HARBOR_TOML), original.replace(/127\.0\.0\.1:4001/g, '127.0.0.1:5000'));
    const r = await t.agent.tick('test');
    assert.deepEqual(r, { kind: 'drift', revision: sha, healed: ['containerd'], alerted: [] });
    assert.equal(fx.hostText(HARBOR_TOML), original, 'healed back to the repository');
    assert.deepEqual(kinds(t.events), ['drift-detected:containerd', 'drift-resolved:containerd']);
    assert.deepEqual(
      t.events[0]!.changes!.map((c) => `${c.action}:${c.id}`),
      [`update:${HARBOR_TOML}`],
    );
    assert.equal(fx.restarts(), restarts, 'healing a hosts.toml does not restart dfdaemon');
    assert.deepEqual(fx.state().drift, {});
    assert.match(await metricsText(t), /mirrornet_drift\{component="containerd"\} 0/);

    const before = snapshot(fx.root);
    assert.deepEqual(await t.agent.tick('test'), { kind: 'in-sync', revision: sha });
    assert.deepEqual(kinds(t.events), ['drift-detected:containerd', 'drift-resolved:containerd'], 'nothing more to report');
    assert.deepEqual(snapshot(fx.root), before);
  });

  it('(5b) drift with mode alert: detected once (fingerprint), file untouched, resolved once when a human reverts it', async function () {
    const fx = track(createGitFixture({ prepare: (f) => setGuardrails(f, { drift: { containerd: 'alert' } }) }));
    const sha = fx.originHead();
    const t = makeAgent(fx);
    assert.equal((await t.agent.tick('test')).kind, 'applied');
    t.events.length = 0;
    const original = fx.hostText(HARBOR_TOML)!;
    const edited = original.replace(/127\.0\.0\.1:4001/g, '127.0.0.1:5000');

    writeFileSync(fx.host(HARBOR_TOML), edited);
    const edit = snapshot(fx.root);
    assert.deepEqual(await t.agent.tick('test'), { kind: 'drift', revision: sha, healed: [], alerted: ['containerd'] });
    assert.deepEqual(kinds(t.events), ['drift-detected:containerd']);
    assert.match(t.events[0]!.message, /hosts\.toml/);
    const diff = t.events[0]!.diff!.split('\n');
    assert.deepEqual(diff.slice(0, 2), [`--- ${HARBOR_TOML}`, `+++ ${HARBOR_TOML}`], 'the alert carries the diff of what was found');
    assert.ok(diff.includes('-[host."http://127.0.0.1:5000"]') && diff.includes('+[host."http://127.0.0.1:4001"]'), t.events[0]!.diff);
    assert.equal(fx.hostText(HARBOR_TOML), edited, 'alert only: the file is left as the human wrote it');
    assert.match(await metricsText(t), /mirrornet_drift\{component="containerd"\} 1/);
    assert.ok(fx.state().drift['containerd'], 'the fingerprint is kept in the state');

    for (let i = 0; i < 2; i++) {
      assert.deepEqual(await t.agent.tick('test'), { kind: 'drift', revision: sha, healed: [], alerted: ['containerd'] });
    }
    assert.deepEqual(kinds(t.events), ['drift-detected:containerd'], 'the same drift is not reported again');
    assert.deepEqual(snapshot(fx.root), edit, 'file untouched');

    // A fresh Agent on the same state dir (an agent restart) does not report it again either.
    const t2 = makeAgent(fx);
    assert.equal((await t2.agent.tick('test')).kind, 'drift');
    assert.equal(t2.events.length, 0, 'the fingerprint survives a restart of the agent');

    writeFileSync(fx.host(HARBOR_TOML), original);
    assert.deepEqual(await t.agent.tick('test'), { kind: 'in-sync', revision: sha });
    assert.deepEqual(kinds(t.events), ['drift-detected:containerd', 'drift-resolved:containerd']);
    assert.deepEqual(fx.state().drift, {});
    assert.deepEqual(await t.agent.tick('test'), { kind: 'in-sync', revision: sha });
    assert.deepEqual(kinds(t.events), ['drift-detected:containerd', 'drift-resolved:containerd'], 'resolved once');
  });

  it('(6) prune: a registry removed from the mirror list loses its hosts.toml; a directory mirrornet did not create is never touched', async function () {
    const fx = track(createGitFixture());
    const foreign = '/etc/containerd/certs.d/quay.io/hosts.toml';
    mkdirSync(dirname(fx.host(foreign)), { recursive: true });
    writeFileSync(fx.host(foreign), 'server = "https://quay.io"\n# written by a human\n');
    writeFileSync(join(dirname(fx.host(foreign)), 'ca.crt'), 'not a real certificate\n');
    const foreignBefore = snapshot(dirname(fx.host(foreign)));

    const t = makeAgent(fx);
    assert.equal((await t.agent.tick('test')).kind, 'applied');
    assert.ok(!fx.state().inventory['containerd']!.includes(foreign), 'a file mirrornet did not create is not in its inventory');
    t.events.length = 0;

    fx.replace(REGION_FILE, 'registries: [harbor-ap-singapore, docker.io]', 'registries: [harbor-ap-singapore]');
    const sha = fx.commit('us-virginia: stop mirroring Docker Hub');
    const harborBefore = snapshot(dirname(fx.host(HARBOR_TOML)));
    assert.deepEqual(await t.agent.tick('test'), { kind: 'applied', revision: sha, changes: 1 });
    assert.deepEqual(t.events[0]!.changes, [{ provider: 'containerd', id: DOCKER_TOML, action: 'delete', reason: t.events[0]!.changes![0]!.reason }]);
    assert.ok(!existsSync(fx.host(DOCKER_TOML)), 'the pruned hosts.toml is gone');
    assert.ok(!existsSync(dirname(fx.host(DOCKER_TOML))), 'and its now empty directory');
    assert.deepEqual(snapshot(dirname(fx.host(foreign))), foreignBefore, 'quay.io is untouched');
    assert.deepEqual(snapshot(dirname(fx.host(HARBOR_TOML))), harborBefore, 'the Harbor mirror is untouched');
    assert.deepEqual(fx.state().inventory['containerd'], [HARBOR_TOML]);

    assert.deepEqual(await t.agent.tick('test'), { kind: 'in-sync', revision: sha });
    assert.deepEqual(snapshot(dirname(fx.host(foreign))), foreignBefore);
  });

  it('(7) SIGKILL during the first apply, then --once again: converges, every file complete, state.json valid', async function () {
    this.timeout(60_000);
    const fx = track(createGitFixture());
    const sha = fx.originHead();

    // A reference run: how long a first apply takes, and the files it writes.
    const started = Date.now();
    const ref = await runCli(agentArgs(fx, ['--once']));
    const took = Date.now() - started;
    assert.equal(ref.code, 0, ref.stderr);
    assert.equal(cliResult(ref).kind, 'applied');
    const expected = new Map([...snapshot(fx.root)].map(([p, s]) => [p, s.content]));

    const problems: string[] = [];
    const lockProblems: string[] = [];
    const check = (label: string, run: Run): string | undefined => {
      if (run.code !== 0) {
        const last = run.stdout.trim().split('\n').pop() ?? '';
        let why = last || run.stderr.trim().split('\n').pop() || '';
        try {
          why = (JSON.parse(last) as { reason?: string }).reason ?? why;
        } catch {
          /* not JSON */
        }
        return `${label}: exit ${run.code}: ${why}`;
      }
      const res = cliResult(run);
      if (!['applied', 'in-sync'].includes(res.kind) || res.revision !== sha) return `${label}: ${JSON.stringify(res)}`;
      try {
        parseHostFiles(fx);
      } catch (err) {
        return `${label}: a file is corrupt: ${(err as Error).message}`;
      }
      const actual = snapshot(fx.root);
      const got = [...actual.keys()];
      const temps = got.filter((p) => p.includes('.mirrornet-tmp-'));
      if (temps.length) return `${label}: temp files left behind: ${temps.join(', ')}`;
      for (const [p, content] of expected) if (actual.get(p)?.content !== content) return `${label}: ${p} differs from a clean apply`;
      const extra = got.filter((p) => !expected.has(p) && !p.endsWith('.mirrornet.bak'));
      if (extra.length) return `${label}: files a clean apply does not leave: ${extra.join(', ')}`;
      let state: { appliedRevision?: string };
      try {
        state = JSON.parse(readFileSync(join(fx.stateDir, 'state.json'), 'utf8')) as { appliedRevision?: string };
      } catch (err) {
        return `${label}: state.json is not valid JSON: ${(err as Error).message}`;
      }
      if (state.appliedRevision !== sha) return `${label}: state.json appliedRevision ${state.appliedRevision}`;
      return undefined;
    };

    // Kill points: when a step of the first apply becomes visible on disk (polled every event-loop turn),
    // and at fixed fractions of a clean run.
    const at = (rel: string) => () => existsSync(join(fx.stateDir, rel));
    const host = (p: string) => () => existsSync(fx.host(p));
    const points: { label: string; when: (elapsedMs: number) => boolean }[] = [
      { label: 'the clone started', when: at('repo/.git') },
      { label: 'the checkout has files', when: at('repo/regions') },
      { label: 'the write-ahead inventory was saved', when: at('state.json') },
      { label: 'the first hosts.toml appeared', when: host(HARBOR_TOML) },
      { label: 'dfdaemon.yaml appeared', when: host(DFDAEMON) },
      { label: 'desired.json appeared', when: at('desired.json') },
      ...[0.8].map((f) => ({ label: `${Math.round(took * f)} ms`, when: (ms: number) => ms >= took * f })),
    ];
    for (const point of points) {
      fx.resetHost();
      const t0 = Date.now();
      const { child, done } = startCli(agentArgs(fx, ['--once']), { detached: true });
      let exited = false;
      void done.then(() => (exited = true));
      while (!exited && !point.when(Date.now() - t0) && Date.now() - t0 < 10_000) await new Promise((r) => setImmediate(r));
      const delay = Date.now() - t0;
      try {
        process.kill(-child.pid!, 'SIGKILL'); // the agent and its git/hook children, as systemd kills a unit
      } catch {
        /* already gone */
      }
      const killed = await done;
      const phase = `${killed.signal ? 'killed' : `finished (exit ${killed.code})`} at ${delay} ms (${point.label}); left: ${
        listFiles(fx.stateDir)
          .filter((p) => !p.startsWith('repo/'))
          .join(' ') || 'no state'
      }${existsSync(join(fx.stateDir, 'repo')) ? ' +repo' : ''}, ${listFiles(fx.root).length} host files`;
      // Files that exist at all must parse, even right after the kill.
      for (const p of listFiles(fx.root)) {
        if (p.includes('.mirrornet-tmp-') || p.endsWith('.bak')) continue;
        const text = readFileSync(join(fx.root, p), 'utf8');
        try {
          if (p.endsWith('.toml')) parseToml(text);
          else parseYaml(text);
        } catch (err) {
          problems.push(`${phase}: ${p} is corrupt right after the kill: ${(err as Error).message}`);
        }
      }
      const again = await runCli(agentArgs(fx, ['--once']));
      let problem = check(`next --once after a kill ${phase}`, again);
      if (problem && /Another mirrornet agent/.test(problem)) {
        // The killed agent's lock must not outlive it. Record that, then remove it to check the rest.
        lockProblems.push(`kill ${phase}: the next --once failed: Another mirrornet agent is applying (LockedError)`);
        rmSync(join(fx.stateDir, 'apply.lock'), { recursive: true, force: true });
        problem = check(`--once after removing the stale lock (kill ${phase})`, await runCli(agentArgs(fx, ['--once'])));
      }
      if (problem) {
        // Does it ever recover on its own?
        const third = check('third --once', await runCli(agentArgs(fx, ['--once'])));
        problems.push(`${problem}${third ? ' (a third run fails the same way)' : ' (a third run converges)'}`);
      }
    }
    assert.deepEqual([...lockProblems, ...problems], [], 'after a SIGKILL, the next run must converge');
  });

  it('(7b) SIGKILL during the dfdaemon restart hook: the next run still restarts dfdaemon for the file it wrote', async function () {
    const fx = track(createGitFixture());
    const marker = join(fx.dir, 'hook.log');
    const slowHook = `echo start >> ${sh(marker)}; sleep 5; echo done >> ${sh(marker)}`;
    const args = agentArgs(fx, ['--once']);
    const withHook = (hook: string) => args.map((a, i) => (args[i - 1] === '--dragonfly-restart' ? hook : a));
    const { child, done } = startCli(withHook(slowHook), { detached: true });
    await waitFor('the restart hook to start', () => existsSync(marker));
    process.kill(-child.pid!, 'SIGKILL');
    await done;
    assert.equal(readFileSync(marker, 'utf8'), 'start\n');

    const run = await runCli(withHook(`echo start >> ${sh(marker)}; echo done >> ${sh(marker)}`));
    assert.equal(run.code, 0, run.stderr);
    assert.equal(fx.state().appliedRevision, fx.originHead());
    assert.match(readFileSync(marker, 'utf8'), /done/, 'dfdaemon must be restarted once with the new dfdaemon.yaml: the killed run never finished its restart');
  });

  it('(7c) temp files a killed writer left next to managed files are removed by the next reconcile', async function () {
    const fx = track(createGitFixture());
    const t = makeAgent(fx);
    assert.equal((await t.agent.tick('test')).kind, 'applied');
    // What writeAtomic leaves when the agent dies between creating its temp file and the rename.
    const temps = [
      join(dirname(fx.host(HARBOR_TOML)), '.hosts.toml.mirrornet-tmp-99999-0badc0de'),
      join(dirname(fx.host(DFDAEMON)), '.dfdaemon.yaml.mirrornet-tmp-99999-0badc0de'),
    ];
    for (const p of temps) writeFileSync(p, 'server = "https://harbor.sg.mirr');
    await t.agent.tick('test');
    assert.deepEqual(
      temps.filter((p) => existsSync(p)),
      [],
      'HostFiles.cleanTemps exists but the loop never calls it',
    );
  });

  it('(8a) ticks in one process fold: three concurrent ticks run two reconciles, one after the other', async function () {
    const fx = track(createGitFixture());
    const sha = fx.originHead();
    const t = makeAgent(fx);
    const results = await Promise.all([t.agent.tick('a'), t.agent.tick('b'), t.agent.tick('c')]);
    assert.equal(await reconcileCount(t), 2, 'the first run plus one folded run for the two calls that came while it ran');
    for (const r of results) assert.notEqual(r.kind, 'failed', `a folded tick must not contend for the lock: ${JSON.stringify(r)}`);
    assert.deepEqual(results[1], results[0]);
    assert.deepEqual(results[2], results[0]);
    assert.deepEqual(results[0], { kind: 'in-sync', revision: sha }, 'every caller gets the result of the last run');
    assert.deepEqual(kinds(t.events), ['applied'], 'applied once');
    assert.equal(fx.restarts(), 1);
    // A tick after the fold runs again normally.
    assert.deepEqual(await t.agent.tick('d'), { kind: 'in-sync', revision: sha });
    assert.equal(await reconcileCount(t), 3);
  });

  it('(8b) two processes on one state dir never apply at once: the second waits for the lock, then reconciles', async function () {
    const fx = track(createGitFixture());
    const store = new StateStore(fx.stateDir);
    let release!: () => void;
    const held = new Promise<void>((r) => (release = r));
    let holding!: () => void;
    const acquired = new Promise<void>((r) => (holding = r));
    const holder = store.withLock(async () => {
      holding();
      await held;
    });
    await acquired;
    let run: Promise<Run> | undefined;
    try {
      // Another holder in this process with a short wait: LockedError, and its function never runs.
      let ran = false;
      await assert.rejects(
        new StateStore(fx.stateDir).withLock(
          async () => {
            ran = true;
          },
          { waitMs: 300 },
        ),
        (err: Error) => err.name === 'LockedError' && /Another mirrornet agent is applying on this host/.test(err.message),
      );
      assert.equal(ran, false);

      // The CLI agent waits while the lock is held and applies nothing meanwhile.
      run = startCli(agentArgs(fx, ['--once'])).done;
      let exited = false;
      void run.then(() => (exited = true));
      await new Promise((r) => setTimeout(r, 2000));
      assert.equal(exited, false, 'the second agent waits for the lock (up to 60 s) instead of failing at once');
      assert.deepEqual(listFiles(fx.root), [], 'nothing applied while the lock is held');
    } finally {
      release();
      await holder;
    }
    const ok = await run!;
    assert.equal(ok.code, 0, ok.stderr);
    assert.equal(cliResult(ok).kind, 'applied', 'once the lock is free, the waiting agent applies');
    assert.ok(!existsSync(join(fx.stateDir, 'apply.lock')), 'the lock is released');

    // A lock whose holder is dead (a SIGKILLed agent) is taken over at once.
    writeFileSync(join(fx.stateDir, 'apply.lock'), `${deadPid()} 12345`);
    const t0 = Date.now();
    let took = false;
    await store.withLock(
      async () => {
        took = true;
      },
      { waitMs: 0 },
    );
    assert.ok(took && Date.now() - t0 < 1000, 'a dead holder does not block');

    // Two agents started together: never two applies at the same time.
    fx.resetHost();
    const log = join(fx.dir, 'overlap.log');
    const hook = `echo "start $PPID" >> ${sh(log)}; sleep 0.3; echo "end $PPID" >> ${sh(log)}`;
    const args = agentArgs(fx, ['--once']).map((a, i, all) => (all[i - 1] === '--dragonfly-restart' ? hook : a));
    const [a, b] = await Promise.all([runCli(args), runCli(args)]);
    const results = [a, b].map(cliResult);
    const lines = readFileSync(log, 'utf8').trim().split('\n');
    let inside = 0;
    for (const l of lines) {
      inside += l.startsWith('start') ? 1 : -1;
      assert.ok(inside <= 1, `two applies overlapped: ${lines.join(' | ')}`);
    }
    assert.equal(results.filter((r) => r.kind === 'applied').length, 1, JSON.stringify(results));
    const other = results.find((r) => r.kind !== 'applied')!;
    assert.equal(other.kind, 'in-sync', `the agent that waited finds the host in sync: ${JSON.stringify(other)}`);
  });

  it('(10) a changed --repo-url is followed: the agent reconciles from the new origin, not the old clone', async function () {
    const a = track(createGitFixture());
    const b = track(createGitFixture({ prepare: (f) => f.replace(REGION_FILE, 'dialTimeout: 2s', 'dialTimeout: 7s') }));
    const first = makeAgent(a);
    assert.equal((await first.agent.tick('test')).revision, a.originHead());
    // The same host and state dir, now configured with another repository URL (e.g. the repo moved).
    const moved = makeAgent(a, { url: b.origin });
    const r = await moved.agent.tick('test');
    assert.equal(r.revision, b.originHead(), `the agent must follow ${b.origin}: ${JSON.stringify(r)}`);
    assert.match(a.hostText(HARBOR_TOML)!, /dial_timeout = "7s"/);
  });

  describe('(9) commit signature verification (SSH allowed signers)', function () {
    let allowedKey = '';
    let otherKey = '';
    let signers = '';
    before(function () {
      need(this, missingCommand('ssh-keygen', 'openssh-client'));
      const keys = track(createGitFixture()); // only for its temp dir
      const keygen = (name: string): string => {
        const file = join(keys.dir, name);
        execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', name, '-f', file], { stdio: 'ignore' });
        return file;
      };
      allowedKey = keygen('allowed');
      otherKey = keygen('other');
      signers = join(keys.dir, 'allowed_signers');
      const pub = readFileSync(`${allowedKey}.pub`, 'utf8').trim().split(/\s+/).slice(0, 2).join(' ');
      writeFileSync(signers, `test@mirrornet.invalid ${pub}\n`);
    });

    /** A fixture whose first commit is signed by the allowed key, applied by an agent that verifies. */
    async function signedStart(): Promise<{ fx: GitFixture; t: ReturnType<typeof makeAgent>; first: string; before: ReturnType<typeof snapshot> }> {
      const fx = track(createGitFixture({ signingKey: allowedKey }));
      const first = fx.originHead();
      const t = makeAgent(fx, { allowedSigners: signers });
      assert.deepEqual(await t.agent.tick('test'), { kind: 'applied', revision: first, changes: 3 }, 'the signed first commit applies');
      t.events.length = 0;
      return { fx, t, first, before: snapshot(fx.root) };
    }

    it('(9a) an unsigned commit is refused', async function () {
      const { fx, t, first, before } = await signedStart();
      fx.replace(REGION_FILE, 'dialTimeout: 2s', 'dialTimeout: 3s');
      const unsigned = fx.commit('unsigned change');
      const r = await t.agent.tick('test');
      assert.equal(r.kind, 'refused', `an unsigned commit must not apply: ${JSON.stringify(r)}`);
      assert.equal(r.revision, unsigned);
      assert.match((r as Extract<TickResult, { kind: 'refused' }>).reason, /not signed by an allowed signer/);
      assert.deepEqual(kinds(t.events), ['revision-refused']);
      assert.deepEqual(snapshot(fx.root), before, 'nothing changed on the host');
      assert.equal(fx.state().appliedRevision, first);
    });

    it('(9b) a commit signed by a key that is not in the allowed-signers file is refused', async function () {
      const { fx, t, first, before } = await signedStart();
      fx.replace(REGION_FILE, 'dialTimeout: 2s', 'dialTimeout: 4s');
      const stranger = fx.commit('signed by a key that is not allowed', { signingKey: otherKey });
      const r = await t.agent.tick('test');
      assert.equal(r.kind, 'refused', JSON.stringify(r));
      assert.equal(r.revision, stranger);
      assert.match((r as Extract<TickResult, { kind: 'refused' }>).reason, /not signed by an allowed signer/);
      assert.deepEqual(kinds(t.events), ['revision-refused']);
      assert.deepEqual(snapshot(fx.root), before);
      assert.equal(fx.state().appliedRevision, first);
    });

    it('(9c) a commit signed by an allowed key is applied', async function () {
      const { fx, t } = await signedStart();
      fx.replace(REGION_FILE, 'dialTimeout: 2s', 'dialTimeout: 5s');
      const signed = fx.commit('signed change', { signingKey: allowedKey });
      assert.deepEqual(await t.agent.tick('test'), { kind: 'applied', revision: signed, changes: 2 });
      assert.equal(
        (parseToml(fx.hostText(HARBOR_TOML)!) as { host: Record<string, { dial_timeout: string }> }).host['http://127.0.0.1:4001']!.dial_timeout,
        '5s',
      );
      assert.equal(fx.state().appliedRevision, signed);
      assert.deepEqual(kinds(t.events), ['applied']);
    });
  });
});

describe('intervalToCron', function () {
  cleanupHooks();
  it('turns 30s, 1m, 5m and 1h into six-field cron expressions', function () {
    assert.equal(intervalToCron('30s'), '*/30 * * * * *');
    assert.equal(intervalToCron('1m'), '0 */1 * * * *');
    assert.equal(intervalToCron('5m'), '0 */5 * * * *');
    assert.equal(intervalToCron('1h'), '0 0 */1 * * *');
  });

  for (const bad of ['7s', '90m']) {
    it(`rejects ${bad} with a message that says what works`, function () {
      assert.throws(
        () => intervalToCron(bad),
        (err: unknown) => {
          assert.ok(err instanceof IntervalError);
          assert.match(err.userMessage, new RegExp(`--interval ${bad} is not supported`));
          assert.match(err.userMessage, /30s/);
          assert.match(err.userMessage, /1h/);
          return true;
        },
      );
    });
  }

  it('the CLI agent exits 1 on --interval 7s with that message, before touching anything', async function () {
    const fx = track(createGitFixture());
    const run = await runCli(agentArgs(fx, ['--interval', '7s', '--once']));
    assert.equal(run.code, 1);
    assert.match(run.stderr, /--interval 7s is not supported/);
    assert.ok(!existsSync(fx.stateDir), 'no state dir created');
  });
});
