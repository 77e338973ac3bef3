// Reporting to GitHub: the pull request's plan comment and the agent's commit statuses.
export { createGithubClient, describeGithubError, parseRepoSlug, DEFAULT_API_URL, type GithubClientOptions, type Octokit } from './octokit.js';
export {
  PLAN_MARKER,
  GITHUB_COMMENT_LIMIT,
  COMMENT_BUDGET,
  truncateMarkdown,
  commentBody,
  findMarkedComment,
  upsertMarkedComment,
  type UpsertCommentOptions,
  type UpsertResult,
} from './comment.js';
export {
  createGithubStatusSink,
  statusForEvent,
  truncateDescription,
  STATUS_DESCRIPTION_LIMIT,
  STATUS_CONTEXT_PREFIX,
  type GithubStatusSink,
  type GithubStatusSinkOptions,
  type StatusState,
  type StatusUpdate,
} from './status.js';
