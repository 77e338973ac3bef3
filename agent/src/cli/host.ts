// What plan, apply and agent share: options naming the host, and the path from a repository checkout to
// a plan for this host.
import { join } from 'node:path';
import type { Logger } from 'pino';
import { simpleGit } from 'simple-git';
import { compile, CompileError } from '../desired/compile.js';
import { ROLES, type Desired, type Role } from '../desired/types.js';
import { localExec } from '../host/exec.js';
import { HostFiles } from '../host/files.js';
import { hostSecrets } from '../host/secrets.js';
import { RepoNotFoundError } from '../model/loader.js';
import { formatText } from '../policy/format.js';
import { validateRepo, type Report } from '../policy/validate.js';
import { DEFAULT_COMMANDS, type HostCommands } from '../providers/types.js';
import type { HostDeps } from '../reconcile/engine.js';
import { UsageError, UserError } from './errors.js';

export interface HostOptions {
  region: string;
  roles: string;
  repo: string;
  root: string;
  netns?: string;
  stateDir?: string;
  format: 'text' | 'json';
  dockerReload?: string;
  dragonflyRestart?: string;
  harborApply?: string;
}

export function parseRoles(text: string): Role[] {
  const roles = text.split(',').map((r) => r.trim()).filter(Boolean);
  for (const r of roles) if (!(ROLES as string[]).includes(r)) throw new UsageError(`Unknown role "${r}": use a comma-separated list of ${ROLES.join(', ')}.`);
  if (!roles.length) throw new UsageError(`--roles needs at least one of ${ROLES.join(', ')}.`);
  return [...new Set(roles)] as Role[];
}

export function stateDirOf(opts: Pick<HostOptions, 'root' | 'stateDir'>): string {
  return opts.stateDir ?? join(opts.root, 'var/lib/mirrornet');
}

export function commandsOf(opts: Pick<HostOptions, 'dockerReload' | 'dragonflyRestart' | 'harborApply'>): HostCommands {
  return {
    dockerReload: opts.dockerReload ?? process.env['MIRRORNET_DOCKER_RELOAD'] ?? DEFAULT_COMMANDS.dockerReload,
    dragonflyRestart: opts.dragonflyRestart ?? process.env['MIRRORNET_DFDAEMON_RESTART'] ?? DEFAULT_COMMANDS.dragonflyRestart,
    harborApply: opts.harborApply ?? process.env['MIRRORNET_HARBOR_APPLY'] ?? DEFAULT_COMMANDS.harborApply,
  };
}

export function hostDeps(opts: HostOptions, log: Logger): HostDeps {
  return {
    exec: localExec(opts.netns ? { netns: opts.netns } : {}),
    files: new HostFiles(opts.root),
    secrets: hostSecrets({ root: opts.root }),
    log,
    commands: commandsOf(opts),
  };
}

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
  constructor(readonly report: Report, revision: string) {
    super(`The repository at ${revision.slice(0, 12)} is invalid (${report.errors.length} errors, above); nothing was planned or applied. Fix it and try again.`, 1);
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
