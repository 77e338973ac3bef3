// A revision's model files, read from git objects (ls-tree and cat-file: no checkout, the work tree is
// never touched), listed the way the loader lists a directory.
import { posix } from 'node:path';
import { listingFindings } from '../model/file-findings.js';
import type { Finding } from '../model/finding.js';
import { MAX_FILE_BYTES, MODEL_DIRECTORIES, type VirtualFile } from '../model/loader.js';
import { GitError, resolveRevision, runGit } from './git.js';

interface TreeEntry {
  mode: string;
  type: string;
  object: string;
  size: number;
  path: string;
}

export interface RevisionFiles {
  sha: string;
  files: VirtualFile[];
  /** Findings about the listing itself (symlinks leaving the repository, files too large): their files are unusable. */
  findings: Finding[];
}

function parseTree(out: Buffer): TreeEntry[] {
  const entries: TreeEntry[] = [];
  for (const rec of out.toString('utf8').split('\0')) {
    if (!rec) continue;
    const tab = rec.indexOf('\t');
    const [mode, type, object, size] = rec.slice(0, tab).split(/\s+/) as [string, string, string, string];
    entries.push({ mode, type, object, size: size === '-' ? 0 : Number(size), path: rec.slice(tab + 1) });
  }
  return entries;
}

/** Read blobs by object id with one `git cat-file --batch`. */
async function readBlobs(dir: string, ids: string[]): Promise<Map<string, Buffer>> {
  const out = new Map<string, Buffer>();
  const unique = [...new Set(ids)];
  if (!unique.length) return out;
  const res = await runGit(dir, ['cat-file', '--batch'], { input: `${unique.join('\n')}\n` });
  if (res.code !== 0) throw new GitError(`git cat-file failed in ${dir}: ${res.stderr}`);
  const buf = res.stdout;
  let pos = 0;
  for (const id of unique) {
    const nl = buf.indexOf(0x0a, pos);
    if (nl < 0) break;
    const header = buf.subarray(pos, nl).toString('utf8');
    pos = nl + 1;
    const m = /^([0-9a-f]+) (\w+) (\d+)$/.exec(header);
    if (!m) continue; // "<id> missing"
    const size = Number(m[3]);
    out.set(id, buf.subarray(pos, pos + size));
    pos += size + 1;
  }
  return out;
}

/**
 * The model files of a revision, as `listModelFiles` lists a directory: the YAML files directly under
 * hubs/, regions/, harbor/ and policies/; symlinks followed inside the repository, reported when they leave
 * it or point nowhere; files over 1 MiB reported unread.
 */
export async function readRevisionFiles(dir: string, rev: string, opts: { allowEmpty?: boolean } = {}): Promise<RevisionFiles> {
  const { sha, prefix } = await resolveRevision(dir, rev);
  const treeish = prefix ? `${sha}:${prefix.replace(/\/$/, '')}` : `${sha}^{tree}`;
  // --full-tree: paths relative to the tree given (the fleet directory), whatever the working directory.
  const listing = await runGit(dir, ['ls-tree', '-r', '-z', '-l', '--full-tree', treeish]);
  if (listing.code !== 0) throw new GitError(`Cannot list ${rev} in ${dir}: ${listing.stderr}`);
  const all = parseTree(listing.stdout);
  const byPath = new Map(all.map((e) => [e.path, e]));
  const dirs = new Set<string>();
  for (const e of all) for (let d = posix.dirname(e.path); d !== '.' && d !== '/'; d = posix.dirname(d)) dirs.add(d);

  const findings: Finding[] = [];
  const symlinkTargets = await readBlobs(
    dir,
    all.filter((e) => e.mode === '120000').map((e) => e.object),
  );

  /** Follow symlinks (inside the fleet directory only) to a file entry or a directory path. */
  const resolve = (path: string, depth = 0): { kind: 'file'; entry: TreeEntry } | { kind: 'dir'; path: string } | { kind: 'outside' } | { kind: 'missing' } => {
    if (depth > 16) return { kind: 'missing' };
    // Symlinked parent directories first.
    const parts = path.split('/');
    for (let i = 1; i < parts.length; i++) {
      const parent = parts.slice(0, i).join('/');
      const pe = byPath.get(parent);
      if (pe && pe.mode === '120000') {
        const r = resolve(parent, depth + 1);
        if (r.kind !== 'dir') return r.kind === 'file' ? { kind: 'missing' } : r;
        return resolve([r.path, ...parts.slice(i)].join('/'), depth + 1);
      }
    }
    if (dirs.has(path)) return { kind: 'dir', path };
    const e = byPath.get(path);
    if (!e) return { kind: 'missing' };
    if (e.mode !== '120000') return e.type === 'blob' ? { kind: 'file', entry: e } : { kind: 'missing' };
    const target = symlinkTargets.get(e.object)?.toString('utf8') ?? '';
    if (target.startsWith('/')) return { kind: 'outside' };
    const joined = posix.normalize(posix.join(posix.dirname(path), target));
    if (joined === '..' || joined.startsWith('../')) return { kind: 'outside' };
    return resolve(joined === '.' ? '' : joined, depth + 1);
  };

  const wanted: { rel: string; entry: TreeEntry }[] = [];
  let anyDir = false;
  for (const d of MODEL_DIRECTORIES) {
    const top = byPath.get(d);
    let base: string = d;
    if (top && top.mode === '120000') {
      const r = resolve(d);
      if (r.kind === 'outside') {
        findings.push(listingFindings.directoryLeaves(d));
        anyDir = true;
        continue;
      }
      if (r.kind !== 'dir') continue;
      base = r.path;
    }
    if (!dirs.has(base)) continue;
    anyDir = true;
    const names = new Set<string>();
    for (const e of all) {
      if (posix.dirname(e.path) !== base) continue;
      names.add(posix.basename(e.path));
    }
    for (const name of [...names].sort()) {
      const ext = posix.extname(name);
      if (ext !== '.yaml' && ext !== '.yml') continue;
      const rel = `${d}/${name}`;
      const r = resolve(`${base}/${name}`);
      if (r.kind === 'outside') {
        findings.push(listingFindings.fileLeaves(rel));
        continue;
      }
      if (r.kind === 'missing') {
        if (byPath.get(`${base}/${name}`)?.mode === '120000') {
          findings.push(listingFindings.pointsNowhere(rel));
        }
        continue;
      }
      if (r.kind === 'dir') continue;
      if (r.entry.size > MAX_FILE_BYTES) {
        findings.push(listingFindings.tooLarge(rel, r.entry.size, MAX_FILE_BYTES));
        continue;
      }
      wanted.push({ rel, entry: r.entry });
    }
  }
  if (!anyDir) {
    // The base of the pull request that adds the fleet has none of it: everything is new.
    if (opts.allowEmpty) return { sha, files: [], findings: [] };
    throw new GitError(
      `${rev} has none of hubs/, regions/, harbor/, policies/ in ${prefix || 'the top of the repository'}: pass --repo with the configuration ` +
        `repository's directory.`,
    );
  }
  const blobs = await readBlobs(
    dir,
    wanted.map((w) => w.entry.object),
  );
  const files: VirtualFile[] = wanted.map((w) => ({ path: w.rel, content: blobs.get(w.entry.object) ?? Buffer.alloc(0) }));
  return { sha, files, findings };
}
