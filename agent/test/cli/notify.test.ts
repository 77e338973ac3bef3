// `mirrornet notify test`: a sample event to one channel of a repository's policy, sent by the agent's own
// sender to a local receiver that checks the vendor's signature and payload; the vendor's answer printed
// with no secret in it; exit 0 accepted, 1 not, 2 usage.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { cpSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Io } from '../../src/cli/io.js';
import { run } from '../../src/cli/main.js';
import { notifyTestCommand, type NotifyTestOptions } from '../../src/cli/notify.js';
import type { DingTalkBody } from '../../src/report/chat/dingtalk/index.js';
import type { FeishuBody } from '../../src/report/chat/feishu/index.js';
import type { WebhookBody } from '../../src/report/chat/webhook/index.js';
import { startDingTalk, startFeishu, startWebhook, type Receiver } from '../report/chat/receivers.js';

const FIXTURE = fileURLToPath(new URL('../../../test/fixtures/fleet-small', import.meta.url));
const FEISHU_SECRET = 'fs-notify-test-8c1f';
const DING_SECRET = 'SECnotifytest0a9b';
const AUDIT_SECRET = 'audit-notify-test-77e2';

const POLICY = `kind: Notifications
name: notifications
links:
  repository: https://github.com/example-org/fleet
runbooks:
  apply-failed: https://wiki.example.com/runbooks/apply-failed
channels:
  - name: network-cn
    type: feishu
    url: env:MN_TEST_FEISHU_URL
    secret: env:MN_TEST_FEISHU_SECRET
    mentions:
      users: [ou_5f2c8a41d93e]
  - name: oncall
    type: dingtalk
    url: env:MN_TEST_DING_URL
    secret: env:MN_TEST_DING_SECRET
    language: zh
    mentions:
      users: [netops-oncall]
    mentionOn: [warning, critical]
  - name: audit
    type: webhook
    url: env:MN_TEST_AUDIT_URL
    secret: env:MN_TEST_AUDIT_SECRET
routes:
  - match:
      areas: [cn]
    channels: [network-cn, oncall]
  - channels: [audit]
`;

interface Out {
  code: number;
  stdout: string;
  stderr: string;
}

function io(): { io: Io; out: () => Pick<Out, 'stdout' | 'stderr'> } {
  let stdout = '';
  let stderr = '';
  return { io: { stdout: (s) => (stdout += s), stderr: (s) => (stderr += s), color: false }, out: () => ({ stdout, stderr }) };
}

describe('mirrornet notify test', function () {
  let repo: string;
  let sha: string;
  const receivers: Receiver[] = [];

  before(() => {
    repo = mkdtempSync(join(tmpdir(), 'mirrornet-notify-'));
    cpSync(FIXTURE, repo, { recursive: true });
    writeFileSync(join(repo, 'policies', 'notifications.yaml'), POLICY);
    const git = (...args: string[]) =>
      execFileSync('git', ['-c', 'user.name=Mirrornet Test', '-c', 'user.email=test@mirrornet.invalid', '-c', 'commit.gpgsign=false', ...args], {
        cwd: repo,
        encoding: 'utf8',
      }).trim();
    git('init', '-q', '-b', 'main');
    git('add', '.');
    git('commit', '-q', '-m', 'fleet');
    sha = git('rev-parse', 'HEAD');
  });
  after(() => rmSync(repo, { recursive: true, force: true }));
  afterEach(async () => {
    await Promise.all(receivers.splice(0).map((r) => r.close()));
  });

  async function command(opts: Omit<NotifyTestOptions, 'repo'>, env: NodeJS.ProcessEnv): Promise<Out> {
    const c = io();
    const code = await notifyTestCommand({ repo, ...opts }, c.io, { env });
    return { code, ...c.out() };
  }

  it('a Feishu channel: signed, with its mention, commit and runbook links; prints the answer and exits 0', async () => {
    const r = await startFeishu({ secret: FEISHU_SECRET });
    receivers.push(r);
    const out = await command({ channel: 'network-cn', event: 'failed' }, { MN_TEST_FEISHU_URL: r.url, MN_TEST_FEISHU_SECRET: FEISHU_SECRET });
    assert.equal(out.code, 0, out.stdout);
    assert.equal(
      out.stdout,
      'sending a sample apply-failed event for cn-beijing to network-cn (feishu)\n' +
        'answer: HTTP 200\n' +
        '{"StatusCode":0,"StatusMessage":"success","code":0,"data":{},"msg":"success"}\n' +
        'feishu accepted the message\n',
    );
    assert.equal(r.accepted.length, 1);
    assert.deepEqual(r.accepted[0]!.mentioned, ['ou_5f2c8a41d93e']);
    const card = (r.accepted[0]!.json as FeishuBody).card;
    const texts = card.elements.flatMap((e) => ('text' in e ? [e.text.content] : []));
    assert.equal(
      texts.at(-1),
      `[提交 Commit ${sha.slice(0, 12)}](https://github.com/example-org/fleet/commit/${sha}) · [处理手册 Runbook](https://wiki.example.com/runbooks/apply-failed)`,
    );
    const fields = card.elements.flatMap((e) => ('fields' in e ? e.fields.map((f) => f.text.content) : []));
    assert.ok(fields.includes('**主机 Hosts**\ngw1'), 'the site gateway is the sample host');
    for (const secret of [r.url, r.credential, FEISHU_SECRET]) assert.ok(!out.stdout.includes(secret), `the output shows ${secret}`);
  });

  it('a wrong signing secret: the vendor refuses, the answer is printed and the exit is 1', async () => {
    const r = await startFeishu({ secret: FEISHU_SECRET });
    receivers.push(r);
    const out = await command({ channel: 'network-cn' }, { MN_TEST_FEISHU_URL: r.url, MN_TEST_FEISHU_SECRET: 'not-the-secret-42' });
    assert.equal(out.code, 1);
    assert.equal(r.requests.length, 1, 'one attempt, no retries');
    assert.match(out.stdout, /^sending a sample drift-detected event for cn-beijing to network-cn \(feishu\)\nanswer: HTTP 200\n/);
    assert.match(
      out.stdout,
      /\nfeishu did not accept the message: Feishu code 19021: sign match fail or timestamp is not within one hour from current time\n$/,
    );
  });

  it('a DingTalk channel in Chinese, with --site and --pr: at.atUserIds and the pull request link', async () => {
    const r = await startDingTalk({ secret: DING_SECRET });
    receivers.push(r);
    const out = await command(
      { channel: 'oncall', event: 'drift', site: 'cn-shanghai', pr: '17' },
      { MN_TEST_DING_URL: r.url, MN_TEST_DING_SECRET: DING_SECRET },
    );
    assert.equal(out.code, 0, out.stdout);
    assert.deepEqual(r.accepted[0]!.mentioned, ['netops-oncall']);
    const body = r.accepted[0]!.json as DingTalkBody;
    assert.equal(body.markdown.title, 'mirrornet · ⚠️ 检测到配置漂移: cn-shanghai');
    assert.ok(body.markdown.text.includes('[合并请求 #17](https://github.com/example-org/fleet/pull/17)'), body.markdown.text);
  });

  it('through the command line: the generic webhook with this host environment; usage errors exit 2', async () => {
    const r = await startWebhook({ secret: AUDIT_SECRET });
    receivers.push(r);
    const env = { MN_TEST_AUDIT_URL: r.url, MN_TEST_AUDIT_SECRET: AUDIT_SECRET };
    Object.assign(process.env, env);
    try {
      const ok = io();
      assert.equal(await run(['notify', 'test', '--channel', 'audit', '--event', 'stalled', '--repo', repo], ok.io), 0, ok.out().stdout + ok.out().stderr);
      assert.equal(ok.out().stdout, 'sending a sample agent-stalled event for ap-jakarta to audit (webhook)\nanswer: HTTP 204\nwebhook accepted the message\n');
      const body = r.accepted[0]!.json as WebhookBody;
      assert.equal(body.severity, 'critical');
      assert.deepEqual(body.event.hosts, ['gw1']);
    } finally {
      for (const k of Object.keys(env)) delete process.env[k];
    }
    const typo = io();
    assert.equal(await run(['notify', 'test', '--channel', 'oncal', '--repo', repo], typo.io), 2);
    assert.equal(typo.out().stderr, 'mirrornet: There is no channel "oncal" in policies/notifications.yaml: did you mean oncall?\n');
    const event = io();
    assert.equal(await run(['notify', 'test', '--channel', 'audit', '--event', 'drfit', '--repo', repo], event.io), 2);
    assert.match(event.out().stderr, /^mirrornet: --event drfit is not an event: use one of drift, resolved, .* \(did you mean drift\?\)\.\n$/);
  });

  it('a secret reference this host cannot resolve: exit 1, naming the reference', async () => {
    const c = io();
    assert.equal(await run(['notify', 'test', '--channel', 'audit', '--repo', repo], c.io), 1);
    assert.equal(
      c.out().stderr,
      'mirrornet: The channel audit cannot be used from this host: The secret env:MN_TEST_AUDIT_URL cannot be resolved: ' +
        'the environment variable MN_TEST_AUDIT_URL is not set on this host.\n',
    );
  });
});
