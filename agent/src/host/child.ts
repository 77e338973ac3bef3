// One request answered as JSON by a short-lived child process of this Node (the validator, the publisher's
// publishing step): heavy modules and a grown heap stay in the child, and the long-running agent stays small.
// The single-file release has no child script beside it: there the release runs itself with the child's first
// argument (childrenThroughSelf), which cli/single-file.ts dispatches.
import { fileURLToPath } from 'node:url';
import { MirrornetError } from '../errors.js';
import { CommandError, localExec } from './exec.js';

/** Every child process, by the first argument that makes the single-file release run it. */
const children = new Map<string, JsonChild>();

export class JsonChild {
  private argv: string[];

  /**
   * `script`: the child's module, as a URL (beside its caller's); `selfArg`: the argument that makes the
   * single-file release that child; `name`: what a sentence calls it ("the validator process").
   */
  constructor(
    script: URL,
    readonly selfArg: string,
    private readonly name: string,
    private readonly error: new (message: string, options?: { cause?: unknown }) => MirrornetError,
  ) {
    this.argv = [fileURLToPath(script)];
    children.set(selfArg, this);
  }

  /** In the single-file release: the child is the release itself, run with `selfArg` first. */
  throughSelf(script: string): void {
    this.argv = [script, this.selfArg];
  }

  /**
   * Run the child with `args` (and `input` on its stdin) and parse its answer. `doing` names the work for the
   * sentence when it takes longer than `timeoutMs` ("validating abc123 … the next tick tries again").
   */
  async run<T>(args: readonly string[], opts: { input?: string; timeoutMs: number; doing: string; retry: string }): Promise<T> {
    let res;
    try {
      res = await localExec().run(process.execPath, ['--max-old-space-size=512', ...this.argv, ...args], {
        ...(opts.input !== undefined ? { input: opts.input } : {}),
        allowFail: true,
        timeoutMs: opts.timeoutMs,
      });
    } catch (err) {
      if (err instanceof CommandError && err.timedOutAfterMs !== undefined) {
        throw new this.error(`${opts.doing} took longer than ${opts.timeoutMs / 1000} s and was stopped; ${opts.retry}`, { cause: err });
      }
      throw new this.error(`cannot start ${this.name}`, { cause: err });
    }
    if (res.code !== 0) throw new this.error(`${this.name} failed (exit ${res.code}): ${res.stderr.trim().split('\n')[0] ?? ''}`);
    try {
      return JSON.parse(res.stdout) as T;
    } catch (cause) {
      throw new this.error(`${this.name} answered something that is not JSON`, { cause });
    }
  }
}

/** In the single-file release: every child is the release itself, run with its own first argument. */
export function childrenThroughSelf(script: string): void {
  for (const child of children.values()) child.throughSelf(script);
}
