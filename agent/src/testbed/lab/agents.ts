// The lab's agents: one real `mirrornet agent` per site (gateway, and hub on the cores) and per region node,
// each from the lab's origin, in its own sandbox, with the lab's secrets and reporting flags and nothing
// else from the caller's environment; and waiting until they applied a revision (from their state files).
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { AGENT_NODE_FLAGS } from '../../cli/agent.js';
import { hostDirName } from '../../providers/containerd/index.js';
import { sourceFlags } from './delivery.js';
import { labChatUrlEnv } from './fleet.js';
import { nodeRoot, siteRoot } from './layout.js';
import { isSame, LabError, run, sleep, type AgentRecord, type LabProcess, type LabState } from './processes.js';
import { WEBHOOK_SECRET_ENV } from './push-hook.js';
import { freePort, start, tail, waitUntil } from './startup.js';
import { siteTreeEnv, siteTreeFlags } from './site-tree.js';
import { siteOf, type LabSite } from './topology.js';

const CLI = fileURLToPath(new URL('../../../../bin/mirrornet.js', import.meta.url));

/** The repository slug the lab's core agents post commit statuses for. */
export const LAB_GITHUB_REPO = 'lab/fleet';
/** The environment variable holding the token the core agents post commit statuses with. */
export const GITHUB_TOKEN_ENV = 'MIRRORNET_LAB_GITHUB_TOKEN';

/** A file whose presence under a host's --root makes that host's reload and restart hooks fail (a test's broken hook). */
export const FAILING_HOOKS_FILE = 'etc/mirrornet/lab-hooks-fail';

/** The lab's reload/restart hook of a host: succeeds, unless FAILING_HOOKS_FILE is under its root. */
function labHook(root: string): string {
  return `test ! -e '${join(root, FAILING_HOOKS_FILE)}'`;
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

export interface AgentStateFile {
  appliedRevision?: string;
  /** When it applied it (ISO time, the agent's clock: this machine's). */
  appliedAt?: string;
  refused?: { revision: string; reason: string };
  drift?: Record<string, string>;
  /**
   * Its site retired (`lifecycle: retiring`): the agent removed what it created but its uplink, reported retired,
   * then removed the uplink (`uplinkRemoved`) and exited 0 on purpose.
   */
  retired?: { revision: string; at: string; uplinkRemoved?: string };
}

/** What an agent last wrote to its state file (applied, refused, drift); undefined before its first write. */
export function agentState(a: Pick<AgentRecord, 'stateDir'>): AgentStateFile | undefined {
  try {
    return JSON.parse(readFileSync(join(a.stateDir, 'state.json'), 'utf8')) as AgentStateFile;
  } catch {
    return undefined;
  }
}

/**
 * Every agent's command-line flags for reporting: its place in the site tree (site-tree.ts); chat to the lab's
 * receiver from gateways and cores (a node's events go up to its gateway, the one voice of its site) or none;
 * commit statuses from the cores, one per site of their area (aggregating the site's hosts).
 */
function reportFlags(state: LabState, s: LabSite, rec: AgentRecord): string[] {
  const flags: string[] = ['--webhook-secret', `env:${WEBHOOK_SECRET_ENV}`, ...siteTreeFlags(state, s, rec)];
  // Without the lab's chat receiver the agents send no chat messages: nothing may go to a real chat.
  if (rec.role === 'node' || !state.report?.chat || !state.services?.chatUrl) flags.push('--no-chat');
  if (rec.role === 'gateway' && s.role === 'hub' && state.report?.github && state.services?.githubUrl) {
    flags.push('--github-repo', state.report.github.repo, '--github-api-url', state.services.githubUrl, '--github-token', `env:${GITHUB_TOKEN_ENV}`);
  }
  return flags;
}

/** An agent's environment: the lab's secrets (of the site tree's, only its own), and the chat channels' URLs when the lab has a receiver. */
function labAgentEnv(state: LabState, s: LabSite, rec: AgentRecord): NodeJS.ProcessEnv {
  const extra: Record<string, string> = {};
  if (state.report?.chat && state.services?.chatUrl)
    for (const c of state.report.chat.channels) extra[labChatUrlEnv(c)] = `${state.services.chatUrl}/chat/${encodeURIComponent(c)}`;
  return agentEnv({ ...siteTreeEnv(state, s, rec), ...extra });
}

/** A site's gateway agent (also hub on a core): it brings up the site's tunnels and routes itself. */
export async function startGatewayAgent(state: LabState, s: LabSite): Promise<LabProcess> {
  const services = state.services!;
  const root = siteRoot(state.dir, s.name);
  const listen = state.bundle?.coreListen?.[s.name] ?? `127.0.0.1:${await freePort()}`;
  const roles = s.role === 'hub' ? 'gateway,hub' : 'gateway';
  const interval = state.options?.interval ?? '10s';
  const rec: AgentRecord = { site: s.name, role: 'gateway', roles, root, stateDir: join(root, 'var/lib/mirrornet'), listen };
  const args = [
    ...AGENT_NODE_FLAGS,
    CLI,
    'agent',
    '--region',
    s.name,
    ...sourceFlags(state, s, rec),
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
    labHook(root),
    '--dragonfly-restart',
    labHook(root),
    ...reportFlags(state, s, rec),
  ];
  if (s.role === 'hub') {
    const mine = services.harbors[s.name];
    if (mine) args.push('--harbor-url', mine.url, '--harbor-apply', 'true');
    for (const [site, h] of Object.entries(services.harbors)) if (site !== s.name) args.push('--harbor-peer-url', `${h.instance}=${h.url}`);
  }
  state.agents.push(rec);
  return start(state, {
    name: `agent ${s.name}`,
    kind: 'agent',
    cmd: process.execPath,
    args,
    env: labAgentEnv(state, s, rec),
    log: join(state.dir, 'logs', `agent-${s.name}.log`),
  });
}

export interface StartedNodes {
  site: LabSite;
  agents: LabProcess[];
  containerd: LabProcess[];
}

/** A region's containerd nodes and their node agents. */
export async function startNodes(state: LabState, s: LabSite): Promise<StartedNodes> {
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
          ...AGENT_NODE_FLAGS,
          CLI,
          'agent',
          '--region',
          s.name,
          ...sourceFlags(state, s, rec),
          '--roles',
          'node',
          '--root',
          nroot,
          '--listen',
          listen,
          '--interval',
          state.options?.interval ?? '10s',
          '--docker-reload',
          labHook(nroot),
          '--dragonfly-restart',
          labHook(nroot),
          ...reportFlags(state, s, rec),
        ],
        env: labAgentEnv(state, s, rec),
        log: join(dir, 'logs', `agent-${n.name}.log`),
      }),
    );
  }
  return out;
}

/** The node agents applied `head` and wrote hosts.toml; every containerd answers. */
export async function waitNodes(state: LabState, started: StartedNodes[], head: string, timeoutMs: number): Promise<void> {
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

/** Every agent applied `head` (a refusal or an exited agent fails at once, with the end of its log). */
export async function waitForApplied(agents: AgentRecord[], head: string, timeoutMs: number, procs: LabProcess[]): Promise<void> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    const pending: string[] = [];
    for (const [i, a] of agents.entries()) {
      const p = procs[i];
      const s = agentState(a);
      // A retired site's agent exits once it has applied the revision that retires it: not a failure.
      if (p && !isSame(p) && !s?.retired) throw new LabError(`${p.name} exited; its log (${p.log}):\n${tail(p.log)}`);
      if (s?.refused?.revision === head) throw new LabError(`${a.node ?? a.site} refused the lab's revision: ${s.refused.reason}`);
      // A retired agent takes no later revision.
      if (s?.appliedRevision !== head && !s?.retired) pending.push(a.node ?? a.site);
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
