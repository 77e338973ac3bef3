// The gateway role on a real network: one network namespace per site of agent/test/fixtures/fleet-wg (a
// core and two regions), WAN veth pairs in 198.18.0.0/15 as WireGuard endpoints, each site's LAN address
// on `lo` (a /32, so only the route the agent applies sends the remote CIDR anywhere), real wireguard-go,
// and the real CLI as a child process (`mirrornet plan|apply --netns ... --root <sandbox>`).
import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { wireguardInterfaceName } from '../../src/desired/compile.js';
import { missingCommand, missingRoot, need } from '../support/capabilities.js';
import { alive as isRunning, inNs, Lab, run, sh, waitFor, wireguardGoPids, type Result } from './netns.js';

const repoRoot = fileURLToPath(new URL('../../../..', import.meta.url));
const CLI = join(repoRoot, 'agent/bin/mirrornet.js');
const TEMPLATE = join(repoRoot, 'agent/test/fixtures/fleet-wg');
/** A normal apply takes well under 2 s; a hung one is killed after this and reported. */
const CLI_TIMEOUT_MS = 10_000;
const PROTO = '157';
const MTU = 1420;

/** The placeholders in the fixture, replaced by keys generated for this run. */
const PLACEHOLDER = {
  hub: 'MIRRORNETxPLACEHOLDERxHUBxPUBLICxKEYxxxxxxA=',
  a: 'MIRRORNETxPLACEHOLDERxEASTAxPUBLICxKEYxxxxA=',
  b: 'MIRRORNETxPLACEHOLDERxWESTBxPUBLICxKEYxxxxA=',
} as const;

type SiteKey = 'hub' | 'a' | 'b';

interface Site {
  key: SiteKey;
  name: string;
  ns: string;
  root: string;
  cidr: string;
  lan: string;
  publicKey: string;
}

interface Tunnel {
  site: SiteKey;
  peer: SiteKey;
  iface: string;
  listenPort: number;
  endpoint: string;
  /** The CIDR routed into the tunnel on `site`. */
  allowed: string;
}

interface PlanChange {
  provider: string;
  id: string;
  action: string;
  reason: string;
}
interface PlanJson {
  site: string;
  inSync: boolean;
  summary: { create: number; update: number; delete: number };
  changes: PlanChange[];
  notes: string[];
  applied?: number;
  refused?: string[];
}

interface IpRouteJson {
  dst: string;
  dev?: string;
  protocol?: string | number;
}

describe('gateway role on a real network (netns, veth, wireguard-go)', function () {
  this.timeout(40_000);

  const lab = new Lab();
  // Site names (and with them the interface names) are unique to this run.
  const token = `gw${process.pid.toString(36)}`;
  const sites = {} as Record<SiteKey, Site>;
  const tunnels: Tunnel[] = [];
  let fleet = '';
  let server: ChildProcess | undefined;
  let serverToken = '';
  let ready = false;

  before(async function () {
    need(this, missingRoot());
    need(this, missingCommand('ip', 'iproute2'));
    need(this, missingCommand('wireguard-go', 'wireguard-go'));
    need(this, missingCommand('wg', 'wireguard-tools'));
    need(this, missingCommand('iptables', 'iptables'));
    need(this, missingCommand('curl', 'curl'));
    need(this, existsSync('/dev/net/tun') ? undefined : '/dev/net/tun is missing (wireguard-go needs it)');

    const names: Record<SiteKey, string> = { hub: `ap-${token}-hub`, a: `eu-${token}-a`, b: `eu-${token}-b` };
    const plan: Record<SiteKey, { cidr: string; lan: string }> = {
      hub: { cidr: '10.128.0.0/16', lan: '10.128.0.10' },
      a: { cidr: '10.136.0.0/16', lan: '10.136.0.10' },
      b: { cidr: '10.144.0.0/16', lan: '10.144.0.10' },
    };
    for (const key of ['hub', 'a', 'b'] as const) {
      const ns = lab.netns(key === 'hub' ? 'h' : key);
      const root = lab.tmpDir(`${key}-root`);
      const privateKey = sh('wg', ['genkey']).stdout.trim();
      const publicKey = sh('wg', ['pubkey'], { input: `${privateKey}\n` }).stdout.trim();
      const keyDir = join(root, 'etc/mirrornet/wireguard');
      mkdirSync(keyDir, { recursive: true, mode: 0o700 });
      writeFileSync(join(keyDir, `${names[key]}.key`), `${privateKey}\n`, { mode: 0o600 });
      sites[key] = { key, name: names[key], ns, root, cidr: plan[key].cidr, lan: plan[key].lan, publicKey };
      lab.loopbackAddress(ns, `${plan[key].lan}/32`);
    }
    const p = lab.prefix;
    lab.veth({ ns: sites.hub.ns, name: `${p}ha`, address: '198.18.0.1/30' }, { ns: sites.a.ns, name: `${p}ah`, address: '198.18.0.2/30' });
    lab.veth({ ns: sites.hub.ns, name: `${p}hb`, address: '198.18.0.5/30' }, { ns: sites.b.ns, name: `${p}bh`, address: '198.18.0.6/30' });

    const tunnel = (site: SiteKey, peer: SiteKey, listenPort: number, endpoint: string): Tunnel => ({
      site,
      peer,
      iface: wireguardInterfaceName(sites[site].name, sites[peer].name),
      listenPort,
      endpoint,
      allowed: sites[peer].cidr,
    });
    tunnels.push(tunnel('hub', 'a', 51830, '198.18.0.2:51830'), tunnel('a', 'hub', 51830, '198.18.0.1:51830'));
    tunnels.push(tunnel('hub', 'b', 51831, '198.18.0.6:51831'), tunnel('b', 'hub', 51831, '198.18.0.5:51831'));
    for (const t of tunnels) lab.wireguard(t.iface);
    assert.equal(new Set(tunnels.map((t) => t.iface)).size, 4, 'interface names are unique');

    fleet = lab.tmpDir('fleet');
    writeFleet();
    ready = true;
  });

  after(async function () {
    this.timeout(20_000);
    const problems = await lab.cleanup();
    for (const t of tunnels) {
      assert.ok(!existsSync(`/var/run/wireguard/${t.iface}.sock`), `cleanup left /var/run/wireguard/${t.iface}.sock`);
    }
    assert.deepEqual(
      wireguardGoPids(new Set(tunnels.map((t) => t.iface))).filter((pid) => isRunning(pid)),
      [],
      'cleanup left wireguard-go running',
    );
    assert.deepEqual(problems, [], 'cleanup problems');
  });

  // ---- helpers ------------------------------------------------------------------------------------

  /** A fresh copy of the fixture: per-run site names and this run's public keys. */
  function writeFleet(): void {
    rmSync(fleet, { recursive: true, force: true });
    const copy = (from: string, to: string) => {
      mkdirSync(to, { recursive: true });
      for (const entry of readdirSync(from)) {
        const src = join(from, entry);
        const dst = join(to, entry.replaceAll('mntrun', token));
        if (statSync(src).isDirectory()) copy(src, dst);
        else {
          let text = readFileSync(src, 'utf8').replaceAll('mntrun', token);
          for (const key of ['hub', 'a', 'b'] as const) text = text.replaceAll(PLACEHOLDER[key], sites[key].publicKey);
          writeFileSync(dst, text);
        }
      }
    };
    copy(TEMPLATE, fleet);
  }

  function fleetPath(rel: string): string {
    return join(fleet, rel.replaceAll('mntrun', token));
  }

  async function mirrornet(command: 'plan' | 'apply', site: Site, extra: string[] = []): Promise<Result> {
    const args = [
      CLI,
      command,
      '--region',
      site.name,
      '--roles',
      'gateway',
      '--repo',
      fleet,
      '--root',
      site.root,
      '--netns',
      site.ns,
      '--format',
      'json',
      ...extra,
    ];
    const r = await run(process.execPath, args, { timeoutMs: CLI_TIMEOUT_MS, env: { ...process.env, MIRRORNET_LOG_LEVEL: 'error', NO_COLOR: '1' } });
    if (r.timedOut) {
      // The killed CLI may have left its lock behind: remove it so the next tests report their own failure.
      rmSync(join(site.root, 'var/lib/mirrornet/apply.lock'), { recursive: true, force: true });
      assert.fail(
        `\`mirrornet ${command} --region ${site.name}\` did not finish within ${CLI_TIMEOUT_MS / 1000} s and was killed (hang).\n` +
          `stdout: ${r.stdout}\nstderr: ${r.stderr}`,
      );
    }
    return r;
  }

  function show(r: Result): string {
    return `exit ${r.code}\nstdout: ${r.stdout}\nstderr: ${r.stderr}`;
  }

  function parsePlan(r: Result): PlanJson {
    let data: PlanJson;
    try {
      data = JSON.parse(r.stdout) as PlanJson;
    } catch {
      assert.fail(`expected a JSON plan on stdout, got: ${show(r)}`);
    }
    assert.equal(typeof data.inSync, 'boolean');
    assert.ok(Array.isArray(data.changes));
    return data;
  }

  async function expectApplied(site: Site): Promise<PlanJson> {
    const r = await mirrornet('apply', site);
    assert.equal(r.code, 0, `apply on ${site.name}: ${show(r)}`);
    return parsePlan(r);
  }

  async function expectInSync(site: Site): Promise<void> {
    const r = await mirrornet('plan', site);
    assert.equal(r.code, 0, `plan on ${site.name} should find no changes: ${show(r)}`);
    const plan = parsePlan(r);
    assert.equal(plan.inSync, true);
    assert.deepEqual(plan.changes, []);
  }

  /** Bring the sites a test works with (by default the core and region a) to the desired state. */
  async function converge(keys: SiteKey[] = ['hub', 'a']): Promise<void> {
    assert.ok(ready, 'the lab was not set up');
    for (const k of keys) await expectApplied(sites[k]);
  }

  function routes(site: Site): IpRouteJson[] {
    return JSON.parse(sh('ip', ['-n', site.ns, '-j', 'route', 'show', 'table', 'main']).stdout || '[]') as IpRouteJson[];
  }

  function route(site: Site, dst: string): IpRouteJson | undefined {
    return routes(site).find((r) => r.dst === dst);
  }

  function link(site: Site, iface: string): { mtu: number; flags: string[] } | undefined {
    const r = sh('ip', ['-n', site.ns, '-j', 'link', 'show', 'dev', iface], { allowFail: true });
    if (r.code !== 0) return undefined;
    return (JSON.parse(r.stdout) as { mtu: number; flags: string[] }[])[0];
  }

  interface Dump {
    publicKey: string;
    listenPort: number;
    peers: { publicKey: string; endpoint: string; allowedIps: string; handshake: number; rx: number; tx: number; keepalive: string }[];
  }

  function wgDump(site: Site, iface: string): Dump {
    const lines = inNs(site.ns, 'wg', ['show', iface, 'dump']).stdout.trim().split('\n');
    const head = lines[0]!.split('\t');
    return {
      publicKey: head[1]!,
      listenPort: Number(head[2]),
      peers: lines.slice(1).map((l) => {
        const f = l.split('\t');
        return { publicKey: f[0]!, endpoint: f[2]!, allowedIps: f[3]!, handshake: Number(f[4]), rx: Number(f[5]), tx: Number(f[6]), keepalive: f[7]! };
      }),
    };
  }

  function mssRules(site: Site): string[] {
    return inNs(site.ns, 'iptables', ['-w', '-t', 'mangle', '-S', 'FORWARD'])
      .stdout.split('\n')
      .filter((l) => l.includes('mirrornet-mss-'));
  }

  function stateOf(site: Site): { raw: string; json: { version: number; inventory: Record<string, string[]> } } | undefined {
    const path = join(site.root, 'var/lib/mirrornet/state.json');
    if (!existsSync(path)) return undefined;
    const raw = readFileSync(path, 'utf8');
    let json: { version: number; inventory: Record<string, string[]> };
    try {
      json = JSON.parse(raw) as typeof json;
    } catch (err) {
      assert.fail(`${path} is not valid JSON (${(err as Error).message}):\n${raw}`);
    }
    assert.equal(json.version, 1, `${path} has version 1`);
    assert.equal(typeof json.inventory, 'object', `${path} has an inventory`);
    return { raw, json };
  }

  /** Everything the agent could change on a site, without counters and handshake times. */
  function snapshot(site: Site): string {
    const ifaces = tunnels.filter((t) => t.site === site.key).map((t) => t.iface);
    const links = ifaces.map((i) => ({ i, link: link(site, i) ? { mtu: link(site, i)!.mtu, flags: link(site, i)!.flags } : null }));
    const wg = ifaces.map((i) => {
      const r = inNs(site.ns, 'wg', ['show', i, 'dump'], { allowFail: true });
      if (r.code !== 0) return null;
      // Interface: public key, port, fwmark (never the private key); peers: key, endpoint, allowed IPs.
      const [head = '', ...peers] = r.stdout.trim().split('\n');
      return [head.split('\t').slice(1, 4), ...peers.map((l) => [0, 2, 3].map((i) => l.split('\t')[i]))].map((f) => f.join(' ')).join('\n');
    });
    return JSON.stringify({ routes: routes(site), links, wg, mss: mssRules(site), state: stateOf(site)?.raw ?? null }, null, 1);
  }

  function tunnelOf(site: SiteKey, peer: SiteKey): Tunnel {
    return tunnels.find((t) => t.site === site && t.peer === peer)!;
  }

  async function startServer(): Promise<void> {
    if (server && server.exitCode === null && server.signalCode === null) return;
    serverToken = `mirrornet-${process.pid}-${Date.now()}`;
    const script =
      `require('http').createServer((q, r) => r.end(process.argv[1] + ' from ' + q.socket.remoteAddress)).listen(8080, ` +
      `'${sites.a.lan}', () => console.log('listening'))`;
    server = lab.spawnIn(sites.a.ns, process.execPath, ['-e', script, serverToken]);
    let out = '';
    server.stdout!.setEncoding('utf8').on('data', (d: string) => (out += d));
    server.stderr!.setEncoding('utf8').on('data', (d: string) => (out += d));
    const up = await waitFor(() => out.includes('listening') || server!.exitCode !== null, 5_000);
    assert.ok(up && out.includes('listening'), `the HTTP server in ${sites.a.ns} did not start: ${out}`);
  }

  /** curl from the core's LAN address to region a's LAN address: only the tunnel connects them. */
  function curlFromHub(maxTime = 5): Result {
    return inNs(sites.hub.ns, 'curl', ['-sS', '--max-time', String(maxTime), '--interface', sites.hub.lan, `http://${sites.a.lan}:8080/`], {
      allowFail: true,
      timeoutMs: (maxTime + 5) * 1000,
    });
  }

  async function expectTraffic(): Promise<void> {
    await startServer();
    // A side whose tunnel was recreated (or whose peer was re-added) has no session while the other side
    // keeps using its old one for up to 15 s (WireGuard's rekey timeout): a packet from the region makes
    // it start a fresh handshake, as any reply would.
    poke(sites.a, sites.hub);
    const r = curlFromHub();
    assert.equal(r.code, 0, `curl from ${sites.hub.lan} to ${sites.a.lan} through the tunnel failed: ${show(r)}`);
    assert.equal(r.stdout, `${serverToken} from ${sites.hub.lan}`);
  }

  /** One packet from `from`'s LAN address to `to`'s (nothing listens: a refused connection is enough). */
  function poke(from: Site, to: Site): void {
    inNs(from.ns, 'curl', ['-sS', '--max-time', '2', '--interface', from.lan, `http://${to.lan}:9/`], { allowFail: true, timeoutMs: 5_000 });
  }

  function changeIds(plan: PlanJson): string[] {
    return plan.changes.map((c) => `${c.provider} ${c.action} ${c.id}`).sort();
  }

  // ---- behaviours ---------------------------------------------------------------------------------

  const firstApplyTitle =
    'apply on every site creates the WireGuard interfaces, peers, MTU, MSS clamping and routes (proto 157), and traffic flows through the tunnel';
  it(firstApplyTitle, async function () {
    for (const k of ['hub', 'a', 'b'] as const) {
      const plan = await expectApplied(sites[k]);
      const wanted = tunnels.filter((t) => t.site === k);
      assert.deepEqual(changeIds(plan), [...wanted.map((t) => `wireguard create ${t.iface}`), ...wanted.map((t) => `routes create ${t.allowed}`)].sort());
      assert.equal(plan.applied, wanted.length * 2);
    }
    for (const t of tunnels) {
      const site = sites[t.site];
      const l = link(site, t.iface);
      assert.ok(l, `${t.iface} exists in ${site.ns}`);
      assert.equal(l.mtu, MTU, `${t.iface} MTU`);
      assert.ok(l.flags.includes('UP'), `${t.iface} is up`);
      assert.equal(wireguardGoPids(new Set([t.iface])).filter((pid) => isRunning(pid)).length, 1, `one wireguard-go runs ${t.iface}`);
      const dump = wgDump(site, t.iface);
      assert.equal(dump.publicKey, site.publicKey, `${t.iface} uses ${site.name}'s private key`);
      assert.equal(dump.listenPort, t.listenPort);
      assert.equal(dump.peers.length, 1, `${t.iface} has exactly one peer`);
      assert.equal(dump.peers[0]!.publicKey, sites[t.peer].publicKey);
      assert.equal(dump.peers[0]!.endpoint, t.endpoint);
      assert.equal(dump.peers[0]!.allowedIps, t.allowed);
      const r = route(site, t.allowed);
      assert.ok(r, `route ${t.allowed} exists in ${site.ns}`);
      assert.equal(r.dev, t.iface);
      assert.equal(String(r.protocol), PROTO, `route ${t.allowed} carries the agent's protocol id`);
      assert.ok(
        mssRules(site).some((rule) => rule.includes(`-o ${t.iface} `) && rule.includes('--clamp-mss-to-pmtu')),
        `MSS clamping for ${t.iface}: ${mssRules(site).join('\n')}`,
      );
    }
    for (const k of ['hub', 'a', 'b'] as const) {
      const state = stateOf(sites[k]);
      assert.ok(state, `state.json of ${k}`);
      const mine = tunnels.filter((t) => t.site === k);
      assert.deepEqual(state.json.inventory['wireguard'], mine.map((t) => t.iface).sort());
      assert.deepEqual(state.json.inventory['routes'], mine.map((t) => t.allowed).sort());
    }

    // The kernel sends the region's CIDR into the tunnel, and the reply comes back through it.
    const hubA = tunnelOf('hub', 'a');
    const aHub = tunnelOf('a', 'hub');
    assert.match(sh('ip', ['-n', sites.hub.ns, 'route', 'get', sites.a.lan, 'from', sites.hub.lan]).stdout, new RegExp(`dev ${hubA.iface}\\b`));
    assert.match(sh('ip', ['-n', sites.a.ns, 'route', 'get', sites.hub.lan, 'from', sites.a.lan]).stdout, new RegExp(`dev ${aHub.iface}\\b`));
    await startServer();
    const before = { hub: wgDump(sites.hub, hubA.iface).peers[0]!, a: wgDump(sites.a, aHub.iface).peers[0]! };
    await expectTraffic();
    const afterHub = wgDump(sites.hub, hubA.iface).peers[0]!;
    const afterA = wgDump(sites.a, aHub.iface).peers[0]!;
    assert.ok(afterHub.handshake > 0 && afterA.handshake > 0, 'both ends completed a WireGuard handshake');
    // An HTTP exchange is several hundred bytes each way plus WireGuard overhead.
    assert.ok(
      afterHub.tx - before.hub.tx > 300 && afterHub.rx - before.hub.rx > 300,
      `the core's tunnel carried the request and the answer: ${JSON.stringify({ before: before.hub, after: afterHub })}`,
    );
    assert.ok(
      afterA.tx - before.a.tx > 300 && afterA.rx - before.a.rx > 300,
      `the region's tunnel carried the request and the answer: ${JSON.stringify({ before: before.a, after: afterA })}`,
    );
  });

  it('a second plan on every site exits 0 and says there are no changes', async function () {
    await converge(['hub', 'a', 'b']);
    for (const k of ['hub', 'a', 'b'] as const) await expectInSync(sites[k]);
    const text = await run(
      process.execPath,
      [CLI, 'plan', '--region', sites.hub.name, '--roles', 'gateway', '--repo', fleet, '--root', sites.hub.root, '--netns', sites.hub.ns],
      {
        timeoutMs: CLI_TIMEOUT_MS,
        env: { ...process.env, NO_COLOR: '1' },
      },
    );
    assert.equal(text.code, 0, show(text));
    assert.match(text.stdout, /No changes/);
  });

  it('a route deleted by hand is drift: plan exits 2 and shows it, apply heals it', async function () {
    await converge();
    const t = tunnelOf('a', 'hub');
    sh('ip', ['-n', sites.a.ns, 'route', 'del', t.allowed]);
    assert.equal(
      sh('ip', ['-n', sites.a.ns, 'route', 'get', sites.hub.lan], { allowFail: true }).code !== 0,
      true,
      'without the route the core is unreachable',
    );

    const p = await mirrornet('plan', sites.a);
    assert.equal(p.code, 2, show(p));
    const plan = parsePlan(p);
    assert.equal(plan.inSync, false);
    assert.deepEqual(changeIds(plan), [`routes create ${t.allowed}`]);
    assert.match(plan.changes[0]!.reason, new RegExp(`${t.allowed.replace(/\./g, '\\.')}.*missing`));

    await expectApplied(sites.a);
    const r = route(sites.a, t.allowed);
    assert.ok(r, 'the route is back');
    assert.equal(r.dev, t.iface);
    assert.equal(String(r.protocol), PROTO);
    await expectInSync(sites.a);
    await expectTraffic();
  });

  it('foreign routes are left alone by plan and apply', async function () {
    await converge();
    const wan = `${lab.prefix}ah`;
    const t = tunnelOf('a', 'hub');
    // Someone else's static route to a destination outside the fleet, and a route that carries the agent's
    // protocol id but was never created by it (not in its inventory).
    const foreign = [
      { dst: '192.0.2.0/24', args: ['dev', wan, 'proto', 'static'], dev: wan, protocol: 'static' },
      { dst: '198.51.100.0/24', args: ['dev', t.iface, 'proto', PROTO], dev: t.iface, protocol: PROTO },
    ];
    try {
      for (const f of foreign) sh('ip', ['-n', sites.a.ns, 'route', 'add', f.dst, ...f.args]);
      await expectInSync(sites.a);
      const applied = await expectApplied(sites.a);
      assert.deepEqual(applied.changes, []);
      for (const f of foreign) {
        const r = route(sites.a, f.dst);
        assert.ok(r, `${f.dst} is still there`);
        assert.equal(r.dev, f.dev);
        assert.equal(String(r.protocol), f.protocol);
      }
      assert.ok(!stateOf(sites.a)!.json.inventory['routes']!.some((d) => foreign.some((f) => f.dst === d)), 'foreign routes never enter the inventory');
    } finally {
      for (const f of foreign) sh('ip', ['-n', sites.a.ns, 'route', 'del', f.dst], { allowFail: true });
    }
  });

  it('an MTU changed by hand is drift that apply heals', async function () {
    await converge();
    const t = tunnelOf('a', 'hub');
    sh('ip', ['-n', sites.a.ns, 'link', 'set', 'dev', t.iface, 'mtu', '1300']);
    const p = await mirrornet('plan', sites.a);
    assert.equal(p.code, 2, show(p));
    const plan = parsePlan(p);
    assert.deepEqual(changeIds(plan), [`wireguard update ${t.iface}`]);
    assert.match(plan.changes[0]!.reason, /MTU is 1300, want 1420/);
    await expectApplied(sites.a);
    assert.equal(link(sites.a, t.iface)?.mtu, MTU);
    await expectInSync(sites.a);
    await expectTraffic();
  });

  it('a peer removed by hand is drift that apply heals', async function () {
    await converge();
    const t = tunnelOf('a', 'hub');
    inNs(sites.a.ns, 'wg', ['set', t.iface, 'peer', sites.hub.publicKey, 'remove']);
    assert.equal(wgDump(sites.a, t.iface).peers.length, 0);
    const p = await mirrornet('plan', sites.a);
    assert.equal(p.code, 2, show(p));
    const plan = parsePlan(p);
    assert.deepEqual(changeIds(plan), [`wireguard update ${t.iface}`]);
    assert.match(plan.changes[0]!.reason, /peer .* is missing/);
    await expectApplied(sites.a);
    const dump = wgDump(sites.a, t.iface);
    assert.equal(dump.peers.length, 1);
    assert.equal(dump.peers[0]!.publicKey, sites.hub.publicKey);
    assert.equal(dump.peers[0]!.endpoint, t.endpoint);
    assert.equal(dump.peers[0]!.allowedIps, t.allowed);
    await expectInSync(sites.a);
    await expectTraffic();
  });

  it('a tunnel interface deleted by hand is recreated by apply, with one wireguard-go and one MSS rule', async function () {
    await converge();
    const t = tunnelOf('a', 'hub');
    sh('ip', ['-n', sites.a.ns, 'link', 'del', t.iface]);
    assert.ok(await waitFor(() => wireguardGoPids(new Set([t.iface])).every((pid) => !isRunning(pid)), 3_000), 'wireguard-go exits with its interface');
    const p = await mirrornet('plan', sites.a);
    assert.equal(p.code, 2, show(p));
    assert.deepEqual(changeIds(parsePlan(p)), [`routes create ${t.allowed}`, `wireguard create ${t.iface}`]);
    await expectApplied(sites.a);
    assert.equal(link(sites.a, t.iface)?.mtu, MTU);
    assert.equal(route(sites.a, t.allowed)?.dev, t.iface);
    assert.equal(wireguardGoPids(new Set([t.iface])).filter((pid) => isRunning(pid)).length, 1, `exactly one wireguard-go runs ${t.iface}`);
    const rules = mssRules(sites.a).filter((rule) => rule.includes(`mirrornet-mss-${t.iface}`));
    assert.equal(rules.length, 1, `exactly one MSS rule for ${t.iface}:\n${rules.join('\n')}`);
    await expectInSync(sites.a);
    await expectTraffic();
  });

  it('an apply killed with SIGKILL at any point converges on the next apply, and the state file stays valid JSON', async function () {
    this.timeout(40_000);
    await converge();
    const hub = sites.hub;
    const mine = tunnels.filter((t) => t.site === 'hub');
    const keep = tunnelOf('hub', 'a');
    const delays = [60, 180, 300, 420, 540, 660, 800, 950];
    const exits: string[] = [];
    try {
      for (const [i, delay] of delays.entries()) {
        // Every killed apply has work to do: the link to region b alternately leaves and rejoins the
        // fleet (prune / create a tunnel with wireguard-go), and the tunnel to region a drifts.
        if (i % 2 === 0) rmSync(fleetPath('regions/eu-mntrun-b.yaml'), { force: true });
        else writeFleet();
        sh('ip', ['-n', hub.ns, 'link', 'set', 'dev', keep.iface, 'mtu', '1300'], { allowFail: true });
        sh('ip', ['-n', hub.ns, 'route', 'del', keep.allowed], { allowFail: true });
        const args = [CLI, 'apply', '--region', hub.name, '--roles', 'gateway', '--repo', fleet, '--root', hub.root, '--netns', hub.ns, '--format', 'json'];
        let timer: NodeJS.Timeout | undefined;
        const r = await run(process.execPath, args, {
          timeoutMs: CLI_TIMEOUT_MS,
          env: { ...process.env, MIRRORNET_LOG_LEVEL: 'error' },
          onSpawn: (child) => (timer = setTimeout(() => child.kill('SIGKILL'), delay)),
        });
        clearTimeout(timer);
        exits.push(`${delay}ms: ${r.signal ?? `exit ${r.code}`}${r.code !== 0 && !r.signal ? ` ${r.stderr.trim()}` : ''}`);
        stateOf(hub); // valid JSON (or not written yet) after every kill
      }
    } finally {
      writeFleet();
    }
    assert.ok(
      exits.some((e) => e.includes('SIGKILL')),
      `at least one apply was killed in the middle: ${exits.join('; ')}`,
    );

    try {
      const r = await mirrornet('apply', hub);
      assert.equal(r.code, 0, `apply right after the killed ones (${exits.join('; ')}): ${show(r)}`);
    } finally {
      // Whatever the outcome, a lock a killed apply left behind must not fail the tests that follow.
      rmSync(join(hub.root, 'var/lib/mirrornet/apply.lock'), { recursive: true, force: true });
    }
    await expectInSync(hub);
    const state = stateOf(hub);
    assert.ok(state, 'state.json exists');
    assert.deepEqual(state.json.inventory['wireguard'], mine.map((t) => t.iface).sort());
    assert.deepEqual(state.json.inventory['routes'], mine.map((t) => t.allowed).sort());
    for (const t of mine) {
      assert.equal(wireguardGoPids(new Set([t.iface])).filter((pid) => isRunning(pid)).length, 1, `exactly one wireguard-go runs ${t.iface}`);
      assert.equal(mssRules(hub).filter((rule) => rule.includes(`mirrornet-mss-${t.iface}`)).length, 1, `exactly one MSS rule for ${t.iface}`);
    }
    await expectTraffic();
  });

  it('a fleet change that deletes more than the guardrail allows is refused with exit 3 and changes nothing', async function () {
    await converge();
    const before = snapshot(sites.hub);
    try {
      const guardrails = fleetPath('policies/guardrails.yaml');
      writeFileSync(guardrails, readFileSync(guardrails, 'utf8').replace(/^maxDeletionsPerApply: \d+$/m, 'maxDeletionsPerApply: 0'));
      rmSync(fleetPath('regions/eu-mntrun-b.yaml'));
      const r = await mirrornet('apply', sites.hub);
      assert.equal(r.code, 3, show(r));
      const plan = parsePlan(r);
      assert.ok(
        plan.refused?.some((reason) => /maxDeletionsPerApply/.test(reason)),
        `the refusal names the guardrail: ${r.stdout}`,
      );
      assert.equal(plan.summary.delete, 2);
      assert.equal(snapshot(sites.hub), before, 'nothing changed on the core');
      const p = await mirrornet('plan', sites.hub);
      assert.equal(p.code, 2, `the deletions are still pending: ${show(p)}`);
    } finally {
      writeFleet();
    }
  });

  it('a fleet change that removes a link removes its interface and routes (pruned from the inventory)', async function () {
    await converge();
    const gone = tunnelOf('hub', 'b');
    const kept = tunnelOf('hub', 'a');
    try {
      rmSync(fleetPath('regions/eu-mntrun-b.yaml'));
      const p = await mirrornet('plan', sites.hub);
      assert.equal(p.code, 2, show(p));
      assert.deepEqual(changeIds(parsePlan(p)), [`routes delete ${gone.allowed}`, `wireguard delete ${gone.iface}`]);

      const applied = await expectApplied(sites.hub);
      assert.equal(applied.applied, 2);
      assert.equal(link(sites.hub, gone.iface), undefined, `${gone.iface} is gone`);
      assert.equal(route(sites.hub, gone.allowed), undefined, `route ${gone.allowed} is gone`);
      assert.ok(!mssRules(sites.hub).some((rule) => rule.includes(`mirrornet-mss-${gone.iface}`)), 'its MSS rule is gone');
      assert.ok(await waitFor(() => !existsSync(`/var/run/wireguard/${gone.iface}.sock`), 3_000), 'its wireguard-go control socket is gone');
      assert.ok(await waitFor(() => wireguardGoPids(new Set([gone.iface])).every((pid) => !isRunning(pid)), 3_000), 'its wireguard-go exited');
      const state = stateOf(sites.hub)!;
      assert.deepEqual(state.json.inventory['wireguard'], [kept.iface]);
      assert.deepEqual(state.json.inventory['routes'], [kept.allowed]);
      // The other link is untouched.
      assert.equal(link(sites.hub, kept.iface)?.mtu, MTU);
      assert.equal(route(sites.hub, kept.allowed)?.dev, kept.iface);
      await expectInSync(sites.hub);
      await expectTraffic();
    } finally {
      writeFleet();
    }
  });

  it('an invalid repository makes plan and apply exit 1 with the findings, and changes nothing', async function () {
    assert.ok(ready, 'the lab was not set up');
    // Whatever state the sites are in (normally converged by the tests above), it must stay as it is.
    const before = { hub: snapshot(sites.hub), a: snapshot(sites.a) };
    try {
      const file = fleetPath('regions/eu-mntrun-a.yaml');
      writeFileSync(file, readFileSync(file, 'utf8').replace('mtu: 1420', 'mtu: [1420'));
      const rel = relative(fleet, file);
      for (const command of ['plan', 'apply'] as const) {
        for (const k of ['a', 'hub'] as const) {
          const r = await mirrornet(command, sites[k]);
          assert.equal(r.code, 1, `${command} on ${k}: ${show(r)}`);
          assert.match(
            r.stderr,
            new RegExp(`${rel.replace(/\./g, '\\.')}[\\s\\S]*\\d+:\\d+\\s+error[\\s\\S]*yaml/syntax`),
            `${command} prints the findings: ${r.stderr}`,
          );
          assert.match(r.stderr, /invalid/);
          assert.doesNotMatch(r.stdout, /"changes"/, `${command} prints no plan`);
        }
      }
      assert.equal(snapshot(sites.hub), before.hub, 'nothing changed on the core');
      assert.equal(snapshot(sites.a), before.a, 'nothing changed on region a');
    } finally {
      writeFleet();
    }
  });
});
