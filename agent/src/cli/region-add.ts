// `mirrornet region add`: scaffold a region file from the fleet, check that the fleet still validates with
// it, then print it or create it inside the repository (never through a symlink out of it, never over a file).
import { join } from 'node:path';
import { describeFsError } from '../host/files.js';
import { listModelFiles, loadFiles, RepoNotFoundError } from '../model/loader.js';
import { buildFleet } from '../model/fleet.js';
import { formatText } from '../policy/format.js';
import { validateFiles } from '../policy/validate.js';
import { declaredCidrs } from '../scaffold/declared-cidrs.js';
import { createNewRepoFile, newRepoFileTarget, NewRepoFileError } from '../scaffold/new-repo-file.js';
import { scaffoldRegion, ScaffoldError, type RegionAddOptions } from '../scaffold/region.js';
import { UserError } from './errors.js';
import type { Io } from './io.js';

export async function regionAddCommand(name: string, opts: Omit<RegionAddOptions, 'name'> & { repo: string; write?: boolean }, io: Io): Promise<number> {
  let listed;
  try {
    listed = listModelFiles(opts.repo);
  } catch (err) {
    if (err instanceof RepoNotFoundError) throw new UserError(err.userMessage, 2, { cause: err });
    throw err;
  }
  const { fleet } = buildFleet(loadFiles(listed.files));
  let result;
  try {
    result = scaffoldRegion(
      fleet,
      {
        name,
        area: opts.area,
        provider: opts.provider,
        ...(opts.cloudRegion ? { cloudRegion: opts.cloudRegion } : {}),
        ...(opts.hub ? { hub: opts.hub } : {}),
      },
      declaredCidrs(listed.files),
    );
    // Before the preview too: the file it shows must be one --write can create.
    newRepoFileTarget(opts.repo, result.path);
  } catch (err) {
    if (err instanceof ScaffoldError || err instanceof NewRepoFileError) throw new UserError(err.userMessage, 1, { cause: err });
    throw err;
  }
  // The new file must not add errors to the fleet.
  const before = validateFiles(listed.files);
  const after = validateFiles([...listed.files, { path: result.path, content: result.content }]);
  const newErrors = after.errors.filter(
    (e) => e.file === result.path || !before.errors.some((b) => b.rule === e.rule && b.file === e.file && b.message === e.message),
  );
  if (newErrors.length) {
    io.stderr(formatText({ ...after, errors: newErrors, warnings: [], valid: false }));
    throw new UserError(`The generated ${result.path} would not validate (above); nothing was written. Fix the fleet's defaults or report this.`);
  }
  if (!opts.write) {
    io.stdout(result.content);
    io.stderr(`# ${result.cidr} is the next free ${opts.area} block; run again with --write to create ${result.path}.\n`);
    return 0;
  }
  try {
    createNewRepoFile(opts.repo, result.path, result.content);
  } catch (err) {
    if (err instanceof NewRepoFileError) throw new UserError(err.userMessage, 1, { cause: err });
    throw describeFsError('create', join(opts.repo, result.path), err) ?? err;
  }
  io.stdout(`wrote ${result.path}: ${result.cidr}, ${result.linkType} link to ${result.hub}\n`);
  for (const t of result.todo) io.stdout(`  to fill in: ${t}\n`);
  io.stdout('Next: run `mirrornet validate`, commit, and open a pull request.\n');
  return 0;
}
