// The lab: the whole fleet on one machine. `up` makes the namespaces, veths, addresses and keys, the lab's
// copy of the fleet in a local bare git origin, the cloud emulators, the cores' registries, and starts one
// real `mirrornet agent` per site (and per region node) from that origin: the agents bring up the
// WireGuard tunnels and routes themselves. Also `add-site.ts` (a site added to a running lab), `down.ts`
// (removes everything, also after a crash, from the state file), `status.ts` (sites, tunnels, agents) and
// `run.ts` (up + push + replicate + pull on every node, with the bytes each core served per region).
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import type { VirtualFile } from '../../model/loader.js';
import { evaluateRepository } from '../../reconcile/pipeline.js';
import { GITHUB_TOKEN_ENV, LAB_GITHUB_REPO, startGatewayAgent, startNodes, waitForApplied, waitNodes, type StartedNodes } from './agents.js';
import { LAB_CHAT_SECRET_ENV, labFleet } from './fleet.js';
import { fleetSites, selectSites } from './fleet-sites.js';
import { wgKeyPair, writeSandbox } from './layout.js';
import {
  BUNDLE_REPOSITORY,
  FANOUT_TOKEN_ENV,
  makePublisherKey,
  publisherCore,
  publishFirst,
  REGISTRY_EVENTS_TOKEN_ENV,
  REGISTRY_HOOK_TOKEN_ENV,
  type Delivery,
} from './delivery.js';
import { buildHostLink, buildInternet, buildSiteNetwork, HOST_ADDRESS, labInterfaces, waitReachable } from './network.js';
import { makeOrigin, originEvaluation } from './origin.js';
import { assertLabCanRun } from './preflight.js';
import { LabError, loadState, namespaceExists, saveState, statePath, type LabProcess, type LabState } from './processes.js';
import { WEBHOOK_SECRET_ENV } from './push-hook.js';
import { startCoreRegistries, startRegionPeer } from './registries.js';
import { SERVICES_CONFIG, SERVICES_READY, SERVICES_SCRIPT, type ServicesConfig, type ServicesReady } from './services.js';
import { makeOperatorKey, operatorCommands, siteTreeSecrets } from './site-tree.js';
import { freePort, start, waitUntil, type Say } from './startup.js';
import { labTopology, namespaces as topologyNamespaces } from './topology.js';

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
  /**
   * How revisions reach the agents (delivery.ts): `bundle` (default) — one core's agent publishes signed
   * bundles, every other agent follows its core's registry; `git` — every agent clones the origin.
   */
  delivery?: Delivery;
  say: Say;
}

/** A secret that passes Harbor's robot secret rules (upper, lower, digit, 8..128). */
function labSecret(): string {
  return `Lab${randomBytes(12).toString('hex')}x9`;
}

/** Make the lab (see the header); on a failure after the state file was written, says how to remove what was made. */
export async function labUp(opts: UpOptions): Promise<LabState> {
  assertLabCanRun();
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
  if (namespaceExists(`${opts.prefix}-inet`))
    throw new LabError(
      `The network namespace ${opts.prefix}-inet exists: another lab uses the prefix ${opts.prefix}; run \`mirrornet lab down\` for it first.`,
    );

  // The fleet (read and validated by the one pipeline, as the agents read it) and the lab's copy of it.
  const repo = resolve(opts.repo);
  const { report } = await evaluateRepository({ repo }, []);
  if (!report.valid) {
    throw new LabError(`The fleet in ${repo} is invalid (${report.errors.length} errors): run \`mirrornet validate --repo ${repo}\` and fix it first.`);
  }
  // A valid fleet's files are the model files the repository lists, every one parsed.
  const files: VirtualFile[] = report.fleet.files.map((f) => ({ path: f.path, content: f.text }));
  const sites = selectSites(fleetSites(report.fleet), opts.sites);
  const topology = labTopology(sites, { prefix: opts.prefix, nodes: opts.nodes });
  const keys = Object.fromEntries(topology.sites.map((s) => [s.name, wgKeyPair()] as const));
  const lab = labFleet(files, { topology, publicKeys: Object.fromEntries(Object.entries(keys).map(([k, v]) => [k, v.publicKey])) });
  const ifaces = labInterfaces(lab.links);
  for (const i of ifaces) {
    if (existsSync(`/var/run/wireguard/${i.iface}.sock`))
      throw new LabError(
        `The WireGuard interface ${i.iface} (${i.site} to ${i.peer}) exists already: another lab of the same sites is up; ` +
          'run `mirrornet lab down` for it first.',
      );
  }
  // containerd refuses a socket path longer than 104 bytes (sun_path): say so before anything is made.
  for (const site of topology.sites) {
    for (const n of site.nodes) {
      const socket = join(opts.dir, 'sites', site.name, 'nodes', n.name, 'containerd', 'containerd.sock');
      if (Buffer.byteLength(socket) > 104) {
        throw new LabError(
          `The lab directory ${opts.dir} is too long: containerd's socket ${socket} would exceed 104 bytes. ` +
            'Use a shorter --dir (the default is /var/lib/mirrornet-lab).',
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
  // The site tree: the cores hold the fleet's report secret, every other site its own token derived from it.
  Object.assign(secrets, siteTreeSecrets(topology.sites.map((s) => s.name)));
  const delivery = opts.delivery ?? 'bundle';
  if (delivery === 'bundle') {
    for (const name of [FANOUT_TOKEN_ENV, REGISTRY_HOOK_TOKEN_ENV, REGISTRY_EVENTS_TOKEN_ENV]) secrets[name] = randomBytes(20).toString('hex');
  }

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
  // The operator who reads the cores' status and steers sites, signing with this key.
  state.operator = makeOperatorKey(dir);
  saveState(state);
  const hubNames = topology.sites.filter((s) => s.role === 'hub').map((s) => s.name);
  const regionCount = topology.sites.filter((s) => s.role === 'region').length;
  say(
    `lab: ${topology.sites.length} sites (${hubNames.join(', ')} and ${regionCount} regions), ${lab.links.length} WireGuard links, ` +
      `${opts.nodes} node(s) per region; state in ${statePath(dir)}`,
  );
  for (const n of lab.notes) say(`  note: ${n}`);

  // The origin: a bare repository holding the lab's fleet, one commit; with `pushWebhook`, every later push
  // to main is a signed push webhook to every agent (its post-receive hook), as GitHub would send.
  const head = await makeOrigin(state, lab.files, `mirrornet lab: ${topology.sites.length} sites from ${repo}, every link WireGuard`);
  // The lab's copy as the agents will read it, from the origin's git objects through the one pipeline.
  const origin = await originEvaluation(state, head);
  if (!origin.valid)
    throw new LabError(
      `The lab's copy of the fleet does not validate (a bug in the lab): ${origin.errors
        .slice(0, 5)
        .map((e) => `${e.file}:${e.line} ${e.rule} ${e.message}`)
        .join('; ')}`,
    );
  say(`origin: ${state.origin} at ${head.slice(0, 12)}${opts.pushWebhook ? ' (a push to main is a push webhook to every agent)' : ''}`);

  // The network: namespaces recorded before they are made.
  state.namespaces = topologyNamespaces(topology);
  saveState(state);
  buildInternet(topology);
  for (const s of topology.sites) buildSiteNetwork(topology, s);
  say(`network: ${state.namespaces.length} namespaces (${topology.internet.ns} is the internet: a bridge, WAN addresses in 198.18.0.0/16)`);
  // The machine's own way into the lab's internet (the agents reach registries and peers through it): one lab
  // at a time on a machine, whatever its delivery.
  buildHostLink(topology);
  if (delivery === 'bundle') {
    state.bundle = makePublisherKey(dir, publisherCore(topology).name);
    state.bundle.coreListen = {};
    for (const c of topology.sites.filter((x) => x.role === 'hub')) state.bundle.coreListen[c.name] = `127.0.0.1:${await freePort()}`;
    saveState(state);
    say(
      `delivery: signed bundles; ${state.bundle.publisher}'s agent publishes, every other agent follows its core's registry ` +
        `(this machine reaches the lab's internet as ${HOST_ADDRESS})`,
    );
  }

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
    ...(state.bundle
      ? {
          registryEvents: {
            host: HOST_ADDRESS,
            token: secrets[REGISTRY_EVENTS_TOKEN_ENV]!,
            hookToken: secrets[REGISTRY_HOOK_TOKEN_ENV]!,
            labDir: dir,
          },
        }
      : {}),
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
    ...(ready.eventsPort ? { eventsPort: ready.eventsPort } : {}),
  };
  saveState(state);
  say(
    `emulators: Huawei Cloud VPC ${ready.vpcUrl}; Harbor ${Object.entries(ready.harbors)
      .map(([s, h]) => `${s} ${h.url}`)
      .join(', ')}`,
  );
  if (ready.githubUrl || ready.chatUrl) {
    const to = [
      ready.githubUrl ? `commit statuses to the GitHub emulator ${ready.githubUrl} (${LAB_GITHUB_REPO})` : '',
      ready.chatUrl ? `chat (${lab.chatChannels.length} webhook channels) to ${ready.chatUrl}` : '',
    ];
    say(`reporting: ${to.filter(Boolean).join('; ')}`);
  }

  // The cores' registries (their Harbors' storage), on the core's LAN address.
  await startCoreRegistries(state, cores);
  say(`registries: ${cores.map((c) => `${c.name} ${c.registry!.url}`).join(', ')}`);
  if (state.bundle) {
    await publishFirst(state, head);
    say(`bundles: ${head.slice(0, 12)} published into every core's registry (${BUNDLE_REPOSITORY}, signed by the publisher's key)`);
  }

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

  // The regions' node agents and containerd nodes, then each region's peer in dfdaemon's place, from the
  // dfdaemon.yaml the node agents wrote.
  const started: StartedNodes[] = [];
  for (const s of topology.sites) if (s.nodes.length) started.push(await startNodes(state, s));
  if (started.length) {
    say(`nodes: ${started.reduce((n, x) => n + x.containerd.length, 0)} containerd nodes and their node agents started; waiting for hosts.toml ...`);
    await waitNodes(state, started, head, timeoutMs);
    say(`nodes: every node agent wrote its hosts.toml and dfdaemon.yaml; every containerd answers`);
  }
  const waits: Promise<void>[] = [];
  for (const s of topology.sites.filter((x) => x.role === 'region')) {
    const w = startRegionPeer(state, s, opts.peer);
    if (w) waits.push(w);
    else if (!s.registrySite) say(`  ${s.name}: mirrors no Harbor of the lab (registries: Docker Hub only); no peer`);
    else say(`  ${s.name}: no nodes, so no dfdaemon.yaml and no peer`);
  }
  await Promise.all(waits);
  if (waits.length) say(`peers: ${waits.length} region peer(s) in dfdaemon's place, each configured from its nodes' dfdaemon.yaml`);
  state.phase = 'up';
  saveState(state);
  say(`lab is up: \`mirrornet lab status --dir ${dir}\` shows it, \`mirrornet lab down --dir ${dir}\` removes it.`);
  say(`operator (${state.operator.principal}), the fleet as its cores see it, and steering:`);
  for (const c of operatorCommands(state)) say(`  ${c}`);
  return state;
}
