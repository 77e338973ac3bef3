// The agent's part of `npm run bench` (issue 3, "Benchmark"), run after the validator benchmark:
//
// 1. No-op reconcile of a gateway with 200 routes and 50 WireGuard peers: a generated core with a WireGuard
//    link to each of 50 IDC regions (3 static routes per link on the core), applied once with the real CLI
//    (`mirrornet apply --netns`; if that hangs or fails, the bench reports why and finishes the apply with the
//    engine functions) in a fresh network namespace; then, in the same run, the median of
//    `planHost` for the core (read + diff; the plan must be empty) against the raw reads it needs, as plain
//    child processes in the same namespace (`ip -j route show` + `wg show <if> dump` per interface).
//    Target <= 1.5x. Where the time goes is profiled per command kind.
// 2. Merge-to-applied latency: a bare git origin, the real CLI agent (`mirrornet agent --roles node`), a
//    pushed commit that changes the region's mirror settings, time until state.json's appliedRevision is
//    the pushed sha: with a signed GitHub push webhook, and with polling alone (pushes spread evenly over the
//    poll interval's phase, so the mean is the true average, ~interval/2 + one reconcile).
// 3. Idle agent RSS (VmRSS from /proc) against the 80 MB target.
//
// Targets print PASS/MISS and never fail the run. Everything it makes (namespace, wireguard-go daemons and
// their sockets, agents, temp dirs) is removed at the end, also on an error or SIGINT/SIGTERM.
import { spawn, type ChildProcess } from 'node:child_process';
import { createHmac, randomBytes, randomUUID } from 'node:crypto';
import { cpSync, existsSync, readFileSync, writeFileSync } from 'node:fs';
import { request } from 'node:http';
import { createServer } from 'node:net';
import { join, relative } from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { hostDeps } from '../src/cli/host.js';
import { compile } from '../src/desired/compile.js';
import type { Desired } from '../src/desired/types.js';
import type { Exec } from '../src/host/exec.js';
import { silentLogger } from '../src/log.js';
import { validateRepo } from '../src/policy/validate.js';
import { applyHost, pendingChanges, planHost, type HostDeps } from '../src/reconcile/engine.js';
import { StateStore, type AgentState } from '../src/reconcile/state.js';
import { generateGatewayFleet, regionFile, type GatewayFleet } from './gateway-fleet.js';
import { alive, runChild, Sandbox, sh, sleep, type ShResult } from './netns.js';
import { median, table, type Out, type Row } from './report.js';

const REGIONS = 50;
const STATIC_PER_REGION = 3;
const PLAN_WARMUP = 2;
const PLAN_REPS = 7;
const PROFILE_RUNS = 3;
const RATIO_TARGET = 1.5;
const WEBHOOK_SAMPLES = 5;
const POLL_INTERVAL_S = 10;
const POLL_SAMPLES = 4;
const RSS_TARGET_MB = 80;
const WEBHOOK_SECRET = randomBytes(16).toString('hex');

const CLI = fileURLToPath(new URL('../../bin/mirrornet.js', import.meta.url));

const fmtMs = (ms: number) => `${ms.toFixed(1)} ms`;
const fmtS = (ms: number) => `${(ms / 1000).toFixed(2)} s`;
const verdict = (ok: boolean) => (ok ? 'PASS' : 'MISS');

const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;

function commandExists(cmd: string): boolean {
  return sh('sh', ['-c', `command -v ${cmd}`], { allowFail: true }).code === 0;
}

// ---- 1. no-op reconcile of a gateway ------------------------------------------------------------

interface GatewayResult {
  rows: Row[];
  findings: string[];
}

function gatewaySkipReason(): string | undefined {
  if (process.getuid?.() !== 0) return 'needs root (network namespaces, WireGuard interfaces)';
  for (const [cmd, pkg] of [
    ['ip', 'iproute2'],
    ['wg', 'wireguard-tools'],
    ['iptables', 'iptables'],
  ] as const) {
    if (!commandExists(cmd)) return `${cmd} is not installed (apt-get install ${pkg})`;
  }
  return undefined;
}

/** WireGuard in the namespace: the kernel's if it has one, else wireguard-go (needs /dev/net/tun). */
function wireguardImplementation(ns: string): { impl?: 'kernel' | 'wireguard-go'; missing?: string } {
  const probe = `mnprobe${process.pid % 100000}`;
  if (sh('ip', ['-n', ns, 'link', 'add', probe, 'type', 'wireguard'], { allowFail: true }).code === 0) {
    sh('ip', ['-n', ns, 'link', 'del', probe], { allowFail: true });
    return { impl: 'kernel' };
  }
  if (!commandExists('wireguard-go')) return { missing: 'no WireGuard kernel module and wireguard-go is not installed (apt-get install wireguard-go)' };
  if (!existsSync('/dev/net/tun')) return { missing: '/dev/net/tun is missing (wireguard-go needs it)' };
  return { impl: 'wireguard-go' };
}

/** The raw reads a no-op reconcile of the gateway needs, as plain child processes in the namespace. */
async function rawReads(ns: string, interfaces: string[]): Promise<number> {
  let bytes = 0;
  const check = (r: ShResult, what: string) => {
    if (r.code !== 0) throw new Error(`${what} failed: ${r.stderr.trim()}`);
    bytes += r.stdout.length;
  };
  check(await runChild('ip', ['netns', 'exec', ns, 'ip', '-j', 'route', 'show']), 'ip -j route show');
  for (const i of interfaces) check(await runChild('ip', ['netns', 'exec', ns, 'wg', 'show', i, 'dump']), `wg show ${i} dump`);
  return bytes;
}

/** The same, plus the two other kinds of state a complete read needs, each in one process. */
async function oneShotReads(ns: string, interfaces: string[]): Promise<number> {
  let bytes = await rawReads(ns, interfaces);
  for (const args of [
    ['ip', '-j', 'link', 'show'],
    ['iptables', '-w', '-t', 'mangle', '-S', 'FORWARD'],
  ]) {
    const r = await runChild('ip', ['netns', 'exec', ns, ...args]);
    if (r.code !== 0) throw new Error(`${args.join(' ')} failed: ${r.stderr.trim()}`);
    bytes += r.stdout.length;
  }
  return bytes;
}

interface Profile {
  byKind: Map<string, { count: number; ms: number }>;
  total: number;
}

/** An Exec that times every command by kind (interface names folded into <if>). */
function timingExec(inner: Exec, interfaces: ReadonlySet<string>, profile: Profile): Exec {
  return {
    ...(inner.netns ? { netns: inner.netns } : {}),
    async run(cmd, args, o) {
      const key = `${cmd} ${args.map((a) => (interfaces.has(a) ? '<if>' : a)).join(' ')}${o?.hostNamespace ? '  (host namespace)' : ''}`;
      const t0 = performance.now();
      try {
        return await inner.run(cmd, args, o);
      } finally {
        const e = profile.byKind.get(key) ?? { count: 0, ms: 0 };
        e.count++;
        e.ms += performance.now() - t0;
        profile.byKind.set(key, e);
      }
    },
  };
}

/** Links + routes in the namespace: grows while an apply makes progress. */
function progressOf(ns: string): number {
  const links = sh('ip', ['-n', ns, '-o', 'link', 'show'], { allowFail: true }).stdout.split('\n').length;
  const routes = sh('ip', ['-n', ns, 'route', 'show'], { allowFail: true }).stdout.split('\n').length;
  return links * 100_000 + routes;
}

/**
 * The Exec the fallback apply uses: the agent's own, with two workarounds for what the CLI apply trips on.
 * wireguard-go daemonizes, and with LOG_LEVEL set it hands its stdout/stderr to the daemon, so waiting for
 * the pipes to close never ends: start it with output on /dev/null and wait for it to exit. `wg set ...
 * private-key /dev/stdin` cannot open /dev/stdin when stdin is Node's socketpair (ENXIO): feed it through a
 * real pipe (`cat | wg ...`) when that happens.
 */
function workaroundExec(inner: Exec, ns: string, findings: string[]): Exec {
  let reported = false;
  return {
    ...(inner.netns ? { netns: inner.netns } : {}),
    async run(cmd, args, o = {}) {
      if (cmd === 'wireguard-go') {
        return new Promise((resolve, reject) => {
          const child = spawn('ip', ['netns', 'exec', ns, cmd, ...args], { stdio: 'ignore', env: { ...process.env, ...o.env } });
          child.on('error', reject);
          child.on('exit', (code) =>
            code === 0 ? resolve({ code: 0, stdout: '', stderr: '' }) : reject(new Error(`wireguard-go ${args.join(' ')} exited ${code}`)),
          );
        });
      }
      try {
        return await inner.run(cmd, args, o);
      } catch (err) {
        if (!args.includes('/dev/stdin') || !/No such device or address/.test((err as Error).message)) throw err;
        if (!reported) {
          reported = true;
          findings.push(
            `\`${cmd} ${args.map((a) => (/^mn[0-9a-f]{8}$/.test(a) ? '<if>' : a)).join(' ')}\` always fails with ` +
              `"${(err as Error).message.replace(/^.*\(exit \d+: /, '').replace(/\)$/, '')}": ` +
              'providers/wireguard/index.ts configure() passes the private key on stdin, ' +
              "but host/exec.ts localExec() gives children Node's stdio pipes, which are socketpairs, " +
              'and open("/dev/stdin") on a socket is ENXIO. So no WireGuard interface can ever be configured by the agent. ' +
              'Fix: write the key to a ' +
              "0600 temp file (and remove it), or pass a real pipe (e.g. `sh -c 'cat | wg set ... private-key /dev/stdin'`).",
          );
        }
        return inner.run('sh', ['-c', 'cat | "$@"', 'sh', cmd, ...args], o);
      }
    },
  };
}

const STALL_MS = 8000;

async function applyOnce(sb: Sandbox, fleet: GatewayFleet, ns: string, findings: string[]): Promise<{ how: string; changes: number }> {
  const args = [CLI, 'apply', '--region', fleet.hub, '--roles', 'gateway', '--repo', fleet.repo, '--root', fleet.root, '--netns', ns, '--format', 'json'];
  const child = sb.child(
    spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, MIRRORNET_LOG_LEVEL: 'error', NO_COLOR: '1' } }),
  );
  let stdout = '';
  let stderr = '';
  child.stdout!.setEncoding('utf8').on('data', (d: string) => (stdout += d));
  child.stderr!.setEncoding('utf8').on('data', (d: string) => (stderr += d));
  const closed = new Promise<number>((resolve) => child.on('close', (code, signal) => resolve(code ?? (signal ? 128 : 1))));
  let last = progressOf(ns);
  let lastChange = performance.now();
  let stalled = false;
  for (;;) {
    const done = await Promise.race([closed, sleep(250).then(() => undefined)]);
    if (done !== undefined) break;
    const now = progressOf(ns);
    if (now !== last) {
      last = now;
      lastChange = performance.now();
    } else if (performance.now() - lastChange > STALL_MS) {
      stalled = true;
      child.kill('SIGKILL');
      await Promise.race([closed, sleep(2000)]);
      break;
    }
  }
  const links = sh('ip', ['-n', ns, '-o', 'link', 'show'], { allowFail: true }).stdout.trim().split('\n').length - 1;
  if (!stalled) {
    const code = await closed;
    if (code === 0) {
      try {
        return { how: 'mirrornet apply --netns', changes: Number((JSON.parse(stdout) as { applied?: number }).applied ?? 0) };
      } catch {
        throw new Error(`mirrornet apply printed no JSON plan: ${stdout.slice(0, 500)}`);
      }
    }
    findings.push(
      `\`mirrornet apply --netns\` on ${fleet.hub} exited ${code} after creating ${links} interface(s): ` +
        `${stderr.trim().split('\n').slice(-3).join(' ').slice(0, 600)}`,
    );
  } else
    findings.push(
      `\`mirrornet apply --netns\` with wireguard-go hangs: it made no progress for ${STALL_MS / 1000} s after creating ${links} interface(s) ` +
        'and was killed. providers/wireguard/index.ts createLink() starts wireguard-go with LOG_LEVEL=error; ' +
        'wireguard-go then hands its stdout/stderr to the daemon it forks, ' +
        "so host/exec.ts localExec(), which resolves on the child's 'close' (all pipes closed), never returns (no timeoutMs either): " +
        'the first apply on a host without the kernel module blocks forever, holding the state lock. ' +
        "Fix: start wireguard-go with stdio 'ignore' (or LOG_LEVEL unset/silent), or resolve on 'exit' for daemonizing commands.",
    );
  // Finish the apply with the engine functions and a wireguard-go launcher that does not wait for pipes.
  const report = validateRepo(fleet.repo);
  const desired = compile(report.fleet, fleet.hub, ['gateway']);
  const store = new StateStore(join(fleet.root, 'var/lib/mirrornet'));
  const state = await store.load();
  const base = hostDeps({ region: fleet.hub, roles: 'gateway', repo: fleet.repo, root: fleet.root, netns: ns, format: 'text' }, silentLogger());
  const deps: HostDeps = { ...base, exec: workaroundExec(base.exec, ns, findings) };
  const plan = await planHost(desired, 'bench', deps, state);
  const result = await applyHost(plan, desired, deps, store, state);
  if (result.error) throw new Error(`applying ${result.error.provider} failed: ${result.error.error.message}`);
  state.site = desired.site;
  state.appliedRevision = 'bench';
  await store.save(state);
  return { how: `mirrornet apply (${stalled ? 'hung, killed' : 'failed'}), then applyHost with workarounds,`, changes: result.applied.length };
}

async function gatewayBench(sb: Sandbox, fleet: GatewayFleet, out: Out): Promise<GatewayResult> {
  const findings: string[] = [];
  const ns = sb.netns('g');
  const wg = wireguardImplementation(ns);
  if (!wg.impl) throw new SkipError(wg.missing!);
  sb.wireguard(fleet.interfaces);

  // Apply once with the real CLI; if it hangs or fails, say why and finish with the engine functions.
  const t0 = performance.now();
  const applied = await applyOnce(sb, fleet, ns, findings);
  const applyMs = performance.now() - t0;
  const routes = JSON.parse(sh('ip', ['-n', ns, '-j', 'route', 'show']).stdout || '[]') as { protocol?: string | number; dev?: string }[];
  const ours = routes.filter((r) => String(r.protocol) === '157').length;
  const peers = fleet.interfaces.reduce(
    (n, i) => n + Math.max(0, sh('ip', ['netns', 'exec', ns, 'wg', 'show', i, 'dump']).stdout.trim().split('\n').length - 1),
    0,
  );
  out(
    `gateway ${fleet.hub} in netns ${ns} (${wg.impl}): ${applied.how} applied ${applied.changes} changes in ${fmtS(applyMs)} -> ` +
      `${ours} routes (proto 157), ${fleet.interfaces.length} interfaces, ${peers} peers`,
  );
  if (ours !== fleet.hubRoutes || peers !== fleet.interfaces.length)
    findings.push(`after apply the namespace holds ${ours} mirrornet routes and ${peers} peers, expected ${fleet.hubRoutes} and ${fleet.interfaces.length}`);

  // The reconcile's own inputs, as the agent has them after that apply.
  const report = validateRepo(fleet.repo);
  const desired: Desired = compile(report.fleet, fleet.hub, ['gateway']);
  const state: AgentState = await new StateStore(join(fleet.root, 'var/lib/mirrornet')).load();
  const deps: HostDeps = hostDeps({ region: fleet.hub, roles: 'gateway', repo: fleet.repo, root: fleet.root, netns: ns, format: 'text' }, silentLogger());

  let pendingReported = false;
  const plan = async (d: HostDeps = deps) => {
    const p = await planHost(desired, 'bench', d, state);
    const pending = pendingChanges(p);
    if (pending.length && !pendingReported) {
      pendingReported = true;
      findings.push(
        `the plan right after apply is not empty (${pending.length} pending): ${pending
          .slice(0, 5)
          .map((c) => `${c.provider} ${c.action} ${c.id}: ${c.reason}`)
          .join('; ')}`,
      );
    }
    return p.changes.length;
  };

  for (let i = 0; i < PLAN_WARMUP; i++) {
    await plan();
    await rawReads(ns, fleet.interfaces);
  }
  const planMs: number[] = [];
  const rawMs: number[] = [];
  const oneShotMs: number[] = [];
  for (let i = 0; i < PLAN_REPS; i++) {
    let t = performance.now();
    await plan();
    planMs.push(performance.now() - t);
    t = performance.now();
    await rawReads(ns, fleet.interfaces);
    rawMs.push(performance.now() - t);
    t = performance.now();
    await oneShotReads(ns, fleet.interfaces);
    oneShotMs.push(performance.now() - t);
  }
  const p = median(planMs);
  const r = median(rawMs);
  const o = median(oneShotMs);
  const ratio = p / r;

  // Where the time goes: every command the read spawns, by kind.
  const profile: Profile = { byKind: new Map(), total: 0 };
  const timed: HostDeps = { ...deps, exec: timingExec(deps.exec, new Set(fleet.interfaces), profile) };
  for (let i = 0; i < PROFILE_RUNS; i++) {
    const t = performance.now();
    await plan(timed);
    profile.total += performance.now() - t;
  }
  const perPlan = (x: number) => x / PROFILE_RUNS;
  const kinds = [...profile.byKind.entries()].sort((a, b) => b[1].ms - a[1].ms);
  const processes = kinds.reduce((n, [, e]) => n + e.count, 0) / PROFILE_RUNS;
  const execMs = kinds.reduce((n, [, e]) => n + e.ms, 0);
  out(
    `no-op plan profile (mean of ${PROFILE_RUNS} plans, ${fmtMs(perPlan(profile.total))} each, ` +
      `${processes} child processes vs ${1 + fleet.interfaces.length} for the raw reads):`,
  );
  for (const [key, e] of kinds) {
    out(
      `  ${String(e.count / PROFILE_RUNS).padStart(4)} x ${key.padEnd(58)} ${fmtMs(perPlan(e.ms)).padStart(9)}  ` +
        `(${fmtMs(e.ms / e.count)} each, ${((100 * e.ms) / profile.total).toFixed(0)}%)`,
    );
  }
  out(
    `       in-process (diff, secrets, parsing, logging)${' '.repeat(13)}${fmtMs(perPlan(profile.total - execMs)).padStart(9)}  ` +
      `(${((100 * (profile.total - execMs)) / profile.total).toFixed(0)}%)`,
  );

  const rows: Row[] = [
    { what: `no-op reconcile: planHost, ${fleet.hubRoutes} routes + ${fleet.interfaces.length} peers`, value: fmtMs(p) },
    { what: `raw reads: ip -j route show + ${fleet.interfaces.length}x wg show dump`, value: fmtMs(r) },
    { what: 'no-op reconcile / raw reads', value: `${ratio.toFixed(2)}x`, target: `<= ${RATIO_TARGET}x`, verdict: verdict(ratio <= RATIO_TARGET) },
    { what: '  (raw reads + 1 ip -j link show + 1 iptables -S)', value: `${fmtMs(o)} = ${(o / r).toFixed(2)}x` },
  ];
  if (ratio > RATIO_TARGET) {
    const byCmd = (re: RegExp) =>
      kinds.filter(([k]) => re.test(k)).reduce((a, [, e]) => ({ count: a.count + e.count / PROFILE_RUNS, ms: a.ms + perPlan(e.ms) }), { count: 0, ms: 0 });
    const link = byCmd(/^ip -j link show dev <if>/);
    const pub = byCmd(/^wg pubkey/);
    const ipt = byCmd(/^iptables /);
    const n = fleet.interfaces.length;
    findings.push(
      `no-op reconcile is ${ratio.toFixed(2)}x the raw reads (${fmtMs(p)} vs ${fmtMs(r)}): planHost spawns ${processes} processes for ${1 + n} reads. ` +
        `providers/wireguard/index.ts read() runs one \`ip -j link show dev <if>\` per interface (${link.count} processes, ${fmtMs(link.ms)}) ` +
        'where one `ip -j link show` (or `ip -j link show type wireguard`) lists them all, ' +
        `and one \`wg pubkey\` per interface (${pub.count} processes, ${fmtMs(pub.ms)}, outside the namespace) to derive the desired public key, ` +
        `although all ${n} interfaces of this core share one private key file: derive it in-process (X25519 via node:crypto) or cache it per key. ` +
        `The MSS read (\`iptables -S\`, ${ipt.count} process, ${fmtMs(ipt.ms)}) is one process and fine. ` +
        'With one link listing and no pubkey processes the read would be ' +
        `the raw reads + 2 processes, measured here at ${fmtMs(o)} (${(o / r).toFixed(2)}x).`,
    );
  }
  return { rows, findings };
}

class SkipError extends Error {}

// ---- 2. merge-to-applied latency and 3. idle RSS ---------------------------------------------------

interface RunningAgent {
  child: ChildProcess;
  port: number;
  log: () => string;
  /** The reconcile steps the agent logged at debug level ('step done'). */
  steps: { step: string; ms: number }[];
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
  });
}

function httpRequest(
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

function readRss(pid: number): { rssKb: number; hwmKb: number } | undefined {
  try {
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    const kb = (name: string) => Number(new RegExp(`^${name}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? NaN);
    return { rssKb: kb('VmRSS'), hwmKb: kb('VmHWM') };
  } catch {
    return undefined;
  }
}

/** Reconcile duration histogram of the agent (its own /metrics): sum and count. */
async function reconcileMetrics(port: number): Promise<{ sum: number; count: number }> {
  const res = await httpRequest(port, 'GET', '/metrics');
  const num = (name: string) => Number(new RegExp(`^${name}(?:\\{[^}]*\\})? ([0-9.e+-]+)$`, 'm').exec(res.body)?.[1] ?? NaN);
  return { sum: num('mirrornet_reconcile_duration_seconds_sum'), count: num('mirrornet_reconcile_duration_seconds_count') };
}

async function latencyBench(sb: Sandbox, fleet: GatewayFleet, out: Out): Promise<{ rows: Row[]; findings: string[] }> {
  const findings: string[] = [];
  const rows: Row[] = [];
  const base = sb.tmpDir('agent');
  const origin = join(base, 'origin.git');
  const work = join(base, 'work');
  const root = join(base, 'root');
  const region = fleet.regions[0]!;
  const git = (cwd: string, args: string[]) =>
    sh(
      'git',
      ['-c', 'user.name=mirrornet bench', '-c', 'user.email=bench@mirrornet.invalid', '-c', 'commit.gpgsign=false', '-c', 'init.defaultBranch=main', ...args],
      { cwd },
    ).stdout.trim();

  cpSync(fleet.repo, work, { recursive: true });
  sh('git', ['init', '-q', '--bare', '-b', 'main', origin]);
  git(work, ['init', '-q', '-b', 'main']);
  git(work, ['add', '-A']);
  git(work, ['commit', '-q', '-m', 'bench fleet']);
  git(work, ['remote', 'add', 'origin', origin]);
  git(work, ['push', '-q', 'origin', 'HEAD:main']);
  let sha = git(work, ['rev-parse', 'HEAD']);
  const statePath = join(root, 'var/lib/mirrornet/state.json');
  const file = join(work, relative(fleet.repo, regionFile(fleet, region)));
  let dial = 2;

  /** Change the region's mirror settings (containerd dial_timeout), commit and push; the time the push returned. */
  const pushChange = (): { sha: string; pushedAt: number } => {
    dial++;
    const text = readFileSync(file, 'utf8');
    const next = text.replace(/^ {2}dialTimeout: \d+s$/m, `  dialTimeout: ${dial}s`);
    if (next === text) throw new Error(`no dialTimeout in ${file}`);
    writeFileSync(file, next);
    git(work, ['commit', '-q', '-am', `${region}: dialTimeout ${dial}s`]);
    git(work, ['push', '-q', 'origin', 'HEAD:main']);
    const pushedAt = performance.now();
    return { sha: git(work, ['rev-parse', 'HEAD']), pushedAt };
  };

  const startAgent = async (interval: string, level = 'info'): Promise<RunningAgent> => {
    const port = await freePort();
    const args = [
      CLI,
      'agent',
      '--region',
      region,
      '--roles',
      'node',
      '--repo-url',
      origin,
      '--root',
      root,
      '--interval',
      interval,
      '--listen',
      `127.0.0.1:${port}`,
      '--webhook-secret',
      'env:SECRET',
      '--dragonfly-restart',
      'true',
    ];
    const child = sb.child(
      spawn(process.execPath, args, {
        stdio: ['ignore', 'pipe', 'pipe'],
        env: { ...process.env, SECRET: WEBHOOK_SECRET, MIRRORNET_LOG_FORMAT: 'json', MIRRORNET_LOG_LEVEL: level, NO_COLOR: '1' },
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
  };

  const exited = (a: RunningAgent) => a.child.exitCode !== null || a.child.signalCode !== null;

  /** Until state.json says `revision` is applied; the time it did. */
  const waitApplied = async (a: RunningAgent, revision: string, timeoutMs: number): Promise<number> => {
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
  };

  const waitReady = async (a: RunningAgent, timeoutMs: number) => {
    const end = performance.now() + timeoutMs;
    for (;;) {
      const r = await httpRequest(a.port, 'GET', '/readyz').catch(() => undefined);
      if (r?.status === 200) return;
      if (exited(a)) throw new Error(`the agent exited (${a.child.exitCode ?? a.child.signalCode}):\n${a.log().slice(-3000)}`);
      if (performance.now() > end) throw new Error(`the agent was not ready within ${fmtS(timeoutMs)}:\n${a.log().slice(-3000)}`);
      await sleep(20);
    }
  };

  const stopAgent = async (a: RunningAgent, label: string) => {
    if (exited(a)) return;
    const t0 = performance.now();
    a.child.kill('SIGTERM');
    const end = t0 + 8000;
    while (!exited(a) && performance.now() < end) await sleep(20);
    if (!exited(a)) {
      findings.push(`the ${label} agent did not exit within 8 s of SIGTERM (killed)`);
      a.child.kill('SIGKILL');
      while (a.child.pid && alive(a.child.pid)) await sleep(20);
    } else if (a.child.exitCode !== 0) {
      findings.push(`the ${label} agent exited ${a.child.exitCode ?? a.child.signalCode} on SIGTERM`);
    }
  };

  // --- with the webhook (interval 30s, so polling does not help) ---
  const hooked = await startAgent('30s', 'debug');
  const startedAt = performance.now();
  const firstApplied = await waitApplied(hooked, sha, 30_000);
  const rssFirst = readRss(hooked.child.pid!);
  await waitReady(hooked, 10_000);
  out(
    `agent ${region} (roles node, pid ${hooked.child.pid}): first revision applied ${fmtS(firstApplied - startedAt)} after start ` +
      '(clone, validate, compile, apply)',
  );
  const webhookMs: number[] = [];
  const stepsBefore = hooked.steps.length;
  for (let i = 0; i < WEBHOOK_SAMPLES; i++) {
    const before = sha;
    const pushed = pushChange();
    sha = pushed.sha;
    const body = JSON.stringify({ ref: 'refs/heads/main', before, after: sha, repository: { full_name: 'mirrornet/fleet' }, pusher: { name: 'bench' } });
    const signature = `sha256=${createHmac('sha256', WEBHOOK_SECRET).update(body).digest('hex')}`;
    const res = await httpRequest(
      hooked.port,
      'POST',
      '/hooks/github',
      { 'content-type': 'application/json', 'x-github-event': 'push', 'x-github-delivery': randomUUID(), 'x-hub-signature-256': signature },
      body,
    );
    if (res.status !== 202) throw new Error(`the webhook answered ${res.status} ${res.body.trim()}`);
    webhookMs.push((await waitApplied(hooked, sha, 20_000)) - pushed.pushedAt);
    await sleep(150);
  }
  out(`merge-to-applied with webhook: ${webhookMs.map((m) => fmtMs(m)).join(', ')}`);
  const bySteps = new Map<string, number>();
  for (const { step, ms } of hooked.steps.slice(stepsBefore)) bySteps.set(step, (bySteps.get(step) ?? 0) + ms / WEBHOOK_SAMPLES);
  if (bySteps.size) {
    const stepTotal = [...bySteps.values()].reduce((a, b) => a + b, 0);
    out(
      "  per push (mean, the agent's own step timings): " +
        `${[...bySteps].map(([k, v]) => `${k === 'fetch' ? 'fetch (ls-remote + fetch + checkout)' : k} ${fmtMs(v)}`).join(', ')}; ` +
        `the other ${fmtMs(mean(webhookMs) - stepTotal)} are the webhook request, lock, state files and this bench's 5 ms state polling`,
    );
  }
  rows.push({
    what: `merge-to-applied, signed webhook (${WEBHOOK_SAMPLES} pushes)`,
    value: `${fmtS(median(webhookMs))}`,
    target: `median; ${fmtS(Math.min(...webhookMs))}..${fmtS(Math.max(...webhookMs))}`,
  });

  // Idle: nothing to do since the last push.
  await sleep(2000);
  const rssHooked = readRss(hooked.child.pid!);
  await stopAgent(hooked, 'webhook');

  // --- polling alone (interval 10s); pushes at evenly spread phases of the interval ---
  const intervalMs = POLL_INTERVAL_S * 1000;
  const poller = await startAgent(`${POLL_INTERVAL_S}s`);
  await waitReady(poller, 30_000);
  const m0 = await reconcileMetrics(poller.port);
  const pollMs: number[] = [];
  const scheduleWait: number[] = [];
  let m1: { sum: number; count: number } | undefined;
  for (let k = 0; k < POLL_SAMPLES; k++) {
    const phase = ((k + 0.5) / POLL_SAMPLES) * intervalMs;
    const now = Date.now();
    let target = now - (now % intervalMs) + phase;
    // The first push waits for one idle tick to pass (to measure it); later ones only for their phase.
    if (k === 0) target = now - (now % intervalMs) + intervalMs + phase;
    while (target < now + 50) target += intervalMs;
    await sleep(target - Date.now());
    if (k === 0) m1 = await reconcileMetrics(poller.port);
    const pushed = pushChange();
    const at = Date.now() % intervalMs;
    scheduleWait.push(intervalMs - at);
    pollMs.push((await waitApplied(poller, pushed.sha, intervalMs + 20_000)) - pushed.pushedAt);
    sha = pushed.sha;
  }
  out(`merge-to-applied by polling every ${POLL_INTERVAL_S}s: ${pollMs.map((m, i) => `${fmtS(m)} (next tick in ${fmtS(scheduleWait[i]!)})`).join(', ')}`);
  rows.push({
    what: `merge-to-applied, polling ${POLL_INTERVAL_S}s (${POLL_SAMPLES} pushes)`,
    value: fmtS(mean(pollMs)),
    target: `mean; ~${fmtS(intervalMs / 2)} + reconcile (tick wait ${fmtS(mean(scheduleWait))})`,
  });
  if (m1 && m1.count > m0.count) {
    const idleMs = ((m1.sum - m0.sum) / (m1.count - m0.count)) * 1000;
    rows.push({ what: 'idle reconcile tick (agent histogram)', value: fmtMs(idleMs), target: `${m1.count - m0.count} tick(s), no new revision` });
  }
  await sleep(1000);
  const rssPoller = readRss(poller.child.pid!);
  await stopAgent(poller, 'polling');

  // --- 3. idle RSS, next to a bare Node process for scale ---
  const bare = sb.child(spawn(process.execPath, ['-e', 'setTimeout(() => undefined, 30000)'], { stdio: 'ignore' }));
  await sleep(500);
  const rssBare = readRss(bare.pid!);
  bare.kill('SIGKILL');
  const mb = (kb: number) => (kb * 1024) / 1e6;
  const fmtMb = (r: { rssKb: number } | undefined) => (r ? `${mb(r.rssKb).toFixed(1)} MB` : 'n/a');
  out(
    `agent RSS: ${fmtMb(rssFirst)} right after its first apply, ${fmtMb(rssHooked)} idle after ${WEBHOOK_SAMPLES} more; ` +
      `${fmtMb(rssPoller)} for the polling agent; a bare \`node -e\` (${process.version}) is ${fmtMb(rssBare)}`,
  );
  let worst = 0;
  for (const [label, rss] of [
    [`after ${WEBHOOK_SAMPLES} webhook applies`, rssHooked],
    [`after ${POLL_SAMPLES} polled applies + idle ticks`, rssPoller],
  ] as const) {
    if (!rss) {
      findings.push(`could not read the agent's RSS ${label}`);
      continue;
    }
    const v = mb(rss.rssKb);
    worst = Math.max(worst, v);
    rows.push({
      what: `idle agent RSS ${label}`,
      value: `${v.toFixed(1)} MB`,
      target: `<= ${RSS_TARGET_MB} MB (peak ${mb(rss.hwmKb).toFixed(1)} MB)`,
      verdict: verdict(v <= RSS_TARGET_MB),
    });
  }
  if (worst > RSS_TARGET_MB) {
    findings.push(
      `idle agent RSS is up to ${worst.toFixed(1)} MB (target ${RSS_TARGET_MB} MB): Node alone is ${fmtMb(rssBare)}, ` +
        `the agent is at ${fmtMb(rssFirst)} right after its first apply and keeps what it grew to while applying later revisions ` +
        `(${fmtMb(rssHooked)} after ${WEBHOOK_SAMPLES} more, measured idle).`,
    );
  }
  return { rows, findings };
}

// ---- entry ------------------------------------------------------------------------------------------

/** Runs the agent benchmarks; 0 unless the benchmark itself could not run properly. */
export async function runAgentBench(out: Out = (s) => process.stdout.write(`${s}\n`)): Promise<number> {
  const token = `b${process.pid.toString(36)}${randomBytes(1).toString('hex')}`.slice(0, 10);
  const sb = new Sandbox(`mn${token}`);
  let cleaned = false;
  const cleanup = () => {
    if (cleaned) return [];
    cleaned = true;
    return sb.cleanup();
  };
  const onSignal = (signal: NodeJS.Signals) => {
    const problems = cleanup();
    for (const p of problems) process.stderr.write(`bench cleanup: ${p}\n`);
    process.kill(process.pid, signal);
  };
  const onExit = () => void cleanup();
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  process.once('exit', onExit);

  const rows: Row[] = [];
  const findings: string[] = [];
  let code = 0;
  try {
    out('');
    out(
      `agent bench: gateway with ${REGIONS * (1 + STATIC_PER_REGION)} routes and ${REGIONS} WireGuard peers ` +
        `(${PLAN_REPS} timed repetitions after ${PLAN_WARMUP} warm-up runs, medians); merge-to-applied; idle RSS`,
    );
    const fleetDir = sb.tmpDir('fleet');
    const fleet = generateGatewayFleet(join(fleetDir, 'repo'), join(fleetDir, 'root'), { token, regions: REGIONS, staticRoutesPerRegion: STATIC_PER_REGION });
    const report = validateRepo(fleet.repo);
    out(
      `generated core ${fleet.hub} + ${fleet.regions.length} IDC regions over WireGuard, ${REGIONS * STATIC_PER_REGION} static routes ` +
        `(keys from ${fleet.keySource}): validate: ${report.errors.length} errors, ${report.warnings.length} warnings`,
    );
    if (!report.valid) {
      for (const f of report.errors.slice(0, 10)) out(`  ${f.file}:${f.line}:${f.column} ${f.rule} ${f.message}`);
      out('agent bench: the generated fleet is not valid: fix agent/bench/gateway-fleet.ts.');
      return 1;
    }

    const skip = gatewaySkipReason();
    if (skip) {
      out(`gateway no-op reconcile: skipped: ${skip}`);
      rows.push({ what: 'no-op reconcile / raw reads', value: 'skipped', target: skip });
    } else {
      try {
        const g = await gatewayBench(sb, fleet, out);
        rows.push(...g.rows);
        findings.push(...g.findings);
      } catch (err) {
        if (!(err instanceof SkipError)) throw err;
        out(`gateway no-op reconcile: skipped: ${err.message}`);
        rows.push({ what: 'no-op reconcile / raw reads', value: 'skipped', target: err.message });
      }
    }

    if (!commandExists('git')) {
      out('merge-to-applied and idle RSS: skipped: git is not installed');
    } else {
      const l = await latencyBench(sb, fleet, out);
      rows.push(...l.rows);
      findings.push(...l.findings);
    }
  } catch (err) {
    out(`agent bench failed: ${(err as Error).message}`);
    code = 1;
  } finally {
    const problems = cleanup();
    process.removeListener('SIGINT', onSignal);
    process.removeListener('SIGTERM', onSignal);
    process.removeListener('exit', onExit);
    if (problems.length) {
      for (const p of problems) out(`cleanup problem: ${p}`);
      code = 1;
    }
  }
  out('');
  table(out, rows);
  for (const f of findings) out(`finding: ${f}`);
  if (!code) out('cleanup: namespace, wireguard-go daemons and sockets, agents and temp dirs removed');
  return code;
}

// `node agent/dist/bench/agent.js`: the agent part alone.
if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) process.exitCode = await runAgentBench();
