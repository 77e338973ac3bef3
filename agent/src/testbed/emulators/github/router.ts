// How the GitHub emulator answers an API request: the token first (a wrong one is a 401 on every path, like
// GitHub), then GitHub's OpenAPI description routes it to an operation (unknown path or method, or a path
// parameter of the wrong type: 404), the body is parsed and checked against the operation's schema (400,
// 422 "Invalid request."), an injected fault may answer, and otherwise the operation's handler does.
import { COMMENT_OPERATIONS } from './comments.js';
import { faultReply, type FaultList, type FaultKind } from './faults.js';
import type { OpenApiSpec, Operation } from './openapi.js';
import { error, type OperationHandler, type Reply } from './replies.js';
import { githubTime, type GithubState } from './state.js';
import { STATUS_OPERATIONS } from './statuses.js';
import { sameSecret } from '../http.js';

export interface RequestLogEntry {
  time: string;
  method: string;
  /** Path without the query string (and with the path prefix). */
  path: string;
  query: string;
  status: number;
  /** The OpenAPI operationId the request was routed to. */
  operation?: string;
  /** The parsed JSON body, when there was one. */
  body?: unknown;
  /** The injected fault that answered, if any. */
  fault?: FaultKind;
}

export interface RouterContext {
  spec: OpenApiSpec;
  /** The tokens accepted. */
  tokens: readonly string[];
  state: GithubState;
  faults: FaultList;
}

const OPERATIONS: ReadonlyMap<string, OperationHandler> = new Map([...COMMENT_OPERATIONS, ...STATUS_OPERATIONS]);

function handle(state: GithubState, op: Operation, params: Record<string, string>, url: URL, body: Record<string, unknown>): Reply {
  const now = githubTime();
  const owner = params['owner'];
  const repo = params['repo'];
  if (owner !== undefined && repo !== undefined && state.repos && !state.repos.has(`${owner}/${repo}`.toLowerCase()))
    return error(404, 'Not Found', op.docsUrl);
  const handler = OPERATIONS.get(op.operationId);
  if (!handler) return error(501, `The GitHub emulator does not implement ${op.operationId} (${op.method} ${op.template}).`, op.docsUrl);
  return handler({ state, op, params, url, body, now });
}

/** The reply to one request; `entry` gets the operation, the body and the fault. Handlers may throw HttpReply. */
export function route(ctx: RouterContext, method: string, url: URL, raw: string, header: string | undefined, entry: RequestLogEntry): Reply {
  const { spec, tokens, state } = ctx;
  const prefix = state.prefix;
  // Auth first: a wrong token is a 401 on every path, like GitHub.
  if (header !== undefined) {
    const m = /^(?:token|bearer)\s+(\S+)\s*$/i.exec(header);
    if (!m || !tokens.some((t) => sameSecret(t, m[1]!))) return error(401, 'Bad credentials');
  }
  if (prefix && !(url.pathname === prefix || url.pathname.startsWith(`${prefix}/`))) return error(404, 'Not Found');
  const apiPath = url.pathname.slice(prefix.length) || '/';
  const match = spec.match(method, apiPath);
  if (match.kind === 'unknown-path' || match.kind === 'unknown-method') return error(404, 'Not Found');
  if (match.kind === 'bad-parameter') {
    entry.operation = match.operation.operationId;
    return error(404, 'Not Found', match.operation.docsUrl);
  }
  const op = match.operation;
  entry.operation = op.operationId;
  if (header === undefined) return error(401, 'Requires authentication', op.docsUrl);
  let body: Record<string, unknown> = {};
  if (op.requestBody) {
    let data: unknown = {};
    if (raw.trim() !== '') {
      try {
        data = JSON.parse(raw);
      } catch {
        return error(400, 'Problems parsing JSON', op.docsUrl);
      }
    }
    entry.body = data;
    if (op.requestBody.schema) {
      const problems = spec.validate(op.requestBody.schema, data);
      if (problems.length) return error(422, `Invalid request.\n${problems.map((p) => `\n${p}`).join('')}`, op.docsUrl);
    }
    body = (data ?? {}) as Record<string, unknown>;
  }
  const f = ctx.faults.take(method, apiPath, op);
  if (f) {
    entry.fault = f.kind;
    return faultReply(f, op, state.user);
  }
  return handle(state, op, match.params, url, body);
}
