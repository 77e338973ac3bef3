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
import { wireguardInterfaceName } from '../../desired/compile.js';
import { listModelFiles } from '../../model/loader.js';
import { validateFiles } from '../../policy/validate.js';
import { hostDirName } from '../../providers/containerd/index.js';
import type { VirtualFile } from '../../model/loader.js';
import { fleetSites, LAB_CHAT_SECRET_ENV, labChatUrlEnv, labFleet, labPrivateKeyRef, labReadySite, selectSites, type LabLink } from './fleet.js';
import {
  buildTestImage,
  fileSize,
  formatBytes,
  missingOnNode,
  parseRegistryLog,
  pullOnNode,
  pushImage,
  readFrom,
  servedTo,
  type PullResult,
  type TestImage,
} from './images.js';
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
import { postReceiveHook, WEBHOOK_SECRET_ENV } from './push-hook.js';
import { readChatLog, type ChatDelivery } from './receivers.js';
import { labSite, labTopology, namespaces as topologyNamespaces, nextSlot, siteOf, wanAddress, type LabSite, type LabTopology } from './topology.js';

export { LabError } from './processes.js';

export const DEFAULT_DIR = '/var/lib/mirrornet-lab';
export const DEFAULT_PREFIX = 'mnlab';
const CLI = fileURLToPath(new URL('../../../../bin/mirrornet.js', import.meta.url));

export type Say = (line: string) => void;

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
  /**
   * Report to the lab's local receivers (default: neither): `github` — the gateway agents post commit
   * statuses to a GitHub emulator; `chat` — every agent sends chat to the lab's receiver (the lab's
   * notifications policy: the repository's channels as signed webhooks). Without `chat` the agents send none.
   */
  report?: { github?: boolean; chat?: boolean };
  /**
   * A push to the origin's main is a signed GitHub push webhook to every agent at once (the origin's
   * post-receive hook), as GitHub would send; default off: the agents poll at their interval. Every agent
   * has the lab's webhook secret either way (`state.secrets`), so a caller can send its own.
   */
  pushWebhook?: boolean;
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
    if (Date.now() > until)
      throw new LabError(
        `${what} did not happen within ${Math.round(timeoutMs / 1000)} s${watch.length ? `; see ${watch.map((p) => p.log).join(', ')}` : ''}.`,
      );
    await sleep(250);
  }
}

function git(cwd: string, args: string[]): string {
  return sh('git', args, {
    cwd,
    env: {
      ...process.env,
      GIT_AUTHOR_NAME: 'mirrornet lab',
      GIT_AUTHOR_EMAIL: 'lab@mirrornet.invalid',
      GIT_COMMITTER_NAME: 'mirrornet lab',
      GIT_COMMITTER_EMAIL: 'lab@mirrornet.invalid',
    },
  }).stdout.trim();
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
  return [
    'version = 2',
    '# mirrornet lab node: CRI off (ctr is the client); config_path is what the node agent reads.',
    'disabled_plugins = ["io.containerd.grpc.v1.cri"]',
    '',
    '[plugins."io.containerd.grpc.v1.cri".registry]',
    '  config_path = "/etc/containerd/certs.d"',
    '',
  ].join('\n');
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

/** The repository slug the lab's gateway agents post commit statuses for. */
export const LAB_GITHUB_REPO = 'lab/fleet';
const GITHUB_TOKEN_ENV = 'MIRRORNET_LAB_GITHUB_TOKEN';

async function up(opts: UpOptions): Promise<LabState> {
  const say = opts.say;
  const dir = resolve(opts.dir);
  const timeoutMs = opts.timeoutMs ?? 180_000;
  const existing = loadState(dir);
  if (existing) throw new LabError(`A lab is already up in ${dir} (made ${existing.createdAt}); run \`mirrornet lab down --dir ${dir}\` first.`);
  if (existsSync(dir) && readdirSync(dir).length) throw new LabError(`${dir} exists and is not empty but holds no lab: choose another --dir or remove it.`);
  if (namespaceExists(`${opts.prefix}-inet`))
    throw new LabError(
      `The network namespace ${opts.prefix}-inet exists: another lab uses the prefix ${opts.prefix}; run \`mirrornet lab down\` for it first.`,
    );

  // The fleet and the lab's copy of it.
  const repo = resolve(opts.repo);
  const { files, findings } = listModelFiles(repo);
  const report = validateFiles(files);
  if (findings.some((f) => f.severity === 'error') || !report.valid) {
    throw new LabError(
      `The fleet in ${repo} is invalid (${report.errors.length + findings.length} errors): run \`mirrornet validate --repo ${repo}\` and fix it first.`,
    );
  }
  const sites = selectSites(fleetSites(files), opts.sites);
  const topology = labTopology(sites, { prefix: opts.prefix, nodes: opts.nodes });
  const keys = Object.fromEntries(topology.sites.map((s) => [s.name, wgKeyPair()] as const));
  const lab = labFleet(files, { topology, publicKeys: Object.fromEntries(Object.entries(keys).map(([k, v]) => [k, v.publicKey])) });
  const labReport = validateFiles(lab.files);
  if (!labReport.valid)
    throw new LabError(
      `The lab's copy of the fleet is invalid (a bug in the lab): ${labReport.errors
        .slice(0, 5)
        .map((e) => `${e.file}:${e.line} ${e.rule} ${e.message}`)
        .join('; ')}`,
    );
  const ifaces = labInterfaces(lab.links);
  for (const i of ifaces) {
    if (existsSync(`/var/run/wireguard/${i.iface}.sock`))
      throw new LabError(
        `The WireGuard interface ${i.iface} (${i.site} to ${i.peer}) exists already: another lab of the same sites is up; run \`mirrornet lab down\` for it first.`,
      );
  }
  // containerd refuses a socket path longer than 104 bytes (sun_path): say so before anything is made.
  for (const site of topology.sites) {
    for (const n of site.nodes) {
      const socket = join(opts.dir, 'sites', site.name, 'nodes', n.name, 'containerd', 'containerd.sock');
      if (Buffer.byteLength(socket) > 104) {
        throw new LabError(
          `The lab directory ${opts.dir} is too long: containerd's socket ${socket} would exceed 104 bytes. Use a shorter --dir (the default is /var/lib/mirrornet-lab).`,
        );
      }
    }
  }

  const secrets: Record<string, string> = {
    HUAWEICLOUD_SDK_AK: `LABAK${randomBytes(8).toString('hex').toUpperCase()}`,
    HUAWEICLOUD_SDK_SK: randomBytes(20).toString('hex'),
  };
  for (const name of lab.secretEnv) secrets[name] = labSecret();
  if (!secrets['HARBOR_ADMIN_PASSWORD']) secrets['HARBOR_ADMIN_PASSWORD'] = labSecret();
  secrets[WEBHOOK_SECRET_ENV] = randomBytes(20).toString('hex');
  if (opts.report?.github) secrets[GITHUB_TOKEN_ENV] = `ghs_${randomBytes(18).toString('hex')}`;
  if (opts.report?.chat) secrets[LAB_CHAT_SECRET_ENV] = randomBytes(20).toString('hex');

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
    options: { interval: opts.interval, nodes: opts.nodes, pushWebhook: Boolean(opts.pushWebhook) },
    report: {
      ...(opts.report?.github ? { github: { repo: LAB_GITHUB_REPO } } : {}),
      ...(opts.report?.chat ? { chat: { channels: lab.chatChannels, log: join(dir, 'services', 'chat.jsonl') } } : {}),
    },
  };
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  saveState(state);
  say(
    `lab: ${topology.sites.length} sites (${topology.sites
      .filter((s) => s.role === 'hub')
      .map((s) => s.name)
      .join(
        ', ',
      )} and ${topology.sites.filter((s) => s.role === 'region').length} regions), ${lab.links.length} WireGuard links, ${opts.nodes} node(s) per region; state in ${statePath(dir)}`,
  );
  for (const n of lab.notes) say(`  note: ${n}`);

  // The origin: a bare repository holding the lab's fleet, one commit; with `pushWebhook`, every later push
  // to main is a signed push webhook to every agent (its post-receive hook), as GitHub would send.
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
  writeFileSync(join(state.origin, 'hooks', 'post-receive'), postReceiveHook(dir), { mode: 0o755 });
  const head = originHead(state)!;
  say(`origin: ${state.origin} at ${head.slice(0, 12)}${opts.pushWebhook ? ' (a push to main is a push webhook to every agent)' : ''}`);

  // The network: namespaces recorded before they are made.
  state.namespaces = topologyNamespaces(topology);
  saveState(state);
  buildInternet(topology);
  for (const s of topology.sites) buildSiteNetwork(topology, s);
  say(`network: ${state.namespaces.length} namespaces (${topology.internet.ns} is the internet: a bridge, WAN addresses in 198.18.0.0/16)`);

  // Sandboxes: each site's WireGuard key under its --root; each node's containerd config.
  for (const s of topology.sites) writeSandbox(dir, s, keys[s.name]!.privateKey);

  // The cloud emulators (and the reporting receivers).
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
    ...(state.report?.github ? { github: { token: secrets[GITHUB_TOKEN_ENV]!, repo: state.report.github.repo } } : {}),
    ...(state.report?.chat ? { chat: { secret: secrets[LAB_CHAT_SECRET_ENV]!, log: state.report.chat.log } } : {}),
  };
  const servicesDir = join(dir, 'services');
  mkdirSync(servicesDir, { recursive: true, mode: 0o700 });
  writeFileSync(join(servicesDir, SERVICES_CONFIG), `${JSON.stringify(servicesConfig, null, 2)}\n`, { mode: 0o600 });
  const services = start(state, {
    name: 'services',
    kind: 'services',
    cmd: process.execPath,
    args: [SERVICES_SCRIPT, '--dir', servicesDir],
    log: join(dir, 'logs/services.log'),
  });
  await waitUntil('the cloud emulators', 30_000, () => existsSync(join(servicesDir, SERVICES_READY)), [services]);
  const ready = JSON.parse(readFileSync(join(servicesDir, SERVICES_READY), 'utf8')) as ServicesReady;
  state.services = {
    vpcUrl: ready.vpcUrl,
    harbors: ready.harbors,
    ...(ready.githubUrl ? { githubUrl: ready.githubUrl } : {}),
    ...(ready.chatUrl ? { chatUrl: ready.chatUrl } : {}),
  };
  saveState(state);
  say(
    `emulators: Huawei Cloud VPC ${ready.vpcUrl}; Harbor ${Object.entries(ready.harbors)
      .map(([s, h]) => `${s} ${h.url}`)
      .join(', ')}`,
  );
  if (ready.githubUrl || ready.chatUrl)
    say(
      `reporting: ${[ready.githubUrl ? `commit statuses to the GitHub emulator ${ready.githubUrl} (${LAB_GITHUB_REPO})` : '', ready.chatUrl ? `chat (${lab.chatChannels.length} webhook channels) to ${ready.chatUrl}` : ''].filter(Boolean).join('; ')}`,
    );

  // The cores' registries (their Harbors' storage), on the core's LAN address.
  const registries: LabProcess[] = [];
  for (const c of cores) {
    const rdir = join(dir, 'sites', c.name, 'registry');
    mkdirSync(join(rdir, 'data'), { recursive: true });
    writeFileSync(join(rdir, 'config.yml'), registryConfig({ root: join(rdir, 'data'), addr: `${c.registry!.host}:${c.registry!.port}` }));
    registries.push(
      start(state, {
        name: `registry ${c.name}`,
        kind: 'registry',
        cmd: 'docker-registry',
        args: ['serve', join(rdir, 'config.yml')],
        ns: c.ns,
        log: registryLog(dir, c.name),
      }),
    );
  }
  for (const [i, c] of cores.entries())
    await waitUntil(`the registry of ${c.name}`, 20_000, () => httpCodeInNs(c.ns, `${c.registry!.url}/v2/`) === '200', [registries[i]!]);
  say(`registries: ${cores.map((c) => `${c.name} ${c.registry!.url}`).join(', ')}`);

  // One agent per site, from the origin; they make the tunnels and routes.
  const agents: LabProcess[] = [];
  for (const s of topology.sites) agents.push(await startGatewayAgent(state, s));
  say(`agents: ${agents.length} gateway agents started (interval ${opts.interval}); waiting for them to apply ${head.slice(0, 12)} ...`);
  const t0 = Date.now();
  await waitForApplied(state.agents, head, timeoutMs, agents);
  say(`agents: every gateway applied ${head.slice(0, 12)} in ${((Date.now() - t0) / 1000).toFixed(1)} s`);

  // Through the tunnels: every region reaches its core's registry, the cores reach each other.
  for (const s of topology.sites) await waitReachable(topology, s);
  say('tunnels: every region reaches its core, the cores reach each other');

  // The regions' peers (dfdaemon's place), node agents and containerd nodes.
  const waits: Promise<void>[] = [];
  for (const s of topology.sites.filter((x) => x.role === 'region')) {
    const w = startRegionPeer(state, s, opts.peer);
    if (w) waits.push(w);
    else say(`  ${s.name}: mirrors no Harbor of the lab (registries: Docker Hub only); no peer`);
  }
  await Promise.all(waits);
  const started = [];
  for (const s of topology.sites) if (s.nodes.length) started.push(await startNodes(state, s));
  if (started.length) {
    say(`nodes: ${started.reduce((n, x) => n + x.containerd.length, 0)} containerd nodes and their node agents started; waiting for hosts.toml ...`);
    await waitNodes(state, started, head, timeoutMs);
    say(`nodes: every node agent wrote its hosts.toml; every containerd answers`);
  }
  state.phase = 'up';
  saveState(state);
  say(`lab is up: \`mirrornet lab status --dir ${dir}\` shows it, \`mirrornet lab down --dir ${dir}\` removes it.`);
  return state;
}

/** Every agent's command-line flags for reporting: chat to the lab's receiver or none; statuses for gateways. */
function reportFlags(state: LabState, role: 'gateway' | 'node'): string[] {
  const flags: string[] = ['--webhook-secret', `env:${WEBHOOK_SECRET_ENV}`];
  // Without the lab's chat receiver the agents send no chat messages: nothing may go to a real chat.
  if (!state.report?.chat || !state.services?.chatUrl) flags.push('--no-chat');
  // One commit status per site (`mirrornet/<site>`): the gateway agent's; a node agent would post the same context.
  if (role === 'gateway' && state.report?.github && state.services?.githubUrl) {
    flags.push('--github-repo', state.report.github.repo, '--github-api-url', state.services.githubUrl, '--github-token', `env:${GITHUB_TOKEN_ENV}`);
  }
  return flags;
}

/** The agents' environment: the lab's secrets, and the chat channels' URLs when the lab has a receiver. */
function labAgentEnv(state: LabState): NodeJS.ProcessEnv {
  const extra: Record<string, string> = {};
  if (state.report?.chat && state.services?.chatUrl)
    for (const c of state.report.chat.channels) extra[labChatUrlEnv(c)] = `${state.services.chatUrl}/chat/${encodeURIComponent(c)}`;
  return agentEnv({ ...state.secrets, ...extra });
}

async function startGatewayAgent(state: LabState, s: LabSite): Promise<LabProcess> {
  const services = state.services!;
  const root = siteRoot(state.dir, s.name);
  const listen = `127.0.0.1:${await freePort()}`;
  const roles = s.role === 'hub' ? 'gateway,hub' : 'gateway';
  const interval = state.options?.interval ?? '10s';
  const args = [
    CLI,
    'agent',
    '--region',
    s.name,
    '--repo-url',
    state.origin,
    '--roles',
    roles,
    '--netns',
    s.ns,
    '--root',
    root,
    '--listen',
    listen,
    '--interval',
    interval,
    '--huaweicloud-endpoint',
    services.vpcUrl,
    '--docker-reload',
    'true',
    '--dragonfly-restart',
    'true',
    ...reportFlags(state, 'gateway'),
  ];
  if (s.role === 'hub') {
    const mine = services.harbors[s.name];
    if (mine) args.push('--harbor-url', mine.url, '--harbor-apply', 'true');
    for (const [site, h] of Object.entries(services.harbors)) if (site !== s.name) args.push('--harbor-peer-url', `${h.instance}=${h.url}`);
  }
  const rec: AgentRecord = { site: s.name, role: 'gateway', roles, root, stateDir: join(root, 'var/lib/mirrornet'), listen };
  state.agents.push(rec);
  return start(state, {
    name: `agent ${s.name}`,
    kind: 'agent',
    cmd: process.execPath,
    args,
    env: labAgentEnv(state),
    log: join(state.dir, 'logs', `agent-${s.name}.log`),
  });
}

/** A region reaches its core's registry through the tunnel; a core reaches the other cores'. */
async function waitReachable(t: LabTopology, s: LabSite, timeoutMs = 60_000): Promise<void> {
  const cores = t.sites.filter((c) => c.role === 'hub');
  const targets = s.role === 'hub' ? cores.filter((c) => c.name !== s.name) : s.registrySite ? [siteOf(t, s.registrySite)] : [];
  for (const c of targets) {
    await waitUntil(`${s.name} reaching ${c.name}'s registry through the tunnel`, timeoutMs, () => httpCodeInNs(s.ns, `${c.registry!.url}/v2/`) === '200');
  }
}

/** Start a region's peer on dfdaemon's proxy address; undefined when the region mirrors no lab Harbor. */
function startRegionPeer(state: LabState, s: LabSite, kind: 'dfproxy' | 'registry'): Promise<void> | undefined {
  const core = s.registrySite ? siteOf(state.topology!, s.registrySite) : undefined;
  if (!core) return undefined;
  const pdir = join(state.dir, 'sites', s.name, 'peer');
  mkdirSync(pdir, { recursive: true });
  const listen = `127.0.0.1:${s.proxyPort ?? 4001}`;
  let p: LabProcess;
  if (kind === 'registry') {
    writeFileSync(join(pdir, 'config.yml'), registryConfig({ root: join(pdir, 'data'), addr: listen, remote: core.registry!.url }));
    p = start(state, {
      name: `peer ${s.name}`,
      kind: 'peer',
      cmd: 'docker-registry',
      args: ['serve', join(pdir, 'config.yml')],
      ns: s.ns,
      log: join(state.dir, 'logs', `peer-${s.name}.log`),
    });
  } else {
    p = start(state, {
      name: `peer ${s.name}`,
      kind: 'peer',
      cmd: process.execPath,
      args: [PEER_SCRIPT, '--listen', listen, '--cache', join(pdir, 'cache'), '--registry-mirror', core.registry!.url],
      ns: s.ns,
      log: join(state.dir, 'logs', `peer-${s.name}.log`),
    });
  }
  return waitUntil(`the peer of ${s.name}`, 20_000, () => httpCodeInNs(s.ns, `http://${listen}/v2/`) === '200', [p]);
}

interface StartedNodes {
  site: LabSite;
  agents: LabProcess[];
  containerd: LabProcess[];
}

/** A region's containerd nodes and their node agents. */
async function startNodes(state: LabState, s: LabSite): Promise<StartedNodes> {
  const out: StartedNodes = { site: s, agents: [], containerd: [] };
  const dir = state.dir;
  for (const n of s.nodes) {
    const nroot = nodeRoot(dir, s.name, n.name);
    const cdir = join(dir, 'sites', s.name, 'nodes', n.name, 'containerd');
    mkdirSync(cdir, { recursive: true });
    const socket = join(cdir, 'containerd.sock');
    state.nodes.push({ site: s.name, name: n.name, root: nroot, hostsDir: join(nroot, 'etc/containerd/certs.d'), socket });
    out.containerd.push(
      start(state, {
        name: `containerd ${n.name}`,
        kind: 'containerd',
        cmd: 'containerd',
        args: ['-c', join(nroot, 'etc/containerd/config.toml'), '--root', join(cdir, 'root'), '--state', join(cdir, 'state'), '--address', socket],
        ns: s.ns,
        log: join(dir, 'logs', `containerd-${n.name}.log`),
      }),
    );
    const listen = `127.0.0.1:${await freePort()}`;
    const rec: AgentRecord = { site: s.name, role: 'node', node: n.name, roles: 'node', root: nroot, stateDir: join(nroot, 'var/lib/mirrornet'), listen };
    state.agents.push(rec);
    out.agents.push(
      start(state, {
        name: `agent ${n.name}`,
        kind: 'node-agent',
        cmd: process.execPath,
        args: [
          CLI,
          'agent',
          '--region',
          s.name,
          '--repo-url',
          state.origin,
          '--roles',
          'node',
          '--root',
          nroot,
          '--listen',
          listen,
          '--interval',
          state.options?.interval ?? '10s',
          '--docker-reload',
          'true',
          '--dragonfly-restart',
          'true',
          ...reportFlags(state, 'node'),
        ],
        env: labAgentEnv(state),
        log: join(dir, 'logs', `agent-${n.name}.log`),
      }),
    );
  }
  return out;
}

/** The node agents applied `head` and wrote hosts.toml; every containerd answers. */
async function waitNodes(state: LabState, started: StartedNodes[], head: string, timeoutMs: number): Promise<void> {
  const names = new Set(started.flatMap((x) => x.site.nodes.map((n) => n.name)));
  const records = state.agents.filter((a) => a.role === 'node' && names.has(a.node!));
  await waitForApplied(
    records,
    head,
    timeoutMs,
    started.flatMap((x) => x.agents),
  );
  const t = state.topology!;
  for (const n of state.nodes.filter((x) => names.has(x.name))) {
    const p = started.flatMap((x) => x.containerd).find((x) => x.name === `containerd ${n.name}`)!;
    await waitUntil(
      `containerd of ${n.name}`,
      30_000,
      async () => (await run('ip', ['netns', 'exec', siteOf(t, n.site).ns, 'ctr', '-a', n.socket, 'version'], { timeoutMs: 5000 })).code === 0,
      [p],
    );
    const site = siteOf(t, n.site);
    if (site.registrySite) {
      const core = siteOf(t, site.registrySite);
      const hosts = join(n.hostsDir, hostDirName(`${core.registry!.host}:${core.registry!.port}`), 'hosts.toml');
      await waitUntil(`the node agent of ${n.name} writing ${hosts}`, 30_000, () => existsSync(hosts));
    }
  }
}

/** A site's sandbox: its WireGuard private key under its --root; its nodes' containerd configs. */
function writeSandbox(dir: string, s: LabSite, privateKey?: string): void {
  if (privateKey !== undefined) writeSiteKey(dir, s.name, privateKey);
  for (const n of s.nodes) {
    const nroot = nodeRoot(dir, s.name, n.name);
    mkdirSync(join(nroot, 'etc/containerd'), { recursive: true });
    writeFileSync(join(nroot, 'etc/containerd/config.toml'), containerdConfig());
  }
}

function writeSiteKey(dir: string, site: string, privateKey: string): void {
  const root = siteRoot(dir, site);
  mkdirSync(join(root, 'etc/mirrornet/wireguard'), { recursive: true, mode: 0o700 });
  writeFileSync(join(root, labPrivateKeyRef(site).slice('file:'.length)), `${privateKey}\n`, { mode: 0o600 });
}

// ---- a site added to a running lab ----------------------------------------------------------------------

export interface PrepareSiteOptions {
  dir: string;
  /** A clone of the lab's origin holding the new site's file (e.g. written by `mirrornet region add`). */
  clone: string;
  name: string;
}

export interface PreparedSite {
  path: string;
  wan: string;
  publicKey: string;
  peers: string[];
  notes: string[];
}

/**
 * Make a new site's file in a clone of the lab's origin lab-ready, as `lab up` made the others: a WireGuard
 * key pair (the private key goes into the site's sandbox, the public key into the file), a slot (WAN
 * address), every link WireGuard through the lab's internet. The caller commits and pushes it; then
 * `labAddSite` brings the site up.
 */
export function labPrepareSite(opts: PrepareSiteOptions): PreparedSite {
  const dir = resolve(opts.dir);
  const state = loadState(dir);
  if (!state?.topology) throw new LabError(`No lab is up in ${dir}: \`mirrornet lab up\` first.`);
  const t = state.topology;
  if (t.sites.some((s) => s.name === opts.name)) throw new LabError(`${opts.name} is in the lab already.`);
  const { files } = listModelFiles(resolve(opts.clone));
  const pending = state.pending ?? {};
  const slot =
    pending[opts.name]?.slot ??
    nextSlot(
      t,
      Object.entries(pending)
        .filter(([n]) => n !== opts.name)
        .map(([, p]) => p.slot),
    );
  const wan = wanAddress(slot);
  const key = wgKeyPair();
  const ready = labReadySite(files, opts.name, { wan, publicKey: key.publicKey, wans: Object.fromEntries(t.sites.map((s) => [s.name, s.wan])) });
  writeFileSync(join(resolve(opts.clone), ready.path), ready.content);
  state.pending = { ...pending, [opts.name]: { slot } };
  saveState(state);
  writeSiteKey(dir, opts.name, key.privateKey);
  return { path: ready.path, wan, publicKey: key.publicKey, peers: ready.peers, notes: ready.notes };
}

export interface AddSiteOptions {
  dir: string;
  name: string;
  say: Say;
  timeoutMs?: number;
}

/** The origin's files at `rev` (a checkout into a temporary directory under the lab). */
function originFiles(state: LabState, rev: string): VirtualFile[] {
  const tmp = join(state.dir, 'tmp', `origin-${rev.slice(0, 12)}-${process.pid}`);
  rmSync(tmp, { recursive: true, force: true });
  mkdirSync(tmp, { recursive: true });
  try {
    sh('sh', ['-c', 'git --git-dir "$1" archive "$2" | tar -x -C "$3"', 'sh', state.origin, rev, tmp]);
    return listModelFiles(tmp).files;
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
}

/**
 * Bring up a site the origin's head has and the lab has not (made lab-ready by `labPrepareSite`, committed
 * and pushed): its namespace and veth, its gateway agent (which brings up its tunnels; the other agents
 * already applied the push), and for a region its peer, containerd nodes and node agents. Waits until its
 * agents applied the head and its nodes have their hosts.toml.
 */
export async function labAddSite(opts: AddSiteOptions): Promise<LabSite> {
  const dir = resolve(opts.dir);
  const say = opts.say;
  const timeoutMs = opts.timeoutMs ?? 120_000;
  const state = loadState(dir);
  if (!state?.topology || state.phase !== 'up') throw new LabError(`No lab is up in ${dir}: \`mirrornet lab up\` first.`);
  const t = state.topology;
  if (t.sites.some((s) => s.name === opts.name)) throw new LabError(`${opts.name} is in the lab already.`);
  const slot = state.pending?.[opts.name]?.slot;
  if (slot === undefined || !existsSync(join(siteRoot(dir, opts.name), labPrivateKeyRef(opts.name).slice('file:'.length)))) {
    throw new LabError(`${opts.name} was not made lab-ready: run labPrepareSite for it in a clone of the origin, commit and push, then add it.`);
  }
  const head = originHead(state);
  if (!head) throw new LabError(`The origin ${state.origin} has no main branch.`);
  const files = originFiles(state, head);
  const report = validateFiles(files);
  if (!report.valid)
    throw new LabError(
      `The origin's head ${head.slice(0, 12)} is invalid (${report.errors.length} errors, e.g. ${report.errors
        .slice(0, 2)
        .map((e) => `${e.file}:${e.line} ${e.rule}`)
        .join('; ')}): the agents refuse it; push a fix first.`,
    );
  const input = fleetSites(files).find((s) => s.name === opts.name);
  if (!input) throw new LabError(`The origin's head ${head.slice(0, 12)} has no site ${opts.name}: commit and push its file first.`);
  const taken = t.sites.find((s) => s.lan === input.lan);
  if (taken) throw new LabError(`${opts.name}'s gateway address ${input.lan} is ${taken.name}'s in the lab.`);
  const site = labSite(input, slot, { prefix: state.prefix, nodes: state.options?.nodes ?? 2 });
  const links: LabLink[] = report.fleet.links
    .filter((l) => (l.local === opts.name || l.remote === opts.name) && t.sites.some((s) => s.name === (l.local === opts.name ? l.remote : l.local)))
    .map((l) => ({
      id: l.local < l.remote ? `${l.local}--${l.remote}` : `${l.remote}--${l.local}`,
      local: l.local,
      remote: l.remote,
      was: l.link.type,
      ports: l.link.type === 'wireguard' ? { [l.local]: l.link.local.listenPort, [l.remote]: l.link.remote.listenPort } : {},
    }));
  const nonWg = links.filter((l) => l.was !== 'wireguard');
  if (nonWg.length)
    throw new LabError(
      `${opts.name}'s links to ${nonWg.map((l) => (l.local === opts.name ? l.remote : l.local)).join(', ')} are not WireGuard: the lab only has WireGuard (labPrepareSite makes them so).`,
    );
  const ifaces = labInterfaces(links);
  for (const i of ifaces)
    if (existsSync(`/var/run/wireguard/${i.iface}.sock`) && i.site === opts.name)
      throw new LabError(`The WireGuard interface ${i.iface} (${i.site} to ${i.peer}) exists already: another lab has ${opts.name}.`);

  // Recorded before it is made.
  t.sites.push(site);
  state.links = [...(state.links ?? []), ...links];
  state.wireguard = [...new Set([...state.wireguard, ...ifaces.map((i) => i.iface)])];
  state.namespaces = [...state.namespaces.filter((n) => n !== t.internet.ns), site.ns, t.internet.ns];
  const { [opts.name]: _done, ...rest } = state.pending ?? {};
  state.pending = rest;
  saveState(state);
  say(`add ${opts.name}: ${site.role}, ${site.cidr}, WAN ${site.wan}, ${links.length} WireGuard link(s) (${links.map((l) => l.id).join(', ')})`);
  buildSiteNetwork(t, site);
  writeSandbox(dir, site);
  const agent = await startGatewayAgent(state, site);
  await waitForApplied(
    state.agents.filter((a) => a.site === opts.name && a.role === 'gateway'),
    head,
    timeoutMs,
    [agent],
  );
  await waitReachable(t, site);
  say(`add ${opts.name}: its agent applied ${head.slice(0, 12)}; its tunnel${links.length === 1 ? ' is' : 's are'} up`);
  if (site.role === 'region') {
    const w = startRegionPeer(state, site, state.peer);
    if (w) await w;
    if (site.nodes.length) {
      const started = await startNodes(state, site);
      await waitNodes(state, [started], head, timeoutMs);
      say(`add ${opts.name}: ${site.nodes.length} containerd node(s) with their hosts.toml`);
    }
  }
  saveState(state);
  return site;
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

function buildInternet(t: LabTopology): void {
  const inet = t.internet.ns;
  createNamespace(inet);
  sh('ip', ['-n', inet, 'link', 'add', t.internet.bridge, 'type', 'bridge']);
  sh('ip', ['-n', inet, 'addr', 'add', t.internet.address, 'dev', t.internet.bridge]);
  sh('ip', ['-n', inet, 'link', 'set', t.internet.bridge, 'up']);
}

function buildSiteNetwork(t: LabTopology, s: LabSite): void {
  const inet = t.internet.ns;
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
      throw new LabError(
        `These agents did not apply ${head.slice(0, 12)} within ${Math.round(timeoutMs / 1000)} s: ${pending.join(', ')}.\n${logs.join('\n')}`,
      );
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
  if (!state)
    for (const ns of listNamespaces()) if (ns === `${prefix}-inet` || (namespaceExists(`${prefix}-inet`) && ns.startsWith(`${prefix}-`))) recorded.add(ns);
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
    if (!isLabProgram(argvOf(pid)) && alive(pid))
      say(
        `  note: process ${pid} (${argvOf(pid).join(' ').slice(0, 60)}) runs in ${ns} and was not started by the lab: left alone; the namespace goes away when it exits.`,
      );
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
  /** Where the agents report (the lab's local receivers), and what the chat receiver got. */
  reporting?: { github?: string; chat?: string; chatMessages?: number };
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
    tunnels.push({
      site: i.site,
      peer: i.peer,
      iface: i.iface,
      exists: true,
      ...(hs > 0 ? { handshakeAgeS: now - hs } : {}),
      rx: Number(peer[5] ?? 0),
      tx: Number(peer[6] ?? 0),
    });
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
  const github = state.report?.github && state.services?.githubUrl ? `${state.services.githubUrl} (${state.report.github.repo})` : undefined;
  const chat = state.report?.chat && state.services?.chatUrl ? state.services.chatUrl : undefined;
  const reporting = github || chat ? { ...(github ? { github } : {}), ...(chat ? { chat, chatMessages: labChatMessages(state).length } : {}) } : undefined;
  return { dir, phase: state.phase, ...(head ? { head } : {}), sites, tunnels, agents, processes, ...(reporting ? { reporting } : {}) };
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
  out.push(
    table([
      ['site', 'role', 'namespace', 'up', 'WAN', 'LAN', 'CIDR'],
      ...s.sites.map((x) => [x.name, x.role, x.ns, x.up ? 'yes' : 'NO', x.wan, x.lan, x.cidr]),
    ]),
  );
  out.push('', 'tunnels');
  out.push(
    table([
      ['site', 'peer', 'interface', 'handshake', 'rx', 'tx'],
      ...s.tunnels.map((x) => [
        x.site,
        x.peer,
        x.iface,
        x.exists ? age(x.handshakeAgeS) : 'missing',
        x.rx !== undefined ? formatBytes(x.rx) : '-',
        x.tx !== undefined ? formatBytes(x.tx) : '-',
      ]),
    ]),
  );
  out.push('', 'agents');
  out.push(
    table([
      ['agent', 'roles', 'running', 'applied', 'drift'],
      ...s.agents.map((a) => [
        a.name,
        a.roles,
        a.running ? 'yes' : 'NO',
        a.applied ? `${a.applied.slice(0, 12)}${a.current ? '' : ' (behind)'}` : 'nothing yet',
        a.drift.length ? a.drift.join(',') : a.refused ? `refused ${a.refused}` : 'none',
      ]),
    ]),
  );
  out.push('', 'services');
  out.push(table([['process', 'running'], ...s.processes.map((p) => [p.name, p.running ? 'yes' : 'NO'])]));
  out.push('', 'reporting');
  if (!s.reporting) out.push('  none: the agents post no commit statuses and send no chat');
  else {
    out.push(`  commit statuses: ${s.reporting.github ? `the GitHub emulator ${s.reporting.github}` : 'none'}`);
    out.push(`  chat: ${s.reporting.chat ? `the lab's receiver ${s.reporting.chat}, ${s.reporting.chatMessages ?? 0} message(s) so far` : 'none'}`);
  }
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
  return fetch(`${url}/api/v2.0${path}`, {
    ...init,
    headers: { authorization: `Basic ${Buffer.from(`admin:${password}`).toString('base64')}`, 'content-type': 'application/json', ...(init.headers ?? {}) },
  });
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
    if (err instanceof LabError)
      throw new LabError(
        `${err.userMessage}\nThe lab is still up: \`mirrornet lab status --dir ${dir}\` shows it, \`mirrornet lab down --dir ${dir}\` removes it.`,
        { cause: err },
      );
    throw err;
  }
}

async function runOn(state: LabState, opts: RunOptions): Promise<RunReport> {
  const report = await labPulls(state, { imageBytes: opts.imageBytes, say: opts.say });
  if (opts.down) await labDown({ dir: state.dir, say: opts.say });
  return report;
}

/**
 * The image flow on a lab that is up: push two fresh test images to the China core, replicate them to
 * the other cores, pull them on every node of every region through its peer and then directly (the
 * baseline), with the bytes each core served per region.
 */
export async function labPulls(state: LabState, opts: { imageBytes: number; say: Say }): Promise<RunReport> {
  const say = opts.say;
  const dir = state.dir;
  const t = state.topology!;
  const cores = t.sites.filter((s) => s.role === 'hub');
  // CI pushes in China: to the core of the `cn` area (the Harbor that replicates), else the first core.
  const source = cores.find((c) => c.area === 'cn') ?? cores[0]!;
  const stamp = Date.now().toString(36);
  const imagesDir = join(dir, 'images', stamp);
  const mirrorImage = buildTestImage(join(imagesDir, 'mirror'), { tag: `mirror-${stamp}`, bytes: opts.imageBytes });
  const directImage = buildTestImage(join(imagesDir, 'direct'), { tag: `direct-${stamp}`, bytes: opts.imageBytes });
  for (const img of [mirrorImage, directImage]) await pushImage(source.ns, source.registry!.url, img);
  say(
    `images: pushed ${mirrorImage.repo}:${mirrorImage.tag} and :${directImage.tag} (${formatBytes(mirrorImage.size)} each, random layers) to ${source.name} ${source.registry!.url}`,
  );
  let replication = { ms: 0, status: 'none' };
  for (const other of cores.filter((c) => c !== source)) replication = await replicate(state, source, other, say);
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
    const mirror = await labPull(state, r.name, mirrorImage, 'peer');
    const baseline = await labPull(state, r.name, directImage, 'direct');
    regions.push({ region: r.name, core: core.name, nodes: r.nodes.length, imageBytes: mirrorImage.size, mirror, baseline });
  }
  return { regions, skipped, replication, peer: state.peer };
}

/**
 * Pull an image that is in a region's core registry on every node of the region, through the region's
 * peer (the node agents' hosts.toml) or directly (no mirror settings: the baseline); the bytes the core
 * served to the region for the image's repository, from the core registry's access log.
 */
export async function labPull(state: LabState, region: string, image: TestImage, via: 'peer' | 'direct'): Promise<PhaseResult> {
  const t = state.topology!;
  const r = siteOf(t, region);
  if (!r.registrySite) throw new LabError(`${region} mirrors no Harbor of the lab: nothing to pull`);
  const core = siteOf(t, r.registrySite);
  const empty = join(state.dir, 'no-mirror');
  mkdirSync(empty, { recursive: true });
  return pullPhase(state, r, core, image, via === 'peer' ? (n) => n.hostsDir : () => empty);
}

/** Build a fresh test image (random layers) and push it to a core's registry. */
export async function labPushImage(state: LabState, core: string, opts: { tag: string; bytes: number }): Promise<TestImage> {
  const c = siteOf(state.topology!, core);
  if (!c.registry) throw new LabError(`${core} is not a core: it has no registry`);
  const image = buildTestImage(join(state.dir, 'images', opts.tag), { tag: opts.tag, bytes: opts.bytes });
  await pushImage(c.ns, c.registry.url, image);
  return image;
}

/** What the lab's chat receiver got so far (every delivery, with its raw body and signature check). */
export function labChatMessages(state: Pick<LabState, 'report'>): ChatDelivery[] {
  return state.report?.chat ? readChatLog(state.report.chat.log) : [];
}

export interface LabCommitStatus {
  context: string;
  state: string;
  description: string | null;
  created_at: string;
}

/** The commit statuses of a revision at the lab's GitHub emulator, newest first (GitHub's order). */
export async function labCommitStatuses(state: Pick<LabState, 'report' | 'services' | 'secrets'>, sha: string): Promise<LabCommitStatus[]> {
  const url = state.services?.githubUrl;
  const repo = state.report?.github?.repo;
  if (!url || !repo) throw new LabError('The lab does not report commit statuses (lab up without report.github).');
  const out: LabCommitStatus[] = [];
  for (let page = 1; ; page++) {
    const res = await fetch(`${url}/repos/${repo}/commits/${sha}/statuses?per_page=100&page=${page}`, {
      headers: { authorization: `token ${state.secrets[GITHUB_TOKEN_ENV]}`, accept: 'application/vnd.github+json' },
      signal: AbortSignal.timeout(5000),
    });
    if (!res.ok) throw new LabError(`the GitHub emulator answered ${res.status}: ${await res.text()}`);
    const list = (await res.json()) as LabCommitStatus[];
    out.push(...list);
    if (list.length < 100) return out;
  }
}

export const TARGET_RATIO = 1.1;

export function formatRun(r: RunReport): string {
  const out: string[] = [];
  const peer =
    r.peer === 'dfproxy' ? "the region's peer (dfdaemon's proxy rule: blobs once per region)" : "the region's peer (distribution's pull-through cache)";
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
    out.push(
      `  target: the core serves <= ${TARGET_RATIO}x the image per region: ${ok ? 'PASS' : 'MISS'} (${ratio(x.mirror)} through the peer, ${ratio(x.baseline)} without)`,
    );
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
