// The lab: its pure parts (topology, the fleet transform, the registry log, the peer's rules) and, as root
// with the Debian packages, a small real lab (2 cores, 2 regions, 2 nodes each): up, tunnels, pulls
// through the regions' peers with the bytes the cores served, and down leaving nothing — also after the
// `lab up` process was killed in the middle.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createHash, createHmac, randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { compile, wireguardInterfaceName } from '../../src/desired/compile.js';
import { listModelFiles } from '../../src/model/loader.js';
import { validateFiles } from '../../src/policy/validate.js';
import { labChatUrlEnv, labFleet, LAB_CHAT_SECRET_ENV } from '../../src/testbed/lab/fleet.js';
import { fleetSites, labNextHop, selectSites, FIRST_WG_PORT, LAB_MTU } from '../../src/testbed/lab/fleet-sites.js';
import { inCidr, layerSizes, parseRegistryLog, servedTo } from '../../src/testbed/lab/images.js';
import { agentEnv, agentState } from '../../src/testbed/lab/agents.js';
import { labDown } from '../../src/testbed/lab/down.js';
import { labInterfaces } from '../../src/testbed/lab/network.js';
import { missingForLab } from '../../src/testbed/lab/preflight.js';
import { formatRun, labRun, TARGET_RATIO, type RunReport } from '../../src/testbed/lab/run.js';
import { formatStatus, labStatus } from '../../src/testbed/lab/status.js';
import { startPeer, upstreamOf } from '../../src/testbed/lab/peer.js';
import { labReadySite } from '../../src/testbed/lab/ready-site.js';
import { argvOf, isLabProgram, listNamespaces, loadState, pidsUsingDir, saveState, wireguardGoPids, type LabState } from '../../src/testbed/lab/processes.js';
import { notifyAgents, postReceiveHook, PUSH_HOOK_SCRIPT, WEBHOOK_SECRET_ENV } from '../../src/testbed/lab/push-hook.js';
import { readChatLog, startChatReceiver } from '../../src/testbed/lab/receivers.js';
import { request as webhookRequest } from '../../src/report/chat/webhook/index.js';
import { scaffoldRegion } from '../../src/scaffold/region.js';
import { globToRegExp } from '../../src/testbed/lab/registry-tool.js';
import { labSite, labTopology, nextSlot, wanAddress, type LabSiteInput } from '../../src/testbed/lab/topology.js';
import type { VirtualFile } from '../../src/model/loader.js';
import { need } from '../support/capabilities.js';
import { git } from '../support/git.js';
import { chatBody } from './reports.js';

const repoRoot = fileURLToPath(new URL('../../../..', import.meta.url));
const CLI = join(repoRoot, 'agent/bin/mirrornet.js');

const fleetFiles = () => listModelFiles(repoRoot).files;
/** The example fleet, validated (the lab reads its sites from a validated fleet). */
const exampleFleet = () => validateFiles(fleetFiles()).fleet;
const fakeKey = (site: string) => createHash('sha256').update(site).digest().toString('base64');

function labOf(sites: string[] = [], nodes = 2) {
  const files = fleetFiles();
  const chosen = selectSites(fleetSites(validateFiles(files).fleet), sites);
  const topology = labTopology(chosen, { prefix: 'mnlab', nodes });
  const publicKeys = Object.fromEntries(topology.sites.map((s) => [s.name, fakeKey(s.name)]));
  return { files, topology, lab: labFleet(files, { topology, publicKeys }), publicKeys };
}

describe('lab', () => {
  describe('topology (pure)', () => {
    const sites: LabSiteInput[] = [
      {
        name: 'r-b',
        role: 'region',
        area: 'overseas',
        provider: 'idc',
        cidr: '10.144.0.0/16',
        lan: '10.144.0.10',
        runtime: 'containerd',
        registrySite: 'hub-a',
      },
      { name: 'hub-a', role: 'hub', area: 'overseas', provider: 'idc', cidr: '10.128.0.0/16', lan: '10.128.0.10' },
      { name: 'r-docker', role: 'region', area: 'overseas', provider: 'idc', cidr: '10.136.0.0/16', lan: '10.136.0.10', runtime: 'docker' },
    ];

    it('one namespace per site plus the internet one, cores first, WAN addresses in 198.18.0.0/16 in that order', () => {
      const t = labTopology(sites, { prefix: 'mnlab', nodes: 3 });
      assert.deepEqual(
        t.sites.map((s) => [s.name, s.ns, s.wan, s.wanCidr]),
        [
          ['hub-a', 'mnlab-hub-a', '198.18.0.1', '198.18.0.1/16'],
          ['r-b', 'mnlab-r-b', '198.18.0.2', '198.18.0.2/16'],
          ['r-docker', 'mnlab-r-docker', '198.18.0.3', '198.18.0.3/16'],
        ],
      );
      assert.equal(t.internet.ns, 'mnlab-inet');
      assert.ok(t.sites.every((s) => s.veth.site === 'wan0' && s.veth.peer.length <= 15));
      assert.equal(new Set(t.sites.map((s) => s.veth.peer)).size, 3);
      // The same whatever the order of the files.
      assert.deepEqual(labTopology([...sites].reverse(), { prefix: 'mnlab', nodes: 3 }), t);
    });

    it('cores get a registry on their LAN address; containerd regions get N nodes, Docker regions none', () => {
      const t = labTopology(sites, { prefix: 'mnlab', nodes: 3 });
      assert.deepEqual(t.sites[0]!.registry, { host: '10.128.0.10', port: 5000, url: 'http://10.128.0.10:5000' });
      assert.deepEqual(
        t.sites[1]!.nodes.map((n) => n.name),
        ['r-b-n1', 'r-b-n2', 'r-b-n3'],
      );
      assert.equal(t.sites[1]!.registry, undefined);
      assert.deepEqual(t.sites[2]!.nodes, []);
    });

    it('refuses a bad prefix, a bad node count, two sites on one LAN address; WAN addresses stay unique past 250 sites', () => {
      assert.throws(() => labTopology(sites, { prefix: 'Bad-Prefix', nodes: 1 }), /prefix/);
      assert.throws(() => labTopology(sites, { prefix: 'mnlab', nodes: -1 }), /--nodes/);
      assert.throws(() => labTopology([...sites, { ...sites[0]!, name: 'r-c' }], { prefix: 'mnlab', nodes: 1 }), /LAN address 10\.144\.0\.10/);
      const wans = new Set(Array.from({ length: 600 }, (_, i) => wanAddress(i)));
      assert.equal(wans.size, 600);
      assert.ok([...wans].every((w) => /^198\.18\.\d+\.\d+$/.test(w) && !w.endsWith('.0') && !w.endsWith('.255')));
    });
  });

  describe('the lab copy of the fleet (pure)', () => {
    it('reads the sites of the example fleet, with each region’s core from its Harbor', () => {
      const sites = fleetSites(exampleFleet());
      const byName = new Map(sites.map((s) => [s.name, s]));
      assert.equal(byName.get('ap-jakarta')!.registrySite, 'ap-singapore');
      assert.equal(byName.get('cn-shanghai')!.registrySite, 'cn-beijing');
      assert.equal(byName.get('cn-hangzhou-idc')!.runtime, 'docker');
      assert.equal(byName.get('cn-hangzhou-idc')!.registrySite, undefined, 'Docker Hub only');
      assert.equal(byName.get('cn-beijing')!.lan, '10.120.0.10');
    });

    it('--sites keeps the regions asked for and both cores; an unknown name lists the known ones', () => {
      const all = fleetSites(exampleFleet());
      assert.deepEqual(
        selectSites(all, ['ap-jakarta'])
          .map((s) => s.name)
          .sort(),
        ['ap-jakarta', 'ap-singapore', 'cn-beijing'],
      );
      assert.equal(selectSites(all, []).length, all.length);
      assert.throws(() => selectSites(all, ['ap-jakarta', 'mars-1']), /no site mars-1.*ap-jakarta/);
    });

    it('is a valid fleet, for every site and for a subset', () => {
      for (const subset of [[], ['ap-jakarta', 'cn-shanghai'], ['us-virginia']]) {
        const { lab } = labOf(subset);
        const r = validateFiles(lab.files);
        assert.ok(r.valid, `${subset.join(',') || 'all'}: ${JSON.stringify(r.errors.slice(0, 3))}`);
        assert.deepEqual(
          r.warnings.map((w) => `${w.file} ${w.rule}`),
          [],
          'no warnings either',
        );
      }
    });

    it('turns every link into WireGuard: per-site keys, endpoints on the WAN addresses, one port per link end, MTU 1420', () => {
      const { lab, topology, publicKeys } = labOf();
      assert.equal(lab.links.length, 7);
      assert.deepEqual(new Set(lab.links.map((l) => l.was)), new Set(['cloud-connect', 'wireguard', 'vpn-ipsec']));
      const report = validateFiles(lab.files);
      const wan = new Map(topology.sites.map((s) => [s.name, s.wan]));
      const seen = new Set<string>();
      for (const l of report.fleet.links) {
        assert.equal(l.link.type, 'wireguard', l.id);
        if (l.link.type !== 'wireguard') continue;
        assert.ok(l.link.mtu <= LAB_MTU, `${l.id}: MTU ${l.link.mtu} fits WireGuard over a 1500-byte path`);
        for (const [site, end] of [
          [l.local, l.link.local],
          [l.remote, l.link.remote],
        ] as const) {
          assert.equal(end.publicKey, publicKeys[site]);
          assert.equal(end.privateKey, `file:/etc/mirrornet/wireguard/${site}.key`);
          assert.equal(end.endpoint, `${wan.get(site)}:${end.listenPort}`);
          assert.ok(end.listenPort >= FIRST_WG_PORT && end.listenPort < FIRST_WG_PORT + 16);
          assert.ok(!seen.has(`${site}:${end.listenPort}`), `${site} listens once on ${end.listenPort}`);
          seen.add(`${site}:${end.listenPort}`);
        }
      }
      // The Singapore core ends four links: four ports.
      assert.equal([...seen].filter((s) => s.startsWith('ap-singapore:')).length, 4);
    });

    it('each side compiles to a tunnel whose peer is the other side, and Huawei Cloud ends name a gateway ECS as next hop', () => {
      const { lab, topology, publicKeys } = labOf(['ap-jakarta']);
      const fleet = validateFiles(lab.files).fleet;
      const jkt = compile(fleet, 'ap-jakarta', ['gateway']);
      const sg = compile(fleet, 'ap-singapore', ['gateway']);
      const toSg = jkt.wireguard.find((w) => w.remoteSite === 'ap-singapore')!;
      const toJkt = sg.wireguard.find((w) => w.remoteSite === 'ap-jakarta')!;
      assert.equal(toSg.name, wireguardInterfaceName('ap-jakarta', 'ap-singapore'));
      assert.equal(toSg.peer.publicKey, publicKeys['ap-singapore']);
      assert.equal(toSg.peer.endpoint, `${topology.sites.find((s) => s.name === 'ap-singapore')!.wan}:${toJkt.listenPort}`);
      assert.deepEqual(toSg.peer.allowedIps, ['10.128.0.0/16']);
      assert.deepEqual(toJkt.peer.allowedIps, ['10.136.0.0/16']);
      assert.ok(jkt.cloud, 'Jakarta is on Huawei Cloud: its route table is managed (in the emulator)');
      assert.ok(jkt.cloud.tables[0]!.routes.every((r) => r.type === 'ecs' && r.nexthop === labNextHop('ap-jakarta')));
      assert.deepEqual(
        labInterfaces(lab.links)
          .map((i) => i.iface)
          .sort(),
        [toSg.name, toJkt.name, wireguardInterfaceName('cn-beijing', 'ap-singapore'), wireguardInterfaceName('ap-singapore', 'cn-beijing')].sort(),
      );
    });

    it('points each Harbor at its core’s registry, drops what is outside the lab, and lists the secrets to generate', () => {
      const { lab } = labOf(['ap-jakarta', 'cn-shanghai']);
      const fleet = validateFiles(lab.files).fleet;
      assert.equal(fleet.harbors.get('harbor-ap-singapore')!.value.externalUrl, 'http://10.128.0.10:5000');
      assert.equal(fleet.harbors.get('harbor-cn-beijing')!.value.externalUrl, 'http://10.120.0.10:5000');
      assert.equal(fleet.harbors.get('harbor-cn-beijing')!.value.replication.length, 2, 'replication between the two cores stays');
      assert.deepEqual(
        fleet.harbors.get('harbor-ap-singapore')!.value.replication.map((r) => r.name),
        ['bundles-to-beijing'],
        'so does Singapore’s replication of bundles to Beijing',
      );
      assert.deepEqual(fleet.regions.get('ap-jakarta')!.value.p2p ?? [], [], "Jakarta's p2p peer Amsterdam is not in the lab");
      assert.deepEqual([...fleet.regions.keys()].sort(), ['ap-jakarta', 'cn-shanghai']);
      assert.ok(lab.secretEnv.includes('HARBOR_ADMIN_PASSWORD') && lab.secretEnv.includes('HARBOR_ROBOT_REPLICATION'));
      assert.ok(lab.secretEnv.includes('HARBOR_ROBOT_REPLICATION_FROM_SINGAPORE'), 'the robot Singapore replicates bundles with');
      // The regions' hosts.toml point at the real registries.
      const node = compile(fleet, 'ap-jakarta', ['node']);
      assert.deepEqual(
        node.containerd!.registries.map((r) => [r.host, r.server, r.mirror]),
        [['10.128.0.10:5000', 'http://10.128.0.10:5000', 'http://127.0.0.1:4001']],
      );
    });
  });

  describe('measuring and copying (pure)', () => {
    it("counts what the registry served to one region's CIDR for one repository, from distribution's JSON log", () => {
      const line = (remote: string, uri: string, written: number, method = 'GET') =>
        JSON.stringify({
          'http.request.method': method,
          'http.request.remoteaddr': remote,
          'http.request.uri': uri,
          'http.response.status': 200,
          'http.response.written': written,
          msg: 'response completed',
        });
      const text = [
        line('10.136.0.10:41000', '/v2/library/mirrornet-lab/blobs/sha256:aa', 1000),
        line('10.136.0.10:41001', '/v2/library/mirrornet-lab/manifests/mirror-1', 500),
        line('10.136.0.10:41001', '/v2/library/mirrornet-lab/manifests/mirror-1', 0, 'HEAD'),
        line('10.144.0.10:41002', '/v2/library/mirrornet-lab/blobs/sha256:aa', 1000),
        line('10.136.0.10:41003', '/v2/other/blobs/sha256:bb', 7777),
        '{"msg":"some other line"}',
        'not json',
      ].join('\n');
      const entries = parseRegistryLog(text);
      assert.equal(entries.length, 5);
      assert.equal(entries[0]!.remote, '10.136.0.10');
      assert.deepEqual(servedTo(entries, '10.136.0.0/16', 'library/mirrornet-lab'), { bytes: 1500, requests: 3, blobGets: 1 });
      assert.ok(inCidr('10.136.255.1', '10.136.0.0/16') && !inCidr('10.137.0.1', '10.136.0.0/16') && inCidr('1.2.3.4', '0.0.0.0/0'));
    });

    it('ends only programs the lab runs, never a shell or a `tail -f` of a lab log', () => {
      for (const argv of [
        ['/usr/bin/node', '/work/main/agent/bin/mirrornet.js', 'agent', '--root', '/var/lib/mirrornet-lab/sites/x/root'],
        ['ip', 'netns', 'exec', 'mnlab-x', 'docker-registry', 'serve', '/var/lib/mirrornet-lab/x/config.yml'],
        ['/usr/local/bin/node', '/work/main/agent/dist/src/testbed/lab/peer.js', '--listen', '127.0.0.1:4001'],
        ['containerd', '-c', '/var/lib/mirrornet-lab/c.toml'],
        ['wireguard-go', 'mn12345678'],
      ])
        assert.ok(isLabProgram(argv), argv.join(' '));
      for (const argv of [
        ['tail', '-f', '/var/lib/mirrornet-lab/logs/agent-x.log'],
        ['bash'],
        ['ip', 'netns', 'exec', 'mnlab-x', 'bash'],
        ['/usr/bin/node', '/home/me/other.js'],
        [],
      ])
        assert.ok(!isLabProgram(argv), argv.join(' '));
    });

    it("gives the agents the lab's secrets and basics only, never the caller's chat URLs or tokens", () => {
      const env = agentEnv(
        { HARBOR_ADMIN_PASSWORD: 'x' },
        { PATH: '/bin', HOME: '/root', MIRRORNET_SLACK_PLATFORM_INTL_URL: 'https://hooks.slack.com/x', GITHUB_TOKEN: 't' },
      );
      assert.deepEqual(env, { PATH: '/bin', HOME: '/root', HARBOR_ADMIN_PASSWORD: 'x', MIRRORNET_LOG_LEVEL: 'info', MIRRORNET_LOG_FORMAT: 'json' });
    });

    it("Harbor's name filters ({a,b}/**) and layer sizes", () => {
      const re = globToRegExp('{library,base}/**');
      assert.ok(re.test('library/mirrornet-lab') && re.test('base/a/b') && !re.test('other/x') && !re.test('library'));
      assert.ok(globToRegExp('library/*').test('library/x') && !globToRegExp('library/*').test('library/x/y'));
      assert.deepEqual(layerSizes(100, 3), [51, 33, 16]);
      assert.equal(
        layerSizes(16 * 1024 * 1024, 3).reduce((a, b) => a + b, 0),
        16 * 1024 * 1024,
      );
    });

    it('the peer picks its upstream as dfdaemon does: X-Dragonfly-Registry, then ?ns=, then the registry mirror', () => {
      const mirror = 'http://10.128.0.10:5000';
      assert.equal(
        upstreamOf({ 'x-dragonfly-registry': 'http://10.120.0.10:5000' }, new URL('http://p/v2/x/blobs/sha256:1?ns=a:1'), mirror),
        'http://10.120.0.10:5000',
      );
      assert.equal(upstreamOf({}, new URL('http://p/v2/x/blobs/sha256:1?ns=10.1.0.10:5000'), mirror), 'http://10.1.0.10:5000');
      assert.equal(upstreamOf({}, new URL('http://p/v2/'), mirror), mirror);
    });
  });

  describe('reporting and sites added later (pure, and on loopback)', () => {
    it("the lab's chat channels are the repository's, as signed webhooks to the local receiver, with the same routes", () => {
      const { lab } = labOf(['ap-jakarta']);
      const fleet = validateFiles(lab.files).fleet;
      const policy = fleet.policies.notifications!.value;
      const original = validateFiles(fleetFiles()).fleet.policies.notifications!.value;
      assert.deepEqual(
        policy.channels.map((c) => c.name),
        original.channels.map((c) => c.name),
      );
      assert.deepEqual(
        lab.chatChannels,
        original.channels.map((c) => c.name),
      );
      for (const c of policy.channels) {
        assert.equal(c.type, 'webhook', c.name);
        assert.equal(c.url, `env:${labChatUrlEnv(c.name)}`);
        assert.equal(c.secret, `env:${LAB_CHAT_SECRET_ENV}`);
        assert.equal(c.rateLimit, undefined);
      }
      assert.deepEqual(policy.routes, original.routes, 'same routes');
      assert.equal(labChatUrlEnv('network-cn-oncall'), 'MIRRORNET_LAB_CHAT_URL_NETWORK_CN_ONCALL');
    });

    const withNew = (files: VirtualFile[], opts: Parameters<typeof scaffoldRegion>[1]): VirtualFile[] => {
      const r = scaffoldRegion(validateFiles(files).fleet, opts);
      return [...files, { path: r.path, content: r.content }];
    };

    it('makes a region from `region add` lab-ready: its key and WAN endpoint, the hub end with the lab key and a gateway ECS, valid without warnings', () => {
      const { lab, topology, publicKeys } = labOf(['ap-jakarta', 'cn-shanghai']);
      const files = withNew(lab.files, { name: 'eu-frankfurt-idc', area: 'overseas', provider: 'idc' });
      const slot = nextSlot(topology);
      assert.equal(slot, 4);
      const wans = Object.fromEntries(topology.sites.map((s) => [s.name, s.wan]));
      const ready = labReadySite(files, 'eu-frankfurt-idc', { wan: wanAddress(slot), publicKey: fakeKey('eu-frankfurt-idc'), wans });
      assert.deepEqual(ready.peers, ['ap-singapore']);
      const next = files.map((f) => (f.path === ready.path ? { path: f.path, content: ready.content } : f));
      const r = validateFiles(next);
      assert.ok(r.valid, JSON.stringify(r.errors.slice(0, 3)));
      assert.deepEqual(
        r.warnings.map((w) => `${w.file} ${w.rule}`),
        [],
        'no warnings: nothing left to fill in',
      );
      const link = r.fleet.links.find((l) => l.local === 'eu-frankfurt-idc')!;
      assert.equal(link.link.type, 'wireguard');
      if (link.link.type !== 'wireguard') return;
      assert.equal(link.link.local.publicKey, fakeKey('eu-frankfurt-idc'));
      assert.equal(link.link.local.endpoint, `${wanAddress(slot)}:${link.link.local.listenPort}`);
      assert.equal(link.link.remote.publicKey, publicKeys['ap-singapore']);
      assert.equal(link.link.remote.endpoint, `${wans['ap-singapore']}:${link.link.remote.listenPort}`);
      assert.equal(link.link.remote.nextHop, labNextHop('ap-singapore'));
      // The hub end listens on a port none of its other links uses.
      const hubPorts = r.fleet.links
        .filter((l) => l !== link && l.link.type === 'wireguard')
        .flatMap((l) =>
          l.link.type === 'wireguard'
            ? [l.local === 'ap-singapore' ? l.link.local.listenPort : l.remote === 'ap-singapore' ? l.link.remote.listenPort : -1]
            : [],
        );
      assert.ok(!hubPorts.includes(link.link.remote.listenPort), `${link.link.remote.listenPort} is free on ap-singapore (${hubPorts.join(', ')})`);
      // The core routes the new CIDR into the new tunnel, and its cloud route table too.
      const hub = compile(r.fleet, 'ap-singapore', ['gateway']);
      const cidr = r.fleet.regions.get('eu-frankfurt-idc')!.value.cidr;
      assert.ok(hub.routes.some((x) => x.destination === cidr && x.dev === wireguardInterfaceName('ap-singapore', 'eu-frankfurt-idc')));
      assert.ok(hub.cloud!.tables[0]!.routes.some((x) => x.destination === cidr && x.nexthop === labNextHop('ap-singapore')));
      // The site's slot gives its WAN address and veth.
      const site = labSite(
        fleetSites(r.fleet).find((s) => s.name === 'eu-frankfurt-idc')!,
        slot,
        { prefix: 'mnlab', nodes: 2 },
      );
      assert.deepEqual([site.wan, site.veth.peer, site.ns, site.nodes.length], ['198.18.0.5', 's4', 'mnlab-eu-frankfurt-idc', 2]);
      assert.equal(nextSlot(topology, [slot]), 5);
    });

    it('a cloud region from `region add` gets WireGuard instead of its cloud link, and lab VPC ids', () => {
      const { lab, topology } = labOf(['ap-jakarta']);
      const files = withNew(lab.files, { name: 'ap-tokyo', area: 'overseas', provider: 'huaweicloud', cloudRegion: 'ap-northeast-1' });
      const wans = Object.fromEntries(topology.sites.map((s) => [s.name, s.wan]));
      const ready = labReadySite(files, 'ap-tokyo', { wan: wanAddress(9), publicKey: fakeKey('ap-tokyo'), wans });
      const r = validateFiles(files.map((f) => (f.path === ready.path ? { path: f.path, content: ready.content } : f)));
      assert.ok(r.valid, JSON.stringify(r.errors.slice(0, 3)));
      assert.deepEqual(
        r.warnings.map((w) => `${w.file} ${w.rule}`),
        [],
      );
      assert.ok(
        ready.notes.some((n) => /cloud-connect link to ap-singapore is WireGuard/.test(n)),
        ready.notes.join('; '),
      );
      const tokyo = compile(r.fleet, 'ap-tokyo', ['gateway']);
      assert.equal(tokyo.wireguard.length, 1);
      assert.ok(tokyo.cloud!.tables[0]!.routes.every((x) => x.nexthop === labNextHop('ap-tokyo')));
      assert.throws(() => labReadySite(files, 'mars-1', { wan: wanAddress(9), publicKey: 'k', wans }), /no site mars-1/);
    });

    it('the chat receiver logs every delivery with its raw body, and accepts only the lab-signed ones', async () => {
      const tmp = mkdtempSync(join(tmpdir(), 'mn-receiver-'));
      const receiver = await startChatReceiver({ secret: 's3cret', log: join(tmp, 'chat.jsonl') });
      try {
        const event = {
          kind: 'applied' as const,
          site: 'ap-jakarta',
          revision: 'a'.repeat(40),
          message: 'ap-jakarta applied',
          fingerprint: 'f',
          at: new Date().toISOString(),
          changes: [{ provider: 'routes', id: '10.128.0.0/16', action: 'create', reason: 'missing' }],
        };
        const send = async (secret: string) => {
          const req = webhookRequest(
            { channel: 'audit', url: `${receiver.url}/chat/audit`, secret },
            { event, occurrence: 'alert', deliveryId: 'd1' },
            Date.now(),
          );
          return (await fetch(req.url, { method: 'POST', headers: req.headers, body: req.body })).status;
        };
        assert.equal(await send('s3cret'), 200);
        assert.equal(await send('wrong'), 401);
        const log = readChatLog(join(tmp, 'chat.jsonl'));
        assert.deepEqual(
          log.map((d) => [d.channel, d.event, d.delivery, d.valid]),
          [
            ['audit', 'applied', 'd1', true],
            ['audit', 'applied', 'd1', false],
          ],
        );
        assert.equal(chatBody(log[0]!)!.event.site, 'ap-jakarta');
        assert.deepEqual(await (await fetch(`${receiver.url}/messages`)).json(), log);
        assert.equal((await fetch(`${receiver.url}/elsewhere`, { method: 'POST', body: '{}' })).status, 404);
      } finally {
        await receiver.close();
        rmSync(tmp, { recursive: true, force: true });
      }
    });

    it("a push to the origin is a signed GitHub push webhook to every agent (the origin's post-receive hook)", async () => {
      const tmp = mkdtempSync(join(tmpdir(), 'mn-hook-'));
      const got: { headers: http.IncomingHttpHeaders; body: string }[] = [];
      const agent = http.createServer((req, res) => {
        let body = '';
        req.on('data', (d: Buffer) => (body += d.toString()));
        req.on('end', () => {
          got.push({ headers: req.headers, body });
          res.writeHead(202).end('reconcile triggered\n');
        });
      });
      await new Promise<void>((r) => agent.listen(0, '127.0.0.1', () => r()));
      try {
        const listen = `127.0.0.1:${(agent.address() as AddressInfo).port}`;
        const rec = { site: 'x', role: 'gateway' as const, roles: 'gateway', root: tmp, stateDir: tmp, listen };
        const state: LabState = {
          version: 1,
          dir: tmp,
          prefix: 'mnlab',
          createdAt: '',
          phase: 'up',
          repo: tmp,
          origin: tmp,
          work: tmp,
          peer: 'dfproxy',
          namespaces: [],
          wireguard: [],
          processes: [],
          agents: [rec, { ...rec, site: 'y' }],
          nodes: [],
          secrets: { [WEBHOOK_SECRET_ENV]: 'hooksecret' },
        };
        saveState(state);
        const r = await notifyAgents(tmp, 'refs/heads/main', 'b'.repeat(40));
        assert.deepEqual(r, { sent: 2, ok: 2 });
        for (const g of got) {
          assert.equal(g.headers['x-github-event'], 'push');
          assert.equal(g.headers['x-hub-signature-256'], `sha256=${createHmac('sha256', 'hooksecret').update(g.body).digest('hex')}`);
          assert.equal(JSON.parse(g.body).ref, 'refs/heads/main');
        }
        const hook = postReceiveHook(tmp, '/usr/bin/node');
        assert.ok(hook.startsWith('#!/bin/sh\n') && hook.includes(`'${PUSH_HOOK_SCRIPT}' '${tmp}'`), hook);
      } finally {
        await new Promise<void>((r) => agent.close(() => r()));
        rmSync(tmp, { recursive: true, force: true });
      }
    });
  });

  describe('the peer on loopback', () => {
    let upstream: http.Server | undefined;
    let peer: Awaited<ReturnType<typeof startPeer>> | undefined;
    let tmp = '';
    after(async () => {
      for (const s of [upstream, peer?.server]) if (s) await new Promise<void>((r) => s.close(() => r()));
      if (tmp) rmSync(tmp, { recursive: true, force: true });
    });

    it('fetches a blob from upstream once for any number of concurrent and later requests; manifests pass straight through', async () => {
      const blob = randomBytes(3 * 1024 * 1024);
      const digest = `sha256:${createHash('sha256').update(blob).digest('hex')}`;
      const seen: string[] = [];
      upstream = http.createServer((req, res) => {
        seen.push(`${req.method} ${req.url}`);
        if (req.url === `/v2/lab/x/blobs/${digest}`) {
          res.writeHead(200, { 'content-length': blob.length, 'docker-content-digest': digest });
          // Slowly, so the concurrent requests arrive while it runs.
          setTimeout(() => res.end(blob), 200);
        } else if (req.url?.startsWith('/v2/lab/x/manifests/')) res.end('{"manifest":true}');
        else res.writeHead(404).end();
      });
      await new Promise<void>((r) => upstream!.listen(0, '127.0.0.1', () => r()));
      const upUrl = `http://127.0.0.1:${(upstream.address() as AddressInfo).port}`;
      tmp = mkdtempSync(join(tmpdir(), 'mn-peer-'));
      peer = await startPeer({
        host: '127.0.0.1',
        port: 0,
        cacheDir: tmp,
        registryMirror: 'http://127.0.0.1:9',
        rules: [/blobs\/sha256.*/u],
        log: () => undefined,
      });
      const port = (peer.server.address() as AddressInfo).port;
      const get = async (path: string) => {
        const res = await fetch(`http://127.0.0.1:${port}${path}`, { headers: { 'x-dragonfly-registry': upUrl } });
        return { status: res.status, body: Buffer.from(await res.arrayBuffer()) };
      };
      const first = await Promise.all(Array.from({ length: 5 }, () => get(`/v2/lab/x/blobs/${digest}?ns=127.0.0.1`)));
      const later = await get(`/v2/lab/x/blobs/${digest}`);
      for (const r of [...first, later]) {
        assert.equal(r.status, 200);
        assert.ok(r.body.equals(blob), 'every client got the whole blob');
      }
      assert.equal(seen.filter((s) => s.includes('/blobs/')).length, 1, `one upstream fetch: ${seen.join(', ')}`);
      assert.ok(!seen.some((s) => s.includes('ns=')), 'containerd’s ns parameter is not sent upstream');
      await get('/v2/lab/x/manifests/v1');
      await get('/v2/lab/x/manifests/v1');
      assert.equal(seen.filter((s) => s.includes('/manifests/')).length, 2, 'manifests are not cached');
      assert.equal(peer.stats.upstreamBytes, blob.length + 2 * '{"manifest":true}'.length);
      assert.deepEqual(readdirSync(join(tmp, 'tmp')), [], 'no temp file left');
    });
  });

  describe('a real lab (root): 2 cores, 2 regions, 2 nodes each', function () {
    this.timeout(240_000);
    const prefix = `mnt${process.pid.toString(36)}`;
    let dir = '';
    const lines: string[] = [];
    const say = (l: string) => lines.push(l);
    let report: RunReport | undefined;
    let allowedBefore: string | undefined;

    before(function () {
      const missing = missingForLab();
      need(
        this,
        missing.reasons.length
          ? `${missing.reasons.join('; ')}${missing.packages.length ? ` (apt-get install ${missing.packages.join(' ')})` : ''}`
          : undefined,
      );
      // Interface names follow the site names: a lab of the same sites already up on this machine holds them.
      const { lab, topology } = labOf(['ap-jakarta', 'cn-shanghai']);
      const busy = labInterfaces(lab.links).find((i) => existsSync(`/var/run/wireguard/${i.iface}.sock`));
      need(this, busy ? `a lab with the same sites is up on this machine (${busy.iface} exists): run \`mirrornet lab down\` first` : undefined);
      dir = mkdtempSync(join(tmpdir(), 'mn-lab-'));
      // The lab owns its cores' registry addresses while it is up: the lab (publishing the first revision) and
      // this test reach them over the lab's host link.
      allowedBefore = process.env['MIRRORNET_TEST_ALLOW_HOSTS'];
      const cores = topology.sites.filter((s) => s.role === 'hub').map((s) => s.lan);
      process.env['MIRRORNET_TEST_ALLOW_HOSTS'] = [...(allowedBefore ? [allowedBefore] : []), ...cores].join(',');
    });

    after(async function () {
      if (allowedBefore === undefined) delete process.env['MIRRORNET_TEST_ALLOW_HOSTS'];
      else process.env['MIRRORNET_TEST_ALLOW_HOSTS'] = allowedBefore;
      if (!dir) return;
      const r = await labDown({ dir, prefix, say });
      if (this.currentTest?.state === 'failed' || r.problems.length) process.stderr.write(`${lines.join('\n')}\n`);
      assert.deepEqual(r.problems, [], 'lab down problems');
    });

    it('up: the agents bring up every tunnel; the status shows handshakes and every agent on the origin revision', async function () {
      try {
        report = await labRun({
          repo: repoRoot,
          dir,
          nodes: 2,
          sites: ['ap-jakarta', 'cn-shanghai'],
          prefix,
          peer: 'dfproxy',
          interval: '5s',
          imageBytes: 4 * 1024 * 1024,
          down: false,
          say,
          timeoutMs: 120_000,
        });
      } catch (err) {
        assert.fail(`lab run failed: ${(err as Error).message}\n${lines.join('\n')}`);
      }
      const status = await labStatus(dir);
      assert.ok(status, 'a status');
      assert.equal(status.phase, 'up');
      assert.equal(status.sites.length, 4);
      assert.ok(status.sites.every((s) => s.up));
      assert.equal(status.tunnels.length, 6, formatStatus(status));
      for (const t of status.tunnels) {
        assert.ok(t.exists, `${t.iface} (${t.site} to ${t.peer}) exists`);
        assert.ok(t.handshakeAgeS !== undefined && t.handshakeAgeS < 180, `${t.iface} completed a handshake: ${formatStatus(status)}`);
      }
      assert.equal(status.agents.length, 8, '4 gateway agents and 4 node agents');
      for (const a of status.agents) {
        assert.ok(a.running, `${a.name} runs`);
        assert.ok(a.current, `${a.name} applied the origin's revision ${status.head}: ${formatStatus(status)}`);
        assert.deepEqual(a.drift, [], `${a.name} has no drift`);
      }
      assert.ok(
        status.processes.every((p) => p.running),
        formatStatus(status),
      );
      assert.match(formatStatus(status), /handshake/);
    });

    it('every node pulled the image through its region’s peer, and the core served each region about one image (baseline: one per node)', function () {
      assert.ok(report, 'the run above produced a report');
      assert.equal(report.regions.length, 2, formatRun(report));
      for (const r of report.regions) {
        assert.equal(r.nodes, 2);
        assert.ok(r.mirror.complete && r.mirror.pulls.every((p) => p.ok), `${r.region}: every node has the image (through the peer): ${formatRun(report)}`);
        assert.ok(r.baseline.complete, `${r.region}: baseline pulls complete`);
        assert.ok(r.mirror.served >= r.imageBytes * 0.99, `${r.region}: the core served the image once (${r.mirror.served} of ${r.imageBytes})`);
        assert.ok(
          r.mirror.served <= TARGET_RATIO * r.imageBytes,
          `${r.region}: ${r.mirror.served} bytes served through the peer, more than ${TARGET_RATIO}x ${r.imageBytes}`,
        );
        assert.ok(r.baseline.served >= 2 * r.imageBytes * 0.99, `${r.region}: the baseline served one image per node (${r.baseline.served})`);
      }
      assert.equal(report.replication.status, 'Succeed');
    });

    it('a pushed commit reaches every agent as a signed bundle: only the publisher contacts the origin, a region fetches its layer once', async function () {
      const state = loadState(dir)!;
      assert.equal(state.bundle?.publisher, 'ap-singapore', 'the overseas core publishes');
      const agents = state.processes.filter((p) => p.kind === 'agent' || p.kind === 'node-agent');
      assert.equal(agents.length, 8);
      for (const p of agents) {
        const argv = argvOf(p.pid);
        assert.equal(argv.includes('--repo-url'), p.name === 'agent ap-singapore', `${p.name}: ${argv.slice(2).join(' ')}`);
        assert.ok(argv.includes('--source'), `${p.name} applies from bundles`);
      }
      // A commit that changes both regions' node settings, pushed to the origin; the publisher polls (5 s).
      const clone = join(mkdtempSync(join(tmpdir(), 'mn-lab-clone-')), 'fleet');
      await git(tmpdir(), ['clone', '-q', state.origin, clone]);
      for (const region of ['ap-jakarta', 'cn-shanghai']) {
        const file = join(clone, 'regions', `${region}.yaml`);
        writeFileSync(file, readFileSync(file, 'utf8').replace(/^ {2}dialTimeout: 2s$/m, '  dialTimeout: 3s'));
      }
      await git(clone, ['commit', '-qam', 'regions: dial the mirror for 3 s']);
      await git(clone, ['push', '-q', 'origin', 'main']);
      const head = await git(clone, ['rev-parse', 'HEAD']);
      const until = Date.now() + 60_000;
      for (;;) {
        const behind = state.agents.filter((a) => agentState(a)?.appliedRevision !== head).map((a) => a.node ?? a.site);
        if (!behind.length) break;
        if (Date.now() > until) assert.fail(`not applied within 60 s by ${behind.join(', ')}\n${lines.slice(-5).join('\n')}`);
        await new Promise((r) => setTimeout(r, 250));
      }
      // Nobody but the publisher keeps a clone of the repository.
      for (const a of state.agents) assert.equal(existsSync(join(a.stateDir, 'repo')), false, `${a.node ?? a.site} has no clone of the origin`);
      // Both cores' registries hold the revision in the channel (the publisher's push, and Harbor's replication,
      // which copies the tags of each burst of pushes as it comes: the channel's tag may follow the sites' a moment later).
      for (const core of state.topology!.sites.filter((s) => s.role === 'hub')) {
        const channelRevision = async () =>
          (
            (await (
              await fetch(`${core.registry!.url}/v2/mirrornet/fleet/manifests/main`, { headers: { accept: 'application/vnd.oci.image.manifest.v1+json' } })
            ).json()) as { annotations: Record<string, string> }
          ).annotations['org.opencontainers.image.revision'];
        const by = Date.now() + 30_000;
        let seen = await channelRevision();
        while (seen !== head && Date.now() < by) {
          await new Promise((r) => setTimeout(r, 250));
          seen = await channelRevision();
        }
        assert.equal(seen, head, `${core.name}'s registry`);
      }
      // Each region's three agents (gateway and two nodes) took the region's new layer through its peer, which
      // fetched it from the core once.
      for (const region of ['ap-jakarta', 'cn-shanghai']) {
        const core = state.topology!.sites.find((s) => s.name === (region === 'ap-jakarta' ? 'ap-singapore' : 'cn-beijing'))!;
        const site = (await (
          await fetch(`${core.registry!.url}/v2/mirrornet/fleet/manifests/main.${region}`, {
            headers: { accept: 'application/vnd.oci.image.manifest.v1+json' },
          })
        ).json()) as { layers: { digest: string }[] };
        const layer = site.layers[0]!.digest;
        const log = readFileSync(join(dir, 'logs', `peer-${region}.log`), 'utf8')
          .split('\n')
          .filter((l) => l.includes(layer))
          .map((l) => JSON.parse(l) as { mode: string; status: number });
        assert.deepEqual(
          log.map((e) => e.status),
          [200, 200, 200],
          `${region}: three agents fetched ${layer} through the peer`,
        );
        assert.equal(log.filter((e) => e.mode === 'miss').length, 1, `${region}: the peer fetched it from the core once`);
      }
    });

    it('down removes every namespace, interface, process and file', async function () {
      const ifaces = new Set(labInterfaces(labOf(['ap-jakarta', 'cn-shanghai']).lab.links).map((i) => i.iface));
      const r = await labDown({ dir, prefix, say });
      assert.deepEqual(r.problems, []);
      assert.deepEqual(
        listNamespaces().filter((n) => n.startsWith(`${prefix}-`)),
        [],
      );
      assert.deepEqual(wireguardGoPids(ifaces), []);
      for (const i of ifaces) assert.ok(!existsSync(`/var/run/wireguard/${i}.sock`), `${i}.sock is gone`);
      assert.ok(!existsSync(dir), `${dir} is gone`);
      assert.deepEqual(pidsUsingDir(dir), []);
    });

    it('down after `lab up` was killed in the middle leaves nothing either', async function () {
      const crashDir = mkdtempSync(join(tmpdir(), 'mn-lab-crash-'));
      rmSync(crashDir, { recursive: true });
      dir = crashDir;
      const child = spawn(
        process.execPath,
        [CLI, 'lab', 'up', '--dir', crashDir, '--prefix', prefix, '--sites', 'ap-jakarta', '--nodes', '1', '--interval', '5s'],
        { stdio: ['ignore', 'ignore', 'pipe'] },
      );
      let err = '';
      child.stderr.on('data', (d: Buffer) => (err += d.toString()));
      // Kill it once the agents are starting: namespaces, emulators and registries exist, tunnels are coming.
      const until = Date.now() + 60_000;
      while (!/agents: \d+ gateway agents started/.test(err) && child.exitCode === null && Date.now() < until) await new Promise((r) => setTimeout(r, 50));
      assert.equal(child.exitCode, null, `lab up ended early: ${err}`);
      child.kill('SIGKILL');
      await new Promise((r) => child.once('exit', r));
      assert.ok(
        listNamespaces().some((n) => n.startsWith(`${prefix}-`)),
        'the killed lab left namespaces behind',
      );
      assert.ok(pidsUsingDir(crashDir).length > 0, 'the killed lab left processes behind');
      const r = await labDown({ dir: crashDir, prefix, say });
      assert.deepEqual(r.problems, []);
      assert.deepEqual(
        listNamespaces().filter((n) => n.startsWith(`${prefix}-`)),
        [],
      );
      assert.ok(!existsSync(crashDir));
      await new Promise((res) => setTimeout(res, 300));
      assert.deepEqual(pidsUsingDir(crashDir), [], 'no process of the killed lab is left');
      const ifaces = new Set(labInterfaces(labOf(['ap-jakarta']).lab.links).map((i) => i.iface));
      assert.deepEqual(wireguardGoPids(ifaces), [], 'no wireguard-go of the killed lab is left');
    });
  });
});
