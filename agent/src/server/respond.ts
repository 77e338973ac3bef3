// How every route of the agent endpoint reads a body and answers: a body read up to a limit (and no further), a
// plain or JSON answer, and a refusal that closes the connection shortly after, so a client cannot keep sending a
// body nobody reads. Shared by the webhook routes (index.ts) and the site routes (site-routes.ts).
import type { IncomingMessage, ServerResponse } from 'node:http';

export type Body = { kind: 'body'; bytes: Buffer } | { kind: 'too-large' } | { kind: 'aborted' };

/** Why a request or connection was refused: the label of mirrornet_http_refused_total. */
export const REFUSALS = ['rate-limited', 'too-large', 'busy', 'bad-signature', 'replayed', 'connection-cap', 'timeout', 'malformed'] as const;
export type Refusal = (typeof REFUSALS)[number];

/** After an early answer (401, 413, 429, 503) the connection is closed this long after the answer, unread body or not. */
export const LINGER_MS = 1000;

/** The body up to `limit` bytes; past that, reading stops and nothing more is kept. */
export function readBody(req: IncomingMessage, limit: number): Promise<Body> {
  return new Promise((resolve) => {
    if (Number(req.headers['content-length'] ?? 0) > limit) return resolve({ kind: 'too-large' });
    const chunks: Buffer[] = [];
    let size = 0;
    let settled = false;
    const settle = (body: Body) => {
      if (settled) return;
      settled = true;
      req.off('data', onData);
      if (body.kind !== 'body') req.pause();
      resolve(body);
    };
    const onData = (c: Buffer) => {
      size += c.length;
      if (size > limit) return settle({ kind: 'too-large' });
      chunks.push(c);
    };
    req.on('data', onData);
    req.on('end', () => settle({ kind: 'body', bytes: Buffer.concat(chunks) }));
    req.on('error', () => settle({ kind: 'aborted' }));
    req.on('close', () => settle({ kind: 'aborted' }));
  });
}

/** Bodies being received at once, across routes: past `max`, a route answers 503 instead of reading. */
export class BodyReads {
  private active = 0;
  constructor(private readonly max: number) {}

  /** The body (see readBody), or 'busy' when `max` bodies are being read already. */
  async read(req: IncomingMessage, limit: number): Promise<Body | { kind: 'busy' }> {
    if (this.active >= this.max) return { kind: 'busy' };
    this.active++;
    try {
      return await readBody(req, limit);
    } finally {
      this.active--;
    }
  }
}

export function send(res: ServerResponse, status: number, body: string, headers: Record<string, string> = {}): void {
  if (res.headersSent || res.destroyed) {
    res.destroy();
    return;
  }
  res.writeHead(status, { 'content-type': 'text/plain; charset=utf-8', 'content-length': String(Buffer.byteLength(body)), ...headers });
  res.end(body);
}

export function sendJson(res: ServerResponse, status: number, body: unknown): void {
  send(res, status, JSON.stringify(body), { 'content-type': 'application/json' });
}

/** Answers and closes the connection shortly after, so a client cannot keep sending a body nobody reads. */
export function refuse(res: ServerResponse, status: number, body: string, headers: Record<string, string> = {}): void {
  const socket = res.socket;
  res.once('finish', () => setTimeout(() => socket?.destroy(), LINGER_MS).unref());
  send(res, status, body, { connection: 'close', ...headers });
}
