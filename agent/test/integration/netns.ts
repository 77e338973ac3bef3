// Network namespaces, veth pairs and child processes for the real-network integration tests, with
// guaranteed cleanup: everything a Lab makes is recorded before it is made, and `cleanup()` (called from
// `after`, also when a test failed) removes it again — the processes in its namespaces (wireguard-go,
// servers), their control sockets, the namespaces and the temp dirs. Names carry a per-run prefix
// (`mnt<pid><letter>`), so parallel runs and leftovers of a crashed run never clash.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { alive, wireguardGoPids } from '../../src/testbed/lab/processes.js';

// Process checks shared with the lab (agent/src/lab/processes.ts).
export { alive, wireguardGoPids };

export interface Result {
  code: number;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

/** Run a command synchronously; throws with its output when it fails, unless `allowFail`. */
export function sh(cmd: string, args: string[], opts: { allowFail?: boolean; input?: string; timeoutMs?: number } = {}): Result {
  const r = spawnSync(cmd, args, { encoding: 'utf8', input: opts.input ?? '', timeout: opts.timeoutMs ?? 15_000, killSignal: 'SIGKILL' });
  const result: Result = { code: r.status ?? 128, signal: r.signal, stdout: r.stdout ?? '', stderr: r.stderr ?? '' };
  if (r.error) result.stderr += `\n${r.error.message}`;
  if (result.code !== 0 && !opts.allowFail) {
    throw new Error(`${cmd} ${args.join(' ')} failed (exit ${result.code}${r.signal ? `, ${r.signal}` : ''}): ${result.stderr.trim() || result.stdout.trim()}`);
  }
  return result;
}

/** `ip netns exec NS cmd args...` */
export function inNs(ns: string, cmd: string, args: string[], opts: { allowFail?: boolean; input?: string; timeoutMs?: number } = {}): Result {
  return sh('ip', ['netns', 'exec', ns, cmd, ...args], opts);
}

/** Run a command asynchronously; on timeout it is killed with SIGKILL and the result says so. */
export function run(
  cmd: string,
  args: string[],
  opts: { timeoutMs?: number; env?: NodeJS.ProcessEnv; onSpawn?: (child: ChildProcess) => void } = {},
): Promise<Result & { timedOut: boolean }> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { env: opts.env ?? process.env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    let timedOut = false;
    let settled = false;
    child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    const timer = setTimeout(() => {
      timedOut = true;
      child.kill('SIGKILL');
    }, opts.timeoutMs ?? 20_000);
    const finish = (code: number | null, signal: NodeJS.Signals | null) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      resolve({ code: code ?? 128, signal, stdout, stderr, timedOut });
    };
    child.on('error', (err) => {
      clearTimeout(timer);
      if (!settled) reject(err);
      settled = true;
    });
    // 'close' waits for the pipes; a grandchild that keeps them open must not hang the test after the
    // child itself exited, so 'exit' settles too after a grace period.
    child.on('close', finish);
    child.on('exit', (code, signal) => setTimeout(() => finish(code, signal), 500).unref());
    opts.onSpawn?.(child);
  });
}

let labs = 0;

export class Lab {
  /** `mnt<pid><letter>`: unique per Lab and run, short enough for `<prefix>xy` interface names. */
  readonly prefix: string;
  private readonly namespaces: string[] = [];
  private readonly tmpDirs: string[] = [];
  private readonly children: ChildProcess[] = [];
  /** WireGuard interface names the system under test may create: their wireguard-go and socket go too. */
  private readonly wgNames = new Set<string>();

  constructor(prefix = `mnt${process.pid}${String.fromCharCode(97 + (labs++ % 26))}`) {
    this.prefix = prefix;
  }

  /** A network namespace `<prefix><suffix>` with `lo` up; a leftover of the same name is removed first. */
  netns(suffix: string): string {
    const ns = `${this.prefix}${suffix}`;
    if (ns.length > 30) throw new Error(`namespace name ${ns} is too long`);
    this.namespaces.push(ns);
    if (
      sh('ip', ['netns', 'list'])
        .stdout.split('\n')
        .some((l) => l.split(' ')[0] === ns)
    )
      removeNamespace(ns);
    sh('ip', ['netns', 'add', ns]);
    sh('ip', ['-n', ns, 'link', 'set', 'lo', 'up']);
    return ns;
  }

  /** A veth pair between two namespaces, each end with its address (CIDR notation) and up. */
  veth(a: { ns: string; name: string; address: string }, b: { ns: string; name: string; address: string }): void {
    for (const end of [a, b]) if (end.name.length > 15) throw new Error(`interface name ${end.name} is longer than 15 characters`);
    sh('ip', ['link', 'add', a.name, 'netns', a.ns, 'type', 'veth', 'peer', 'name', b.name, 'netns', b.ns]);
    for (const end of [a, b]) {
      sh('ip', ['-n', end.ns, 'addr', 'add', end.address, 'dev', end.name]);
      sh('ip', ['-n', end.ns, 'link', 'set', end.name, 'up']);
    }
  }

  /** An address on `lo` (e.g. 10.128.0.10/32): a LAN address that is local but puts no prefix on-link. */
  loopbackAddress(ns: string, address: string): void {
    sh('ip', ['-n', ns, 'addr', 'add', address, 'dev', 'lo']);
  }

  tmpDir(label: string): string {
    const dir = mkdtempSync(join(tmpdir(), `${this.prefix}-${label}-`));
    this.tmpDirs.push(dir);
    return dir;
  }

  /** Remember a WireGuard interface name so cleanup removes its wireguard-go and control socket. */
  wireguard(name: string): void {
    this.wgNames.add(name);
  }

  /** A long-running child process inside a namespace (e.g. an HTTP server); killed by cleanup. */
  spawnIn(ns: string, cmd: string, args: string[]): ChildProcess {
    const child = spawn('ip', ['netns', 'exec', ns, cmd, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    this.children.push(child);
    return child;
  }

  /** Remove everything; never throws, so one failing step does not keep the rest. */
  async cleanup(): Promise<string[]> {
    const problems: string[] = [];
    const attempt = (what: string, fn: () => void) => {
      try {
        fn();
      } catch (err) {
        problems.push(`${what}: ${(err as Error).message}`);
      }
    };
    for (const child of this.children) {
      if (child.exitCode === null && child.signalCode === null) attempt('kill child', () => child.kill('SIGKILL'));
    }
    // Everything still running inside our namespaces was started by this run (wireguard-go, servers).
    const pids = new Set<number>();
    for (const ns of this.namespaces) {
      const r = sh('ip', ['netns', 'pids', ns], { allowFail: true });
      if (r.code === 0) for (const p of r.stdout.split(/\s+/).filter(Boolean)) pids.add(Number(p));
    }
    // wireguard-go of our interfaces that ended up outside the namespaces (matched by exact argv).
    for (const pid of wireguardGoPids(this.wgNames)) pids.add(pid);
    for (const pid of pids) attempt(`SIGTERM ${pid}`, () => signal(pid, 'SIGTERM'));
    await waitFor(() => [...pids].every((p) => !alive(p)), 2_000);
    for (const pid of pids) if (alive(pid)) attempt(`SIGKILL ${pid}`, () => signal(pid, 'SIGKILL'));
    for (const ns of this.namespaces) attempt(`delete netns ${ns}`, () => removeNamespace(ns));
    for (const name of this.wgNames) {
      const sock = `/var/run/wireguard/${name}.sock`;
      if (existsSync(sock)) attempt(`remove ${sock}`, () => rmSync(sock, { force: true }));
    }
    for (const dir of this.tmpDirs) attempt(`remove ${dir}`, () => rmSync(dir, { recursive: true, force: true }));
    this.namespaces.length = 0;
    this.tmpDirs.length = 0;
    this.children.length = 0;
    return problems;
  }
}

function removeNamespace(ns: string): void {
  // Deleting the links first makes wireguard-go exit even if a process outside kept the namespace alive.
  const links = sh('ip', ['-n', ns, '-j', 'link', 'show'], { allowFail: true });
  if (links.code === 0) {
    for (const l of JSON.parse(links.stdout || '[]') as { ifname: string }[]) {
      if (l.ifname !== 'lo') sh('ip', ['-n', ns, 'link', 'del', l.ifname], { allowFail: true });
    }
  }
  const r = sh('ip', ['netns', 'del', ns], { allowFail: true });
  if (r.code !== 0 && !/No such file/.test(r.stderr)) throw new Error(r.stderr.trim());
}

function signal(pid: number, sig: NodeJS.Signals): void {
  try {
    process.kill(pid, sig);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ESRCH') throw err;
  }
}

export async function waitFor(cond: () => boolean, timeoutMs: number, stepMs = 50): Promise<boolean> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    if (cond()) return true;
    if (Date.now() > end) return false;
    await new Promise((r) => setTimeout(r, stepMs));
  }
}
