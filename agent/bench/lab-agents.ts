// The lab benchmark's instruments (agent/bench/lab.ts): the lab's agents with their state, desired state,
// memory, CPU and step timings from their logs; a pusher of commits that change every agent's desired state;
// signed GitHub push webhooks (for the agents that follow git); and the image egress rows of a lab run.
// Apart from lab.ts so that each stays short; the bundle delivery's instruments are in lab-delivery.ts.
import { createHmac, randomUUID } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { agentEnv } from '../src/testbed/lab/agents.js';
import { isSame, LabError, saveState, sh, spawnDetached, stopPids, type AgentRecord, type LabProcess, type LabState } from '../src/testbed/lab/processes.js';
import { TARGET_RATIO, type RunReport } from '../src/testbed/lab/run.js';
import type { Row } from './report.js';

/** The variable the bench gives agents it restarts with a webhook secret of its own. */
const BENCH_SECRET_ENV = 'MIRRORNET_BENCH_WEBHOOK_SECRET';

const fmtS = (ms: number) => `${(ms / 1000).toFixed(2)} s`;
const verdict = (ok: boolean) => (ok ? 'PASS' : 'MISS');
const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** An agent of the lab with its recorded process. */
export interface LabAgent {
  name: string;
  rec: AgentRecord;
  proc: LabProcess;
}

const agentName = (a: AgentRecord) => a.node ?? a.site;

export function labAgents(state: LabState): LabAgent[] {
  return state.agents.map((rec) => {
    const name = agentName(rec);
    const proc = state.processes.find((p) => p.name === `agent ${name}`);
    if (!proc) throw new LabError(`the lab's state file has no process for agent ${name}`);
    return { name, rec, proc };
  });
}

type LabAgentState = { appliedRevision?: string; refused?: { revision: string; reason: string; at: string } };

function readState(a: LabAgent): LabAgentState | undefined {
  try {
    return JSON.parse(readFileSync(join(a.rec.stateDir, 'state.json'), 'utf8')) as LabAgentState;
  } catch {
    return undefined; // not written yet, or caught mid-rename
  }
}

/** The agent's last applied desired state (desired.json), to tell whether a revision changed it. */
export function readDesired(a: LabAgent): string | undefined {
  try {
    return JSON.stringify((JSON.parse(readFileSync(join(a.rec.stateDir, 'desired.json'), 'utf8')) as { desired?: unknown }).desired);
  } catch {
    return undefined;
  }
}

export function readRss(pid: number): { rssKb: number; hwmKb: number } | undefined {
  try {
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    const kb = (k: string) => Number(new RegExp(`^${k}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? NaN);
    const rssKb = kb('VmRSS');
    return Number.isFinite(rssKb) ? { rssKb, hwmKb: kb('VmHWM') } : undefined;
  } catch {
    return undefined;
  }
}
export const mb = (kb: number) => (kb * 1024) / 1e6;

export const CLK_TCK = Number(sh('getconf', ['CLK_TCK'], { allowFail: true }).stdout.trim()) || 100;

/** CPU seconds of a process itself (utime+stime) and of its waited-for children (cutime+cstime: evaluate child, git, ssh-keygen). */
function cpuSplit(pid: number): { self: number; children: number } {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return { self: (Number(f[11]) + Number(f[12])) / CLK_TCK, children: (Number(f[13]) + Number(f[14])) / CLK_TCK };
  } catch {
    return { self: 0, children: 0 };
  }
}
export function cpuSeconds(pid: number): number {
  const c = cpuSplit(pid);
  return c.self + c.children;
}
export const cpuByAgent = (agents: LabAgent[]) => new Map(agents.map((a) => [a.name, cpuSplit(a.proc.pid)] as const));

/** Size of each agent's log, to read what it logged from here on. */
export const logOffsets = (agents: LabAgent[]) => new Map(agents.map((a) => [a.name, fileSize(a.proc.log)] as const));
function fileSize(path: string): number {
  try {
    return statSync(path).size;
  } catch {
    return 0;
  }
}

/** The agents' own step timings (debug log lines `step done`) since `from`: per step, summed per agent. */
export function stepTimings(agents: LabAgent[], from: Map<string, number>): Map<string, number[]> {
  const bySteps = new Map<string, number[]>();
  for (const a of agents) {
    let text = '';
    try {
      text = readFileSync(a.proc.log)
        .subarray(from.get(a.name) ?? 0)
        .toString('utf8');
    } catch {
      continue;
    }
    const mine = new Map<string, number>();
    for (const line of text.split('\n')) {
      if (!line.includes('"step done"')) continue;
      try {
        const e = JSON.parse(line) as { step?: string; ms?: number };
        if (e.step && typeof e.ms === 'number') mine.set(e.step, (mine.get(e.step) ?? 0) + e.ms);
      } catch {
        /* not a log line */
      }
    }
    for (const [k, v] of mine) bySteps.set(k, [...(bySteps.get(k) ?? []), v]);
  }
  return bySteps;
}

function logTail(path: string, lines = 8): string {
  try {
    return readFileSync(path, 'utf8').trimEnd().split('\n').slice(-lines).join('\n');
  } catch {
    return '(no log)';
  }
}

/** Until every agent's state.json says `revision` is applied; the time each one did (performance.now()). */
export async function waitAllApplied(agents: LabAgent[], revision: string, timeoutMs: number): Promise<Map<string, number>> {
  const done = new Map<string, number>();
  const end = performance.now() + timeoutMs;
  // A refusal recorded while waiting is the answer too: one the agent could not verify names the bundle's
  // manifest digest, not the revision.
  const refusedBefore = new Map(agents.map((a) => [a.name, readState(a)?.refused?.at]));
  for (;;) {
    for (const a of agents) {
      if (done.has(a.name)) continue;
      const s = readState(a);
      if (s?.appliedRevision === revision) done.set(a.name, performance.now());
      else if (s?.refused && (s.refused.revision === revision || s.refused.at !== refusedBefore.get(a.name))) {
        throw new LabError(`agent ${a.name} refused ${s.refused.revision.slice(0, 19)} while ${revision.slice(0, 12)} was awaited: ${s.refused.reason}`);
      } else if (!isSame(a.proc)) throw new LabError(`agent ${a.name} exited; its log (${a.proc.log}):\n${logTail(a.proc.log)}`);
    }
    if (done.size === agents.length) return done;
    if (performance.now() > end) {
      const pending = agents.filter((a) => !done.has(a.name));
      throw new LabError(
        `${pending.map((a) => a.name).join(', ')} did not apply ${revision.slice(0, 12)} within ${fmtS(timeoutMs)}; ` +
          `${pending[0]!.proc.log}:\n${logTail(pending[0]!.proc.log)}`,
      );
    }
    await sleep(20);
  }
}

/**
 * A commit every agent applies with a changed desired state: every link's persistentKeepalive (both ends'
 * gateways reconfigure their WireGuard peer) alternates 25/24, every region's dialTimeout goes up by one
 * second (its node agents rewrite hosts.toml). Pushed to the lab's origin; the sha and when the push returned
 * (performance.now() and the wall clock, which the agents' and services' logs use).
 */
export function makePusher(state: LabState): () => { sha: string; pushedAt: number; pushedWall: number; files: number } {
  const env = {
    ...process.env,
    GIT_AUTHOR_NAME: 'mirrornet bench',
    GIT_AUTHOR_EMAIL: 'bench@mirrornet.invalid',
    GIT_COMMITTER_NAME: 'mirrornet bench',
    GIT_COMMITTER_EMAIL: 'bench@mirrornet.invalid',
  };
  const git = (args: string[]) => sh('git', ['-c', 'commit.gpgsign=false', ...args], { cwd: state.work, env }).stdout.trim();
  const siteFiles = ['hubs', 'regions'].flatMap((d) =>
    existsSync(join(state.work, d))
      ? readdirSync(join(state.work, d))
          .filter((f) => /\.ya?ml$/.test(f))
          .map((f) => join(state.work, d, f))
      : [],
  );
  let n = 0;
  return () => {
    n++;
    let files = 0;
    for (const f of siteFiles) {
      const text = readFileSync(f, 'utf8');
      const next = text
        .replace(/^(\s*persistentKeepalive:) (\d+)$/gm, (_m, k: string, v: string) => `${k} ${Number(v) === 25 ? 24 : 25}`)
        .replace(/^(\s*dialTimeout:) (\d+)s$/gm, (_m, k: string, v: string) => `${k} ${Number(v) + 1}s`);
      if (next !== text) {
        writeFileSync(f, next);
        files++;
      }
    }
    if (!files) throw new LabError(`no persistentKeepalive or dialTimeout to change in ${state.work}`);
    git(['commit', '-q', '-am', `bench: keepalive and dialTimeout, change ${n}`]);
    git(['push', '-q', state.origin, 'HEAD:main']);
    const pushedAt = performance.now();
    const pushedWall = Date.now();
    const sha = git(['rev-parse', 'HEAD']);
    if (git(['--git-dir', state.origin, 'rev-parse', 'refs/heads/main']) !== sha)
      throw new LabError(`the lab's origin is not at the pushed ${sha.slice(0, 12)}`);
    return { sha, pushedAt, pushedWall, files };
  };
}

/** Sleep until `phase` ms after a multiple of `periodMs` of the wall clock (where the agents' cron ticks). */
export async function untilPhase(periodMs: number, phase: number, skipNext = false): Promise<void> {
  const now = Date.now();
  let target = now - (now % periodMs) + phase;
  if (skipNext) target += periodMs;
  while (target < now + 50) target += periodMs;
  await sleep(target - Date.now());
}

/** The webhook secret the lab gave an agent (`--webhook-secret env:NAME` or `file:/path` under its root). */
export function labWebhookSecret(state: LabState, a: LabAgent): string | undefined {
  const i = a.proc.argv.indexOf('--webhook-secret');
  const ref = i >= 0 ? a.proc.argv[i + 1] : undefined;
  if (!ref) return undefined;
  if (ref.startsWith('env:')) return state.secrets[ref.slice(4)] ?? process.env[ref.slice(4)];
  if (ref.startsWith('file:')) {
    try {
      return readFileSync(join(a.rec.root, ref.slice(5)), 'utf8').trim();
    } catch {
      return undefined;
    }
  }
  return undefined;
}

export async function httpStatus(url: string, init: RequestInit = {}): Promise<{ status: number; body: string } | undefined> {
  try {
    const res = await fetch(url, { ...init, signal: AbortSignal.timeout(5000) });
    return { status: res.status, body: (await res.text()).trim() };
  } catch {
    return undefined;
  }
}

export function signedPush(secret: string, before: string, after: string): { body: string; headers: Record<string, string> } {
  const body = JSON.stringify({ ref: 'refs/heads/main', before, after, repository: { full_name: 'mirrornet/fleet' }, pusher: { name: 'bench' } });
  const signature = `sha256=${createHmac('sha256', secret).update(body).digest('hex')}`;
  return {
    body,
    headers: { 'content-type': 'application/json', 'x-github-event': 'push', 'x-github-delivery': randomUUID(), 'x-hub-signature-256': signature },
  };
}

/**
 * A lab that starts its agents without a webhook secret: restart each with its own recorded arguments plus
 * `--webhook-secret env:...` (the lab's agent environment plus that variable), record the new process in
 * the state file (so `lab down` ends it), and wait until every one is ready again.
 */
export async function restartWithSecret(state: LabState, agents: LabAgent[], secret: string): Promise<void> {
  // Debug level: the agents then log their own step timings (fetch, verify, validate, read, apply, record).
  const env = { ...agentEnv(state.secrets), [BENCH_SECRET_ENV]: secret, MIRRORNET_LOG_LEVEL: 'debug' };
  for (const a of agents) {
    const problems = await stopPids([a.proc]);
    if (problems.length) throw new LabError(`stopping agent ${a.name}: ${problems.join('; ')}`);
    const [cmd, ...args] = a.proc.argv;
    if (!cmd || a.proc.ns) throw new LabError(`agent ${a.name} was not started as a plain process (${a.proc.argv.join(' ')})`);
    const p = spawnDetached({
      name: a.proc.name,
      kind: a.proc.kind,
      cmd,
      args: [...args, '--webhook-secret', `env:${BENCH_SECRET_ENV}`],
      env,
      log: a.proc.log,
    });
    state.processes = state.processes.map((x) => (x === a.proc || (x.pid === a.proc.pid && x.name === a.proc.name) ? p : x));
    saveState(state);
    a.proc = p;
  }
  const end = performance.now() + 60_000;
  for (const a of agents) {
    for (;;) {
      if ((await httpStatus(`http://${a.rec.listen}/readyz`))?.status === 200) break;
      if (!isSame(a.proc)) throw new LabError(`agent ${a.name} exited after its restart; its log (${a.proc.log}):\n${logTail(a.proc.log)}`);
      if (performance.now() > end) throw new LabError(`agent ${a.name} was not ready within 60 s of its restart; ${a.proc.log}:\n${logTail(a.proc.log)}`);
      await sleep(100);
    }
  }
}

export function egressRows(report: RunReport): Row[] {
  return report.regions.map((x) => {
    const ratio = x.mirror.served / x.imageBytes;
    const base = x.baseline.served / x.imageBytes;
    const ok = x.mirror.complete && ratio <= TARGET_RATIO;
    return {
      what: `core egress ${x.region} (${x.nodes} nodes, from ${x.core})`,
      value: x.mirror.complete ? `${ratio.toFixed(2)}x` : 'INCOMPLETE',
      target: `<= ${TARGET_RATIO}x image; baseline ${base.toFixed(2)}x`,
      verdict: verdict(ok),
    };
  });
}
