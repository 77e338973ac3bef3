// Rollout waves in a real lab (root + Debian packages; run it under `flock /tmp/mirrornet-lab.lock`): the two
// cores and two regions, one node each, bundle delivery, chat to the lab's receiver, agents ticking every 5 s.
// The lab leaves the repository's rollout policy out; this test commits its own (canary cn-shanghai, then
// ap-jakarta, then the cores; soak 10 s) to the lab's origin, and the publisher (ap-singapore's agent) follows it:
//   (c) with every change window closed (a window that opens in 12 hours), a revision reaches no site; a commit
//       with the Mirrornet-Emergency trailer goes through;
//   (b) with the canary healthy, the emergency revision reaches the waves in order, each after the one before
//       it soaked, and the rollout completes;
//   (a) with the canary's restart hook failing, a revision never reaches the later waves, and rollout-halted
//       reaches each chat channel exactly once.
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { listModelFiles } from '../../src/model/loader.js';
import { validateFiles } from '../../src/policy/validate.js';
import { agentState, FAILING_HOOKS_FILE } from '../../src/testbed/lab/agents.js';
import { BUNDLE_REPOSITORY, publisherCore } from '../../src/testbed/lab/delivery.js';
import { labDown } from '../../src/testbed/lab/down.js';
import { fleetSites, selectSites } from '../../src/testbed/lab/fleet-sites.js';
import { missingForLab } from '../../src/testbed/lab/preflight.js';
import { listNamespaces, loadState, type AgentRecord, type LabState } from '../../src/testbed/lab/processes.js';
import { labTopology } from '../../src/testbed/lab/topology.js';
import { labUp } from '../../src/testbed/lab/up.js';
import { need } from '../support/capabilities.js';
import { git } from '../support/git.js';
import { busyLabInterface, sh, sleep, waitFor } from './helpers.js';
import { labChat } from './reports.js';

const repoRoot = fileURLToPath(new URL('../../../..', import.meta.url));
const CLI = join(repoRoot, 'agent/bin/mirrornet.js');
const SITES = ['ap-jakarta', 'cn-shanghai'];
const INTERVAL_S = 5;
const SOAK_S = 10;

/** The test's rollout policy: windows that open 12 hours from now (closed for the whole test) unless `windows` is false. */
function rolloutPolicy(windows: boolean, description = 'lab rollout'): string {
  const hour = (new Date().getUTCHours() + 12) % 24;
  const window = (area: string) =>
    [`  - name: ${area}-later`, `    area: ${area}`, `    schedule: 0 ${hour} * * *`, '    duration: 1h', '    timeZone: UTC'].join('\n');
  return [
    'kind: RolloutPolicy',
    'name: rollout',
    `description: ${description}`,
    `soakTime: ${SOAK_S}s`,
    'healthy: [applied, ready]',
    'waves:',
    '  - name: canary',
    '    sites: [cn-shanghai]',
    '  - name: overseas',
    '    sites: [ap-jakarta]',
    '  - name: cores',
    '    match: { roles: [hub] }',
    ...(windows ? ['windows:', window('cn'), window('overseas')] : []),
    '',
  ].join('\n');
}

describe('rollout waves in the lab (root): canary first, change windows, a halt on a failing hook', function () {
  this.timeout(300_000);
  const prefix = `mnr${process.pid.toString(36)}`;
  let dir = '';
  let work = '';
  let clone = '';
  let allowedBefore: string | undefined;
  const lines: string[] = [];
  const say = (l: string) => lines.push(`${new Date().toISOString().slice(11, 23)} ${l}`);
  const state = (): LabState => loadState(dir)!;
  const gateways = () => state().agents.filter((a) => a.role === 'gateway');
  const name = (a: AgentRecord) => a.node ?? a.site;
  const applied = () => Object.fromEntries(state().agents.map((a) => [name(a), agentState(a)?.appliedRevision?.slice(0, 12)]));
  const source = () => {
    const core = state().topology!.sites.find((s) => s.name === publisherCore(state().topology!).name)!;
    return `oci+http://${core.registry!.host}:${core.registry!.port}/${BUNDLE_REPOSITORY}:main`;
  };
  const rolloutStatus = () => {
    const r = sh(process.execPath, [CLI, 'rollout', 'status', '--source', source(), '--format', 'json'], { allowFail: true });
    return { code: r.code, state: r.code === 1 ? undefined : (JSON.parse(r.stdout) as { revision: string; waves: { name: string; state: string }[] }) };
  };
  const commit = async (message: string, files: Record<string, (text: string) => string>): Promise<string> => {
    for (const [file, edit] of Object.entries(files)) {
      const path = join(clone, file);
      let text = '';
      try {
        text = readFileSync(path, 'utf8');
      } catch {
        /* a new file */
      }
      writeFileSync(path, edit(text));
    }
    await git(clone, ['add', '-A']);
    await git(clone, ['commit', '-q', '-m', message]);
    await git(clone, ['push', '-q', 'origin', 'main']);
    return git(clone, ['rev-parse', 'HEAD']);
  };
  const chatOf = (kind: string, revision: string) => labChat(state(), (_d, b) => b.event.kind === kind && b.event.revision === revision);

  before(async function () {
    this.timeout(200_000);
    const missing = missingForLab();
    need(
      this,
      missing.reasons.length ? `${missing.reasons.join('; ')}${missing.packages.length ? ` (apt-get install ${missing.packages.join(' ')})` : ''}` : undefined,
    );
    const busy = busyLabInterface(repoRoot, SITES);
    need(this, busy ? `a lab with the same sites is up on this machine (${busy} exists): run \`mirrornet lab down\` first` : undefined);
    // The lab owns its cores' registry addresses while it is up: the lab (publishing the first revision) and this
    // test (`mirrornet rollout status`) reach them over the lab's host link.
    allowedBefore = process.env['MIRRORNET_TEST_ALLOW_HOSTS'];
    const topology = labTopology(selectSites(fleetSites(validateFiles(listModelFiles(repoRoot).files).fleet), SITES), { prefix, nodes: 1 });
    const cores = topology.sites.filter((s) => s.role === 'hub').map((s) => s.lan);
    process.env['MIRRORNET_TEST_ALLOW_HOSTS'] = [...(allowedBefore ? [allowedBefore] : []), ...cores].join(',');
    dir = mkdtempSync(join(tmpdir(), 'mn-rollout-'));
    work = mkdtempSync(join(tmpdir(), 'mn-rollout-work-'));
    const t0 = Date.now();
    await labUp({
      repo: repoRoot,
      dir,
      nodes: 1,
      sites: SITES,
      prefix,
      peer: 'dfproxy',
      interval: `${INTERVAL_S}s`,
      report: { chat: true },
      say,
      timeoutMs: 150_000,
    });
    say(`(test) lab up in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
    clone = join(work, 'clone');
    await git(work, ['clone', '-q', state().origin, clone]);
  });

  after(async function () {
    this.timeout(60_000);
    if (allowedBefore === undefined) delete process.env['MIRRORNET_TEST_ALLOW_HOSTS'];
    else process.env['MIRRORNET_TEST_ALLOW_HOSTS'] = allowedBefore;
    const failed = (this.test?.parent?.tests ?? []).some((t) => t.state === 'failed');
    if (!dir) return;
    const r = await labDown({ dir, prefix, say });
    if (failed || r.problems.length || process.env['MIRRORNET_LAB_VERBOSE']) process.stderr.write(`${lines.join('\n')}\n`);
    if (work) rmSync(work, { recursive: true, force: true });
    assert.deepEqual(r.problems, [], 'lab down problems');
    assert.deepEqual(
      listNamespaces().filter((n) => n.startsWith(`${prefix}-`)),
      [],
      'no namespace left',
    );
  });

  it('(c) a closed change window holds a revision everywhere; (b) an emergency commit goes through, wave after wave', async () => {
    const before = applied();
    const held = await commit('rollout waves for the lab, with change windows closed now', { 'policies/rollout.yaml': () => rolloutPolicy(true) });
    const status = await waitFor(
      'the publisher holding the revision for its window',
      60_000,
      () => {
        const s = rolloutStatus();
        return s.state?.revision === held && s.state.waves[0]!.state === 'waiting' && s;
      },
      () => JSON.stringify(rolloutStatus()),
    );
    assert.equal(status.code, 2);
    await sleep(3 * INTERVAL_S * 1000);
    assert.deepEqual(applied(), before, 'no host took the held revision');
    say(`(test) ${held.slice(0, 12)} held by the windows: ${JSON.stringify(status.state!.waves.map((w) => `${w.name}:${w.state}`))}`);

    const urgent = await commit('an urgent change\n\nMirrornet-Emergency: lab test of the emergency trailer', {
      'policies/rollout.yaml': () => rolloutPolicy(true, 'lab rollout, urgent'),
    });
    const t0 = Date.now();
    await waitFor(
      'every host applying the emergency revision',
      180_000,
      () => Object.values(applied()).every((r) => r === urgent.slice(0, 12)),
      () => `${JSON.stringify(applied())}\n${JSON.stringify(rolloutStatus())}`,
      1000,
    );
    say(`(test) the emergency revision reached every host in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
    const at = (site: string) => Date.parse(agentState(gateways().find((a) => a.site === site)!)!.appliedAt!);
    const order = gateways()
      .map((a) => [a.site, at(a.site)] as const)
      .sort((x, y) => x[1] - y[1]);
    say(`(test) applied in this order: ${order.map(([s, t]) => `${s} +${((t - order[0]![1]) / 1000).toFixed(1)}s`).join(', ')}`);
    assert.equal(order[0]![0], 'cn-shanghai', 'the canary first');
    assert.equal(order[1]![0], 'ap-jakarta', 'then overseas');
    assert.deepEqual(
      order
        .slice(2)
        .map(([s]) => s)
        .sort(),
      ['ap-singapore', 'cn-beijing'],
      'the cores last',
    );
    assert.ok(at('ap-jakarta') - at('cn-shanghai') >= SOAK_S * 1000, 'overseas after the canary soaked');
    assert.ok(Math.min(at('ap-singapore'), at('cn-beijing')) - at('ap-jakarta') >= SOAK_S * 1000, 'the cores after overseas soaked');
    await waitFor(
      'the rollout complete',
      60_000,
      () => rolloutStatus().code === 0,
      () => JSON.stringify(rolloutStatus()),
    );
    const said = await waitFor('rollout-complete in chat', 30_000, () => chatOf('rollout-complete', urgent).length > 0 && chatOf('rollout-advanced', urgent));
    assert.deepEqual(
      [...new Set(said.map((c) => c.b.event.message.replace(/[0-9a-f]{12}/g, 'REV')))],
      [
        'REV goes to canary (wave 1): cn-shanghai (emergency: lab test of the emergency trailer).',
        'REV goes to overseas (wave 2 after canary soaked 10s): ap-jakarta (emergency: lab test of the emergency trailer).',
        'REV goes to cores (wave 3 after overseas soaked 10s): ap-singapore, cn-beijing (emergency: lab test of the emergency trailer).',
      ],
    );
  });

  it('(a) a canary whose hook fails halts the rollout: the later waves never get the revision, and the halt is said once', async () => {
    const before = applied();
    for (const a of state().agents.filter((x) => x.site === 'cn-shanghai')) {
      const marker = join(a.root, FAILING_HOOKS_FILE);
      mkdirSync(dirname(marker), { recursive: true });
      writeFileSync(marker, "the lab test breaks this host's hooks\n");
    }
    // No windows any more (a plain commit), and a change to the canary's dfdaemon.yaml, whose restart hook fails.
    const broken = await commit('dragonfly gc every 20 minutes in cn-shanghai', {
      'policies/rollout.yaml': () => rolloutPolicy(false),
      'regions/cn-shanghai.yaml': (t) => t.replace('interval: 15m', 'interval: 20m'),
    });
    const halted = await waitFor(
      'rollout-halted in chat',
      120_000,
      () => chatOf('rollout-halted', broken).length > 0 && chatOf('rollout-halted', broken),
      () => `${JSON.stringify(applied())}\n${JSON.stringify(rolloutStatus())}`,
      1000,
    );
    say(`(test) halted: ${halted[0]!.b.event.message}`);
    await sleep(4 * INTERVAL_S * 1000);
    const now = applied();
    for (const host of ['ap-jakarta', 'ap-jakarta-n1', 'ap-singapore', 'cn-beijing']) {
      assert.equal(now[host], before[host], `${host} keeps the revision it had`);
    }
    const halts = chatOf('rollout-halted', broken);
    const perChannel = halts.map((c) => c.d.channel).sort();
    assert.deepEqual(perChannel, [...new Set(perChannel)], 'each channel heard it once');
    assert.deepEqual([...new Set(halts.map((c) => c.b.event.fingerprint))].length, 1, 'one alert');
    assert.match(halts[0]!.b.event.message, /^The rollout of [0-9a-f]{12} is halted in canary: cn-shanghai failed to apply [0-9a-f]{12} on /);
    const status = rolloutStatus();
    assert.equal(status.code, 2);
    assert.deepEqual(
      status.state!.waves.map((w) => `${w.name}:${w.state}`),
      ['canary:halted', 'overseas:pending', 'cores:pending'],
    );
  });
});
