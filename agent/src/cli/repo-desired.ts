// plan and apply: from a repository checkout to this host's desired state (loads the validator).
import { simpleGit } from 'simple-git';
import { compile, CompileError } from '../desired/compile.js';
import type { Desired, Role } from '../desired/types.js';
import { RepoNotFoundError } from '../model/loader.js';
import { formatText } from '../policy/format.js';
import { validateRepo, type Report } from '../policy/validate.js';
import { UserError } from './errors.js';

export async function revisionOf(repo: string): Promise<string> {
  try {
    const git = simpleGit(repo);
    if (!(await git.checkIsRepo())) return 'working-tree';
    const rev = (await git.revparse(['HEAD'])).trim();
    const dirty = !(await git.status()).isClean();
    return dirty ? `${rev}+dirty` : rev;
  } catch {
    return 'working-tree';
  }
}

export class InvalidRevisionError extends UserError {
  constructor(
    readonly report: Report,
    revision: string,
  ) {
    super(
      `The repository at ${revision.slice(0, 12)} is invalid (${report.errors.length} errors, above); nothing was planned or applied. Fix it and try again.`,
      1,
    );
    this.name = 'InvalidRevisionError';
  }
}

/** Validate the checkout and compile this host's desired state; an invalid repository is refused. */
export function desiredFromRepo(repo: string, region: string, roles: Role[], revision: string): { desired: Desired; report: Report } {
  let report: Report;
  try {
    report = validateRepo(repo);
  } catch (err) {
    if (err instanceof RepoNotFoundError) throw new UserError(err.userMessage, 1, { cause: err });
    throw err;
  }
  if (!report.valid) throw new InvalidRevisionError(report, revision);
  try {
    return { desired: compile(report.fleet, region, roles), report };
  } catch (err) {
    if (err instanceof CompileError) throw new UserError(err.userMessage, 1, { cause: err });
    throw err;
  }
}

export function printInvalid(err: unknown, io: { stderr: (s: string) => void }): void {
  if (err instanceof InvalidRevisionError) io.stderr(formatText(err.report));
}
