// What the lab makes on the machine, and its removal: network namespaces, veths (inside them), child
// processes (agents, registries, containerd, the emulators, the regions' peers), the wireguard-go daemons
// the agents start, their control sockets, and the lab directory. Every resource is recorded in the state
// file `<dir>/lab.json` BEFORE it is made, so `lab down` removes everything also after a crash. Processes
// are ended by pid, only when their start time still matches the one recorded (a reused pid is left alone).
import type { BundleRecord } from './delivery.js';
import { MirrornetError } from '../../errors.js';
import { spawn, spawnSync } from 'node:child_process';
import { closeSync, existsSync, mkdirSync, openSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync, fsyncSync } from 'node:fs';
import { dirname, join } from 'node:path';
import type { LabLink } from './fleet.js';
import type { OperatorRecord } from './site-tree.js';
import type { LabTopology } from './topology.js';

const STATE_FILE = 'lab.json';

export interface ShResult {
  code: number;
  stdout: string;
  stderr: string;
}

export class LabError extends MirrornetError {}

/** Run a command synchronously; throws with its output when it fails, unless `allowFail`. */
export function sh(
  cmd: string,
  args: string[],
  opts: { allowFail?: boolean; input?: string; timeoutMs?: number; env?: NodeJS.ProcessEnv; cwd?: string } = {},
): ShResult {
  const r = spawnSync(cmd, args, {
    encoding: 'utf8',
    input: opts.input ?? '',
    timeout: opts.timeoutMs ?? 30_000,
    killSignal: 'SIGKILL',
    env: opts.env ?? process.env,
    ...(opts.cwd ? { cwd: opts.cwd } : {}),
  });
  const result = { code: r.status ?? 128, stdout: r.stdout ?? '', stderr: (r.stderr ?? '') + (r.error ? `\n${r.error.message}` : '') };
  if (result.code !== 0 && !opts.allowFail)
    throw new LabError(`\`${cmd} ${args.join(' ')}\` failed (exit ${result.code}): ${result.stderr.trim() || result.stdout.trim()}`);
  return result;
}

/** Run a command asynchronously (the event loop keeps serving); resolves with its output, never rejects. */
export function run(cmd: string, args: string[], opts: { timeoutMs?: number; env?: NodeJS.ProcessEnv } = {}): Promise<ShResult & { ms: number }> {
  const started = Date.now();
  return new Promise((resolve) => {
    let child;
    try {
      child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'], env: opts.env ?? process.env });
    } catch (err) {
      resolve({ code: 127, stdout: '', stderr: (err as Error).message, ms: 0 });
      return;
    }
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout.on('data', (d: Buffer) => out.push(d));
    child.stderr.on('data', (d: Buffer) => err.push(d));
    const timer = setTimeout(() => child.kill('SIGKILL'), opts.timeoutMs ?? 120_000);
    child.on('error', (e) => {
      clearTimeout(timer);
      resolve({ code: 127, stdout: '', stderr: e.message, ms: Date.now() - started });
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolve({
        code: code ?? (signal ? 128 : 1),
        stdout: Buffer.concat(out).toString('utf8'),
        stderr: Buffer.concat(err).toString('utf8'),
        ms: Date.now() - started,
      });
    });
  });
}

export function inNs(ns: string, cmd: string, args: string[], opts: Parameters<typeof sh>[2] = {}): ShResult {
  return sh('ip', ['netns', 'exec', ns, cmd, ...args], opts);
}

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

// ---- processes --------------------------------------------------------------------------------------

type ProcessKind = 'services' | 'agent' | 'node-agent' | 'registry' | 'peer' | 'containerd';

export interface LabProcess {
  /** e.g. `agent ap-singapore`, `containerd ap-jakarta-n1`. */
  name: string;
  kind: ProcessKind;
  pid: number;
  /** Process start time (clock ticks after boot, /proc/<pid>/stat field 22): tells a reused pid apart. */
  start?: string;
  ns?: string;
  log: string;
  argv: string[];
}

/** Start time of a process, or undefined when it is gone. */
export function processStart(pid: number): string | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19];
  } catch {
    return undefined;
  }
}

/** Alive and not a zombie. */
export function alive(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const state = stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3);
    return state !== 'Z' && state !== 'X';
  } catch {
    return false;
  }
}

/** The recorded process is still that process (same pid and start time) and running. */
export function isSame(p: Pick<LabProcess, 'pid' | 'start'>): boolean {
  if (!alive(p.pid)) return false;
  return !p.start || processStart(p.pid) === p.start;
}

function signal(pid: number, sig: NodeJS.Signals): void {
  try {
    process.kill(pid, sig);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ESRCH') throw err;
  }
}

/** SIGTERM, up to `graceMs`, then SIGKILL; only pids that are still the recorded processes. */
export async function stopPids(list: Pick<LabProcess, 'pid' | 'start'>[], graceMs = 5000): Promise<string[]> {
  const problems: string[] = [];
  const live = list.filter(isSame);
  for (const p of live) {
    try {
      signal(p.pid, 'SIGTERM');
    } catch (err) {
      problems.push(`SIGTERM ${p.pid}: ${(err as Error).message}`);
    }
  }
  const until = Date.now() + graceMs;
  while (Date.now() < until && live.some(isSame)) await sleep(50);
  for (const p of live) {
    if (!isSame(p)) continue;
    try {
      signal(p.pid, 'SIGKILL');
    } catch (err) {
      problems.push(`SIGKILL ${p.pid}: ${(err as Error).message}`);
    }
  }
  const killUntil = Date.now() + 3000;
  while (Date.now() < killUntil && live.some(isSame)) await sleep(50);
  for (const p of live) if (isSame(p)) problems.push(`process ${p.pid} is still running`);
  return problems;
}

export function argvOf(pid: number): string[] {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').filter(Boolean);
  } catch {
    return [];
  }
}

function pids(): number[] {
  return readdirSync('/proc')
    .filter((e) => /^\d+$/.test(e))
    .map(Number);
}

/** Processes whose argv is exactly `wireguard-go <name>` for one of `names`. */
export function wireguardGoPids(names: ReadonlySet<string>): number[] {
  if (!names.size) return [];
  return pids().filter((pid) => {
    const argv = argvOf(pid);
    return argv.length === 2 && /(^|\/)wireguard-go$/.test(argv[0]!) && names.has(argv[1]!) && alive(pid);
  });
}

/**
 * Processes the lab started that the state file may have missed (a crash between spawn and save): every
 * one names a path under the lab directory in its arguments (its root, state dir, config or socket).
 */
export function pidsUsingDir(dir: string): number[] {
  const prefix = `${dir.replace(/\/+$/, '')}/`;
  return pids().filter((pid) => {
    if (pid === process.pid || !alive(pid)) return false;
    const argv = argvOf(pid);
    return isLabProgram(argv) && argv.some((a) => a.startsWith(prefix) || a.includes(`=${prefix}`));
  });
}

const LAB_SCRIPTS = /(^|\/)(bin\/mirrornet\.js|lab\/(peer|services|registry-tool|push-hook)\.js|reconcile\/evaluate-child\.js)$/;
const LAB_BINARIES = /(^|\/)(docker-registry|containerd|ctr|wireguard-go)$/;

/**
 * A program the lab runs: the mirrornet CLI (agents), the lab's scripts, the registries, containerd, ctr,
 * wireguard-go (directly or through `ip netns exec`). Anything else (a user's shell or `tail -f` of a lab
 * log) is never ended by the lab.
 */
export function isLabProgram(argv: readonly string[]): boolean {
  let a = [...argv];
  if (a[0] && /(^|\/)ip$/.test(a[0]) && a[1] === 'netns' && a[2] === 'exec') a = a.slice(4);
  if (!a[0]) return false;
  if (LAB_BINARIES.test(a[0])) return true;
  return /(^|\/)node(js)?$/.test(a[0]) && a.slice(1).some((x) => LAB_SCRIPTS.test(x));
}

export interface SpawnSpec {
  name: string;
  kind: ProcessKind;
  cmd: string;
  args: string[];
  /** Run inside this network namespace (`ip netns exec` execs the command: same pid). */
  ns?: string;
  env?: NodeJS.ProcessEnv;
  cwd?: string;
  log: string;
}

/** Start a long-running process that outlives the lab command (its own session, output to a log file). */
export function spawnDetached(spec: SpawnSpec): LabProcess {
  mkdirSync(dirname(spec.log), { recursive: true });
  const fd = openSync(spec.log, 'a', 0o600);
  const [file, argv] = spec.ns ? ['ip', ['netns', 'exec', spec.ns, spec.cmd, ...spec.args]] : [spec.cmd, spec.args];
  try {
    const child = spawn(file, argv, { detached: true, stdio: ['ignore', fd, fd], env: spec.env ?? process.env, ...(spec.cwd ? { cwd: spec.cwd } : {}) });
    if (!child.pid) throw new LabError(`could not start ${spec.name} (${spec.cmd})`);
    child.unref();
    child.on('error', () => undefined);
    const start = processStart(child.pid);
    return {
      name: spec.name,
      kind: spec.kind,
      pid: child.pid,
      ...(start ? { start } : {}),
      ...(spec.ns ? { ns: spec.ns } : {}),
      log: spec.log,
      argv: [file, ...argv],
    };
  } finally {
    closeSync(fd);
  }
}

// ---- namespaces ---------------------------------------------------------------------------------------

export function namespaceExists(ns: string): boolean {
  return existsSync(`/run/netns/${ns}`) || existsSync(`/var/run/netns/${ns}`);
}

export function listNamespaces(): string[] {
  const r = sh('ip', ['netns', 'list'], { allowFail: true });
  return r.stdout
    .split('\n')
    .map((l) => l.split(' ')[0]!)
    .filter(Boolean);
}

export function createNamespace(ns: string): void {
  sh('ip', ['netns', 'add', ns]);
  sh('ip', ['-n', ns, 'link', 'set', 'lo', 'up']);
}

/** Delete a namespace: its links first (a wireguard-go that survived exits when its tun goes). */
export function deleteNamespace(ns: string): void {
  if (!namespaceExists(ns)) return;
  const links = sh('ip', ['-n', ns, '-j', 'link', 'show'], { allowFail: true });
  if (links.code === 0) {
    let list: { ifname: string }[] = [];
    try {
      list = JSON.parse(links.stdout || '[]') as { ifname: string }[];
    } catch {
      list = [];
    }
    for (const l of list) if (l.ifname !== 'lo') sh('ip', ['-n', ns, 'link', 'del', l.ifname], { allowFail: true });
  }
  const r = sh('ip', ['netns', 'del', ns], { allowFail: true });
  if (r.code !== 0 && !/No such file/.test(r.stderr)) throw new LabError(`ip netns del ${ns}: ${r.stderr.trim()}`);
}

export function namespacePids(ns: string): number[] {
  const r = sh('ip', ['netns', 'pids', ns], { allowFail: true });
  return r.code === 0 ? r.stdout.split(/\s+/).filter(Boolean).map(Number) : [];
}

// ---- the state file -------------------------------------------------------------------------------------

export interface AgentRecord {
  site: string;
  /** `gateway` (the site's gateway, + hub on cores) or a node of a region. */
  role: 'gateway' | 'node';
  node?: string;
  roles: string;
  root: string;
  stateDir: string;
  listen: string;
}

export interface NodeRecord {
  site: string;
  name: string;
  root: string;
  hostsDir: string;
  socket: string;
}

interface ServicesRecord {
  vpcUrl: string;
  harbors: Record<string, { url: string; instance: string }>;
  /** The lab's GitHub emulator (commit statuses), when the lab reports to it. */
  githubUrl?: string;
  /** The lab's chat receiver, when the lab's agents send chat. */
  chatUrl?: string;
  /** Bundle delivery: where the cores' registries send their notifications (on the host address). */
  eventsPort?: number;
}

/** What the agents report to (the lab's local receivers); nothing when absent. */
interface ReportRecord {
  /** Commit statuses: the repository the gateway agents name (--github-repo). */
  github?: { repo: string };
  /** Chat: the channels of the lab's notifications policy, and the receiver's delivery log. */
  chat?: { channels: string[]; log: string };
}

export interface LabState {
  version: 1;
  dir: string;
  prefix: string;
  createdAt: string;
  /** `starting` while up runs, `up` once everything answered. */
  phase: 'starting' | 'up';
  /** The repository the lab was made from. */
  repo: string;
  /** The lab's bare origin the agents pull from, and its working tree. */
  origin: string;
  work: string;
  peer: 'dfproxy' | 'registry';
  namespaces: string[];
  /** WireGuard interfaces the agents create: their wireguard-go and control socket go at down. */
  wireguard: string[];
  processes: LabProcess[];
  topology?: LabTopology;
  links?: LabLink[];
  agents: AgentRecord[];
  nodes: NodeRecord[];
  services?: ServicesRecord;
  /** Harbor admin password and other generated secrets (the file is 0600). */
  secrets: Record<string, string>;
  /**
   * How `up` ran, for sites added later: the agents' interval, nodes per region; whether a push to the origin
   * is a push webhook to the agents (its post-receive hook reads it on every push).
   */
  options?: { interval: string; nodes: number; pushWebhook?: boolean };
  report?: ReportRecord;
  /** `bundle` delivery: who publishes, with which key; absent: every agent follows the git origin. */
  bundle?: BundleRecord;
  /** The site tree's operator: the key `mirrornet status|suspend|resume|reconcile` sign with, the cores' --operators file. */
  operator?: OperatorRecord;
  /** Sites made lab-ready (`labPrepareSite`) and not added yet: their slot (WAN address, veth name). */
  pending?: Record<string, { slot: number }>;
}

export function statePath(dir: string): string {
  return join(dir, STATE_FILE);
}

export function loadState(dir: string): LabState | undefined {
  const path = statePath(dir);
  if (!existsSync(path)) return undefined;
  try {
    const s = JSON.parse(readFileSync(path, 'utf8')) as LabState;
    if (s.version !== 1) throw new Error('unknown version');
    return s;
  } catch (cause) {
    throw new LabError(
      `The lab state ${path} cannot be read (${(cause as Error).message}); \`mirrornet lab down --dir ${dir}\` still removes what it can find.`,
      { cause },
    );
  }
}

/** Written atomically (temp file, fsync, rename), mode 0600: it holds the lab's generated secrets. */
export function saveState(state: LabState): void {
  mkdirSync(state.dir, { recursive: true, mode: 0o700 });
  const path = statePath(state.dir);
  const tmp = `${path}.tmp-${process.pid}`;
  writeFileSync(tmp, `${JSON.stringify(state, null, 2)}\n`, { mode: 0o600 });
  const fd = openSync(tmp, 'r');
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  renameSync(tmp, path);
}

/** Remove the lab directory, but only one the lab made (it holds the state file) or an empty one. */
export function removeLabDir(dir: string): string[] {
  if (!existsSync(dir)) return [];
  const entries = readdirSync(dir);
  if (entries.length && !entries.includes(STATE_FILE)) return [`${dir} does not look like a lab directory (no ${STATE_FILE}); left alone`];
  // Nothing may stay mounted below it (containerd snapshots, if a node ever mounted one).
  const mounts = readFileSync('/proc/self/mounts', 'utf8')
    .split('\n')
    .map((l) => l.split(' ')[1] ?? '')
    .filter((m) => m.startsWith(`${dir.replace(/\/+$/, '')}/`));
  for (const m of mounts.sort().reverse()) sh('umount', ['-l', m], { allowFail: true });
  try {
    rmSync(dir, { recursive: true, force: true });
  } catch (err) {
    return [`remove ${dir}: ${(err as Error).message}`];
  }
  return [];
}
