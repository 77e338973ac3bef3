// What the agent benchmark creates on the machine, and its guaranteed removal: network namespaces, the
// wireguard-go daemons of its interfaces (and their control sockets), child processes, temp dirs. Every
// resource is recorded before it is made; `cleanup()` is synchronous so it also runs from a signal
// handler or the process's 'exit' event, never throws, and returns what it could not remove.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { alive, wireguardGoPids } from '../src/testbed/lab/processes.js';
import { table, type Out, type Row } from './report.js';

// Process checks shared with the lab (agent/src/lab/processes.ts).
export { alive };

export interface ShResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Run a command synchronously; throws with its output when it fails, unless `allowFail`. */
export function sh(
  cmd: string,
  args: string[],
  opts: { allowFail?: boolean; input?: string; cwd?: string; timeoutMs?: number; env?: NodeJS.ProcessEnv } = {},
): ShResult {
  const r = spawnSync(cmd, args, {
    encoding: 'utf8',
    input: opts.input ?? '',
    cwd: opts.cwd,
    env: opts.env ?? process.env,
    timeout: opts.timeoutMs ?? 30_000,
    killSignal: 'SIGKILL',
  });
  const result = { code: r.status ?? 128, stdout: r.stdout ?? '', stderr: (r.stderr ?? '') + (r.error ? `\n${r.error.message}` : '') };
  if (result.code !== 0 && !opts.allowFail)
    throw new Error(`${cmd} ${args.join(' ')} failed (exit ${result.code}): ${result.stderr.trim() || result.stdout.trim()}`);
  return result;
}

/** A child process with piped output, like the agent's own Exec: resolves with its output. */
export function runChild(cmd: string, args: string[]): Promise<ShResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout.on('data', (d: Buffer) => out.push(d));
    child.stderr.on('data', (d: Buffer) => err.push(d));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code: code ?? 128, stdout: Buffer.concat(out).toString('utf8'), stderr: Buffer.concat(err).toString('utf8') }));
  });
}

/** Every process below `pid` (children first-level from /proc, then theirs). */
export function descendants(pid: number): number[] {
  let direct: number[] = [];
  try {
    direct = readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').split(/\s+/).filter(Boolean).map(Number);
  } catch {
    /* gone */
  }
  return direct.flatMap((c) => [c, ...descendants(c)]);
}

function sleepSync(ms: number): void {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

function namespaceExists(ns: string): boolean {
  const r = sh('ip', ['netns', 'list'], { allowFail: true });
  return r.stdout.split('\n').some((l) => l.split(' ')[0] === ns);
}

export class Sandbox {
  private readonly namespaces: string[] = [];
  private readonly tmpDirs: string[] = [];
  private readonly children: ChildProcess[] = [];
  private readonly wgNames = new Set<string>();

  constructor(readonly prefix: string) {}

  tmpDir(label: string): string {
    const dir = mkdtempSync(join(tmpdir(), `${this.prefix}-${label}-`));
    this.tmpDirs.push(dir);
    return dir;
  }

  /** A fresh network namespace with `lo` up. */
  netns(suffix: string): string {
    const ns = `${this.prefix}${suffix}`;
    if (namespaceExists(ns)) throw new Error(`network namespace ${ns} exists already`);
    this.namespaces.push(ns);
    sh('ip', ['netns', 'add', ns]);
    sh('ip', ['-n', ns, 'link', 'set', 'lo', 'up']);
    return ns;
  }

  /** WireGuard interfaces the system under test may create: their wireguard-go and socket go too. */
  wireguard(names: Iterable<string>): void {
    for (const n of names) this.wgNames.add(n);
  }

  child(c: ChildProcess): ChildProcess {
    this.children.push(c);
    return c;
  }

  /** Remove everything; synchronous and never throws. */
  cleanup(): string[] {
    const problems: string[] = [];
    const attempt = (what: string, fn: () => void) => {
      try {
        fn();
      } catch (err) {
        problems.push(`${what}: ${(err as Error).message}`);
      }
    };
    const pids = new Set<number>();
    // A child's own children go too (a command run under GNU time, an agent's validator), so none is orphaned.
    for (const c of this.children) if (c.pid && c.exitCode === null && c.signalCode === null) for (const p of [c.pid, ...descendants(c.pid)]) pids.add(p);
    for (const ns of this.namespaces) {
      const r = sh('ip', ['netns', 'pids', ns], { allowFail: true });
      if (r.code === 0) for (const p of r.stdout.split(/\s+/).filter(Boolean)) pids.add(Number(p));
    }
    for (const pid of wireguardGoPids(this.wgNames)) pids.add(pid);
    for (const pid of pids) attempt(`SIGTERM ${pid}`, () => kill(pid, 'SIGTERM'));
    for (let waited = 0; waited < 3000 && [...pids].some(alive); waited += 50) sleepSync(50);
    for (const pid of pids) if (alive(pid)) attempt(`SIGKILL ${pid}`, () => kill(pid, 'SIGKILL'));
    for (const ns of this.namespaces) {
      attempt(`delete netns ${ns}`, () => {
        if (!namespaceExists(ns)) return;
        // Deleting the links first makes a wireguard-go that survived exit too.
        const links = sh('ip', ['-n', ns, '-j', 'link', 'show'], { allowFail: true });
        if (links.code === 0)
          for (const l of JSON.parse(links.stdout || '[]') as { ifname: string }[])
            if (l.ifname !== 'lo') sh('ip', ['-n', ns, 'link', 'del', l.ifname], { allowFail: true });
        sh('ip', ['netns', 'del', ns]);
      });
    }
    for (const name of this.wgNames) {
      const sock = `/var/run/wireguard/${name}.sock`;
      if (existsSync(sock)) attempt(`remove ${sock}`, () => rmSync(sock, { force: true }));
    }
    for (const dir of this.tmpDirs) attempt(`remove ${dir}`, () => rmSync(dir, { recursive: true, force: true }));
    // Verify.
    for (const ns of this.namespaces) if (namespaceExists(ns)) problems.push(`netns ${ns} is still there`);
    const left = wireguardGoPids(this.wgNames);
    if (left.length) problems.push(`wireguard-go still running: ${left.join(', ')}`);
    for (const pid of pids) if (alive(pid)) problems.push(`process ${pid} is still running`);
    for (const dir of this.tmpDirs) if (existsSync(dir)) problems.push(`${dir} is still there`);
    this.namespaces.length = 0;
    this.tmpDirs.length = 0;
    this.children.length = 0;
    this.wgNames.clear();
    return problems;
  }
}

function kill(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(pid, signal);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ESRCH') throw err;
  }
}

/** What a benchmark part reports: its table rows and its findings. */
export interface PartResult {
  rows: Row[];
  findings: string[];
}

/**
 * Run one benchmark part (`name`) in a sandbox of its own: removed at the end, on an error, on SIGINT/SIGTERM
 * and at exit; its rows and findings printed. 0 unless the part failed (`run` throwing or returning 1) or
 * something could not be removed.
 */
export async function inSandbox(name: string, token: string, out: Out, run: (sb: Sandbox, result: PartResult) => Promise<number | void>): Promise<number> {
  const sb = new Sandbox(`mn${token}`);
  const onSignal = (signal: NodeJS.Signals) => {
    for (const p of sb.cleanup()) process.stderr.write(`bench cleanup: ${p}\n`);
    process.kill(process.pid, signal);
  };
  const onExit = () => void sb.cleanup();
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  process.once('exit', onExit);
  const result: PartResult = { rows: [], findings: [] };
  let code = 0;
  try {
    code = (await run(sb, result)) ?? 0;
  } catch (err) {
    out(`${name} failed: ${(err as Error).message}`);
    code = 1;
  } finally {
    const problems = sb.cleanup();
    process.removeListener('SIGINT', onSignal);
    process.removeListener('SIGTERM', onSignal);
    process.removeListener('exit', onExit);
    if (problems.length) {
      for (const p of problems) out(`cleanup problem: ${p}`);
      code = 1;
    }
  }
  out('');
  table(out, result.rows);
  for (const f of result.findings) out(`finding: ${f}`);
  return code;
}
