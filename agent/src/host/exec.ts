// Running host commands (ip, wg, iptables, reload hooks), optionally inside a network namespace.
// The one place that spawns processes (git excepted: source/git.ts reads binary output); everything else
// gets an Exec passed in. Every command is bounded by a timeout.
import { MirrornetError } from '../errors.js';
import { spawn } from 'node:child_process';
import { constants } from 'node:fs';
import { access, stat } from 'node:fs/promises';
import { join } from 'node:path';

export interface ExecResult {
  code: number;
  stdout: string;
  stderr: string;
}

interface ExecOptions {
  input?: string;
  env?: Record<string, string>;
  /** Return a non-zero exit as a result instead of throwing. */
  allowFail?: boolean;
  /** Run outside the namespace even when the Exec has one (e.g. reload commands of host services). */
  hostNamespace?: boolean;
  /** A reload/restart hook, by the name of its flag (`dragonfly-restart`): what /healthz names while it runs. */
  hook?: string;
  /** Kill the command (and every process it started) after this long; default DEFAULT_TIMEOUT_MS. */
  timeoutMs?: number;
}

/** No host command may stall the agent: one that runs longer is killed with its whole process group. */
const DEFAULT_TIMEOUT_MS = 120_000;

export interface Exec {
  readonly netns?: string;
  run(cmd: string, args: string[], opts?: ExecOptions): Promise<ExecResult>;
}

/** The Debian package of each program mirrornet runs, for the sentence that says what to install. */
const PACKAGE_OF: Record<string, string> = {
  ip: 'iproute2',
  wg: 'wireguard-tools',
  'wireguard-go': 'wireguard-go',
  iptables: 'iptables',
  git: 'git',
  sh: 'dash',
  ss: 'iproute2',
  containerd: 'containerd',
};

/** What to install for a program that is missing: `Install wireguard-tools (Debian: apt-get install wireguard-tools)`. */
export function installAdvice(program: string): string {
  const pkg = PACKAGE_OF[program];
  return `Install ${pkg ? `${pkg} (Debian: apt-get install ${pkg})` : 'it'}`;
}

/** Where `program` is in a PATH (the first executable file of that name), as a shell would find it; undefined when nowhere. */
export async function findInPath(program: string, path = process.env['PATH'] ?? ''): Promise<string | undefined> {
  for (const dir of path.split(':').filter(Boolean)) {
    const file = join(dir, program);
    const s = await stat(file).catch(() => undefined);
    if (!s?.isFile()) continue;
    if (
      await access(file, constants.X_OK).then(
        () => true,
        () => false,
      )
    )
      return file;
  }
  return undefined;
}

/** A command that cannot start, or (inside a network namespace: `ip netns exec` runs it) that is not there: what to install. */
function notRunnable(spawned: string, cause: unknown, result: ExecResult | undefined, inner: string): string | undefined {
  const code = (cause as NodeJS.ErrnoException | undefined)?.code;
  const missing = code === 'ENOENT' ? spawned : result && /exec of "([^"]+)" failed: No such file or directory/.exec(result.stderr)?.[1];
  if (missing) {
    const why = inner === missing ? '' : ` (it runs ${inner} inside the network namespace)`;
    return `${missing} is not installed on this host (not found in PATH)${why}. ${installAdvice(missing)}.`;
  }
  if (code === 'EACCES') return `${spawned} cannot be run (permission denied): check that it is executable by the user the agent runs as.`;
  return undefined;
}

export class CommandError extends MirrornetError {
  /** Set when the command was killed for running longer than this. */
  readonly timedOutAfterMs: number | undefined;
  constructor(
    readonly cmd: string,
    readonly args: string[],
    readonly result: ExecResult | undefined,
    /** `spawned`: the program started, when it is not `cmd` (`ip` for `ip netns exec NS cmd`). */
    /** `stopped`: killed because the agent is stopping. */
    opts?: { cause?: unknown; timedOutAfterMs?: number; spawned?: string; stopped?: boolean },
  ) {
    const what = `${cmd} ${args.join(' ')}`.trim();
    const missing = opts?.timedOutAfterMs === undefined && !opts?.stopped ? notRunnable(opts?.spawned ?? cmd, opts?.cause, result, cmd) : undefined;
    const detail = opts?.stopped
      ? 'it was stopped because the agent is stopping; the next start runs it again if it is still needed'
      : opts?.timedOutAfterMs !== undefined
        ? `it did not finish within ${opts.timedOutAfterMs / 1000} s and was killed`
        : result
          ? `exit ${result.code}: ${result.stderr.trim() || result.stdout.trim()}`
          : String((opts?.cause as Error)?.message ?? 'could not start');
    super(missing ? `The command \`${what}\` cannot run: ${missing}` : `The command \`${what}\` failed (${detail}).`, {
      cause: opts?.cause,
      message: `${what} failed (${detail})`,
    });
    this.timedOutAfterMs = opts?.timedOutAfterMs;
  }
}

/**
 * Commands run on this host. When `stop` is aborted (the agent is stopping), every command still running is
 * killed with everything it started, and no new one starts.
 */
export function localExec(opts: { netns?: string; stop?: AbortSignal } = {}): Exec {
  const { netns, stop } = opts;
  return {
    ...(netns ? { netns } : {}),
    run(cmd, args, o = {}) {
      const [file, argv] = netns && !o.hostNamespace ? ['ip', ['netns', 'exec', netns, cmd, ...args]] : [cmd, args];
      if (stop?.aborted) return Promise.reject(new CommandError(cmd, args, undefined, { stopped: true }));
      return new Promise<ExecResult>((resolve, reject) => {
        let child;
        try {
          // Its own process group, so a timeout kills what a hook started too (a shell's children keep the
          // output pipes open and would keep the agent waiting).
          child = spawn(file, argv, { env: { ...process.env, ...o.env }, stdio: ['pipe', 'pipe', 'pipe'], detached: true });
        } catch (cause) {
          reject(new CommandError(cmd, args, undefined, { cause, spawned: file }));
          return;
        }
        const out: Buffer[] = [];
        const err: Buffer[] = [];
        const timeoutMs = o.timeoutMs ?? DEFAULT_TIMEOUT_MS;
        let timedOut = false;
        let stopped = false;
        const killGroup = () => {
          try {
            process.kill(-child.pid!, 'SIGKILL');
          } catch {
            child.kill('SIGKILL');
          }
        };
        const timer = setTimeout(() => {
          timedOut = true;
          killGroup();
        }, timeoutMs);
        const onStop = () => {
          stopped = true;
          killGroup();
        };
        stop?.addEventListener('abort', onStop, { once: true });
        child.stdout.on('data', (d: Buffer) => out.push(d));
        child.stderr.on('data', (d: Buffer) => err.push(d));
        child.on('error', (cause) => {
          clearTimeout(timer);
          stop?.removeEventListener('abort', onStop);
          reject(new CommandError(cmd, args, undefined, { cause, spawned: file }));
        });
        child.on('close', (code, signal) => {
          clearTimeout(timer);
          stop?.removeEventListener('abort', onStop);
          const result = { code: code ?? (signal ? 128 : 1), stdout: Buffer.concat(out).toString('utf8'), stderr: Buffer.concat(err).toString('utf8') };
          if (stopped) reject(new CommandError(cmd, args, result, { stopped: true }));
          else if (timedOut) reject(new CommandError(cmd, args, result, { timedOutAfterMs: timeoutMs }));
          else if (result.code !== 0 && !o.allowFail) reject(new CommandError(cmd, args, result, { spawned: file }));
          else resolve(result);
        });
        child.stdin.on('error', () => undefined);
        child.stdin.end(o.input ?? '');
      });
    },
  };
}

/** Run a user-configured shell command line (the reload/restart hook `hook`), killed after `timeoutMs`. */
export async function runHook(exec: Exec, hook: string, commandLine: string, timeoutMs?: number): Promise<ExecResult> {
  return exec.run('sh', ['-c', commandLine], { hostNamespace: true, hook, ...(timeoutMs ? { timeoutMs } : {}) });
}
