// GitHub's commit status operations: create (a 40-hex SHA, descriptions up to 140 characters, at most
// 1000 statuses per SHA and context), list for a ref (newest first, paginated) and the combined status.
import { nodeId, statusJson } from './render.js';
import { error, paginate, validationFailed, type OperationHandler } from './replies.js';
import type { CommitStatus, GithubState } from './state.js';

const SHA_RE = /^[0-9a-f]{40}$/;
const STATUS_DESCRIPTION_MAX = 140;
const STATUSES_PER_CONTEXT = 1000;

/** The statuses of a ref in owner/repo, newest first. */
function statusesOf(state: GithubState, owner: string, repo: string, ref: string): CommitStatus[] {
  return state.statuses.filter((s) => s.sha === ref && s.owner.toLowerCase() === owner.toLowerCase() && s.repo.toLowerCase() === repo.toLowerCase()).reverse();
}

const createStatus: OperationHandler = ({ state, op, params, body, now }) => {
  const owner = params['owner']!;
  const repo = params['repo']!;
  const sha = params['sha']!;
  if (!SHA_RE.test(sha)) return error(422, `No commit found for SHA: ${sha}`, op.docsUrl);
  const description = (body['description'] as string | null | undefined) ?? null;
  if (description !== null && [...description].length > STATUS_DESCRIPTION_MAX) {
    return validationFailed(op, 'Status', 'description', `description is too long (maximum is ${STATUS_DESCRIPTION_MAX} characters)`);
  }
  const context = (body['context'] as string | undefined) ?? 'default';
  const same = state.statuses.filter(
    (s) =>
      s.sha === sha &&
      s.context.toLowerCase() === context.toLowerCase() &&
      s.owner.toLowerCase() === owner.toLowerCase() &&
      s.repo.toLowerCase() === repo.toLowerCase(),
  );
  if (same.length >= STATUSES_PER_CONTEXT) return validationFailed(op, 'Status', 'context', 'This SHA and context has reached the maximum number of statuses.');
  const s: CommitStatus = {
    id: state.nextStatusId++,
    owner,
    repo,
    sha,
    state: body['state'] as CommitStatus['state'],
    description,
    targetUrl: (body['target_url'] as string | null | undefined) ?? null,
    context,
    creator: state.user,
    createdAt: now,
    updatedAt: now,
  };
  state.statuses.push(s);
  const json = statusJson(state, s);
  return { status: 201, body: json, headers: { location: json.url } };
};

const listStatuses: OperationHandler = ({ state, params, url }) => {
  const list = statusesOf(state, params['owner']!, params['repo']!, params['ref']!);
  return paginate(
    list.map((s) => statusJson(state, s)),
    url,
    state.origin,
  );
};

const combinedStatus: OperationHandler = ({ state, op, params }) => {
  const owner = params['owner']!;
  const repo = params['repo']!;
  const ref = params['ref']!;
  const all = statusesOf(state, owner, repo, ref);
  if (!all.length && !SHA_RE.test(ref)) return error(404, 'No commit found for SHA: ' + ref, op.docsUrl);
  const latest = new Map<string, CommitStatus>();
  for (const s of all) if (!latest.has(s.context.toLowerCase())) latest.set(s.context.toLowerCase(), s);
  const list = [...latest.values()];
  const combined = list.some((s) => s.state === 'failure' || s.state === 'error')
    ? 'failure'
    : list.length && list.every((s) => s.state === 'success')
      ? 'success'
      : 'pending';
  const repoUrl = `${state.origin}${state.prefix}/repos/${owner}/${repo}`;
  return {
    status: 200,
    body: {
      state: combined,
      statuses: list.map((s) => statusJson(state, s)),
      sha: ref,
      total_count: list.length,
      repository: { id: 1, node_id: nodeId('R', 1), name: repo, full_name: `${owner}/${repo}`, url: repoUrl },
      commit_url: `${repoUrl}/commits/${ref}`,
      url: `${repoUrl}/commits/${ref}/status`,
    },
  };
};

export const STATUS_OPERATIONS: ReadonlyMap<string, OperationHandler> = new Map([
  ['repos/create-commit-status', createStatus],
  ['repos/list-commit-statuses-for-ref', listStatuses],
  ['repos/get-combined-status-for-ref', combinedStatus],
]);
