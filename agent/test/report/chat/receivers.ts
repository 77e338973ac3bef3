// Local receivers that behave like the chat vendors: real HTTP servers on 127.0.0.1 that check the
// credential in the URL, the signature and the payload shape as each vendor documents them, and answer
// the way the vendor does — HTTP 200 with an error code in the body for most failures (Feishu `code`,
// DingTalk and WeCom `errcode`), plain-text codes for Slack, statuses for the generic webhook.
//
// Every receiver keeps what it got (`requests`), what a group would show (`accepted`), whom each message
// would notify (`mentioned`, read the way the vendor reads mentions) and why the others were refused;
// `reply(...)` scripts the next answers (after the checks passed), e.g. a rate limit, to test retries.
import { createHmac, randomBytes, randomUUID, timingSafeEqual } from 'node:crypto';
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import {
  dingMentions,
  feishuCardProblem,
  feishuMarkdown,
  feishuMentions,
  isHttp,
  isObject,
  isText,
  isTextList,
  markdownLinks,
  slackBlocksProblem,
  slackMentions,
  slackTextProblem,
  slackTexts,
  wecomMentions,
} from './payloads.js';

interface Received {
  method: string;
  path: string;
  query: URLSearchParams;
  headers: IncomingHttpHeaders;
  raw: Buffer;
  /** The parsed JSON body, when it is JSON. */
  json?: unknown;
  /** The receiver's clock when it arrived. */
  at: number;
  accepted: boolean;
  /** Why it was refused (the vendor's code and message), or 'ok'. */
  verdict: string;
  /** Whom the group would see mentioned (ids, mobiles; "all" for everyone), as the vendor reads the payload. */
  mentioned: string[];
  /** The status and body it answered. */
  status: number;
  answer: string;
}

interface Reply {
  status?: number;
  headers?: Record<string, string>;
  body: string | object;
}

export interface Receiver {
  /** The full webhook URL, credential included (a secret for the sender). */
  url: string;
  /** The path or query credential alone (token, key), to check it never reaches a log. */
  credential: string;
  requests: Received[];
  accepted: Received[];
  rejected: Received[];
  /** Answer the next requests that pass the checks with these (in order). */
  reply(...replies: Reply[]): void;
  close(): Promise<void>;
}

export interface ReceiverOptions {
  /** The receiver's clock (ms), for signature freshness; default Date.now. */
  now?: () => number;
}

interface Answer {
  status: number;
  headers?: Record<string, string>;
  body: string | object;
  /** Why it was refused; undefined when accepted. */
  refused?: string;
}

type Check = (req: Omit<Received, 'accepted' | 'verdict' | 'status' | 'answer' | 'mentioned'>) => Answer | undefined;

/** Whom a body mentions, as the vendor reads it. */
type MentionReader = (json: unknown) => string[];

/** A server that runs `check` (undefined: accepted) and answers `ok` or a scripted reply. */
async function serve(
  path: string,
  check: Check,
  ok: Answer,
  opts: ReceiverOptions,
  credential: string,
  query = '',
  mentionsOf: MentionReader = () => [],
): Promise<Receiver> {
  const now = opts.now ?? Date.now;
  const requests: Received[] = [];
  const script: Reply[] = [];
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const url = new URL(req.url ?? '/', 'http://127.0.0.1');
      const raw = Buffer.concat(chunks);
      let json: unknown;
      try {
        json = JSON.parse(raw.toString('utf8'));
      } catch {
        json = undefined;
      }
      const base = { method: req.method ?? '', path: url.pathname, query: url.searchParams, headers: req.headers, raw, json, at: now() };
      let answer = check(base);
      if (!answer) {
        const next = script.shift();
        answer = next
          ? {
              status: next.status ?? 200,
              ...(next.headers ? { headers: next.headers } : {}),
              body: next.body,
              refused: `scripted: ${typeof next.body === 'string' ? next.body : JSON.stringify(next.body)}`,
            }
          : ok;
      }
      const body = typeof answer.body === 'string' ? answer.body : JSON.stringify(answer.body);
      const type = typeof answer.body === 'string' ? 'text/plain; charset=utf-8' : 'application/json; charset=utf-8';
      requests.push({ ...base, accepted: !answer.refused, verdict: answer.refused ?? 'ok', status: answer.status, answer: body, mentioned: mentionsOf(json) });
      res.writeHead(answer.status, { 'content-type': type, ...(answer.headers ?? {}) });
      res.end(body);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}${path}${query}`,
    credential,
    requests,
    get accepted() {
      return requests.filter((r) => r.accepted);
    },
    get rejected() {
      return requests.filter((r) => !r.accepted);
    },
    reply: (...replies) => void script.push(...replies),
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

function validUtf8(raw: Buffer): boolean {
  try {
    new TextDecoder('utf-8', { fatal: true }).decode(raw);
    return true;
  } catch {
    return false;
  }
}

const HOUR_MS = 3_600_000;

// ---- Slack -----------------------------------------------------------------------------------------

/** Slack incoming webhook: the URL path is the credential; 200 "ok", else 4xx with a plain-text code. */
export async function startSlack(opts: ReceiverOptions = {}): Promise<Receiver> {
  const token = randomBytes(12).toString('hex');
  const path = `/services/T0MIRROR/B0NET/${token}`;
  const check: Check = (req) => {
    if (req.method !== 'POST') return { status: 405, body: 'invalid_method', refused: 'invalid_method' };
    if (req.path !== path) return { status: 404, body: 'no_service', refused: 'no_service' };
    if (!String(req.headers['content-type']).startsWith('application/json'))
      return { status: 400, body: 'invalid_payload', refused: 'invalid_payload: not JSON' };
    const body = req.json;
    if (!isObject(body)) return { status: 400, body: 'invalid_payload', refused: 'invalid_payload' };
    if (!isText(body['text'])) return { status: 400, body: 'no_text', refused: 'no_text' };
    if (body['blocks'] !== undefined) {
      const problem = slackBlocksProblem(body['blocks']);
      if (problem) return { status: 400, body: 'invalid_blocks', refused: `invalid_blocks: ${problem}` };
    }
    const textProblem = slackTexts(body)
      .map(slackTextProblem)
      .find((p) => p !== undefined);
    if (textProblem) return { status: 400, body: 'invalid_blocks', refused: `invalid_blocks: ${textProblem}` };
    return undefined;
  };
  return serve(path, check, { status: 200, body: 'ok' }, opts, token, '', slackMentions);
}

// ---- Feishu / Lark ---------------------------------------------------------------------------------

export interface SignedOptions extends ReceiverOptions {
  /** The robot's signing secret; without it, signatures are not checked (the vendor's setting is off). */
  secret?: string;
  /** Custom keywords: the message must contain one. */
  keywords?: string[];
}

const FEISHU_OK = { StatusCode: 0, StatusMessage: 'success', code: 0, data: {}, msg: 'success' };
const feishuError = (code: number, msg: string, status = 200): Answer => ({ status, body: { code, data: {}, msg }, refused: `${code} ${msg}` });
/** Feishu signature: base64(HMAC-SHA256(key = "<timestamp>\n<secret>", message = "")), computed here independently. */
function feishuSign(timestamp: string, secret: string): string {
  return createHmac('sha256', Buffer.from(`${timestamp}\n${secret}`, 'utf8'))
    .update(Buffer.alloc(0))
    .digest('base64');
}

/** Feishu/Lark custom bot: answers 200 with `code` (0, 19021 sign, 19024 keywords, 9499 bad request). */
export async function startFeishu(opts: SignedOptions = {}): Promise<Receiver> {
  const hook = randomUUID();
  const path = `/open-apis/bot/v2/hook/${hook}`;
  const now = opts.now ?? Date.now;
  const check: Check = (req) => {
    if (req.path !== path) return feishuError(19001, 'param invalid: incoming webhook access token invalid');
    if (req.raw.length > 20 * 1024) return feishuError(9499, 'Bad Request: request body too large', 400);
    const body = req.json;
    if (!isObject(body)) return feishuError(9499, 'Bad Request', 400);
    if (opts.secret !== undefined) {
      const ts = body['timestamp'];
      const sign = body['sign'];
      const seconds = typeof ts === 'string' && /^\d+$/.test(ts) ? Number(ts) : undefined;
      const stale = seconds === undefined || Math.abs(now() - seconds * 1000) > HOUR_MS;
      const good = typeof sign === 'string' && typeof ts === 'string' && sign === feishuSign(ts, opts.secret);
      if (stale || !good) return feishuError(19021, 'sign match fail or timestamp is not within one hour from current time');
    }
    const type = body['msg_type'];
    if (type === 'interactive') {
      const problem = feishuCardProblem(body['card']);
      if (problem) return feishuError(11246, `create card content failed: ${problem}`);
      const link = feishuMarkdown(body)
        .flatMap(markdownLinks)
        .find((u) => !isHttp(u));
      if (link !== undefined) return feishuError(11246, `create card content failed: link ${link} is not http(s)`);
      const tag = feishuMarkdown(body)
        .flatMap((t) => t.match(/<at\b[^>]*>/g) ?? [])
        .find((t) => !/^<at id=[A-Za-z0-9_]+>$/.test(t));
      if (tag !== undefined) return feishuError(11246, `create card content failed: bad at tag ${tag}`);
    } else if (type === 'text') {
      if (!isObject(body['content']) || !isText(body['content']['text'])) return feishuError(9499, 'Bad Request');
    } else {
      return feishuError(19002, `params error, msg_type need: ${String(type)}`);
    }
    if (opts.keywords && !opts.keywords.some((k) => req.raw.toString('utf8').includes(k))) return feishuError(19024, 'Key Words Not Found');
    return undefined;
  };
  return serve(path, check, { status: 200, body: FEISHU_OK }, opts, hook, '', feishuMentions);
}

// ---- DingTalk ----------------------------------------------------------------------------------------

const dingError = (errcode: number, errmsg: string): Answer => ({ status: 200, body: { errcode, errmsg }, refused: `${errcode} ${errmsg}` });

/** DingTalk signature: base64(HMAC-SHA256(key = secret, message = "<timestamp>\n<secret>")), computed here independently. */
function dingSign(timestamp: string, secret: string): string {
  return createHmac('sha256', Buffer.from(secret, 'utf8'))
    .update(Buffer.from(`${timestamp}\n${secret}`, 'utf8'))
    .digest('base64');
}

/** DingTalk robot: access_token in the query; answers 200 with `errcode` (0, 310000 sign/keywords/timestamp, 300001 token). */
export async function startDingTalk(opts: SignedOptions = {}): Promise<Receiver> {
  const token = randomBytes(16).toString('hex');
  const now = opts.now ?? Date.now;
  const check: Check = (req) => {
    if (req.path !== '/robot/send') return { status: 404, body: 'Not Found', refused: '404' };
    if (req.query.get('access_token') !== token) return dingError(300001, 'token is not exist');
    if (opts.secret !== undefined) {
      // URLSearchParams decodes the query as a form: an unencoded "+" in a base64 sign becomes a space.
      const ts = req.query.get('timestamp');
      const sign = req.query.get('sign');
      if (!ts || !/^\d{13}$/.test(ts) || Math.abs(now() - Number(ts)) > HOUR_MS) return dingError(310000, 'invalid timestamp');
      if (!sign) return dingError(310000, 'sign not match');
      const want = Buffer.from(dingSign(ts, opts.secret));
      const got = Buffer.from(sign);
      if (want.length !== got.length || !timingSafeEqual(want, got)) return dingError(310000, 'sign not match');
    }
    const body = req.json;
    if (!isObject(body)) return dingError(40035, '缺少参数 json');
    switch (body['msgtype']) {
      case 'markdown': {
        const md = body['markdown'];
        if (!isObject(md) || !isText(md['title']) || !isText(md['text'])) return dingError(40035, '缺少参数 markdown.title 或 markdown.text');
        const link = markdownLinks(md['text'] as string).find((u) => !isHttp(u));
        if (link !== undefined) return dingError(40035, `markdown link ${link} is not http(s)`);
        break;
      }
      case 'text':
        if (!isObject(body['text']) || !isText(body['text']['content'])) return dingError(40035, '缺少参数 text.content');
        break;
      default:
        return dingError(40035, '缺少参数 msgtype');
    }
    const at = body['at'];
    if (at !== undefined) {
      const ok =
        isObject(at) && isTextList(at['atMobiles']) && isTextList(at['atUserIds']) && (at['isAtAll'] === undefined || typeof at['isAtAll'] === 'boolean');
      if (!ok) return dingError(40035, 'at must be {atMobiles: [], atUserIds: [], isAtAll: boolean}');
    }
    if (opts.keywords && !opts.keywords.some((k) => req.raw.toString('utf8').includes(k))) return dingError(310000, 'keywords not in content');
    return undefined;
  };
  return serve('/robot/send', check, { status: 200, body: { errcode: 0, errmsg: 'ok' } }, opts, token, `?access_token=${token}`, dingMentions);
}

// ---- WeCom -------------------------------------------------------------------------------------------

const wecomError = (errcode: number, errmsg: string): Answer => ({
  status: 200,
  body: { errcode, errmsg: `${errmsg}, hint: [${Date.now()}], from ip: 127.0.0.1, more info at https://open.work.weixin.qq.com/devtool/query?e=${errcode}` },
  refused: `${errcode} ${errmsg}`,
});

/** WeCom group robot: key in the query; markdown.content at most 4096 bytes; answers 200 with `errcode`. */
export async function startWeCom(opts: ReceiverOptions = {}): Promise<Receiver> {
  const key = randomUUID();
  const check: Check = (req) => {
    if (req.path !== '/cgi-bin/webhook/send' || req.query.get('key') !== key) return wecomError(93000, 'invalid webhook url');
    if (!validUtf8(req.raw)) return wecomError(40058, 'invalid Request Parameter: not UTF-8');
    const body = req.json;
    if (!isObject(body)) return wecomError(40058, 'invalid Request Parameter');
    if (body['msgtype'] === 'markdown') {
      const md = body['markdown'];
      if (!isObject(md) || !isText(md['content'])) return wecomError(40058, 'markdown.content is empty. invalid Request Parameter');
      if (Buffer.byteLength(md['content'] as string, 'utf8') > 4096)
        return wecomError(40058, 'markdown.content exceed max length 4096. invalid Request Parameter');
      const link = markdownLinks(md['content'] as string).find((u) => !isHttp(u));
      if (link !== undefined) return wecomError(40058, `markdown link ${link} is not http(s)`);
    } else if (body['msgtype'] === 'text') {
      if (!isObject(body['text']) || !isText(body['text']['content'])) return wecomError(40058, 'text.content is empty');
    } else {
      return wecomError(40008, 'invalid message type');
    }
    return undefined;
  };
  return serve('/cgi-bin/webhook/send', check, { status: 200, body: { errcode: 0, errmsg: 'ok' } }, opts, key, `?key=${key}`, wecomMentions);
}

// ---- Generic webhook -------------------------------------------------------------------------------

/** A receiver of mirrornet's generic webhook, verifying as its documentation tells receivers to. */
export async function startWebhook(opts: SignedOptions & { secret: string }): Promise<Receiver> {
  const path = `/hooks/${randomBytes(6).toString('hex')}`;
  const now = opts.now ?? Date.now;
  const refuse = (status: number, why: string): Answer => ({ status, body: { error: why }, refused: `${status} ${why}` });
  const check: Check = (req) => {
    if (req.method !== 'POST' || req.path !== path) return refuse(404, 'not found');
    const header = req.headers['x-mirrornet-signature-256'];
    const want = Buffer.from(`sha256=${createHmac('sha256', opts.secret).update(req.raw).digest('hex')}`);
    const got = Buffer.from(typeof header === 'string' ? header : '');
    if (want.length !== got.length || !timingSafeEqual(want, got)) return refuse(401, 'bad signature');
    const ts = Number(req.headers['x-mirrornet-timestamp']);
    if (!Number.isInteger(ts) || Math.abs(now() - ts * 1000) > 5 * 60_000) return refuse(401, 'stale timestamp');
    const body = req.json;
    if (!isObject(body) || body['version'] !== 1 || body['source'] !== 'mirrornet') return refuse(400, 'not a mirrornet event');
    if (typeof body['sentAt'] !== 'string' || Math.floor(Date.parse(body['sentAt']) / 1000) !== ts)
      return refuse(400, 'sentAt does not match the timestamp header');
    if (req.headers['x-mirrornet-delivery'] !== body['deliveryId']) return refuse(400, 'delivery id header does not match the body');
    const ev = body['event'];
    if (!isObject(ev) || !['kind', 'site', 'revision', 'message', 'fingerprint', 'at'].every((k) => isText(ev[k]))) return refuse(400, 'event is incomplete');
    if (req.headers['x-mirrornet-event'] !== ev['kind']) return refuse(400, 'event header does not match the body');
    return undefined;
  };
  return serve(path, check, { status: 204, body: '' }, opts, path.slice('/hooks/'.length));
}
