// The GitHub REST API's JSON shapes of what the emulator holds (simple-user, issue-comment, status), with
// URLs under the emulator's own origin and path prefix and node ids in GitHub's style.
import type { CommitStatus, GithubState, GithubUser, IssueComment } from './state.js';

/** Where the emulator is served, for the URLs in bodies. */
type Site = Pick<GithubState, 'origin' | 'prefix'>;

export function nodeId(prefix: string, id: number): string {
  return `${prefix}_${Buffer.from(`emu:${id}`).toString('base64url')}`;
}

function userJson({ origin, prefix }: Site, u: GithubUser) {
  const base = `${origin}${prefix}/users/${encodeURIComponent(u.login)}`;
  return {
    login: u.login,
    id: u.id,
    node_id: nodeId(u.type === 'Bot' ? 'BOT' : 'U', u.id),
    avatar_url: `${origin}/avatars/u/${u.id}?v=4`,
    gravatar_id: '',
    url: base,
    html_url: `${origin}/${encodeURIComponent(u.login)}`,
    followers_url: `${base}/followers`,
    following_url: `${base}/following{/other_user}`,
    gists_url: `${base}/gists{/gist_id}`,
    starred_url: `${base}/starred{/owner}{/repo}`,
    subscriptions_url: `${base}/subscriptions`,
    organizations_url: `${base}/orgs`,
    repos_url: `${base}/repos`,
    events_url: `${base}/events{/privacy}`,
    received_events_url: `${base}/received_events`,
    type: u.type,
    user_view_type: 'public',
    site_admin: false,
  };
}

export function commentJson(site: Site, c: IssueComment) {
  const { origin, prefix } = site;
  return {
    url: `${origin}${prefix}/repos/${c.owner}/${c.repo}/issues/comments/${c.id}`,
    html_url: `${origin}/${c.owner}/${c.repo}/pull/${c.issueNumber}#issuecomment-${c.id}`,
    issue_url: `${origin}${prefix}/repos/${c.owner}/${c.repo}/issues/${c.issueNumber}`,
    id: c.id,
    node_id: nodeId('IC', c.id),
    user: userJson(site, c.user),
    created_at: c.createdAt,
    updated_at: c.updatedAt,
    author_association: 'NONE',
    body: c.body,
    reactions: {
      url: `${origin}${prefix}/repos/${c.owner}/${c.repo}/issues/comments/${c.id}/reactions`,
      total_count: 0,
      '+1': 0,
      '-1': 0,
      laugh: 0,
      hooray: 0,
      confused: 0,
      heart: 0,
      rocket: 0,
      eyes: 0,
    },
    performed_via_github_app: null,
  };
}

export function statusJson(site: Site, s: CommitStatus) {
  const { origin, prefix } = site;
  return {
    url: `${origin}${prefix}/repos/${s.owner}/${s.repo}/statuses/${s.sha}`,
    avatar_url: `${origin}/avatars/u/${s.creator.id}?v=4`,
    id: s.id,
    node_id: nodeId('SC', s.id),
    state: s.state,
    description: s.description,
    target_url: s.targetUrl,
    context: s.context,
    created_at: s.createdAt,
    updated_at: s.updatedAt,
    creator: userJson(site, s.creator),
  };
}
