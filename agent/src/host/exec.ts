// Running host commands (ip, wg, iptables, reload hooks), optionally inside a network namespace.
// The one place that spawns processes; everything else gets an Exec passed in.
import { MirrornetError } from '../errors.js';
import { spawn } from 'node:child_process';

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
  timeoutMs?: number;
}

export interface Exec {
  readonly netns?: string;
  run(cmd: string, args: string[], opts?: ExecOptions): Promise<ExecResult>;
}

class CommandError extends MirrornetError {
  constructor(
    readonly cmd: string,
    readonly args: string[],
    readonly result: ExecResult | undefined,
    opts?: { cause?: unknown },
  ) {
    const what = `${cmd} ${args.join(' ')}`.trim();
    const detail = result
      ? `exit ${result.code}: ${result.stderr.trim() || result.stdout.trim()}`
      : String((opts?.cause as Error)?.message ?? 'could not start');
    super(`The command \`${what}\` failed (${detail}).`, { cause: opts?.cause, message: `${what} failed (${detail})` });
  }
}

export function localExec(opts: { netns?: string } = {}): Exec {
  const netns = opts.netns;
  return {
    ...(netns ? { netns } : {}),
    run(cmd, args, o = {}) {
      const [file, argv] = netns && !o.hostNamespace ? ['ip', ['netns', 'exec', netns, cmd, ...args]] : [cmd, args];
      return new Promise<ExecResult>((resolve, reject) => {
        let child;
        try {
          child = spawn(file, argv, { env: { ...process.env, ...o.env }, stdio: ['pipe', 'pipe', 'pipe'] });
        } catch (cause) {
          reject(new CommandError(cmd, args, undefined, { cause }));
          return;
        }
        const out: Buffer[] = [];
        const err: Buffer[] = [];
        let timer: NodeJS.Timeout | undefined;
        if (o.timeoutMs) timer = setTimeout(() => child.kill('SIGKILL'), o.timeoutMs);
        child.stdout.on('data', (d: Buffer) => out.push(d));
        child.stderr.on('data', (d: Buffer) => err.push(d));
        child.on('error', (cause) => {
          if (timer) clearTimeout(timer);
          reject(new CommandError(cmd, args, undefined, { cause }));
        });
        child.on('close', (code, signal) => {
          if (timer) clearTimeout(timer);
          const result = { code: code ?? (signal ? 128 : 1), stdout: Buffer.concat(out).toString('utf8'), stderr: Buffer.concat(err).toString('utf8') };
          if (result.code !== 0 && !o.allowFail) reject(new CommandError(cmd, args, result));
          else resolve(result);
        });
        child.stdin.on('error', () => undefined);
        child.stdin.end(o.input ?? '');
      });
    },
  };
}

/** Run a user-configured shell command line (reload/restart hooks). */
export async function runHook(exec: Exec, commandLine: string): Promise<ExecResult> {
  return exec.run('sh', ['-c', commandLine], { hostNamespace: true });
}
