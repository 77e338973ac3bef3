// The GitHub emulator against GitHub's published REST description (@octokit/openapi): every path and body
// is checked against it (unknown paths and methods 404, malformed bodies 422 with GitHub's "Invalid request."
// wording), auth with GitHub's 401 bodies, pagination with Link headers, injected rate limits, responses that
// match the description's response schemas, the request log, and a GitHub Enterprise path prefix.
import assert from 'node:assert/strict';
import { Octokit } from 'octokit';
import { startGithubEmulator, type GithubEmulator } from '../../src/testbed/emulators/github/index.js';

const TOKEN = 'ghs_emulatorTestToken000000000000000000';
const SHA = 'a'.repeat(40);

interface Res {
  status: number;
  headers: Headers;
  json: any; // eslint-disable-line @typescript-eslint/no-explicit-any
}

async function call(e: GithubEmulator, method: string, path: string, body?: unknown, token: string | null = TOKEN): Promise<Res> {
  const res = await fetch(`${e.url}${path}`, {
    method,
    headers: {
      ...(token !== null ? { authorization: `token ${token}` } : {}),
      ...(body !== undefined ? { 'content-type': 'application/json' } : {}),
      accept: 'application/vnd.github+json',
    },
    ...(body !== undefined ? { body: typeof body === 'string' ? body : JSON.stringify(body) } : {}),
  });
  const text = await res.text();
  return { status: res.status, headers: res.headers, json: text ? JSON.parse(text) : undefined };
}

/** The response schema of an operation for a status, from the description. */
function responseSchema(e: GithubEmulator, method: string, path: string, status: string) {
  const m = e.spec.match(method, path);
  assert.equal(m.kind, 'operation');
  if (m.kind !== 'operation') throw new Error('unreachable');
  const schema = m.operation.responses[status];
  assert.ok(schema, `${method} ${path} has a ${status} schema`);
  return schema;
}

describe('GitHub emulator', function () {
  this.timeout(30_000);
  let e: GithubEmulator;
  before(async () => {
    e = await startGithubEmulator({ token: TOKEN });
  });
  after(async () => {
    await e.close();
  });
  beforeEach(() => {
    e.clearFaults();
    e.clearLog();
  });

  it("routes through GitHub's published description, trimmed to the operations it serves", () => {
    assert.deepEqual(
      e.spec
        .operations()
        .map((o) => o.operationId)
        .sort(),
      [
        'issues/create-comment',
        'issues/delete-comment',
        'issues/get-comment',
        'issues/list-comments',
        'issues/update-comment',
        'repos/create-commit-status',
        'repos/get-combined-status-for-ref',
        'repos/list-commit-statuses-for-ref',
      ],
    );
    assert.match(e.url, /^http:\/\/127\.0\.0\.1:\d+$/);
    const m = e.spec.match('GET', '/repos/o/r/issues/comments/5');
    assert.equal(m.kind === 'operation' && m.operation.operationId, 'issues/get-comment');
    const list = e.spec.match('GET', '/repos/o/r/issues/7/comments');
    assert.equal(list.kind === 'operation' && list.operation.operationId, 'issues/list-comments');
    // x-multi-segment: a ref with slashes
    const st = e.spec.match('GET', '/repos/o/r/commits/heads/feature/x/statuses');
    assert.equal(st.kind === 'operation' && st.operation.operationId, 'repos/list-commit-statuses-for-ref');
  });

  it('answers a wrong token with 401 Bad credentials on any path, and a missing one with Requires authentication', async () => {
    const bad = await call(e, 'GET', '/repos/o/r/issues/1/comments', undefined, 'nope');
    assert.equal(bad.status, 401);
    assert.deepEqual(bad.json, { message: 'Bad credentials', documentation_url: 'https://docs.github.com/rest', status: '401' });
    const unknown = await call(e, 'GET', '/no/such/thing', undefined, 'nope');
    assert.equal(unknown.status, 401);
    const none = await call(e, 'POST', '/repos/o/r/issues/1/comments', { body: 'x' }, null);
    assert.equal(none.status, 401);
    assert.equal(none.json.message, 'Requires authentication');
    assert.equal(none.json.documentation_url, 'https://docs.github.com/rest/issues/comments#create-an-issue-comment');
    assert.equal(e.comments().length, 0);
  });

  it('answers unknown paths and methods with GitHub 404, and a path parameter of the wrong type too', async () => {
    const r = await call(e, 'GET', '/repos/o/r/issues/1/commentz');
    assert.equal(r.status, 404);
    assert.deepEqual(r.json, { message: 'Not Found', documentation_url: 'https://docs.github.com/rest', status: '404' });
    const m = await call(e, 'PUT', '/repos/o/r/issues/1/comments', { body: 'x' });
    assert.equal(m.status, 404);
    const p = await call(e, 'PATCH', '/repos/o/r/issues/comments/not-a-number', { body: 'x' });
    assert.equal(p.status, 404);
    assert.equal(p.json.documentation_url, 'https://docs.github.com/rest/issues/comments#update-an-issue-comment');
    assert.deepEqual(
      e.requests.map((x) => x.status),
      [404, 404, 404],
    );
  });

  it('checks request bodies against the operation schema: a malformed body is GitHub 422', async () => {
    const missing = await call(e, 'POST', '/repos/o/r/issues/1/comments', {});
    assert.equal(missing.status, 422);
    assert.deepEqual(missing.json, {
      message: 'Invalid request.\n\n"body" wasn\'t supplied.',
      documentation_url: 'https://docs.github.com/rest/issues/comments#create-an-issue-comment',
      status: '422',
    });
    const wrongType = await call(e, 'POST', '/repos/o/r/issues/1/comments', { body: 5 });
    assert.equal(wrongType.status, 422);
    assert.equal(wrongType.json.message, "Invalid request.\n\nFor 'properties/body', 5 is not a string.");
    const nil = await call(e, 'PATCH', '/repos/o/r/issues/comments/1', { body: null });
    assert.equal(nil.json.message, "Invalid request.\n\nFor 'properties/body', nil is not a string.");
    const badState = await call(e, 'POST', `/repos/o/r/statuses/${SHA}`, { state: 'done', context: 'mirrornet/x' });
    assert.equal(badState.status, 422);
    assert.equal(badState.json.message, `Invalid request.\n\nFor 'properties/state', "done" is not a member of ["error", "failure", "pending", "success"].`);
    const nullable = await call(e, 'POST', `/repos/o/r/statuses/${SHA}`, { state: 'success', description: null, target_url: null });
    assert.equal(nullable.status, 201, 'nullable fields accept null');
    const two = await call(e, 'POST', `/repos/o/r/statuses/${SHA}`, { description: 7 });
    assert.equal(two.json.message, `Invalid request.\n\n"state" wasn't supplied.\nFor 'properties/description', 7 is not a string or null.`);
    const json = await call(e, 'POST', '/repos/o/r/issues/1/comments', '{"body": ');
    assert.equal(json.status, 400);
    assert.equal(json.json.message, 'Problems parsing JSON');
    assert.equal(e.comments().length, 0);
    assert.deepEqual(
      e.requests.map((r) => [r.operation, r.status]),
      [
        ['issues/create-comment', 422],
        ['issues/create-comment', 422],
        ['issues/update-comment', 422],
        ['repos/create-commit-status', 422],
        ['repos/create-commit-status', 201],
        ['repos/create-commit-status', 422],
        ['issues/create-comment', 400],
      ],
    );
  });

  it('catches a malformed body sent through octokit too (422, the request error carries GitHub’s message)', async () => {
    const octokit = new Octokit({ auth: TOKEN, baseUrl: e.url, retry: { enabled: false }, throttle: { enabled: false } });
    await assert.rejects(
      octokit.request('POST /repos/{owner}/{repo}/issues/{issue_number}/comments', { owner: 'o', repo: 'r', issue_number: 1, text: 'typo: not body' } as never),
      (err: { status: number; message: string }) => err.status === 422 && /"body" wasn't supplied/.test(err.message),
    );
  });

  it('creates, lists with Link pagination, updates and deletes comments; responses match the description', async () => {
    const created = await call(e, 'POST', '/repos/acme/fleet/issues/3/comments', { body: 'first' });
    assert.equal(created.status, 201);
    assert.equal(created.headers.get('location'), created.json.url);
    assert.deepEqual(e.spec.validate(responseSchema(e, 'POST', '/repos/acme/fleet/issues/3/comments', '201'), created.json), []);
    for (let i = 0; i < 4; i++) e.seedComment({ owner: 'acme', repo: 'fleet', issueNumber: 3, body: `other ${i}` });
    const page1 = await call(e, 'GET', '/repos/acme/fleet/issues/3/comments?per_page=2');
    assert.equal(page1.json.length, 2);
    assert.deepEqual(e.spec.validate(responseSchema(e, 'GET', '/repos/acme/fleet/issues/3/comments', '200'), page1.json), []);
    const link = page1.headers.get('link')!;
    assert.match(link, /<http:\/\/127\.0\.0\.1:\d+\/repos\/acme\/fleet\/issues\/3\/comments\?per_page=2&page=2>; rel="next"/);
    assert.match(link, /page=3>; rel="last"/);
    const octokit = new Octokit({ auth: TOKEN, baseUrl: e.url });
    const all = await octokit.paginate(octokit.rest.issues.listComments, { owner: 'acme', repo: 'fleet', issue_number: 3, per_page: 2 });
    assert.deepEqual(
      all.map((c) => c.body),
      ['first', 'other 0', 'other 1', 'other 2', 'other 3'],
    );
    const updated = await call(e, 'PATCH', `/repos/acme/fleet/issues/comments/${created.json.id}`, { body: 'second' });
    assert.equal(updated.status, 200);
    assert.equal(updated.json.body, 'second');
    assert.deepEqual(e.spec.validate(responseSchema(e, 'PATCH', `/repos/acme/fleet/issues/comments/${created.json.id}`, '200'), updated.json), []);
    const others = await call(e, 'PATCH', `/repos/acme/fleet/issues/comments/${all[1]!.id}`, { body: 'not mine' });
    assert.equal(others.status, 403);
    const del = await call(e, 'DELETE', `/repos/acme/fleet/issues/comments/${created.json.id}`);
    assert.equal(del.status, 204);
    const gone = await call(e, 'GET', `/repos/acme/fleet/issues/comments/${created.json.id}`);
    assert.equal(gone.status, 404);
    assert.equal(gone.json.documentation_url, 'https://docs.github.com/rest/issues/comments#get-an-issue-comment');
    // GitHub's own rules on top of the schema
    const blank = await call(e, 'POST', '/repos/acme/fleet/issues/3/comments', { body: ' ' });
    assert.equal(blank.status, 422);
    assert.deepEqual(blank.json.errors, [{ resource: 'IssueComment', code: 'unprocessable', field: 'data', message: 'Body cannot be blank' }]);
    const long = await call(e, 'POST', '/repos/acme/fleet/issues/3/comments', { body: 'x'.repeat(65537) });
    assert.equal(long.status, 422);
    assert.equal(long.json.errors[0].message, 'Body is too long (maximum is 65536 characters)');
    const exact = await call(e, 'POST', '/repos/acme/fleet/issues/3/comments', { body: 'x'.repeat(65536) });
    assert.equal(exact.status, 201);
  });

  it('creates and lists commit statuses; combined status; GitHub’s 140-character description limit', async () => {
    const sha = 'b'.repeat(40);
    const a = await call(e, 'POST', `/repos/acme/fleet/statuses/${sha}`, { state: 'pending', context: 'mirrornet/eu-x', description: 'applying' });
    assert.equal(a.status, 201);
    assert.deepEqual(e.spec.validate(responseSchema(e, 'POST', `/repos/acme/fleet/statuses/${sha}`, '201'), a.json), []);
    await call(e, 'POST', `/repos/acme/fleet/statuses/${sha}`, { state: 'success', context: 'mirrornet/eu-x' });
    const list = await call(e, 'GET', `/repos/acme/fleet/commits/${sha}/statuses`);
    assert.deepEqual(
      list.json.map((s: { state: string }) => s.state),
      ['success', 'pending'],
    );
    assert.deepEqual(e.spec.validate(responseSchema(e, 'GET', `/repos/acme/fleet/commits/${sha}/statuses`, '200'), list.json), []);
    const combined = await call(e, 'GET', `/repos/acme/fleet/commits/${sha}/status`);
    assert.equal(combined.json.state, 'success');
    assert.equal(combined.json.total_count, 1);
    const long = await call(e, 'POST', `/repos/acme/fleet/statuses/${sha}`, { state: 'failure', description: 'x'.repeat(141) });
    assert.equal(long.status, 422);
    assert.match(long.json.errors[0].message, /maximum is 140 characters/);
    const noCommit = await call(e, 'POST', '/repos/acme/fleet/statuses/main', { state: 'failure' });
    assert.equal(noCommit.status, 422);
    assert.equal(noCommit.json.message, 'No commit found for SHA: main');
  });

  it('injects secondary and primary rate limits; octokit’s throttling waits them out', async () => {
    e.fault({ kind: 'secondary-rate-limit', retryAfter: 7, path: 'issues/create-comment' });
    const r = await call(e, 'POST', '/repos/acme/fleet/issues/9/comments', { body: 'x' });
    assert.equal(r.status, 403);
    assert.equal(r.headers.get('retry-after'), '7');
    assert.match(r.json.message, /secondary rate limit/);
    e.fault({ kind: 'secondary-rate-limit', status: 429, retryAfter: 1 });
    const r429 = await call(e, 'GET', '/repos/acme/fleet/issues/9/comments');
    assert.equal(r429.status, 429);
    e.fault({ kind: 'rate-limit', retryAfter: 1 });
    const primary = await call(e, 'GET', '/repos/acme/fleet/issues/9/comments');
    assert.equal(primary.status, 403);
    assert.equal(primary.headers.get('x-ratelimit-remaining'), '0');
    assert.ok(Number(primary.headers.get('x-ratelimit-reset')) >= Math.floor(Date.now() / 1000));

    // octokit with its throttling plugin: the 403 and the 429 are retried after retry-after.
    const waits: number[] = [];
    const octokit = new Octokit({
      auth: TOKEN,
      baseUrl: e.url,
      throttle: {
        retryAfterBaseValue: 10,
        onRateLimit: () => false,
        onSecondaryRateLimit: (after: number) => {
          waits.push(after);
          return true;
        },
      },
    });
    e.clearLog();
    e.fault({ kind: 'secondary-rate-limit', retryAfter: 3, path: 'issues/create-comment' });
    const created = await octokit.rest.issues.createComment({ owner: 'acme', repo: 'fleet', issue_number: 9, body: 'after the limit' });
    assert.equal(created.status, 201);
    assert.deepEqual(waits, [3]);
    assert.deepEqual(
      e.requests.map((x) => [x.status, x.fault]),
      [
        [403, 'secondary-rate-limit'],
        [201, undefined],
      ],
    );
  });

  it('logs requests without credentials', async () => {
    await call(e, 'POST', '/repos/acme/fleet/issues/4/comments', { body: 'logged' });
    assert.equal(e.requests.length, 1);
    const entry = e.requests[0]!;
    assert.deepEqual([entry.method, entry.path, entry.status, entry.operation], ['POST', '/repos/acme/fleet/issues/4/comments', 201, 'issues/create-comment']);
    assert.deepEqual(entry.body, { body: 'logged' });
    assert.ok(!JSON.stringify(e.requests).includes(TOKEN));
  });

  it('serves under /api/v3 like GitHub Enterprise Server, and knows only the repositories it is given', async () => {
    const ghes = await startGithubEmulator({ token: TOKEN, pathPrefix: '/api/v3', repos: ['acme/fleet'] });
    try {
      assert.match(ghes.url, /\/api\/v3$/);
      const octokit = new Octokit({ auth: TOKEN, baseUrl: ghes.url });
      const c = await octokit.rest.issues.createComment({ owner: 'acme', repo: 'fleet', issue_number: 1, body: 'on GHES' });
      assert.equal(c.status, 201);
      assert.ok(c.data.url.startsWith(ghes.url));
      const missing = await call(ghes, 'GET', '/repos/acme/other/issues/1/comments');
      assert.equal(missing.status, 404);
      const outside = await fetch(ghes.url.replace('/api/v3', '/repos/acme/fleet/issues/1/comments'), { headers: { authorization: `token ${TOKEN}` } });
      assert.equal(outside.status, 404);
    } finally {
      await ghes.close();
    }
  });
});
