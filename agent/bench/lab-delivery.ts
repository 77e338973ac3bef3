// The lab benchmark's instruments for bundle delivery (agent/bench/lab.ts): how often the git origin is asked
// per revision, what each core's registry served to each region for a revision's bundle, where a push's time
// goes (the publisher's `bundle published`, the services' replications and registry webhooks), and the CPU of
// the lab's other processes. Apart from lab-agents.ts so that each file stays short; nothing here sends a
// request to a registry (the bytes it counts would include its own).
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { siteTag } from '../src/bundle/build.js';
import { BUNDLE_CHANNEL, BUNDLE_REPOSITORY, bundleCore, followsGit } from '../src/testbed/lab/delivery.js';
import { fileSize, inCidr, parseRegistryLog, readFrom } from '../src/testbed/lab/images.js';
import { registryLog } from '../src/testbed/lab/layout.js';
import { HOST_ADDRESS } from '../src/testbed/lab/network.js';
import { sh, type LabState } from '../src/testbed/lab/processes.js';
import { cpuByAgent, cpuSeconds, logOffsets, stepTimings, waitAllApplied, type LabAgent } from './lab-agents.js';

/** Who an agent is in a push's flow: the publisher, another core's gateway, a region's gateway, a node agent. */
export type Group = 'publisher' | 'core' | 'region gateway' | 'node agent';
export const GROUPS: Group[] = ['publisher', 'core', 'region gateway', 'node agent'];
export function groupOf(state: LabState, a: LabAgent): Group {
  if (followsGit(state, a.rec)) return 'publisher';
  if (a.rec.roles.split(',').includes('hub')) return 'core';
  return a.rec.role === 'gateway' ? 'region gateway' : 'node agent';
}

// ---- requests to the git origin ----------------------------------------------------------------------------

export interface OriginCount {
  lsRemote: number;
  fetch: number;
  other: number;
  total: number;
}

/**
 * Counts every git request to the origin by the agents that follow it (the lab's stand-in for GitHub): each
 * `git ls-remote` or `git fetch` of theirs starts one `git upload-pack` on the origin (the local transport runs it
 * as a child), and `remote.origin.uploadpack` in the agent's own clone names the command it starts. The bench
 * points it at a wrapper that appends one line (time, the git command that asked) to a log and execs
 * `git upload-pack`: exact, nothing polled or sampled, and outside the agent (its clone's config, which the
 * agent leaves alone once cloned). The cost, one `sh` per request, counts in the publisher's CPU. The bench's
 * own pushes go through receive-pack and are not counted.
 */
export class OriginCounter {
  readonly log: string;
  readonly clones: string[] = [];

  constructor(state: LabState, agents: LabAgent[]) {
    this.log = join(state.dir, 'bench-origin-requests.log');
    const wrapper = join(state.dir, 'bench-upload-pack.sh');
    writeFileSync(
      wrapper,
      [
        '#!/bin/sh',
        '# mirrornet lab bench: log who asked the origin, then serve it as git would.',
        'p=$PPID',
        `c=$(tr '\\0' ' ' < /proc/$p/cmdline)`,
        `case "$c" in sh\\ *|/bin/sh\\ *) p=$(cut -d' ' -f4 /proc/$p/stat); c=$(tr '\\0' ' ' < /proc/$p/cmdline);; esac`,
        `printf '%s\\t%s\\n' "$(date +%s%3N)" "$c" >> '${this.log}'`,
        'exec git upload-pack "$@"',
        '',
      ].join('\n'),
      { mode: 0o755 },
    );
    writeFileSync(this.log, '');
    for (const a of agents.filter((x) => followsGit(state, x.rec))) {
      // The publisher's clone is `publish`, an agent that applies from git clones to `repo` (cli/agent-sources.ts).
      for (const d of ['publish', 'repo']) {
        const config = join(a.rec.stateDir, d, '.git', 'config');
        if (!existsSync(config)) continue;
        sh('git', ['config', '--file', config, 'remote.origin.uploadpack', wrapper]);
        this.clones.push(join(a.rec.stateDir, d));
      }
    }
  }

  offset(): number {
    return fileSize(this.log);
  }

  /** The requests logged since `offset`, between two wall-clock times. */
  since(offset: number, fromMs = 0, toMs = Infinity): OriginCount {
    const c: OriginCount = { lsRemote: 0, fetch: 0, other: 0, total: 0 };
    for (const line of readFrom(this.log, offset).split('\n')) {
      const [t, cmd = ''] = line.split('\t');
      const at = Number(t);
      if (!line.trim() || !(at >= fromMs && at <= toMs)) continue;
      c.total++;
      if (/\bls-remote\b/.test(cmd)) c.lsRemote++;
      else if (/\bfetch\b/.test(cmd)) c.fetch++;
      else c.other++;
    }
    return c;
  }
}

// ---- core egress per revision per region -------------------------------------------------------------------

/** What a request for a site's part of a bundle was for. */
type Part = 'manifest' | 'layer';
const PARTS: Part[] = ['manifest', 'layer'];

/** Per site: the size of each part of its bundle at the channel's current revision. */
type SiteParts = Map<Part, number>;

const REGISTRY_V2 = (dir: string, core: string) => join(dir, 'sites', core, 'registry', 'data', 'docker', 'registry', 'v2');

/**
 * From a core registry's storage on disk (distribution's filesystem layout), not by asking it: per site of the
 * channel's current revision, its manifest (tag `main.<site>` and digest) and its layer (which carries the
 * signature), with their sizes. Keys are `manifests/<tag or digest>` and `blobs/<digest>`.
 */
function bundleKeys(dir: string, core: string): { keys: Map<string, { site: string; part: Part }>; sites: Map<string, SiteParts> } {
  const v2 = REGISTRY_V2(dir, core);
  const tags = join(v2, 'repositories', BUNDLE_REPOSITORY, '_manifests', 'tags');
  const link = (tag: string) => {
    try {
      return readFileSync(join(tags, tag, 'current', 'link'), 'utf8').trim();
    } catch {
      return undefined;
    }
  };
  const blob = (digest: string) => {
    try {
      const hex = digest.replace(/^sha256:/, '');
      return readFileSync(join(v2, 'blobs', 'sha256', hex.slice(0, 2), hex, 'data'));
    } catch {
      return undefined;
    }
  };
  const firstLayer = (bytes: Buffer | undefined) => {
    try {
      return bytes ? (JSON.parse(bytes.toString('utf8')) as { layers?: { digest: string; size: number }[] }).layers?.[0] : undefined;
    } catch {
      return undefined;
    }
  };
  const keys = new Map<string, { site: string; part: Part }>();
  const sites = new Map<string, SiteParts>();
  const prefix = siteTag(BUNDLE_CHANNEL, '');
  for (const tag of existsSync(tags) ? readdirSync(tags) : []) {
    if (!tag.startsWith(prefix)) continue;
    const site = tag.slice(prefix.length);
    const digest = link(tag);
    const manifest = digest ? blob(digest) : undefined;
    const layer = firstLayer(manifest);
    if (!digest || !manifest || !layer) continue;
    const parts: SiteParts = new Map([
      ['manifest', manifest.length],
      ['layer', layer.size],
    ]);
    sites.set(site, parts);
    keys.set(`manifests/${tag}`, { site, part: 'manifest' }).set(`manifests/${digest}`, { site, part: 'manifest' });
    keys.set(`blobs/${layer.digest}`, { site, part: 'layer' });
  }
  return { keys, sites };
}

/** Requests and bytes served. */
interface Served {
  requests: number;
  bytes: number;
}

export interface RegionEgress {
  region: string;
  core: string;
  /** The region site's layer at this revision. */
  layerBytes: number;
  /** Its manifest and layer, each once: the least a region can be served per revision. */
  floorBytes: number;
  /** Served to the region's LAN (its peer, through the tunnel) and to its agents (the host address, by what they asked for). */
  peer: Served;
  agents: Served;
  /** Served to the region (peer and agents) per part of its bundle; HEAD requests as `<part> HEAD`. */
  parts: Map<string, Served>;
}

interface RevisionEgress {
  regions: RegionEgress[];
  /** Bytes the cores served to anything else: core agents, the publisher, another core's replication. */
  elsewhere: number;
}

const registryOffsets = (state: LabState) =>
  new Map(state.topology!.sites.filter((s) => s.role === 'hub').map((c) => [c.name, fileSize(registryLog(state.dir, c.name))] as const));

const add = (s: Served, bytes: number) => {
  s.requests++;
  s.bytes += bytes;
};

/**
 * What each core's registry served from `offsets` on (one revision's window), for the bundle repository, per
 * region: requests from the region's CIDR (its peer fetching a layer through the tunnel), and requests from the
 * host address (where every lab agent runs) for the region's own tags and digests. Summed over the cores.
 */
function revisionEgress(state: LabState, offsets: Map<string, number>): RevisionEgress {
  const t = state.topology!;
  const repo = `/v2/${BUNDLE_REPOSITORY}/`;
  const regions = t.sites.filter((s) => s.role === 'region');
  const byCore = new Map([...offsets.keys()].map((core) => [core, bundleKeys(state.dir, core)] as const));
  const rows = new Map<string, RegionEgress>();
  for (const r of regions) {
    const core = bundleCore(t, r).name;
    const parts = byCore.get(core)?.sites.get(r.name);
    rows.set(r.name, {
      region: r.name,
      core,
      layerBytes: parts?.get('layer') ?? 0,
      floorBytes: PARTS.reduce((n, p) => n + (parts?.get(p) ?? 0), 0),
      peer: { bytes: 0, requests: 0 },
      agents: { bytes: 0, requests: 0 },
      parts: new Map(),
    });
  }
  let elsewhere = 0;
  for (const [core, offset] of offsets) {
    const { keys } = byCore.get(core)!;
    for (const e of parseRegistryLog(readFrom(registryLog(state.dir, core), offset))) {
      if (!e.uri.startsWith(repo)) continue;
      const key = keys.get(e.uri.slice(repo.length).split('?')[0]!);
      const byCidr = regions.find((r) => inCidr(e.remote, r.cidr));
      const site = byCidr?.name ?? (e.remote === HOST_ADDRESS ? key?.site : undefined);
      const row = site ? rows.get(site) : undefined;
      if (!row) {
        elsewhere += e.method === 'HEAD' ? 0 : e.written;
        continue;
      }
      // distribution logs a HEAD's `written` as the body it would have sent (Go's server eats it): none went out.
      const bytes = e.method === 'HEAD' ? 0 : e.written;
      add(byCidr ? row.peer : row.agents, bytes);
      const part = `${key && key.site === row.region ? key.part : 'other'}${e.method === 'HEAD' ? ' HEAD' : ''}`;
      add(row.parts.get(part) ?? row.parts.set(part, { requests: 0, bytes: 0 }).get(part)!, bytes);
    }
  }
  return { regions: [...rows.values()], elsewhere };
}

// ---- where a push's time goes ------------------------------------------------------------------------------

interface Timeline {
  /** ms after the push: the publisher logged `bundle published`. */
  published?: number;
  /** The replications the push caused: how long each took and when it ended (ms after the push). */
  replications: { ms: number; end: number; bytes: number }[];
  /** When the cores' gateways were told by registry webhook (ms after the push), per core. */
  told: { core: string; at: number; gateways: number }[];
}

function jsonLines(path: string, offset: number): Record<string, unknown>[] {
  const out: Record<string, unknown>[] = [];
  for (const line of readFrom(path, offset).split('\n')) {
    if (!line.startsWith('{')) continue;
    try {
      out.push(JSON.parse(line) as Record<string, unknown>);
    } catch {
      /* a line cut at the offset */
    }
  }
  return out;
}

const servicesLog = (state: LabState) => state.processes.find((p) => p.kind === 'services')?.log;

/** From the publisher's log and the services' log after the offsets: the push's timeline (times after `pushedWall`). */
function pushTimeline(state: LabState, publisher: LabAgent | undefined, offsets: { publisher: number; services: number }, pushedWall: number): Timeline {
  const tl: Timeline = { replications: [], told: [] };
  if (publisher) {
    const e = jsonLines(publisher.proc.log, offsets.publisher).find((x) => x['msg'] === 'bundle published');
    if (e && typeof e['time'] === 'number') tl.published = e['time'] - pushedWall;
  }
  const log = servicesLog(state);
  for (const e of log ? jsonLines(log, offsets.services) : []) {
    const at = Date.parse(String(e['t'])) - pushedWall;
    if (e['msg'] === 'replication done') tl.replications.push({ ms: Number(e['ms']), end: at, bytes: Number(e['bytes'] ?? 0) });
    if (e['msg'] === 'registry push: gateways told') tl.told.push({ core: String(e['core']), at, gateways: Number(e['gateways']) });
  }
  return tl;
}

/** CPU seconds (with waited-for children) of the lab's processes that are not agents, by kind. */
function otherCpu(state: LabState): Map<string, number> {
  const by = new Map<string, number>();
  for (const p of state.processes) {
    if (p.kind === 'agent' || p.kind === 'node-agent') continue;
    by.set(p.kind, (by.get(p.kind) ?? 0) + cpuSeconds(p.pid));
  }
  return by;
}

// ---- one revision, pushed and applied everywhere ------------------------------------------------------------

export interface Sample {
  sha: string;
  /** ms from the push until every agent applied it, until the first did, and until each group's last did. */
  all: number;
  first: number;
  byGroup: Map<Group, number>;
  /** CPU seconds of the agents with their children from the push until all applied, in all and per group (the children's part). */
  cpu: number;
  cpuByGroup: Map<Group, number>;
  childCpuByGroup: Map<Group, number>;
  /** The same of the lab's other processes (services, registries, peers, containerd), by kind. */
  otherCpu: Map<string, number>;
  origin: OriginCount;
  egress: RevisionEgress;
  timeline: Timeline;
  /** The agents' own step timings (debug `step done`) in the window: per group, per step, the mean ms per agent. */
  steps: Map<Group, Map<string, number>>;
}

export interface Fleet {
  state: LabState;
  agents: LabAgent[];
  publisher: LabAgent | undefined;
  origin: OriginCounter;
  push: () => { sha: string; pushedAt: number; pushedWall: number };
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));
const sumBy = <K>(entries: [K, number][]) => entries.reduce((m, [k, v]) => m.set(k, (m.get(k) ?? 0) + v), new Map<K, number>());

/** One commit pushed (`send` then tells whom it tells: nobody when polling), until every agent applied it, with what it cost. */
export async function pushSample(f: Fleet, send: (sha: string, before: string) => Promise<void>, before: string, timeoutMs: number): Promise<Sample> {
  const { state, agents } = f;
  const services = servicesLog(state);
  const offsets = {
    registry: registryOffsets(state),
    origin: f.origin.offset(),
    publisher: f.publisher ? fileSize(f.publisher.proc.log) : 0,
    services: services ? fileSize(services) : 0,
    agents: logOffsets(agents),
  };
  const cpu0 = cpuByAgent(agents);
  const other0 = otherCpu(state);
  const wall0 = Date.now();
  const p = f.push();
  await send(p.sha, before);
  const done = await waitAllApplied(agents, p.sha, timeoutMs);
  const appliedWall = Date.now();
  const cpu1 = cpuByAgent(agents);
  const other1 = otherCpu(state);
  await sleep(500); // a registry logs a response once it completed
  const times = agents.map((a) => [groupOf(state, a), done.get(a.name)! - p.pushedAt] as [Group, number]);
  const byGroup = new Map<Group, number>();
  for (const [g, ms] of times) byGroup.set(g, Math.max(byGroup.get(g) ?? 0, ms));
  const steps = new Map<Group, Map<string, number>>();
  for (const g of GROUPS) {
    const members = agents.filter((a) => groupOf(state, a) === g);
    const timings = stepTimings(members, offsets.agents);
    if (members.length) steps.set(g, new Map([...timings].map(([step, ms]) => [step, ms.reduce((x, y) => x + y, 0) / members.length] as const)));
  }
  const delta = (a: LabAgent, k: 'self' | 'children') => (cpu1.get(a.name)?.[k] ?? 0) - (cpu0.get(a.name)?.[k] ?? 0);
  const cpus = agents.map((a) => [groupOf(state, a), delta(a, 'self') + delta(a, 'children')] as [Group, number]);
  return {
    sha: p.sha,
    all: Math.max(...times.map(([, ms]) => ms)),
    first: Math.min(...times.map(([, ms]) => ms)),
    byGroup,
    cpu: cpus.reduce((s, [, v]) => s + v, 0),
    cpuByGroup: sumBy(cpus),
    childCpuByGroup: sumBy(agents.map((a) => [groupOf(state, a), delta(a, 'children')] as [Group, number])),
    otherCpu: new Map([...other1].map(([k, v]) => [k, v - (other0.get(k) ?? 0)] as const)),
    origin: f.origin.since(offsets.origin, wall0, appliedWall),
    egress: revisionEgress(state, offsets.registry),
    timeline: pushTimeline(state, f.publisher, offsets, p.pushedWall),
    steps,
  };
}
