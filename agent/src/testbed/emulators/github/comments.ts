// GitHub's issue (pull request) comment operations: list (with `since`, paginated), create, get, update
// (only the token's own comments) and delete, with GitHub's rules on blank and too-long bodies.
import type { Operation } from './openapi.js';
import { commentJson } from './render.js';
import { HttpReply, error, paginate, validationFailed, type OperationCall, type OperationHandler } from './replies.js';
import type { IssueComment } from './state.js';

const COMMENT_MAX_CHARS = 65536;

function findComment({ state, params, op }: OperationCall): IssueComment {
  const c = state.comments.get(Number(params['comment_id']));
  if (!c || c.owner.toLowerCase() !== params['owner']!.toLowerCase() || c.repo.toLowerCase() !== params['repo']!.toLowerCase())
    throw new HttpReply(error(404, 'Not Found', op.docsUrl));
  return c;
}

function checkCommentBody(op: Operation, body: string): void {
  if (body.trim() === '') throw new HttpReply(validationFailed(op, 'IssueComment', 'data', 'Body cannot be blank', 'unprocessable'));
  if ([...body].length > COMMENT_MAX_CHARS)
    throw new HttpReply(validationFailed(op, 'IssueComment', 'data', `Body is too long (maximum is ${COMMENT_MAX_CHARS} characters)`, 'unprocessable'));
}

const listComments: OperationHandler = ({ state, params, url }) => {
  const owner = params['owner']!;
  const repo = params['repo']!;
  const n = Number(params['issue_number']);
  const since = url.searchParams.get('since');
  const list = [...state.comments.values()]
    .filter((c) => c.owner.toLowerCase() === owner.toLowerCase() && c.repo.toLowerCase() === repo.toLowerCase() && c.issueNumber === n)
    .filter((c) => !since || c.updatedAt >= since)
    .sort((a, b) => a.id - b.id);
  return paginate(
    list.map((c) => commentJson(state, c)),
    url,
    state.origin,
  );
};

const createComment: OperationHandler = ({ state, op, params, body, now }) => {
  const text = body['body'] as string;
  checkCommentBody(op, text);
  const c: IssueComment = {
    id: state.nextCommentId++,
    owner: params['owner']!,
    repo: params['repo']!,
    issueNumber: Number(params['issue_number']),
    body: text,
    user: state.user,
    createdAt: now,
    updatedAt: now,
  };
  state.comments.set(c.id, c);
  const json = commentJson(state, c);
  return { status: 201, body: json, headers: { location: json.url } };
};

const updateComment: OperationHandler = (call) => {
  const { state, op, body, now } = call;
  const c = findComment(call);
  const text = body['body'] as string;
  checkCommentBody(op, text);
  if (c.user.login !== state.user.login) return error(403, 'Must have admin rights to Repository.', op.docsUrl);
  c.body = text;
  c.updatedAt = now;
  return { status: 200, body: commentJson(state, c) };
};

export const COMMENT_OPERATIONS: ReadonlyMap<string, OperationHandler> = new Map([
  ['issues/list-comments', listComments],
  ['issues/create-comment', createComment],
  ['issues/get-comment', (call) => ({ status: 200, body: commentJson(call.state, findComment(call)) })],
  ['issues/update-comment', updateComment],
  [
    'issues/delete-comment',
    (call) => {
      call.state.comments.delete(findComment(call).id);
      return { status: 204 };
    },
  ],
]);
