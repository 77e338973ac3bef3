// Reporting to GitHub: the pull request's plan comment and the agent's commit statuses.
export { createGithubClient, parseRepoSlug, type Octokit } from './octokit.js';
export { PLAN_MARKER, GITHUB_COMMENT_LIMIT, COMMENT_BUDGET, truncateMarkdown, upsertMarkedComment } from './comment.js';
export { createGithubStatusSink, truncateDescription } from './status.js';
