// The tests' one way to run git: the fixtures' repositories, the lab tests' clones, what a test asks of an
// agent's clone. Built on the product's git module (agent/src/source/git.ts): `git` is its `git` (same
// environment: no prompts, no optional locks; same time bound; a GitError with git's own sentence), and
// `gitSync` is that call for the fixtures whose interfaces are synchronous (they make and commit
// repositories in helpers that return at once), with the same environment, bound and error. Both add the
// tests' own identity and leave the machine's system git configuration out, so a developer's settings
// (signing, hooks) never change a test; a test that signs asks for it with -S.
import { spawnSync } from 'node:child_process';
import { git as runProductGit, GIT_TIMEOUT_MS, GitError } from '../../src/source/git.js';

/** Who commits in tests, and nothing signed unless asked (environment: git's arguments stay the test's own). */
const TEST_GIT_ENV: NodeJS.ProcessEnv = {
  GIT_CONFIG_NOSYSTEM: '1',
  GIT_AUTHOR_NAME: 'Mirrornet Test',
  GIT_AUTHOR_EMAIL: 'test@mirrornet.invalid',
  GIT_COMMITTER_NAME: 'Mirrornet Test',
  GIT_COMMITTER_EMAIL: 'test@mirrornet.invalid',
  GIT_CONFIG_COUNT: '2',
  GIT_CONFIG_KEY_0: 'commit.gpgsign',
  GIT_CONFIG_VALUE_0: 'false',
  GIT_CONFIG_KEY_1: 'tag.gpgsign',
  GIT_CONFIG_VALUE_1: 'false',
};

/** git in `cwd` through the product's git module; its standard output, trimmed. Throws a GitError when git fails. */
export async function git(cwd: string, args: string[]): Promise<string> {
  return (await runProductGit(cwd, args, { env: TEST_GIT_ENV })).trim();
}

/** `git`, synchronously: for the fixtures whose interfaces return at once. */
export function gitSync(cwd: string, args: string[]): string {
  const res = spawnSync('git', args, {
    cwd,
    env: { ...process.env, ...TEST_GIT_ENV, GIT_TERMINAL_PROMPT: '0', GIT_OPTIONAL_LOCKS: '0' },
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'pipe'],
    timeout: GIT_TIMEOUT_MS,
  });
  if (res.error) throw new GitError(`git ${args[0] ?? ''} could not run in ${cwd} (${res.error.message}).`, { cause: res.error });
  if (res.status !== 0) throw new GitError(`git ${args[0] ?? ''} failed in ${cwd}: ${res.stderr.trim().split('\n')[0] || `exit ${res.status}`}`);
  return res.stdout.trim();
}
