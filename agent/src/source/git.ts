// The agent's copy of the configuration repository: clone once into the state directory, a cheap remote
// check each tick (ls-remote), fetch and check out a new revision only when there is one, and optional
// commit signature verification against an allowed-signers file (SSH signatures).
import { mkdir, stat } from 'node:fs/promises';
import { simpleGit, type SimpleGit } from 'simple-git';

export class SourceError extends Error {
  readonly userMessage: string;
  constructor(message: string, opts?: { cause?: unknown }) {
    super(message, opts);
    this.name = 'SourceError';
    this.userMessage = message;
  }
}

export interface GitSourceOptions {
  url: string;
  branch: string;
  dir: string;
  /** An SSH allowed-signers file: when set, only commits signed by one of its keys are accepted. */
  allowedSigners?: string;
}

export class GitSource {
  private git?: SimpleGit;

  constructor(readonly opts: GitSourceOptions) {}

  private async client(): Promise<SimpleGit> {
    if (this.git) return this.git;
    await mkdir(this.opts.dir, { recursive: true });
    const hasRepo = await stat(`${this.opts.dir}/.git`).then(
      () => true,
      () => false,
    );
    if (!hasRepo) {
      try {
        await simpleGit().clone(this.opts.url, this.opts.dir, ['--branch', this.opts.branch, '--single-branch', '--no-tags']);
      } catch (cause) {
        throw new SourceError(`Cannot clone ${this.opts.url} (branch ${this.opts.branch}): check the URL, the branch and the agent's credentials.`, { cause });
      }
    }
    this.git = simpleGit(this.opts.dir);
    return this.git;
  }

  /** The revision checked out now. */
  async head(): Promise<string> {
    const git = await this.client();
    return (await git.revparse(['HEAD'])).trim();
  }

  /** The branch's revision on the remote, without fetching objects. */
  async remoteRevision(): Promise<string> {
    const git = await this.client();
    let out: string;
    try {
      out = await git.listRemote(['origin', `refs/heads/${this.opts.branch}`]);
    } catch (cause) {
      throw new SourceError(`Cannot reach ${this.opts.url}: ${(cause as Error).message.split('\n')[0]}`, { cause });
    }
    const sha = out.split(/\s/)[0]?.trim();
    if (!sha) throw new SourceError(`The branch ${this.opts.branch} does not exist on ${this.opts.url}.`);
    return sha;
  }

  /** Fetch and check out `revision` (detached). */
  async checkout(revision: string): Promise<void> {
    const git = await this.client();
    try {
      await git.fetch(['origin', `+refs/heads/${this.opts.branch}:refs/remotes/origin/${this.opts.branch}`, '--no-tags']);
      await git.checkout(['--force', '--detach', revision]);
      await git.clean('f', ['-d', '-x']);
    } catch (cause) {
      throw new SourceError(`Cannot check out ${revision.slice(0, 12)} from ${this.opts.url}: ${(cause as Error).message.split('\n')[0]}`, { cause });
    }
  }

  /** undefined when the commit is acceptable, else the reason it is not. */
  async verify(revision: string): Promise<string | undefined> {
    if (!this.opts.allowedSigners) return undefined;
    const git = await this.client();
    try {
      await git.raw(['-c', 'gpg.format=ssh', '-c', `gpg.ssh.allowedSignersFile=${this.opts.allowedSigners}`, 'verify-commit', revision]);
      return undefined;
    } catch (err) {
      const detail = (err as Error).message.split('\n').find((l) => l.trim()) ?? 'no valid signature';
      return `commit ${revision.slice(0, 12)} is not signed by an allowed signer (${detail.trim()})`;
    }
  }

  /** The remote's host, for lockout protection. */
  remoteHost(): string | undefined {
    const url = this.opts.url;
    const scp = /^[^@/]+@([^:/]+):/.exec(url);
    if (scp) return scp[1];
    try {
      const u = new URL(url);
      return u.protocol === 'file:' ? undefined : u.hostname;
    } catch {
      return undefined;
    }
  }
}
