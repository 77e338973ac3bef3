// The site tree of issue 13 in a real lab (root + Debian packages): 2 cores, 2 regions, 2 nodes each, on the
// git path without push webhooks (an agent learns of a push at its next tick, every 5 s on the wall clock).
// Nodes report to their site's gateway, gateways to their area's core; the operator (the lab's SSH key) asks
// the cores with `mirrornet status|suspend|resume|reconcile`, as a person would:
//   (b) each site's commit status, posted by its core, counts all the site's hosts;
//   (a) drift made by hand on two nodes of a region is one chat message per channel naming both;
//   (f) a suspension signed by a key the cores do not know changes nothing;
//   (d) a suspended site reports drift but does not heal it and does not apply a push; resumed, it does both;
//   (e) `mirrornet reconcile` makes a site apply a push at once (about a second), before its next tick;
//   (c) a node agent that stopped is stale in `mirrornet status`.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { isDeepStrictEqual } from 'node:util';
import { hostDirName } from '../../src/providers/containerd/index.js';
import { FleetStatus } from '../../src/report/site/schema.js';
import { agentState } from '../../src/testbed/lab/agents.js';
import { labDown } from '../../src/testbed/lab/down.js';
import { originHead } from '../../src/testbed/lab/origin.js';
import { missingForLab } from '../../src/testbed/lab/preflight.js';
import { argvOf, isSame, listNamespaces, loadState, pidsUsingDir, stopPids, type AgentRecord, type LabState } from '../../src/testbed/lab/processes.js';
import { coreUrls } from '../../src/testbed/lab/site-tree.js';
import { siteOf } from '../../src/testbed/lab/topology.js';
import { labUp } from '../../src/testbed/lab/up.js';
import { need } from '../support/capabilities.js';
import { git } from '../support/git.js';
import { agentRoutes, busyLabInterface, sh, sleep, waitFor } from './helpers.js';
import { labChat, latestStatuses } from './reports.js';

const repoRoot = fileURLToPath(new URL('../../../..', import.meta.url));
const CLI = join(repoRoot, 'agent/bin/mirrornet.js');
const SITES = ['ap-jakarta', 'cn-shanghai'];
const INTERVAL_S = 5;
const INTERVAL_MS = INTERVAL_S * 1000;
/**
 * How often the test asks the cores while it waits: a core answers an address 10 operator requests at once,
 * then one every 2 s (server/index.ts operatorRate), and every request of this test comes from 127.0.0.1.
 */
const STATUS_POLL_MS = 2500;
/** How soon after `mirrornet reconcile` returns every host of the site applied the push (the next tick is > 3 s away). */
const APPLY_NOW_MS = 2000;

type SiteStatus = FleetStatus['sites'][number];

describe('the site tree in the lab (root): nodes report to gateways, gateways to cores, the operator steers', function () {
  this.timeout(180_000);
  const prefix = `mns${process.pid.toString(36)}`;
  let dir = '';
  let work = '';
  let clone = '';
  const lines: string[] = [];
  const say = (l: string) => lines.push(`${new Date().toISOString().slice(11, 23)} ${l}`);
  const state = (): LabState => loadState(dir)!;
  const agentsOf = (site: string) => state().agents.filter((a) => a.site === site);
  const name = (a: AgentRecord) => a.node ?? a.site;
  const applied = (agents: AgentRecord[]) => agents.map((a) => `${name(a)} ${agentState(a)?.appliedRevision?.slice(0, 12)}`);

  /** The mirrornet CLI as the lab's operator: every core, the lab's operator key (or `key`). */
  const operator = (args: string[], key = state().operator!.key) =>
    sh(process.execPath, [CLI, ...args, ...coreUrls(state()).flatMap((u) => ['--core', u]), '--key', key], { allowFail: true });
  /** `mirrornet status --format json`: every site of both cores, by name, and the exit code. */
  const fleet = () => {
    const r = operator(['status', '--format', 'json']);
    const answers = FleetStatus.array().parse(JSON.parse(r.stdout));
    const sites = new Map<string, SiteStatus & { core: string; at: string }>();
    for (const a of answers) for (const s of a.sites) sites.set(s.site, { ...s, core: a.core, at: a.at });
    return { code: r.code, sites };
  };
  const push = async (message: string, edit: Record<string, [RegExp, string]>): Promise<string> => {
    await git(clone, ['pull', '-q', '--ff-only']);
    for (const [file, [from, to]] of Object.entries(edit)) {
      const path = join(clone, file);
      const text = readFileSync(path, 'utf8');
      assert.match(text, from, `${file} has ${from}`);
      writeFileSync(path, text.replace(from, to));
    }
    await git(clone, ['commit', '-qam', message]);
    await git(clone, ['push', '-q', 'origin', 'main']);
    return git(clone, ['rev-parse', 'HEAD']);
  };
  /** Wait for a moment between the agents' ticks (on the wall clock, each delayed by at most 0.5 s): `from`..`to` ms into an interval. */
  const betweenTicks = async (from: number, to: number) => {
    while (Date.now() % INTERVAL_MS < from || Date.now() % INTERVAL_MS > to) await sleep(20);
  };
  const since = () => new Date().toISOString();
  const chatOf = (after: string, site: string, kind: string, component?: string) =>
    labChat(state(), (d, b) => d.at >= after && b.event.site === site && b.event.kind === kind && (component === undefined || b.event.component === component));

  before(async function () {
    this.timeout(150_000);
    const missing = missingForLab();
    need(
      this,
      missing.reasons.length ? `${missing.reasons.join('; ')}${missing.packages.length ? ` (apt-get install ${missing.packages.join(' ')})` : ''}` : undefined,
    );
    const busy = busyLabInterface(repoRoot, SITES);
    need(this, busy ? `a lab with the same sites is up on this machine (${busy} exists): run \`mirrornet lab down\` first` : undefined);
    dir = mkdtempSync(join(tmpdir(), 'mn-tree-'));
    work = mkdtempSync(join(tmpdir(), 'mn-tree-work-'));
    const t0 = Date.now();
    await labUp({
      repo: repoRoot,
      dir,
      nodes: 2,
      sites: SITES,
      prefix,
      peer: 'dfproxy',
      interval: `${INTERVAL_S}s`,
      report: { github: true, chat: true },
      // No push webhook: an agent learns of a push at its next tick (or when the operator asks it to reconcile).
      delivery: 'git',
      say,
      timeoutMs: 120_000,
    });
    say(`(test) lab up in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
    clone = join(work, 'clone');
    await git(work, ['clone', '-q', state().origin, clone]);
  });

  after(async function () {
    this.timeout(60_000);
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
    assert.ok(!existsSync(dir), `${dir} is gone`);
    assert.deepEqual(pidsUsingDir(dir), [], 'no process left');
  });

  it('(b) the agents sit in the tree; the operator reads every site from its core; each site has one commit status counting all its hosts', async function () {
    const head = (await originHead(state()))!;
    // Wiring: each agent names itself; a node reports to its gateway, a region's gateway to its area's core; only
    // the cores post commit statuses and hold the report secret; nodes send no chat.
    const listen = (site: string) => `http://${state().agents.find((a) => a.role === 'gateway' && a.site === site)!.listen}`;
    const parent: Record<string, string> = {
      'ap-jakarta': listen('ap-singapore'),
      'ap-jakarta-n1': listen('ap-jakarta'),
      'ap-jakarta-n2': listen('ap-jakarta'),
      'cn-shanghai': listen('cn-beijing'),
      'cn-shanghai-n1': listen('cn-shanghai'),
      'cn-shanghai-n2': listen('cn-shanghai'),
    };
    for (const a of state().agents) {
      const argv = argvOf(state().processes.find((p) => p.name === `agent ${name(a)}`)!.pid);
      const flag = (f: string) => (argv.includes(f) ? argv[argv.indexOf(f) + 1] : undefined);
      const core = a.site === 'ap-singapore' || a.site === 'cn-beijing';
      assert.equal(flag('--host-name'), name(a));
      assert.equal(flag('--report-to'), parent[name(a)], `${name(a)} reports to its parent`);
      assert.equal(flag('--report-secret') !== undefined, core, `${name(a)}: only a core holds the report secret`);
      assert.equal(flag('--operators') !== undefined, core, `${name(a)}: only a core answers operators`);
      assert.equal(flag('--github-repo') !== undefined, core, `${name(a)}: only a core posts commit statuses`);
      assert.equal(argv.includes('--no-chat'), a.role === 'node', `${name(a)}: nodes send no chat`);
      assert.equal(flag('--gateway-token') !== undefined, a.role === 'gateway' && !core, `${name(a)}: only a region's gateway speaks for its site to its core`);
    }

    const view = await waitFor(
      'every host of every site in sync in `mirrornet status`',
      60_000,
      () => {
        const f = fleet();
        // Every host reported (a gateway may report its site before its nodes' first reports reach it).
        const hosts = [...f.sites.values()].reduce((n, site) => n + site.hosts.length, 0);
        return f.code === 0 && f.sites.size === 4 && hosts === 8 && f;
      },
      () => operator(['status']).out,
      STATUS_POLL_MS,
    );
    assert.deepEqual(
      Object.fromEntries([...view.sites].map(([site, s]) => [site, [s.core, ...s.hosts.map((h) => `${h.host} ${h.applied}`)]])),
      {
        'ap-jakarta': ['ap-singapore', `ap-jakarta ${head}`, `ap-jakarta-n1 ${head}`, `ap-jakarta-n2 ${head}`],
        'ap-singapore': ['ap-singapore', `ap-singapore ${head}`],
        'cn-beijing': ['cn-beijing', `cn-beijing ${head}`],
        'cn-shanghai': ['cn-beijing', `cn-shanghai ${head}`, `cn-shanghai-n1 ${head}`, `cn-shanghai-n2 ${head}`],
      },
      'each core answers for the sites of its area, with every host',
    );
    const text = operator(['status']);
    assert.equal(text.code, 0, text.out);
    assert.equal(
      text.stdout
        .trim()
        .split('\n')
        .filter((l) => / in-sync$/.test(l)).length,
      8,
      text.stdout,
    );

    const short = head.slice(0, 7);
    const described = async () => Object.fromEntries([...(await latestStatuses(state(), head))].map(([c, x]) => [c, `${x.state}: ${x.description}`]));
    const expected = {
      'mirrornet/ap-jakarta': `success: 3/3 hosts applied ${short}`,
      'mirrornet/ap-singapore': `success: 1/1 hosts applied ${short}`,
      'mirrornet/cn-beijing': `success: 1/1 hosts applied ${short}`,
      'mirrornet/cn-shanghai': `success: 3/3 hosts applied ${short}`,
    };
    await waitFor(
      'one status per site counting all its hosts',
      30_000,
      async () => isDeepStrictEqual(await described(), expected),
      async () => JSON.stringify(await described()),
    );
    assert.deepEqual(await described(), expected);
  });

  it('(a) drift made by hand on two nodes of a region: one chat message per channel naming both hosts, found and healed', async function () {
    const t = state().topology!;
    const region = siteOf(t, 'ap-jakarta');
    const core = siteOf(t, region.registrySite!);
    const files = state()
      .nodes.filter((n) => n.site === 'ap-jakarta')
      .map((n) => join(n.hostsDir, hostDirName(`${core.registry!.host}:${core.registry!.port}`), 'hosts.toml'));
    assert.equal(files.length, 2);
    const before = files.map((f) => readFileSync(f, 'utf8'));
    // Between two ticks, so both nodes find it at the same tick.
    await betweenTicks(1500, 3500);
    const after = since();
    for (const [i, f] of files.entries()) {
      assert.match(before[i]!, /dial_timeout = "2s"/);
      writeFileSync(f, before[i]!.replace(/dial_timeout = "2s"/, 'dial_timeout = "59s"'));
    }
    const t0 = Date.now();
    await waitFor('both nodes healed hosts.toml', 3 * INTERVAL_MS, () => files.every((f, i) => readFileSync(f, 'utf8') === before[i]));
    say(`(test) hosts.toml healed on both nodes in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
    await waitFor('a drift-healed message', 10_000, () => chatOf(after, 'ap-jakarta', 'drift-healed', 'containerd').length > 0);
    // Two more ticks and the batch window: nothing else is said of it.
    await sleep(2 * INTERVAL_MS + 2500);
    const healed = chatOf(after, 'ap-jakarta', 'drift-healed', 'containerd');
    assert.deepEqual(healed.map((x) => x.d.channel).sort(), ['audit', 'platform-intl'], 'one message per channel of an overseas region');
    for (const x of healed) {
      assert.ok(x.d.valid && x.signed, `${x.d.channel}: signed`);
      assert.deepEqual(x.b.event.hosts, ['ap-jakarta-n1', 'ap-jakarta-n2']);
      assert.equal(x.b.event.message, 'containerd drifted on ap-jakarta-n1, ap-jakarta-n2 and was healed');
    }
    for (const kind of ['drift-detected', 'drift-resolved']) assert.deepEqual(chatOf(after, 'ap-jakarta', kind), [], `no ${kind} on its own`);
  });

  it('(f) a suspension signed by a key not in the cores’ operators file changes nothing', async function () {
    const mallory = join(work, 'mallory');
    execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', 'mallory', '-f', mallory]);
    const steeringFiles = state()
      .agents.filter((a) => a.role === 'gateway' && (a.site === 'ap-singapore' || a.site === 'cn-beijing'))
      .map((a) => join(a.stateDir, 'steering.json'));
    const read = () => steeringFiles.map((f) => (existsSync(f) ? readFileSync(f, 'utf8') : 'none'));
    const before = read();
    const after = since();
    const r = operator(['suspend', '--site', 'cn-shanghai', '--reason', 'not mine to say'], mallory);
    assert.equal(r.code, 1, r.out);
    assert.equal((r.out.match(/refused the request \(HTTP 401\)/g) ?? []).length, 2, `both cores refuse it: ${r.out}`);
    assert.deepEqual(read(), before, "the cores' steering is unchanged");
    const s = fleet().sites.get('cn-shanghai')!;
    assert.equal(s.wantedSteering.suspended, undefined);
    assert.ok(s.hosts.every((h) => !h.suspended));
    await sleep(1000);
    assert.deepEqual(chatOf(after, 'cn-shanghai', 'site-suspended'), []);
  });

  it('(d) a suspended site reports drift but heals none and applies no push; resumed, it does both', async function () {
    const S = 'cn-shanghai';
    const ns = `${prefix}-${S}`;
    const mine = agentsOf(S);
    const others = state().agents.filter((a) => a.site !== S);
    const prev = agentState(mine[0]!)!.appliedRevision!;
    const after = since();
    const r = operator(['suspend', '--site', S, '--reason', 'lab: holding cn-shanghai still']);
    assert.equal(r.code, 0, r.out);
    assert.match(r.out, /cn-shanghai suspended by lab-operator \(generation \d+\): lab: holding cn-shanghai still/);
    await waitFor(
      'every host of cn-shanghai holding the suspension',
      15_000,
      () =>
        fleet()
          .sites.get(S)!
          .hosts.every((h) => h.suspended),
      () => operator(['status']).out,
      STATUS_POLL_MS,
    );
    await waitFor('a site-suspended message', 10_000, () => chatOf(after, S, 'site-suspended').length > 0);

    // A route deleted by hand on its gateway, and a push that changes both regions.
    const routes = agentRoutes(ns);
    const [dest] = routes[0]!.split(' ');
    sh('ip', ['-n', ns, 'route', 'del', dest!, 'proto', '157']);
    const rev = await push('regions: dial the mirror for 3 s', {
      'regions/ap-jakarta.yaml': [/^ {2}dialTimeout: 2s$/m, '  dialTimeout: 3s'],
      'regions/cn-shanghai.yaml': [/^ {2}dialTimeout: 2s$/m, '  dialTimeout: 3s'],
    });
    await waitFor(
      'every other site applied the push',
      4 * INTERVAL_MS,
      () => others.every((a) => agentState(a)?.appliedRevision === rev),
      () => applied(others).join(', '),
    );
    await waitFor(
      'the drift reported (status and chat)',
      4 * INTERVAL_MS,
      () =>
        fleet()
          .sites.get(S)!
          .hosts.find((h) => h.host === S)?.drift['routes'] === 1 && chatOf(after, S, 'drift-detected', 'routes').length > 0,
      () => operator(['status']).out,
      STATUS_POLL_MS,
    );
    // One more tick of every agent: still held.
    await sleep(INTERVAL_MS + 1000);
    assert.deepEqual(
      applied(mine),
      mine.map((a) => `${name(a)} ${prev.slice(0, 12)}`),
      'cn-shanghai keeps its revision',
    );
    assert.ok(!agentRoutes(ns).includes(routes[0]!), 'the route is not healed');
    const held = fleet();
    assert.equal(held.code, 2);
    const s = held.sites.get(S)!;
    assert.equal(s.summary.state, 'suspended');
    assert.equal(s.wantedSteering.suspended?.by, 'lab-operator');
    assert.deepEqual(
      s.hosts.map((h) => [h.host, h.wanted, h.applied]),
      mine.map((a) => [name(a), rev, prev]),
    );
    assert.match(operator(['status', '--site', S]).stdout, /cn-shanghai: suspended by lab-operator .*: lab: holding cn-shanghai still/);
    const status = (await latestStatuses(state(), rev)).get(`mirrornet/${S}`);
    assert.equal(status?.state, 'pending');
    assert.match(status?.description ?? '', new RegExp(`^0/3 hosts applied ${rev.slice(0, 7)}; suspended`));
    assert.deepEqual(chatOf(after, S, 'drift-resolved'), []);
    assert.deepEqual(chatOf(after, S, 'applied'), []);

    const resumedAt = since();
    const q = operator(['resume', '--site', S]);
    assert.equal(q.code, 0, q.out);
    const t0 = Date.now();
    await waitFor(
      'cn-shanghai applied the push and healed the route',
      10_000,
      () => mine.every((a) => agentState(a)?.appliedRevision === rev) && agentRoutes(ns).includes(routes[0]!),
      () => applied(mine).join(', '),
    );
    say(`(test) resumed: cn-shanghai applied ${rev.slice(0, 12)} and healed its route in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
    await waitFor('every site in sync again', 15_000, () => fleet().code === 0, undefined, STATUS_POLL_MS);
    await waitFor(
      'site-resumed and drift-resolved messages',
      10_000,
      () => chatOf(resumedAt, S, 'site-resumed').length > 0 && chatOf(resumedAt, S, 'drift-resolved', 'routes').length > 0,
    );
  });

  it('(e) `mirrornet reconcile --site` makes the site apply a push at once (about a second), before its next tick', async function () {
    const S = 'ap-jakarta';
    const mine = agentsOf(S);
    const others = state().agents.filter((a) => a.site !== S);
    const prev = (await originHead(state()))!;
    await waitFor('every agent on the origin', 4 * INTERVAL_MS, () => state().agents.every((a) => agentState(a)?.appliedRevision === prev));
    // Just after every agent's tick fetched: the next one is more than 3 s away.
    await betweenTicks(1500, 1800);
    const rev = await push('ap-jakarta: dial the mirror for 4 s', { 'regions/ap-jakarta.yaml': [/^ {2}dialTimeout: 3s$/m, '  dialTimeout: 4s'] });
    const r = operator(['reconcile', '--site', S]);
    const t0 = Date.now();
    assert.equal(r.code, 0, r.out);
    assert.match(r.out, /ap-jakarta reconcile asked by lab-operator/);
    await waitFor(
      'ap-jakarta applied the push',
      INTERVAL_MS,
      () => mine.every((a) => agentState(a)?.appliedRevision === rev),
      () => applied(mine).join(', '),
      20,
    );
    // The others have not ticked since the push: they have not seen it.
    assert.deepEqual(
      applied(others),
      others.map((a) => `${name(a)} ${prev.slice(0, 12)}`),
      'the sites not asked wait for their tick',
    );
    // When each host applied it (its state file's appliedAt: the same clock), after the command returned.
    const after = mine.map((a) => [name(a), Date.parse(agentState(a)!.appliedAt!) - t0] as const);
    say(`(test) reconcile: ap-jakarta applied ${rev.slice(0, 12)} ${after.map(([n, ms]) => `${n} +${ms} ms`).join(', ')} after the command returned`);
    // Each host validates the revision in a child process (reconcile/evaluate.ts): about 0.5 s on a quiet machine,
    // up to 1 s when the site's three hosts validate at once on a busy 2-CPU one. A tick would be seconds away.
    for (const [n, ms] of after) assert.ok(ms < APPLY_NOW_MS, `${n} applied it ${ms} ms after the command returned`);
    await waitFor('the others at their next tick', 3 * INTERVAL_MS, () => others.every((a) => agentState(a)?.appliedRevision === rev));
  });

  it('(c) a node agent that stopped shows as stale in `mirrornet status` after 3 intervals', async function () {
    const proc = state().processes.find((p) => p.name === 'agent ap-jakarta-n2')!;
    assert.ok(isSame(proc));
    assert.deepEqual(await stopPids([proc]), []);
    const t0 = Date.now();
    const view = await waitFor(
      'ap-jakarta-n2 stale',
      6 * INTERVAL_MS,
      () => {
        const f = fleet();
        return f.sites.get('ap-jakarta')!.hosts.find((h) => h.host === 'ap-jakarta-n2')?.stale && f;
      },
      () => operator(['status']).out,
      STATUS_POLL_MS,
    );
    say(`(test) ap-jakarta-n2 stale ${((Date.now() - t0) / 1000).toFixed(1)} s after its agent stopped`);
    assert.equal(view.code, 2);
    const site = view.sites.get('ap-jakarta')!;
    assert.deepEqual(
      site.hosts.map((h) => [h.host, h.stale]),
      [
        ['ap-jakarta', false],
        ['ap-jakarta-n1', false],
        ['ap-jakarta-n2', true],
      ],
    );
    const n2 = site.hosts.find((h) => h.host === 'ap-jakarta-n2')!;
    assert.ok(Date.parse(site.at) - Date.parse(n2.lastSeen) > 3 * INTERVAL_MS, `last seen ${n2.lastSeen}, asked ${site.at}`);
    const text = operator(['status', '--site', 'ap-jakarta']);
    assert.equal(text.code, 2);
    assert.match(text.stdout, /^ap-jakarta +ap-jakarta-n2 +node .* stale$/m);
    assert.deepEqual(site.summary.stale, ['ap-jakarta-n2']);
  });
});
