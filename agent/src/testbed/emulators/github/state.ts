// What the GitHub emulator holds: the issue comments and commit statuses written to it, who the token is,
// which repositories exist, the next ids, and where it is served (for the URLs in its bodies).
export interface GithubUser {
  login: string;
  id: number;
  type: 'Bot' | 'User';
}

export interface IssueComment {
  id: number;
  owner: string;
  repo: string;
  issueNumber: number;
  body: string;
  user: GithubUser;
  createdAt: string;
  updatedAt: string;
}

export interface CommitStatus {
  id: number;
  owner: string;
  repo: string;
  sha: string;
  state: 'error' | 'failure' | 'pending' | 'success';
  description: string | null;
  targetUrl: string | null;
  context: string;
  creator: GithubUser;
  createdAt: string;
  updatedAt: string;
}

export interface GithubState {
  /** Who the token is (comment authors, status creators). */
  user: GithubUser;
  /** Repositories (lower-case owner/name) that exist; absent: any. */
  repos: Set<string> | undefined;
  comments: Map<number, IssueComment>;
  statuses: CommitStatus[];
  nextCommentId: number;
  nextStatusId: number;
  /** `http://host:port`, once the emulator listens. */
  origin: string;
  /** The API's base path: '' or '/api/v3'. */
  prefix: string;
}

/** The time as GitHub writes it: ISO 8601 without milliseconds. */
export function githubTime(): string {
  return new Date().toISOString().replace(/\.\d{3}Z$/, 'Z');
}
