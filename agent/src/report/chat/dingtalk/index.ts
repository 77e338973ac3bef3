// DingTalk robot (自定义机器人): POST JSON to https://oapi.dingtalk.com/robot/send?access_token=<token>.
// With the "sign" security setting (加签) the URL also carries `timestamp` (Unix milliseconds) and
// `sign` = urlencode(base64(HMAC-SHA256(key = secret, message = "<timestamp>\n<secret>"))) — the
// secret (SEC...) is the HMAC key, the opposite of Feishu; accepted within one hour. Messages are
// `msgtype: "markdown"` with `title` (shown in the conversation list) and `text`. DingTalk answers HTTP
// 200 with `errcode`: 0 is success, 310000 a bad signature, stale timestamp, missing keyword or IP not
// allowed, 300001 an unknown token, 130101/410100 rate limited (20 messages per minute per robot, then
// 10 minutes of silence).
//
// Mentions: `at: {atMobiles, atUserIds, isAtAll}` next to the markdown, and each mobile or userId also as
// "@<mobile>" / "@<userId>" in the text, which is where DingTalk shows (and requires) it
// (https://open.dingtalk.com/document/orgapp/custom-robots-send-group-messages, markdown: "at").
// Links are markdown `[text](url)`.
import { createHmac } from 'node:crypto';
import { compose, diffBlock, linkUrl, type Card } from '../message.js';
import { DingTalkResponse, parseBody } from '../schema.js';
import { truncateUtf8 } from '../text.js';
import { httpOutcome, oneLine, type HttpRequest, type Mentions, type Notice, type Notifier, type Outcome, type Target } from '../types.js';

/** DingTalk does not document a markdown size; stay well under its 20 KB request limit. */
const MAX_TEXT_BYTES = 18_000;

/** urlencode(base64(HMAC-SHA256(key = secret, message = "<timestamp>\n<secret>"))), ready for the query. */
export function sign(secret: string, timestampMs: string | number): string {
  return encodeURIComponent(createHmac('sha256', secret).update(`${timestampMs}\n${secret}`).digest('base64'));
}

/** The webhook URL with `timestamp` and `sign` appended (the access_token stays as it is). */
export function signedUrl(url: string, secret: string, timestampMs: number): string {
  return `${url}${url.includes('?') ? '&' : '?'}timestamp=${timestampMs}&sign=${sign(secret, timestampMs)}`;
}

export interface DingTalkBody {
  msgtype: 'markdown';
  markdown: { title: string; text: string };
  at?: { atMobiles?: string[]; atUserIds?: string[]; isAtAll?: boolean };
}

function renderCard(card: Card, m: Mentions | undefined): DingTalkBody {
  const named = [...(m?.mobiles ?? []), ...(m?.users ?? [])];
  // DingTalk markdown needs a blank line between paragraphs; the mentions come first, before anything is cut.
  const parts = [
    `### ${card.title}`,
    ...(named.length ? [named.map((x) => `@${x}`).join(' ')] : []),
    card.headline,
    card.facts.map((f) => `- **${f.label}**: ${f.value}`).join('\n'),
    `**${card.actionLabel}**`,
    ...card.action,
  ];
  if (card.changes.length) {
    parts.push(`**${card.changesLabel}**`, [...card.changes.map((c) => `- ${c}`), ...(card.moreChanges ? [`- … +${card.moreChanges}`] : [])].join('\n'));
  }
  if (card.diff) parts.push(`**${card.diffLabel}**`, diffBlock(card.diff));
  if (card.links.length) parts.push(card.links.map((l) => `[${l.label}](${linkUrl(l.url)})`).join(' · '));
  parts.push(`> ${card.footer}`);
  const at = {
    ...(m?.mobiles.length ? { atMobiles: m.mobiles } : {}),
    ...(m?.users.length ? { atUserIds: m.users } : {}),
    ...(m?.all ? { isAtAll: true } : {}),
  };
  return {
    msgtype: 'markdown',
    markdown: { title: card.title, text: truncateUtf8(parts.join('\n\n'), MAX_TEXT_BYTES) },
    ...(Object.keys(at).length ? { at } : {}),
  };
}

/** The markdown body (pure). */
function render(notice: Notice): DingTalkBody {
  return renderCard(compose(notice, notice.language ?? 'both'), notice.mentions);
}

function request(target: Target, notice: Notice, nowMs: number): HttpRequest {
  const url = target.secret ? signedUrl(target.url, target.secret, Math.floor(nowMs)) : target.url;
  return { url, headers: { 'content-type': 'application/json; charset=utf-8' }, body: JSON.stringify(render(notice)) };
}

/** Another attempt cannot fix these: signature/keyword/IP/timestamp, unknown token, robot disabled or group gone. */
const PERMANENT = new Set([310000, 300001, 300005, 400013, 400101, 400102, 40035]);

function parse(status: number, headers: { get(name: string): string | null }, text: string): Outcome {
  const body = parseBody(DingTalkResponse, text);
  if (body && body.errcode === 0 && status === 200) return { ok: true };
  if (body && body.errcode !== 0) {
    return { ok: false, retryable: !PERMANENT.has(body.errcode), reason: `DingTalk errcode ${body.errcode}: ${oneLine(body.errmsg ?? '', 200)}` };
  }
  if (status === 200) return { ok: false, retryable: false, reason: `not a DingTalk answer: ${oneLine(text, 200)}` };
  return httpOutcome(status, headers, text);
}

export const dingtalk: Notifier = {
  type: 'dingtalk',
  signs: true,
  render,
  request,
  parse,
};
