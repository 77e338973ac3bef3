// The lab's git origin: a bare repository holding the lab's copy of the fleet, which every lab agent clones
// and polls; a push to its main is what they apply. Every git command goes through the one git module
// (source/git.ts); its failures become LabErrors, as every other step of the lab fails.
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import type { VirtualFile } from '../../model/loader.js';
import type { Report } from '../../policy/validate.js';
import { evaluateRepository } from '../../reconcile/pipeline.js';
import { git, GitError, runGit } from '../../source/git.js';
import { LabError, type LabState } from './processes.js';
import { postReceiveHook } from './push-hook.js';

/** The lab's commits are the lab's, whoever runs it. */
const LAB_AUTHOR: NodeJS.ProcessEnv = {
  GIT_AUTHOR_NAME: 'mirrornet lab',
  GIT_AUTHOR_EMAIL: 'lab@mirrornet.invalid',
  GIT_COMMITTER_NAME: 'mirrornet lab',
  GIT_COMMITTER_EMAIL: 'lab@mirrornet.invalid',
};

async function asLabError<T>(work: Promise<T>): Promise<T> {
  try {
    return await work;
  } catch (err) {
    if (err instanceof GitError) throw new LabError(err.userMessage, { cause: err });
    throw err;
  }
}

/**
 * The origin: the lab's files committed once in the work tree (`state.work`), pushed to a new bare
 * repository (`state.origin`) whose post-receive hook tells the agents about later pushes (when the lab has
 * `pushWebhook`). Returns the commit.
 */
export async function makeOrigin(state: Pick<LabState, 'dir' | 'work' | 'origin'>, files: readonly VirtualFile[], message: string): Promise<string> {
  for (const f of files) {
    const p = join(state.work, f.path);
    mkdirSync(dirname(p), { recursive: true });
    writeFileSync(p, f.content);
  }
  const run = (cwd: string, args: string[]) => asLabError(git(cwd, args, { env: LAB_AUTHOR }));
  await run(state.work, ['init', '-q', '-b', 'main']);
  await run(state.work, ['add', '-A']);
  await run(state.work, ['commit', '-q', '-m', message]);
  await run(state.work, ['init', '-q', '--bare', '-b', 'main', state.origin]);
  await run(state.work, ['push', '-q', state.origin, 'main']);
  writeFileSync(join(state.origin, 'hooks', 'post-receive'), postReceiveHook(state.dir), { mode: 0o755 });
  const head = await originHead(state);
  if (!head) throw new LabError(`The origin ${state.origin} has no main branch after the lab's first push.`);
  return head;
}

/** The commit of the origin's main; undefined when there is none (or no origin). */
export async function originHead(state: Pick<LabState, 'origin'>): Promise<string | undefined> {
  const r = await runGit(state.origin, ['--git-dir', state.origin, 'rev-parse', 'refs/heads/main']).catch(() => undefined);
  return r?.code === 0 ? r.stdout.toString('utf8').trim() : undefined;
}

/** The validation of the origin's fleet at `rev`, read from its git objects by the one pipeline (as the agents read it). */
export async function originEvaluation(state: Pick<LabState, 'origin'>, rev: string): Promise<Report> {
  return (await asLabError(evaluateRepository({ repo: state.origin, revision: rev }, []))).report;
}
