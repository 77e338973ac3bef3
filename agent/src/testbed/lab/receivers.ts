// The lab's local receivers for what the agents report (run in the lab's services process, or in-process
// by tests): the chat receiver, where every channel of the lab's notifications policy posts (the generic
// `webhook` channel type: signed JSON events), and the GitHub emulator for commit statuses. Both listen on
// loopback only; nothing is forwarded anywhere.
//
// The chat receiver checks each delivery's X-Mirrornet-Signature-256 over the raw body (the channel secret
// is the lab's), answers 2xx only when it is valid (401 otherwise: the dispatcher does not retry that), and
// appends every delivery, valid or not, to a JSON-lines log: the raw body stays as it came, so a reader can
// check the signature again.
import { appendFileSync, existsSync, readFileSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { DELIVERY_HEADER, EVENT_HEADER, SIGNATURE_HEADER, TIMESTAMP_HEADER, verify } from '../../report/chat/webhook/index.js';

/** One delivery as the receiver logged it. */
export interface ChatDelivery {
  /** When it arrived (ISO 8601). */
  at: string;
  /** The channel: the path /chat/<channel>. */
  channel: string;
  event: string;
  delivery?: string;
  timestamp?: string;
  signature?: string;
  /** The signature matched the lab's secret. */
  valid: boolean;
  /** The raw body, as sent. */
  body: string;
}

export interface ChatReceiver {
  url: string;
  close(): Promise<void>;
}

const MAX_BODY = 1024 * 1024;

export async function startChatReceiver(opts: { secret: string; log: string; host?: string; port?: number }): Promise<ChatReceiver> {
  const server = http.createServer((req, res) => {
    const m = /^\/chat\/([A-Za-z0-9._-]+)$/.exec(new URL(req.url ?? '/', 'http://receiver').pathname);
    if (req.method === 'GET' && req.url === '/messages') {
      const body = JSON.stringify(readChatLog(opts.log));
      res.writeHead(200, { 'content-type': 'application/json' }).end(body);
      return;
    }
    if (req.method !== 'POST' || !m) {
      res.writeHead(404).end('not found\n');
      return;
    }
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (c: Buffer) => {
      size += c.length;
      if (size <= MAX_BODY) chunks.push(c);
    });
    req.on('end', () => {
      if (size > MAX_BODY) {
        res.writeHead(413).end('too large\n');
        return;
      }
      const raw = Buffer.concat(chunks);
      const header = (name: string) => {
        const v = req.headers[name];
        return typeof v === 'string' ? v : undefined;
      };
      const signature = header(SIGNATURE_HEADER);
      const valid = verify(opts.secret, raw, signature);
      const d: ChatDelivery = {
        at: new Date().toISOString(),
        channel: m[1]!,
        event: header(EVENT_HEADER) ?? '',
        ...(header(DELIVERY_HEADER) ? { delivery: header(DELIVERY_HEADER)! } : {}),
        ...(header(TIMESTAMP_HEADER) ? { timestamp: header(TIMESTAMP_HEADER)! } : {}),
        ...(signature ? { signature } : {}),
        valid,
        body: raw.toString('utf8'),
      };
      try {
        appendFileSync(opts.log, `${JSON.stringify(d)}\n`, { mode: 0o600 });
      } catch {
        res.writeHead(500).end('cannot record\n');
        return;
      }
      if (valid) res.writeHead(200, { 'content-type': 'application/json' }).end('{"ok":true}');
      else res.writeHead(401, { 'content-type': 'application/json' }).end('{"ok":false,"error":"bad signature"}');
    });
    req.on('error', () => res.destroy());
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port ?? 0, opts.host ?? '127.0.0.1', () => resolve());
  });
  const addr = server.address() as AddressInfo;
  return {
    url: `http://${addr.address}:${addr.port}`,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

/** Every delivery logged so far (a torn last line is skipped). */
export function readChatLog(path: string): ChatDelivery[] {
  if (!existsSync(path)) return [];
  const out: ChatDelivery[] = [];
  for (const line of readFileSync(path, 'utf8').split('\n')) {
    if (!line.trim()) continue;
    try {
      out.push(JSON.parse(line) as ChatDelivery);
    } catch {
      /* a line being written */
    }
  }
  return out;
}

/** The lab's GitHub emulator: only the lab's repository exists; the token is the lab's. */
export async function startLabGithub(opts: { token: string; repo: string }): Promise<{ url: string; close: () => Promise<void> }> {
  // Loaded only when used: it reads GitHub's OpenAPI description (the trimmed api.github.com.json).
  const { startGithubEmulator } = await import('../emulators/github/index.js');
  const emu = await startGithubEmulator({ token: opts.token, repos: [opts.repo] });
  return { url: emu.url, close: () => emu.close() };
}
