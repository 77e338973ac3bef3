// `mirrornet diff --base REV --head REV`: offline, what a change to the repository does to every site. Both
// revisions are read from git objects (ls-tree and cat-file: no checkout, the work tree is never touched),
// loaded and validated like `mirrornet validate` reads a directory, then compared. Exit 0 no changes, 2
// changes, 1 error (an invalid head is an error: its findings are the report).
import { posix } from 'node:path';
import { loadFiles } from '../model/loader.js';
import { readRevisionFiles, type RevisionFiles } from '../source/revision-files.js';
import { validateLoaded, type Report } from '../policy/validate.js';
import { buildDiffReport, renderJson, renderMarkdown, renderText, type DiffReport } from '../report/diff/index.js';
import type { Io } from './io.js';

export type DiffFormat = 'markdown' | 'text' | 'json';

export interface DiffOptions {
  base: string;
  head: string;
  repo: string;
  format: DiffFormat;
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
