// `region add --write` puts a new file into the configuration repository and nowhere else. Its directory is
// resolved to its real path and must stay inside the repository (the rule `mirrornet validate` applies to a
// symlinked model directory, model/loader.ts); the file is created exclusively, written aside and hard-linked
// into place, so an existing file, or a symlink where it goes, is never overwritten or followed.
import { randomBytes } from 'node:crypto';
import {
  closeSync,
  fchmodSync,
  fsyncSync,
  linkSync,
  lstatSync,
  mkdirSync,
  openSync,
  readlinkSync,
  realpathSync,
  statSync,
  unlinkSync,
  writeFileSync,
  writeSync,
  type Stats,
} from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import { MirrornetError } from '../errors.js';
import { listingFindings } from '../model/file-findings.js';
import { isInside } from '../model/loader.js';

export class NewRepoFileError extends MirrornetError {}

const NOTHING_WRITTEN = ' Nothing was written.';
const MODE = 0o644;

/** Where a new file `relPath` (e.g. regions/eu-frankfurt.yaml) of the repository at `root` goes, and whether its directory exists. */
interface NewFileTarget {
  directory: string;
  directoryExists: boolean;
  path: string;
}

/** Check that `relPath` can be created inside the repository; a NewRepoFileError says why not and what to do. Writes nothing. */
export function newRepoFileTarget(root: string, relPath: string): NewFileTarget {
  const realRoot = realpathSync(root);
  const dirName = dirname(relPath);
  const dirPath = join(realRoot, dirName);
  let directory = dirPath;
  const dirStat = lstatOrUndefined(dirPath);
  if (!dirStat) return { directory, directoryExists: false, path: join(directory, basename(relPath)) };
  if (dirStat.isSymbolicLink()) {
    try {
      directory = realpathSync(dirPath);
    } catch {
      throw new NewRepoFileError(
        `${dirName}/ is a symlink that points nowhere: replace it with the directory itself (mkdir ${dirName}) and run again.${NOTHING_WRITTEN}`,
      );
    }
    if (!isInside(realRoot, directory)) throw new NewRepoFileError(`${listingFindings.directoryLeaves(dirName).message}${NOTHING_WRITTEN}`);
  }
  if (!statSync(directory).isDirectory()) throw new NewRepoFileError(`${dirName} is not a directory: move it aside and run again.${NOTHING_WRITTEN}`);

  const path = join(directory, basename(relPath));
  const fileStat = lstatOrUndefined(path);
  if (fileStat?.isSymbolicLink()) {
    throw new NewRepoFileError(
      `${relPath} is a symlink that points ${symlinkDestination(realRoot, path)}; region add creates a new file and never writes through ` +
        `a symlink: remove it and run again.${NOTHING_WRITTEN}`,
    );
  }
  if (fileStat) throw new NewRepoFileError(`${relPath} already exists; nothing was written.`);
  return { directory, directoryExists: true, path };
}

/** Create `relPath` with `content`, or throw a NewRepoFileError and leave the repository as it was. */
export function createNewRepoFile(root: string, relPath: string, content: string): void {
  const target = newRepoFileTarget(root, relPath);
  if (!target.directoryExists) mkdirSync(target.directory);
  const aside = join(target.directory, `.${basename(relPath)}.${process.pid}.${randomBytes(6).toString('hex')}.tmp`);
  const fd = openSync(aside, 'wx', MODE);
  try {
    try {
      writeSync(fd, content);
      fchmodSync(fd, MODE);
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    // link(2) never follows or replaces what is at the new name: another file or a symlink there is EEXIST.
    linkIntoPlace(aside, target.path, content);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EEXIST') throw new NewRepoFileError(`${relPath} already exists; nothing was written.`, { cause: err });
    throw err;
  } finally {
    unlinkSync(aside);
  }
}

/** On a file system without hard links, an exclusive create (O_EXCL, which fails on a symlink too) in place of the link. */
function linkIntoPlace(aside: string, path: string, content: string): void {
  try {
    linkSync(aside, path);
  } catch (err) {
    if (!['EPERM', 'ENOTSUP', 'EOPNOTSUPP', 'ENOSYS'].includes((err as NodeJS.ErrnoException).code ?? '')) throw err;
    writeFileSync(path, content, { flag: 'wx', mode: MODE });
  }
}

/** Where a symlink points, for the sentence: outside the repository (whether or not the file is there yet), nowhere, or to another file. */
function symlinkDestination(realRoot: string, link: string): string {
  try {
    return isInside(realRoot, realpathSync(link)) ? 'to another file' : 'outside the repository';
  } catch {
    const destination = resolve(dirname(link), readlinkSync(link));
    let parent = dirname(destination);
    try {
      parent = realpathSync(parent);
    } catch {
      /* its directory is missing too: judge the path as written */
    }
    return isInside(realRoot, join(parent, basename(destination))) ? 'nowhere' : 'outside the repository';
  }
}

function lstatOrUndefined(path: string): Stats | undefined {
  try {
    return lstatSync(path);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
}
