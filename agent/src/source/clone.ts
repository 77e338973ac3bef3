// The agent's copy of the configuration repository (git through simple-git and ./git.ts, both bounded in
// time): clone once into the state directory, a cheap remote check each tick (ls-remote), fetch and check
// out a new revision only when there is one, and optional commit signature verification against an
// allowed-signers file (SSH signatures).
import { MirrornetError } from '../errors.js';
import { mkdir, readdir, rename, rm, stat } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { simpleGit, type SimpleGit } from 'simple-git';
import { redactText } from '../redact.js';
import { GIT_TIMEOUT_MS, runGit } from './git.js';

/** simple-git ends a git command that produces no output for GIT_TIMEOUT_MS (a remote that stopped answering). */
const SIMPLE_GIT_OPTIONS = { timeout: { block: GIT_TIMEOUT_MS } };

class SourceError extends MirrornetError {}

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

  /**
   * The local clone, made usable: cloned into a temp directory and renamed into place (a killed clone never
   * leaves a half repository), stale lock files of a killed git removed (the caller holds the repository lock),
   * re-cloned when broken, and pointed at the configured URL when it changed.
   */
  private async client(): Promise<SimpleGit> {
    if (this.git) return this.git;
    const dir = this.opts.dir;
    if (await this.usable(dir)) {
      await this.removeStaleLocks(dir);
      const git = simpleGit(dir, SIMPLE_GIT_OPTIONS);
      const url = (await git.remote(['get-url', 'origin']).catch(() => ''))?.toString().trim();
      if (url !== this.opts.url) await git.remote(['set-url', 'origin', this.opts.url]);
      this.git = git;
      return git;
    }
    await rm(dir, { recursive: true, force: true });
    await mkdir(dirname(dir), { recursive: true });
    const tmp = join(dirname(dir), `.${basename(dir)}.clone-${process.pid}`);
    await rm(tmp, { recursive: true, force: true });
    try {
      await simpleGit(SIMPLE_GIT_OPTIONS).clone(this.opts.url, tmp, ['--branch', this.opts.branch, '--single-branch', '--no-tags']);
    } catch (cause) {
      await rm(tmp, { recursive: true, force: true });
      const said = gitSaid(cause);
      const why = /spawn git ENOENT/.test(String((cause as Error)?.message))
        ? 'git is not installed on this host (not found in PATH). Install git (Debian: apt-get install git).'
        : `${said ? `git said: ${said}. ` : ''}Check the URL, the branch and the agent's credentials (SSH: its key and known_hosts, GIT_SSH_COMMAND).`;
      throw new SourceError(redactText(`Cannot clone ${this.opts.url} (branch ${this.opts.branch}): ${why}`), { cause });
    }
    await rename(tmp, dir);
    this.git = simpleGit(dir, SIMPLE_GIT_OPTIONS);
    return this.git;
  }

  private async usable(dir: string): Promise<boolean> {
    try {
      await stat(join(dir, '.git', 'HEAD'));
    } catch {
      return false;
    }
    const res = await runGit(dir, ['rev-parse', '--verify', '--quiet', 'HEAD']);
    return res.code === 0;
  }

  private async removeStaleLocks(dir: string): Promise<void> {
    const gitDir = join(dir, '.git');
    for (const name of ['index.lock', 'HEAD.lock', 'config.lock', 'shallow.lock', 'packed-refs.lock']) await rm(join(gitDir, name), { force: true });
    const walk = async (d: string): Promise<void> => {
      for (const entry of await readdir(d, { withFileTypes: true }).catch(() => [])) {
        const p = join(d, entry.name);
        if (entry.isDirectory()) await walk(p);
        else if (entry.name.endsWith('.lock')) await rm(p, { force: true });
      }
    };
    await walk(join(gitDir, 'refs'));
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
      throw new SourceError(redactText(`Cannot reach ${this.opts.url}: ${(cause as Error).message.split('\n')[0]}`), { cause });
    }
    const sha = out.split(/\s/)[0]?.trim();
    if (!sha) throw new SourceError(`The branch ${this.opts.branch} does not exist on ${redactText(this.opts.url)}.`);
    return sha;
  }

  /**
   * Fetch the branch and return its revision: one request to the remote per call (the publisher's way, where
   * ls-remote and then a fetch would be two); its objects are then here to be read (source/revision-files.ts).
   */
  async fetchBranch(): Promise<string> {
    const git = await this.client();
    try {
      await git.fetch(['origin', `+refs/heads/${this.opts.branch}:refs/remotes/origin/${this.opts.branch}`, '--no-tags']);
      return (await git.revparse([`refs/remotes/origin/${this.opts.branch}`])).trim();
    } catch (cause) {
      throw new SourceError(redactText(`Cannot fetch ${this.opts.branch} from ${this.opts.url}: ${(cause as Error).message.split('\n')[0]}`), { cause });
    }
  }

  /** Fetch and check out `revision` (detached). */
  async checkout(revision: string): Promise<void> {
    const git = await this.client();
    try {
      await git.fetch(['origin', `+refs/heads/${this.opts.branch}:refs/remotes/origin/${this.opts.branch}`, '--no-tags']);
      await git.checkout(['--force', '--detach', revision]);
      await git.clean('f', ['-d', '-x']);
    } catch (cause) {
      throw new SourceError(redactText(`Cannot check out ${revision.slice(0, 12)} from ${this.opts.url}: ${(cause as Error).message.split('\n')[0]}`), {
        cause,
      });
    }
  }

  /** undefined when the commit is acceptable, else the reason it is not. */
  async verify(revision: string): Promise<string | undefined> {
    if (!this.opts.allowedSigners) return undefined;
    await this.client();
    // The exit code decides (an unsigned commit fails with an empty stderr, which simple-git accepts).
    const res = await runGit(this.opts.dir, [
      '-c',
      'gpg.format=ssh',
      '-c',
      `gpg.ssh.allowedSignersFile=${this.opts.allowedSigners}`,
      'verify-commit',
      revision,
    ]);
    if (res.code === 0) return undefined;
    const detail =
      `${res.stderr}\n${res.stdout.toString('utf8')}`
        .split('\n')
        .find((l) => l.trim())
        ?.trim() || 'no signature';
    return `commit ${revision.slice(0, 12)} is not signed by an allowed signer (${detail})`;
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

/** git's own words from a failed command (simple-git's message is git's stderr): its error lines, not its progress. */
function gitSaid(cause: unknown): string {
  const lines = String((cause as Error)?.message ?? '')
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l && !/^(Cloning into|remote: (Enumerating|Counting|Compressing|Total))/.test(l));
  const errors = lines.filter((l) => /^(fatal|error|ERROR):|denied|Host key|not found|Could not|unable/i.test(l));
  return (errors.length ? errors : lines).slice(0, 3).join(' ').slice(0, 400);
}
