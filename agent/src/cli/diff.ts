// `mirrornet diff --base REV --head REV`: offline, what a change to the repository does to every site. Both
// revisions go through the one pipeline, read from git objects (the work tree is never touched), and are
// compared. Exit 0 no changes, 2 changes, 1 error (an invalid head is an error: its findings are the report).
import { evaluateRepository } from '../reconcile/pipeline.js';
import { buildDiffReport, renderJson, renderMarkdown, renderText, type DiffReport } from '../report/diff/index.js';
import type { Io } from './io.js';

export type DiffFormat = 'markdown' | 'text' | 'json';

export interface DiffOptions {
  base: string;
  head: string;
  repo: string;
  format: DiffFormat;
}

/** Read, validate and compare two revisions. */
export async function diffRevisions(repo: string, base: string, head: string): Promise<DiffReport> {
  const [b, h] = await Promise.all([
    evaluateRepository({ repo, revision: base, allowEmpty: true }, 'all', { evenIfInvalid: true }),
    evaluateRepository({ repo, revision: head }, 'all'),
  ]);
  return buildDiffReport({ rev: base, evaluation: b }, { rev: head, evaluation: h });
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
