// Feishu/Lark custom bot (自定义机器人): POST JSON to https://open.feishu.cn/open-apis/bot/v2/hook/<id>.
// With the "signature" security setting (签名校验) the body carries `timestamp` (Unix seconds, as a
// string) and `sign` = base64(HMAC-SHA256(key = "<timestamp>\n<secret>", message = "")) — the
// timestamp and secret are the HMAC key and the message is empty; accepted within one hour. Messages are
// cards (`msg_type: "interactive"`). Feishu answers HTTP 200 with `code` in the body: 0 is success,
// 19021 a bad signature or stale timestamp, 19022 an IP not allowed, 19024 a missing keyword, 11232
// rate limited (100 per minute and 5 per second per bot). The request body is at most 20 KB.
//
// Mentions go in the card's lark_md text as `<at id=ou_xxx></at>` and everyone as `<at id=all></at>`; a
// custom bot mentions by open_id only (https://open.feishu.cn/document/ukTMukTMukTM/uADOwUjLwgDM14CM4ATN,
// "Markdown": @指定人 / @所有人). Links are lark_md `[text](url)`.
import { createHmac } from 'node:crypto';
import { compose, diffBlock, linkUrl, type Card, type Tone } from '../message.js';
import { FeishuResponse, parseBody } from '../schema.js';
import { truncateUtf8, utf8Bytes } from '../text.js';
import { httpOutcome, oneLine, type HttpRequest, type Mentions, type Notice, type Notifier, type Outcome, type Target } from '../types.js';

export const MAX_BODY_BYTES = 20_000;

/** base64(HMAC-SHA256(key = "<timestamp>\n<secret>", message = "")). */
function sign(secret: string, timestamp: string | number): string {
  return createHmac('sha256', `${timestamp}\n${secret}`).update('').digest('base64');
}

const TEMPLATE: Record<Tone, string> = { good: 'green', info: 'blue', warning: 'orange', danger: 'red' };

/** lark_md is markdown with a few tags (<at>, <font>): escape angle brackets of plain text. */
function escape(text: string): string {
  return text.replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

interface LarkMd {
  tag: 'lark_md';
  content: string;
}

interface FeishuCard {
  config: { wide_screen_mode: boolean };
  header: { template: string; title: { tag: 'plain_text'; content: string } };
  elements: (
    | { tag: 'div'; text: LarkMd }
    | { tag: 'div'; fields: { is_short: boolean; text: LarkMd }[] }
    | { tag: 'hr' }
    | { tag: 'note'; elements: { tag: 'plain_text'; content: string }[] }
  )[];
}

export interface FeishuBody {
  timestamp?: string;
  sign?: string;
  msg_type: 'interactive';
  card: FeishuCard;
}

const md = (content: string): LarkMd => ({ tag: 'lark_md', content });

/** The card's mention line: everyone, then each user by open_id. */
function mentionLine(m: Mentions | undefined): string | undefined {
  const tags = [...(m?.all ? ['<at id=all></at>'] : []), ...(m?.users ?? []).map((u) => `<at id=${u}></at>`)];
  return tags.length ? tags.join(' ') : undefined;
}

function renderCard(card: Card, mentions: Mentions | undefined): FeishuBody {
  const mention = mentionLine(mentions);
  const elements: FeishuCard['elements'] = [
    ...(mention ? [{ tag: 'div' as const, text: md(mention) }] : []),
    { tag: 'div', text: md(escape(card.headline)) },
    { tag: 'div', fields: card.facts.map((f) => ({ is_short: true, text: md(`**${escape(f.label)}**\n${escape(f.value)}`) })) },
    { tag: 'div', text: md(`**${escape(card.actionLabel)}**\n${card.action.map(escape).join('\n')}`) },
  ];
  if (card.changes.length) {
    const lines = card.changes.map((c) => `- ${escape(c)}`);
    if (card.moreChanges) lines.push(`- … +${card.moreChanges}`);
    elements.push({ tag: 'hr' }, { tag: 'div', text: md(`**${escape(card.changesLabel)}**\n${lines.join('\n')}`) });
  }
  if (card.diff) elements.push({ tag: 'div', text: md(`**${escape(card.diffLabel)}**\n${diffBlock(card.diff)}`) });
  if (card.links.length) elements.push({ tag: 'div', text: md(card.links.map((l) => `[${escape(l.label)}](${linkUrl(l.url)})`).join(' · ')) });
  elements.push({ tag: 'note', elements: [{ tag: 'plain_text', content: card.footer }] });
  return {
    msg_type: 'interactive',
    card: { config: { wide_screen_mode: true }, header: { template: TEMPLATE[card.tone], title: { tag: 'plain_text', content: card.title } }, elements },
  };
}

/** The card body without signature (pure), kept under Feishu's 20 KB by leaving out changes first. */
export function render(notice: Notice): FeishuBody {
  const card = compose(notice, notice.language ?? 'both');
  let body = renderCard(card, notice.mentions);
  // Room for the signature fields (~80 bytes).
  if (utf8Bytes(JSON.stringify(body)) > MAX_BODY_BYTES - 200 && card.diff) {
    delete card.diff;
    body = renderCard(card, notice.mentions);
  }
  while (utf8Bytes(JSON.stringify(body)) > MAX_BODY_BYTES - 200 && card.changes.length) {
    card.changes.pop();
    card.moreChanges++;
    body = renderCard(card, notice.mentions);
  }
  if (utf8Bytes(JSON.stringify(body)) > MAX_BODY_BYTES - 200) body = renderCard({ ...card, headline: truncateUtf8(card.headline, 4000) }, notice.mentions);
  return body;
}

export function request(target: Target, notice: Notice, nowMs: number): HttpRequest {
  const body = render(notice);
  let signed: FeishuBody = body;
  if (target.secret) {
    const timestamp = String(Math.floor(nowMs / 1000));
    signed = { timestamp, sign: sign(target.secret, timestamp), ...body };
  }
  return { url: target.url, headers: { 'content-type': 'application/json; charset=utf-8' }, body: JSON.stringify(signed) };
}

/** Codes that another attempt cannot fix: bad request, bad signature, IP not allowed, keyword missing. */
const PERMANENT = new Set([9499, 19001, 19002, 19021, 19022, 19024]);

function parse(status: number, headers: { get(name: string): string | null }, text: string): Outcome {
  const body = parseBody(FeishuResponse, text);
  const code = body?.code ?? body?.StatusCode;
  if (body && code === 0 && status === 200) return { ok: true };
  if (body && code !== undefined && code !== 0) {
    const msg = oneLine(body.msg ?? body.StatusMessage ?? '', 200);
    // 11232 is the rate limit; unknown codes are tried again (bounded): better late than lost.
    return { ok: false, retryable: !PERMANENT.has(code), reason: `Feishu code ${code}: ${msg}` };
  }
  if (status === 200) return { ok: false, retryable: false, reason: `not a Feishu answer: ${oneLine(text, 200)}` };
  return httpOutcome(status, headers, text);
}

export const feishu: Notifier = {
  type: 'feishu',
  signs: true,
  render,
  request,
  parse,
};
