// The lab: the whole fleet on one machine. `up` makes the namespaces, veths, addresses and keys, the lab's
// copy of the fleet in a local bare git origin, the cloud emulators, the cores' registries, and starts one
// real `mirrornet agent` per site (and per region node) from that origin: the agents bring up the
// WireGuard tunnels and routes themselves. `down` removes everything, also after a crash (from the state
// file). `status` shows sites, tunnels and agents. `run` is up + push + replicate + pull on every node, with
// the bytes each core served per region, through the regions' peers and without them (the baseline).
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { wireguardInterfaceName } from '../desired/compile.js';
import { listModelFiles } from '../model/loader.js';
import { validateFiles } from '../policy/validate.js';
import { hostDirName } from '../providers/containerd/index.js';
import { fleetSites, labFleet, labPrivateKeyRef, selectSites, type LabLink } from './fleet.js';
import { buildTestImage, fileSize, formatBytes, missingOnNode, parseRegistryLog, pullOnNode, pushImage, readFrom, servedTo, type PullResult, type TestImage } from './images.js';
import { PEER_SCRIPT } from './peer.js';
import {
  alive,
  argvOf,
  createNamespace,
  deleteNamespace,
  inNs,
  isLabProgram,
  isSame,
  LabError,
  listNamespaces,
  loadState,
  namespaceExists,
  namespacePids,
  pidsUsingDir,
  processStart,
  removeLabDir,
  run,
  saveState,
  sh,
  sleep,
  spawnDetached,
  statePath,
  stopPids,
  wireguardGoPids,
  type AgentRecord,
  type LabProcess,
  type LabState,
  type NodeRecord,
  type SpawnSpec,
} from './processes.js';
import { SERVICES_CONFIG, SERVICES_READY, SERVICES_SCRIPT, type ServicesConfig, type ServicesReady } from './services.js';
import { labTopology, namespaces as topologyNamespaces, siteOf, type LabSite, type LabTopology } from './topology.js';

export { LabError } from './processes.js';

export const DEFAULT_DIR = '/var/lib/mirrornet-lab';
export const DEFAULT_PREFIX = 'mnlab';
const CLI = fileURLToPath(new URL('../../../bin/mirrornet.js', import.meta.url));

export type Say = (line: string) => void;

/** Until the lab runs local chat receivers, its agents send no chat messages (they would go to the internet). */
const LAB_AGENT_FLAGS = ['--no-chat'];

export interface UpOptions {
  repo: string;
  dir: string;
  nodes: number;
  sites: string[];
  prefix: string;
  peer: 'dfproxy' | 'registry';
  /** The agents' reconcile interval (default 10s). */
  interval: string;
  /** How long to wait for everything to come up (default 180 s). */
  timeoutMs?: number;
  say: Say;
}

export interface DownOptions {
  dir: string;
  prefix?: string;
  say: Say;
}

// ---- preflight ----------------------------------------------------------------------------------------------

const NEEDED: [string, string][] = [
  ['ip', 'iproute2'],
  ['wireguard-go', 'wireguard-go'],
  ['wg', 'wireguard-tools'],
  ['iptables', 'iptables'],
  ['git', 'git'],
  ['curl', 'curl'],
  ['docker-registry', 'docker-registry'],
  ['containerd', 'containerd'],
  ['ctr', 'containerd'],
];

/** What is missing to run the lab here: reasons and the packages to install. */
export function missingForLab(): { reasons: string[]; packages: string[] } {
  const reasons: string[] = [];
  const packages = new Set<string>();
  if (process.getuid?.() !== 0) reasons.push('the lab needs root (network namespaces, veths, WireGuard)');
  for (const [cmd, pkg] of NEEDED) {
    if (sh('sh', ['-c', `command -v ${cmd}`], { allowFail: true }).code !== 0) {
      reasons.push(`${cmd} is not installed`);
      packages.add(pkg);
    }
  }
  if (!existsSync('/dev/net/tun')) reasons.push('/dev/net/tun is missing (wireguard-go needs it)');
  return { reasons, packages: [...packages] };
}

function preflight(): void {
  const { reasons, packages } = missingForLab();
  if (!reasons.length) return;
  const install = packages.length ? ` Install with: apt-get install -y ${packages.join(' ')}` : '';
  throw new LabError(`The lab cannot run here: ${reasons.join('; ')}.${install}`);
}

// ---- helpers ------------------------------------------------------------------------------------------------

function wgKeyPair(): { privateKey: string; publicKey: string } {
  const k = generateKeyPairSync('x25519');
  const jwk = k.privateKey.export({ format: 'jwk' }) as { d: string; x: string };
  return { privateKey: Buffer.from(jwk.d, 'base64url').toString('base64'), publicKey: Buffer.from(jwk.x, 'base64url').toString('base64') };
}

/** A secret that passes Harbor's robot secret rules (upper, lower, digit, 8..128). */
function labSecret(): string {
  return `Lab${randomBytes(12).toString('hex')}x9`;
}

export async function freePort(): Promise<number> {
  const srv = net.createServer();
  await new Promise<void>((res) => srv.listen(0, '127.0.0.1', () => res()));
  const port = (srv.address() as net.AddressInfo).port;
  await new Promise<void>((res) => srv.close(() => res()));
  return port;
}

function tail(path: string, lines = 15): string {
  if (!existsSync(path)) return '(no log)';
  return readFileSync(path, 'utf8').trimEnd().split('\n').slice(-lines).join('\n');
}

/** The WireGuard interfaces the agents create for the lab's links, both ends. */
export function labInterfaces(links: readonly LabLink[]): { site: string; peer: string; iface: string; link: LabLink }[] {
  return links.flatMap((l) => [
    { site: l.local, peer: l.remote, iface: wireguardInterfaceName(l.local, l.remote), link: l },
    { site: l.remote, peer: l.local, iface: wireguardInterfaceName(l.remote, l.local), link: l },
  ]);
}

function record(state: LabState, p: LabProcess): void {
  state.processes.push(p);
  saveState(state);
}

function start(state: LabState, spec: SpawnSpec): LabProcess {
  const p = spawnDetached(spec);
  record(state, p);
  return p;
}

async function waitUntil(what: string, timeoutMs: number, check: () => Promise<boolean> | boolean, watch: LabProcess[] = []): Promise<void> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    for (const p of watch) if (!isSame(p)) throw new LabError(`${p.name} exited while waiting for ${what}; its log (${p.log}):\n${tail(p.log)}`);
    try {
      if (await check()) return;
    } catch {
      /* not yet */
    }
    if (Date.now() > until) throw new LabError(`${what} did not happen within ${Math.round(timeoutMs / 1000)} s${watch.length ? `; see ${watch.map((p) => p.log).join(', ')}` : ''}.`);
    await sleep(250);
  }
}

function git(cwd: string, args: string[]): string {
  return sh('git', args, { cwd, env: { ...process.env, GIT_AUTHOR_NAME: 'mirrornet lab', GIT_AUTHOR_EMAIL: 'lab@mirrornet.invalid', GIT_COMMITTER_NAME: 'mirrornet lab', GIT_COMMITTER_EMAIL: 'lab@mirrornet.invalid' } }).stdout.trim();
}

export function originHead(state: Pick<LabState, 'origin'>): string | undefined {
  const r = sh('git', ['--git-dir', state.origin, 'rev-parse', 'refs/heads/main'], { allowFail: true });
  return r.code === 0 ? r.stdout.trim() : undefined;
}

interface AgentStateFile {
  appliedRevision?: string;
  refused?: { revision: string; reason: string };
  drift?: Record<string, string>;
}

export function agentState(a: Pick<AgentRecord, 'stateDir'>): AgentStateFile | undefined {
  try {
    return JSON.parse(readFileSync(join(a.stateDir, 'state.json'), 'utf8')) as AgentStateFile;
  } catch {
    return undefined;
  }
}

function containerdConfig(): string {
  return ['version = 2', '# mirrornet lab node: CRI off (ctr is the client); config_path is what the node agent reads.', 'disabled_plugins = ["io.containerd.grpc.v1.cri"]', '', '[plugins."io.containerd.grpc.v1.cri".registry]', '  config_path = "/etc/containerd/certs.d"', ''].join('\n');
}

function registryConfig(opts: { root: string; addr: string; remote?: string }): string {
  return [
    'version: 0.1',
    'log:',
    '  level: info',
    '  formatter: json',
    'storage:',
    '  filesystem:',
    `    rootdirectory: ${opts.root}`,
    '  delete:',
    '    enabled: true',
    '  maintenance:',
    '    uploadpurging:',
    '      enabled: false',
    'http:',
    `  addr: ${opts.addr}`,
    `  secret: ${randomBytes(16).toString('hex')}`,
    ...(opts.remote ? ['proxy:', `  remoteurl: ${opts.remote}`] : []),
    '',
  ].join('\n');
}

function httpCodeInNs(ns: string, url: string): string {
  return inNs(ns, 'curl', ['-s', '-o', '/dev/null', '-w', '%{http_code}', '--max-time', '3', url], { allowFail: true, timeoutMs: 8000 }).stdout.trim();
}

// ---- up ---------------------------------------------------------------------------------------------------

export async function labUp(opts: UpOptions): Promise<LabState> {
  preflight();
  try {
    return await up(opts);
  } catch (err) {
    if (err instanceof LabError && !/already up|exists|cannot run|invalid/.test(err.userMessage) && loadStateQuiet(resolve(opts.dir))) {
      throw new LabError(`${err.userMessage}\nThe lab is half up: \`mirrornet lab down --dir ${resolve(opts.dir)}\` removes what was made.`, { cause: err });
    }
    throw err;
  }
}

function loadStateQuiet(dir: string): LabState | undefined {
  try {
    return loadState(dir);
  } catch {
    return undefined;
  }
}

async function up(opts: UpOptions): Promise<LabState> {
  const say = opts.say;
  const dir = resolve(opts.dir);
  const timeoutMs = opts.timeoutMs ?? 180_000;
  const existing = loadState(dir);
  if (existing) throw new LabError(`A lab is already up in ${dir} (made ${existing.createdAt}); run \`mirrornet lab down --dir ${dir}\` first.`);
  if (existsSync(dir) && readdirSync(dir).length) throw new LabError(`${dir} exists and is not empty but holds no lab: choose another --dir or remove it.`);
  if (namespaceExists(`${opts.prefix}-inet`)) throw new LabError(`The network namespace ${opts.prefix}-inet exists: another lab uses the prefix ${opts.prefix}; run \`mirrornet lab down\` for it first.`);

  // The fleet and the lab's copy of it.
  const repo = resolve(opts.repo);
  const { files, findings } = listModelFiles(repo);
  const report = validateFiles(files);
  if (findings.some((f) => f.severity === 'error') || !report.valid) {
    throw new LabError(`The fleet in ${repo} is invalid (${report.errors.length + findings.length} errors): run \`mirrornet validate --repo ${repo}\` and fix it first.`);
  }
  const sites = selectSites(fleetSites(files), opts.sites);
  const topology = labTopology(sites, { prefix: opts.prefix, nodes: opts.nodes });
  const keys = Object.fromEntries(topology.sites.map((s) => [s.name, wgKeyPair()] as const));
  const lab = labFleet(files, { topology, publicKeys: Object.fromEntries(Object.entries(keys).map(([k, v]) => [k, v.publicKey])) });
  const labReport = validateFiles(lab.files);
  if (!labReport.valid) throw new LabError(`The lab's copy of the fleet is invalid (a bug in the lab): ${labReport.errors.slice(0, 5).map((e) => `${e.file}:${e.line} ${e.rule} ${e.message}`).join('; ')}`);
  const ifaces = labInterfaces(lab.links);
  for (const i of ifaces) {
    if (existsSync(`/var/run/wireguard/${i.iface}.sock`)) throw new LabError(`The WireGuard interface ${i.iface} (${i.site} to ${i.peer}) exists already: another lab of the same sites is up; run \`mirrornet lab down\` for it first.`);
  }

  const secrets: Record<string, string> = { HUAWEICLOUD_SDK_AK: `LABAK${randomBytes(8).toString('hex').toUpperCase()}`, HUAWEICLOUD_SDK_SK: randomBytes(20).toString('hex') };
  for (const name of lab.secretEnv) secrets[name] = labSecret();
  if (!secrets['HARBOR_ADMIN_PASSWORD']) secrets['HARBOR_ADMIN_PASSWORD'] = labSecret();

  const state: LabState = {
    version: 1,
    dir,
    prefix: opts.prefix,
    createdAt: new Date().toISOString(),
    phase: 'starting',
    repo,
    origin: join(dir, 'origin.git'),
    work: join(dir, 'fleet'),
    peer: opts.peer,
    namespaces: [],
    wireguard: ifaces.map((i) => i.iface),
    processes: [],
    topology,
    links: lab.links,
    agents: [],
    nodes: [],
    secrets,
  };
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  saveState(state);
  say(`lab: ${topology.sites.length} sites (${topology.sites.filter((s) => s.role === 'hub').map((s) => s.name).join(', ')} and ${topology.sites.filter((s) => s.role === 'region').length} regions), ${lab.links.length} WireGuard links, ${opts.nodes} node(s) per region; state in ${statePath(dir)}`);
  for (const n of lab.notes) say(`  note: ${n}`);

  // The origin: a bare repository holding the lab's fleet, one commit.
  for (const f of lab.files) {
    const p = join(state.work, f.path);
    mkdirSync(dirname(p), { recursive: true });
    writeFileSync(p, f.content);
  }
  git(state.work, ['init', '-q', '-b', 'main']);
  git(state.work, ['add', '-A']);
  git(state.work, ['commit', '-q', '-m', `mirrornet lab: ${topology.sites.length} sites from ${repo}, every link WireGuard`]);
  sh('git', ['init', '-q', '--bare', '-b', 'main', state.origin]);
  git(state.work, ['push', '-q', state.origin, 'main']);
  const head = originHead(state)!;
  say(`origin: ${state.origin} at ${head.slice(0, 12)}`);

  // The network: namespaces recorded before they are made.
  state.namespaces = topologyNamespaces(topology);
  saveState(state);
  buildNetwork(topology);
  say(`network: ${state.namespaces.length} namespaces (${topology.internet.ns} is the internet: a bridge, WAN addresses in 198.18.0.0/16)`);

  // Sandboxes: each site's WireGuard key under its --root; each node's containerd config.
  for (const s of topology.sites) {
    const root = siteRoot(dir, s.name);
    const keyDir = join(root, 'etc/mirrornet/wireguard');
    mkdirSync(keyDir, { recursive: true, mode: 0o700 });
    writeFileSync(join(root, labPrivateKeyRef(s.name).slice('file:'.length)), `${keys[s.name]!.privateKey}\n`, { mode: 0o600 });
    for (const n of s.nodes) {
      const nroot = nodeRoot(dir, s.name, n.name);
      mkdirSync(join(nroot, 'etc/containerd'), { recursive: true });
      writeFileSync(join(nroot, 'etc/containerd/config.toml'), containerdConfig());
    }
  }

  // The cloud emulators.
  const cores = topology.sites.filter((s) => s.role === 'hub');
  const harborOf = (core: string) => {
    const h = lab.files.find((f) => f.path.startsWith('harbor/') && new RegExp(`^hub: ${core}$`, 'm').test(String(f.content)));
    return h ? /^name: (.+)$/m.exec(String(h.content))?.[1]?.trim() : undefined;
  };
  const servicesConfig: ServicesConfig = {
    vpc: { ak: secrets['HUAWEICLOUD_SDK_AK']!, sk: secrets['HUAWEICLOUD_SDK_SK']! },
    harbor: { username: 'admin', password: secrets['HARBOR_ADMIN_PASSWORD']! },
    cores: cores.flatMap((c) => {
      const instance = harborOf(c.name);
      return instance ? [{ site: c.name, instance, ns: c.ns, registryUrl: c.registry!.url }] : [];
    }),
  };
  const servicesDir = join(dir, 'services');
  mkdirSync(servicesDir, { recursive: true, mode: 0o700 });
  writeFileSync(join(servicesDir, SERVICES_CONFIG), `${JSON.stringify(servicesConfig, null, 2)}\n`, { mode: 0o600 });
  const services = start(state, { name: 'services', kind: 'services', cmd: process.execPath, args: [SERVICES_SCRIPT, '--dir', servicesDir], log: join(dir, 'logs/services.log') });
  await waitUntil('the cloud emulators', 30_000, () => existsSync(join(servicesDir, SERVICES_READY)), [services]);
  const ready = JSON.parse(readFileSync(join(servicesDir, SERVICES_READY), 'utf8')) as ServicesReady;
  state.services = { vpcUrl: ready.vpcUrl, harbors: ready.harbors };
  saveState(state);
  say(`emulators: Huawei Cloud VPC ${ready.vpcUrl}; Harbor ${Object.entries(ready.harbors).map(([s, h]) => `${s} ${h.url}`).join(', ')}`);

  // The cores' registries (their Harbors' storage), on the core's LAN address.
  const registries: LabProcess[] = [];
  for (const c of cores) {
    const rdir = join(dir, 'sites', c.name, 'registry');
    mkdirSync(join(rdir, 'data'), { recursive: true });
    writeFileSync(join(rdir, 'config.yml'), registryConfig({ root: join(rdir, 'data'), addr: `${c.registry!.host}:${c.registry!.port}` }));
    registries.push(start(state, { name: `registry ${c.name}`, kind: 'registry', cmd: 'docker-registry', args: ['serve', join(rdir, 'config.yml')], ns: c.ns, log: registryLog(dir, c.name) }));
  }
  for (const [i, c] of cores.entries()) await waitUntil(`the registry of ${c.name}`, 20_000, () => httpCodeInNs(c.ns, `${c.registry!.url}/v2/`) === '200', [registries[i]!]);
  say(`registries: ${cores.map((c) => `${c.name} ${c.registry!.url}`).join(', ')}`);

  // One agent per site, from the origin; they make the tunnels and routes.
  const env = agentEnv(secrets);
  const agents: LabProcess[] = [];
  for (const s of topology.sites) {
    const root = siteRoot(dir, s.name);
    const listen = `127.0.0.1:${await freePort()}`;
    const roles = s.role === 'hub' ? 'gateway,hub' : 'gateway';
    const args = [CLI, 'agent', '--region', s.name, '--repo-url', state.origin, '--roles', roles, '--netns', s.ns, '--root', root, '--listen', listen, '--interval', opts.interval, '--huaweicloud-endpoint', ready.vpcUrl, '--docker-reload', 'true', '--dragonfly-restart', 'true', ...LAB_AGENT_FLAGS];
    if (s.role === 'hub') {
      const mine = ready.harbors[s.name];
      if (mine) args.push('--harbor-url', mine.url, '--harbor-apply', 'true');
      for (const [site, h] of Object.entries(ready.harbors)) if (site !== s.name) args.push('--harbor-peer-url', `${h.instance}=${h.url}`);
    }
    const rec: AgentRecord = { site: s.name, role: 'gateway', roles, root, stateDir: join(root, 'var/lib/mirrornet'), listen };
    state.agents.push(rec);
    agents.push(start(state, { name: `agent ${s.name}`, kind: 'agent', cmd: process.execPath, args, env, log: join(dir, 'logs', `agent-${s.name}.log`) }));
  }
  say(`agents: ${agents.length} gateway agents started (interval ${opts.interval}); waiting for them to apply ${head.slice(0, 12)} ...`);
  const t0 = Date.now();
  await waitForApplied(state.agents, head, timeoutMs, agents);
  say(`agents: every gateway applied ${head.slice(0, 12)} in ${((Date.now() - t0) / 1000).toFixed(1)} s`);

  // Through the tunnels: every region reaches its core's registry, the cores reach each other.
  for (const s of topology.sites) {
    const targets = s.role === 'hub' ? cores.filter((c) => c.name !== s.name) : s.registrySite ? [siteOf(topology, s.registrySite)] : [];
    for (const t of targets) {
      await waitUntil(`${s.name} reaching ${t.name}'s registry through the tunnel`, 60_000, () => httpCodeInNs(s.ns, `${t.registry!.url}/v2/`) === '200');
    }
  }
  say('tunnels: every region reaches its core, the cores reach each other');

  // The regions' peers (dfdaemon's place), node agents and containerd nodes.
  const waits: Promise<void>[] = [];
  for (const s of topology.sites.filter((x) => x.role === 'region')) {
    const core = s.registrySite ? siteOf(topology, s.registrySite) : undefined;
    if (!core) {
      say(`  ${s.name}: mirrors no Harbor of the lab (registries: Docker Hub only); no peer`);
      continue;
    }
    const pdir = join(dir, 'sites', s.name, 'peer');
    mkdirSync(pdir, { recursive: true });
    const listen = `127.0.0.1:${s.proxyPort ?? 4001}`;
    let p: LabProcess;
    if (opts.peer === 'registry') {
      writeFileSync(join(pdir, 'config.yml'), registryConfig({ root: join(pdir, 'data'), addr: listen, remote: core.registry!.url }));
      p = start(state, { name: `peer ${s.name}`, kind: 'peer', cmd: 'docker-registry', args: ['serve', join(pdir, 'config.yml')], ns: s.ns, log: join(dir, 'logs', `peer-${s.name}.log`) });
    } else {
      p = start(state, { name: `peer ${s.name}`, kind: 'peer', cmd: process.execPath, args: [PEER_SCRIPT, '--listen', listen, '--cache', join(pdir, 'cache'), '--registry-mirror', core.registry!.url], ns: s.ns, log: join(dir, 'logs', `peer-${s.name}.log`) });
    }
    waits.push(waitUntil(`the peer of ${s.name}`, 20_000, () => httpCodeInNs(s.ns, `http://${listen}/v2/`) === '200', [p]));
  }
  await Promise.all(waits);
  const nodeAgents: LabProcess[] = [];
  const nodeProcs: LabProcess[] = [];
  for (const s of topology.sites) {
    for (const n of s.nodes) {
      const nroot = nodeRoot(dir, s.name, n.name);
      const cdir = join(dir, 'sites', s.name, 'nodes', n.name, 'containerd');
      mkdirSync(cdir, { recursive: true });
      const socket = join(cdir, 'containerd.sock');
      state.nodes.push({ site: s.name, name: n.name, root: nroot, hostsDir: join(nroot, 'etc/containerd/certs.d'), socket });
      nodeProcs.push(start(state, { name: `containerd ${n.name}`, kind: 'containerd', cmd: 'containerd', args: ['-c', join(nroot, 'etc/containerd/config.toml'), '--root', join(cdir, 'root'), '--state', join(cdir, 'state'), '--address', socket], ns: s.ns, log: join(dir, 'logs', `containerd-${n.name}.log`) }));
      const listen = `127.0.0.1:${await freePort()}`;
      const rec: AgentRecord = { site: s.name, role: 'node', node: n.name, roles: 'node', root: nroot, stateDir: join(nroot, 'var/lib/mirrornet'), listen };
      state.agents.push(rec);
      nodeAgents.push(start(state, { name: `agent ${n.name}`, kind: 'node-agent', cmd: process.execPath, args: [CLI, 'agent', '--region', s.name, '--repo-url', state.origin, '--roles', 'node', '--root', nroot, '--listen', listen, '--interval', opts.interval, '--docker-reload', 'true', '--dragonfly-restart', 'true', ...LAB_AGENT_FLAGS], env, log: join(dir, 'logs', `agent-${n.name}.log`) }));
    }
  }
  if (nodeAgents.length) {
    say(`nodes: ${nodeProcs.length} containerd nodes and their node agents started; waiting for hosts.toml ...`);
    await waitForApplied(state.agents.filter((a) => a.role === 'node'), head, timeoutMs, nodeAgents);
    for (const n of state.nodes) {
      const p = nodeProcs.find((x) => x.name === `containerd ${n.name}`)!;
      await waitUntil(`containerd of ${n.name}`, 30_000, async () => (await run('ip', ['netns', 'exec', siteOf(topology, n.site).ns, 'ctr', '-a', n.socket, 'version'], { timeoutMs: 5000 })).code === 0, [p]);
      const site = siteOf(topology, n.site);
      if (site.registrySite) {
        const core = siteOf(topology, site.registrySite);
        const hosts = join(n.hostsDir, hostDirName(`${core.registry!.host}:${core.registry!.port}`), 'hosts.toml');
        await waitUntil(`the node agent of ${n.name} writing ${hosts}`, 30_000, () => existsSync(hosts));
      }
    }
    say(`nodes: every node agent wrote its hosts.toml; every containerd answers`);
  }
  state.phase = 'up';
  saveState(state);
  say(`lab is up: \`mirrornet lab status --dir ${dir}\` shows it, \`mirrornet lab down --dir ${dir}\` removes it.`);
  return state;
}

/**
 * The agents' environment: the lab's generated secrets and a few basics, nothing else from the caller's
 * environment — a chat webhook URL or token set there must never make a lab agent talk to the internet.
 */
export function agentEnv(secrets: Record<string, string>, from: NodeJS.ProcessEnv = process.env): NodeJS.ProcessEnv {
  const keep = ['PATH', 'HOME', 'LANG', 'LC_ALL', 'TZ', 'TMPDIR', 'NODE_OPTIONS'];
  const env: NodeJS.ProcessEnv = {};
  for (const k of keep) if (from[k] !== undefined) env[k] = from[k];
  return { ...env, ...secrets, MIRRORNET_LOG_LEVEL: from['MIRRORNET_LOG_LEVEL'] ?? 'info', MIRRORNET_LOG_FORMAT: 'json' };
}

function siteRoot(dir: string, site: string): string {
  return join(dir, 'sites', site, 'root');
}

function nodeRoot(dir: string, site: string, node: string): string {
  return join(dir, 'sites', site, 'nodes', node, 'root');
}

export function registryLog(dir: string, core: string): string {
  return join(dir, 'logs', `registry-${core}.log`);
}

function buildNetwork(t: LabTopology): void {
  const inet = t.internet.ns;
  createNamespace(inet);
  sh('ip', ['-n', inet, 'link', 'add', t.internet.bridge, 'type', 'bridge']);
  sh('ip', ['-n', inet, 'addr', 'add', t.internet.address, 'dev', t.internet.bridge]);
  sh('ip', ['-n', inet, 'link', 'set', t.internet.bridge, 'up']);
  for (const s of t.sites) {
    createNamespace(s.ns);
    sh('ip', ['link', 'add', s.veth.site, 'netns', s.ns, 'type', 'veth', 'peer', 'name', s.veth.peer, 'netns', inet]);
    sh('ip', ['-n', inet, 'link', 'set', s.veth.peer, 'master', t.internet.bridge, 'up']);
    sh('ip', ['-n', s.ns, 'addr', 'add', s.wanCidr, 'dev', s.veth.site]);
    sh('ip', ['-n', s.ns, 'link', 'set', s.veth.site, 'up']);
    // The LAN address on lo: local, no prefix on-link; the source of everything sent into a tunnel.
    sh('ip', ['-n', s.ns, 'addr', 'add', `${s.lan}/32`, 'dev', 'lo']);
    // Cores forward between their regions (p2p routes go through them).
    inNs(s.ns, 'sysctl', ['-q', '-w', 'net.ipv4.ip_forward=1']);
  }
}

async function waitForApplied(agents: AgentRecord[], head: string, timeoutMs: number, procs: LabProcess[]): Promise<void> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    const pending: string[] = [];
    for (const [i, a] of agents.entries()) {
      const p = procs[i];
      if (p && !isSame(p)) throw new LabError(`${p.name} exited; its log (${p.log}):\n${tail(p.log)}`);
      const s = agentState(a);
      if (s?.refused?.revision === head) throw new LabError(`${a.node ?? a.site} refused the lab's revision: ${s.refused.reason}`);
      if (s?.appliedRevision !== head) pending.push(a.node ?? a.site);
    }
    if (!pending.length) return;
    if (Date.now() > until) {
      const logs = pending.slice(0, 3).map((n) => {
        const p = procs.find((x) => x.name === `agent ${n}`);
        return p ? `--- ${p.log}\n${tail(p.log, 8)}` : '';
      });
      throw new LabError(`These agents did not apply ${head.slice(0, 12)} within ${Math.round(timeoutMs / 1000)} s: ${pending.join(', ')}.\n${logs.join('\n')}`);
    }
    await sleep(500);
  }
}

// ---- down -------------------------------------------------------------------------------------------------

export async function labDown(opts: DownOptions): Promise<{ removed: string[]; problems: string[] }> {
  const dir = resolve(opts.dir);
  const say = opts.say;
  const removed: string[] = [];
  const problems: string[] = [];
  let state: LabState | undefined;
  try {
    state = loadState(dir);
  } catch (err) {
    problems.push((err as LabError).userMessage);
  }
  const prefix = state?.prefix ?? opts.prefix ?? DEFAULT_PREFIX;
  // Namespaces: the recorded ones; without a state file, the prefix's (a crash before the first save).
  const recorded = new Set(state?.namespaces ?? []);
  if (!state) for (const ns of listNamespaces()) if (ns === `${prefix}-inet` || (namespaceExists(`${prefix}-inet`) && ns.startsWith(`${prefix}-`))) recorded.add(ns);
  const nsList = [...recorded].filter(namespaceExists);
  const wgNames = new Set(state?.wireguard ?? []);

  // Agents first (they would re-create what goes next), then everything else the lab started.
  const procs = state?.processes ?? [];
  const order: LabProcess['kind'][] = ['agent', 'node-agent', 'services', 'peer', 'containerd', 'registry'];
  for (const kind of order) {
    const list = procs.filter((p) => p.kind === kind && isSame(p));
    if (!list.length) continue;
    problems.push(...(await stopPids(list)));
    removed.push(...list.map((p) => `${p.name} (pid ${p.pid})`));
  }
  // A process started just before a crash (not saved yet) names the lab directory in its arguments.
  if (existsSync(dir)) {
    const stray = pidsUsingDir(dir).map((pid) => ({ pid, start: processStart(pid) }));
    if (stray.length) {
      problems.push(...(await stopPids(stray.filter((p): p is { pid: number; start: string } => p.start !== undefined))));
      removed.push(...stray.map((p) => `process ${p.pid} using ${dir}`));
    }
  }
  // What still runs in the lab's namespaces and is a lab program (wireguard-go, ctr, a registry) goes too;
  // anything else (someone's shell) is left alone and named.
  const insidePids = nsList.flatMap((ns) => namespacePids(ns).map((pid) => ({ ns, pid })));
  for (const { ns, pid } of insidePids) {
    if (!isLabProgram(argvOf(pid)) && alive(pid)) say(`  note: process ${pid} (${argvOf(pid).join(' ').slice(0, 60)}) runs in ${ns} and was not started by the lab: left alone; the namespace goes away when it exits.`);
  }
  const inside = insidePids.filter(({ pid }) => isLabProgram(argvOf(pid))).map(({ pid }) => ({ pid, start: processStart(pid) }));
  const wg = wireguardGoPids(wgNames).map((pid) => ({ pid, start: processStart(pid) }));
  const rest = [...inside, ...wg].filter((p): p is { pid: number; start: string } => p.start !== undefined);
  if (rest.length) {
    problems.push(...(await stopPids(rest, 2000)));
    removed.push(`${rest.length} process(es) in the lab's namespaces (wireguard-go, ...)`);
  }
  for (const ns of nsList.sort((a, b) => (a.endsWith('-inet') ? 1 : b.endsWith('-inet') ? -1 : 0))) {
    try {
      deleteNamespace(ns);
      removed.push(`namespace ${ns}`);
    } catch (err) {
      problems.push((err as Error).message);
    }
  }
  for (const name of wgNames) {
    const sock = `/var/run/wireguard/${name}.sock`;
    if (existsSync(sock)) {
      rmSync(sock, { force: true });
      removed.push(sock);
    }
  }
  if (existsSync(dir)) {
    const p = removeLabDir(dir);
    problems.push(...p);
    if (!p.length) removed.push(dir);
  }
  // Verify.
  for (const ns of nsList) if (namespaceExists(ns)) problems.push(`namespace ${ns} is still there`);
  for (const p of procs) if (isSame(p)) problems.push(`${p.name} (pid ${p.pid}) is still running`);
  const leftWg = wireguardGoPids(wgNames);
  if (leftWg.length) problems.push(`wireguard-go still running: ${leftWg.join(', ')}`);
  if (!state && !nsList.length && !existsSync(dir)) say(`No lab in ${dir}: nothing to remove.`);
  else say(`lab down: removed ${removed.length} thing(s)${problems.length ? `; ${problems.length} problem(s)` : ''}.`);
  return { removed, problems };
}

// ---- status -----------------------------------------------------------------------------------------------

export interface TunnelStatus {
  site: string;
  peer: string;
  iface: string;
  exists: boolean;
  handshakeAgeS?: number;
  rx?: number;
  tx?: number;
}

export interface AgentStatus {
  name: string;
  site: string;
  roles: string;
  running: boolean;
  applied?: string;
  current: boolean;
  drift: string[];
  refused?: string;
}

export interface LabStatus {
  dir: string;
  phase: string;
  head?: string;
  sites: { name: string; role: string; ns: string; up: boolean; wan: string; lan: string; cidr: string }[];
  tunnels: TunnelStatus[];
  agents: AgentStatus[];
  processes: { name: string; running: boolean }[];
}

export async function labStatus(dirOpt: string): Promise<LabStatus | undefined> {
  const dir = resolve(dirOpt);
  const state = loadState(dir);
  if (!state) return undefined;
  const head = originHead(state);
  const t = state.topology;
  const sites = (t?.sites ?? []).map((s) => ({ name: s.name, role: s.role, ns: s.ns, up: namespaceExists(s.ns), wan: s.wan, lan: s.lan, cidr: s.cidr }));
  const tunnels: TunnelStatus[] = [];
  const now = Math.floor(Date.now() / 1000);
  for (const i of labInterfaces(state.links ?? [])) {
    const ns = t ? siteOf(t, i.site).ns : '';
    const r = ns && namespaceExists(ns) ? inNs(ns, 'wg', ['show', i.iface, 'dump'], { allowFail: true }) : undefined;
    if (!r || r.code !== 0) {
      tunnels.push({ site: i.site, peer: i.peer, iface: i.iface, exists: false });
      continue;
    }
    const peer = r.stdout.trim().split('\n')[1]?.split('\t') ?? [];
    const hs = Number(peer[4] ?? 0);
    tunnels.push({ site: i.site, peer: i.peer, iface: i.iface, exists: true, ...(hs > 0 ? { handshakeAgeS: now - hs } : {}), rx: Number(peer[5] ?? 0), tx: Number(peer[6] ?? 0) });
  }
  const agents: AgentStatus[] = [];
  for (const a of state.agents) {
    const proc = state.processes.find((p) => p.name === `agent ${a.node ?? a.site}`);
    const s = agentState(a);
    let drift = Object.keys(s?.drift ?? {});
    if (proc && isSame(proc)) {
      // The live drift gauge, when the agent answers.
      try {
        const res = await fetch(`http://${a.listen}/metrics`, { signal: AbortSignal.timeout(2000) });
        const text = await res.text();
        const live = [...text.matchAll(/^mirrornet_drift\{component="([^"]+)"\} (\d+)/gm)].filter((m) => Number(m[2]) > 0).map((m) => m[1]!);
        drift = [...new Set([...drift, ...live])];
      } catch {
        /* the state file's view */
      }
    }
    agents.push({
      name: a.node ?? a.site,
      site: a.site,
      roles: a.roles,
      running: proc ? isSame(proc) : false,
      ...(s?.appliedRevision ? { applied: s.appliedRevision } : {}),
      current: Boolean(head && s?.appliedRevision === head),
      drift,
      ...(s?.refused ? { refused: `${s.refused.revision.slice(0, 12)}: ${s.refused.reason}` } : {}),
    });
  }
  const processes = state.processes.filter((p) => p.kind !== 'agent' && p.kind !== 'node-agent').map((p) => ({ name: p.name, running: isSame(p) }));
  return { dir, phase: state.phase, ...(head ? { head } : {}), sites, tunnels, agents, processes };
}

function table(rows: string[][]): string {
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => (r[i] ?? '').length)));
  return rows.map((r) => `  ${r.map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i]!))).join('  ')}`.trimEnd()).join('\n');
}

function age(s: number | undefined): string {
  if (s === undefined) return 'never';
  if (s < 120) return `${s}s ago`;
  return `${Math.round(s / 60)}m ago`;
}

export function formatStatus(s: LabStatus): string {
  const out: string[] = [];
  out.push(`lab in ${s.dir} (${s.phase}), origin at ${s.head?.slice(0, 12) ?? 'unknown'}`);
  out.push('', 'sites');
  out.push(table([['site', 'role', 'namespace', 'up', 'WAN', 'LAN', 'CIDR'], ...s.sites.map((x) => [x.name, x.role, x.ns, x.up ? 'yes' : 'NO', x.wan, x.lan, x.cidr])]));
  out.push('', 'tunnels');
  out.push(table([['site', 'peer', 'interface', 'handshake', 'rx', 'tx'], ...s.tunnels.map((x) => [x.site, x.peer, x.iface, x.exists ? age(x.handshakeAgeS) : 'missing', x.rx !== undefined ? formatBytes(x.rx) : '-', x.tx !== undefined ? formatBytes(x.tx) : '-'])]));
  out.push('', 'agents');
  out.push(
    table([
      ['agent', 'roles', 'running', 'applied', 'drift'],
      ...s.agents.map((a) => [a.name, a.roles, a.running ? 'yes' : 'NO', a.applied ? `${a.applied.slice(0, 12)}${a.current ? '' : ' (behind)'}` : 'nothing yet', a.drift.length ? a.drift.join(',') : a.refused ? `refused ${a.refused}` : 'none']),
    ]),
  );
  out.push('', 'services');
  out.push(table([['process', 'running'], ...s.processes.map((p) => [p.name, p.running ? 'yes' : 'NO'])]));
  return `${out.join('\n')}\n`;
}

// ---- run ----------------------------------------------------------------------------------------------------

export interface RunOptions extends UpOptions {
  /** Size of each test image in bytes (default 16 MiB). */
  imageBytes: number;
  /** Remove the lab when done. */
  down: boolean;
}

export interface PhaseResult {
  served: number;
  requests: number;
  pulled: number;
  ms: number;
  pulls: PullResult[];
  complete: boolean;
}

export interface RegionRun {
  region: string;
  core: string;
  nodes: number;
  imageBytes: number;
  mirror: PhaseResult;
  baseline: PhaseResult;
}

export interface RunReport {
  regions: RegionRun[];
  skipped: string[];
  replication: { ms: number; status: string };
  peer: 'dfproxy' | 'registry';
}

async function harborApi(url: string, password: string, path: string, init: RequestInit = {}): Promise<Response> {
  return fetch(`${url}/api/v2.0${path}`, { ...init, headers: { authorization: `Basic ${Buffer.from(`admin:${password}`).toString('base64')}`, 'content-type': 'application/json', ...(init.headers ?? {}) } });
}

/** Start the source core's replication to the other core and wait for it (as an event-based trigger would). */
async function replicate(state: LabState, from: LabSite, to: LabSite, say: Say): Promise<{ ms: number; status: string }> {
  const h = state.services!.harbors[from.name]!;
  const password = state.secrets['HARBOR_ADMIN_PASSWORD']!;
  const started = Date.now();
  let policy: { id: number; name: string } | undefined;
  await waitUntil(`the replication policy on ${from.name}'s Harbor (made by its hub agent)`, 60_000, async () => {
    const res = await harborApi(h.url, password, '/replication/policies?page_size=100');
    const list = (await res.json()) as { id: number; name: string; dest_registry?: { url?: string } | null; trigger?: { type?: string } }[];
    const dest = state.services!.harbors[to.name]!.url;
    policy = list.find((p) => p.dest_registry?.url === dest && p.trigger?.type === 'event_based') ?? list.find((p) => p.dest_registry?.url === dest);
    return policy !== undefined;
  });
  say(`replication: ${from.name} -> ${to.name} with policy ${policy!.name} (id ${policy!.id})`);
  const res = await harborApi(h.url, password, '/replication/executions', { method: 'POST', body: JSON.stringify({ policy_id: policy!.id }) });
  if (res.status !== 201) throw new LabError(`starting the replication failed: HTTP ${res.status} ${await res.text()}`);
  const location = res.headers.get('location') ?? '';
  const id = Number(location.split('/').pop());
  let status = 'InProgress';
  let text = '';
  await waitUntil('the replication execution', 300_000, async () => {
    const e = (await (await harborApi(h.url, password, `/replication/executions/${id}`)).json()) as { status: string; status_text?: string };
    status = e.status;
    text = e.status_text ?? '';
    return status !== 'InProgress';
  });
  if (status !== 'Succeed') throw new LabError(`the replication ${from.name} -> ${to.name} ended ${status}: ${text}`);
  say(`replication: ${status} in ${((Date.now() - started) / 1000).toFixed(1)} s (${text})`);
  return { ms: Date.now() - started, status };
}

async function pullPhase(state: LabState, region: LabSite, core: LabSite, image: TestImage, hostsDir: (n: NodeRecord) => string): Promise<PhaseResult> {
  const nodes = state.nodes.filter((n) => n.site === region.name);
  const log = registryLog(state.dir, core.name);
  const offset = fileSize(log);
  const ref = `${core.registry!.host}:${core.registry!.port}/${image.repo}:${image.tag}`;
  const t0 = Date.now();
  const pulls = await Promise.all(nodes.map((n) => pullOnNode(region.ns, { name: n.name, socket: n.socket }, ref, hostsDir(n))));
  const ms = Date.now() - t0;
  await sleep(300); // the registry logs a response after it completed
  const served = servedTo(parseRegistryLog(readFrom(log, offset)), region.cidr, image.repo);
  let complete = pulls.every((p) => p.ok);
  for (const n of nodes) if ((await missingOnNode(region.ns, n.socket, image)).length) complete = false;
  return { served: served.bytes, requests: served.requests, pulled: complete ? image.size * nodes.length : 0, ms, pulls, complete };
}

export async function labRun(opts: RunOptions): Promise<RunReport> {
  const say = opts.say;
  const dir = resolve(opts.dir);
  if (loadState(dir)) {
    say(`A lab is up in ${dir}: taking it down first.`);
    const r = await labDown({ dir, prefix: opts.prefix, say });
    if (r.problems.length) throw new LabError(`lab down left problems: ${r.problems.join('; ')}`);
  }
  const state = await labUp(opts);
  try {
    return await runOn(state, opts);
  } catch (err) {
    if (err instanceof LabError) throw new LabError(`${err.userMessage}\nThe lab is still up: \`mirrornet lab status --dir ${dir}\` shows it, \`mirrornet lab down --dir ${dir}\` removes it.`, { cause: err });
    throw err;
  }
}

async function runOn(state: LabState, opts: RunOptions): Promise<RunReport> {
  const say = opts.say;
  const dir = state.dir;
  const t = state.topology!;
  const cores = t.sites.filter((s) => s.role === 'hub');
  // CI pushes in China: to the core of the `cn` area (the Harbor that replicates), else the first core.
  const source = cores.find((c) => c.area === 'cn') ?? cores[0]!;
  const stamp = Date.now().toString(36);
  const imagesDir = join(dir, 'images');
  const mirrorImage = buildTestImage(join(imagesDir, 'mirror'), { tag: `mirror-${stamp}`, bytes: opts.imageBytes });
  const directImage = buildTestImage(join(imagesDir, 'direct'), { tag: `direct-${stamp}`, bytes: opts.imageBytes });
  for (const img of [mirrorImage, directImage]) await pushImage(source.ns, source.registry!.url, img);
  say(`images: pushed ${mirrorImage.repo}:${mirrorImage.tag} and :${directImage.tag} (${formatBytes(mirrorImage.size)} each, random layers) to ${source.name} ${source.registry!.url}`);
  let replication = { ms: 0, status: 'none' };
  for (const other of cores.filter((c) => c !== source)) replication = await replicate(state, source, other, say);
  const empty = join(dir, 'no-mirror');
  mkdirSync(empty, { recursive: true });
  const regions: RegionRun[] = [];
  const skipped: string[] = [];
  for (const r of t.sites.filter((s) => s.role === 'region')) {
    if (!r.registrySite) {
      skipped.push(`${r.name}: mirrors Docker Hub only (Docker's registry-mirrors cannot mirror a Harbor), so it has no lab pulls`);
      continue;
    }
    if (!r.nodes.length) {
      skipped.push(`${r.name}: ${r.runtime === 'docker' ? 'Docker nodes (registry-mirrors covers Docker Hub only)' : 'no nodes'}`);
      continue;
    }
    const core = siteOf(t, r.registrySite);
    say(`pulls: ${r.name} (${r.nodes.length} nodes, from ${core.name}) through its peer, then directly ...`);
    const mirror = await pullPhase(state, r, core, mirrorImage, (n) => n.hostsDir);
    const baseline = await pullPhase(state, r, core, directImage, () => empty);
    regions.push({ region: r.name, core: core.name, nodes: r.nodes.length, imageBytes: mirrorImage.size, mirror, baseline });
  }
  const report: RunReport = { regions, skipped, replication, peer: state.peer };
  if (opts.down) await labDown({ dir, say });
  return report;
}

export const TARGET_RATIO = 1.1;

export function formatRun(r: RunReport): string {
  const out: string[] = [];
  const peer = r.peer === 'dfproxy' ? "the region's peer (dfdaemon's proxy rule: blobs once per region)" : "the region's peer (distribution's pull-through cache)";
  for (const x of r.regions) {
    const ratio = (p: PhaseResult) => `${(p.served / x.imageBytes).toFixed(2)}x`;
    const pulled = (p: PhaseResult) => (p.complete ? formatBytes(p.pulled) : 'INCOMPLETE');
    out.push(`${x.region}: ${x.nodes} nodes pull ${formatBytes(x.imageBytes)} from ${x.core}`);
    out.push(
      table([
        ['', 'nodes', 'core served', 'pulled by nodes', 'ratio', 'pull time'],
        ['through peer', String(x.nodes), formatBytes(x.mirror.served), pulled(x.mirror), ratio(x.mirror), `${(x.mirror.ms / 1000).toFixed(2)} s`],
        ['baseline', String(x.nodes), formatBytes(x.baseline.served), pulled(x.baseline), ratio(x.baseline), `${(x.baseline.ms / 1000).toFixed(2)} s`],
      ]),
    );
    const ok = x.mirror.complete && x.mirror.served <= TARGET_RATIO * x.imageBytes;
    out.push(`  target: the core serves <= ${TARGET_RATIO}x the image per region: ${ok ? 'PASS' : 'MISS'} (${ratio(x.mirror)} through the peer, ${ratio(x.baseline)} without)`);
    for (const p of [...x.mirror.pulls, ...x.baseline.pulls].filter((p) => !p.ok)) out.push(`  pull failed on ${p.node}: ${p.error}`);
    out.push('');
  }
  for (const s of r.skipped) out.push(`not pulled: ${s}`);
  out.push(`Pulls go through ${peer}; the baseline pulls the same size of image with the mirror settings removed (no hosts.toml), straight from the core.`);
  return `${out.join('\n')}\n`;
}

export function runPassed(r: RunReport): boolean {
  return r.regions.length > 0 && r.regions.every((x) => x.mirror.complete && x.baseline.complete && x.mirror.served <= TARGET_RATIO * x.imageBytes);
}

