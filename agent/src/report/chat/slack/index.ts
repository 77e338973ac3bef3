// Slack incoming webhook: POST JSON with `blocks` and a `text` fallback (notifications and old clients
// show the text). No signature: the webhook URL is the credential. Slack answers 200 "ok"; failures are
// 4xx with a plain-text code (400 invalid_payload, 403 invalid_token, 404 no_service, 410
// channel_is_archived) and 429 when posting faster than about one message per second.
//
// Mentions are mrkdwn in a section under the header and at the start of the `text` fallback (which the
// notification shows): a member `<@U0123ABC>`, a user group `<!subteam^S0123ABC>`, everyone `<!channel>`
// (https://api.slack.com/reference/surfaces/formatting#mentioning-users, #mentioning-groups,
// #special-mentions). Links are `<url|text>`.
import { compose, diffBlock, linkUrl, type Card } from '../message.js';
import { truncateChars } from '../text.js';
import { httpOutcome, oneLine, type HttpRequest, type Mentions, type Notice, type Notifier, type Outcome, type Target } from '../types.js';

/** Slack's block limits: header text 150 characters, section text 3000, a field 2000, 10 fields. */
const LIMITS = { header: 150, section: 3000, field: 2000, fields: 10, blocks: 50, text: 3000 } as const;

/** mrkdwn control characters (Slack asks for &amp; &lt; &gt;). */
function escape(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

type Block =
  | { type: 'header'; text: { type: 'plain_text'; text: string; emoji: true } }
  | { type: 'section'; text?: { type: 'mrkdwn'; text: string }; fields?: { type: 'mrkdwn'; text: string }[] }
  | { type: 'context'; elements: { type: 'mrkdwn'; text: string }[] };

export interface SlackBody {
  text: string;
  blocks: Block[];
}

function mrkdwn(text: string, max: number = LIMITS.section): { type: 'mrkdwn'; text: string } {
  return { type: 'mrkdwn', text: truncateChars(text, max) };
}

/** The mention line: members, user groups, then everyone. */
function mentionLine(m: Mentions | undefined): string {
  return [...(m?.users ?? []).map((u) => `<@${u}>`), ...(m?.groups ?? []).map((g) => `<!subteam^${g}>`), ...(m?.all ? ['<!channel>'] : [])].join(' ');
}

function renderCard(card: Card, mentions: Mentions | undefined): SlackBody {
  const mention = mentionLine(mentions);
  const blocks: Block[] = [
    { type: 'header', text: { type: 'plain_text', text: truncateChars(card.title, LIMITS.header), emoji: true } },
    ...(mention ? [{ type: 'section' as const, text: mrkdwn(mention) }] : []),
    { type: 'section', text: mrkdwn(escape(card.headline)) },
    { type: 'section', fields: card.facts.slice(0, LIMITS.fields).map((f) => mrkdwn(`*${escape(f.label)}*\n${escape(f.value)}`, LIMITS.field)) },
    { type: 'section', text: mrkdwn(`*${escape(card.actionLabel)}*\n${card.action.map(escape).join('\n')}`) },
  ];
  if (card.changes.length) {
    const lines = card.changes.map((c) => `• ${escape(c)}`);
    if (card.moreChanges) lines.push(`… and ${card.moreChanges} more`);
    blocks.push({ type: 'section', text: mrkdwn(`*${escape(card.changesLabel)}*\n${lines.join('\n')}`) });
  }
  if (card.diff) blocks.push({ type: 'section', text: mrkdwn(`*${escape(card.diffLabel)}*\n${escape(diffBlock(card.diff))}`) });
  if (card.links.length) blocks.push({ type: 'section', text: mrkdwn(card.links.map((l) => `<${linkUrl(l.url)}|${escape(l.label)}>`).join(' · ')) });
  blocks.push({ type: 'context', elements: [mrkdwn(escape(card.footer))] });
  return { text: truncateChars(`${mention ? `${mention} ` : ''}${escape(`${card.title}: ${card.headline}`)}`, LIMITS.text), blocks };
}

/** The webhook body (pure). */
export function render(notice: Notice): SlackBody {
  return renderCard(compose(notice, notice.language ?? 'en'), notice.mentions);
}

function request(target: Target, notice: Notice): HttpRequest {
  return { url: target.url, headers: { 'content-type': 'application/json; charset=utf-8' }, body: JSON.stringify(render(notice)) };
}

function parse(status: number, headers: { get(name: string): string | null }, text: string): Outcome {
  if (status === 200 && text.trim() === 'ok') return { ok: true };
  if (status === 200) return { ok: false, retryable: false, reason: `Slack answered 200 without "ok": ${oneLine(text, 200)}` };
  return httpOutcome(status, headers, text);
}

export const slack: Notifier = {
  type: 'slack',
  signs: false,
  render,
  request: (target, notice) => request(target, notice),
  parse,
};
