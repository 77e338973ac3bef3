// `mirrornet pr-comment`: the pull request's plan — validation findings of the head and the diff against the
// base — as ONE comment, found again by its hidden marker and updated in place on every push. Through octokit
// with GITHUB_TOKEN, against api.github.com, GitHub Enterprise Server (--api-url or GITHUB_API_URL) or an
// emulator. The full plan also goes to the job summary when GITHUB_STEP_SUMMARY is set.
import { appendFile } from 'node:fs/promises';
import type { Logger } from 'pino';
import { createLogger } from '../log.js';
import { redactText } from '../redact.js';
import { createGithubClient, DEFAULT_API_URL, describeGithubError, githubStatus, parseRepoSlug, type GithubClientOptions } from '../report/github/octokit.js';
import { PLAN_MARKER, upsertMarkedComment } from '../report/github/comment.js';
import { diffRevisions, renderDiff } from './diff.js';
import { UsageError, UserError } from './errors.js';
import type { Io } from './io.js';

export interface PrCommentOptions {
  repoSlug: string;
  pr: string;
  base: string;
  head: string;
  repo: string;
  apiUrl?: string;
  /** Print the comment instead of posting it. */
  dryRun?: boolean;
}

export interface PrCommentDeps {
  env?: NodeJS.ProcessEnv;
  /** Client tuning (tests shrink the retry and rate-limit waits). */
  client?: Omit<GithubClientOptions, 'token' | 'baseUrl' | 'log'>;
  log?: Logger;
}

export async function prCommentCommand(opts: PrCommentOptions, io: Io, deps: PrCommentDeps = {}): Promise<number> {
  const env = deps.env ?? process.env;
  const slug = parseRepoSlug(opts.repoSlug);
  if (!slug) throw new UsageError(`--repo-slug ${opts.repoSlug} must be owner/name, e.g. acme/fleet.`);
  if (!/^[1-9]\d{0,9}$/.test(opts.pr)) throw new UsageError(`--pr ${opts.pr} must be the pull request number.`);
  const token = env['GITHUB_TOKEN'];
  if (!opts.dryRun && !token)
    throw new UserError(
      'GITHUB_TOKEN is not set: in the workflow, pass env GITHUB_TOKEN: ${{ secrets.GITHUB_TOKEN }} (with permissions pull-requests: write).',
      1,
    );
  const baseUrl = opts.apiUrl ?? env['GITHUB_API_URL'] ?? DEFAULT_API_URL;
  try {
    new URL(baseUrl);
  } catch {
    throw new UsageError(`--api-url ${baseUrl} is not a URL: use e.g. https://github.example.com/api/v3 for GitHub Enterprise Server.`);
  }

  const report = await diffRevisions(opts.repo, opts.base, opts.head);
  // The footer names commits, not what HEAD^1 meant on the runner.
  const body = renderDiff(report, 'markdown', { base: report.base.sha.slice(0, 12), head: report.head.sha.slice(0, 12) });
  const summaryFile = env['GITHUB_STEP_SUMMARY'];
  if (summaryFile) await appendFile(summaryFile, redactText(body)).catch(() => undefined);
  if (opts.dryRun) {
    io.stdout(`${PLAN_MARKER}\n${body}`);
    return 0;
  }

  const log = (deps.log ?? createLogger({ level: env['MIRRORNET_LOG_LEVEL'] ?? 'warn' })).child({
    component: 'pr-comment',
    repo: opts.repoSlug,
    pr: Number(opts.pr),
  });
  const octokit = createGithubClient({ token: token!, baseUrl, log, ...deps.client });
  const command = `mirrornet diff --base ${report.base.sha.slice(0, 12)} --head ${report.head.sha.slice(0, 12)} --format json`;
  const notice =
    `> [!NOTE]\n> This plan is longer than a GitHub comment allows and was cut here. Run \`${command}\` for all of it` +
    `${summaryFile ? ', or open the job summary of this workflow run' : ''}.\n`;
  let result;
  try {
    result = await upsertMarkedComment(octokit, { owner: slug.owner, repo: slug.repo, issueNumber: Number(opts.pr), body, truncatedNotice: notice, log });
  } catch (err) {
    const reason = describeGithubError(err);
    const status = githubStatus(err);
    const hint =
      status === 401
        ? ' Check GITHUB_TOKEN.'
        : status === 403
          ? ' The token may not write pull requests: give the job `permissions: pull-requests: write` (a pull request from a fork gets a read-only token).'
          : status === 404
            ? ` Check --repo-slug, --pr and --api-url (${baseUrl}).`
            : '';
    throw new UserError(`Cannot post the plan on ${opts.repoSlug}#${opts.pr}: ${reason}.${hint}`, 1, { cause: err });
  }
  io.stdout(`plan comment ${result.action}: ${result.url} (${result.length} characters${result.truncated ? ', truncated' : ''})\n`);
  if (!report.head.valid) io.stdout(`the head ${report.head.sha.slice(0, 12)} is invalid: ${report.head.errors.length} errors, listed in the comment.\n`);
  return 0;
}
