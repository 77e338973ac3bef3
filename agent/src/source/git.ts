// The one git module (with clone.ts): runGit runs git's plumbing with binary output and standard input, no
// prompts, no optional locks, and holds the revision helpers everyone shares. The agent's own clone (clone.ts)
// clones, fetches and checks out through simple-git and asks everything else through runGit; a revision's
// model files (revision-files.ts) are read through runGit. No other file runs git.
import { spawn } from 'node:child_process';
import { lookup } from 'node:dns/promises';
import { MirrornetError } from '../errors.js';

export class GitError extends MirrornetError {}

export interface GitResult {
  code: number;
  stdout: Buffer;
  stderr: string;
}

/** A git command (a fetch from a remote that stopped answering, say) never stalls mirrornet longer than this. */
export const GIT_TIMEOUT_MS = 120_000;

/**
 * Run git in `cwd`; resolves with the exit code (never rejects on a failing command), rejects when git cannot
 * start or runs longer than GIT_TIMEOUT_MS.
 */
/**
 * How the agent's service runs git over SSH: its own key and known hosts in its state directory, nothing from a
 * home directory (the unit hides them). agent/deploy/mirrornet-agent.service sets it; `mirrornet doctor` checks with it.
 */
export function agentGitSshCommand(stateDir: string): string {
  const ssh = `${stateDir}/ssh`;
  return `ssh -i ${ssh}/id_ed25519 -o UserKnownHostsFile=${ssh}/known_hosts -o StrictHostKeyChecking=yes -o IdentitiesOnly=yes -o BatchMode=yes`;
}

export function runGit(cwd: string, args: string[], opts: { input?: Buffer | string; env?: NodeJS.ProcessEnv } = {}): Promise<GitResult> {
  return new Promise((resolve, reject) => {
    const env = { ...process.env, ...opts.env, GIT_TERMINAL_PROMPT: '0', GIT_OPTIONAL_LOCKS: '0' };
    const child = spawn('git', args, { cwd, env, stdio: ['pipe', 'pipe', 'pipe'] });
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      child.kill('SIGKILL');
    }, GIT_TIMEOUT_MS);
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout.on('data', (d: Buffer) => out.push(d));
    child.stderr.on('data', (d: Buffer) => err.push(d));
    child.on('error', (e) => {
      clearTimeout(timer);
      reject(new GitError(`git cannot be run (${e.message}): install git.`, { cause: e }));
    });
    child.on('close', (code) => {
      clearTimeout(timer);
      if (timedOut) reject(new GitError(`git ${args[0] ?? ''} in ${cwd} did not finish within ${GIT_TIMEOUT_MS / 1000} s and was stopped.`));
      else resolve({ code: code ?? 1, stdout: Buffer.concat(out), stderr: Buffer.concat(err).toString('utf8').trim() });
    });
    child.stdin.on('error', () => undefined);
    child.stdin.end(opts.input ?? '');
  });
}

/** runGit that throws a GitError with git's own first line of stderr when the command fails; stdout as text. */
export async function git(cwd: string, args: string[], opts: { input?: Buffer | string; env?: NodeJS.ProcessEnv } = {}): Promise<string> {
  const res = await runGit(cwd, args, opts);
  if (res.code !== 0) throw new GitError(`git ${args[0] ?? ''} failed in ${cwd}: ${res.stderr.split('\n')[0] || `exit ${res.code}`}`);
  return res.stdout.toString('utf8');
}

/** The revision of a checkout: HEAD, with "+dirty" when the work tree differs; "working-tree" outside git. */
export async function revisionOf(repo: string): Promise<string> {
  const head = await runGit(repo, ['rev-parse', '--verify', '--quiet', 'HEAD']).catch(() => undefined);
  if (!head || head.code !== 0) return 'working-tree';
  const rev = head.stdout.toString('utf8').trim();
  const status = await runGit(repo, ['status', '--porcelain']);
  return status.code === 0 && status.stdout.length > 0 ? `${rev}+dirty` : rev;
}

/** The commit a revision names, and the path of `dir` inside its repository ('' at the top). */
export async function resolveRevision(dir: string, rev: string): Promise<{ sha: string; prefix: string }> {
  if (!rev || rev.startsWith('-')) throw new GitError(`"${rev}" is not a revision: give a commit, branch or tag (e.g. origin/main).`);
  let inside = await runGit(dir, ['rev-parse', '--show-prefix']);
  if (inside.code !== 0) {
    // A bare repository has no work tree: the fleet is at the top of its trees.
    const bare = await runGit(dir, ['rev-parse', '--is-bare-repository']);
    if (bare.code === 0 && bare.stdout.toString('utf8').trim() === 'true') inside = { code: 0, stdout: Buffer.alloc(0), stderr: '' };
    else throw new GitError(`${dir} is not in a git repository (${inside.stderr.split('\n')[0]}): pass --repo with a clone of the configuration repository.`);
  }
  const res = await runGit(dir, ['rev-parse', '--verify', '--quiet', '--end-of-options', `${rev}^{commit}`]);
  if (res.code !== 0) {
    throw new GitError(`${rev} is not a commit in ${dir}: fetch it first (in GitHub Actions, check out with fetch-depth: 0 so both revisions exist).`);
  }
  return { sha: res.stdout.toString('utf8').trim(), prefix: inside.stdout.toString('utf8').trim() };
}

/** The IPv4 address of the git remote's host (lockout protection); a resolver that does not answer within 10 s counts as no answer. */
export async function addressOf(host: string): Promise<string | undefined> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<undefined>((resolve) => (timer = setTimeout(() => resolve(undefined), 10_000)));
  try {
    return await Promise.race([lookup(host, { family: 4 }).then((a) => a.address), late]);
  } catch {
    return undefined;
  } finally {
    clearTimeout(timer);
  }
}

/** The commit trailer that marks a revision as an emergency: its rollout skips change windows (policies/rollout.yaml). */
const EMERGENCY_TRAILER = 'Mirrornet-Emergency';

/**
 * The reason given by the commit's own `Mirrornet-Emergency: <reason>` trailer, or undefined. A trailer is part of
 * the commit message: reviewed in the pull request, and covered by the commit's signature. Only the head
 * commit's message counts (the squash or merge commit that was reviewed and whose signature is verified): the
 * commits a merge brings in may be unsigned, so their trailers are not read.
 */
export async function emergencyOf(repo: string, revision: string): Promise<string | undefined> {
  const out = await git(repo, ['log', '-n', '1', `--format=%(trailers:key=${EMERGENCY_TRAILER},valueonly,separator=%x20)`, revision]);
  const reason = out
    .split('\n')
    .map((l) => l.trim())
    .find((l) => l.length > 0);
  return reason?.slice(0, 1024);
}
