// End to end in the lab (root + Debian packages), on the git path (every agent clones the origin; the lab's
// default, signed bundles, is exercised in lab.test.ts): a small fleet (2 cores, 2 regions, 2 nodes each) whose
// agents report up the site tree (nodes to their gateway, gateways to their core) and to local receivers — each
// core posts one commit status per site of its area to the lab's GitHub emulator, each gateway speaks for its
// site in chat to the lab's webhook receiver — and pushes to the lab's origin, as a user would make them:
//   1. a region added with `mirrornet region add` comes up: its agent converges, its nodes pull through
//      their cache, the other sites' routes follow, statuses and chat arrive;
//   2. a route deleted by hand is found and healed in one reconcile: one `drift-healed` message;
//   3. an invalid commit is refused by every agent, changes nothing, is reported; a fix converges;
//   4. the bandwidth bound: the core serves each region about one image through its peer (baseline: N).
// One lab for all of them; `lab down` at the end, always, leaves nothing behind.
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, rmSync, writeFileSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { isDeepStrictEqual } from 'node:util';
import type { WebhookBody } from '../../src/report/chat/webhook/index.js';
import { formatBytes } from '../../src/testbed/lab/images.js';
import { labAddSite, labPrepareSite } from '../../src/testbed/lab/add-site.js';
import { agentState } from '../../src/testbed/lab/agents.js';
import { labDown } from '../../src/testbed/lab/down.js';
import { originHead } from '../../src/testbed/lab/origin.js';
import { missingForLab } from '../../src/testbed/lab/preflight.js';
import { formatRun, labPull, labPulls, labPushImage, TARGET_RATIO } from '../../src/testbed/lab/run.js';
import { formatStatus, labStatus } from '../../src/testbed/lab/status.js';
import { labUp } from '../../src/testbed/lab/up.js';
import { listNamespaces, loadState, pidsUsingDir, wireguardGoPids, type LabState } from '../../src/testbed/lab/processes.js';
import type { ChatDelivery } from '../../src/testbed/lab/receivers.js';
import { need } from '../support/capabilities.js';
import { git } from '../support/git.js';
import { agentRoutes, busyLabInterface, sh, sleep, waitFor } from './helpers.js';
import { labChat, labCommitStatuses, latestStatuses } from './reports.js';

const repoRoot = fileURLToPath(new URL('../../../..', import.meta.url));
const CLI = join(repoRoot, 'agent/bin/mirrornet.js');
const SITES = ['ap-jakarta', 'cn-shanghai'];
const NEW_REGION = 'eu-frankfurt-idc';
const INTERVAL_S = 5;
/**
 * What `region add` gives NEW_REGION in the lab's copy of the fleet (regions/ and hubs/ of the example fleet,
 * policies/address-plan.yaml): the overseas supernet 10.128.0.0/9 is allocated ascending in blocks of 8 /16s,
 * ap-singapore has 10.128.0.0/16 and ap-jakarta 10.136.0.0/16; us-virginia's 10.144.0.0/16 is not in this lab.
 */
const NEW_CIDR = '10.144.0.0/16';
/**
 * Every site's routes (`destination dev`, sorted) once NEW_REGION is in: hub-spoke (policies/routing.yaml), so a
 * region routes its core's CIDR, a core its regions' and the other core's (no cross-area routes). Each dev is a
 * link's WireGuard interface: `mn` and the first 8 hex digits of sha256("<site>><peer>") (desired/compile.ts).
 */
const ROUTES_AFTER_ADD: Record<string, string[]> = {
  'ap-singapore': ['10.120.0.0/16 mn53ed1f16', '10.136.0.0/16 mne5818d6e', '10.144.0.0/16 mnc8a2f7a0'],
  'cn-beijing': ['10.112.0.0/16 mn90fa4ddc', '10.128.0.0/16 mn869b006d'],
  'ap-jakarta': ['10.128.0.0/16 mn96bf10a3'],
  'cn-shanghai': ['10.120.0.0/16 mn819bab47'],
  'eu-frankfurt-idc': ['10.128.0.0/16 mnfc516e88'],
};
/** The interfaces of the new link: ap-singapore's end (sha256("ap-singapore>eu-frankfurt-idc")) and the region's. */
const NEW_LINK_IFACES = ['mnc8a2f7a0', 'mnfc516e88'];

/** Everything about a namespace's network that a reconcile could change: routes, addresses, links, WireGuard (not counters or handshakes). */
function netSnapshot(ns: string): string {
  const routes = sh('ip', ['-n', ns, 'route', 'show', 'table', 'all']).out;
  const addrs = sh('ip', ['-n', ns, '-br', 'addr']).out;
  const wg = sh('ip', ['netns', 'exec', ns, 'wg', 'show', 'all', 'dump'], { allowFail: true })
    .out.split('\n')
    .map((line) => {
      const f = line.split('\t');
      // interface: name, private key, public key, port, fwmark; peer: name, public key, psk, endpoint, allowed ips, handshake, rx, tx, keepalive
      return f.length >= 9 ? [f[0], f[1], f[3], f[4], f[8]].join('\t') : [f[0], f[2], f[3], f[4]].join('\t');
    });
  return [routes, addrs, ...wg].join('\n');
}

describe('lab end to end (root): 2 cores, 2 regions, 2 nodes each, reporting to local receivers', function () {
  this.timeout(240_000);
  const prefix = `mne${process.pid.toString(36)}`;
  let dir = '';
  let work = '';
  let clone = '';
  const lines: string[] = [];
  const say = (l: string) => lines.push(`${new Date().toISOString().slice(11, 23)} ${l}`);
  const state = (): LabState => loadState(dir)!;

  const mirrornet = (...args: string[]) => sh(process.execPath, [CLI, ...args], { allowFail: true });
  const push = async (message: string): Promise<string> => {
    await git(clone, ['add', '-A']);
    await git(clone, ['commit', '-q', '-m', message]);
    await git(clone, ['push', '-q', 'origin', 'main']);
    return git(clone, ['rev-parse', 'HEAD']);
  };
  const gatewaySites = () => state().topology!.sites.map((s) => s.name);
  const allApplied = (rev: string) => state().agents.every((a) => agentState(a)?.appliedRevision === rev);
  const behind = async (rev: string) => {
    const s = await labStatus(dir);
    return s ? `${formatStatus(s)}\nwaiting for ${rev.slice(0, 12)}` : 'no status';
  };
  /** Chat deliveries with their parsed body, each checked against the lab's secret again. */
  const chat = (pred: (d: ChatDelivery, e: WebhookBody) => boolean) => labChat(state(), pred);
  before(async function () {
    this.timeout(180_000);
    const missing = missingForLab();
    need(
      this,
      missing.reasons.length ? `${missing.reasons.join('; ')}${missing.packages.length ? ` (apt-get install ${missing.packages.join(' ')})` : ''}` : undefined,
    );
    // Interface names follow the site names: a lab of the same sites already up on this machine holds them.
    const busy = busyLabInterface(repoRoot, SITES, NEW_LINK_IFACES);
    need(this, busy ? `a lab with the same sites is up on this machine (${busy} exists): run \`mirrornet lab down\` first` : undefined);
    dir = mkdtempSync(join(tmpdir(), 'mn-e2e-'));
    work = mkdtempSync(join(tmpdir(), 'mn-e2e-work-'));
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
      pushWebhook: true,
      // The small-fleet path: every agent follows the git origin, so every agent judges a commit itself (3.).
      // The bundle path runs in lab.test.ts and `npm start`.
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
    const failed = this.currentTest?.state === 'failed' || (this.test?.parent?.tests ?? []).some((t) => t.state === 'failed');
    if (!dir) return;
    const wg = new Set(loadState(dir)?.wireguard ?? []);
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
    assert.deepEqual(wireguardGoPids(wg), [], 'no wireguard-go left');
    for (const i of wg) assert.ok(!existsSync(`/var/run/wireguard/${i}.sock`), `${i}.sock is gone`);
  });

  it('the lab is up with reporting on: every agent applied the origin, statuses and chat arrived for it', async function () {
    const head = (await originHead(state()))!;
    await waitFor(
      'every agent applied the origin',
      60_000,
      () => allApplied(head),
      () => behind(head),
    );
    // Each core posts one status per site of its area, counting all of the site's hosts (a region: its gateway and 2 nodes).
    const short = head.slice(0, 7);
    const expected = {
      'mirrornet/ap-jakarta': `success: 3/3 hosts applied ${short}`,
      'mirrornet/ap-singapore': `success: 1/1 hosts applied ${short}`,
      'mirrornet/cn-beijing': `success: 1/1 hosts applied ${short}`,
      'mirrornet/cn-shanghai': `success: 3/3 hosts applied ${short}`,
    };
    const described = async () => Object.fromEntries([...(await latestStatuses(state(), head))].map(([c, x]) => [c, `${x.state}: ${x.description}`]));
    await waitFor(
      'one success status per site, from its core, counting all its hosts',
      30_000,
      async () => isDeepStrictEqual(await described(), expected),
      async () => JSON.stringify(await described()),
    );
    const applied = await waitFor('an applied chat message from every site', 30_000, () => {
      const m = chat((_, b) => b.event.kind === 'applied' && b.event.revision === head);
      return new Set(m.map((x) => x.b.event.site)).size === gatewaySites().length && m;
    });
    assert.ok(
      applied.every((x) => x.d.valid && x.signed),
      'every chat delivery is signed with the lab secret',
    );
  });

  const regionAddTitle =
    '1. a region added with `mirrornet region add` comes up: its agent converges, its nodes pull through their cache, routes follow, statuses and chat arrive';
  it(regionAddTitle, async function () {
    const before = agentRoutes(`${prefix}-ap-singapore`);
    const add = mirrornet('region', 'add', NEW_REGION, '--area', 'overseas', '--provider', 'idc', '--write', '--repo', clone);
    assert.equal(add.code, 0, add.out);
    const cidr = /(\d+\.\d+\.\d+\.\d+\/\d+)/.exec(add.out)?.[1];
    assert.equal(cidr, NEW_CIDR, `region add names the next free overseas CIDR: ${add.out}`);
    assert.ok(!before.some((r) => r.startsWith(`${cidr} `)), `the core has no route to ${cidr} yet`);
    // What the user fills in (the new gateway's key), made for the lab: its key, its WAN address.
    const prepared = labPrepareSite({ dir, clone, name: NEW_REGION });
    assert.deepEqual(prepared.peers, ['ap-singapore']);
    const v = mirrornet('validate', '--repo', clone, '--strict');
    assert.equal(v.code, 0, `the lab-ready region validates without warnings: ${v.out}`);
    const rev = await push(`add ${NEW_REGION}`);
    const t0 = Date.now();

    // The lab brings up the region's namespace, agent, peer and nodes; the push webhook told the other agents.
    const site = await labAddSite({ dir, name: NEW_REGION, say });
    assert.equal(site.cidr, cidr);
    await waitFor(
      `every agent applied ${rev.slice(0, 12)}`,
      60_000,
      () => allApplied(rev),
      () => behind(rev),
    );
    say(`(test) ${NEW_REGION} added and every agent on ${rev.slice(0, 12)} in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
    // The push reached the agents as a signed push webhook (the origin's post-receive hook), not only by polling.
    for (const p of state().processes.filter((x) => x.kind === 'agent' && x.name !== `agent ${NEW_REGION}`)) {
      assert.match(readFileSync(p.log, 'utf8'), /"status":202,"event":"push".*"msg":"webhook"/, `${p.name} got the push webhook`);
    }
    const status = (await labStatus(dir))!;
    const tunnel = status.tunnels.filter((x) => x.site === NEW_REGION || x.peer === NEW_REGION);
    assert.equal(tunnel.length, 2, formatStatus(status));
    assert.ok(
      tunnel.every((x) => x.exists && x.handshakeAgeS !== undefined),
      `the new tunnel completed a handshake: ${formatStatus(status)}`,
    );

    // Every site's routes are the new revision's: ap-singapore routes the new CIDR into the new tunnel.
    assert.deepEqual(
      state()
        .topology!.sites.map((s) => s.name)
        .sort(),
      Object.keys(ROUTES_AFTER_ADD).sort(),
    );
    for (const s of state().topology!.sites) assert.deepEqual(agentRoutes(s.ns), ROUTES_AFTER_ADD[s.name], `${s.name}'s routes match ${rev.slice(0, 12)}`);
    const core = agentRoutes(`${prefix}-ap-singapore`);
    assert.deepEqual(
      core.filter((r) => !r.startsWith(`${cidr} `)),
      before,
      "the core's other routes stay",
    );

    // Its nodes pull through the region's peer: the core serves the region the image once.
    const image = await labPushImage(state(), 'ap-singapore', { tag: `added-${Date.now().toString(36)}`, bytes: 2 * 1024 * 1024 });
    const pulled = await labPull(state(), NEW_REGION, image, 'peer');
    assert.ok(pulled.complete, `every node of ${NEW_REGION} has the image: ${JSON.stringify(pulled.pulls)}`);
    assert.ok(
      pulled.served >= 0.99 * image.size && pulled.served <= TARGET_RATIO * image.size,
      `the core served ${formatBytes(pulled.served)} for a ${formatBytes(image.size)} image`,
    );

    // Commit statuses: success for every site on the new revision, the new region's included.
    const statuses = await waitFor(
      'success statuses for every site',
      30_000,
      async () => {
        const m = await latestStatuses(state(), rev);
        return gatewaySites().every((s) => m.get(`mirrornet/${s}`)?.state === 'success') && m;
      },
      async () => JSON.stringify([...(await latestStatuses(state(), rev)).values()].map((s) => [s.context, s.state])),
    );
    // The core's status of the new region counts its gateway and both nodes once they reported.
    await waitFor(
      `the status of ${NEW_REGION} counting its 3 hosts`,
      30_000,
      async () => (await latestStatuses(state(), rev)).get(`mirrornet/${NEW_REGION}`)?.description === `3/3 hosts applied ${rev.slice(0, 7)}`,
      async () => JSON.stringify((await latestStatuses(state(), rev)).get(`mirrornet/${NEW_REGION}`)),
    );
    assert.equal(statuses.get(`mirrornet/${NEW_REGION}`)!.state, 'success');

    // Chat: `applied` from the new region and from its core (which gained a tunnel and a route), signed.
    const applied = await waitFor('applied chat messages from the new region and its core', 30_000, () => {
      const m = chat((_, b) => b.event.kind === 'applied' && b.event.revision === rev);
      const sites = new Set(m.map((x) => x.b.event.site));
      return sites.has(NEW_REGION) && sites.has('ap-singapore') && m;
    });
    for (const x of applied) {
      assert.ok(x.d.valid && x.signed, `${x.d.channel}: signed with the lab's secret`);
      assert.ok(x.b.event.changes?.length, 'an applied message lists its changes');
    }
    const channels = new Set(applied.filter((x) => x.b.event.site === NEW_REGION).map((x) => x.d.channel));
    assert.ok(
      channels.has('platform-intl') && channels.has('audit'),
      `an overseas region's messages go to the overseas channel and the audit log: ${[...channels].join(', ')}`,
    );
    assert.ok(
      applied.some((x) => x.b.event.site === 'ap-singapore' && x.b.event.changes!.some((c) => c.provider === 'routes' && c.id.includes(cidr))),
      'the core says it added the route',
    );
  });

  it('2. a route deleted by hand in a region: found and healed in one reconcile, one drift-healed message per channel', async function () {
    const ns = `${prefix}-ap-jakarta`;
    const routes = agentRoutes(ns);
    assert.ok(routes.length > 0, 'ap-jakarta has routes');
    const [dest] = routes[0]!.split(' ');
    const since = new Date().toISOString();
    const mine = (kind: string) => chat((d, b) => d.at >= since && b.event.kind === kind && b.event.site === 'ap-jakarta' && b.event.component === 'routes');
    sh('ip', ['-n', ns, 'route', 'del', dest!, 'proto', '157']);
    assert.ok(!agentRoutes(ns).includes(routes[0]!), 'the route is gone');
    const t0 = Date.now();
    await waitFor('the route healed', 4 * INTERVAL_S * 1000, () => agentRoutes(ns).includes(routes[0]!));
    const healedMs = Date.now() - t0;
    // The gateway's drift-detected and drift-resolved of one reconcile fall in one batch window of its site: one event.
    await waitFor('a drift-healed message', 20_000, () => mine('drift-healed').length > 0);
    // Two more reconciles: nothing else is said.
    await sleep(2 * INTERVAL_S * 1000 + 1000);
    const healed = mine('drift-healed');
    say(`(test) route ${dest} healed in ${(healedMs / 1000).toFixed(1)} s; chat: ${healed.length} drift-healed`);
    assert.deepEqual(healed.map((x) => x.d.channel).sort(), ['audit', 'platform-intl'], 'one message per channel of an overseas region');
    assert.deepEqual(mine('drift-detected'), [], 'no separate alert');
    assert.deepEqual(mine('drift-resolved'), [], 'no separate resolution');
    assert.ok(
      healed.every((x) => x.d.valid && x.signed),
      'signed',
    );
    assert.equal(healed[0]!.b.event.message, 'routes drifted on ap-jakarta and was healed');
    assert.deepEqual(healed[0]!.b.event.hosts, ['ap-jakarta']);
    assert.ok(
      healed[0]!.b.event.changes?.some((c) => c.id.includes(dest!)),
      'the message names the route',
    );
    assert.deepEqual(agentRoutes(ns), routes, 'every route is back');
    assert.deepEqual(Object.keys(agentState(state().agents.find((a) => a.site === 'ap-jakarta' && a.role === 'gateway')!)?.drift ?? {}), [], 'no drift left');
  });

  it('3. an invalid commit: every agent refuses it and nothing changes; the refusal is reported; a fix converges', async function () {
    await git(clone, ['pull', '-q', '--ff-only']);
    const good = await git(clone, ['rev-parse', 'HEAD']);
    await waitFor(
      `every agent on ${good.slice(0, 12)}`,
      30_000,
      () => allApplied(good),
      () => behind(good),
    );
    const namespaces = state().topology!.sites.map((s) => s.ns);
    const snapshot = () => Object.fromEntries(namespaces.map((ns) => [ns, netSnapshot(ns)]));
    const before = snapshot();
    // A typo: Shanghai's CIDR overlaps Jakarta's.
    const file = join(clone, 'regions/cn-shanghai.yaml');
    const text = readFileSync(file, 'utf8');
    const jakarta = /^cidr: (\S+)$/m.exec(readFileSync(join(clone, 'regions/ap-jakarta.yaml'), 'utf8'))![1]!;
    writeFileSync(file, text.replace(/^cidr: \S+$/m, `cidr: ${jakarta}`));
    assert.notEqual(mirrornet('validate', '--repo', clone).code, 0, 'the commit is invalid');
    const bad = await push('cn-shanghai: wrong CIDR');
    const t0 = Date.now();

    await waitFor(
      `every agent refused ${bad.slice(0, 12)}`,
      30_000,
      () => state().agents.every((a) => agentState(a)?.refused?.revision === bad),
      () => behind(bad),
    );
    say(`(test) every agent refused ${bad.slice(0, 12)} in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
    await waitFor(
      'failure statuses for every site',
      30_000,
      async () => {
        const m = await latestStatuses(state(), bad);
        return gatewaySites().every((s) => m.get(`mirrornet/${s}`)?.state === 'failure');
      },
      async () => JSON.stringify(await labCommitStatuses(state(), bad)),
    );
    // The core names every host of the site that refused it.
    await waitFor(
      "cn-shanghai's status naming its 3 hosts",
      30_000,
      async () =>
        (await latestStatuses(state(), bad)).get('mirrornet/cn-shanghai')?.description ===
        `0/3 hosts applied ${bad.slice(0, 7)}; failed: cn-shanghai, cn-shanghai-n1, cn-shanghai-n2`,
      async () => JSON.stringify((await latestStatuses(state(), bad)).get('mirrornet/cn-shanghai')),
    );
    const refused = await waitFor('revision-refused chat messages from every site', 30_000, () => {
      const m = chat((_, b) => b.event.kind === 'revision-refused' && b.event.revision === bad);
      return new Set(m.map((x) => x.b.event.site)).size === gatewaySites().length && m;
    });
    assert.ok(
      refused.every((x) => x.d.valid && x.signed),
      'signed',
    );
    assert.ok(
      refused.every((x) => /invalid/.test(x.b.event.message)),
      'the message says why',
    );
    // One more reconcile of every agent: still nothing applied, nothing changed in any namespace.
    await sleep(INTERVAL_S * 1000 + 1000);
    for (const a of state().agents) assert.equal(agentState(a)?.appliedRevision, good, `${a.node ?? a.site} keeps ${good.slice(0, 12)}`);
    const after = snapshot();
    for (const ns of namespaces) assert.equal(after[ns], before[ns], `${ns}: routes, addresses and WireGuard unchanged`);
    assert.ok(chat((_, b) => b.event.kind === 'applied' && b.event.revision === bad).length === 0, 'nothing applied it');

    // The fix (a revert) converges; the statuses of the fix are success.
    await git(clone, ['revert', '--no-edit', 'HEAD']);
    await git(clone, ['push', '-q', 'origin', 'main']);
    const fix = await git(clone, ['rev-parse', 'HEAD']);
    await waitFor(
      `every agent applied the fix ${fix.slice(0, 12)}`,
      30_000,
      () => allApplied(fix),
      () => behind(fix),
    );
    await waitFor('success statuses for the fix', 30_000, async () => {
      const m = await latestStatuses(state(), fix);
      return gatewaySites().every((s) => m.get(`mirrornet/${s}`)?.state === 'success');
    });
    for (const a of state().agents) assert.equal(agentState(a)?.refused, undefined, `${a.node ?? a.site}: no refusal left`);
    const fixed = snapshot();
    for (const ns of namespaces) assert.equal(fixed[ns], before[ns], `${ns}: the fix (same content) changes nothing either`);
  });

  it('4. the bandwidth bound: through its peer the core serves each region <= 1.1x the image (baseline: one image per node)', async function () {
    const report = await labPulls(state(), { imageBytes: 4 * 1024 * 1024, say });
    say(`(test)\n${formatRun(report)}`);
    assert.equal(report.replication.status, 'Succeed');
    assert.deepEqual(report.regions.map((r) => r.region).sort(), [...SITES, NEW_REGION].sort(), formatRun(report));
    for (const r of report.regions) {
      assert.equal(r.nodes, 2);
      assert.ok(r.mirror.complete && r.baseline.complete, `${r.region}: every pull completed: ${formatRun(report)}`);
      assert.ok(r.mirror.served >= 0.99 * r.imageBytes, `${r.region}: the core served the image (${r.mirror.served} of ${r.imageBytes})`);
      assert.ok(
        r.mirror.served <= TARGET_RATIO * r.imageBytes,
        `${r.region}: ${formatBytes(r.mirror.served)} served through the peer, more than ${TARGET_RATIO}x ${formatBytes(r.imageBytes)}`,
      );
      assert.ok(r.baseline.served >= 2 * 0.99 * r.imageBytes, `${r.region}: the baseline served one image per node (${formatBytes(r.baseline.served)})`);
    }
  });
});
