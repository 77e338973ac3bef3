// The agent benchmark's first part (`npm run bench`, issue 3): a no-op reconcile of a gateway with 200 routes
// and 50 WireGuard peers. A generated core with a WireGuard link to each of 50 IDC regions (3 static routes
// per link on the core) is applied once with the real CLI (`mirrornet apply --netns`; if that hangs or fails,
// the bench reports why and finishes the apply with the engine functions) in a fresh network namespace; then,
// in the same run, the median of `planHost` for the core (read + diff; the plan must be empty) against the raw
// reads it needs, as plain child processes in the same namespace (`ip -j route show` + `wg show <if> dump` per
// interface). Target <= 1.5x. Where the time goes is profiled per command kind.
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { hostDeps } from '../src/cli/host.js';
import { compile } from '../src/desired/compile.js';
import type { Desired } from '../src/desired/types.js';
import type { Exec } from '../src/host/exec.js';
import { silentLogger } from '../src/log.js';
import { validateRepo } from '../src/policy/validate.js';
import { applyHost, pendingChanges, planHost, type HostDeps } from '../src/reconcile/engine.js';
import { StateStore, type AgentState } from '../src/reconcile/state.js';
import type { GatewayFleet } from './gateway-fleet.js';
import { fmtS } from './agent-process.js';
import { runChild, sh, sleep, type Sandbox, type ShResult } from './netns.js';
import { median, type Out, type Row } from './report.js';

export const PLAN_WARMUP = 2;
export const PLAN_REPS = 7;
const PROFILE_RUNS = 3;
const RATIO_TARGET = 1.5;

const CLI = fileURLToPath(new URL('../../bin/mirrornet.js', import.meta.url));

const fmtMs = (ms: number) => `${ms.toFixed(1)} ms`;
const verdict = (ok: boolean) => (ok ? 'PASS' : 'MISS');

export function commandExists(cmd: string): boolean {
  return sh('sh', ['-c', `command -v ${cmd}`], { allowFail: true }).code === 0;
}

interface GatewayResult {
  rows: Row[];
  findings: string[];
}

export function gatewaySkipReason(): string | undefined {
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

export async function gatewayBench(sb: Sandbox, fleet: GatewayFleet, out: Out): Promise<GatewayResult> {
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

export class SkipError extends Error {}
