// `mirrornet diff --base REV --head REV`: offline, what a change to the repository does to every site. Both
// revisions are read from git objects (ls-tree and cat-file: no checkout, the work tree is never touched),
// loaded and validated like `mirrornet validate` reads a directory, then compared. Exit 0 no changes, 2
// changes, 1 error (an invalid head is an error: its findings are the report).
import { spawn } from 'node:child_process';
import { posix } from 'node:path';
import type { Finding } from '../model/finding.js';
import { loadFiles, MAX_FILE_BYTES, MODEL_DIRECTORIES, type VirtualFile } from '../model/loader.js';
import { validateLoaded, type Report } from '../policy/validate.js';
import { buildDiffReport, renderJson, renderMarkdown, renderText, type DiffReport } from '../report/diff/index.js';
import { UserError } from './errors.js';
import type { Io } from './io.js';

export type DiffFormat = 'markdown' | 'text' | 'json';

export interface DiffOptions {
  base: string;
  head: string;
  repo: string;
  format: DiffFormat;
}

interface GitResult {
  code: number;
  stdout: Buffer;
  stderr: string;
}

function runGit(cwd: string, args: string[], input?: Buffer | string): Promise<GitResult> {
  return new Promise((resolve, reject) => {
    const child = spawn('git', args, { cwd, env: { ...process.env, GIT_TERMINAL_PROMPT: '0', GIT_OPTIONAL_LOCKS: '0' }, stdio: ['pipe', 'pipe', 'pipe'] });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout.on('data', (d: Buffer) => out.push(d));
    child.stderr.on('data', (d: Buffer) => err.push(d));
    child.on('error', (e) => reject(new UserError(`git cannot be run (${e.message}): install git.`, 1, { cause: e })));
    child.on('close', (code) => resolve({ code: code ?? 1, stdout: Buffer.concat(out), stderr: Buffer.concat(err).toString('utf8').trim() }));
    child.stdin.on('error', () => undefined);
    child.stdin.end(input ?? '');
  });
}

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
  /** Findings about the listing itself (symlinks leaving the repository, files too large). */
  findings: Finding[];
  /** Paths that could not be read as objects (for "not dangling" references). */
  broken: string[];
}

function fileFinding(path: string, rule: string, message: string): Finding {
  return { rule, severity: 'error', file: path, line: 1, column: 1, message };
}

/** The commit a revision names, and the path of `dir` inside its repository ('' at the top). */
async function resolveRevision(dir: string, rev: string): Promise<{ sha: string; prefix: string }> {
  if (!rev || rev.startsWith('-')) throw new UserError(`"${rev}" is not a revision: give a commit, branch or tag (e.g. origin/main).`, 1);
  let inside = await runGit(dir, ['rev-parse', '--show-prefix']);
  if (inside.code !== 0) {
    // A bare repository has no work tree: the fleet is at the top of its trees.
    const bare = await runGit(dir, ['rev-parse', '--is-bare-repository']);
    if (bare.code === 0 && bare.stdout.toString('utf8').trim() === 'true') inside = { code: 0, stdout: Buffer.alloc(0), stderr: '' };
    else
      throw new UserError(`${dir} is not in a git repository (${inside.stderr.split('\n')[0]}): pass --repo with a clone of the configuration repository.`, 1);
  }
  const res = await runGit(dir, ['rev-parse', '--verify', '--quiet', '--end-of-options', `${rev}^{commit}`]);
  if (res.code !== 0) {
    throw new UserError(`${rev} is not a commit in ${dir}: fetch it first (in GitHub Actions, check out with fetch-depth: 0 so both revisions exist).`, 1);
  }
  return { sha: res.stdout.toString('utf8').trim(), prefix: inside.stdout.toString('utf8').trim() };
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
  const res = await runGit(dir, ['cat-file', '--batch'], `${unique.join('\n')}\n`);
  if (res.code !== 0) throw new UserError(`git cat-file failed in ${dir}: ${res.stderr}`, 1);
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
  if (listing.code !== 0) throw new UserError(`Cannot list ${rev} in ${dir}: ${listing.stderr}`, 1);
  const all = parseTree(listing.stdout);
  const byPath = new Map(all.map((e) => [e.path, e]));
  const dirs = new Set<string>();
  for (const e of all) for (let d = posix.dirname(e.path); d !== '.' && d !== '/'; d = posix.dirname(d)) dirs.add(d);

  const findings: Finding[] = [];
  const broken: string[] = [];
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
        findings.push(
          fileFinding(
            `${d}/`,
            'file/symlink',
            `${d}/ is a symlink that points outside the repository; the fleet must be reviewable in the repository alone: replace it with the directory itself.`,
          ),
        );
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
        findings.push(
          fileFinding(
            rel,
            'file/symlink',
            'This symlink points outside the repository; the fleet must be reviewable in the repository alone: replace it with the file itself.',
          ),
        );
        broken.push(rel);
        continue;
      }
      if (r.kind === 'missing') {
        if (byPath.get(`${base}/${name}`)?.mode === '120000') {
          findings.push(fileFinding(rel, 'file/symlink', 'This symlink points nowhere: remove it or point it at a file inside the repository.'));
          broken.push(rel);
        }
        continue;
      }
      if (r.kind === 'dir') continue;
      if (r.entry.size > MAX_FILE_BYTES) {
        findings.push(
          fileFinding(
            rel,
            'file/too-large',
            `This file is ${r.entry.size} bytes; configuration files may be at most ${MAX_FILE_BYTES} bytes (1 MiB): split it or remove generated content.`,
          ),
        );
        broken.push(rel);
        continue;
      }
      wanted.push({ rel, entry: r.entry });
    }
  }
  if (!anyDir) {
    // The base of the pull request that adds the fleet has none of it: everything is new.
    if (opts.allowEmpty) return { sha, files: [], findings: [], broken: [] };
    throw new UserError(
      `${rev} has none of hubs/, regions/, harbor/, policies/ in ${prefix || 'the top of the repository'}: pass --repo with the configuration repository's directory.`,
      1,
    );
  }
  const blobs = await readBlobs(
    dir,
    wanted.map((w) => w.entry.object),
  );
  const files: VirtualFile[] = wanted.map((w) => ({ path: w.rel, content: blobs.get(w.entry.object) ?? Buffer.alloc(0) }));
  return { sha, files, findings, broken };
}

const KIND_OF_DIRECTORY: Record<string, string> = { regions: 'Region', hubs: 'Hub', harbor: 'HarborInstance' };

/** Load and validate a revision the way `mirrornet validate` checks a directory. */
export function validateRevision(rf: RevisionFiles): Report {
  const load = loadFiles(rf.files);
  load.findings.unshift(...rf.findings);
  for (const path of rf.broken) {
    const stem = posix.basename(path, posix.extname(path));
    load.invalid.push({ kind: KIND_OF_DIRECTORY[path.split('/')[0] ?? ''] ?? 'unknown', name: stem, file: path });
  }
  return validateLoaded(load);
}

/** Read, validate and compare two revisions. */
export async function diffRevisions(repo: string, base: string, head: string): Promise<DiffReport> {
  const [b, h] = await Promise.all([readRevisionFiles(repo, base, { allowEmpty: true }), readRevisionFiles(repo, head)]);
  return buildDiffReport({ rev: base, sha: b.sha, report: validateRevision(b) }, { rev: head, sha: h.sha, report: validateRevision(h) });
}

export function renderDiff(report: DiffReport, format: DiffFormat, opts: { base: string; head: string }): string {
  if (format === 'json') return renderJson(report);
  if (format === 'text') return renderText(report);
  return renderMarkdown(report, { command: `mirrornet diff --base ${opts.base} --head ${opts.head}` });
}

/** Exit 0 no changes, 2 changes, 1 error (an invalid head too). */
export async function diffCommand(opts: DiffOptions, io: Io): Promise<number> {
  const report = await diffRevisions(opts.repo, opts.base, opts.head);
  io.stdout(renderDiff(report, opts.format, opts));
  if (!report.head.valid) {
    io.stderr(`mirrornet: ${opts.head} is invalid (${report.head.errors.length} errors): see the findings above.\n`);
    return 1;
  }
  return report.changed ? 2 : 0;
}
