// The one way from a repository to what every host should look like: read the model files (the work tree,
// or a revision's git objects), validate the fleet, and compile the desired state of the sites asked for.
// The agent's evaluation (in its child process), plan and apply, diff and pr-comment, and `npm start` all
// come through here, so what CI shows for a pull request is what the agents will do.
import { compile, CompileError } from '../desired/compile.js';
import type { DesiredByRole } from '../desired/roles.js';
import { ROLES, type Desired, type Role } from '../desired/types.js';
import type { SiteEntry } from '../model/fleet.js';
import { loadListed } from '../model/loader.js';
import { computeRoutes } from '../net/routes.js';
import { validateLoaded, validateRepo, type Report } from '../policy/validate.js';
import { revisionOf } from '../source/git.js';
import { readRevisionFiles } from '../source/revision-files.js';

/** Where the fleet is read from: a directory as it is on disk, or a git revision of the repository there. */
export interface RepositoryAt {
  repo: string;
  /** A commit, branch or tag; absent: the files on disk. */
  revision?: string;
  /** The commit the files on disk are checked out at, when the caller knows it (the agent): no git call. */
  checkedOut?: string;
  /** A revision without any model directory is an empty fleet (the base of the pull request that adds it). */
  allowEmpty?: boolean;
}

export interface SiteSelection {
  site: string;
  roles: Role[];
}

export interface Evaluation {
  /** The commit read (or the work tree's HEAD, with "+dirty" when it differs; "working-tree" outside git). */
  revision: string;
  /** The validation of the fleet; `report.fleet` is the fleet it describes (partial when invalid). */
  report: Report;
  /** Per site asked for, in the order asked: its desired state, or the sentence why it does not compile. */
  sites: Map<string, SiteDesired>;
}

export type SiteDesired = { desired: Desired } | { error: string };

/** Every role a site's hosts take together: the cores are gateways and hubs, regions gateways and nodes. */
export function rolesOf(site: Pick<SiteEntry, 'role'>): Role[] {
  return site.role === 'hub' ? ['gateway', 'hub'] : ['gateway', 'node'];
}

/**
 * Compile the sites asked for ('all': every site with all its roles). An invalid fleet compiles nothing
 * unless `evenIfInvalid` (a pull request's base, shown as a best guess).
 */
function compileSites(report: Report, select: 'all' | SiteSelection[], opts: { evenIfInvalid?: boolean } = {}): Map<string, SiteDesired> {
  const out = new Map<string, SiteDesired>();
  if (!report.valid && !opts.evenIfInvalid) return out;
  const { fleet } = report;
  const wanted = select === 'all' ? [...fleet.sites.values()].map((s) => ({ site: s.name, roles: rolesOf(s) })) : select;
  if (!wanted.length) return out;
  const plan = computeRoutes(fleet);
  for (const { site, roles } of wanted) {
    try {
      out.set(site, { desired: compile(fleet, site, roles, plan) });
    } catch (err) {
      if (!(err instanceof CompileError)) throw err;
      out.set(site, { error: err.userMessage });
    }
  }
  return out;
}

/** Read, validate and compile: the repository at a revision to the validated fleet and the sites' desired states. */
export async function evaluateRepository(
  at: RepositoryAt,
  select: 'all' | SiteSelection[] = 'all',
  opts: { evenIfInvalid?: boolean } = {},
): Promise<Evaluation> {
  let revision: string;
  let report: Report;
  if (at.revision === undefined) {
    report = validateRepo(at.repo);
    revision = at.checkedOut ?? (await revisionOf(at.repo));
  } else {
    const listed = await readRevisionFiles(at.repo, at.revision, at.allowEmpty ? { allowEmpty: true } : {});
    report = validateLoaded(loadListed(listed));
    revision = listed.sha;
  }
  return { revision, report, sites: compileSites(report, select, opts) };
}

/**
 * What every site of a valid fleet compiles to per role (a bundle's layers: a host joins the roles it runs,
 * desired/roles.ts). A role the site cannot take (hub, on a region) is left out; a site one of whose roles does
 * not compile is the sentence why (nothing of a fleet that does not compile whole is published).
 */
export function compileByRole(report: Report): Map<string, { byRole: DesiredByRole } | { error: string }> {
  const out = new Map<string, { byRole: DesiredByRole } | { error: string }>();
  if (!report.valid) return out;
  const { fleet } = report;
  const plan = computeRoutes(fleet);
  for (const site of fleet.sites.values()) {
    const byRole: DesiredByRole = {};
    let error: string | undefined;
    for (const role of ROLES) {
      if (role === 'hub' && site.role !== 'hub') continue;
      try {
        byRole[role] = compile(fleet, site.name, [role], plan);
      } catch (err) {
        if (!(err instanceof CompileError)) throw err;
        error ??= err.userMessage;
      }
    }
    out.set(site.name, error !== undefined ? { error } : { byRole });
  }
  return out;
}
