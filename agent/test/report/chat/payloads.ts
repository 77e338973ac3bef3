// What each chat vendor documents about a message body, as pure checks for the local receivers: Slack's
// Block Kit limits and mrkdwn escaping, a Feishu card's elements, links that are http(s), and whom each
// vendor notifies for a body (its mention syntax: Slack <@U…>, Feishu <at id=…>, DingTalk `at` plus @id in
// the text, WeCom <@userid> in markdown).

export const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
export const isText = (v: unknown): v is string => typeof v === 'string' && v.length > 0;

/** The URLs of markdown links `[text](url)` in `text` (Feishu lark_md, DingTalk and WeCom markdown). */
export const markdownLinks = (text: string): string[] => [...text.matchAll(/\]\(([^)\s]*)\)/g)].map((m) => m[1]!);
export const isHttp = (url: string): boolean => /^https?:\/\/[^\s]+$/.test(url);

/**
 * Slack mrkdwn control sequences (https://api.slack.com/reference/surfaces/formatting): a member <@U…>, a
 * user group <!subteam^S…>, a special mention <!channel>, a channel <#C…>, a link <url|text>. Any other < or >
 * must be escaped (&lt; &gt;).
 */
const SLACK_SEQUENCE = /<(@[UW][A-Z0-9]+|!subteam\^S[A-Z0-9]+|!(?:channel|here|everyone)|#C[A-Z0-9]+|https?:\/\/[^|<>\s]+(?:\|[^<>]+)?)>/g;

export function slackTextProblem(text: string): string | undefined {
  const rest = text.replace(SLACK_SEQUENCE, '');
  return /[<>]/.test(rest) ? `unescaped < or > in ${JSON.stringify(text.slice(0, 80))}` : undefined;
}

/** Every mrkdwn text of a Slack body: the fallback and the blocks' texts, fields and context elements. */
export function slackTexts(body: unknown): string[] {
  if (!isObject(body)) return [];
  const out = typeof body['text'] === 'string' ? [body['text']] : [];
  for (const b of Array.isArray(body['blocks']) ? body['blocks'] : []) {
    if (!isObject(b)) continue;
    const texts = [b['text'], ...(Array.isArray(b['fields']) ? b['fields'] : []), ...(Array.isArray(b['elements']) ? b['elements'] : [])];
    for (const t of texts) if (isObject(t) && t['type'] === 'mrkdwn' && typeof t['text'] === 'string') out.push(t['text']);
  }
  return out;
}

/** Slack notifies members <@U…>, user groups <!subteam^S…> and everyone <!channel>. */
export function slackMentions(body: unknown): string[] {
  const ids = new Set<string>();
  for (const text of slackTexts(body)) {
    for (const m of text.matchAll(/<@([UW][A-Z0-9]+)>|<!subteam\^(S[A-Z0-9]+)>|<!(channel)>/g)) ids.add(m[1] ?? m[2] ?? 'all');
  }
  return [...ids];
}

/** Block Kit limits (https://api.slack.com/reference/block-kit/blocks). */
export function slackBlocksProblem(blocks: unknown): string | undefined {
  if (!Array.isArray(blocks) || blocks.length === 0 || blocks.length > 50) return 'blocks must be 1..50 blocks';
  for (const b of blocks) {
    if (!isObject(b)) return 'a block is not an object';
    const textOk = (t: unknown, max: number) =>
      isObject(t) && (t['type'] === 'mrkdwn' || t['type'] === 'plain_text') && isText(t['text']) && (t['text'] as string).length <= max;
    switch (b['type']) {
      case 'header':
        if (!isObject(b['text']) || b['text']['type'] !== 'plain_text' || !textOk(b['text'], 150)) return 'header needs plain_text of 1..150 characters';
        break;
      case 'section': {
        const fields = b['fields'];
        if (b['text'] === undefined && fields === undefined) return 'section needs text or fields';
        if (b['text'] !== undefined && !textOk(b['text'], 3000)) return 'section text must be 1..3000 characters';
        if (fields !== undefined && (!Array.isArray(fields) || fields.length > 10 || !fields.every((f) => textOk(f, 2000))))
          return 'section fields: at most 10, each 1..2000 characters';
        break;
      }
      case 'context': {
        const els = b['elements'];
        if (!Array.isArray(els) || els.length === 0 || els.length > 10 || !els.every((e) => textOk(e, 3000))) return 'context needs 1..10 text elements';
        break;
      }
      case 'divider':
        break;
      default:
        return `unknown block type ${String(b['type'])}`;
    }
  }
  return undefined;
}

const FEISHU_TEMPLATES = new Set([
  'blue',
  'wathet',
  'turquoise',
  'green',
  'yellow',
  'orange',
  'red',
  'carmine',
  'violet',
  'purple',
  'indigo',
  'grey',
  'default',
]);

export function feishuCardProblem(card: unknown): string | undefined {
  if (!isObject(card)) return 'card is not an object';
  const header = card['header'];
  if (!isObject(header) || !isObject(header['title']) || !isText(header['title']['content'])) return 'card.header.title.content is missing';
  if (header['template'] !== undefined && !FEISHU_TEMPLATES.has(String(header['template']))) return `unknown header template ${String(header['template'])}`;
  const elements = card['elements'];
  if (!Array.isArray(elements) || elements.length === 0) return 'card.elements is empty';
  const textOk = (t: unknown) => isObject(t) && (t['tag'] === 'lark_md' || t['tag'] === 'plain_text') && typeof t['content'] === 'string';
  for (const e of elements) {
    if (!isObject(e)) return 'an element is not an object';
    switch (e['tag']) {
      case 'div':
        if (e['text'] === undefined && e['fields'] === undefined) return 'div needs text or fields';
        if (e['text'] !== undefined && !textOk(e['text'])) return 'div text needs tag lark_md or plain_text and content';
        if (
          e['fields'] !== undefined &&
          (!Array.isArray(e['fields']) || !e['fields'].every((f) => isObject(f) && typeof f['is_short'] === 'boolean' && textOk(f['text'])))
        )
          return 'div fields need is_short and text';
        break;
      case 'hr':
        break;
      case 'note':
        if (!Array.isArray(e['elements']) || !e['elements'].every(textOk)) return 'note needs text elements';
        break;
      default:
        return `unknown element tag ${String(e['tag'])}`;
    }
  }
  return undefined;
}

/** Every lark_md text of a Feishu card. */
export function feishuMarkdown(body: unknown): string[] {
  const card = isObject(body) ? body['card'] : undefined;
  const out: string[] = [];
  for (const e of isObject(card) && Array.isArray(card['elements']) ? card['elements'] : []) {
    if (!isObject(e)) continue;
    const texts = [e['text'], ...(Array.isArray(e['fields']) ? e['fields'].map((f) => (isObject(f) ? f['text'] : undefined)) : [])];
    for (const t of texts) if (isObject(t) && t['tag'] === 'lark_md' && typeof t['content'] === 'string') out.push(t['content']);
  }
  return out;
}

/** A card mentions with <at id=open_id></at> and everyone with <at id=all></at> (legacy card Markdown). */
export function feishuMentions(body: unknown): string[] {
  return [...new Set(feishuMarkdown(body).flatMap((t) => [...t.matchAll(/<at id=([A-Za-z0-9_]+)><\/at>/g)].map((m) => m[1]!)))];
}

export const isTextList = (v: unknown): boolean => v === undefined || (Array.isArray(v) && v.every((x) => typeof x === 'string'));

/** DingTalk notifies the mobiles and userIds of `at` that the text names as @<id>, and everyone with isAtAll. */
export function dingMentions(body: unknown): string[] {
  if (!isObject(body) || !isObject(body['at'])) return [];
  const at = body['at'];
  const md = isObject(body['markdown']) ? body['markdown'] : isObject(body['text']) ? body['text'] : {};
  const text = String(md['text'] ?? md['content'] ?? '');
  const ids = [...((at['atMobiles'] as string[] | undefined) ?? []), ...((at['atUserIds'] as string[] | undefined) ?? [])].filter((x) =>
    text.includes(`@${x}`),
  );
  return [...(at['isAtAll'] === true ? ['all'] : []), ...ids];
}

/** WeCom markdown mentions <@userid>; the text type mentioned_list and mentioned_mobile_list (markdown ignores those). */
export function wecomMentions(body: unknown): string[] {
  if (!isObject(body)) return [];
  if (body['msgtype'] === 'markdown' && isObject(body['markdown'])) {
    return [...String(body['markdown']['content'] ?? '').matchAll(/<@([A-Za-z0-9_.@-]+)>/g)].map((m) => m[1]!);
  }
  if (body['msgtype'] === 'text' && isObject(body['text'])) {
    const t = body['text'];
    return [...((t['mentioned_list'] as string[] | undefined) ?? []), ...((t['mentioned_mobile_list'] as string[] | undefined) ?? [])];
  }
  return [];
}
