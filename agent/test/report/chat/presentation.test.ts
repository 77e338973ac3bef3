// What a channel shows beyond the event: @-mentions in each vendor's own syntax (read back by the local
// receivers the way the vendor reads them: who would be notified), links to the commit and the runbook, the
// hosts, and the channel's language — through the real dispatcher, signatures and all. A resolution
// mentions no one.
import assert from 'node:assert/strict';
import { hostSecrets } from '../../../src/host/secrets.js';
import type { AgentEvent } from '../../../src/reconcile/events.js';
import type { DingTalkBody } from '../../../src/report/chat/dingtalk/index.js';
import { createChatDispatcher } from '../../../src/report/chat/dispatcher.js';
import type { FeishuBody } from '../../../src/report/chat/feishu/index.js';
import { compose } from '../../../src/report/chat/message.js';
import type { SlackBody } from '../../../src/report/chat/slack/index.js';
import type { ChannelType } from '../../../src/report/chat/types.js';
import type { WebhookBody } from '../../../src/report/chat/webhook/index.js';
import type { WeComBody } from '../../../src/report/chat/wecom/index.js';
import { captureLog, event, fakeTime, policy, siteArea } from './harness.js';
import { startDingTalk, startFeishu, startSlack, startWebhook, startWeCom, type Receiver } from './receivers.js';

const REV = '3f9c2a7be81d4c6a9e05b7d2c1f0a8e4d6b3c9f1';
const COMMIT_URL = `https://github.com/example-org/fleet/commit/${REV}`;
const RUNBOOK = 'https://wiki.example.com/runbooks/drift';
const SECRET = 'chat-secret-5e1d';

const receivers: Receiver[] = [];
afterEach(async () => {
  await Promise.all(receivers.splice(0).map((r) => r.close()));
});

/** A drift on two hosts, then its resolution, to one channel `ch` with `extra` settings; the policy links commits and runbooks. */
async function deliver(
  type: ChannelType,
  start: (opts: { now: () => number }) => Promise<Receiver>,
  signed: boolean,
  extra: Record<string, unknown>,
): Promise<Receiver> {
  const time = fakeTime();
  const receiver = await start({ now: time.clock });
  receivers.push(receiver);
  const env = { CH_URL: receiver.url, CH_SECRET: SECRET };
  const d = createChatDispatcher({
    policy: policy({
      channels: [{ name: 'ch', type, url: 'env:CH_URL', ...(signed ? { secret: 'env:CH_SECRET' } : {}), ...extra }],
      routes: [{ channels: ['ch'] }],
      links: { repository: 'https://github.com/example-org/fleet' },
      runbooks: { 'drift-detected': RUNBOOK },
    }),
    siteArea,
    resolve: hostSecrets({ env }),
    log: captureLog().log,
    clock: time.clock,
    sleep: time.sleep,
    random: () => 1,
    tickIntervalMs: 0,
  });
  const events: AgentEvent[] = [event('drift-detected', { hosts: ['n3', 'n7'] }), event('drift-resolved', { hosts: ['n3', 'n7'] })];
  for (const e of events) d.sink(e);
  await d.flush();
  await d.close();
  assert.deepEqual(
    receiver.requests.map((r) => r.verdict),
    ['ok', 'ok'],
    'the receiver accepts both messages',
  );
  return receiver;
}

describe('chat messages: mentions, links, hosts and language per channel', () => {
  it('Feishu: <at id=…> in the card for everyone and each open_id, lark_md links, the hosts; bilingual by default', async () => {
    const r = await deliver('feishu', (o) => startFeishu({ ...o, secret: SECRET }), true, {
      mentions: { users: ['ou_7d8a6e5f4c3b'], all: true },
      mentionOn: ['warning', 'critical'],
    });
    const [alert, resolved] = r.accepted as [(typeof r.accepted)[0], (typeof r.accepted)[0]];
    assert.deepEqual(alert.mentioned, ['all', 'ou_7d8a6e5f4c3b']);
    assert.deepEqual(resolved.mentioned, [], 'a resolution mentions no one');
    const card = (alert.json as FeishuBody).card;
    assert.deepEqual(card.elements[0], { tag: 'div', text: { tag: 'lark_md', content: '<at id=all></at> <at id=ou_7d8a6e5f4c3b></at>' } });
    assert.equal(card.header.title.content, 'mirrornet · ⚠️ 检测到配置漂移 Drift detected: cn-shanghai');
    const fields = card.elements.flatMap((e) => ('fields' in e ? e.fields.map((f) => f.text.content) : []));
    assert.ok(fields.includes('**主机 Hosts**\nn3, n7'), fields.join(' | '));
    const texts = card.elements.flatMap((e) => ('text' in e ? [e.text.content] : []));
    assert.equal(texts.at(-1), `[提交 Commit 3f9c2a7be81d](${COMMIT_URL}) · [处理手册 Runbook](${RUNBOOK})`);
  });

  it('DingTalk: at.atMobiles / at.atUserIds with each @id in the text; a zh channel reads Chinese only', async () => {
    const r = await deliver('dingtalk', (o) => startDingTalk({ ...o, secret: SECRET }), true, {
      language: 'zh',
      mentions: { mobiles: ['13800000000'], users: ['netops-oncall'] },
      mentionOn: ['warning'],
    });
    const [alert, resolved] = r.accepted as [(typeof r.accepted)[0], (typeof r.accepted)[0]];
    assert.deepEqual(alert.mentioned, ['13800000000', 'netops-oncall']);
    const body = alert.json as DingTalkBody;
    assert.deepEqual(body.at, { atMobiles: ['13800000000'], atUserIds: ['netops-oncall'] });
    assert.equal(body.markdown.title, 'mirrornet · ⚠️ 检测到配置漂移: cn-shanghai');
    const paragraphs = body.markdown.text.split('\n\n');
    assert.equal(paragraphs[1], '@13800000000 @netops-oncall');
    assert.ok(body.markdown.text.includes('- **主机**: n3, n7'), body.markdown.text);
    assert.equal(paragraphs.at(-2), `[提交 3f9c2a7be81d](${COMMIT_URL}) · [处理手册](${RUNBOOK})`);
    assert.equal((resolved.json as DingTalkBody).at, undefined, 'a resolution mentions no one');
    assert.deepEqual(resolved.mentioned, []);
  });

  it('Slack: <@U…> and <!subteam^S…> under the header and in the text fallback, <url|text> links, English', async () => {
    const r = await deliver('slack', startSlack, false, { mentions: { users: ['U024BE7LH'], groups: ['S0614TZR7'] }, mentionOn: ['warning'] });
    const [alert, resolved] = r.accepted as [(typeof r.accepted)[0], (typeof r.accepted)[0]];
    assert.deepEqual(alert.mentioned, ['U024BE7LH', 'S0614TZR7']);
    assert.deepEqual(resolved.mentioned, []);
    const body = alert.json as SlackBody;
    assert.deepEqual(body.blocks[1], { type: 'section', text: { type: 'mrkdwn', text: '<@U024BE7LH> <!subteam^S0614TZR7>' } });
    assert.match(body.text, /^<@U024BE7LH> <!subteam\^S0614TZR7> mirrornet · ⚠️ Drift detected: cn-shanghai: /);
    const texts = body.blocks.flatMap((b) => ('text' in b && b.text ? [b.text.text] : []));
    assert.ok(texts.includes(`<${COMMIT_URL}|Commit 3f9c2a7be81d> · <${RUNBOOK}|Runbook>`), texts.join(' | '));
    const fields = body.blocks.flatMap((b) => ('fields' in b && b.fields ? b.fields.map((f) => f.text) : []));
    assert.ok(fields.includes('*Hosts*\nn3, n7'), fields.join(' | '));
  });

  it('WeCom: <@userid> in the markdown, markdown links, the hosts', async () => {
    const r = await deliver('wecom', startWeCom, false, { mentions: { users: ['li.wei'] }, mentionOn: ['warning'] });
    const [alert, resolved] = r.accepted as [(typeof r.accepted)[0], (typeof r.accepted)[0]];
    assert.deepEqual(alert.mentioned, ['li.wei']);
    assert.deepEqual(resolved.mentioned, []);
    const lines = (alert.json as WeComBody).markdown.content.split('\n');
    assert.equal(lines[1], '<@li.wei>');
    assert.ok(lines.includes('> 主机 Hosts: <font color="comment">n3, n7</font>'), lines.join('\n'));
    assert.equal(lines.at(-2), `[提交 Commit 3f9c2a7be81d](${COMMIT_URL}) · [处理手册 Runbook](${RUNBOOK})`);
  });

  it('the generic webhook: severity and links in the body, the hosts in the event; it mentions no one', async () => {
    const r = await deliver('webhook', (o) => startWebhook({ ...o, secret: SECRET }), true, {});
    const [alert, resolved] = r.accepted.map((x) => x.json as WebhookBody) as [WebhookBody, WebhookBody];
    assert.equal(alert.severity, 'warning');
    assert.deepEqual(alert.links, { commit: COMMIT_URL, runbook: RUNBOOK });
    assert.deepEqual(alert.event.hosts, ['n3', 'n7']);
    assert.equal(resolved.severity, 'info');
    assert.deepEqual(resolved.links, { commit: COMMIT_URL }, 'no runbook for drift-resolved');
  });

  it('the receivers read mentions as the vendors do: malformed ones are refused or notify no one', async () => {
    const post = async (r: Receiver, body: unknown) => {
      receivers.push(r);
      await fetch(r.url, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
      return r.requests.at(-1)!;
    };
    const slack = await post(await startSlack(), { text: 'hi <@bob>', blocks: [{ type: 'section', text: { type: 'mrkdwn', text: 'x' } }] });
    assert.equal(slack.verdict, 'invalid_blocks: unescaped < or > in "hi <@bob>"');
    const card = {
      header: { title: { tag: 'plain_text', content: 't' } },
      elements: [{ tag: 'div', text: { tag: 'lark_md', content: '<at user_id="ou_1">x</at>' } }],
    };
    const feishu = await post(await startFeishu(), { msg_type: 'interactive', card });
    assert.equal(feishu.verdict, '11246 create card content failed: bad at tag <at user_id="ou_1">');
    const ding = await post(await startDingTalk(), {
      msgtype: 'markdown',
      markdown: { title: 't', text: '@13800000000 hi' },
      at: { atMobiles: ['13800000000', '13900000000'] },
    });
    assert.equal(ding.verdict, 'ok');
    assert.deepEqual(ding.mentioned, ['13800000000'], 'a mobile not named in the text is not highlighted');
    const wecom = await post(await startWeCom(), { msgtype: 'markdown', markdown: { content: 'hi', mentioned_list: ['li.wei'] } });
    assert.deepEqual(wecom.mentioned, [], 'markdown ignores mentioned_list');
  });

  it('many hosts: the first eight and how many more, in each language', () => {
    const hosts = Array.from({ length: 12 }, (_, i) => `n${i + 1}`);
    const notice = { event: event('apply-failed', { hosts }), area: 'cn', occurrence: 'alert' as const };
    const value = (lang: 'en' | 'zh' | 'both') => compose(notice, lang).facts.find((f) => f.label.includes('Hosts') || f.label === '主机')?.value;
    assert.equal(value('en'), 'n1, n2, n3, n4, n5, n6, n7, n8 … (+4 more)');
    assert.equal(value('zh'), 'n1, n2, n3, n4, n5, n6, n7, n8 等 12 台');
    assert.equal(value('both'), 'n1, n2, n3, n4, n5, n6, n7, n8 … (+4, 共 12 台)');
  });
});
