// Host files under a root prefix (so tests and the lab write into a sandbox, never into /etc): atomic
// writes (temp file, fsync, rename) that keep mode and owner, with one backup of the previous content.
import { constants } from 'node:fs';
import { copyFile, mkdir, open, readFile, rename, rm, rmdir, stat, chmod, chown, readdir } from 'node:fs/promises';
import { dirname, join, basename } from 'node:path';
import { randomBytes } from 'node:crypto';
import { MirrornetError } from '../errors.js';

export const BACKUP_SUFFIX = '.mirrornet.bak';

/** A host file the agent cannot read or write, said as what failed, the path, and what to do. */
export class HostFileError extends MirrornetError {}

/**
 * The sentence for a file-system failure on `path` (`what`: "write", "create", ...), or undefined when the
 * error is not one the environment explains (then it stays an internal error: a bug).
 */
export function describeFsError(what: string, path: string, err: unknown): HostFileError | undefined {
  const code = (err as NodeJS.ErrnoException)?.code;
  const sentence: Record<string, string> = {
    EROFS: `Cannot ${what} ${path}: it is on a read-only file system. Mount it read-write (in a systemd unit: ReadWritePaths=${dirname(path)}).`,
    EACCES: `Cannot ${what} ${path}: permission denied. Run the agent as root or give it write access to ${dirname(path)}.`,
    EPERM: `Cannot ${what} ${path}: the operation is not permitted. Run the agent as root or give it write access to ${dirname(path)}.`,
    ENOSPC: `Cannot ${what} ${path}: no space left on its device. Free some space; nothing was changed.`,
    EDQUOT: `Cannot ${what} ${path}: the disk quota is exhausted. Free some space; nothing was changed.`,
    ENOTDIR: `Cannot ${what} ${path}: a part of that path is a file, not a directory. Check --root and --state-dir.`,
    EISDIR: `Cannot ${what} ${path}: it is a directory. Remove or rename it.`,
  };
  const text = code ? sentence[code] : undefined;
  return text ? new HostFileError(text, { cause: err }) : undefined;
}

/**
 * mkdir -p that fails with the real reason: a recursive mkdir reports ENOENT where a level cannot be created
 * (e.g. on a read-only file system), so on ENOENT the levels are made one by one to learn why.
 */
async function makeDirectory(dir: string): Promise<void> {
  try {
    await mkdir(dir, { recursive: true });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    const parts = dir.split('/');
    for (let i = 2; i <= parts.length; i++) {
      await mkdir(parts.slice(0, i).join('/')).catch((e: NodeJS.ErrnoException) => {
        if (e.code !== 'EEXIST') throw e;
      });
    }
  }
}

/** Run a file operation; a failure the environment explains becomes a HostFileError. */
async function explained<T>(what: string, path: string, fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (err) {
    throw describeFsError(what, path, err) ?? err;
  }
}

export class HostFiles {
  constructor(readonly root: string = '/') {}

  /** The real path of a host path such as /etc/containerd/config.toml. */
  path(hostPath: string): string {
    return this.root === '/' ? hostPath : join(this.root, hostPath);
  }

  async read(hostPath: string): Promise<string | undefined> {
    try {
      return await readFile(this.path(hostPath), 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw describeFsError('read', this.path(hostPath), err) ?? err;
    }
  }

  async exists(hostPath: string): Promise<boolean> {
    try {
      await stat(this.path(hostPath));
      return true;
    } catch {
      return false;
    }
  }

  async list(hostDir: string): Promise<string[]> {
    try {
      return (await readdir(this.path(hostDir))).sort();
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
      throw err;
    }
  }

  /**
   * Write atomically: a temp file in the same directory, fsync, keep the old file's mode and owner, keep
   * one backup, rename over, fsync the directory. A crash leaves either the old or the new content.
   */
  async writeAtomic(hostPath: string, content: string, opts: { mode?: number } = {}): Promise<void> {
    const target = this.path(hostPath);
    await explained('write', target, () => this.writeAtomicAt(target, content, opts));
  }

  private async writeAtomicAt(target: string, content: string, opts: { mode?: number }): Promise<void> {
    const dir = dirname(target);
    await makeDirectory(dir);
    let previous: { mode: number; uid: number; gid: number } | undefined;
    try {
      const st = await stat(target);
      previous = { mode: st.mode & 0o7777, uid: st.uid, gid: st.gid };
    } catch {
      previous = undefined;
    }
    await this.cleanTempsOf(dir, basename(target));
    const tmp = join(dir, `.${basename(target)}.mirrornet-tmp-${process.pid}-${randomBytes(4).toString('hex')}`);
    const fh = await open(tmp, constants.O_CREAT | constants.O_EXCL | constants.O_WRONLY, previous?.mode ?? opts.mode ?? 0o644);
    try {
      await fh.writeFile(content, 'utf8');
      await fh.sync();
    } finally {
      await fh.close();
    }
    try {
      if (previous) {
        await chmod(tmp, previous.mode);
        if (process.getuid?.() === 0) await chown(tmp, previous.uid, previous.gid);
        // The backup is replaced atomically too: a crash never leaves a truncated backup.
        const backupTmp = `${tmp}.bak`;
        await copyFile(target, backupTmp);
        await rename(backupTmp, `${target}${BACKUP_SUFFIX}`);
      } else if (opts.mode !== undefined) {
        await chmod(tmp, opts.mode);
      }
      await rename(tmp, target);
    } catch (err) {
      await rm(tmp, { force: true });
      await rm(`${tmp}.bak`, { force: true });
      throw err;
    }
    await syncDir(dir);
  }

  async remove(hostPath: string): Promise<void> {
    await explained('remove', this.path(hostPath), () => rm(this.path(hostPath), { force: true }));
  }

  /** Remove a directory if it is empty (used after deleting the only file mirrornet put there). */
  async removeDirIfEmpty(hostDir: string): Promise<void> {
    const entries = await this.list(hostDir);
    if (entries.length === 0) await rmdir(this.path(hostDir)).catch(() => undefined);
  }

  /** Remove temp files killed writers left in a host directory (a live writer's are kept). */
  async cleanTemps(hostDir: string): Promise<void> {
    await this.cleanTempsOf(this.path(hostDir), '');
  }

  /** Remove the temp files a killed writer of `name` left behind (never another live writer's: pid check). */
  private async cleanTempsOf(dir: string, name: string): Promise<void> {
    let entries: string[];
    try {
      entries = await readdir(dir);
    } catch {
      return;
    }
    for (const entry of entries) {
      const at = entry.indexOf('.mirrornet-tmp-');
      if (at < 0 || !entry.startsWith('.') || (name && entry.slice(1, at) !== name)) continue;
      const pid = Number(entry.slice(at + '.mirrornet-tmp-'.length).split('-')[0]);
      if (pid && pid !== process.pid && isAlive(pid)) continue;
      await rm(join(dir, entry), { force: true });
    }
  }
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

async function syncDir(dir: string): Promise<void> {
  try {
    const fh = await open(dir, constants.O_RDONLY);
    try {
      await fh.sync();
    } finally {
      await fh.close();
    }
  } catch {
    /* some file systems do not allow fsync on directories */
  }
}
