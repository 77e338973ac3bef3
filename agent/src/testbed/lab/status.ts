// `lab status`: the lab's sites (namespaces up), tunnels (WireGuard handshake age and bytes, from `wg show`
// in each site's namespace), agents (running, applied revision, drift, refusals) and services, as data and
// as tables; where the agents report (the GitHub emulator, the chat receiver and its messages so far); and
// the operator's commands against the cores.
import { resolve } from 'node:path';
import { agentState } from './agents.js';
import { formatBytes } from './images.js';
import { labInterfaces } from './network.js';
import { originHead } from './origin.js';
import { inNs, isSame, loadState, namespaceExists, type LabState } from './processes.js';
import { readChatLog, type ChatDelivery } from './receivers.js';
import { operatorCommands } from './site-tree.js';
import { siteOf } from './topology.js';

interface TunnelStatus {
  site: string;
  peer: string;
  iface: string;
  exists: boolean;
  handshakeAgeS?: number;
  rx?: number;
  tx?: number;
}

interface AgentStatus {
  name: string;
  site: string;
  roles: string;
  running: boolean;
  applied?: string;
  current: boolean;
  drift: string[];
  refused?: string;
  /** The revision its site retired at: the agent exited on purpose (not down). */
  retired?: string;
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
  /** The operator's commands against the cores (site tree: status, suspend, resume, reconcile). */
  operator?: string[];
}

/** The lab in `dirOpt`; undefined when there is none. */
export async function labStatus(dirOpt: string): Promise<LabStatus | undefined> {
  const dir = resolve(dirOpt);
  const state = loadState(dir);
  if (!state) return undefined;
  const head = await originHead(state);
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
      ...(s?.retired ? { retired: s.retired.revision } : {}),
    });
  }
  const processes = state.processes.filter((p) => p.kind !== 'agent' && p.kind !== 'node-agent').map((p) => ({ name: p.name, running: isSame(p) }));
  const github = state.report?.github && state.services?.githubUrl ? `${state.services.githubUrl} (${state.report.github.repo})` : undefined;
  const chat = state.report?.chat && state.services?.chatUrl ? state.services.chatUrl : undefined;
  const reporting = github || chat ? { ...(github ? { github } : {}), ...(chat ? { chat, chatMessages: labChatMessages(state).length } : {}) } : undefined;
  const operator = operatorCommands(state);
  return {
    dir,
    phase: state.phase,
    ...(head ? { head } : {}),
    sites,
    tunnels,
    agents,
    processes,
    ...(reporting ? { reporting } : {}),
    ...(operator.length ? { operator } : {}),
  };
}

/** Rows as aligned columns (two spaces apart, indented by two). */
export function formatTable(rows: string[][]): string {
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
    formatTable([
      ['site', 'role', 'namespace', 'up', 'WAN', 'LAN', 'CIDR'],
      ...s.sites.map((x) => [x.name, x.role, x.ns, x.up ? 'yes' : 'NO', x.wan, x.lan, x.cidr]),
    ]),
  );
  out.push('', 'tunnels');
  out.push(
    formatTable([
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
    formatTable([
      ['agent', 'roles', 'running', 'applied', 'drift'],
      ...s.agents.map((a) => [
        a.name,
        a.roles,
        a.running ? 'yes' : a.retired ? 'retired' : 'NO',
        a.applied ? `${a.applied.slice(0, 12)}${a.current ? '' : ' (behind)'}` : 'nothing yet',
        a.drift.length ? a.drift.join(',') : a.refused ? `refused ${a.refused}` : 'none',
      ]),
    ]),
  );
  out.push('', 'services');
  out.push(formatTable([['process', 'running'], ...s.processes.map((p) => [p.name, p.running ? 'yes' : 'NO'])]));
  out.push('', 'reporting');
  if (!s.reporting) out.push('  none: the agents post no commit statuses and send no chat');
  else {
    out.push(`  commit statuses: ${s.reporting.github ? `the GitHub emulator ${s.reporting.github}` : 'none'}`);
    out.push(`  chat: ${s.reporting.chat ? `the lab's receiver ${s.reporting.chat}, ${s.reporting.chatMessages ?? 0} message(s) so far` : 'none'}`);
  }
  if (s.operator) out.push('', 'operator (the site tree, as the cores see it)', ...s.operator.map((c) => `  ${c}`));
  return `${out.join('\n')}\n`;
}

/** What the lab's chat receiver got so far (every delivery, with its raw body and signature check). */
export function labChatMessages(state: Pick<LabState, 'report'>): ChatDelivery[] {
  return state.report?.chat ? readChatLog(state.report.chat.log) : [];
}
