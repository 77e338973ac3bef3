// Reporting to GitHub through octokit, against the local GitHub emulator (every request checked against
// GitHub's published REST description): the pull request's plan comment created once, found again by its
// marker through pagination and updated in place, with a secondary rate limit injected; bodies too long for
// GitHub cut safely; a GitHub Enterprise base URL. Commit statuses from agent events: pending -> success,
// failure with the reason, descriptions cut to 140 characters, and reporting failures (emulator down, bad
// token, rate limits) logged and never thrown.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { DestinationStream } from 'pino';
import { prCommentCommand, type PrCommentOptions } from '../../src/cli/pr-comment.js';
import { hostSecrets } from '../../src/host/secrets.js';
import type { Io } from '../../src/cli/io.js';
import { startGithubEmulator, type GithubEmulator } from '../../src/testbed/emulators/github/index.js';
import { createLogger } from '../../src/log.js';
import type { AgentEvent, EventKind } from '../../src/reconcile/events.js';
import {
  COMMENT_BUDGET,
  GITHUB_COMMENT_LIMIT,
  PLAN_MARKER,
  createGithubClient,
  createGithubStatusSink,
  truncateDescription,
  truncateMarkdown,
  upsertMarkedComment,
  type Octokit,
} from '../../src/report/github/index.js';
import { createFleetRepo, type FleetRepo } from './fixture.js';

const TOKEN = 'ghs_reportTestToken0000000000000000000000';
const FAST = { retries: 1, retryBaseMs: 10, rateLimitBaseMs: 20 };

function capture(): { io: Io; out: () => string } {
  let stdout = '';
  return { io: { stdout: (s) => (stdout += s), stderr: () => undefined, color: false }, out: () => stdout };
}

function memoryLog(): { log: ReturnType<typeof createLogger>; lines: () => Record<string, unknown>[] } {
  const lines: string[] = [];
  const destination: DestinationStream = { write: (s: string) => void lines.push(s) };
  return { log: createLogger({ level: 'debug', destination }), lines: () => lines.map((l) => JSON.parse(l) as Record<string, unknown>) };
}

async function closedPort(): Promise<number> {
  const srv = net.createServer();
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  const port = (srv.address() as net.AddressInfo).port;
  await new Promise<void>((r) => srv.close(() => r()));
  return port;
}

describe('pull request plan comment', function () {
  this.timeout(60_000);
  let gh: GithubEmulator;
  let repo: FleetRepo;
  let base: string;
  let head: string;

  before(async () => {
    gh = await startGithubEmulator({ token: TOKEN, repos: ['acme/fleet'] });
    repo = createFleetRepo();
    base = repo.git(['rev-parse', 'HEAD']);
    repo.replace('regions/cn-hangzhou-idc.yaml', 'mtu: 1420', 'mtu: 1380');
    head = repo.commit('a smaller MTU to Hangzhou');
  });
  after(async () => {
    await gh.close();
    repo.cleanup();
  });
  beforeEach(() => {
    gh.clearFaults();
    gh.clearLog();
  });

  const opts = (o: Partial<PrCommentOptions> = {}): PrCommentOptions => ({
    repoSlug: 'acme/fleet',
    pr: '7',
    base,
    head,
    repo: repo.fleet,
    apiUrl: gh.url,
    ...o,
  });
  const env = { GITHUB_TOKEN: TOKEN };
  const ours = () => gh.comments('acme', 'fleet', 7).filter((c) => c.user.login === 'github-actions[bot]');

  it('creates one comment, then updates it in place, found by its marker through every page', async () => {
    // 120 comments by people first, one quoting the marker mid-text: ours lands on page 2.
    gh.seedComment({ owner: 'acme', repo: 'fleet', issueNumber: 7, body: `Why does the bot write ${PLAN_MARKER} in its comment?` });
    for (let i = 0; i < 119; i++) gh.seedComment({ owner: 'acme', repo: 'fleet', issueNumber: 7, body: `review ${i}` });
    // GitHub's secondary rate limit on the first create: octokit's throttling waits and retries.
    gh.fault({ kind: 'secondary-rate-limit', path: 'issues/create-comment', retryAfter: 2 });
    const first = capture();
    const { log, lines } = memoryLog();
    assert.equal(await prCommentCommand(opts(), first.io, { env, client: FAST, log }), 0);
    assert.ok(lines().some((l) => l['msg'] === 'GitHub secondary rate limit: retrying in 2s' && l['pr'] === 7));
    assert.match(first.out(), /plan comment created: http:\/\/127\.0\.0\.1:\d+\/acme\/fleet\/pull\/7#issuecomment-\d+/);
    assert.equal(ours().length, 1);
    const comment = ours()[0]!;
    assert.ok(comment.body.startsWith(`${PLAN_MARKER}\n## mirrornet plan: \`${base.slice(0, 7)}\` → \`${head.slice(0, 7)}\``));
    assert.match(comment.body, /`mtu`: `1420` → `1380`/);
    assert.match(comment.body, /```mermaid\nflowchart LR/);
    assert.deepEqual(
      gh.requests.map((r) => `${r.method} ${r.status}${r.fault ? ` ${r.fault}` : ''}${/page=2/.test(r.query) ? ' page 2' : ''}`),
      ['GET 200', 'GET 200 page 2', 'POST 403 secondary-rate-limit', 'POST 201'],
    );

    // The next push: the same comment, edited.
    repo.replace('harbor/harbor-ap-singapore.yaml', /(- name: base\n\s+public: true\n\s+quota: )500Gi/, '$11Ti');
    const head2 = repo.commit('more room for base images');
    gh.clearLog();
    const second = capture();
    assert.equal(await prCommentCommand(opts({ head: head2 }), second.io, { env, client: FAST }), 0);
    assert.match(second.out(), /plan comment updated/);
    assert.equal(ours().length, 1);
    assert.equal(ours()[0]!.id, comment.id);
    assert.match(ours()[0]!.body, /`quota`: `500Gi` → `1Ti`/);
    assert.deepEqual(
      gh.requests.map((r) => `${r.method} ${r.operation} ${r.status}`),
      ['GET issues/list-comments 200', 'GET issues/list-comments 200', 'PATCH issues/update-comment 200'],
    );
    assert.equal(gh.comments('acme', 'fleet', 7).length, 121);

    // Nothing new: nothing written.
    gh.clearLog();
    const third = capture();
    assert.equal(await prCommentCommand(opts({ head: head2 }), third.io, { env, client: FAST }), 0);
    assert.match(third.out(), /plan comment unchanged/);
    assert.ok(gh.requests.every((r) => r.method === 'GET'));
  });

  it('posts the findings of an invalid head', async () => {
    repo.replace('regions/us-virginia.yaml', 'cidr: 10.144.0.0/16', 'cidr: 10.136.0.0/16');
    const bad = repo.commit('overlap');
    try {
      const c = capture();
      assert.equal(await prCommentCommand(opts({ pr: '8', head: bad }), c.io, { env, client: FAST }), 0);
      assert.match(c.out(), /is invalid: \d+ errors/);
      const body = gh.comments('acme', 'fleet', 8)[0]!.body;
      assert.match(body, /❌ \*\*The fleet is invalid\*\*/);
      assert.match(body, /`cidr\/overlap`/);
    } finally {
      repo.git(['reset', '-q', '--hard', 'HEAD~1']);
    }
  });

  it('says in the comment which guardrail the change would trip', async () => {
    for (const region of ['cn-guangzhou', 'cn-hangzhou-idc', 'cn-shanghai']) repo.remove(`regions/${region}.yaml`);
    const removal = repo.commit('three cn regions go');
    try {
      const c = capture();
      assert.equal(await prCommentCommand(opts({ pr: '10', head: removal }), c.io, { env, client: FAST }), 0);
      const body = gh.comments('acme', 'fleet', 10)[0]!.body;
      assert.match(body, /### Guardrails\n\n🛑 \*\*This change would trip 1 guardrail\*\*/);
      assert.ok(
        body.includes(
          '- `maxSiteRemovals` (fleet-wide: every agent refuses): This revision removes 3 sites (cn-guangzhou, cn-hangzhou-idc, cn-shanghai), ' +
            'more than the fleet-wide limit (maxSiteRemovals: 2 in policies/guardrails.yaml of the revision before it).',
        ),
        body,
      );
    } finally {
      repo.git(['reset', '-q', '--hard', 'HEAD~1']);
    }
  });

  it('works against a GitHub Enterprise base URL (--api-url or GITHUB_API_URL)', async () => {
    const ghes = await startGithubEmulator({ token: TOKEN, pathPrefix: '/api/v3' });
    try {
      const c = capture();
      assert.equal(await prCommentCommand(opts({ apiUrl: undefined }), c.io, { env: { ...env, GITHUB_API_URL: ghes.url }, client: FAST }), 0);
      assert.equal(ghes.comments('acme', 'fleet', 7).length, 1);
      assert.ok(ghes.requests.every((r) => r.path.startsWith('/api/v3/')));
      assert.equal(gh.requests.length, 0, 'nothing went to the other server');
    } finally {
      await ghes.close();
    }
  });

  it('says what to do when the token is wrong or missing', async () => {
    await assert.rejects(prCommentCommand(opts(), capture().io, { env: { GITHUB_TOKEN: 'wrong' }, client: FAST }), (err: { userMessage: string }) =>
      /Cannot post the plan on acme\/fleet#7: HTTP 401: Bad credentials\. Check GITHUB_TOKEN\./.test(err.userMessage),
    );
    await assert.rejects(prCommentCommand(opts(), capture().io, { env: {}, client: FAST }), /GITHUB_TOKEN is not set/);
    await assert.rejects(prCommentCommand(opts({ repoSlug: 'not a slug' }), capture().io, { env, client: FAST }), /must be owner\/name/);
  });

  it('cuts a body longer than GitHub allows at a safe place, and GitHub accepts it', async () => {
    const section = (i: number) => `<details><summary>site ${i}</summary>\n\n| a | b |\n|---|---|\n${'| 🚀 x | ünïcödé |\n'.repeat(40)}\n</details>\n`;
    const body = `## plan\n\n\`\`\`mermaid\nflowchart LR\n${'  a --- b\n'.repeat(50)}\`\`\`\n\n${Array.from({ length: 300 }, (_, i) => section(i)).join('\n')}`;
    assert.ok(body.length > 2 * GITHUB_COMMENT_LIMIT);
    const octokit = createGithubClient({ token: TOKEN, baseUrl: gh.url, ...FAST });
    const r = await upsertMarkedComment(octokit, { owner: 'acme', repo: 'fleet', issueNumber: 9, body, truncatedNotice: '> cut here: run mirrornet diff' });
    assert.equal(r.action, 'created');
    assert.equal(r.truncated, true);
    const posted = gh.comments('acme', 'fleet', 9)[0]!.body;
    assert.ok(Array.from(posted).length <= GITHUB_COMMENT_LIMIT && posted.length <= COMMENT_BUDGET);
    assert.ok(posted.startsWith(PLAN_MARKER));
    assert.ok(posted.endsWith('> cut here: run mirrornet diff'));
    assert.equal((posted.match(/<details>/g) ?? []).length, (posted.match(/<\/details>/g) ?? []).length, 'every <details> closed');
    assert.equal((posted.match(/^```/gm) ?? []).length % 2, 0, 'no open code fence');
    assert.ok(!/[\uD800-\uDBFF](?![\uDC00-\uDFFF])/.test(posted), 'no split surrogate pair');
  });

  it('never posts a secret in a comment: a resolved one, a credential variable', async () => {
    await hostSecrets({ env: { S3_SECRET: 'env-secret-comment-3c4d5e' } }).resolve('env:S3_SECRET');
    process.env['MIRRORNET_COMMENT_TEST_TOKEN'] = 'envvar-secret-comment-6f7a8b';
    try {
      const octokit = createGithubClient({ token: TOKEN, baseUrl: gh.url, ...FAST });
      const body = '## plan\n\nsecretkey env-secret-comment-3c4d5e, token envvar-secret-comment-6f7a8b\n';
      await upsertMarkedComment(octokit, { owner: 'acme', repo: 'fleet', issueNumber: 11, body });
      assert.equal(gh.comments('acme', 'fleet', 11)[0]!.body, `${PLAN_MARKER}\n## plan\n\nsecretkey ***, token ***\n`);
    } finally {
      delete process.env['MIRRORNET_COMMENT_TEST_TOKEN'];
    }
  });

  it('truncateMarkdown: untouched when it fits; never ends inside a code block', () => {
    assert.equal(truncateMarkdown('short', 100, 'n'), 'short');
    const text = `intro\n\`\`\`mermaid\n${'x\n'.repeat(100)}\`\`\`\nafter`;
    const cut = truncateMarkdown(text, 120, 'NOTE');
    assert.ok(cut.length <= 120);
    assert.equal(cut, 'intro\n\nNOTE');
    const oneLine = truncateMarkdown('😀'.repeat(100), 51, '');
    assert.ok(oneLine.length <= 51);
    assert.ok(!/[\uD800-\uDBFF]$/.test(oneLine.trimEnd()));
  });
});

function event(kind: EventKind, revision: string, message: string, site = 'us-virginia'): AgentEvent {
  return { kind, site, revision, message, fingerprint: `${kind}-${site}`, at: new Date().toISOString() };
}

describe('commit statuses from agent events', function () {
  this.timeout(60_000);
  let gh: GithubEmulator;
  const SHA1 = '1'.repeat(40);
  const SHA2 = '2'.repeat(40);
  before(async () => {
    gh = await startGithubEmulator({ token: TOKEN });
  });
  after(() => gh.close());
  beforeEach(() => {
    gh.clearFaults();
    gh.clearLog();
  });

  it('apply-started -> pending, applied -> success, on the event revision as mirrornet/<site>', async () => {
    const { log } = memoryLog();
    const s = createGithubStatusSink({
      token: TOKEN,
      baseUrl: gh.url,
      owner: 'acme',
      repo: 'fleet',
      log,
      targetUrl: 'https://ops.example/mirrornet',
      client: FAST,
    });
    s.sink(event('apply-started', SHA1, 'us-virginia is applying 111111111111: 3 change(s).'));
    s.sink(event('applied', SHA1, 'us-virginia applied 111111111111: 3 change(s).'));
    await s.flush();
    const st = gh.statuses('acme', 'fleet', SHA1);
    assert.deepEqual(
      st.map((x) => [x.context, x.state, x.description, x.targetUrl]),
      [
        ['mirrornet/us-virginia', 'pending', 'us-virginia is applying 111111111111: 3 change(s).', 'https://ops.example/mirrornet'],
        ['mirrornet/us-virginia', 'success', 'us-virginia applied 111111111111: 3 change(s).', 'https://ops.example/mirrornet'],
      ],
    );
    assert.deepEqual(s.stats(), { posted: 2, failed: 0, dropped: 0, queued: 0, skipped: 0 });
    await s.close();
  });

  it('failures carry the reason, cut to GitHub’s 140 characters; drift, stalls and non-commit revisions set nothing', async () => {
    const { log } = memoryLog();
    const s = createGithubStatusSink({ token: TOKEN, baseUrl: gh.url, owner: 'acme', repo: 'fleet', log, client: FAST });
    const errors = 'regions/x.yaml:1 cidr/overlap; '.repeat(10);
    const long = `us-virginia refused 222222222222: the revision is invalid (3 errors: ${errors}); run \`mirrornet validate\` on it.`;
    s.sink(event('revision-refused', SHA2, long));
    s.sink(event('guardrail-blocked', SHA2, 'ap-jakarta did not apply 222222222222: 12 deletions, more than maxDeletionsPerApply 5.', 'ap-jakarta'));
    s.sink(event('apply-failed', SHA2, 'eu-amsterdam-idc failed to apply 222222222222 (wireguard): wg setconf exited 1.', 'eu-amsterdam-idc'));
    s.sink(event('drift-detected', SHA2, 'us-virginia: containerd drifted.'));
    s.sink(event('drift-resolved', SHA2, 'us-virginia: containerd matches again.'));
    s.sink(event('agent-stalled', SHA2, 'us-virginia is stalled: validate running for 400 s.'));
    s.sink(event('agent-recovered', SHA2, 'us-virginia makes progress again after 60 s stalled at validate.'));
    s.sink(event('apply-failed', 'unknown', 'Reconcile of us-virginia failed at fetch: the remote does not answer.'));
    await s.flush();
    const st = gh.statuses('acme', 'fleet', SHA2);
    assert.deepEqual(
      st.map((x) => [x.context, x.state]),
      [
        ['mirrornet/us-virginia', 'failure'],
        ['mirrornet/ap-jakarta', 'failure'],
        ['mirrornet/eu-amsterdam-idc', 'failure'],
      ],
    );
    const refused = st[0]!.description!;
    assert.equal(Array.from(refused).length, 140);
    assert.ok(refused.startsWith('Refused: us-virginia refused 222222222222: the revision is invalid'));
    assert.ok(refused.endsWith('…'));
    assert.equal(st[1]!.description, 'Guardrail: ap-jakarta did not apply 222222222222: 12 deletions, more than maxDeletionsPerApply 5.');
    assert.equal(st[2]!.description, 'Apply failed: eu-amsterdam-idc failed to apply 222222222222 (wireguard): wg setconf exited 1.');
    assert.equal(s.stats().skipped, 1);
    assert.equal(gh.statuses().filter((x) => x.sha !== SHA1 && x.sha !== SHA2).length, 0);
    await s.close();
  });

  it('never posts a secret in a description: resolved ones (env: and file:), credential variables, whole even when cut', async () => {
    const root = mkdtempSync(join(tmpdir(), 'mirrornet-status-'));
    process.env['MIRRORNET_STATUS_TEST_TOKEN'] = 'envvar-secret-status-5d6e7f';
    try {
      writeFileSync(join(root, 'admin'), 'file-secret-status-8a9b0c\n');
      const secrets = hostSecrets({ env: { HARBOR_ADMIN: 'env-secret-status-2a3b4c' }, root });
      await secrets.resolve('env:HARBOR_ADMIN');
      await secrets.resolve('file:/admin');
      const { log, lines } = memoryLog();
      const s = createGithubStatusSink({ token: TOKEN, baseUrl: gh.url, owner: 'acme', repo: 'fleet', log, client: FAST });
      const sha = '5'.repeat(40);
      s.sink(event('apply-failed', sha, 'us-virginia failed (harbor): login env-secret-status-2a3b4c refused; token envvar-secret-status-5d6e7f'));
      // The secret straddles the 140th character: cut after masking, never half a secret.
      s.sink(event('revision-refused', sha, `${'x'.repeat(120)} file-secret-status-8a9b0c`, 'ap-jakarta'));
      await s.flush();
      assert.deepEqual(
        gh.statuses('acme', 'fleet', sha).map((x) => x.description),
        ['Apply failed: us-virginia failed (harbor): login *** refused; token ***', `Refused: ${'x'.repeat(120)} ***`],
      );
      const text = JSON.stringify(lines());
      for (const secret of ['env-secret-status-2a3b4c', 'file-secret-status-8a9b0c', 'envvar-secret-status-5d6e7f']) assert.ok(!text.includes(secret));
      await s.close();
    } finally {
      delete process.env['MIRRORNET_STATUS_TEST_TOKEN'];
      rmSync(root, { recursive: true, force: true });
    }
  });

  it('waits out a secondary rate limit on the way', async () => {
    const { log, lines } = memoryLog();
    const s = createGithubStatusSink({ token: TOKEN, baseUrl: gh.url, owner: 'acme', repo: 'fleet', log, client: FAST });
    const sha = '3'.repeat(40);
    gh.fault({ kind: 'secondary-rate-limit', status: 429, retryAfter: 1, path: 'repos/create-commit-status' });
    s.sink(event('applied', sha, 'us-virginia applied.'));
    await s.flush();
    assert.deepEqual(
      gh.requests.map((r) => r.status),
      [429, 201],
    );
    assert.equal(gh.statuses('acme', 'fleet', sha).length, 1);
    assert.ok(
      lines().some((l) => String(l['msg']).startsWith('GitHub secondary rate limit: retrying')),
      JSON.stringify(lines()),
    );
    await s.close();
  });

  it('never throws when GitHub is down or refuses the token: it logs', async () => {
    const down = memoryLog();
    const port = await closedPort();
    const s = createGithubStatusSink({ token: TOKEN, baseUrl: `http://127.0.0.1:${port}`, owner: 'acme', repo: 'fleet', log: down.log, client: FAST });
    assert.doesNotThrow(() => s.sink(event('apply-started', SHA1, 'applying')));
    assert.doesNotThrow(() => s.sink(event('applied', SHA1, 'applied')));
    await s.flush();
    assert.deepEqual(s.stats(), { posted: 0, failed: 2, dropped: 0, queued: 0, skipped: 0 });
    const warned = down.lines().filter((l) => l['msg'] === 'commit status not posted');
    assert.equal(warned.length, 2);
    assert.equal(warned[0]!['context'], 'mirrornet/us-virginia');
    await s.close();

    const denied = memoryLog();
    const t = createGithubStatusSink({ token: 'not-the-token', baseUrl: gh.url, owner: 'acme', repo: 'fleet', log: denied.log, client: FAST });
    t.sink(event('applied', SHA1, 'applied'));
    await t.flush();
    const w = denied.lines().find((l) => l['msg'] === 'commit status not posted')!;
    assert.equal(w['reason'], 'HTTP 401: Bad credentials');
    assert.ok(!JSON.stringify(denied.lines()).includes('not-the-token'), 'the token is never logged');
    await t.close();
  });

  it('queues in the background, bounded: a newer state replaces a queued one, a full queue drops the oldest', async () => {
    const posted: string[] = [];
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    const fake = {
      request: async (route: string, p: { context: string; state: string }) => {
        assert.equal(route, 'POST /repos/{owner}/{repo}/statuses/{sha}');
        await gate;
        posted.push(`${p.context} ${p.state}`);
        return { status: 201 };
      },
    } as unknown as Octokit;
    const { log, lines } = memoryLog();
    const s = createGithubStatusSink({ octokit: fake, owner: 'acme', repo: 'fleet', log, maxQueue: 2 });
    const started = Date.now();
    s.sink(event('apply-started', SHA1, 'a', 'site-a')); // in flight, blocked
    s.sink(event('apply-started', SHA1, 'b', 'site-b'));
    s.sink(event('apply-started', SHA1, 'c', 'site-c'));
    s.sink(event('apply-started', SHA1, 'd', 'site-d')); // full: site-b dropped
    s.sink(event('applied', SHA1, 'c done', 'site-c')); // replaces the queued pending of site-c
    assert.ok(Date.now() - started < 50, 'the sink never waits for GitHub');
    assert.deepEqual(s.stats(), { posted: 0, failed: 0, dropped: 1, queued: 2, skipped: 0 });
    release();
    await s.flush();
    assert.deepEqual(posted, ['mirrornet/site-a pending', 'mirrornet/site-c success', 'mirrornet/site-d pending']);
    assert.ok(lines().some((l) => l['msg'] === 'commit status queue full: dropped the oldest update'));
    await s.close();
    s.sink(event('applied', SHA1, 'after close', 'site-e'));
    assert.equal(s.stats().queued, 0);
  });

  it('truncateDescription keeps short text and cuts long text on a character boundary', () => {
    assert.equal(truncateDescription('  applied\n 3 changes '), 'applied 3 changes');
    const cut = truncateDescription('🚀'.repeat(200));
    assert.equal(Array.from(cut).length, 140);
    assert.ok(cut.endsWith('…'));
  });
});
