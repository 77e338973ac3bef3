// A real `mirrornet agent` for the benchmarks: a bare git origin holding a generated fleet, the CLI agent
// started on it (its output kept), and what a benchmark asks of it — is it ready, has it applied a revision,
// how much memory does it hold, plain HTTP to its listener — and its stop. Shared by the agent benchmark
// (merge-to-applied, idle RSS) and the trust benchmark (slow clients, a hanging hook).
import { spawn, type ChildProcess } from 'node:child_process';
import { cpSync, readFileSync, writeFileSync } from 'node:fs';
import { request } from 'node:http';
import { createServer } from 'node:net';
import { join, relative } from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { AGENT_NODE_FLAGS } from '../src/cli/agent.js';
import { alive, sh, sleep, type Sandbox } from './netns.js';

const CLI = fileURLToPath(new URL('../../bin/mirrornet.js', import.meta.url));

export const fmtS = (ms: number) => `${(ms / 1000).toFixed(2)} s`;

export interface RunningAgent {
  child: ChildProcess;
  port: number;
  log: () => string;
  /** The reconcile steps the agent logged at debug level ('step done'). */
  steps: { step: string; ms: number }[];
}

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
  });
}

export function httpRequest(
  port: number,
  method: string,
  path: string,
  headers: Record<string, string> = {},
  body?: string,
): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request(
      {
        host: '127.0.0.1',
        port,
        method,
        path,
        headers: { ...headers, ...(body !== undefined ? { 'content-length': String(Buffer.byteLength(body)) } : {}) },
        agent: false,
        timeout: 5000,
      },
      (res) => {
        let text = '';
        res.setEncoding('utf8').on('data', (d: string) => (text += d));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body: text }));
      },
    );
    req.on('timeout', () => req.destroy(new Error(`${method} ${path} timed out`)));
    req.on('error', reject);
    req.end(body);
  });
}

export function readRss(pid: number): { rssKb: number; hwmKb: number } | undefined {
  try {
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    const kb = (name: string) => Number(new RegExp(`^${name}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? NaN);
    return { rssKb: kb('VmRSS'), hwmKb: kb('VmHWM') };
  } catch {
    return undefined;
  }
}

/** Reconcile duration histogram of the agent (its own /metrics): sum and count. */
export async function reconcileMetrics(port: number): Promise<{ sum: number; count: number }> {
  const res = await httpRequest(port, 'GET', '/metrics');
  const num = (name: string) => Number(new RegExp(`^${name}(?:\\{[^}]*\\})? ([0-9.e+-]+)$`, 'm').exec(res.body)?.[1] ?? NaN);
  return { sum: num('mirrornet_reconcile_duration_seconds_sum'), count: num('mirrornet_reconcile_duration_seconds_count') };
}

/** A generated fleet pushed to a bare origin, and a region file in a work tree to change and push again. */
export class FleetOrigin {
  readonly origin: string;
  readonly work: string;
  readonly root: string;
  readonly statePath: string;
  sha: string;
  private dial = 2;
  private readonly regionFile: string;

  constructor(sb: Sandbox, fleetRepo: string, regionFile: string) {
    const base = sb.tmpDir('agent');
    this.origin = join(base, 'origin.git');
    this.work = join(base, 'work');
    this.root = join(base, 'root');
    this.statePath = join(this.root, 'var/lib/mirrornet/state.json');
    cpSync(fleetRepo, this.work, { recursive: true });
    this.regionFile = join(this.work, relative(fleetRepo, regionFile));
    sh('git', ['init', '-q', '--bare', '-b', 'main', this.origin]);
    this.git(['init', '-q', '-b', 'main']);
    this.git(['add', '-A']);
    this.git(['commit', '-q', '-m', 'bench fleet']);
    this.git(['remote', 'add', 'origin', this.origin]);
    this.git(['push', '-q', 'origin', 'HEAD:main']);
    this.sha = this.git(['rev-parse', 'HEAD']);
  }

  private git(args: string[]): string {
    return sh(
      'git',
      ['-c', 'user.name=mirrornet bench', '-c', 'user.email=bench@mirrornet.invalid', '-c', 'commit.gpgsign=false', '-c', 'init.defaultBranch=main', ...args],
      { cwd: this.work },
    ).stdout.trim();
  }

  /** Change the region's mirror settings (containerd dial_timeout), commit and push; the time the push returned. */
  pushChange(): { sha: string; pushedAt: number } {
    this.dial++;
    return this.pushReplace(/^ {2}dialTimeout: \d+s$/m, `  dialTimeout: ${this.dial}s`);
  }

  /** Replace `pattern` in the region file, commit and push; the time the push returned. */
  pushReplace(pattern: RegExp, replacement: string): { sha: string; pushedAt: number } {
    const text = readFileSync(this.regionFile, 'utf8');
    const next = text.replace(pattern, replacement);
    if (next === text) throw new Error(`${String(pattern)} changes nothing in ${this.regionFile}`);
    writeFileSync(this.regionFile, next);
    this.git(['commit', '-q', '-am', `bench: ${replacement.trim()}`]);
    this.git(['push', '-q', 'origin', 'HEAD:main']);
    const pushedAt = performance.now();
    this.sha = this.git(['rev-parse', 'HEAD']);
    return { sha: this.sha, pushedAt };
  }
}

export interface AgentOptions {
  region: string;
  interval: string;
  level?: string;
  /** The webhook secret's value (given to the agent as env:SECRET). */
  webhookSecret: string;
  /** The --dragonfly-restart command (default `true`). */
  dragonflyRestart?: string;
  extraArgs?: string[];
}

/** `mirrornet agent --roles node` of one region on the origin, listening on a free port. */
export async function startAgent(sb: Sandbox, fleet: FleetOrigin, o: AgentOptions): Promise<RunningAgent> {
  const port = await freePort();
  const args = [
    ...AGENT_NODE_FLAGS,
    CLI,
    'agent',
    '--region',
    o.region,
    '--roles',
    'node',
    '--repo-url',
    fleet.origin,
    '--root',
    fleet.root,
    '--interval',
    o.interval,
    '--listen',
    `127.0.0.1:${port}`,
    '--webhook-secret',
    'env:SECRET',
    '--dragonfly-restart',
    o.dragonflyRestart ?? 'true',
    ...(o.extraArgs ?? []),
  ];
  const child = sb.child(
    spawn(process.execPath, args, {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, SECRET: o.webhookSecret, MIRRORNET_LOG_FORMAT: 'json', MIRRORNET_LOG_LEVEL: o.level ?? 'info', NO_COLOR: '1' },
    }),
  );
  let tail = '';
  let partial = '';
  const steps: RunningAgent['steps'] = [];
  const keep = (d: string) => {
    tail = (tail + d).slice(-20_000);
    const lines = (partial + d).split('\n');
    partial = lines.pop() ?? '';
    for (const line of lines) {
      if (!line.includes('"step done"')) continue;
      try {
        const e = JSON.parse(line) as { step?: string; ms?: number };
        if (e.step && typeof e.ms === 'number') steps.push({ step: e.step, ms: e.ms });
      } catch {
        /* not a log line */
      }
    }
  };
  child.stdout!.setEncoding('utf8').on('data', keep);
  child.stderr!.setEncoding('utf8').on('data', keep);
  return { child, port, log: () => tail, steps };
}

const exited = (a: RunningAgent) => a.child.exitCode !== null || a.child.signalCode !== null;

/** Until state.json says `revision` is applied; the time it did. */
export async function waitApplied(a: RunningAgent, statePath: string, revision: string, timeoutMs: number): Promise<number> {
  const end = performance.now() + timeoutMs;
  for (;;) {
    let text = '';
    try {
      text = readFileSync(statePath, 'utf8');
    } catch {
      /* not written yet */
    }
    if (text) {
      try {
        const s = JSON.parse(text) as { appliedRevision?: string; refused?: { revision: string; reason: string } };
        if (s.appliedRevision === revision) return performance.now();
        if (s.refused?.revision === revision) throw new Error(`the agent refused ${revision.slice(0, 12)}: ${s.refused.reason}`);
      } catch (err) {
        if (!(err instanceof SyntaxError)) throw err;
      }
    }
    if (exited(a)) throw new Error(`the agent exited (${a.child.exitCode ?? a.child.signalCode}):\n${a.log().slice(-3000)}`);
    if (performance.now() > end) throw new Error(`${revision.slice(0, 12)} was not applied within ${fmtS(timeoutMs)}; agent log:\n${a.log().slice(-3000)}`);
    await sleep(5);
  }
}

/** Until `path` answers `status`; the time it did. */
export async function waitStatus(a: RunningAgent, path: string, status: number, timeoutMs: number, pollMs = 20): Promise<number> {
  const end = performance.now() + timeoutMs;
  for (;;) {
    const r = await httpRequest(a.port, 'GET', path).catch(() => undefined);
    if (r?.status === status) return performance.now();
    if (exited(a)) throw new Error(`the agent exited (${a.child.exitCode ?? a.child.signalCode}):\n${a.log().slice(-3000)}`);
    if (performance.now() > end) throw new Error(`${path} did not answer ${status} within ${fmtS(timeoutMs)}:\n${a.log().slice(-3000)}`);
    await sleep(pollMs);
  }
}

export const waitReady = (a: RunningAgent, timeoutMs: number) => waitStatus(a, '/readyz', 200, timeoutMs);

/** SIGTERM, then SIGKILL after 8 s; what went wrong, if anything, for the findings. */
export async function stopAgent(a: RunningAgent, label: string): Promise<string | undefined> {
  if (exited(a)) return undefined;
  const t0 = performance.now();
  a.child.kill('SIGTERM');
  const end = t0 + 8000;
  while (!exited(a) && performance.now() < end) await sleep(20);
  if (!exited(a)) {
    a.child.kill('SIGKILL');
    while (a.child.pid && alive(a.child.pid)) await sleep(20);
    return `the ${label} agent did not exit within 8 s of SIGTERM (killed)`;
  }
  if (a.child.exitCode !== 0) return `the ${label} agent exited ${a.child.exitCode ?? a.child.signalCode} on SIGTERM`;
  return undefined;
}
