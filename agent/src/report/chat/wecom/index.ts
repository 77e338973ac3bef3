// WeCom (企业微信) group robot: POST JSON to https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=<key>.
// No signature: the `key` in the URL is the credential, so the whole URL is a secret. Messages are
// `msgtype: "markdown"` with `content` of at most 4096 BYTES of UTF-8 (a 汉字 is 3 bytes); longer content
// is refused with errcode 40058. WeCom answers HTTP 200 with `errcode`: 0 is success, 93000 an invalid
// webhook URL (key), 45009 rate limited (20 messages per minute per robot), -1 busy.
//
// Mentions: markdown content mentions a member as `<@userid>`; `mentioned_list` and `mentioned_mobile_list`
// belong to the text message type only, so markdown can mention neither by mobile nor everyone (the
// validator says so) (https://developer.work.weixin.qq.com/document/path/91770, 文本类型 / markdown类型).
// Links are markdown `[text](url)`.
import { compose, diffBlock, linkUrl, type Card, type Tone } from '../message.js';
import { parseBody, WeComResponse } from '../schema.js';
import { truncateUtf8, utf8Bytes } from '../text.js';
import { httpOutcome, oneLine, type HttpRequest, type Mentions, type Notice, type Notifier, type Outcome, type Target } from '../types.js';

const MAX_CONTENT_BYTES = 4096;
/** The headline is cut first, so the facts and what to do always fit. */
const MAX_HEADLINE_BYTES = 2000;
const TRUNCATED = '\n…(已截断 truncated)';

/** WeCom markdown has three colours: info (green), comment (grey), warning (orange-red). */
const COLOUR: Record<Tone, string> = { good: 'info', info: 'comment', warning: 'warning', danger: 'warning' };

export interface WeComBody {
  msgtype: 'markdown';
  markdown: { content: string };
}

function content(card: Card, m: Mentions | undefined): string {
  const lines = [
    `### <font color="${COLOUR[card.tone]}">${card.title}</font>`,
    ...(m?.users.length ? [m.users.map((u) => `<@${u}>`).join(' ')] : []),
    truncateUtf8(card.headline, MAX_HEADLINE_BYTES),
    ...card.facts.map((f) => `> ${f.label}: <font color="comment">${f.value}</font>`),
    `**${card.actionLabel}**`,
    ...card.action,
  ];
  if (card.changes.length) {
    lines.push(`**${card.changesLabel}**`, ...card.changes.map((c) => `- ${c}`));
    if (card.moreChanges) lines.push(`- … +${card.moreChanges}`);
  }
  if (card.diff) lines.push(`**${card.diffLabel}**`, diffBlock(card.diff));
  if (card.links.length) lines.push(card.links.map((l) => `[${l.label}](${linkUrl(l.url)})`).join(' · '));
  lines.push(`<font color="comment">${card.footer}</font>`);
  return lines.join('\n');
}

/**
 * The markdown body (pure), at most 4096 bytes: a drift's diff is left out first, then changes (the facts and what to do
 * come before them), then the text is cut on a character boundary with a marker.
 */
function renderCard(card: Card, m: Mentions | undefined): WeComBody {
  let c = content(card, m);
  const trimmed = { ...card, changes: [...card.changes] };
  // The diff goes first (the facts, what to do and the changes matter more in 4096 bytes).
  if (utf8Bytes(c) > MAX_CONTENT_BYTES && trimmed.diff) {
    delete trimmed.diff;
    c = content(trimmed, m);
  }
  while (utf8Bytes(c) > MAX_CONTENT_BYTES && trimmed.changes.length > 0) {
    trimmed.changes.pop();
    trimmed.moreChanges++;
    c = content(trimmed, m);
  }
  return { msgtype: 'markdown', markdown: { content: truncateUtf8(c, MAX_CONTENT_BYTES, TRUNCATED) } };
}

export function render(notice: Notice): WeComBody {
  return renderCard(compose(notice, notice.language ?? 'both'), notice.mentions);
}

function request(target: Target, notice: Notice): HttpRequest {
  return { url: target.url, headers: { 'content-type': 'application/json; charset=utf-8' }, body: JSON.stringify(render(notice)) };
}

/** Another attempt cannot fix these: invalid key, invalid parameter (too long), bad message type. */
const PERMANENT = new Set([93000, 40058, 40008, 44004, 40035]);

export function parse(status: number, headers: { get(name: string): string | null }, text: string): Outcome {
  const body = parseBody(WeComResponse, text);
  if (body && body.errcode === 0 && status === 200) return { ok: true };
  if (body && body.errcode !== 0) {
    return {
      ok: false,
      retryable: !PERMANENT.has(body.errcode),
      reason: `WeCom errcode ${body.errcode}: ${oneLine((body.errmsg ?? '').replace(/,?\s*hint:.*$/, ''), 200)}`,
    };
  }
  if (status === 200) return { ok: false, retryable: false, reason: `not a WeCom answer: ${oneLine(text, 200)}` };
  return httpOutcome(status, headers, text);
}

export const wecom: Notifier = {
  type: 'wecom',
  signs: false,
  render,
  request: (target, notice) => request(target, notice),
  parse,
};
