// The one way from a repository to what every host should look like: read the model files (the work tree,
// or a revision's git objects), validate the fleet, and compile the desired state of the sites asked for.
// The agent's evaluation (in its child process), plan and apply, publish, validate and routes, diff and
// pr-comment, and `npm start` all come through here, so what CI shows for a pull request is what the agents
// will do. Each role of a site is compiled on its own and a host's roles are joined from those parts, so a
// host that follows git and one that follows published bundles get the same desired state by construction.
// Before anything is validated, policies/agent.yaml says whether this mirrornet is recent enough to read the
// revision at all (model/compatibility.ts): when it is not, nothing is validated and AgentTooOldError says so.
import { lstatSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { compile, CompileError, siteOf } from '../desired/compile.js';
import { desiredForRoles, type DesiredByRole } from '../desired/roles.js';
import { ROLES, type Desired, type Role } from '../desired/types.js';
import { AgentTooOldError, COMPATIBILITY_FILE, tooOldFor } from '../model/compatibility.js';
import { readDeclared } from '../model/compatibility-file.js';
import type { Fleet, SiteEntry } from '../model/fleet.js';
import { loadListed } from '../model/loader.js';
import { computeRoutes, type RoutePlan } from '../net/routes.js';
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

/**
 * A site's desired state, or the sentence why it does not compile. `byRole`: what each role asked for
 * compiles to on its own (a bundle's layers, desired/roles.ts); `desired`: those roles joined, what one
 * host that runs them all applies.
 */
export type SiteDesired = { desired: Desired; byRole: DesiredByRole } | { error: string };

/** Every role a site's hosts take together: the cores are gateways and hubs, regions gateways and nodes. */
export function rolesOf(site: Pick<SiteEntry, 'role'>): Role[] {
  return site.role === 'hub' ? ['gateway', 'hub'] : ['gateway', 'node'];
}

/** Every role a host of the site can take: a core's host may also be a node; a region has no hub. */
function everyRoleOf(site: Pick<SiteEntry, 'role'>): Role[] {
  return ROLES.filter((r) => r !== 'hub' || site.role === 'hub');
}

/** One site: each role compiled on its own, and the roles its hosts take together (`joined`) joined. */
function compileSite(fleet: Fleet, plan: RoutePlan, site: string, roles: readonly Role[], joined: readonly Role[]): SiteDesired {
  try {
    siteOf(fleet, site);
    const byRole: DesiredByRole = {};
    for (const role of roles) byRole[role] = compile(fleet, site, [role], plan);
    const desired = desiredForRoles(site, byRole, joined);
    return 'error' in desired ? desired : { desired, byRole };
  } catch (err) {
    if (!(err instanceof CompileError)) throw err;
    return { error: err.userMessage };
  }
}

/**
 * Compile the sites asked for. 'all': every site, each role it can take compiled on its own (what a bundle
 * carries) and joined for the roles its hosts take together. An invalid fleet compiles nothing unless
 * `evenIfInvalid` (a pull request's base, shown as a best guess).
 */
function compileSites(report: Report, select: 'all' | SiteSelection[], opts: { evenIfInvalid?: boolean } = {}): Map<string, SiteDesired> {
  const out = new Map<string, SiteDesired>();
  if (!report.valid && !opts.evenIfInvalid) return out;
  const { fleet } = report;
  if (select !== 'all' && !select.length) return out;
  const plan = computeRoutes(fleet);
  if (select === 'all') for (const s of fleet.sites.values()) out.set(s.name, compileSite(fleet, plan, s.name, everyRoleOf(s), rolesOf(s)));
  else for (const { site, roles } of select) out.set(site, compileSite(fleet, plan, site, roles, roles));
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
    assertReadable(at);
    report = validateRepo(at.repo);
    revision = at.checkedOut ?? (await revisionOf(at.repo));
  } else {
    const listed = await readRevisionFiles(at.repo, at.revision, at.allowEmpty ? { allowEmpty: true } : {});
    const declaration = listed.files.find((f) => f.path === COMPATIBILITY_FILE)?.content;
    const tooOld = tooOldFor(`revision ${listed.sha.slice(0, 12)}`, readDeclared(declaration?.toString()));
    if (tooOld) throw new AgentTooOldError(tooOld);
    report = validateLoaded(loadListed(listed));
    revision = listed.sha;
  }
  return { revision, report, sites: compileSites(report, select, opts) };
}

/**
 * The files on disk at `at.repo` (a checkout, or a work tree): AgentTooOldError when their policies/agent.yaml
 * needs a newer mirrornet than this one. Only that one file is read; a missing or unreadable one needs nothing.
 */
export function assertReadable(at: Pick<RepositoryAt, 'repo' | 'checkedOut'>): void {
  const path = join(at.repo, COMPATIBILITY_FILE);
  let text: string | undefined;
  try {
    text = lstatSync(path).isFile() ? readFileSync(path, 'utf8') : undefined;
  } catch {
    text = undefined; // missing: nothing declared; unreadable: the validation says so
  }
  const subject = at.checkedOut ? `revision ${at.checkedOut.slice(0, 12)}` : `the repository at ${at.repo}`;
  const tooOld = tooOldFor(subject, readDeclared(text));
  if (tooOld) throw new AgentTooOldError(tooOld);
}
