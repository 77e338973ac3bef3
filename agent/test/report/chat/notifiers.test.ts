// Each chat vendor against a local receiver that checks what the vendor checks: the signature (and a
// wrong secret refused, proving the receiver checks), the body shape, and vendor error codes in a 200
// answer counted as failures and retried (or not, when another attempt cannot help).
import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import { hostSecrets } from '../../../src/host/secrets.js';
import type { AgentEvent } from '../../../src/reconcile/events.js';
import * as dingtalk from '../../../src/report/chat/dingtalk/index.js';
import { createChatDispatcher, type ChatStats } from '../../../src/report/chat/dispatcher.js';
import * as feishu from '../../../src/report/chat/feishu/index.js';
import { compose } from '../../../src/report/chat/message.js';
import { NOTIFIERS } from '../../../src/report/chat/registry.js';
import * as slack from '../../../src/report/chat/slack/index.js';
import { truncateChars, truncateUtf8, utf8Bytes } from '../../../src/report/chat/text.js';
import type { ChannelType, Notice } from '../../../src/report/chat/types.js';
import * as webhook from '../../../src/report/chat/webhook/index.js';
import * as wecom from '../../../src/report/chat/wecom/index.js';
import { captureLog, event, fakeTime, policy, siteArea, START, type Captured, type FakeTime } from './harness.js';
import { startDingTalk, startFeishu, startSlack, startWebhook, startWeCom, type Receiver } from './receivers.js';

const receivers: Receiver[] = [];
async function track(r: Promise<Receiver>): Promise<Receiver> {
  const got = await r;
  receivers.push(got);
  return got;
}
afterEach(async () => {
  await Promise.all(receivers.splice(0).map((r) => r.close()));
});

interface Run {
  stats: ChatStats;
  cap: Captured;
  time: FakeTime;
}

/** One channel `ch` of `type` to `receiver`, every event routed to it; URL and secret from the environment. */
async function deliver(type: ChannelType, receiver: Receiver, secret: string | undefined, events: AgentEvent[], time = fakeTime()): Promise<Run> {
  const env: NodeJS.ProcessEnv = { CH_URL: receiver.url, ...(secret !== undefined ? { CH_SECRET: secret } : {}) };
  const cap = captureLog();
  const d = createChatDispatcher({
    policy: policy({
      channels: [{ name: 'ch', type, url: 'env:CH_URL', ...(secret !== undefined ? { secret: 'env:CH_SECRET' } : {}) }],
      routes: [{ channels: ['ch'] }],
    }),
    siteArea,
    resolve: hostSecrets({ env }),
    log: cap.log,
    clock: time.clock,
    sleep: time.sleep,
    random: () => 1,
    tickIntervalMs: 0,
    retry: { attempts: 3, baseMs: 1000, maxMs: 8000 },
  });
  for (const e of events) d.sink(e);
  await d.flush();
  await d.close();
  return { stats: d.stats(), cap, time };
}

/** Neither the URL, its credential nor the secret appears in any log line. */
function assertNoSecrets(cap: Captured, receiver: Receiver, ...secrets: (string | undefined)[]): void {
  const text = cap.text();
  for (const s of [receiver.url, receiver.credential, ...secrets]) {
    if (s) assert.ok(!text.includes(s), `a log line contains the secret ${JSON.stringify(s)}:\n${text}`);
  }
  assert.ok(text.includes('"channel":"ch"'), 'failures are logged with the channel name');
}

const FAILED = event('apply-failed');
const DRIFT = event('drift-detected');

describe('chat notifiers against local vendor receivers', function () {
  describe('Feishu/Lark custom bot', () => {
    const SECRET = 'fs-secret-9f2c1e7a';

    it('signs as Feishu checks it (key "<timestamp>\\n<secret>", empty message): the receiver accepts the card', async () => {
      const time = fakeTime();
      const r = await track(startFeishu({ secret: SECRET, now: time.clock }));
      const { stats } = await deliver('feishu', r, SECRET, [DRIFT], time);
      assert.deepEqual(
        r.rejected.map((x) => x.verdict),
        [],
      );
      assert.equal(r.accepted.length, 1);
      assert.equal(stats.sent, 1);
      const body = r.accepted[0]!.json as feishu.FeishuBody;
      assert.equal(body.timestamp, String(START / 1000), 'timestamp is Unix seconds as a string');
      assert.equal(typeof body.timestamp, 'string');
      assert.equal(
        body.sign,
        createHmac('sha256', `${START / 1000}\n${SECRET}`)
          .update('')
          .digest('base64'),
      );
    });

    it('a wrong secret is refused by the receiver with code 19021 in a 200 answer: a failure, not retried', async () => {
      const time = fakeTime();
      const r = await track(startFeishu({ secret: SECRET, now: time.clock }));
      const { stats, cap } = await deliver('feishu', r, 'not-the-secret-0000', [DRIFT], time);
      assert.equal(r.requests.length, 1, 'a bad signature is not fixed by another attempt');
      assert.equal(r.requests[0]!.status, 200);
      assert.match(r.requests[0]!.verdict, /^19021 /);
      assert.equal(stats.failed, 1);
      assert.equal(stats.sent, 0);
      assert.match(cap.text(), /Feishu code 19021/);
      assertNoSecrets(cap, r, SECRET, 'not-the-secret-0000');
    });

    it('a stale timestamp is refused too (the receiver checks the one-hour window)', async () => {
      const time = fakeTime();
      const r = await track(startFeishu({ secret: SECRET, now: () => time.clock() + 2 * 3_600_000 }));
      const { stats } = await deliver('feishu', r, SECRET, [DRIFT], time);
      assert.match(r.requests[0]!.verdict, /^19021 /);
      assert.equal(stats.failed, 1);
    });

    it('rate limited (code 11232 in a 200) counts as a failure and is retried after a backoff', async () => {
      const time = fakeTime();
      const r = await track(startFeishu({ secret: SECRET, now: time.clock }));
      r.reply({ body: { code: 11232, msg: 'frequency limited psm[lark.oapi.app_platform_runtime]', data: {} } });
      const { stats, cap } = await deliver('feishu', r, SECRET, [DRIFT], time);
      assert.equal(r.requests.length, 2);
      assert.equal(r.requests[0]!.status, 200, 'the failure came with HTTP 200');
      assert.equal(r.accepted.length, 1);
      assert.deepEqual({ sent: stats.sent, failed: stats.failed, retries: stats.retries }, { sent: 1, failed: 0, retries: 1 });
      assert.deepEqual(time.sleeps, [1000]);
      assert.match(cap.text(), /Feishu code 11232/);
      assertNoSecrets(cap, r, SECRET);
    });

    it('the bot\'s keyword security passes: every message contains "mirrornet"', async () => {
      const r = await track(startFeishu({ keywords: ['mirrornet'] }));
      const { stats } = await deliver('feishu', r, undefined, [FAILED]);
      assert.equal(stats.sent, 1);
      assert.equal((r.accepted[0]!.json as Record<string, unknown>)['sign'], undefined, 'no signature fields without a secret');
    });

    it('renders an interactive card: what happened, site, area, commit, what to do, bilingual', () => {
      const body = feishu.render({ event: DRIFT, area: 'cn', occurrence: 'alert' });
      assert.equal(body.msg_type, 'interactive');
      assert.equal(body.card.header.template, 'orange');
      assert.match(body.card.header.title.content, /^mirrornet · ⚠️ 检测到配置漂移 Drift detected: cn-shanghai$/);
      const text = JSON.stringify(body.card.elements);
      for (const s of [
        'routes drifted',
        '站点 Site',
        'cn-shanghai',
        '区域 Area',
        '提交 Commit',
        '3f9c2a7be81d',
        '处理建议 What to do',
        'policies/guardrails.yaml',
        '10.136.0.0/16',
      ]) {
        assert.ok(text.includes(s), `the card mentions ${s}`);
      }
      assert.ok(!text.includes('3f9c2a7be81d4c6a9e05'), 'the commit is short');
    });

    it('stays under 20 KB with hundreds of changes', () => {
      const changes = Array.from({ length: 400 }, (_, i) => ({
        provider: 'routes',
        id: `10.${i}.0.0/16`,
        action: 'delete',
        reason: '手工添加的路由 '.repeat(5),
      }));
      const body = feishu.request(
        { channel: 'x', url: 'http://127.0.0.1/', secret: 's' },
        { event: event('guardrail-blocked', { changes }), occurrence: 'alert' },
        START,
      );
      assert.ok(utf8Bytes(body.body) <= feishu.MAX_BODY_BYTES, `${utf8Bytes(body.body)} bytes`);
    });
  });

  describe('DingTalk robot', () => {
    const SECRET = 'SEC3e1b9d0c8a7f6e5d4c3b2a1908f7e6d5c4b3a2918f7e6d5c4b3a2918f7e6d5c';

    /** A time whose raw base64 signature contains "+" or "/": an unencoded sign would be mangled. */
    function awkwardTime(): FakeTime {
      for (let t = START; ; t++) {
        const raw = createHmac('sha256', SECRET).update(`${t}\n${SECRET}`).digest('base64');
        if (raw.includes('+') && raw.includes('/')) return fakeTime(t);
      }
    }

    it('signs as DingTalk checks it (secret as key, urlencoded): the receiver accepts the markdown', async () => {
      const time = awkwardTime();
      const r = await track(startDingTalk({ secret: SECRET, now: time.clock }));
      const { stats } = await deliver('dingtalk', r, SECRET, [FAILED], time);
      assert.deepEqual(
        r.rejected.map((x) => x.verdict),
        [],
      );
      assert.equal(stats.sent, 1);
      const req = r.accepted[0]!;
      assert.equal(req.query.get('timestamp'), String(time.clock()), 'timestamp is Unix milliseconds');
      assert.ok(r.accepted[0]!.query.get('sign')!.includes('+'), 'the sign survived the query: it was urlencoded');
      const body = req.json as dingtalk.DingTalkBody;
      assert.equal(body.msgtype, 'markdown');
      assert.match(body.markdown.title, /^mirrornet · ❌ 应用失败 Apply failed: cn-shanghai$/);
      assert.match(body.markdown.text, /\*\*提交 Commit\*\*: 3f9c2a7be81d/);
      assert.match(body.markdown.text, /agent 会在下次调和时重试/);
    });

    it('sign() matches the documented recipe', () => {
      const raw = createHmac('sha256', SECRET).update(`1700000000000\n${SECRET}`).digest('base64');
      assert.equal(dingtalk.sign(SECRET, 1700000000000), encodeURIComponent(raw));
      assert.equal(
        dingtalk.signedUrl('https://oapi.dingtalk.com/robot/send?access_token=t', SECRET, 1700000000000),
        `https://oapi.dingtalk.com/robot/send?access_token=t&timestamp=1700000000000&sign=${encodeURIComponent(raw)}`,
      );
    });

    it('a wrong secret is refused with errcode 310000 in a 200 answer: a failure, not retried, secrets never logged', async () => {
      const time = fakeTime();
      const r = await track(startDingTalk({ secret: SECRET, now: time.clock }));
      const wrong = 'SECffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff';
      const { stats, cap } = await deliver('dingtalk', r, wrong, [FAILED], time);
      assert.equal(r.requests.length, 1);
      assert.equal(r.requests[0]!.status, 200);
      assert.equal(r.requests[0]!.verdict, '310000 sign not match');
      assert.equal(stats.failed, 1);
      assert.match(cap.text(), /DingTalk errcode 310000: sign not match/);
      assertNoSecrets(cap, r, SECRET, wrong);
    });

    it('send too fast (errcode 130101 in a 200) is a failure retried with backoff until it goes through', async () => {
      const time = fakeTime();
      const r = await track(startDingTalk({ secret: SECRET, now: time.clock }));
      r.reply(
        { body: { errcode: 130101, errmsg: 'send too fast, exceed 20 times per minute' } },
        { body: { errcode: 130101, errmsg: 'send too fast, exceed 20 times per minute' } },
      );
      const { stats } = await deliver('dingtalk', r, SECRET, [FAILED], time);
      assert.equal(r.requests.length, 3);
      assert.equal(r.accepted.length, 1);
      assert.deepEqual(time.sleeps, [1000, 2000], 'exponential backoff');
      assert.deepEqual({ sent: stats.sent, retries: stats.retries }, { sent: 1, retries: 2 });
      // Every attempt is signed afresh: the timestamps follow the clock.
      assert.deepEqual(
        r.requests.map((x) => Number(x.query.get('timestamp')) - START),
        [0, 1000, 3000],
      );
    });

    it('an unknown access token (errcode 300001) is not retried', async () => {
      const r = await track(startDingTalk());
      const wrongUrl = r.url.replace(/access_token=\w+/, 'access_token=0000deadbeef');
      const bad = { ...r, url: wrongUrl };
      const { stats, cap } = await deliver('dingtalk', bad, undefined, [FAILED]);
      assert.equal(r.requests.length, 1);
      assert.equal(stats.failed, 1);
      assert.match(cap.text(), /DingTalk errcode 300001/);
      assert.ok(!cap.text().includes('0000deadbeef'));
    });

    it('a robot secured by keywords accepts it: every title says mirrornet', async () => {
      const r = await track(startDingTalk({ keywords: ['mirrornet'] }));
      const { stats } = await deliver('dingtalk', r, undefined, [DRIFT, event('drift-resolved')]);
      assert.equal(stats.sent, 2);
    });
  });

  describe('WeCom group robot', () => {
    it('the key in the URL is the credential: the receiver accepts the markdown', async () => {
      const r = await track(startWeCom());
      const { stats } = await deliver('wecom', r, undefined, [event('guardrail-blocked')]);
      assert.equal(stats.sent, 1);
      const body = r.accepted[0]!.json as wecom.WeComBody;
      assert.equal(body.msgtype, 'markdown');
      assert.match(body.markdown.content, /^### <font color="warning">mirrornet · 🛑 被护栏拦截 Blocked by a guardrail: cn-shanghai<\/font>/);
      assert.match(body.markdown.content, /> 站点 Site: <font color="comment">cn-shanghai<\/font>/);
      assert.match(body.markdown.content, /> 区域 Area: <font color="comment">cn<\/font>/);
    });

    it('a wrong key is refused with errcode 93000 in a 200 answer, not retried; the key is never logged', async () => {
      const r = await track(startWeCom());
      const bad = { ...r, url: r.url.replace(/key=[\w-]+/, 'key=00000000-1111-2222-3333-444444444444') };
      const { stats, cap } = await deliver('wecom', bad, undefined, [FAILED]);
      assert.equal(r.requests.length, 1);
      assert.equal(r.requests[0]!.status, 200);
      assert.match(r.requests[0]!.verdict, /^93000 /);
      assert.equal(stats.failed, 1);
      assert.match(cap.text(), /WeCom errcode 93000: invalid webhook url/);
      assert.ok(!cap.text().includes('00000000-1111-2222-3333-444444444444'));
      assertNoSecrets(cap, r);
    });

    it('rate limited (errcode 45009 in a 200) is retried', async () => {
      const r = await track(startWeCom());
      r.reply({ body: { errcode: 45009, errmsg: 'api freq out of limit' } });
      const { stats } = await deliver('wecom', r, undefined, [FAILED]);
      assert.equal(r.requests.length, 2);
      assert.deepEqual({ sent: stats.sent, retries: stats.retries }, { sent: 1, retries: 1 });
    });

    it('keeps content within 4096 BYTES with Chinese text, cut on a character boundary, and the receiver takes it', async () => {
      const changes = Array.from({ length: 60 }, (_, i) => ({
        provider: 'harbor-api',
        id: `项目-${i}`,
        action: 'update',
        reason: '复制规则被手工修改，与仓库中的声明不一致',
      }));
      const message = `cn-shanghai: 镜像仓库配置漂移：${'北京到上海的复制任务被手工修改。'.repeat(200)}`;
      const long = event('drift-detected', { message, changes });
      const body = wecom.render({ event: long, area: 'cn', occurrence: 'alert' });
      const bytes = utf8Bytes(body.markdown.content);
      assert.ok(bytes <= 4096, `${bytes} bytes`);
      assert.ok(bytes > 3000, 'it uses the room it has');
      assert.ok(!body.markdown.content.includes('\uFFFD'));
      assert.equal(Buffer.from(body.markdown.content, 'utf8').toString('utf8'), body.markdown.content, 'valid UTF-8');
      assert.match(body.markdown.content, /处理建议 What to do/, 'what to do survives the cut');
      const r = await track(startWeCom());
      const { stats } = await deliver('wecom', r, undefined, [long]);
      assert.equal(stats.sent, 1);
    });

    it('the receiver refuses 4097 bytes with errcode 40058 (it checks the limit)', async () => {
      const r = await track(startWeCom());
      const content = `${'汉'.repeat(1365)}ab`; // 4095 + 2 bytes
      assert.equal(utf8Bytes(content), 4097);
      const res = await fetch(r.url, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ msgtype: 'markdown', markdown: { content } }),
      });
      assert.equal(res.status, 200);
      const answer = (await res.json()) as { errcode: number; errmsg: string };
      assert.equal(answer.errcode, 40058);
      assert.match(answer.errmsg, /exceed max length 4096/);
      assert.deepEqual(wecom.parse(200, res.headers, JSON.stringify(answer)), {
        ok: false,
        retryable: false,
        reason: 'WeCom errcode 40058: markdown.content exceed max length 4096. invalid Request Parameter',
      });
    });
  });

  describe('Slack incoming webhook', () => {
    it('posts blocks with a text fallback; the receiver checks Block Kit limits and answers "ok"', async () => {
      const r = await track(startSlack());
      const { stats } = await deliver('slack', r, undefined, [
        event('apply-failed', { site: 'ap-jakarta', message: 'ap-jakarta failed to apply <b>&</b>: x' }),
      ]);
      assert.deepEqual(
        r.rejected.map((x) => x.verdict),
        [],
      );
      assert.equal(stats.sent, 1);
      const body = r.accepted[0]!.json as slack.SlackBody;
      assert.match(body.text, /^mirrornet · ❌ Apply failed: ap-jakarta: ap-jakarta failed to apply &lt;b&gt;&amp;&lt;\/b&gt;: x$/);
      assert.deepEqual(
        body.blocks.map((b) => b.type),
        ['header', 'section', 'section', 'section', 'context'],
      );
      const fields = JSON.stringify(body.blocks[2]);
      for (const s of ['*Site*\\nap-jakarta', '*Area*\\noverseas', '*Commit*\\n3f9c2a7be81d', '*Component*\\nroutes']) assert.ok(fields.includes(s), s);
    });

    it('a wrong URL gets 404 no_service: a failure, not retried, the URL never logged', async () => {
      const r = await track(startSlack());
      const bad = { ...r, url: r.url.replace(r.credential, 'ffffffffffffffffffffffff') };
      const { stats, cap } = await deliver('slack', bad, undefined, [FAILED]);
      assert.equal(r.requests.length, 1);
      assert.equal(stats.failed, 1);
      assert.match(cap.text(), /HTTP 404 no_service/);
      assert.ok(!cap.text().includes('ffffffffffffffffffffffff'));
      assertNoSecrets(cap, r);
    });

    it('429 with Retry-After is retried after at least that long', async () => {
      const r = await track(startSlack());
      r.reply({ status: 429, headers: { 'retry-after': '5' }, body: 'rate_limited' }, { status: 500, body: 'rollup_error' });
      const { stats, time } = await deliver('slack', r, undefined, [FAILED]);
      assert.equal(r.requests.length, 3);
      assert.equal(stats.sent, 1);
      assert.deepEqual(time.sleeps, [5000, 2000]);
    });

    it('stays within Block Kit limits for long text', () => {
      const body = slack.render({ event: event('apply-failed', { message: 'x'.repeat(5000), site: 's'.repeat(200) }), occurrence: 'alert' });
      const header = body.blocks[0] as { text: { text: string } };
      assert.ok(header.text.text.length <= 150);
      const section = body.blocks[1] as { text: { text: string } };
      assert.ok(section.text.text.length <= 3000);
    });
  });

  describe('generic webhook', () => {
    const SECRET = 'whsec-7a1c0e9b';

    it('signs the raw body (X-Mirrornet-Signature-256) with a timestamp; the receiver verifies both', async () => {
      const time = fakeTime();
      const r = await track(startWebhook({ secret: SECRET, now: time.clock }));
      const { stats } = await deliver('webhook', r, SECRET, [DRIFT], time);
      assert.deepEqual(
        r.rejected.map((x) => x.verdict),
        [],
      );
      assert.equal(stats.sent, 1);
      const req = r.accepted[0]!;
      assert.equal(req.headers['x-mirrornet-signature-256'], `sha256=${createHmac('sha256', SECRET).update(req.raw).digest('hex')}`);
      assert.equal(req.headers['x-mirrornet-timestamp'], String(START / 1000));
      const body = req.json as webhook.WebhookBody;
      assert.deepEqual(body.event, DRIFT);
      assert.equal(body.area, 'cn');
      assert.equal(body.occurrence, 'alert');
      assert.ok(webhook.verify(SECRET, req.raw, req.headers['x-mirrornet-signature-256'] as string));
      assert.ok(!webhook.verify(SECRET, Buffer.concat([req.raw, Buffer.from(' ')]), req.headers['x-mirrornet-signature-256'] as string));
    });

    it('a wrong secret is refused (401), not retried', async () => {
      const r = await track(startWebhook({ secret: SECRET }));
      const { stats, cap } = await deliver('webhook', r, 'whsec-wrong-000', [DRIFT]);
      assert.equal(r.requests.length, 1);
      assert.equal(r.requests[0]!.verdict, '401 bad signature');
      assert.equal(stats.failed, 1);
      assertNoSecrets(cap, r, SECRET, 'whsec-wrong-000');
    });

    it('5xx is retried with the same delivery id on every attempt', async () => {
      const time = fakeTime();
      const r = await track(startWebhook({ secret: SECRET, now: time.clock }));
      r.reply({ status: 503, body: 'busy' }, { status: 502, body: 'bad gateway' });
      const { stats } = await deliver('webhook', r, SECRET, [FAILED], time);
      assert.equal(r.requests.length, 3);
      assert.equal(stats.sent, 1);
      const ids = new Set(r.requests.map((x) => x.headers['x-mirrornet-delivery']));
      assert.equal(ids.size, 1);
    });
  });

  describe('messages', () => {
    it('every vendor has a notifier; a card reads English, Chinese or both', () => {
      assert.deepEqual(Object.keys(NOTIFIERS).sort(), ['dingtalk', 'feishu', 'slack', 'webhook', 'wecom']);
      const notice: Notice = { event: DRIFT, area: 'cn', occurrence: 'reminder', since: '2025-02-28T02:00:00.000Z' };
      const en = compose(notice, 'en');
      assert.equal(en.title, 'mirrornet · ⏰ Drift still present: cn-shanghai');
      assert.deepEqual(
        en.facts.map((f) => f.label),
        ['Site', 'Area', 'Commit', 'Component', 'Since'],
      );
      const both = compose(notice, 'both');
      assert.equal(both.title, 'mirrornet · ⏰ 配置漂移仍未恢复 Drift still present: cn-shanghai');
      assert.deepEqual(
        both.facts.map((f) => f.label),
        ['站点 Site', '区域 Area', '提交 Commit', '组件 Component', '起始时间 Since'],
      );
      assert.equal(both.action.length, 2);
      const zh = compose(notice, 'zh');
      assert.equal(zh.title, 'mirrornet · ⏰ 配置漂移仍未恢复: cn-shanghai');
      assert.deepEqual(
        zh.facts.map((f) => f.label),
        ['站点', '区域', '提交', '组件', '起始时间'],
      );
      assert.equal(zh.action.length, 1);
      assert.match(zh.action[0]!, /^cn-shanghai 上的 routes 被仓库之外的操作修改/);
    });

    it('a stall: what is stuck, the component, and what to do, in English and Chinese', () => {
      const stalled = event('agent-stalled', { component: 'hook dragonfly-restart' });
      const en = compose({ event: stalled, area: 'cn', occurrence: 'alert' }, 'en');
      assert.equal(en.title, 'mirrornet · 🧊 Agent stalled: cn-shanghai');
      assert.equal(en.tone, 'danger');
      assert.equal(en.headline, 'cn-shanghai is stalled: hook dragonfly-restart running for 93 s; no reconcile has completed for 130 s (interval 30 s).');
      assert.deepEqual(
        en.facts.find((f) => f.label === 'Component'),
        { label: 'Component', value: 'hook dragonfly-restart' },
      );
      assert.match(en.action[0]!, /^The agent on cn-shanghai applies nothing until this ends\. Read its log on cn-shanghai/);
      const zh = compose({ event: stalled, area: 'cn', occurrence: 'alert' }, 'both');
      assert.equal(zh.title, 'mirrornet · 🧊 agent 停滞 Agent stalled: cn-shanghai');
      assert.equal(zh.action.length, 2);
      const recovered = compose({ event: event('agent-recovered', { component: 'hook dragonfly-restart' }), area: 'cn', occurrence: 'alert' }, 'both');
      assert.equal(recovered.title, 'mirrornet · ✅ agent 已恢复 Agent recovered: cn-shanghai');
      assert.equal(recovered.tone, 'good');
    });

    it('truncates UTF-8 on character boundaries, never inside a character or an emoji sequence', () => {
      assert.equal(truncateUtf8('汉'.repeat(10), 10, ''), '汉汉汉');
      assert.equal(truncateUtf8('汉'.repeat(10), 10, '…'), '汉汉…');
      const family = '👨‍👩‍👧';
      assert.equal(truncateUtf8(family.repeat(3), utf8Bytes(family) + 5, ''), family);
      assert.equal(truncateUtf8('short', 4096), 'short');
      assert.equal(truncateChars('abcdef', 4), 'abc…');
    });
  });
});
